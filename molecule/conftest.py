"""Shared pieces of the Molecule scenarios' testinfra tests.

The tests run on this machine (the Ansible controller). Hosts inside the
containers are reached with testinfra's podman backend (``podman://<name>``),
which runs ``podman exec`` directly; the cloud is asked through its API with the
``openstack`` CLI of the venv and the clouds.yaml that the converge wrote for the
controller (``OS_CLIENT_CONFIG_FILE``, set in molecule.yml).
"""

from __future__ import annotations

import configparser
import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import testinfra
from testinfra.utils.ansible_runner import AnsibleRunner

#: The cloud in clouds.yaml that stratus_control writes (stratus_resources_cloud).
CLOUD = os.environ.get("OS_CLOUD", "stratus-admin")
#: Where stratus_common puts things (role defaults).
CONFIG_FILE = "/etc/stratus/stratus.conf"
INSTANCES_PATH = "/var/lib/stratus/instances"
CONTROLLER_CLOUDS_YAML = "/etc/openstack/clouds.yaml"
GUEST_READY = "STRATUS-GUEST-READY"


def inventory_dir() -> Path:
    """The scenario's inventory directory (generated file plus linked hosts and vars)."""
    return Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent


@cache
def inventory() -> AnsibleRunner:
    return AnsibleRunner(str(inventory_dir()))


def group(name: str) -> list[str]:
    """Inventory hosts of a group, sorted."""
    return sorted(inventory().get_hosts(name))


def declared_servers() -> dict[str, dict[str, Any]]:
    """The servers the inventory declares (hosts of the `servers` group) and their vars."""
    return {name: inventory().get_variables(name) for name in group("servers")}


def machine(name: str) -> testinfra.host.Host:
    """A container of the scenario, through `podman exec`."""
    return testinfra.get_host(f"podman://{name}")


def credential(name: str) -> str:
    """A secret the roles generated on the controller (``<inventory>/credentials/``)."""
    return (inventory_dir() / "credentials" / name).read_text().strip()


def openstack(*args: str, check: bool = True, parse: bool = True) -> Any:
    """Run the openstack CLI against the cloud; the parsed JSON of ``-f json``
    (for commands that print nothing, parse=False)."""
    cli = Path(sys.executable).with_name("openstack")
    result = subprocess.run(
        [str(cli), "--os-cloud", CLOUD, *args, *(["-f", "json"] if parse else [])],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"openstack {' '.join(args)} failed: {result.stderr.strip()}")
    if not parse or result.returncode != 0:
        return None
    return json.loads(result.stdout)


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 120, every: float = 2) -> Any:
    """probe() until it returns something true; its last answer in the failure."""
    deadline = time.monotonic() + timeout
    while True:
        answer = probe()
        if answer:
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}: {answer!r}")
        time.sleep(every)


def read_config(host: testinfra.host.Host) -> configparser.ConfigParser:
    # [DEFAULT] as a section of its own, not merged into the others.
    parser = configparser.ConfigParser(interpolation=None, default_section="\0")
    parser.read_file(io.StringIO(host.file(CONFIG_FILE).content_string))
    return parser


def assert_secret_confined(
    host: testinfra.host.Host, secret: str, allowed: set[tuple[str, str]]
) -> None:
    """The secret is in stratus.conf only at the (section, option) pairs allowed,
    and in none of the service definitions, clouds.yaml, Stratus' logs or the
    processes' command lines. (Read here, so that the secret itself never goes
    on a command line.)"""
    config = read_config(host)
    found = {
        (section, option)
        for section in config.sections()
        for option, value in config.items(section, raw=True)
        if secret in value
    }
    assert found <= allowed, f"in stratus.conf at {sorted(found - allowed)}"
    paths = host.run(
        "ls -d /etc/systemd/system/stratus-*.service /etc/init.d/stratus-* "
        "/etc/openstack/clouds.yaml /var/log/stratus/* 2>/dev/null"
    ).stdout.split()
    leaks = [path for path in paths if secret in host.file(path).content_string]
    leaks += [
        f"pid {process.pid} ({process.comm})"
        for process in host.process.filter()
        if secret in process.args
    ]
    assert leaks == []


def allow_ping(project_id: str) -> None:
    """A rule in the project's default security group that lets ICMP in (the group
    alone admits only its own members, so a DHCP namespace could not ping a guest)."""
    (group,) = [
        g["ID"]
        for g in openstack("security", "group", "list", "--project", project_id)
        if g["Name"] == "default"
    ]
    rules = openstack("security", "group", "rule", "list", "--protocol", "icmp", group)
    if not rules:
        openstack("security", "group", "rule", "create", "--protocol", "icmp", group)


def compute_services() -> dict[str, dict[str, Any]]:
    """`openstack compute service list` rows of stratus-compute, by host."""
    rows = openstack("compute", "service", "list", "--service", "stratus-compute")
    return {row["Host"]: row for row in rows}


@pytest.fixture(scope="session")
def servers() -> dict[str, dict[str, Any]]:
    """`openstack server show` of every declared server, by name."""
    return {name: openstack("server", "show", name) for name in declared_servers()}
