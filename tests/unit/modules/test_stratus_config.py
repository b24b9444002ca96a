"""module_utils/stratus_config.py: credentials and settings from the options,
clouds.yaml (and secure.yaml) and the OS_* environment.

Nothing is faked: the configuration is read from real files in a temporary directory
and from environments given as dictionaries.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.unit.modules.conftest import AUTH

from ansible.module_utils import stratus_config  # isort: skip
from ansible.module_utils.stratus_config import resolve_config  # isort: skip
from ansible.module_utils.stratus_errors import StratusConfigError  # isort: skip


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
    monkeypatch.setattr(stratus_config, "CLOUDS_YAML_PATHS", ("./clouds.yaml",))
    monkeypatch.chdir(tmp_path)
    path.unlink()
    with pytest.raises(StratusConfigError, match=r"no clouds.yaml was found \(looked in: /"):
        resolve_config({"cloud": "dev"}, env)
