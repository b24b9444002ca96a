"""The Stratus modules through real ``ansible-playbook`` runs against a live cloud.

Each playbook holds the scenario of one module (create, run again, change in
place, change what cannot change, check mode, delete twice, bad input) and
asserts as it goes; the tests here also check from outside, through the API,
that what the playbooks claim is so.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.ansible.conftest import ANSIBLE_PLAYBOOK, LIBVIRT_HOST
from tests.support.cloud import Cloud
from tests.support.ports import free_port

pytestmark = pytest.mark.skipif(not ANSIBLE_PLAYBOOK.exists(), reason="no ansible-playbook")

Playbook = Callable[..., str]


def test_flavor(module_cloud: Cloud, playbook: Playbook) -> None:
    playbook(module_cloud, "flavor.yml", closed_port=free_port())
    with module_cloud.client(microversion="2.61") as api:
        flavors = api.get("/compute/v2.1/flavors/detail", params={"is_public": "None"}).json()
    assert not [f for f in flavors["flavors"] if f["name"].startswith("ans.")]


def test_image(module_cloud: Cloud, playbook: Playbook, tiny_images: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(other), "16M"], check=True)
    playbook(module_cloud, "image.yml", images_dir=str(tiny_images), other_qcow2=str(other))
    with module_cloud.client() as api:
        images = api.get("/image/v2/images").json()["images"]
    assert not [i for i in images if i["name"].startswith("ans-")]


def test_server(module_cloud: Cloud, playbook: Playbook, tiny_images: Path) -> None:
    playbook(module_cloud, "server.yml", images_dir=str(tiny_images), compute_host=LIBVIRT_HOST)
    with module_cloud.client(microversion="2.100") as api:
        servers = api.get("/compute/v2.1/servers/detail").json()["servers"]
        actions = api.get("/compute/v2.1/servers/detail", params={"deleted": "true"}).json()
    assert servers == []
    booted = [s for s in actions["servers"] if s["name"] == "ans-vm"]
    assert booted and booted[0]["OS-EXT-SRV-ATTR:host"] == LIBVIRT_HOST


def test_network(module_cloud: Cloud, playbook: Playbook, tiny_images: Path) -> None:
    playbook(module_cloud, "network.yml", images_dir=str(tiny_images))
    with module_cloud.client() as api:
        networks = api.get("/networking/v2.0/networks").json()["networks"]
        ports = api.get("/networking/v2.0/ports").json()["ports"]
        routers = api.get("/networking/v2.0/routers").json()["routers"]
        fips = api.get("/networking/v2.0/floatingips").json()["floatingips"]
        groups = api.get("/networking/v2.0/security-groups").json()["security_groups"]
    assert not [n for n in networks if n["name"].startswith("ans-")]
    assert ports == [] and routers == [] and fips == []
    assert not [g for g in groups if g["name"].startswith("ans-")]
