"""Host aggregates (with availability zones) and server groups through the real
``openstack`` CLI and raw HTTP, on SQLite and on MariaDB."""

from __future__ import annotations

import pytest

from tests.support.cloud import ControlPlane

API = "/compute/v2.1"


@pytest.fixture(scope="module")
def people(control_plane: ControlPlane) -> dict[str, str]:
    """Projects p1 and p2 with a member each and a reader in p1 (raw HTTP: fast)."""
    ids: dict[str, str] = {}
    with control_plane.client() as admin:
        roles = {r["name"]: r["id"] for r in admin.get("/identity/v3/roles").json()["roles"]}
        for project in ("p1", "p2"):
            response = admin.post("/identity/v3/projects", json={"project": {"name": project}})
            ids[project] = response.json()["project"]["id"]
        for user, project, role in (
            ("m1", "p1", "member"),
            ("m2", "p2", "member"),
            ("r1", "p1", "reader"),
        ):
            response = admin.post(
                "/identity/v3/users", json={"user": {"name": user, "password": f"{user}-pw"}}
            )
            ids[user] = response.json()["user"]["id"]
            assert (
                admin.put(
                    f"/identity/v3/projects/{ids[project]}/users/{ids[user]}/roles/{roles[role]}"
                ).status_code
                == 204
            )
    return ids


@pytest.fixture(scope="module")
def hosts(control_plane: ControlPlane) -> list[str]:
    """Compute hosts, registered the way a starting stratus-compute registers itself."""
    from stratus.db import services as db_services
    from tests.support.db import session_for

    names = ["agg-node-1", "agg-node-2", "agg-node-3"]
    with session_for(control_plane.db_url) as session:
        for name in names:
            db_services.register(session, name, db_services.COMPUTE_BINARY, f"compute.{name}")
        db_services.register(session, "agg-ctl", "stratus-scheduler", "scheduler")
    return names


def test_aggregate_lifecycle_with_zone(control_plane: ControlPlane, hosts: list[str]) -> None:
    from stratus.db import aggregates as db_aggregates
    from tests.support.db import session_for

    cp = control_plane
    created = cp.openstack_json("aggregate", "create", "--zone", "az1", "agg1")
    assert (created["name"], created["availability_zone"]) == ("agg1", "az1")
    cp.openstack("aggregate", "add", "host", "agg1", hosts[0])
    cp.openstack("aggregate", "set", "--property", "foo=bar", "agg1")
    shown = cp.openstack_json("aggregate", "show", "agg1")
    assert shown["hosts"] == [hosts[0]]
    assert shown["properties"] == {"foo": "bar"}
    assert shown["availability_zone"] == "az1"

    zones = cp.openstack_json("availability", "zone", "list", "--compute", "--long")
    assert {(z["Zone Name"], z["Host Name"]) for z in zones if z["Zone Name"] == "az1"} == {
        ("az1", hosts[0])
    }
    assert ("nova", hosts[1]) in {(z["Zone Name"], z["Host Name"]) for z in zones}

    # What the scheduler's loader reads.
    with session_for(cp.db_url) as session:
        by_host = db_aggregates.aggregates_by_host(session)
        assert set(by_host) == {hosts[0]}
        assert by_host[hosts[0]][0]["metadata"] == {"availability_zone": "az1", "foo": "bar"}
        assert db_aggregates.zones(session) == {"az1": [hosts[0]]}

    cp.openstack("aggregate", "unset", "--property", "foo", "agg1")
    cp.openstack("aggregate", "remove", "host", "agg1", hosts[0])
    shown = cp.openstack_json("aggregate", "show", "agg1")
    assert (shown["hosts"], shown["properties"]) == ([], {})
    cp.openstack("aggregate", "delete", "agg1")
    with cp.client() as admin:
        assert admin.get(f"{API}/os-aggregates").json() == {"aggregates": []}


def test_server_group_lifecycle(control_plane: ControlPlane) -> None:
    cp = control_plane
    group = cp.openstack_json("server", "group", "create", "--policy", "anti-affinity", "grp")
    assert (group["name"], group["policy"]) == ("grp", "anti-affinity")
    ruled = cp.openstack_json(
        "server",
        "group",
        "create",
        "--policy",
        "anti-affinity",
        "--rule",
        "max_server_per_host=2",
        "grp-ruled",
    )
    assert ruled["rules"] == {"max_server_per_host": 2}
    assert {g["Name"] for g in cp.openstack_json("server", "group", "list")} == {"grp", "grp-ruled"}
    shown = cp.openstack_json("server", "group", "show", "grp")
    assert (shown["id"], shown["policy"], shown["members"]) == (group["id"], "anti-affinity", [])
    cp.openstack("server", "group", "delete", "grp", "grp-ruled")
    with cp.client() as admin:
        assert admin.get(f"{API}/os-server-groups").json() == {"server_groups": []}


# --- raw HTTP: views, rules and refusals ----------------------------------------------


def test_aggregate_refusals(
    control_plane: ControlPlane, hosts: list[str], people: dict[str, str]
) -> None:
    cp = control_plane
    with cp.client() as admin, cp.client(microversion="2.41") as admin241:
        made = admin.post(
            f"{API}/os-aggregates",
            json={"aggregate": {"name": "refusals", "availability_zone": "az-r"}},
        )
        assert made.status_code == 200 and "uuid" not in made.json()["aggregate"]
        # Nova's create response alone has no hosts and metadata.
        assert not {"hosts", "metadata"} & set(made.json()["aggregate"])
        agg = made.json()["aggregate"]["id"]
        shown = admin241.get(f"{API}/os-aggregates/{agg}").json()["aggregate"]
        assert len(shown["uuid"]) == 36
        assert (shown["deleted"], shown["deleted_at"], shown["hosts"]) == (False, None, [])

        def post(body: dict, status: int, text: str, url: str = f"{API}/os-aggregates") -> None:
            response = admin.post(url, json=body)
            assert response.status_code == status, (body, response.text)
            assert text in response.text, (body, response.text)

        action = f"{API}/os-aggregates/{agg}/action"
        post({"aggregate": {"name": "refusals"}}, 409, "already exists")
        post({"aggregate": {"name": ""}}, 400, "aggregate.name")
        post(
            {"aggregate": {"name": "x", "availability_zone": "a:b"}},
            400,
            "aggregate.availability_zone",
        )
        post({"aggregate": {"name": "x", "colour": "red"}}, 400, "colour")
        post({"add_host": {"host": "no-such-host"}}, 404, "no-such-host", action)
        post({"add_host": {"host": "agg-ctl"}}, 404, "agg-ctl", action)  # not a compute
        post({"add_host": {}}, 400, "add_host.host", action)
        post({"explode": {}}, 400, "add_host", action)
        post({"add_host": {"host": hosts[1]}}, 200, hosts[1], action)
        post({"add_host": {"host": hosts[1]}}, 409, "already has host", action)
        post(
            {"set_metadata": {"metadata": {"availability_zone": None}}},
            400,
            "empty named availability zone",
            action,
        )
        post({"set_metadata": {"metadata": {"bad/key": "v"}}}, 400, "set_metadata.metadata", action)
        post({"set_metadata": {"metadata": {"k": "v" * 256}}}, 400, "set_metadata.metadata", action)
        post({"remove_host": {"host": hosts[2]}}, 404, hosts[2], action)

        # A host cannot be in two zones, however the second zone is set.
        other = admin.post(
            f"{API}/os-aggregates",
            json={"aggregate": {"name": "other-zone", "availability_zone": "az-o"}},
        ).json()["aggregate"]["id"]
        other_action = f"{API}/os-aggregates/{other}/action"
        post({"add_host": {"host": hosts[1]}}, 409, "az-r", other_action)
        plain = admin.post(f"{API}/os-aggregates", json={"aggregate": {"name": "no-zone"}}).json()[
            "aggregate"
        ]
        assert plain["availability_zone"] is None
        plain_action = f"{API}/os-aggregates/{plain['id']}/action"
        post({"add_host": {"host": hosts[1]}}, 200, hosts[1], plain_action)
        post(
            {"set_metadata": {"metadata": {"availability_zone": "az-o"}}}, 400, "az-r", plain_action
        )
        renamed = admin.put(
            f"{API}/os-aggregates/{plain['id']}",
            json={"aggregate": {"availability_zone": "az-r", "name": "same-zone"}},
        )
        assert renamed.status_code == 200, renamed.text
        assert renamed.json()["aggregate"]["availability_zone"] == "az-r"
        assert (
            admin.put(
                f"{API}/os-aggregates/{plain['id']}", json={"aggregate": {"name": "refusals"}}
            ).status_code
            == 409
        )
        assert (
            admin.put(f"{API}/os-aggregates/{plain['id']}", json={"aggregate": {}}).status_code
            == 400
        )

        deleted = admin.delete(f"{API}/os-aggregates/{agg}")
        assert deleted.status_code == 400 and "not empty" in deleted.text
        assert admin.get(f"{API}/os-aggregates/refusals").status_code == 400
        assert admin.get(f"{API}/os-aggregates/999999").status_code == 404
        for ident in (agg, plain["id"]):
            post(
                {"remove_host": {"host": hosts[1]}},
                200,
                "hosts",
                f"{API}/os-aggregates/{ident}/action",
            )
        for ident in (agg, other, plain["id"]):
            assert admin.delete(f"{API}/os-aggregates/{ident}").status_code == 200
        assert admin.get(f"{API}/os-aggregates").json() == {"aggregates": []}

    with cp.client(cp.token("m1", "m1-pw", "p1")) as member:
        denied = member.post(f"{API}/os-aggregates", json={"aggregate": {"name": "mine"}})
        assert denied.status_code == 403
        assert "compute:aggregates:create" in denied.json()["forbidden"]["message"]
        assert member.get(f"{API}/os-aggregates").status_code == 403


def test_server_group_bodies_and_versions(control_plane: ControlPlane) -> None:
    cp = control_plane
    groups = f"{API}/os-server-groups"
    with cp.client(microversion="2.64") as admin:
        for body, text in (
            ({"name": "g", "policy": "spread"}, "server_group.policy"),
            ({"name": "g"}, "server_group.policy"),
            ({"name": "", "policy": "affinity"}, "server_group.name"),
            (
                {"name": "g", "policy": "affinity", "rules": {"max_server_per_host": 2}},
                "server_group.rules",
            ),
            (
                {"name": "g", "policy": "anti-affinity", "rules": {"max_server_per_host": 0}},
                "server_group.rules.max_server_per_host",
            ),
            (
                {"name": "g", "policy": "anti-affinity", "rules": {"other": 1}},
                "server_group.rules.other",
            ),
            ({"name": "g", "policies": ["affinity"]}, "server_group.policies"),
        ):
            response = admin.post(groups, json={"server_group": body})
            assert response.status_code == 400, (body, response.text)
            assert text in response.json()["badRequest"]["message"], (body, response.text)
        soft = admin.post(
            groups, json={"server_group": {"name": "soft", "policy": "soft-affinity"}}
        )
        assert soft.status_code == 200
        view = soft.json()["server_group"]
        assert set(view) == {"id", "name", "policy", "rules", "members", "project_id", "user_id"}
    with cp.client() as legacy:
        made = legacy.post(groups, json={"server_group": {"name": "old", "policies": ["affinity"]}})
        assert made.status_code == 200, made.text
        assert made.json()["server_group"] == {
            "id": made.json()["server_group"]["id"],
            "name": "old",
            "policies": ["affinity"],
            "metadata": {},
            "members": [],
        }
        too_new = legacy.post(
            groups, json={"server_group": {"name": "old", "policies": ["soft-affinity"]}}
        )
        assert too_new.status_code == 400 and "2.15" in too_new.text
        two = legacy.post(
            groups,
            json={"server_group": {"name": "old", "policies": ["affinity", "anti-affinity"]}},
        )
        assert two.status_code == 400 and "server_group.policies" in two.text
        shown = legacy.get(
            f"{groups}/{view['id']}", headers={"OpenStack-API-Version": "compute 2.15"}
        ).json()["server_group"]
        assert shown["policies"] == ["soft-affinity"] and "project_id" in shown
        for ident in (view["id"], made.json()["server_group"]["id"]):
            assert legacy.delete(f"{groups}/{ident}").status_code == 204
        assert legacy.delete(f"{groups}/{view['id']}").status_code == 404


def test_server_group_projects_and_quota(
    control_plane: ControlPlane, people: dict[str, str]
) -> None:
    cp = control_plane
    groups = f"{API}/os-server-groups"
    body = {"server_group": {"name": "q", "policy": "affinity"}}
    with cp.client() as admin:
        assert (
            admin.put(
                f"{API}/os-quota-sets/{people['p2']}", json={"quota_set": {"server_groups": 1}}
            ).status_code
            == 200
        )
    m1 = cp.client(cp.token("m1", "m1-pw", "p1"), microversion="2.64")
    m2 = cp.client(cp.token("m2", "m2-pw", "p2"), microversion="2.64")
    r1 = cp.client(cp.token("r1", "r1-pw", "p1"), microversion="2.64")
    admin = cp.client(microversion="2.64")
    with m1, m2, r1, admin:
        mine = m2.post(groups, json=body)
        assert mine.status_code == 200 and mine.json()["server_group"]["project_id"] == people["p2"]
        over = m2.post(groups, json=body)
        assert over.status_code == 403
        assert "Quota exceeded for server_groups" in over.json()["forbidden"]["message"]
        group_id = mine.json()["server_group"]["id"]

        p1_group = m1.post(groups, json=body).json()["server_group"]["id"]
        assert r1.get(f"{groups}/{p1_group}").status_code == 200
        assert r1.delete(f"{groups}/{p1_group}").status_code == 403
        assert r1.post(groups, json=body).status_code == 403
        assert m1.get(f"{groups}/{group_id}").status_code == 404
        assert m1.delete(f"{groups}/{group_id}").status_code == 404
        listed = m1.get(groups, params={"all_projects": "True"}).json()["server_groups"]
        assert [g["id"] for g in listed] == [p1_group]
        assert admin.get(f"{groups}/{group_id}").status_code == 200
        every = admin.get(groups, params={"all_projects": "True"}).json()["server_groups"]
        assert {group_id, p1_group} <= {g["id"] for g in every}
        assert admin.get(groups).json()["server_groups"] == []
        paged = admin.get(groups, params={"all_projects": "1", "limit": 1, "offset": 1})
        assert len(paged.json()["server_groups"]) == 1

        assert m2.delete(f"{groups}/{group_id}").status_code == 204
        assert m2.post(groups, json=body).status_code == 200
        assert m1.delete(f"{groups}/{p1_group}").status_code == 204


def test_zone_of_busy_hosts_is_fixed(control_plane: ControlPlane, hosts: list[str]) -> None:
    """The zone of hosts that run instances cannot change under them."""
    from stratus.db.models import Instance
    from tests.support.db import session_for

    with session_for(control_plane.db_url) as session:
        busy = Instance(
            project_id="p",
            user_id="u",
            display_name="vm",
            flavor={},
            vcpus=1,
            memory_mb=64,
            root_gb=1,
            host=hosts[2],
        )
        session.add(busy)
        session.flush()
        busy_id = busy.id
    with control_plane.client() as admin:
        agg = admin.post(
            f"{API}/os-aggregates",
            json={"aggregate": {"name": "busy", "availability_zone": "az-b"}},
        ).json()["aggregate"]["id"]
        action = f"{API}/os-aggregates/{agg}/action"
        assert admin.post(action, json={"add_host": {"host": hosts[2]}}).status_code == 200
        same = admin.post(
            action,
            json={
                "set_metadata": {
                    "metadata": {"availability_zone": "az-b", "note": "same zone is fine"}
                }
            },
        )
        assert same.status_code == 200
        moved = admin.put(
            f"{API}/os-aggregates/{agg}", json={"aggregate": {"availability_zone": "az-c"}}
        )
        assert moved.status_code == 400 and "contain instances" in moved.text
        assert admin.post(action, json={"remove_host": {"host": hosts[2]}}).status_code == 200
        assert admin.delete(f"{API}/os-aggregates/{agg}").status_code == 200
    with session_for(control_plane.db_url) as session:
        session.get(Instance, busy_id).deleted = True
