"""The control plane through the real ``openstack`` CLI and raw HTTP, on SQLite and
on MariaDB: identity, catalog, flavors, services, hypervisors, zones, quotas."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.support.cloud import ControlPlane


@pytest.fixture(scope="module")
def people(control_plane: ControlPlane) -> dict[str, str]:
    """Projects p1 and p2 with a member each, and a reader in p1."""
    cp = control_plane
    ids = {}
    for project in ("p1", "p2"):
        ids[project] = cp.openstack_json("project", "create", project)["id"]
    for user, project, role in (
        ("m1", "p1", "member"),
        ("m2", "p2", "member"),
        ("r1", "p1", "reader"),
    ):
        ids[user] = cp.openstack_json("user", "create", "--password", f"{user}-pw", user)["id"]
        cp.openstack("role", "add", "--project", project, "--user", user, role)
    return ids


def test_token_issue_and_catalog(control_plane: ControlPlane) -> None:
    token = control_plane.openstack_json("token", "issue")
    assert token["id"].startswith("gAAAA") and token["project_id"] and token["user_id"]
    endpoints = control_plane.openstack_json("endpoint", "list")
    assert {e["Service Type"] for e in endpoints} == {"identity", "compute", "image", "network"}
    assert all(e["Interface"] == "public" and e["Enabled"] for e in endpoints)
    compute = next(e for e in endpoints if e["Service Type"] == "compute")
    assert compute["URL"] == f"{control_plane.url}/compute/v2.1"
    catalog = control_plane.openstack_json("catalog", "list")
    assert {c["Type"] for c in catalog} == {"identity", "compute", "image", "network"}


def test_projects_users_roles(control_plane: ControlPlane, people: dict[str, str]) -> None:
    names = {p["Name"] for p in control_plane.openstack_json("project", "list")}
    assert {"admin", "p1", "p2"} <= names
    assignments = control_plane.openstack_json(
        "role", "assignment", "list", "--user", people["m1"], "--names"
    )
    assert [(a["Role"], a["Project"]) for a in assignments] == [("member", "p1@Default")]
    # The member can log in to the project they were added to, and nowhere else.
    assert (
        control_plane.openstack_json("token", "issue", user="m1", password="m1-pw", project="p1")[
            "project_id"
        ]
        == people["p1"]
    )
    refused = control_plane.openstack(
        "token", "issue", user="m1", password="m1-pw", project="p2", check=False
    )
    assert refused.returncode != 0 and "401" in refused.stderr


def test_flavor_lifecycle(control_plane: ControlPlane) -> None:
    cp = control_plane
    flavor = cp.openstack_json(
        "flavor",
        "create",
        "--id",
        "auto",
        "--ram",
        "512",
        "--disk",
        "10",
        "--vcpus",
        "1",
        "--public",
        "small-server",
    )
    assert (flavor["ram"], flavor["disk"], flavor["vcpus"]) == (512, 10, 1)
    assert len(flavor["id"]) == 36
    assert "small-server" in {f["Name"] for f in cp.openstack_json("flavor", "list")}
    shown = cp.openstack_json("flavor", "show", "small-server")
    assert shown["id"] == flavor["id"] and shown["os-flavor-access:is_public"] is True
    cp.openstack("flavor", "set", "--property", "hw:cpu_policy=dedicated", "small-server")
    assert cp.openstack_json("flavor", "show", "small-server")["properties"] == {
        "hw:cpu_policy": "dedicated"
    }
    cp.openstack("flavor", "unset", "--property", "hw:cpu_policy", "small-server")
    assert cp.openstack_json("flavor", "show", "small-server")["properties"] == {}
    cp.openstack("flavor", "delete", "small-server")
    assert "small-server" not in {f["Name"] for f in cp.openstack_json("flavor", "list")}


def test_private_flavor_access(control_plane: ControlPlane, people: dict[str, str]) -> None:
    cp = control_plane
    cp.openstack(
        "flavor",
        "create",
        "--private",
        "--ram",
        "256",
        "--disk",
        "1",
        "--vcpus",
        "1",
        "tiny-private",
    )
    cp.openstack("flavor", "set", "--project", "p1", "tiny-private")
    seen_by_p1 = cp.openstack_json("flavor", "list", user="m1", password="m1-pw", project="p1")
    seen_by_p2 = cp.openstack_json("flavor", "list", user="m2", password="m2-pw", project="p2")
    assert "tiny-private" in {f["Name"] for f in seen_by_p1}
    assert "tiny-private" not in {f["Name"] for f in seen_by_p2}
    hidden = cp.openstack(
        "flavor", "show", "tiny-private", user="m2", password="m2-pw", project="p2", check=False
    )
    assert hidden.returncode != 0 and "No Flavor found" in hidden.stderr


def test_services_hypervisors_zones_quotas(control_plane: ControlPlane) -> None:
    """Service rows come from a service's own registration; here the registration
    function the services call runs against the same database."""
    from stratus.db import services as db_services
    from tests.support.db import session_for

    with session_for(control_plane.db_url) as session:
        db_services.register(session, "node-a", "stratus-scheduler", "scheduler")
        db_services.register(session, "node-a", "stratus-compute", "compute.node-a")
    services = control_plane.openstack_json("compute", "service", "list")
    assert {(s["Binary"], s["Host"], s["Zone"], s["State"], s["Status"]) for s in services} == {
        ("stratus-scheduler", "node-a", "internal", "up", "enabled"),
        ("stratus-compute", "node-a", "nova", "up", "enabled"),
    }
    compute_id = next(s["ID"] for s in services if s["Binary"] == "stratus-compute")
    control_plane.openstack(
        "compute",
        "service",
        "set",
        "--disable",
        "--disable-reason",
        "maintenance",
        "node-a",
        "stratus-compute",
    )
    services = control_plane.openstack_json("compute", "service", "list", "--long")
    disabled = next(s for s in services if s["ID"] == compute_id)
    assert (disabled["Status"], disabled["Disabled Reason"]) == ("disabled", "maintenance")
    assert control_plane.openstack_json("hypervisor", "list") == []
    zones = control_plane.openstack_json("availability", "zone", "list", "--compute")
    assert {(z["Zone Name"], z["Zone Status"]) for z in zones} == {
        ("nova", "not available"),
        ("internal", "available"),
    }
    control_plane.openstack("compute", "service", "set", "--enable", "node-a", "stratus-compute")
    zones = control_plane.openstack_json("availability", "zone", "list", "--compute")
    assert ("nova", "available") in {(z["Zone Name"], z["Zone Status"]) for z in zones}
    quota = {q["Resource"]: q["Limit"] for q in control_plane.openstack_json("quota", "show")}
    assert (quota["instances"], quota["cores"], quota["ram"]) == (10, 20, 51200)
    limits = {
        item["Name"]: item["Value"]
        for item in control_plane.openstack_json("limits", "show", "--absolute")
    }
    assert limits["max_total_instances"] == 10 and limits["total_instances_used"] == 0


def test_quota_update_and_enforcement(control_plane: ControlPlane, people: dict[str, str]) -> None:
    cp = control_plane
    cp.openstack("quota", "set", "--cores", "7", "--properties", "2", "p1")
    quota = {q["Resource"]: q["Limit"] for q in cp.openstack_json("quota", "show", "p1")}
    assert quota["cores"] == 7 and quota["properties"] == 2
    with cp.client(cp.token("m1", "m1-pw", "p1")) as member:
        assert (
            member.get(f"/compute/v2.1/os-quota-sets/{people['p1']}").json()["quota_set"]["cores"]
            == 7
        )
        assert member.get(f"/compute/v2.1/os-quota-sets/{people['p2']}").status_code == 403
    # Flavor extra specs count against metadata_items of the caller's project.
    cp.openstack("quota", "set", "--properties", "1", "admin")
    flavor = cp.openstack_json(
        "flavor", "create", "--ram", "64", "--disk", "1", "--vcpus", "1", "quota-flavor"
    )
    cp.openstack("flavor", "set", "--property", "a=1", "quota-flavor")
    over = cp.openstack("flavor", "set", "--property", "b=2", "quota-flavor", check=False)
    assert over.returncode != 0 and "metadata_items" in over.stderr
    assert cp.openstack_json("flavor", "show", flavor["id"])["properties"] == {"a": "1"}
    cp.openstack("quota", "set", "--properties", "128", "admin")


# --- negative cases over raw HTTP -----------------------------------------------------


def _auth_body(user: str, password: str, project: str = "admin") -> dict:
    return {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {"name": user, "domain": {"name": "Default"}, "password": password}
                },
            },
            "scope": {"project": {"name": project, "domain": {"name": "Default"}}},
        }
    }


def test_wrong_password_is_401(control_plane: ControlPlane) -> None:
    response = httpx.post(
        f"{control_plane.url}/identity/v3/auth/tokens", json=_auth_body("admin", "wrong")
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == 401
    cli = control_plane.openstack("token", "issue", password="wrong", check=False)
    assert cli.returncode != 0 and "401" in cli.stderr


def test_revoked_token_is_401(control_plane: ControlPlane) -> None:
    token = control_plane.token()
    with control_plane.client(token) as client:
        assert client.get("/compute/v2.1/flavors").status_code == 200
        revoked = client.delete("/identity/v3/auth/tokens", headers={"X-Subject-Token": token})
        assert revoked.status_code == 204
        after = client.get("/compute/v2.1/flavors")
    assert after.status_code == 401 and "revoked" in after.json()["unauthorized"]["message"]


EXPIRY = 8  # seconds a token lives in test_expired_token_is_401


def test_expired_token_is_401(db_backend: str, request: pytest.FixtureRequest) -> None:
    from tests.conftest import database_url

    cloud = ControlPlane(
        database_url(db_backend, request, "stratus_expiry"),
        extra_conf={"identity": {"token_expiration": EXPIRY}},
    )
    cloud.start()
    try:
        # EXPIRY leaves a loaded machine (other tiers beside this one) time to use
        # the token once before it expires; then wait until it has.
        issued = time.monotonic()
        token = cloud.token()
        with cloud.client(token) as client:
            assert client.get("/compute/v2.1/flavors").status_code == 200
            time.sleep(max(0.0, issued + EXPIRY + 1.1 - time.monotonic()))
            expired = client.get("/compute/v2.1/flavors")
        assert expired.status_code == 401
        assert "expired" in expired.json()["unauthorized"]["message"]
    finally:
        cloud.stop()


def test_member_cannot_create_and_reader_cannot_delete(
    control_plane: ControlPlane, people: dict[str, str]
) -> None:
    cp = control_plane
    denied = cp.openstack(
        "flavor",
        "create",
        "--ram",
        "64",
        "--disk",
        "1",
        "--vcpus",
        "1",
        "member-flavor",
        user="m1",
        password="m1-pw",
        project="p1",
        check=False,
    )
    assert denied.returncode != 0 and "403" in denied.stderr
    flavor = cp.openstack_json(
        "flavor", "create", "--ram", "64", "--disk", "1", "--vcpus", "1", "reader-target"
    )
    with cp.client(cp.token("r1", "r1-pw", "p1")) as reader:
        assert reader.get(f"/compute/v2.1/flavors/{flavor['id']}").status_code == 200
        response = reader.delete(f"/compute/v2.1/flavors/{flavor['id']}")
    assert response.status_code == 403
    assert "compute:flavors:manage" in response.json()["forbidden"]["message"]
    with cp.client(cp.token("m1", "m1-pw", "p1")) as member:
        assert member.get("/identity/v3/users").status_code == 403
        assert member.get("/compute/v2.1/os-services").status_code == 403
    assert cp.openstack_json("flavor", "show", flavor["id"])["name"] == "reader-target"


BAD_FLAVORS = [
    ({"name": "f", "ram": -1, "vcpus": 1, "disk": 1}, 400, "flavor.ram"),
    ({"name": "", "ram": 64, "vcpus": 1, "disk": 1}, 400, "flavor.name"),
    ({"name": "x" * 256, "ram": 64, "vcpus": 1, "disk": 1}, 400, "flavor.name"),
    ({"name": " lead", "ram": 64, "vcpus": 1, "disk": 1}, 400, "flavor.name"),
    ({"name": "f", "ram": 64, "vcpus": 0, "disk": 1}, 400, "flavor.vcpus"),
    ({"name": "f", "ram": 64, "vcpus": 1, "disk": "ten"}, 400, "flavor.disk"),
    ({"name": "f", "ram": 64, "vcpus": 1}, 400, "flavor.disk"),
    ({"name": "f", "ram": 64, "vcpus": 1, "disk": 1, "colour": "red"}, 400, "colour"),
    ({"name": "f", "ram": 64, "vcpus": 1, "disk": 1, "id": "bad/id"}, 400, "flavor.id"),
    ({"name": "dup-name", "ram": 64, "vcpus": 1, "disk": 1}, 409, "dup-name already exists"),
    (
        {"name": "other", "ram": 64, "vcpus": 1, "disk": 1, "id": "dup-id"},
        409,
        "ID dup-id already exists",
    ),
]


def test_invalid_flavor_bodies(control_plane: ControlPlane) -> None:
    with control_plane.client() as admin:
        assert (
            admin.post(
                "/compute/v2.1/flavors",
                json={
                    "flavor": {"name": "dup-name", "ram": 64, "vcpus": 1, "disk": 1, "id": "dup-id"}
                },
            ).status_code
            == 200
        )
        before = len(
            admin.get("/compute/v2.1/flavors", params={"is_public": "none"}).json()["flavors"]
        )
        for body, status, text in BAD_FLAVORS:
            response = admin.post("/compute/v2.1/flavors", json={"flavor": body})
            assert response.status_code == status, (body, response.text)
            error = response.json()["badRequest" if status == 400 else "conflictingRequest"]
            assert text in error["message"], (body, error)
        malformed = admin.post(
            "/compute/v2.1/flavors",
            content=b'{"flavor": {',
            headers={"Content-Type": "application/json"},
        )
        assert malformed.status_code == 400
        assert "Malformed request body" in malformed.json()["badRequest"]["message"]
        after = len(
            admin.get("/compute/v2.1/flavors", params={"is_public": "none"}).json()["flavors"]
        )
    assert after == before


def test_microversions(control_plane: ControlPlane) -> None:
    with control_plane.client() as admin:
        too_high = admin.get(
            "/compute/v2.1/flavors", headers={"OpenStack-API-Version": "compute 9.99"}
        )
        assert too_high.status_code == 406
        assert "not supported" in too_high.json()["notAcceptable"]["message"]
        legacy = admin.get(
            "/compute/v2.1/flavors/detail", headers={"X-OpenStack-Nova-API-Version": "2.61"}
        )
        assert legacy.headers["OpenStack-API-Version"] == "compute 2.61"
        assert "OpenStack-API-Version" in legacy.headers["Vary"]
        assert all("extra_specs" in f for f in legacy.json()["flavors"])
        plain = admin.get("/compute/v2.1/flavors/detail")
        assert plain.headers["X-OpenStack-Nova-API-Version"] == "2.1"
        assert all(
            "extra_specs" not in f and "description" not in f for f in plain.json()["flavors"]
        )
        latest = admin.get(
            "/compute/v2.1/os-services", headers={"OpenStack-API-Version": "compute latest"}
        )
        assert latest.headers["OpenStack-API-Version"] == "compute 2.100"
        assert (
            admin.get(
                "/compute/v2.1/os-hypervisors/statistics",
                headers={"OpenStack-API-Version": "compute 2.88"},
            ).status_code
            == 404
        )
        assert (
            admin.get("/compute/v2.1/os-hypervisors/statistics").json()["hypervisor_statistics"][
                "count"
            ]
            == 0
        )
        bad = admin.get("/compute/v2.1/flavors", headers={"OpenStack-API-Version": "compute two"})
        assert bad.status_code == 400
        assert (
            admin.get("/compute/v2.1/flavors").headers["x-openstack-request-id"].startswith("req-")
        )
    assert httpx.get(f"{control_plane.url}/healthcheck").text == "OK"
    discovery = httpx.get(f"{control_plane.url}/compute/v2.1").json()["version"]
    assert (discovery["min_version"], discovery["version"]) == ("2.1", "2.100")


def test_db_sync_and_bootstrap_are_idempotent(control_plane: ControlPlane) -> None:
    from stratus.db import migration
    from tests.support.cloud import ADMIN_PASSWORD

    assert "(was" not in control_plane.manage("db", "sync")
    assert control_plane.manage("db", "version").strip() == migration.head()
    again = control_plane.manage(
        "bootstrap",
        "--bootstrap-password",
        ADMIN_PASSWORD,
        "--bootstrap-public-url",
        control_plane.url,
    )
    assert "nothing to change" in again
    moved = control_plane.manage(
        "bootstrap",
        "--bootstrap-password",
        ADMIN_PASSWORD,
        "--bootstrap-public-url",
        "http://elsewhere:8774",
    )
    assert "public compute endpoint http://elsewhere:8774/compute/v2.1" in moved
    control_plane.manage(
        "bootstrap",
        "--bootstrap-password",
        ADMIN_PASSWORD,
        "--bootstrap-public-url",
        control_plane.url,
    )
