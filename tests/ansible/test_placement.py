"""stratus_hypervisor_info feeds the stratus_place filter, and stratus_server puts
the servers exactly where the plan said (two fake-driver hosts of different memory
sizes, the RAM weigher only, host_subset_size 1: no ties)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.ansible.conftest import ANSIBLE_PLAYBOOK
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
