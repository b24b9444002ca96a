"""module_utils/stratus_http.py: the token request, error bodies, the catalog and an
API that cannot be reached.

Nothing is faked: body-building and the catalog lookup are pure, and the
unreachable-API test talks to a closed loopback port for real.
"""

from __future__ import annotations

import pytest

from tests.support.ports import free_port
from tests.unit.modules.conftest import AUTH

from ansible.module_utils.stratus_errors import StratusConfigError, StratusError  # isort: skip
from ansible.module_utils.stratus_http import (  # isort: skip
    StratusConnection,
    api_error_message,
    password_auth_body,
)


def test_password_auth_body_scopes_by_name_with_default_domains() -> None:
    body = password_auth_body(AUTH)["auth"]
    assert body["identity"]["password"]["user"] == {
        "name": "admin",
        "password": "secret",
        "domain": {"name": "Default"},
    }
    assert body["scope"] == {"project": {"name": "admin", "domain": {"name": "Default"}}}
    by_id = password_auth_body({"token": "t", "project_id": "p"})["auth"]
    assert by_id == {
        "identity": {"methods": ["token"], "token": {"id": "t"}},
        "scope": {"project": {"id": "p"}},
    }


def test_error_bodies_give_their_message() -> None:
    compute = b'{"badRequest": {"code": 400, "message": "Invalid input for field \'ram\'"}}'
    assert api_error_message(compute) == "Invalid input for field 'ram'"
    identity = b'{"error": {"code": 401, "title": "Unauthorized", "message": "bad password"}}'
    assert api_error_message(identity) == "bad password"
    assert api_error_message(b"<html>gateway</html>") == "<html>gateway</html>"
    assert api_error_message(b"") == "(no message)"


def _connection(**overrides: object) -> StratusConnection:
    config = {
        "auth": AUTH,
        "region_name": None,
        "interface": "public",
        "verify": True,
        "cacert": None,
        "api_timeout": 5.0,
    }
    config.update(overrides)
    return StratusConnection(config)


def test_catalog_lookup_by_type_interface_and_region() -> None:
    connection = _connection(region_name="two")
    connection.catalog = [
        {
            "type": "image",
            "endpoints": [
                {"interface": "public", "region_id": "one", "url": "http://one/image"},
                {"interface": "public", "region_id": "two", "url": "http://two/image/"},
            ],
        },
        {"type": "compute", "endpoints": [{"interface": "admin", "url": "http://c/v2.1"}]},
    ]
    assert connection.endpoint("image") == "http://two/image/v2"
    with pytest.raises(StratusConfigError, match=r"no public endpoint .*'compute'.*admin@None"):
        connection.endpoint("compute")
    with pytest.raises(StratusConfigError, match="no such service at all"):
        connection.endpoint("network")


def test_unreachable_api_names_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}/identity/v3"
    connection = _connection(auth=dict(AUTH, auth_url=url))
    with pytest.raises(StratusError, match=rf"Could not reach the Stratus API at {url}/auth"):
        connection.authenticate()
