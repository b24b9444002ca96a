"""stratus_hypervisor_info feeds the stratus_place filter, and stratus_server puts
the servers exactly where the plan said (two fake-driver hosts of different memory
sizes, the RAM weigher only, host_subset_size 1: no ties)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.ansible.conftest import ANSIBLE_PLAYBOOK, HERE
from tests.support.cloud import Cloud

pytestmark = pytest.mark.skipif(not ANSIBLE_PLAYBOOK.exists(), reason="no ansible-playbook")


def test_servers_land_where_the_plan_said(
    fake_cloud: Cloud, playbook: Callable[..., str], tiny_images: Path, tmp_path: Path
) -> None:
    plan_file = tmp_path / "plan.json"
    playbook(fake_cloud, "placement.yml", images_dir=str(tiny_images), plan_file=str(plan_file))
    # 8192 MiB against 4096 MiB, 1536 MiB each: the large host takes three servers
    # (8192 -> 6656 -> 5120 -> 3584) before the small one (4096) weighs more.
    assert json.loads(plan_file.read_text()) == {
        "plan-1": "fake-large",
        "plan-2": "fake-large",
        "plan-3": "fake-large",
        "plan-4": "fake-small",
    }


def test_the_resources_role_plans_makes_and_deletes_the_declared_servers(
    fake_cloud: Cloud, playbook: Callable[..., str], tiny_images: Path, tmp_path: Path
) -> None:
    """Servers of the inventory's servers group (one naming the other in a hint, both
    in an anti-affinity group) through the stratus_resources role, twice."""
    inventory = ("-i", str(HERE / "inventory" / "resources.yml"))
    files = {"plan_file": str(tmp_path / "plan.json"), "servers_file": str(tmp_path / "s.json")}
    names = ["ans-role-a", "ans-role-b"]

    out = playbook(fake_cloud, "resources.yml", *inventory, images_dir=str(tiny_images), **files)
    plan = json.loads((tmp_path / "plan.json").read_text())
    assert sorted(plan) == names
    assert sorted(plan.values()) == ["fake-large", "fake-small"]
    servers = json.loads((tmp_path / "s.json").read_text())
    assert {name: servers[name] for name in names} == plan
    for name in names:
        assert f'"{name}": "{plan[name]} (new)"' in out

    out = playbook(
        fake_cloud, "resources.yml", *inventory, images_dir=str(tiny_images), server_state="absent",
        **files,
    )  # fmt: skip
    servers = json.loads((tmp_path / "s.json").read_text())
    assert not set(names) & set(servers)
    for name in names:
        assert f'"{name}": "{plan[name]} (delete)"' in out
