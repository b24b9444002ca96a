"""The administrative password of ``POST /servers`` (``[api] enable_instance_password``)
travels with the build, never through the database, to the config drive's
``meta_data.json`` as ``admin_pass``: the metadata trees, the config drive image (made
with the real pycdlib and read back), the compute API on a real SQLite database, the
compute manager over the fake virt driver (with no image to fetch: there is no image
service here), and the RPC clients' messages.

The RPC clients and the conductor seen by the compute manager are recording stand-ins:
the message shapes are what is checked here, and a real broker round trip of the same
clients is in tests/unit/test_rpc_interfaces.py."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pycdlib
import pytest

from stratus.compute import api as compute
from stratus.compute.manager import ComputeManager
from stratus.compute.virt.fake import FakeDriver
from stratus.conf import CONF
from stratus.db import session as db_session
from stratus.db.models import Base, Flavor, Image
from stratus.db.session import transaction
from stratus.metadata import base, configdrive
from stratus.rpc.compute_rpcapi import ComputeAPI
from stratus.rpc.conductor_rpcapi import ConductorAPI

SECRET = "Xq7-admin-pass-5e"
INSTANCE = {
    "uuid": "7c5e7d1c-3f55-4a3c-9d1e-2b9a3c6f1a10",
    "display_name": "vm",
    "hostname": "vm",
    "project_id": "p1",
}


class Recorder:
    """Stands in for an RPC client or the conductor: records each named call."""

    def __init__(self, answer: Any = None) -> None:
        self.calls: list[tuple[str, tuple, dict]] = []
        self.answer = answer

    def __getattr__(self, name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, args, kwargs))
            return self.answer

        return call

    def named(self, name: str) -> list[tuple[tuple, dict]]:
        return [(a, k) for n, a, k in self.calls if n == name]


# --- the metadata trees and the config drive --------------------------------------------


def test_meta_data_has_admin_pass_only_when_the_build_gave_one() -> None:
    assert "admin_pass" not in base.meta_data(INSTANCE)
    assert "admin_pass" not in base.meta_data({**INSTANCE, "admin_pass": None})
    assert base.meta_data({**INSTANCE, "admin_pass": SECRET})["admin_pass"] == SECRET


def test_every_openstack_meta_data_of_the_config_drive_carries_it(tmp_path: Path) -> None:
    files = base.config_drive_files({**INSTANCE, "admin_pass": SECRET})
    documents = [p for p in files if p.startswith("openstack/") and p.endswith("meta_data.json")]
    assert len(documents) == len(base.OPENSTACK_VERSIONS) + 1
    assert {json.loads(files[p])["admin_pass"] for p in documents} == {SECRET}
    # Nowhere else: not in the EC2 tree, network or vendor data.
    assert [p for p, body in files.items() if SECRET.encode() in body] == sorted(documents)
    assert not any(SECRET.encode() in b for b in base.config_drive_files(INSTANCE).values())

    path = tmp_path / "disk.config"
    configdrive.make_iso(files, path)
    iso = pycdlib.PyCdlib()
    iso.open(str(path))
    try:
        out = io.BytesIO()
        iso.get_file_from_iso_fp(out, joliet_path="/openstack/latest/meta_data.json")
    finally:
        iso.close()
    assert json.loads(out.getvalue())["admin_pass"] == SECRET


# --- the compute API: with the build, not in the database -------------------------------


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[compute.API, Path]]:
    db = tmp_path / "admin-pass.db"
    CONF.set_override("connection", f"sqlite:///{db}", "database")
    db_session.reset()
    Base.metadata.create_all(db_session.get_engine())
    with transaction() as session:
        session.add(Flavor(flavorid="f1", name="tiny", memory_mb=64, vcpus=1, root_gb=1))
        session.add(Image(id="img", name="cirros", status="active", visibility="public", size=1024))
    api = compute.API()
    api.compute_rpcapi = Recorder()
    api.conductor_rpcapi = Recorder()
    try:
        yield api, db
    finally:
        db_session.reset()
        CONF.clear_override("connection", "database")


class Context:
    user_id = "u1"
    project_id = "p1"
    roles = ["member"]
    request_id = "req-1"
    is_admin = False


def test_create_sends_the_password_with_the_build_and_stores_it_nowhere(
    api: tuple[compute.API, Path],
) -> None:
    compute_api, db = api
    created, _ = compute_api.create(
        Context(), name="vm", flavor_ref="f1", image_ref="img", admin_pass=SECRET
    )
    [((_ctxt, uuids, spec), kwargs)] = compute_api.conductor_rpcapi.named("build_instances")
    assert uuids == [created[0].uuid]
    assert kwargs == {"admin_pass": SECRET}
    assert SECRET not in json.dumps(spec, default=str)
    db_session.reset()  # everything written reaches the file
    assert SECRET.encode() not in db.read_bytes()

    compute_api.create(Context(), name="vm2", flavor_ref="f1", image_ref="img")
    assert compute_api.conductor_rpcapi.named("build_instances")[1][1] == {"admin_pass": None}


# --- the compute manager: the driver's instance, and a reschedule -----------------------


class RecordingDriver(FakeDriver):
    def __init__(self, host: str) -> None:
        super().__init__(host)
        self.spawned: list[dict] = []

    def spawn(self, instance: Any, image_meta: Any, image_paths: Any) -> None:
        self.spawned.append(dict(instance))
        super().spawn(instance, image_meta, image_paths)


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[ComputeManager]:
    CONF.set_override("instances_path", str(tmp_path), group="compute")
    try:
        manager = ComputeManager(
            RecordingDriver("adminpass-host"), Recorder(True), "adminpass-host"
        )
        # No image service here: the fake driver needs no image files.
        manager._fetch_images = lambda *_: {}  # type: ignore[method-assign]
        yield manager
    finally:
        CONF.clear_override("instances_path", group="compute")


def _instance(uuid: str, **values: Any) -> dict:
    return {
        "uuid": uuid,
        "vcpus": 1,
        "memory_mb": 64,
        "root_gb": 1,
        "images": {"disk": {}},
        **values,
    }


def test_the_driver_gets_the_password_and_a_reschedule_keeps_it(
    manager: ComputeManager,
) -> None:
    driver: RecordingDriver = manager.driver  # type: ignore[assignment]
    uuid = "5b1f0f0e-1c2d-4e3f-8a9b-0c1d2e3f4a5b"
    manager.build_and_run_instance({}, _instance(uuid), [], 1, None, admin_pass=SECRET)
    assert driver.spawned[-1]["admin_pass"] == SECRET
    manager.build_and_run_instance({}, _instance("x-2"), [], 1, None)
    assert "admin_pass" not in driver.spawned[-1]
    assert not manager.conductor.named("build_failed")  # type: ignore[attr-defined]

    # The fake driver builds no config drive: the build goes back with its password.
    manager.build_and_run_instance(
        {}, _instance("x-3", config_drive=True), [], 1, None, admin_pass=SECRET
    )
    [(_args, kwargs)] = manager.conductor.named("build_failed")  # type: ignore[attr-defined]
    assert kwargs["admin_pass"] == SECRET
    assert kwargs["instance_uuid"] == "x-3"


# --- the RPC clients: the password only in a newer call, only when given -----------------


class PreparedClient:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, dict]] = []

    def prepare(self, version: str = "1.0", **_: Any) -> Any:
        client = self

        class Prepared:
            def cast(self, ctxt: dict, method: str, **kw: Any) -> None:
                client.sent.append((method, version, kw))

        return Prepared()


def test_the_clients_send_the_password_at_the_new_version_only_when_given() -> None:
    conductor = ConductorAPI.__new__(ConductorAPI)
    conductor._client = PreparedClient()
    conductor.build_instances({}, ["u"], {})
    conductor.build_instances({}, ["u"], {}, admin_pass=SECRET)
    conductor.build_failed({}, "u", "h", [], 1, "boom")
    conductor.build_failed({}, "u", "h", [], 1, "boom", admin_pass=SECRET)
    sent = [(m, v, kw.get("admin_pass")) for m, v, kw in conductor._client.sent]
    assert sent == [
        ("build_instances", "1.0", None),
        ("build_instances", "1.2", SECRET),
        ("build_failed", "1.0", None),
        ("build_failed", "1.2", SECRET),
    ]
    assert "admin_pass" not in conductor._client.sent[0][2]

    compute_api = ComputeAPI.__new__(ComputeAPI)
    compute_api._client = PreparedClient()
    compute_api.build_and_run_instance({}, "h", {"uuid": "u"}, [], 1, None)
    compute_api.build_and_run_instance({}, "h", {"uuid": "u"}, [], 1, None, admin_pass=SECRET)
    [(_, old, old_kw), (_, new, new_kw)] = compute_api._client.sent
    assert (old, "admin_pass" in old_kw) == ("1.0", False)
    assert (new, new_kw["admin_pass"]) == ("1.3", SECRET)
