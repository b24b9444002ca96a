"""The compute API layer on a real SQLite database, with recording RPC clients: state
and lock checks, lookups, the local delete, quotas, and how the API renders its
domain errors."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from stratus import exception
from stratus.api import errors
from stratus.compute import api as compute
from stratus.compute import states
from stratus.conf import CONF
from stratus.db import instances as db_instances
from stratus.db import quotas as db_quotas
from stratus.db import services as db_services
from stratus.db import session as db_session
from stratus.db.models import Base, Flavor, Image, Instance
from stratus.db.session import transaction


@dataclass
class Context:
    user_id: str = "u1"
    project_id: str | None = "p1"
    roles: list[str] = field(default_factory=lambda: ["member"])
    request_id: str = "req-1"

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles


ADMIN = Context(user_id="admin", project_id="admin-project", roles=["admin", "member"])


class Recorder:
    """Stands in for an RPC client: records each named call."""

    def __init__(self, answer: Any = None) -> None:
        self.calls: list[tuple[str, tuple, dict]] = []
        self.answer = answer

    def __getattr__(self, name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, args[1:], kwargs))  # without the RPC context
            return self.answer

        return call


@pytest.fixture
def api(tmp_path: Path) -> Iterator[compute.API]:
    CONF.set_override("connection", f"sqlite:///{tmp_path}/compute-api.db", "database")
    db_session.reset()
    Base.metadata.create_all(db_session.get_engine())
    api = compute.API()
    api.compute_rpcapi = Recorder("console text")
    api.conductor_rpcapi = Recorder()
    try:
        yield api
    finally:
        db_session.reset()
        CONF.clear_override("connection", "database")


def make_instance(vm_state: str = states.ACTIVE, **values: Any) -> Instance:
    with transaction() as session:
        instance = Instance(
            project_id="p1",
            user_id="u1",
            display_name="vm",
            flavor={},
            vcpus=1,
            memory_mb=64,
            root_gb=1,
            vm_state=vm_state,
            **values,
        )
        session.add(instance)
        session.flush()
        return instance


def reload(uuid: str) -> Instance:
    with transaction() as session:
        return db_instances.get(session, uuid, include_deleted=True)


# --- lookups --------------------------------------------------------------------------


def test_another_projects_instance_is_not_found(api: compute.API) -> None:
    instance = make_instance()
    with pytest.raises(exception.InstanceNotFound, match=f"Instance {instance.uuid} could not"):
        api.get(Context(project_id="p2"), instance.uuid)
    assert api.get(ADMIN, instance.uuid).uuid == instance.uuid
    assert api.get(Context(), instance.uuid).uuid == instance.uuid


def test_an_updated_instance_can_be_shown_after_its_session(api: compute.API) -> None:
    instance = make_instance()
    api.update_metadata(Context(), instance, {"tier": "1"})
    updated = api.update(Context(), instance, {"display_name": "renamed"})
    assert (updated.display_name, [m.key for m in updated.metadata_items]) == ("renamed", ["tier"])


# --- state and lock checks ------------------------------------------------------------


def test_an_action_the_state_does_not_allow_is_refused(api: compute.API) -> None:
    instance = make_instance(states.STOPPED)
    with pytest.raises(exception.InstanceInvalidState) as caught:
        api.run_action(Context(), instance, "pause", requested="pause")
    assert caught.value.vm_state == states.STOPPED
    assert str(caught.value) == (
        f"Cannot 'pause' instance {instance.uuid} while it is in vm_state stopped."
    )
    assert reload(instance.uuid).task_state is None
    assert api.compute_rpcapi.calls == []


def test_an_action_waits_for_the_running_task(api: compute.API) -> None:
    instance = make_instance(task_state=states.REBOOTING)
    with pytest.raises(exception.InstanceInvalidState, match="and task_state rebooting"):
        api.run_action(Context(), instance, "stop", requested="os-stop")


def test_an_allowed_action_sets_its_task_and_asks_the_host(api: compute.API) -> None:
    instance = make_instance(host="c1")
    api.run_action(Context(), instance, "reboot_hard", requested="reboot")
    assert reload(instance.uuid).task_state == states.REBOOTING_HARD
    assert api.compute_rpcapi.calls == [
        ("run_action", ("c1",), {"instance_uuid": instance.uuid, "action": "reboot_hard"})
    ]
    with transaction() as session:
        assert [a.action for a in db_instances.actions(session, instance.uuid)] == ["reboot"]


def test_the_transitions_table_decides(api: compute.API) -> None:
    for action, transition in states.TRANSITIONS.items():
        refused = sorted({states.ACTIVE, states.STOPPED, states.PAUSED} - transition.allowed)
        for vm_state in refused:
            with pytest.raises(exception.InstanceInvalidState, match=f"vm_state {vm_state}"):
                api.run_action(Context(), make_instance(vm_state), action)


def test_a_locked_instance_refuses_its_owner_but_not_an_admin(api: compute.API) -> None:
    instance = make_instance(host="c1")
    api.lock(Context(), instance, reason="maintenance")
    locked = reload(instance.uuid)
    assert (locked.locked, locked.locked_by, locked.locked_reason) == (
        True,
        "owner",
        "maintenance",
    )
    for attempt in (
        lambda: api.run_action(Context(), locked, "stop"),
        lambda: api.delete(Context(), locked),
        lambda: api.update_metadata(Context(), locked, {"a": "b"}),
    ):
        with pytest.raises(exception.InstanceLocked, match=f"Instance {instance.uuid} is locked"):
            attempt()
    api.run_action(ADMIN, locked, "stop")
    assert reload(instance.uuid).task_state == states.POWERING_OFF


def test_only_an_admin_unlocks_what_an_admin_locked(api: compute.API) -> None:
    instance = make_instance()
    api.lock(ADMIN, instance)
    with pytest.raises(exception.Forbidden, match="locked by an administrator"):
        api.unlock(Context(), reload(instance.uuid))
    api.unlock(ADMIN, reload(instance.uuid))
    assert reload(instance.uuid).locked is False


# --- delete, console ------------------------------------------------------------------


def test_delete_is_local_without_a_host_or_with_its_compute_down(api: compute.API) -> None:
    unplaced = make_instance(states.ERROR)
    api.delete(Context(), unplaced)
    down = make_instance(host="gone")
    api.delete(Context(), down)
    for uuid in (unplaced.uuid, down.uuid):
        assert (reload(uuid).deleted, reload(uuid).vm_state) == (True, states.DELETED)
    assert api.compute_rpcapi.calls == []


def test_delete_goes_through_a_running_compute_service(api: compute.API) -> None:
    with transaction() as session:
        db_services.register(session, "c1", db_services.COMPUTE_BINARY, "compute")
    instance = make_instance(host="c1")
    api.delete(Context(), instance)
    assert reload(instance.uuid).task_state == states.DELETING
    assert api.compute_rpcapi.calls == [
        ("terminate_instance", ("c1",), {"instance_uuid": instance.uuid})
    ]


def test_console_output_needs_a_host_and_is_capped(api: compute.API) -> None:
    with pytest.raises(exception.Conflict, match="not on a host"):
        api.get_console_output(Context(), make_instance())
    instance = make_instance(host="c1")
    assert api.get_console_output(Context(), instance, 10**9) == "console text"
    assert api.get_console_output(Context(), instance) == "console text"
    lengths = [kwargs["length"] for _, _, kwargs in api.compute_rpcapi.calls]
    assert lengths == [compute.MAX_CONSOLE_LENGTH, compute.MAX_CONSOLE_LENGTH]


# --- quotas ---------------------------------------------------------------------------


def test_metadata_beyond_the_quota_is_refused(api: compute.API) -> None:
    instance = make_instance()
    with transaction() as session:
        db_quotas.set_limits(session, "p1", {"metadata_items": 1})
    assert api.update_metadata(Context(), instance, {"a": "1"}) == {"a": "1"}
    with pytest.raises(exception.OverQuota, match="metadata_items: 2 items, the limit is 1"):
        api.update_metadata(Context(), instance, {"b": "2"})
    assert api.update_metadata(Context(), instance, {"b": "2"}, replace=True) == {"b": "2"}


@pytest.fixture
def bootable() -> None:
    with transaction() as session:
        session.add(Flavor(flavorid="f1", name="tiny", memory_mb=64, vcpus=1, root_gb=1))
        session.add(Image(id="img", name="cirros", status="active", visibility="public", size=1024))


def test_create_takes_what_the_quota_allows(api: compute.API, bootable: None) -> None:
    with transaction() as session:
        db_quotas.set_limits(session, "p1", {"instances": 2})
    created, reservation = api.create(
        Context(), name="vm", flavor_ref="f1", image_ref="img", min_count=1, max_count=5
    )
    assert [i.display_name for i in created] == ["vm-1", "vm-2"]
    assert {(i.vm_state, i.task_state) for i in created} == {(states.BUILDING, states.SCHEDULING)}
    assert reservation.startswith("r-")
    [(name, (uuids, spec), _)] = api.conductor_rpcapi.calls
    assert (name, uuids, spec["num_instances"]) == (
        "build_instances",
        [i.uuid for i in created],
        2,
    )
    with pytest.raises(exception.OverQuota, match="Quota exceeded for instances"):
        api.create(Context(), name="more", flavor_ref="f1", image_ref="img")


def test_create_names_what_it_cannot_find(api: compute.API, bootable: None) -> None:
    with pytest.raises(exception.Invalid, match="Flavor nope could not be found"):
        api.create(Context(), name="vm", flavor_ref="nope", image_ref="img")
    with pytest.raises(exception.Invalid, match="Image nope could not be found"):
        api.create(Context(), name="vm", flavor_ref="f1", image_ref="nope")
    with pytest.raises(exception.Invalid, match="availability zone is not available: mars"):
        api.create(Context(), name="vm", flavor_ref="f1", image_ref="img", availability_zone="mars")
    with pytest.raises(exception.Invalid, match="key pair k could not be found"):
        api.create(Context(), name="vm", flavor_ref="f1", image_ref="img", key_name="k")
    assert api.conductor_rpcapi.calls == []


# --- how the API renders the domain errors --------------------------------------------


@pytest.mark.parametrize(
    ("error", "status", "kind"),
    [
        (exception.Invalid("bad"), 400, "badRequest"),
        (exception.Forbidden("no"), 403, "forbidden"),
        (exception.QuotaExceeded("server_groups", 1, 10, 10), 403, "forbidden"),
        (exception.OverQuota("over"), 403, "forbidden"),
        (exception.InstanceNotFound("x"), 404, "itemNotFound"),
        (exception.InstanceLocked("x"), 409, "conflictingRequest"),
        (exception.InstanceInvalidState("x", "pause", "stopped", None), 409, "conflictingRequest"),
        (exception.StratusException(), 500, "computeFault"),
    ],
)
def test_domain_errors_map_to_openstack_errors(
    error: exception.StratusException, status: int, kind: str
) -> None:
    shown = errors.from_domain(error)
    assert errors.error_body("/compute/v2.1/servers", shown) == {
        kind: {"code": status, "message": error.message}
    }


def test_the_app_renders_a_domain_error() -> None:
    app = FastAPI()
    errors.install(app)

    @app.post("/compute/v2.1/servers/x/action")
    def action() -> None:
        raise exception.InstanceInvalidState("x", "os-start", states.ACTIVE, None)

    response = TestClient(app).post("/compute/v2.1/servers/x/action")
    assert response.status_code == 409
    assert response.json() == {
        "conflictingRequest": {
            "code": 409,
            "message": "Cannot 'os-start' instance x while it is in vm_state active.",
        }
    }


# --- key pairs ------------------------------------------------------------------------

ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl k"


def test_keypairs_are_checked_and_counted(api: compute.API) -> None:
    keypairs = compute.KeypairAPI()
    with transaction() as session:
        db_quotas.set_limits(session, "p1", {"key_pairs": 1})
    with pytest.raises(exception.Invalid, match="Keypair data is invalid"):
        keypairs.create(Context(), "u1", "bad", "ssh-rsa nonsense", "ssh")
    key = keypairs.create(Context(), "u1", "k", ED25519, "ssh")
    assert key.fingerprint.count(":") == 15
    with pytest.raises(exception.OverQuota, match="key_pairs: the limit is 1"):
        keypairs.create(Context(), "u1", "k2", ED25519, "ssh")
    with transaction() as session:
        db_quotas.set_limits(session, "p1", {"key_pairs": 5})
    with pytest.raises(exception.Conflict, match="Key pair 'k' already exists"):
        keypairs.create(Context(), "u1", "k", ED25519, "ssh")
    assert [k.name for k in keypairs.get_all("u1")] == ["k"]
    keypairs.delete(Context(), "u1", "k")
    with pytest.raises(exception.NotFound, match="Keypair k not found for user u1"):
        keypairs.get(Context(), "u1", "k")


# --- server groups --------------------------------------------------------------------


def test_server_groups_within_the_quota(api: compute.API) -> None:
    groups = compute.ServerGroupAPI()
    with transaction() as session:
        db_quotas.set_limits(session, "p1", {"server_groups": 1})
    group = groups.create(Context(), "g", "anti-affinity", {"max_server_per_host": 2})
    with pytest.raises(exception.QuotaExceeded, match="Quota exceeded for server_groups"):
        groups.create(Context(), "g2", "affinity", {})
    shown, members = groups.get(group.uuid)
    assert (shown.name, shown.rules, members) == ("g", {"max_server_per_host": 2}, [])
    assert [(g.uuid, m) for g, m in groups.get_all("p1")] == [(group.uuid, [])]
    assert groups.get_all("p2") == []
    groups.delete(shown)
    with pytest.raises(exception.NotFound, match=f"Instance group {group.uuid} could not be"):
        groups.get(group.uuid)
