"""Identity API rules that Keystone enforces, through the real ``openstack`` CLI and raw
HTTP against the API process, on SQLite and on MariaDB: who may validate a token,
domain and system scope, strict booleans, domains, endpoints, a user's projects and
project tags."""

from __future__ import annotations

import httpx
import pytest

from tests.support.cloud import ADMIN_PASSWORD, ControlPlane


@pytest.fixture(scope="module")
def members(control_plane: ControlPlane) -> dict[str, str]:
    """Projects ia and ib with a member each (ua in ia, ub in ib)."""
    cp = control_plane
    ids = {}
    for project in ("ia", "ib"):
        ids[project] = cp.openstack_json("project", "create", project)["id"]
    for user, project in (("ua", "ia"), ("ub", "ib")):
        ids[user] = cp.openstack_json("user", "create", "--password", f"{user}-pw", user)["id"]
        cp.openstack("role", "add", "--project", project, "--user", user, "member")
    return ids


def _password_auth(user: str, password: str, scope: dict | None) -> dict:
    auth: dict = {
        "identity": {
            "methods": ["password"],
            "password": {
                "user": {"name": user, "domain": {"name": "Default"}, "password": password}
            },
        }
    }
    if scope is not None:
        auth["scope"] = scope
    return {"auth": auth}


# --- 1. token validation ------------------------------------------------------------


def test_validating_another_users_token_is_for_admins_and_the_subject(
    control_plane: ControlPlane, members: dict[str, str]
) -> None:
    cp = control_plane
    token_a = cp.token("ua", "ua-pw", "ia")
    token_b = cp.token("ub", "ub-pw", "ib")
    subject_b = {"X-Subject-Token": token_b}
    with cp.client(token_a) as member_a:
        shown = member_a.get("/identity/v3/auth/tokens", headers=subject_b)
        checked = member_a.head("/identity/v3/auth/tokens", headers=subject_b)
        # The caller's own token still authenticates every other request.
        assert member_a.get("/identity/v3/auth/projects").status_code == 200
    assert shown.status_code == 403 and checked.status_code == 403
    assert shown.json()["error"]["code"] == 403
    assert "identity:validate_token" in shown.json()["error"]["message"]
    with cp.client(token_b) as member_b:
        own = member_b.get("/identity/v3/auth/tokens", headers=subject_b)
        assert member_b.head("/identity/v3/auth/tokens", headers=subject_b).status_code == 200
    assert own.status_code == 200 and own.json()["token"]["user"]["id"] == members["ub"]
    with cp.client() as admin:
        seen = admin.get("/identity/v3/auth/tokens", headers=subject_b)
        assert admin.head("/identity/v3/auth/tokens", headers=subject_b).status_code == 200
    assert seen.status_code == 200 and seen.json()["token"]["project"]["id"] == members["ib"]
    # The CLI's own token issue (which validates nothing else) still works for a member.
    issued = cp.openstack_json("token", "issue", user="ua", password="ua-pw", project="ia")
    assert issued["user_id"] == members["ua"]


# --- 2. domain and system scope -----------------------------------------------------


@pytest.mark.parametrize(
    "scope",
    [
        {"domain": {"name": "Default"}},
        {"domain": {"id": "default"}},
        {"system": {"all": True}},
    ],
    ids=["domain-by-name", "domain-by-id", "system"],
)
def test_domain_or_system_scope_without_a_role_is_401(
    control_plane: ControlPlane, scope: dict
) -> None:
    response = httpx.post(
        f"{control_plane.url}/identity/v3/auth/tokens",
        json=_password_auth("admin", ADMIN_PASSWORD, scope),
    )
    assert response.status_code == 401, response.text
    assert "X-Subject-Token" not in response.headers
    error = response.json()["error"]
    assert error["code"] == 401 and error["title"] == "Unauthorized"
    assert "has no access to" in error["message"]


def test_ambiguous_or_malformed_scope_is_400(control_plane: ControlPlane) -> None:
    for scope in (
        {"project": {"name": "admin", "domain": {"name": "Default"}}, "domain": {"id": "x"}},
        {"system": {"all": False}},
    ):
        response = httpx.post(
            f"{control_plane.url}/identity/v3/auth/tokens",
            json=_password_auth("admin", ADMIN_PASSWORD, scope),
        )
        assert response.status_code == 400, response.text
        assert "auth.scope" in response.json()["error"]["message"]


# --- 3. strict booleans -------------------------------------------------------------


@pytest.mark.parametrize("collection", ["projects", "users", "domains"])
@pytest.mark.parametrize("value", ["true", 1, None])
def test_enabled_must_be_a_boolean(control_plane: ControlPlane, collection: str, value) -> None:
    singular = collection[:-1]
    name = f"strict-{singular}-{value}"
    with control_plane.client() as admin:
        response = admin.post(
            f"/identity/v3/{collection}", json={singular: {"name": name, "enabled": value}}
        )
        listed = admin.get(f"/identity/v3/{collection}", params={"name": name}).json()
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == 400 and error["title"] == "Bad Request"
    assert f"{singular}.enabled" in error["message"]
    assert listed[collection] == []


# --- 4. domains ---------------------------------------------------------------------


def test_domain_create_set_delete_with_the_cli(control_plane: ControlPlane) -> None:
    cp = control_plane
    created = cp.openstack_json("domain", "create", "--description", "first", "dom-one")
    assert created["name"] == "dom-one" and created["enabled"] is True
    assert created["description"] == "first"
    duplicate = cp.openstack("domain", "create", "dom-one", check=False)
    assert duplicate.returncode != 0 and "409" in duplicate.stderr
    cp.openstack("domain", "set", "--name", "dom-renamed", "--description", "second", "dom-one")
    shown = cp.openstack_json("domain", "show", created["id"])
    assert (shown["name"], shown["description"]) == ("dom-renamed", "second")
    enabled = cp.openstack("domain", "delete", "dom-renamed", check=False)
    assert enabled.returncode != 0 and "403" in enabled.stderr
    assert "disable it first" in enabled.stderr
    cp.openstack("domain", "set", "--disable", "dom-renamed")
    assert cp.openstack_json("domain", "show", created["id"])["enabled"] is False
    cp.openstack("domain", "delete", "dom-renamed")
    names = {d["Name"] for d in cp.openstack_json("domain", "list")}
    assert "dom-renamed" not in names and "Default" in names


def test_domain_rules_over_http(control_plane: ControlPlane, members: dict[str, str]) -> None:
    with control_plane.client() as admin:
        default = admin.delete("/identity/v3/domains/default")
        assert default.status_code == 403, default.text
        assert default.json()["error"]["title"] == "Forbidden"
        dom = admin.post("/identity/v3/domains", json={"domain": {"name": "dom-two"}}).json()
        dom_id = dom["domain"]["id"]
        other = admin.post("/identity/v3/domains", json={"domain": {"name": "dom-three"}})
        assert other.status_code == 201
        clash = admin.patch(
            f"/identity/v3/domains/{dom_id}", json={"domain": {"name": "dom-three"}}
        )
        assert clash.status_code == 409 and clash.json()["error"]["code"] == 409
        bad = admin.patch(f"/identity/v3/domains/{dom_id}", json={"domain": {"enabled": "no"}})
        assert bad.status_code == 400 and "domain.enabled" in bad.json()["error"]["message"]
        assert admin.get(f"/identity/v3/domains/{dom_id}").json()["domain"]["enabled"] is True
        project = admin.post(
            "/identity/v3/projects", json={"project": {"name": "in-dom-two", "domain_id": dom_id}}
        ).json()["project"]
        disabled = admin.patch(
            f"/identity/v3/domains/{dom_id}", json={"domain": {"enabled": False}}
        )
        assert disabled.status_code == 200 and disabled.json()["domain"]["enabled"] is False
        owning = admin.delete(f"/identity/v3/domains/{dom_id}")
        assert owning.status_code == 409 and "1 projects" in owning.json()["error"]["message"]
        assert admin.delete(f"/identity/v3/projects/{project['id']}").status_code == 204
        assert admin.delete(f"/identity/v3/domains/{dom_id}").status_code == 204
        assert admin.get(f"/identity/v3/domains/{dom_id}").status_code == 404
        assert admin.delete(f"/identity/v3/domains/{dom_id}").status_code == 404
    with control_plane.client(control_plane.token("ua", "ua-pw", "ia")) as member:
        denied = member.post("/identity/v3/domains", json={"domain": {"name": "dom-member"}})
    assert denied.status_code == 403


# --- 5. endpoint update -------------------------------------------------------------


def test_endpoint_set_with_the_cli(control_plane: ControlPlane) -> None:
    cp = control_plane
    service = cp.openstack_json("service", "create", "--name", "extra", "extra-type")
    endpoint = cp.openstack_json(
        "endpoint", "create", "--region", "RegionOne", service["id"], "public", "http://old/"
    )
    cp.openstack(
        "endpoint",
        "set",
        "--url",
        "http://new/",
        "--interface",
        "internal",
        "--region",
        "RegionTwo",
        "--disable",
        endpoint["id"],
    )
    shown = cp.openstack_json("endpoint", "show", endpoint["id"])
    assert (shown["url"], shown["interface"], shown["region"]) == (
        "http://new/",
        "internal",
        "RegionTwo",
    )
    assert shown["enabled"] is False
    cp.openstack("endpoint", "set", "--enable", endpoint["id"])
    assert cp.openstack_json("endpoint", "show", endpoint["id"])["enabled"] is True
    with cp.client() as admin:
        path = f"/identity/v3/endpoints/{endpoint['id']}"
        for body, field in (
            ({"interface": "sideways"}, "endpoint.interface"),
            ({"enabled": "false"}, "endpoint.enabled"),
            ({"url": None}, "endpoint.url"),
            ({"service_id": "no-such-service"}, "service_id"),
        ):
            response = admin.patch(path, json={"endpoint": body})
            assert response.status_code == 400, (body, response.text)
            assert field in response.json()["error"]["message"]
        assert admin.patch("/identity/v3/endpoints/nope", json={"endpoint": {}}).status_code == 404
        unchanged = admin.get(path).json()["endpoint"]
    assert (unchanged["url"], unchanged["interface"]) == ("http://new/", "internal")
    # The bootstrap catalog still serves the CLI.
    assert {e["Service Type"] for e in cp.openstack_json("endpoint", "list")} >= {"identity"}


# --- 6. a user's projects -----------------------------------------------------------


def test_project_list_for_a_user(control_plane: ControlPlane, members: dict[str, str]) -> None:
    cp = control_plane
    cp.openstack("role", "add", "--project", "ib", "--user", "ua", "reader")
    listed = cp.openstack_json("project", "list", "--user", "ua")
    assert sorted(p["Name"] for p in listed) == ["ia", "ib"]
    assert cp.openstack_json("project", "list", "--user", "ub") == [
        {"ID": members["ib"], "Name": "ib"}
    ]
    with cp.client(cp.token("ub", "ub-pw", "ib")) as member_b:
        own = member_b.get(f"/identity/v3/users/{members['ub']}/projects")
        other = member_b.get(f"/identity/v3/users/{members['ua']}/projects")
    assert own.status_code == 200 and [p["id"] for p in own.json()["projects"]] == [members["ib"]]
    assert other.status_code == 403
    with cp.client() as admin:
        missing = admin.get("/identity/v3/users/no-such-user/projects")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == 404


# --- 7. project tags ----------------------------------------------------------------


def test_project_tags(control_plane: ControlPlane, members: dict[str, str]) -> None:
    cp = control_plane
    created = cp.openstack_json("project", "create", "--tag", "blue", "--tag", "green", "tagged")
    assert sorted(created["tags"]) == ["blue", "green"]
    assert sorted(cp.openstack_json("project", "show", "tagged")["tags"]) == ["blue", "green"]
    path = f"/identity/v3/projects/{created['id']}/tags"
    with cp.client() as admin:
        assert sorted(admin.get(path).json()["tags"]) == ["blue", "green"]
        assert admin.get(f"{path}/blue").status_code == 204
        assert admin.head(f"{path}/blue").status_code == 204
        assert admin.get(f"{path}/red").status_code == 404
        added = admin.put(f"{path}/red")
        assert added.status_code == 201 and added.headers["Location"].endswith("/tags/red")
        assert admin.put(f"{path}/red").status_code == 201
        assert sorted(admin.get(path).json()["tags"]) == ["blue", "green", "red"]
        assert admin.delete(f"{path}/green").status_code == 204
        assert admin.delete(f"{path}/green").status_code == 404
        replaced = admin.put(path, json={"tags": ["red", "white", "white"]})
        assert replaced.status_code == 200 and sorted(replaced.json()["tags"]) == ["red", "white"]
        shown = admin.get(f"/identity/v3/projects/{created['id']}").json()["project"]
        assert sorted(shown["tags"]) == ["red", "white"]
        for bad in ({"tags": ["a,b"]}, {"tags": ["x" * 256]}, {"tags": [""]}, {"tags": "red"}):
            response = admin.put(path, json=bad)
            assert response.status_code == 400, (bad, response.text)
            assert "tags" in response.json()["error"]["message"]
        too_many = admin.put(path, json={"tags": [f"t{i}" for i in range(81)]})
        assert too_many.status_code == 400
        assert admin.put(f"{path}/a,b").status_code == 400
        assert sorted(admin.get(path).json()["tags"]) == ["red", "white"]
        bad_create = admin.post(
            "/identity/v3/projects", json={"project": {"name": "badtags", "tags": ["a/b"]}}
        )
        assert bad_create.status_code == 400 and "project.tags" in bad_create.text
        assert (
            admin.get("/identity/v3/projects", params={"name": "badtags"}).json()["projects"] == []
        )
        assert admin.get("/identity/v3/projects/nope/tags").status_code == 404
    with cp.client(cp.token("ua", "ua-pw", "ia")) as member:
        own = member.get(f"/identity/v3/projects/{members['ia']}/tags")
        others = member.get(path)
        write = member.put(f"/identity/v3/projects/{members['ia']}/tags/mine")
    assert own.status_code == 200 and own.json()["tags"] == []
    assert others.status_code == 403 and write.status_code == 403
    with cp.client() as admin:
        assert admin.delete(path).status_code == 204
        assert admin.get(path).json()["tags"] == []
        admin.put(f"{path}/gone")
    cp.openstack("project", "delete", "tagged")
    assert "tagged" not in {p["Name"] for p in cp.openstack_json("project", "list")}


# --- 8. user update, unknown domains, rescoping (found by the Tempest tier) -----------


def test_user_set_with_the_cli_and_over_http(control_plane: ControlPlane) -> None:
    cp = control_plane
    cp.openstack("project", "create", "setp")
    created = cp.openstack_json("user", "create", "--password", "old-pw", "setme")
    cp.openstack("role", "add", "--project", "setp", "--user", "setme", "member")
    cp.openstack(
        "user",
        "set",
        "--email",
        "s@example.org",
        "--description",
        "d",
        "--password",
        "new-pw",
        "setme",
    )
    shown = cp.openstack_json("user", "show", "setme")
    assert shown["email"] == "s@example.org" and shown["description"] == "d"
    assert cp.token("setme", "new-pw", "setp")
    path = f"/identity/v3/users/{created['id']}"
    with cp.client() as admin:
        renamed = admin.patch(path, json={"user": {"name": "setme2"}})
        assert renamed.status_code == 200 and renamed.json()["user"]["name"] == "setme2"
        assert renamed.json()["user"]["email"] == "s@example.org"
        for bad in (
            {"user": {"enabled": "false"}},
            {"user": {"name": None}},
            {"user": {"domain_id": "elsewhere"}},
            {"user": {"default_project_id": "nope"}},
            {"users": {}},
        ):
            response = admin.patch(path, json=bad)
            assert response.status_code == 400, (bad, response.text)
        assert admin.get(path).json()["user"]["name"] == "setme2"
        assert admin.patch("/identity/v3/users/nope", json={"user": {}}).status_code == 404
    cp.openstack("user", "set", "--disable", "setme2")
    denied = httpx.post(
        f"{cp.url}/identity/v3/auth/tokens",
        json=_password_auth(
            "setme2", "new-pw", {"project": {"name": "setp", "domain": {"name": "Default"}}}
        ),
    )
    assert denied.status_code == 401
    cp.openstack("user", "delete", "setme2")
    cp.openstack("project", "delete", "setp")


def test_creating_in_an_unknown_domain_is_404(control_plane: ControlPlane) -> None:
    with control_plane.client() as admin:
        for collection, body in (
            ("users", {"user": {"name": "lost"}}),
            ("projects", {"project": {"name": "lost"}}),
        ):
            body[next(iter(body))]["domain_id"] = "no-such-domain"
            response = admin.post(f"/identity/v3/{collection}", json=body)
            assert response.status_code == 404, response.text
            assert "no-such-domain" in response.json()["error"]["message"]
            assert (
                admin.get(f"/identity/v3/{collection}", params={"name": "lost"}).json()[collection]
                == []
            )


def test_rescoping_keeps_the_expiry_and_adds_the_token_method(
    control_plane: ControlPlane, members: dict[str, str]
) -> None:
    cp = control_plane
    unscoped = httpx.post(
        f"{cp.url}/identity/v3/auth/tokens", json=_password_auth("ua", "ua-pw", None)
    )
    assert unscoped.status_code == 201
    rescoped = httpx.post(
        f"{cp.url}/identity/v3/auth/tokens",
        json={
            "auth": {
                "identity": {
                    "methods": ["token"],
                    "token": {"id": unscoped.headers["X-Subject-Token"]},
                },
                "scope": {"project": {"id": members["ia"]}},
            }
        },
    )
    assert rescoped.status_code == 201, rescoped.text
    token = rescoped.json()["token"]
    assert sorted(token["methods"]) == ["password", "token"]
    assert token["expires_at"] == unscoped.json()["token"]["expires_at"]
    assert token["project"]["id"] == members["ia"]
