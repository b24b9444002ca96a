"""The scheduler filter plugin through real ``ansible-playbook`` runs."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

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


# -- the same plugin called directly (no playbook) ---------------------------------------


def _plugin() -> Any:
    spec = importlib.util.spec_from_file_location(
        "stratus_scheduler_plugin", REPO / "filter_plugins" / "stratus_scheduler.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FLAVORS = [
    {"name": "small", "id": "1", "vcpus": 1, "ram": 2048, "disk": 10},
    {"name": "big", "id": "2", "vcpus": 4, "ram": 16384, "disk": 40, "swap": ""},
]


def _api_hypervisor(name: str, **extra: Any) -> dict[str, Any]:
    hypervisor = {
        "id": f"uuid-{name}",
        "hypervisor_hostname": f"{name}.example",
        "service": {"host": name, "id": 7},
        "vcpus": 8,
        "vcpus_used": 0,
        "memory_mb": 16384,
        "memory_mb_used": 0,
        "local_gb": 100,
        "local_gb_used": 0,
        "state": "up",
        "status": "enabled",
        "hypervisor_type": "QEMU",
        "hypervisor_version": 8002000,
        "host_ip": "192.0.2.10",
        "cpu_info": json.dumps({"arch": "x86_64", "vendor": "AMD"}),
        "running_vms": 0,
        "current_workload": 0,
    }
    hypervisor.update(extra)
    return hypervisor


def test_compute_api_hypervisors_are_understood() -> None:
    plugin = _plugin()
    hypervisors = [
        _api_hypervisor("a", memory_mb_used=15000),
        _api_hypervisor("b", status="disabled"),
        _api_hypervisor("c", state="down"),
        _api_hypervisor("d"),
    ]
    server = {
        "name": "s",
        "flavor": "big",
        "image": "img",
        "scheduler_hints": {"query": '["=", "$cpu_info.vendor", "AMD"]'},
    }
    images = [{"id": "img", "name": "img", "hw_architecture": "x86_64"}]
    config = {"enabled_filters": ["RamFilter", "ComputeFilter", "JsonFilter"]}
    assert plugin.stratus_filter_hosts(hypervisors, server, FLAVORS, images, config=config) == ["d"]
    ranked = plugin.stratus_weigh_hosts(hypervisors, server, FLAVORS, candidates=["a", "d"])
    assert [r["host"] for r in ranked] == ["d", "a"]
    assert ranked[0]["weight"] > ranked[1]["weight"]


def test_place_counts_existing_servers_and_resolves_names() -> None:
    plugin = _plugin()
    hypervisors = [
        {"name": "h1", "vcpus": 8, "memory_mb": 8192, "disk_gb": 100},
        {"name": "h2", "vcpus": 8, "memory_mb": 8192, "disk_gb": 100},
        {"name": "h3", "vcpus": 8, "memory_mb": 8192, "disk_gb": 100},
    ]
    groups = {"spread": {"policy": "anti-affinity"}}
    servers = [
        {"name": "old", "flavor": "small", "group": "spread", "host": "h1"},
        {"name": "new", "flavor": "small", "group": "spread"},
        {"name": "buddy", "flavor": "1", "scheduler_hints": {"same_host": "new"}},
        {"name": "loner", "flavor": "small", "scheduler_hints": {"different_host": ["new"]}},
        {"name": "pinned", "flavor": "small", "availability_zone": "nova:h3"},
    ]
    config = {"enabled_filters": "RamFilter, ServerGroupAntiAffinityFilter, SameHostFilter, "
              "DifferentHostFilter"}  # fmt: skip
    plan = plugin.stratus_place(servers, hypervisors, FLAVORS, groups=groups, config=config)
    # "old" counts as a group member on h1, but its usage is whatever h1 reports (none)
    assert plan == {"old": "h1", "new": "h2", "buddy": "h2", "loner": "h1", "pinned": "h3"}


def test_place_reports_what_does_not_fit() -> None:
    from ansible.errors import AnsibleFilterError

    plugin = _plugin()
    hypervisors = [{"name": "h1", "vcpus": 8, "memory_mb": 8192, "disk_gb": 100}]
    with pytest.raises(AnsibleFilterError, match="RamFilter removed 1 of 1 hosts"):
        plugin.stratus_place([{"name": "s", "flavor": "big"}], hypervisors, FLAVORS)
    with pytest.raises(AnsibleFilterError, match="unknown flavor"):
        plugin.stratus_place([{"name": "s", "flavor": "nope"}], hypervisors, FLAVORS)
    with pytest.raises(AnsibleFilterError, match="unknown scheduler option"):
        plugin.stratus_place([], hypervisors, FLAVORS, config={"bogus": 1})
    with pytest.raises(AnsibleFilterError, match="unknown server group"):
        plugin.stratus_place([{"name": "s", "flavor": "1", "group": "g"}], hypervisors, FLAVORS)


def test_aggregates_feed_zones_and_ratios() -> None:
    plugin = _plugin()
    hypervisors = [
        {"name": "h1", "vcpus": 8, "memory_mb": 8192, "disk_gb": 100},
        {"name": "h2", "vcpus": 8, "memory_mb": 8192, "disk_gb": 100},
    ]
    aggregates = [
        {"name": "east", "availability_zone": "east", "hosts": ["h2"], "metadata": {}},
        {"name": "tight", "hosts": ["h2"], "metadata": {"ram_allocation_ratio": "1.0"}},
    ]
    fits = {"name": "s", "flavor": "small", "availability_zone": "east"}
    assert plugin.stratus_place([fits], hypervisors, FLAVORS, aggregates=aggregates) == {"s": "h2"}
    hints = {"name": "s", "flavor": "small", "availability_zone": "east"}
    servers = [dict(hints, name=f"s{i}") for i in range(5)]
    with pytest.raises(Exception, match="RamFilter removed 1 of 1 hosts"):
        plugin.stratus_place(servers, hypervisors, FLAVORS, aggregates=aggregates)


_LOAD_PLUGIN = f"""
import importlib.util, sys
before = list(sys.path)
path = {str(REPO / "filter_plugins" / "stratus_scheduler.py")!r}
spec = importlib.util.spec_from_file_location("p", path)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
assert sys.path == before, "the plugin changed sys.path"
print(module.planner.__file__)
"""


def _python(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, check=False
    )


def test_plugin_uses_the_installed_package_and_leaves_sys_path_alone(tmp_path: Path) -> None:
    run = _python(_LOAD_PLUGIN, tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == str(REPO / "stratus" / "scheduler" / "planner.py")


def test_plugin_needs_the_package_installed(tmp_path: Path) -> None:
    """No fallback to the checkout: without the installed package the import fails."""
    hide = f"""
import sys
sys.meta_path = [f for f in sys.meta_path if "__editable__" not in repr(f)]
sys.path = [p for p in sys.path if p not in ("", {str(REPO)!r})]
sys.path_importer_cache.clear()
"""
    run = _python(hide + _LOAD_PLUGIN, tmp_path)
    assert run.returncode != 0
    assert "No module named 'stratus'" in run.stderr
