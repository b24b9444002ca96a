"""The Compute API's non-server resources against Nova's shapes: flavors, aggregates,
quota sets and classes per microversion, simple tenant usage, hypervisors, the images
proxy, and out-of-range integers in query strings and paths; through the real API
(raw HTTP and the ``openstack`` CLI) on SQLite and on MariaDB.

No compute agent runs in this module: compute hosts, their hypervisors and servers are
written to the database as a starting stratus-compute and the conductor write them
(rows only, no guests), since booting guests here would only slow the tests down.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from tests.support.cloud import ControlPlane

API = "/compute/v2.1"
HUGE = "9223372036854775808"  # 2**63: one past the largest 64-bit integer

NOVA_QUOTAS_21 = {
    "instances",
    "cores",
    "ram",
    "metadata_items",
    "key_pairs",
    "server_groups",
    "server_group_members",
    "injected_files",
    "injected_file_content_bytes",
    "injected_file_path_bytes",
    "fixed_ips",
    "floating_ips",
    "security_groups",
    "security_group_rules",
}
NETWORK = {"fixed_ips", "floating_ips", "security_groups", "security_group_rules"}
INJECTED = {"injected_files", "injected_file_content_bytes", "injected_file_path_bytes"}
GROUPS = {"server_groups", "server_group_members"}


@pytest.fixture(scope="module")
def project(control_plane: ControlPlane) -> str:
    with control_plane.client() as admin:
        made = admin.post("/identity/v3/projects", json={"project": {"name": "computeres-usage"}})
        assert made.status_code == 201, made.text
        return made.json()["project"]["id"]


@pytest.fixture(scope="module")
def nodes(control_plane: ControlPlane, project: str) -> dict[str, dict]:
    """Two compute hosts with a hypervisor each; three servers on the first (one of
    them deleted), launched at known times."""
    from stratus.db import services as db_services
    from stratus.db.models import ComputeNode, Instance
    from tests.support.db import session_for

    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    made: dict[str, dict] = {}
    with session_for(control_plane.db_url) as session:
        for index, host in enumerate(("computeres-hv-a", "computeres-hv-b")):
            service = db_services.register(
                session, host, db_services.COMPUTE_BINARY, f"compute.{host}"
            )
            node = ComputeNode(
                host=host,
                hypervisor_hostname=f"{host}.example",
                service_id=service.id,
                host_ip=f"192.0.2.{index + 1}",
                vcpus=4,
                memory_mb=4096,
                local_gb=40,
                cpu_info={"arch": "x86_64"},
            )
            session.add(node)
            session.flush()
            made[host] = {"id": node.id, "uuid": node.uuid, "servers": []}
        flavor = {"name": "computeres-small", "vcpus": 2, "memory_mb": 512, "root_gb": 3}
        servers = [
            # name, launched hours ago, terminated hours ago
            ("usage-running", 10.0, None),
            ("usage-ended", 30.0, 20.0),
            ("usage-old", 100.0, 90.0),
        ]
        for name, launched, terminated in servers:
            instance = Instance(
                project_id=project,
                user_id="computeres",
                display_name=name,
                host="computeres-hv-a",
                node="computeres-hv-a.example",
                vm_state="active" if terminated is None else "deleted",
                flavor=flavor,
                vcpus=2,
                memory_mb=512,
                root_gb=3,
                ephemeral_gb=1,
                launched_at=now - dt.timedelta(hours=launched),
                terminated_at=None if terminated is None else now - dt.timedelta(hours=terminated),
                deleted=terminated is not None,
            )
            session.add(instance)
            session.flush()
            made["computeres-hv-a"]["servers"].append(
                {"uuid": instance.uuid, "name": name, "live": terminated is None}
            )
    made["now"] = {"at": now}
    return made


def _error(response, status: int, text: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    (kind,) = body
    assert body[kind]["code"] == status
    assert text in body[kind]["message"], body


# --- flavors --------------------------------------------------------------------------


def test_flavor_ids_as_nova_takes_them(control_plane: ControlPlane) -> None:
    with control_plane.client() as admin:

        def create(**extra) -> dict:
            body = {"name": f"computeres-{uuid.uuid4().hex[:8]}", "ram": 64, "vcpus": 1}
            response = admin.post(f"{API}/flavors", json={"flavor": {**body, "disk": 1, **extra}})
            assert response.status_code == 200, response.text
            return response.json()["flavor"]

        assert create(id=4242)["id"] == "4242"
        assert create(id="computeres-id")["id"] == "computeres-id"
        assert uuid.UUID(create(id=None)["id"])
        assert uuid.UUID(create()["id"])
        assert admin.get(f"{API}/flavors/4242").json()["flavor"]["id"] == "4242"
        # Sizes as strings of digits, as Nova takes them.
        assert create(ram="128", vcpus="2")["ram"] == 128


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("ram", True),
        ("vcpus", True),
        ("disk", False),
        ("swap", True),
        ("OS-FLV-EXT-DATA:ephemeral", True),
        ("rxtx_factor", True),
        ("ram", 2**31),
        ("ram", 1.5),
        ("id", True),
        ("id", {"a": 1}),
        ("os-flavor-access:is_public", 1),
    ],
)
def test_flavor_fields_are_typed(control_plane: ControlPlane, field: str, value) -> None:
    body = {"name": f"computeres-bad-{field}", "ram": 64, "vcpus": 1, "disk": 1, field: value}
    with control_plane.client() as admin:
        _error(admin.post(f"{API}/flavors", json={"flavor": body}), 400, f"flavor.{field}")
        listed = admin.get(f"{API}/flavors", params={"is_public": "none"}).json()["flavors"]
        assert body["name"] not in {f["name"] for f in listed}


@pytest.mark.parametrize(
    ("path", "param"),
    [
        ("/flavors", "minRam"),
        ("/flavors/detail", "minDisk"),
        ("/images/detail", "minRam"),
        ("/images", "minDisk"),
    ],
)
def test_out_of_range_query_integers(control_plane: ControlPlane, path: str, param: str) -> None:
    with control_plane.client(microversion="2.1") as admin:
        _error(admin.get(f"{API}{path}", params={param: HUGE}), 400, f"'{param}'")
        _error(admin.get(f"{API}{path}", params={param: "-" + HUGE + "1"}), 400, f"'{param}'")
        _error(admin.get(f"{API}{path}", params={param: "ten"}), 400, f"'{param}'")


@pytest.mark.parametrize(
    "path", ["/flavors", "/flavors/detail", "/os-hypervisors", "/os-simple-tenant-usage"]
)
def test_page_limits(control_plane: ControlPlane, path: str) -> None:
    """Any non-negative limit pages (however large: the page is capped), as in Nova."""
    with control_plane.client(microversion="2.40") as admin:
        response = admin.get(f"{API}{path}", params={"limit": "9" * 30})
        assert response.status_code == 200, response.text
        _error(admin.get(f"{API}{path}", params={"limit": "-1"}), 400, "'limit'")
        _error(admin.get(f"{API}{path}", params={"limit": "ten"}), 400, "'limit'")
    with control_plane.client() as admin:
        # The largest value that is an integer of the database is a query like any other.
        assert admin.get(f"{API}/flavors", params={"minRam": str(2**63 - 1)}).json() == {
            "flavors": []
        }


# --- aggregates -----------------------------------------------------------------------


def test_aggregate_shapes(control_plane: ControlPlane, nodes: dict) -> None:
    base = {"id", "name", "availability_zone", "created_at", "updated_at", "deleted", "deleted_at"}
    with control_plane.client() as admin, control_plane.client(microversion="2.41") as admin241:
        made = admin.post(f"{API}/os-aggregates", json={"aggregate": {"name": "computeres-a"}})
        assert made.status_code == 200, made.text
        assert set(made.json()["aggregate"]) == base
        ident = made.json()["aggregate"]["id"]
        newer = admin241.post(f"{API}/os-aggregates", json={"aggregate": {"name": "computeres-b"}})
        assert set(newer.json()["aggregate"]) == base | {"uuid"}
        shown = admin.get(f"{API}/os-aggregates/{ident}").json()["aggregate"]
        assert set(shown) == base | {"hosts", "metadata"}
        listed = admin241.get(f"{API}/os-aggregates").json()["aggregates"]
        assert all(set(a) == base | {"hosts", "metadata", "uuid"} for a in listed)
        updated = admin.put(
            f"{API}/os-aggregates/{ident}", json={"aggregate": {"name": "computeres-a2"}}
        ).json()["aggregate"]
        assert set(updated) == base | {"hosts", "metadata"} and updated["updated_at"]
        added = admin.post(
            f"{API}/os-aggregates/{ident}/action", json={"add_host": {"host": "computeres-hv-b"}}
        ).json()["aggregate"]
        assert added["hosts"] == ["computeres-hv-b"] and set(added) == set(updated)
        _error(
            admin.post(f"{API}/os-aggregates/{ident}/action", json={"add_host": None}),
            400,
            "add_host",
        )

        for method in ("get", "put", "delete"):
            kwargs = {"json": {"aggregate": {"name": "x"}}} if method == "put" else {}
            response = getattr(admin, method)(f"{API}/os-aggregates/{HUGE}", **kwargs)
            _error(response, 404, HUGE)
        _error(
            admin.post(f"{API}/os-aggregates/{HUGE}/action", json={"add_host": {"host": "h"}}),
            404,
            HUGE,
        )
        _error(admin.get(f"{API}/os-aggregates/-{HUGE}"), 404, HUGE)
        _error(admin.get(f"{API}/os-aggregates/abc"), 400, "'id'")
        admin.post(
            f"{API}/os-aggregates/{ident}/action", json={"remove_host": {"host": "computeres-hv-b"}}
        )
        for agg in (ident, newer.json()["aggregate"]["id"]):
            assert admin.delete(f"{API}/os-aggregates/{agg}").status_code == 200


# --- quota sets and classes -----------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("2.1", NOVA_QUOTAS_21),
        ("2.35", NOVA_QUOTAS_21),
        ("2.36", NOVA_QUOTAS_21 - NETWORK),
        ("2.56", NOVA_QUOTAS_21 - NETWORK),
        ("2.57", NOVA_QUOTAS_21 - NETWORK - INJECTED),
        ("2.100", NOVA_QUOTAS_21 - NETWORK - INJECTED),
    ],
)
def test_quota_set_fields_per_microversion(
    control_plane: ControlPlane, project: str, version: str, expected: set[str]
) -> None:
    with control_plane.client(microversion=version) as admin:
        for suffix in ("", "/defaults", "/detail"):
            response = admin.get(f"{API}/os-quota-sets/{project}{suffix}")
            assert response.status_code == 200, response.text
            shown = response.json()["quota_set"]
            assert set(shown) == expected | {"id"}, (suffix, sorted(shown))
        detail = admin.get(f"{API}/os-quota-sets/{project}/detail").json()["quota_set"]
        assert set(detail["cores"]) == {"limit", "in_use", "reserved"}
        updated = admin.put(
            f"{API}/os-quota-sets/{project}", json={"quota_set": {"metadata_items": 129}}
        )
        assert updated.status_code == 200, updated.text
        assert set(updated.json()["quota_set"]) == expected
        assert updated.json()["quota_set"]["metadata_items"] == 129
        for name in sorted(NOVA_QUOTAS_21 - expected):
            _error(
                admin.put(f"{API}/os-quota-sets/{project}", json={"quota_set": {name: 5}}),
                400,
                f"quota_set.{name}",
            )


def test_quota_set_update_values(control_plane: ControlPlane, project: str) -> None:
    with control_plane.client() as admin:
        every = dict.fromkeys(sorted(NOVA_QUOTAS_21 - GROUPS), 7777)
        updated = admin.put(f"{API}/os-quota-sets/{project}", json={"quota_set": every})
        assert updated.status_code == 200, updated.text
        assert {k: updated.json()["quota_set"][k] for k in every} == every
        assert (
            admin.get(f"{API}/os-quota-sets/{project}").json()["quota_set"]["floating_ips"] == 7777
        )
        for bad in (True, 2**31, -2, "many", None, 1.5):
            _error(
                admin.put(f"{API}/os-quota-sets/{project}", json={"quota_set": {"cores": bad}})
                if bad is not None
                else admin.put(f"{API}/os-quota-sets/{project}", json={"quota_set": {"x": 1}}),
                400,
                "quota_set.",
            )
        assert admin.get(f"{API}/os-quota-sets/{project}").json()["quota_set"]["cores"] == 7777
        assert admin.delete(f"{API}/os-quota-sets/{project}").status_code == 202


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("2.1", NOVA_QUOTAS_21 - GROUPS),
        ("2.49", NOVA_QUOTAS_21 - GROUPS),
        ("2.50", NOVA_QUOTAS_21 - NETWORK),
        ("2.56", NOVA_QUOTAS_21 - NETWORK),
        ("2.57", NOVA_QUOTAS_21 - NETWORK - INJECTED),
    ],
)
def test_quota_class_fields_per_microversion(
    control_plane: ControlPlane, version: str, expected: set[str]
) -> None:
    with control_plane.client(microversion=version) as admin:
        shown = admin.get(f"{API}/os-quota-class-sets/default").json()["quota_class_set"]
        assert set(shown) == expected | {"id"} and shown["id"] == "default"
        updated = admin.put(
            f"{API}/os-quota-class-sets/default", json={"quota_class_set": {"key_pairs": 100}}
        )
        assert updated.status_code == 200, updated.text
        assert set(updated.json()["quota_class_set"]) == expected
        for name in sorted(NOVA_QUOTAS_21 - expected):
            _error(
                admin.put(
                    f"{API}/os-quota-class-sets/default", json={"quota_class_set": {name: 5}}
                ),
                400,
                f"quota_class_set.{name}",
            )


def test_defaults_come_from_the_default_class(control_plane: ControlPlane, project: str) -> None:
    cp = control_plane
    with cp.client(microversion="2.57") as admin:
        set_class = admin.put(
            f"{API}/os-quota-class-sets/default",
            json={"quota_class_set": {"instances": 7, "cores": 9}},
        )
        assert set_class.status_code == 200, set_class.text
        defaults = admin.get(f"{API}/os-quota-sets/{project}/defaults").json()["quota_set"]
        assert (defaults["instances"], defaults["cores"]) == (7, 9)
        # A project without its own limits has the class's.
        assert admin.get(f"{API}/os-quota-sets/{project}").json()["quota_set"]["instances"] == 7
        admin.put(f"{API}/os-quota-sets/{project}", json={"quota_set": {"instances": 3}})
        assert admin.get(f"{API}/os-quota-sets/{project}").json()["quota_set"]["instances"] == 3
        assert admin.get(f"{API}/limits").json()["limits"]["absolute"]["maxTotalInstances"] == 7
    shown = cp.openstack_json("quota", "show", "--default")
    by_name = {row["Resource"]: row["Limit"] for row in shown} if isinstance(shown, list) else shown
    assert by_name.get("instances", by_name.get("Instances")) == 7, shown
    with cp.client(microversion="2.57") as admin:
        admin.put(
            f"{API}/os-quota-class-sets/default",
            json={"quota_class_set": {"instances": 10, "cores": 20}},
        )
        admin.delete(f"{API}/os-quota-sets/{project}")


# --- simple tenant usage ----------------------------------------------------------------


def test_simple_tenant_usage(control_plane: ControlPlane, project: str, nodes: dict) -> None:
    now = nodes["now"]["at"]
    start = (now - dt.timedelta(hours=40)).strftime("%Y-%m-%dT%H:%M:%S")
    end = (now - dt.timedelta(hours=5)).strftime("%Y-%m-%dT%H:%M:%S")
    with control_plane.client() as admin:
        listed = admin.get(
            f"{API}/os-simple-tenant-usage", params={"start": start, "end": end, "detailed": 1}
        )
        assert listed.status_code == 200, listed.text
        (mine,) = [u for u in listed.json()["tenant_usages"] if u["tenant_id"] == project]
        # Running from 10h ago to the end (5h ago): 5h; ended: from 30h to 20h ago: 10h;
        # the old one ended before the period.
        assert mine["total_hours"] == pytest.approx(15.0, abs=0.01)
        assert mine["total_vcpus_usage"] == pytest.approx(30.0, abs=0.02)
        assert mine["total_memory_mb_usage"] == pytest.approx(15 * 512, abs=5)
        assert mine["total_local_gb_usage"] == pytest.approx(15 * 4, abs=0.1)
        servers = {s["name"]: s for s in mine["server_usages"]}
        assert set(servers) == {"usage-running", "usage-ended"}
        assert servers["usage-ended"]["state"] == "terminated"
        assert servers["usage-ended"]["ended_at"] is not None
        assert servers["usage-running"]["state"] == "active"
        assert servers["usage-running"]["ended_at"] is None
        assert servers["usage-running"]["flavor"] == "computeres-small"
        assert servers["usage-running"]["uptime"] >= 10 * 3600 - 60
        assert set(servers["usage-running"]) == {
            "ended_at", "flavor", "hours", "instance_id", "local_gb", "memory_mb", "name",
            "started_at", "state", "tenant_id", "uptime", "vcpus",
        }  # fmt: skip
        plain = admin.get(f"{API}/os-simple-tenant-usage", params={"start": start, "end": end})
        assert all("server_usages" not in u for u in plain.json()["tenant_usages"])

        shown = admin.get(
            f"{API}/os-simple-tenant-usage/{project}", params={"start": start, "end": end}
        ).json()["tenant_usage"]
        assert shown["total_hours"] == pytest.approx(15.0, abs=0.01)
        assert len(shown["server_usages"]) == 2
        empty = admin.get(
            f"{API}/os-simple-tenant-usage/{project}",
            params={"start": "2001-01-01T00:00:00", "end": "2001-02-01T00:00:00"},
        )
        assert empty.json() == {"tenant_usage": {}}
        _error(
            admin.get(f"{API}/os-simple-tenant-usage", params={"start": "yesterday"}),
            400,
            "'start'",
        )
        _error(
            admin.get(f"{API}/os-simple-tenant-usage", params={"start": end, "end": start}),
            400,
            "start time",
        )
    with control_plane.client(microversion="2.40") as admin:
        page = admin.get(
            f"{API}/os-simple-tenant-usage/{project}",
            params={"start": start, "end": end, "limit": 1},
        ).json()
        assert len(page["tenant_usage"]["server_usages"]) == 1
        assert "marker=" in page["tenant_usage_links"][0]["href"]

    rows = control_plane.openstack_json(
        "usage",
        "list",
        "--start",
        start[:10],
        "--end",
        (now + dt.timedelta(days=1)).strftime("%Y-%m-%d"),
    )
    (row,) = [r for r in rows if r["Project"] == project]
    # The CLI's JSON shows the servers themselves where its table counts them.
    servers = row["Servers"]
    assert (servers if isinstance(servers, int) else len(servers)) == 2, row
    assert row["CPU Hours"] > 0
    show = control_plane.openstack_json(
        "usage", "show", "--project", project, "--start", start[:10]
    )
    servers = show["Servers"]
    assert (servers if isinstance(servers, int) else len(servers)) == 2, show


# --- hypervisors ------------------------------------------------------------------------


def test_hypervisor_servers_search_uptime(control_plane: ControlPlane, nodes: dict) -> None:
    node_a = nodes["computeres-hv-a"]
    live = {s["uuid"] for s in node_a["servers"] if s["live"]}
    with control_plane.client(microversion="2.52") as old:
        found = old.get(f"{API}/os-hypervisors/hv-a/search").json()["hypervisors"]
        assert [h["id"] for h in found] == [node_a["id"]]
        assert set(found[0]) == {"id", "hypervisor_hostname", "state", "status"}
        _error(old.get(f"{API}/os-hypervisors/no-such-computeres/search"), 404, "no-such")
        served = old.get(f"{API}/os-hypervisors/computeres-hv/servers").json()["hypervisors"]
        by_id = {h["id"]: h for h in served}
        assert {s["uuid"] for s in by_id[node_a["id"]]["servers"]} == live
        assert "servers" not in by_id[nodes["computeres-hv-b"]["id"]]
        uptime = old.get(f"{API}/os-hypervisors/{node_a['id']}/uptime").json()["hypervisor"]
        assert " up " in uptime["uptime"] and uptime["id"] == node_a["id"]
        for bad in (HUGE, "abc", node_a["uuid"]):
            _error(old.get(f"{API}/os-hypervisors/{bad}"), 404, "could not be found")
            _error(old.get(f"{API}/os-hypervisors/{bad}/uptime"), 404, "could not be found")
        stats = old.get(f"{API}/os-hypervisors/statistics").json()["hypervisor_statistics"]
        assert stats["count"] >= 2 and stats["vcpus"] >= 8

    with control_plane.client(microversion="2.53") as new:
        assert new.get(f"{API}/os-hypervisors/hv-a/search").status_code == 404
        assert new.get(f"{API}/os-hypervisors/hv-a/servers").status_code == 404
        listed = new.get(
            f"{API}/os-hypervisors",
            params={"hypervisor_hostname_pattern": "computeres-hv-a", "with_servers": "true"},
        ).json()["hypervisors"]
        assert [h["id"] for h in listed] == [node_a["uuid"]]
        assert {s["uuid"] for s in listed[0]["servers"]} == live
        detail = new.get(
            f"{API}/os-hypervisors/detail", params={"hypervisor_hostname_pattern": "hv-b"}
        ).json()["hypervisors"]
        assert [h["id"] for h in detail] == [nodes["computeres-hv-b"]["uuid"]]
        assert "servers" not in detail[0]
        _error(
            new.get(f"{API}/os-hypervisors", params={"hypervisor_hostname_pattern": "zzz-none"}),
            404,
            "zzz-none",
        )
        _error(
            new.get(
                f"{API}/os-hypervisors",
                params={"hypervisor_hostname_pattern": "hv", "limit": 1},
            ),
            400,
            "limit",
        )
        shown = new.get(
            f"{API}/os-hypervisors/{node_a['uuid']}", params={"with_servers": "1"}
        ).json()["hypervisor"]
        assert {s["uuid"] for s in shown["servers"]} == live
        _error(new.get(f"{API}/os-hypervisors/{HUGE}"), 400, "'id'")
        _error(
            new.get(f"{API}/os-hypervisors", params={"with_servers": "maybe"}), 400, "with_servers"
        )

    with control_plane.client(microversion="2.75") as v275:
        empty = v275.get(
            f"{API}/os-hypervisors",
            params={"hypervisor_hostname_pattern": "hv-b", "with_servers": "true"},
        ).json()["hypervisors"]
        assert empty[0]["servers"] == []

    cli = control_plane.openstack_json("hypervisor", "list", "--matching", "computeres-hv-a")
    assert [h["Hypervisor Hostname"] for h in cli] == ["computeres-hv-a.example"]
    shown_cli = control_plane.openstack_json("hypervisor", "show", "computeres-hv-a.example")
    # The CLI splits the uptime text Nova's format gives into its parts.
    assert shown_cli["host_time"] and shown_cli["load_average"], shown_cli

    with control_plane.client(microversion="2.88") as v288:
        assert v288.get(f"{API}/os-hypervisors/{node_a['uuid']}/uptime").status_code == 404
        assert v288.get(f"{API}/os-hypervisors/statistics").status_code == 404
        shown = v288.get(f"{API}/os-hypervisors/{node_a['uuid']}").json()["hypervisor"]
        # The service was registered moments ago: it is up and has an uptime.
        assert " up " in shown["uptime"]
        assert "vcpus" not in shown


# --- the images proxy -----------------------------------------------------------------


def test_images_proxy(control_plane: ControlPlane) -> None:
    with control_plane.client() as admin:
        made = admin.post(
            "/image/v2/images",
            json={
                "name": "computeres-proxy",
                "disk_format": "qcow2",
                "container_format": "bare",
                "min_ram": 64,
                "colour": "blue",
            },
        )
        assert made.status_code == 201, made.text
        image_id = made.json()["id"]
        listed = admin.get(f"{API}/images").json()["images"]
        (entry,) = [i for i in listed if i["id"] == image_id]
        assert set(entry) == {"id", "name", "links"}
        assert {link["rel"] for link in entry["links"]} == {"self", "bookmark", "alternate"}
        shown = admin.get(f"{API}/images/{image_id}").json()["image"]
        assert (shown["status"], shown["progress"], shown["minRam"]) == ("SAVING", 25, 64)
        assert shown["metadata"] == {"colour": "blue"}
        assert shown["created"].endswith("Z")
        assert {
            "id", "status", "updated", "links", "name", "created", "minDisk", "minRam",
            "progress", "metadata", "OS-EXT-IMG-SIZE:size",
        } == set(shown)  # fmt: skip
        detail = admin.get(f"{API}/images/detail", params={"minRam": 64}).json()["images"]
        assert image_id in {i["id"] for i in detail}
        assert admin.get(f"{API}/images/detail", params={"minRam": 65}).json()["images"] == [
            i for i in admin.get(f"{API}/images/detail").json()["images"] if i["minRam"] >= 65
        ]
        assert admin.get(f"{API}/images/{image_id}/metadata").json() == {
            "metadata": {"colour": "blue"}
        }
        assert admin.get(f"{API}/images/{image_id}/metadata/colour").json() == {
            "meta": {"colour": "blue"}
        }
        _error(admin.get(f"{API}/images/{image_id}/metadata/size"), 404, "size")
        # Metadata writes go to the image's extra properties, as Nova's proxy did.
        meta = f"{API}/images/{image_id}/metadata"
        merged = admin.post(meta, json={"metadata": {"shape": "round"}})
        assert merged.json() == {"metadata": {"colour": "blue", "shape": "round"}}
        item = admin.put(f"{meta}/colour", json={"meta": {"colour": "red"}})
        assert item.json() == {"meta": {"colour": "red"}}
        _error(admin.put(f"{meta}/colour", json={"meta": {"shape": "x"}}), 400, "one item")
        _error(admin.post(meta, json={"metadata": {"k": 1}}), 400, "metadata.k")
        _error(admin.post(meta, json={"metadata": {"name": "x"}}), 403, "reserved")
        assert admin.delete(f"{meta}/shape").status_code == 204
        _error(admin.delete(f"{meta}/shape"), 404, "shape")
        assert admin.put(meta, json={"metadata": {"a": "1"}}).json() == {"metadata": {"a": "1"}}
        v2 = admin.get(f"/image/v2/images/{image_id}").json()
        assert v2["a"] == "1" and "colour" not in v2
        missing = f"{API}/images/{uuid.uuid4()}/metadata"
        _error(admin.post(missing, json={"metadata": {"a": "1"}}), 404, "could not be found")
        _error(admin.put(f"{missing}/a", json={"meta": {"a": "1"}}), 404, "could not be found")
        _error(admin.delete(f"{missing}/a"), 404, "could not be found")
        _error(admin.get(f"{API}/images/{uuid.uuid4()}"), 404, "could not be found")
        _error(admin.get(f"{API}/images/detail", params={"minRam": HUGE}), 400, "'minRam'")
        _error(admin.get(f"{API}/images", params={"status": "SLEEPING"}), 400, "'status'")
        assert admin.delete(f"/image/v2/images/{image_id}").status_code == 204
    with control_plane.client(microversion="2.36") as new:
        assert new.get(f"{API}/images").status_code == 404
        assert new.get(f"{API}/images/{image_id}").status_code == 404


def test_flavor_spec_and_access_bodies(control_plane: ControlPlane, project: str) -> None:
    with control_plane.client() as admin:
        body = {"name": "computeres-private", "ram": 64, "vcpus": 1, "disk": 1}
        made = admin.post(
            f"{API}/flavors", json={"flavor": {**body, "os-flavor-access:is_public": "false"}}
        )
        assert made.status_code == 200, made.text
        flavor = made.json()["flavor"]["id"]
        specs = f"{API}/flavors/{flavor}/os-extra_specs"
        added = admin.post(specs, json={"extra_specs": {"hw:cpu_policy": "shared", "n": 2}})
        assert added.json() == {"extra_specs": {"hw:cpu_policy": "shared", "n": "2"}}
        _error(admin.post(specs, json={"extra_specs": {"k": True}}), 400, "extra_specs.k")
        _error(admin.post(specs, json={"extra_specs": {"bad/key": "v"}}), 400, "extra_specs")
        _error(admin.post(specs, json={"specs": {}}), 400, "extra_specs")
        assert admin.put(f"{specs}/n", json={"n": "3"}).json() == {"n": "3"}
        _error(admin.put(f"{specs}/n", json={"n": None}), 400, "n")
        _error(admin.put(f"{specs}/n", json={"m": "3"}), 400, "'n'")
        assert admin.get(specs).json()["extra_specs"] == {"hw:cpu_policy": "shared", "n": "3"}

        action = f"{API}/flavors/{flavor}/action"
        added = admin.post(action, json={"addTenantAccess": {"tenant": project}})
        assert added.json()["flavor_access"] == [{"flavor_id": flavor, "tenant_id": project}]
        _error(admin.post(action, json={"addTenantAccess": {"tenant": ""}}), 400, "tenant")
        _error(admin.post(action, json={"grant": {"tenant": project}}), 400, "addTenantAccess")
        _error(admin.post(action, json={"removeTenantAccess": None}), 400, "removeTenantAccess")
        removed = admin.post(action, json={"removeTenantAccess": {"tenant": project}})
        assert removed.json() == {"flavor_access": []}
        assert admin.delete(f"{API}/flavors/{flavor}").status_code == 202


def test_user_quotas_within_a_project(
    control_plane: ControlPlane, project: str, nodes: dict
) -> None:
    """``?user_id=`` reads and sets one user's limits under the project's."""
    quota = f"{API}/os-quota-sets/{project}"
    user = {"user_id": "computeres-user"}
    with control_plane.client() as admin:
        assert admin.put(quota, json={"quota_set": {"ram": 5120}}).status_code == 200
        updated = admin.put(quota, params=user, json={"quota_set": {"ram": "2048"}})
        assert updated.status_code == 200, updated.text
        assert updated.json()["quota_set"]["ram"] == 2048
        assert admin.get(quota, params=user).json()["quota_set"]["ram"] == 2048
        # The project's limit is its own still.
        assert admin.get(quota).json()["quota_set"]["ram"] == 5120
        detail = admin.get(f"{quota}/detail", params=user).json()["quota_set"]
        # The user has no servers; the project's running one is not theirs.
        assert detail["ram"] == {"limit": 2048, "in_use": 0, "reserved": 0}
        assert admin.get(f"{quota}/detail").json()["quota_set"]["ram"]["in_use"] == 512
        _error(
            admin.put(quota, params=user, json={"quota_set": {"ram": 6000}}),
            400,
            "less than or equal to 5120",
        )
        _error(admin.put(quota, params=user, json={"quota_set": {"ram": -1}}), 400, "5120")
        assert admin.delete(quota, params=user).status_code == 202
        assert admin.get(quota, params=user).json()["quota_set"]["ram"] == 5120
        admin.put(quota, params=user, json={"quota_set": {"cores": 1}})
        # Resetting the project resets its users too.
        assert admin.delete(quota).status_code == 202
        defaults = admin.get(f"{quota}/defaults").json()["quota_set"]
        reset = admin.get(quota, params=user).json()["quota_set"]
        assert (reset["ram"], reset["cores"]) == (defaults["ram"], defaults["cores"])


def test_user_quotas_bind_server_create(control_plane: ControlPlane) -> None:
    """A user's own instance limit within the project refuses a create that the
    project's limits allow, before anything is recorded. (This control plane has no
    message broker, so the accepted case is left to the tests with a whole cloud.)"""
    with control_plane.client() as admin:
        token = admin.get(
            "/identity/v3/auth/tokens", headers={"X-Subject-Token": admin.headers["X-Auth-Token"]}
        )
        who = token.json()["token"]
        user, project = who["user"]["id"], who["project"]["id"]
        image = admin.post(
            "/image/v2/images",
            json={"name": "computeres-quota", "disk_format": "raw", "container_format": "bare"},
        ).json()["id"]
        uploaded = admin.put(
            f"/image/v2/images/{image}/file",
            content=b"\0" * 65536,
            headers={"Content-Type": "application/octet-stream"},
        )
        assert uploaded.status_code == 204, uploaded.text
        flavor = admin.post(
            f"{API}/flavors",
            json={"flavor": {"name": "computeres-quota", "ram": 64, "vcpus": 1, "disk": 1}},
        ).json()["flavor"]["id"]
        quota = f"{API}/os-quota-sets/{project}"
        body = {
            "server": {
                "name": "computeres-user-quota",
                "imageRef": image,
                "flavorRef": flavor,
                "networks": "none",
            }
        }
        assert admin.get(quota).json()["quota_set"]["instances"] > 0
        servers = admin.get(f"{API}/servers", params={"all_tenants": 1}).json()["servers"]
        before = {s["id"] for s in servers}
        assert admin.put(quota, params={"user_id": user}, json={"quota_set": {"instances": 0}})
        refused = admin.post(
            f"{API}/servers", json=body, headers={"OpenStack-API-Version": "compute 2.37"}
        )
        _error(refused, 403, "instances")
        after = admin.get(f"{API}/servers", params={"all_tenants": 1}).json()["servers"]
        assert {s["id"] for s in after} == before
        assert admin.delete(quota, params={"user_id": user}).status_code == 202
        assert admin.delete(f"/image/v2/images/{image}").status_code == 204


def test_server_password(control_plane: ControlPlane, project: str, nodes: dict) -> None:
    """``os-server-password`` shows what the guest posted to the metadata service
    (written here as that service writes it) and clears it, for the server's project
    and administrators; a member of another project does not find the server."""
    from stratus.db.models import Instance
    from tests.support.db import session_for

    server = nodes["computeres-hv-a"]["servers"][0]["uuid"]
    url = f"{API}/servers/{server}/os-server-password"
    with control_plane.client() as admin:
        roles = {r["name"]: r["id"] for r in admin.get("/identity/v3/roles").json()["roles"]}
        user = admin.post(
            "/identity/v3/users", json={"user": {"name": "computeres-pw", "password": "pw-pw"}}
        ).json()["user"]["id"]
        other = admin.post(
            "/identity/v3/projects", json={"project": {"name": "computeres-pw-other"}}
        ).json()["project"]["id"]
        for where in (project, other):
            admin.put(
                f"/identity/v3/projects/{where}/users/{user}/roles/{roles['member']}"
            ).raise_for_status()
        assert admin.get(url).json() == {"password": ""}
        with session_for(control_plane.db_url) as session:
            session.query(Instance).filter_by(uuid=server).update({"password": "c2VjcmV0"})
        owner_token = control_plane.token("computeres-pw", "pw-pw", "computeres-usage")
        outsider_token = control_plane.token("computeres-pw", "pw-pw", "computeres-pw-other")
        with control_plane.client(outsider_token) as outsider:
            _error(outsider.get(url), 404, server)
            _error(outsider.delete(url), 404, server)
        with control_plane.client(owner_token) as owner:
            assert owner.get(url).json() == {"password": "c2VjcmV0"}
            assert owner.delete(url).status_code == 204
            assert owner.get(url).json() == {"password": ""}
        _error(admin.get(f"{API}/servers/{uuid.uuid4()}/os-server-password"), 404, "")
