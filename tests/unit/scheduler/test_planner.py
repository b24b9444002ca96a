"""The offline planner: hypervisor and flavor conversion, and the three questions."""

from __future__ import annotations

import json
from collections import UserDict
from typing import Any

import pytest

from stratus.scheduler import Aggregate, HostTable
from stratus.scheduler.planner import (
    PlanError,
    filter_hosts,
    flavor_from_dict,
    host_name,
    host_record_from_dict,
    image_properties,
    place_servers,
    plain,
    weigh_hosts,
)

FLAVORS = [
    {"name": "small", "id": "1", "vcpus": 1, "ram": 2048, "disk": 10},
    {"name": "big", "id": "2", "vcpus": 4, "ram": 16384, "disk": 40},
]


def inventory_host(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "vcpus": 8, "memory_mb": 8192, "disk_gb": 100, **extra}


# -- flavors ---------------------------------------------------------------------------


def test_flavor_from_the_compute_api() -> None:
    flavor = flavor_from_dict(
        {
            "id": 42,
            "name": "m1",
            "vcpus": "2",
            "ram": 4096,
            "disk": 20,
            "OS-FLV-EXT-DATA:ephemeral": 5,
            "swap": "",
            "extra_specs": {"hw:cpu_policy": "dedicated", "quota:vif": 3},
        }
    )
    assert (flavor.vcpus, flavor.memory_mb, flavor.root_gb, flavor.ephemeral_gb) == (2, 4096, 20, 5)
    assert flavor.swap == 0
    assert flavor.disk_mb == 25 * 1024
    assert flavor.extra_specs == {"hw:cpu_policy": "dedicated", "quota:vif": "3"}
    assert (flavor.name, flavor.flavorid) == ("m1", "42")


def test_flavor_in_the_scheduler_s_own_names() -> None:
    flavor = flavor_from_dict(
        {"vcpus": 1, "memory_mb": 512, "root_gb": 1, "ephemeral_gb": 2, "properties": {"a": 1}}
    )
    assert (flavor.memory_mb, flavor.root_gb, flavor.ephemeral_gb) == (512, 1, 2)
    assert flavor.extra_specs == {"a": "1"}
    assert flavor.flavorid is None


def test_image_properties_merge_the_property_map() -> None:
    image = {"id": "i", "disk_format": "qcow2", "properties": {"hw_architecture": "aarch64"}}
    merged = image_properties(image)
    assert merged["hw_architecture"] == "aarch64"
    assert merged["disk_format"] == "qcow2"


# -- hypervisors -----------------------------------------------------------------------


def test_compute_api_hypervisor_becomes_a_host_record() -> None:
    record = host_record_from_dict(
        {
            "id": "uuid-a",
            "hypervisor_hostname": "a.example",
            "service": {"host": "a", "id": 7},
            "vcpus": 8,
            "vcpus_used": 2,
            "memory_mb": 16384,
            "memory_mb_used": 1024,
            "local_gb": 100,
            "local_gb_used": 10,
            "state": "down",
            "status": "disabled",
            "hypervisor_type": "QEMU",
            "hypervisor_version": 8002000,
            "host_ip": "192.0.2.10",
            "cpu_info": json.dumps({"arch": "x86_64", "vendor": "AMD"}),
            "running_vms": 3,
            "current_workload": 1,
        },
        aggregates=[Aggregate("agg")],
        instances={"u1": "p1"},
    )
    assert (record.host, record.nodename, record.uuid) == ("a", "a.example", "uuid-a")
    assert (record.vcpus_used, record.memory_mb_used, record.local_gb_used) == (2, 1024, 10)
    assert (record.service_up, record.service_disabled) == (False, True)
    assert record.cpu_info == {"arch": "x86_64", "vendor": "AMD"}
    assert record.arch == "x86_64"
    assert (record.num_instances, record.num_io_ops) == (3, 1)
    assert [a.name for a in record.aggregates] == ["agg"]
    assert record.instances == {"u1": "p1"}


def test_inventory_host_becomes_a_host_record() -> None:
    record = host_record_from_dict(
        inventory_host("h1", availability_zone="east", capabilities={"gpu": "yes"}, cpu_info="{")
    )
    assert (record.host, record.nodename, record.uuid) == ("h1", "h1", None)
    assert (record.memory_mb, record.local_gb) == (8192, 100)
    assert (record.service_up, record.service_disabled) == (True, False)
    assert record.availability_zone == "east"
    assert record.capabilities == {"gpu": "yes"}
    assert record.cpu_info == {}  # unreadable JSON is no CPU information
    assert record.num_instances is None


def test_host_name_prefers_the_service_host() -> None:
    assert host_name({"service": {"host": "s"}, "name": "n", "hypervisor_hostname": "h"}) == "s"
    assert host_name({"name": "n", "hypervisor_hostname": "h"}) == "n"
    assert host_name({"inventory_hostname": "i"}) == "i"
    assert host_name({"hypervisor_hostname": "h"}) == "h"
    with pytest.raises(PlanError, match="hypervisor without a name"):
        host_name({"vcpus": 1})


def test_plain_unwraps_mappings_and_subclassed_scalars() -> None:
    class Tagged(str):
        pass

    value = plain(UserDict({"a": (Tagged("x"), 1, True, 1.5), 2: None}))
    assert value == {"a": ["x", 1, True, 1.5], "2": None}
    assert type(value["a"][0]) is str
    assert type(value["a"][2]) is bool


# -- placing -------------------------------------------------------------------------------


def test_servers_are_charged_one_after_the_other() -> None:
    hypervisors = [inventory_host("h1", memory_mb=4096), inventory_host("h2", memory_mb=6144)]
    servers = [{"name": f"s{i}", "flavor": "small"} for i in range(4)]
    config = {"enabled_filters": "RamFilter", "ram_allocation_ratio": 1.0}
    plan = place_servers(servers, hypervisors, FLAVORS, config=config)
    # The RAM weigher prefers the emptier host after every placement.
    assert plan == {"s0": "h2", "s1": "h1", "s2": "h2", "s3": "h1"}


def test_absent_servers_are_skipped_and_placed_servers_keep_their_host() -> None:
    servers = {
        "gone": {"flavor": "small", "state": "absent"},
        "kept": {"flavor": "small", "host": "h1", "group": "spread"},
        "new": {"flavor": "small", "group": "spread"},
    }
    groups = [{"name": "spread", "policy": "anti-affinity"}]
    hypervisors = [inventory_host("h1"), inventory_host("h2")]
    config = {"enabled_filters": ["ServerGroupAntiAffinityFilter"]}
    plan = place_servers(servers, hypervisors, FLAVORS, groups=groups, config=config)
    assert plan == {"kept": "h1", "new": "h2"}


def test_a_server_that_fits_nowhere_names_the_filters() -> None:
    with pytest.raises(PlanError) as failure:
        place_servers([{"name": "s", "flavor": "big"}], [inventory_host("h1")], FLAVORS)
    assert str(failure.value) == (
        "cannot place server 's': No valid host was found: RamFilter removed 1 of 1 hosts."
    )


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: place_servers([{"name": "s", "flavor": "x"}], [], FLAVORS), "unknown flavor"),
        (lambda: place_servers([], [], FLAVORS, config={"bogus": 1}), "bad scheduler config"),
        (lambda: place_servers([{"flavor": "small"}], [], FLAVORS), "each server needs a name"),
        (lambda: place_servers([], ["h1"], FLAVORS), "each hypervisor must be a dict"),
        (lambda: place_servers([], [], ["small"]), "each flavor must be a dict"),
        (
            lambda: place_servers([], [inventory_host("h"), inventory_host("h")], FLAVORS),
            "duplicate host",
        ),
        (
            lambda: place_servers([{"name": "s", "flavor": "1", "group": "g"}], [], FLAVORS),
            "unknown server group",
        ),
        (
            lambda: weigh_hosts(
                [inventory_host("h")],
                {"name": "s", "flavor": "1"},
                FLAVORS,
                candidates=["h", "nope"],
            ),  # fmt: skip
            "unknown candidate host\\(s\\): nope",
        ),
    ],
)
def test_bad_input_is_a_plan_error(call: Any, message: str) -> None:
    with pytest.raises(PlanError, match=message):
        call()


def test_filter_and_weigh_answer_the_two_steps_separately() -> None:
    hypervisors = [
        inventory_host("full", memory_mb=16384, memory_mb_used=15000),
        inventory_host("roomy", memory_mb=32768),
        inventory_host("fits", memory_mb=24576),
    ]
    server = {"name": "s", "flavor": "big"}
    config = {"enabled_filters": ["RamFilter"], "ram_allocation_ratio": 1.0}
    assert filter_hosts(hypervisors, server, FLAVORS, config=config) == ["roomy", "fits"]
    ranked = weigh_hosts(hypervisors, server, FLAVORS, config=config)
    assert [r["host"] for r in ranked] == ["roomy", "fits", "full"]
    assert ranked[0]["weight"] > ranked[1]["weight"] > ranked[2]["weight"]
    only = weigh_hosts(hypervisors, server, FLAVORS, config=config, candidates=["full"])
    assert only == [{"host": "full", "weight": 0.0}]


def test_a_planned_host_table_is_the_scheduler_s_own() -> None:
    """The planner builds the same HostTable the service builds from the database."""
    from stratus.scheduler.planner import Planner

    planner = Planner([inventory_host("h1")], FLAVORS, config={"cpu_allocation_ratio": 2.0})
    assert isinstance(planner.table, HostTable)
    assert planner.table.limits(0)["vcpu"] == 16.0
