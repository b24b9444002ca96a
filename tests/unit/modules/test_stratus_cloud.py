"""module_utils/stratus_cloud.py: credentials, catalog, errors and waiting.

No HTTP is faked here except where noted: configuration and body-building are pure,
and the unreachable-API test talks to a closed loopback port for real.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.support.ports import free_port
from tests.unit.modules.conftest import FakeAPI

from ansible.module_utils import stratus_cloud  # isort: skip
from ansible.module_utils.stratus_cloud import (  # isort: skip
    StratusConfigError,
    StratusConnection,
    StratusError,
    api_error_message,
    next_marker,
    password_auth_body,
    resolve_config,
)

AUTH = {
    "auth_url": "http://127.0.0.1:5000/identity/v3",
    "username": "admin",
    "password": "secret",
    "project_name": "admin",
}


def _clouds(tmp_path: Path, clouds: dict, name: str = "clouds.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump({"clouds": clouds}))
    return path


def test_cloud_from_os_client_config_file_with_auth_overrides(tmp_path: Path) -> None:
    path = _clouds(
        tmp_path,
        {"dev": {"auth": AUTH, "region_name": "RegionOne", "verify": False, "api_timeout": 9}},
    )
    env = {"OS_CLIENT_CONFIG_FILE": str(path), "OS_USERNAME": "ignored"}
    config = resolve_config({"cloud": "dev", "auth": {"password": "other"}}, env)
    assert config["auth"] == dict(AUTH, password="other")
    assert config["region_name"] == "RegionOne"
    assert config["verify"] is False
    assert config["api_timeout"] == 9
    assert config["interface"] == "public"
    # options win over the cloud's settings
    config = resolve_config({"cloud": "dev", "validate_certs": True, "region_name": "R2"}, env)
    assert config["verify"] is True and config["region_name"] == "R2"


def test_secure_yaml_is_merged_into_the_cloud(tmp_path: Path) -> None:
    public = _clouds(tmp_path, {"dev": {"auth": dict(AUTH, password=None)}})
    secure = _clouds(tmp_path, {"dev": {"auth": {"password": "hidden"}}}, "secure.yaml")
    env = {"OS_CLIENT_CONFIG_FILE": str(public), "OS_CLIENT_SECURE_FILE": str(secure)}
    assert resolve_config({"cloud": "dev"}, env)["auth"]["password"] == "hidden"


def test_environment_without_a_cloud() -> None:
    env = {
        "OS_AUTH_URL": AUTH["auth_url"],
        "OS_USERNAME": "admin",
        "OS_PASSWORD": "secret",
        "OS_PROJECT_NAME": "admin",
        "OS_REGION_NAME": "RegionOne",
        "OS_INTERFACE": "internalURL",
    }
    config = resolve_config({}, env)
    assert config["auth"] == AUTH
    assert config["region_name"] == "RegionOne"
    assert config["interface"] == "internal"


def test_configuration_errors_name_what_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _clouds(tmp_path, {"dev": {"auth": AUTH}})
    env = {"OS_CLIENT_CONFIG_FILE": str(path)}
    with pytest.raises(StratusConfigError, match=r"cloud 'prod' is not defined in .*dev"):
        resolve_config({"cloud": "prod"}, env)
    with pytest.raises(StratusConfigError, match="No auth_url"):
        resolve_config({}, {})
    with pytest.raises(StratusConfigError, match="Missing password"):
        resolve_config({"auth": {"auth_url": "http://x/v3", "username": "u"}}, {})
    # (the standard places are left out: this machine may have a real clouds.yaml)
    monkeypatch.setattr(stratus_cloud, "CLOUDS_YAML_PATHS", ("./clouds.yaml",))
    monkeypatch.chdir(tmp_path)
    path.unlink()
    with pytest.raises(StratusConfigError, match=r"no clouds.yaml was found \(looked in: /"):
        resolve_config({"cloud": "dev"}, env)


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


def test_next_marker_reads_the_compute_next_link() -> None:
    links = [{"rel": "next", "href": "http://x/compute/v2.1/servers/detail?limit=2&marker=abc"}]
    assert next_marker(links) == "abc"
    assert next_marker([]) is None


def test_wait_times_out_with_the_last_status_and_fault(run) -> None:  # noqa: ANN001
    """Fakes the HTTP layer: a server stays in BUILD with a fault recorded."""
    server = {
        "server": {
            "id": "3f2a",
            "name": "slow",
            "status": "BUILD",
            "OS-EXT-STS:task_state": "spawning",
            "fault": {"message": "disk image is being fetched"},
            "flavor": {"original_name": "small"},
            "image": {"id": "i"},
            "metadata": {},
        }
    }
    api = FakeAPI(
        {
            ("GET", "/servers/detail"): {"servers": [server["server"]]},
            ("GET", "/servers/3f2a"): server,
        }
    )
    result = run("stratus_server", {"name": "slow", "timeout": 0}, api)
    assert result["failed"]
    assert "Timed out after 0 s waiting for server 'slow' to be built" in result["msg"]
    assert "status BUILD, task spawning, fault: disk image is being fetched" in result["msg"]
