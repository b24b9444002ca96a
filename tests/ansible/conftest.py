"""Fixtures of the Ansible tier: live Stratus clouds and real ``ansible-playbook`` runs.

``module_cloud`` is a whole cloud (API, scheduler, conductor over a real RabbitMQ,
SQLite) with one libvirt compute host that boots real QEMU guests, and a
``stratus-network-agent`` on that host (no DHCP: a server needs only its port's
fixed IP to show an address), so that servers can have vxlan networks (on
bridges and VXLAN devices that the compute host and the agent make and remove;
VTEP 127.0.0.1, a VNI range of the module's own); ``fake_cloud``
has two compute hosts on the fake driver with different memory sizes, for
placement. Each writes a ``clouds.yaml`` naming it ``stratus-test``; the
playbooks reach it with ``cloud: stratus-test`` through ``OS_CLIENT_CONFIG_FILE``.

``playbook(cloud, name, **extra_vars)`` runs ``tests/ansible/playbooks/<name>`` with
the venv's ``ansible-playbook`` and ``tests/ansible/ansible.cfg`` (the repository's
``library/``, ``module_utils/`` and ``filter_plugins/``).
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.cloud import ADMIN_PASSWORD, Cloud

HERE = Path(__file__).parent
PLAYBOOKS = HERE / "playbooks"
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
CLOUD_NAME = "stratus-test"
LIBVIRT_HOST = "ansible-compute1"


def write_clouds_yaml(cloud: Cloud) -> Path:
    path = cloud.workdir / "clouds.yaml"
    entry = {
        "auth": {
            "auth_url": f"{cloud.url}/identity/v3",
            "username": "admin",
            "password": ADMIN_PASSWORD,
            "project_name": "admin",
            "user_domain_name": "Default",
            "project_domain_name": "Default",
        },
        "region_name": "RegionOne",
        "interface": "public",
    }
    path.write_text(yaml.safe_dump({"clouds": {CLOUD_NAME: entry}}))
    return path


def _virsh(*args: str) -> str:
    return subprocess.run(
        ["virsh", "-c", "qemu:///system", *args], capture_output=True, text=True, check=False
    ).stdout.strip()


@pytest.fixture(scope="module")
def module_cloud(rabbitmq: Any, libvirtd: None, tiny_images: Path) -> Iterator[Cloud]:
    first = random.randrange(100_000, 16_000_000)
    vnis = range(first, first + 10)
    cloud = Cloud(
        rabbitmq.transport_url, extra_conf={"network": {"vni_ranges": f"{first}:{vnis[-1]}"}}
    )
    cloud.start()
    network = {"local_ip": "127.0.0.1", "state_path": cloud.workdir / LIBVIRT_HOST / "network"}
    cloud.add_compute(LIBVIRT_HOST, extra={"compute": {"shutdown_timeout": 3}, "network": network})
    cloud.add_network_agent(LIBVIRT_HOST, network)
    write_clouds_yaml(cloud)
    yield cloud
    try:
        cloud.remove_networks(vnis)
    finally:
        cloud.stop()
    state = str(cloud.workdir / LIBVIRT_HOST)
    for uuid in _virsh("list", "--all", "--uuid").split():
        if state in _virsh("dumpxml", uuid):
            _virsh("destroy", uuid)
            _virsh("undefine", uuid, "--managed-save", "--nvram")


@pytest.fixture(scope="module")
def fake_cloud(rabbitmq: Any) -> Iterator[Cloud]:
    # Only the RAM weigher, and hosts of different sizes: no two hosts ever weigh
    # the same, so the plan is deterministic (host_subset_size stays 1).
    scheduler = {"filter_scheduler": {"weight_classes": "RAMWeigher"}}
    cloud = Cloud(rabbitmq.transport_url, extra_conf=scheduler)
    cloud.start()
    cloud.add_compute("fake-small", driver="fake", extra={"compute": {"fake_memory_mb": 4096}})
    cloud.add_compute("fake-large", driver="fake", extra={"compute": {"fake_memory_mb": 8192}})
    write_clouds_yaml(cloud)
    yield cloud
    cloud.stop()


def run_playbook(
    cloud: Cloud, name: str, tmp_path: Path, *options: str, **extra_vars: Any
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "OS_"))}
    env.update(
        ANSIBLE_CONFIG=str(HERE / "ansible.cfg"),
        ANSIBLE_HOME=str(tmp_path / "ansible-home"),
        ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"),
        ANSIBLE_FORCE_COLOR="0",
        OS_CLIENT_CONFIG_FILE=str(cloud.workdir / "clouds.yaml"),
        # The openstack.cloud collection's modules need openstack.version imported:
        # see sdk_compat/sitecustomize.py.
        PYTHONPATH=str(HERE / "sdk_compat"),
        PATH=f"{ANSIBLE_PLAYBOOK.parent}:{env.get('PATH', '')}",
    )
    variables = {"cloud_name": CLOUD_NAME, "ansible_python_interpreter": sys.executable}
    variables.update(extra_vars)
    vars_file = tmp_path / f"{Path(name).stem}-vars.yml"
    vars_file.write_text(yaml.safe_dump(variables))
    command = [str(ANSIBLE_PLAYBOOK), "-i", "localhost,", "-c", "local", str(PLAYBOOKS / name)]
    command += ["-e", f"@{vars_file}", *options]
    started = time.monotonic()
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    sys.stderr.write(f"{name}: {time.monotonic() - started:.1f} s\n")
    return done


@pytest.fixture
def playbook(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run a playbook against a cloud; fails the test with its output unless it passed."""

    def _run(cloud: Cloud, name: str, *options: str, **extra_vars: Any) -> str:
        done = run_playbook(cloud, name, tmp_path, *options, **extra_vars)
        assert done.returncode == 0, f"{name} failed:\n{done.stdout[-20000:]}\n{done.stderr}"
        return done.stdout

    return _run
