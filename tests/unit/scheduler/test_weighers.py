import numpy as np
import pytest

from stratus.scheduler import FilterScheduler, HostTable, InstanceGroup
from stratus.scheduler.weighers import normalize

from .factories import config, host, spec

NO_FILTERS: dict = {"enabled_filters": []}


def order(records: list, request: object = None, **options: object) -> list[str]:
    cfg = config(**{**NO_FILTERS, **options})
    table = HostTable(records, cfg)
    scheduler = FilterScheduler(cfg)
    request = request or spec()
    rows, _ = scheduler.filter_hosts(table, request)
    weights = scheduler.weigh_hosts(table, request, rows)
    ranked, _ = scheduler.rank_hosts(table, rows, weights)
    return [str(table.names[r]) for r in ranked]


def only(name: str, multiplier_option: str, value: float) -> dict:
    return {"weight_classes": [name], multiplier_option: value}


def test_normalize() -> None:
    assert normalize(np.array([2, 4, 6])).tolist() == [0.0, 0.5, 1.0]
    assert normalize(np.array([-5.0, 5.0])).tolist() == [0.0, 1.0]
    assert normalize(np.array([3, 3, 3])) is None


def test_ram_weigher_positive_spreads_negative_stacks() -> None:
    records = [host("full", memory_mb_used=6000), host("empty"), host("half", memory_mb_used=4096)]
    spread = only("RAMWeigher", "ram_weight_multiplier", 1.0)
    stack = only("RAMWeigher", "ram_weight_multiplier", -1.0)
    assert order(records, **spread) == ["empty", "half", "full"]
    assert order(records, **stack) == ["full", "half", "empty"]


def test_cpu_weigher_uses_ratio() -> None:
    records = [
        host("small", vcpus=4, cpu_allocation_ratio=2.0),  # 8 free
        host("big", vcpus=4, cpu_allocation_ratio=4.0, vcpus_used=4),  # 12 free
    ]
    assert order(records, **only("CPUWeigher", "cpu_weight_multiplier", 1.0)) == ["big", "small"]
    assert order(records, **only("CPUWeigher", "cpu_weight_multiplier", -2.0)) == ["small", "big"]


def test_disk_weigher() -> None:
    records = [host("a", local_gb_used=90), host("b")]
    assert order(records, **only("DiskWeigher", "disk_weight_multiplier", 1.0)) == ["b", "a"]
    assert order(records, **only("DiskWeigher", "disk_weight_multiplier", -1.0)) == ["a", "b"]


def test_io_ops_weigher_default_prefers_idle_hosts() -> None:
    records = [host("busy", num_io_ops=5), host("idle")]
    assert order(records, weight_classes=["IoOpsWeigher"]) == ["idle", "busy"]


def test_num_instances_weigher_off_by_default() -> None:
    records = [host("b", num_instances=9), host("a", num_instances=1)]
    assert order(records, weight_classes=["NumInstancesWeigher"]) == ["a", "b"]
    packed = only("NumInstancesWeigher", "num_instances_weight_multiplier", 1.0)
    assert order(records, **packed) == ["b", "a"]
    assert order(records, **{**packed, "num_instances_weight_multiplier": -1.0}) == ["a", "b"]


def test_build_failure_weigher_pushes_failing_hosts_back() -> None:
    records = [host("a", failed_builds=3), host("b", failed_builds=1, memory_mb_used=8000)]
    assert order(records) == ["b", "a"]
    assert order(records, build_failure_weight_multiplier=0.0) == ["a", "b"]


def test_soft_affinity_weighers() -> None:
    records = [
        host("a", instances={"m1": "p", "m2": "p"}),
        host("b", instances={"m3": "p"}),
        host("c"),
    ]
    members = ["m1", "m2", "m3"]
    soft = spec(instance_group=InstanceGroup(policy="soft-affinity", members=members))
    anti = spec(instance_group=InstanceGroup(policy="soft-anti-affinity", members=members))
    assert order(records, soft, weight_classes=["ServerGroupSoftAffinityWeigher"]) == [
        "a",
        "b",
        "c",
    ]
    assert order(records, anti, weight_classes=["ServerGroupSoftAntiAffinityWeigher"]) == [
        "c",
        "b",
        "a",
    ]
    # a weigher ignores groups of the other policy
    assert order(records, anti, weight_classes=["ServerGroupSoftAffinityWeigher"]) == [
        "a",
        "b",
        "c",
    ]


def test_weights_are_normalised_and_summed_with_multipliers() -> None:
    records = [
        host("a", memory_mb_used=0, local_gb_used=100),  # best RAM, worst disk
        host("b", memory_mb_used=4096, local_gb_used=50),
        host("c", memory_mb_used=8192, local_gb_used=0),  # worst RAM, best disk
    ]
    cfg = config(
        enabled_filters=[],
        weight_classes=["RAMWeigher", "DiskWeigher"],
        ram_weight_multiplier=2.0,
        disk_weight_multiplier=1.0,
    )
    table = HostTable(records, cfg)
    scheduler = FilterScheduler(cfg)
    rows, _ = scheduler.filter_hosts(table, spec())
    assert scheduler.weigh_hosts(table, spec(), rows).tolist() == pytest.approx([2.0, 1.5, 1.0])


def test_ties_are_broken_by_host_name() -> None:
    records = [host(name) for name in ("delta", "alpha", "charlie", "bravo")]
    assert order(records) == ["alpha", "bravo", "charlie", "delta"]


def test_rank_hosts_limit_keeps_order_with_ties() -> None:
    records = [host(f"h{i:02d}", memory_mb_used=(i % 3) * 1000) for i in range(30)]
    cfg = config(enabled_filters=[], weight_classes=["RAMWeigher"])
    table = HostTable(records, cfg)
    scheduler = FilterScheduler(cfg)
    rows, _ = scheduler.filter_hosts(table, spec())
    weights = scheduler.weigh_hosts(table, spec(), rows)
    full, _ = scheduler.rank_hosts(table, rows, weights)
    for limit in (1, 2, 5, 10, 11, 29):
        part, _ = scheduler.rank_hosts(table, rows, weights, limit)
        assert part.tolist() == full[:limit].tolist()


def test_single_host_weighs_zero() -> None:
    cfg = config(enabled_filters=[])
    table = HostTable([host("a", failed_builds=5)], cfg)
    scheduler = FilterScheduler(cfg)
    assert scheduler.weigh_hosts(table, spec(), np.array([0])).tolist() == [0.0]
