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


@pytest.mark.parametrize("collection", ["projects", "users"])
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
