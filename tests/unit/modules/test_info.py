"""The info modules: filtering, and the hypervisor list fed straight to stratus_place.

The HTTP layer is faked with ``FakeAPI`` (at this tier only); the filter plugin
is the real one.
"""

from __future__ import annotations

import importlib.util

from tests.unit.modules.conftest import REPO, FakeAPI


def _hypervisor(host: str, memory_mb: int) -> dict:
    return {
        "id": f"uuid-{host}",
        "hypervisor_hostname": host,
        "service": {"host": host, "id": "s"},
        "state": "up",
        "status": "enabled",
        "vcpus": 8,
        "vcpus_used": 0,
        "memory_mb": memory_mb,
        "memory_mb_used": 0,
        "local_gb": 100,
        "local_gb_used": 0,
        "running_vms": 0,
        "cpu_info": {"arch": "x86_64"},
        "hypervisor_type": "fake",
        "current_workload": 0,
    }


def test_hypervisors_carry_their_zone_and_feed_the_planner(run) -> None:  # noqa: ANN001
    api = FakeAPI(
        {
            ("GET", "/os-hypervisors/detail"): {
                "hypervisors": [_hypervisor("a", 4096), _hypervisor("b", 8192)]
            },
            ("GET", "/os-availability-zone/detail"): {
                "availabilityZoneInfo": [
                    {"zoneName": "east", "hosts": {"a": {}}},
                    {"zoneName": "west", "hosts": {"b": {}}},
                ]
            },
        }
    )
    hypervisors = run("stratus_hypervisor_info", {}, api)["hypervisors"]
    assert [h["availability_zone"] for h in hypervisors] == ["east", "west"]
    assert run("stratus_hypervisor_info", {"name": "b"}, api)["hypervisors"][0]["id"] == "uuid-b"

    spec = importlib.util.spec_from_file_location(
        "stratus_scheduler_plugin", REPO / "filter_plugins" / "stratus_scheduler.py"
    )
    assert spec is not None and spec.loader is not None
    plugin = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(plugin)
    flavors = [{"id": "1", "name": "small", "vcpus": 1, "ram": 1024, "disk": 0}]
    servers = [
        {"name": "s1", "flavor": "small"},
        {"name": "s2", "flavor": "small", "availability_zone": "east"},
    ]
    assert plugin.stratus_place(servers, hypervisors, flavors) == {"s1": "b", "s2": "a"}


def test_server_info_matches_the_exact_name(run) -> None:  # noqa: ANN001
    servers = [
        {"id": "1", "name": "web", "OS-EXT-SRV-ATTR:host": "h1"},
        {"id": "2", "name": "web-2"},
    ]
    api = FakeAPI({("GET", "/servers/detail"): {"servers": servers}})
    result = run("stratus_server_info", {"server": "web", "all_projects": True}, api)
    assert [(s["id"], s["host"]) for s in result["servers"]] == [("1", "h1")]
    query = api.calls[0][4]
    assert query == {"all_tenants": "1", "name": "^web$"}


def test_flavor_info_by_name_or_id_with_access_lists(run) -> None:  # noqa: ANN001
    private = {"id": "9", "name": "secret", "os-flavor-access:is_public": False}
    public = {"id": "1", "name": "9", "os-flavor-access:is_public": True}
    api = FakeAPI(
        {
            ("GET", "/flavors/detail"): {"flavors": [private, public]},
            ("GET", "/flavors/9/os-flavor-access"): {
                "flavor_access": [{"flavor_id": "9", "tenant_id": "p1"}]
            },
        }
    )
    by_id = run("stratus_flavor_info", {"name": "9"}, api)["flavors"]
    assert [(f["name"], f["projects"]) for f in by_id] == [("secret", ["p1"])]
    assert len(run("stratus_flavor_info", {}, api)["flavors"]) == 2


def test_image_info_passes_filters(run) -> None:  # noqa: ANN001
    api = FakeAPI({("GET", "/images"): {"images": [{"id": "i", "name": "tiny", "os": "x"}]}})
    images = run("stratus_image_info", {"filters": {"status": "active", "protected": False}}, api)
    assert images["images"][0]["properties"] == {"os": "x"}
    assert api.calls[0][4] == {"status": "active", "protected": "false"}
