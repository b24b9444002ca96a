"""The scheduler filter plugin through real ``ansible-playbook`` runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent / "filter_plugin"
REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"

pytestmark = pytest.mark.skipif(not PLAYBOOK.exists(), reason="ansible-playbook not installed")


def _run(playbook: str, tmp_path: Path, **extra_vars: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(
        ANSIBLE_FILTER_PLUGINS=str(REPO / "filter_plugins"),
        ANSIBLE_HOME=str(tmp_path / "ansible-home"),
        ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_RETRY_FILES_ENABLED="0",
        ANSIBLE_LOCALHOST_WARNING="0",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="0",
    )
    command = [str(PLAYBOOK), "-i", "inventory.yml", playbook]
    for key, value in extra_vars.items():
        command += ["-e", f"{key}={value}"]
    return subprocess.run(
        command, cwd=HERE, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_plan_with_anti_affinity_and_zones(tmp_path: Path) -> None:
    plan_file = tmp_path / "plan.json"
    run = _run("plan.yml", tmp_path, plan_file=str(plan_file))
    assert run.returncode == 0, run.stdout + run.stderr
    assert json.loads(plan_file.read_text()) == {
        "web-1": "cmp1",
        "web-2": "cmp2",
        "db-1": "cmp3",
        "near-db": "cmp3",
    }


def test_one_server_too_many_fails_with_the_elimination_summary(tmp_path: Path) -> None:
    error_file = tmp_path / "error.txt"
    run = _run("overflow.yml", tmp_path, error_file=str(error_file))
    assert run.returncode != 0
    summary = (
        "cannot place server 'big-3': No valid host was found: "
        "AvailabilityZoneFilter removed 2 of 4 hosts, RamFilter removed 2 of 2 hosts."
    )
    assert summary in error_file.read_text()
    assert "RamFilter removed 2 of 2 hosts" in " ".join(run.stdout.split())
