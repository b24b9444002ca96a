import numpy as np
import pytest

from stratus.scheduler import Aggregate, Flavor, HostRecord, HostTable
from stratus.scheduler.signatures import AGGREGATES, CAPABILITIES

from .factories import config, host


def test_columns_from_records() -> None:
    table = HostTable(
        [
            host("a", memory_mb=4096, memory_mb_used=1024, local_gb=50, local_gb_used=10),
            host("b", vcpus=16, vcpus_used=4, disk_available_least=20, local_gb=50),
        ]
    )
    assert len(table) == 2
    assert table.free_ram.tolist() == [3072, 8192]
    assert table.free_disk_mb.tolist() == [40 * 1024, 20 * 1024]
    assert table.vcpus_used.tolist() == [0, 4]
    assert table.index_of("b") == 1
    assert table.index_of("nope") is None


def test_duplicate_hosts_are_rejected() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        HostTable([host("a"), host("a")])


def test_allocation_ratio_default_host_and_aggregate_minimum() -> None:
    cfg = config(cpu_allocation_ratio=4.0, ram_allocation_ratio=1.0, disk_allocation_ratio=2.0)
    agg_hi = Aggregate("hi", {"cpu_allocation_ratio": "8.0"}, id=1)
    agg_lo = Aggregate("lo", {"cpu_allocation_ratio": "2.0", "ram_allocation_ratio": "3"}, id=2)
    table = HostTable(
        [
            host("default"),
            host("own", cpu_allocation_ratio=6.0, ram_allocation_ratio=0.0),
            host("aggs", cpu_allocation_ratio=6.0, aggregates=[agg_hi, agg_lo]),
            host("bad", aggregates=[Aggregate("x", {"cpu_allocation_ratio": "lots"})]),
        ],
        cfg,
    )
    assert table.cpu_ratio.tolist() == [4.0, 6.0, 2.0, 4.0]
    # a reported ratio of 0 means "not set"
    assert table.ram_ratio.tolist() == [1.0, 1.0, 3.0, 1.0]
    assert table.disk_ratio.tolist() == [2.0, 2.0, 2.0, 2.0]
    assert table.vcpu_limit.tolist() == [32.0, 48.0, 16.0, 32.0]
    assert table.limits(2) == {"vcpu": 16.0, "memory_mb": 8192 * 3.0, "disk_gb": 200.0}


def test_zones_from_aggregates_then_record_then_default() -> None:
    cfg = config(default_availability_zone="nova")
    table = HostTable(
        [
            host("plain"),
            host("own", availability_zone="az2"),
            host(
                "agg",
                availability_zone="az2",
                aggregates=[Aggregate("z", {"availability_zone": "az1, az3"})],
            ),
        ],
        cfg,
    )
    assert [table.aggregate_info(i).zones for i in range(3)] == [
        {"nova"},
        {"az2"},
        {"az1", "az3"},
    ]


def test_identical_hosts_share_signatures() -> None:
    agg = Aggregate("a", {"ssd": "true"}, id=7)
    table = HostTable([host(f"h{i}", aggregates=[agg]) for i in range(5)] + [host("odd")])
    assert len(set(table.agg_sig.tolist())) == 2
    assert len(set(table.cap_sig.tolist())) == 1


def test_signature_masks_are_cached_and_follow_updates() -> None:
    table = HostTable([host("a"), host("b", hypervisor_type="xen")])
    calls = []

    def is_qemu(info: object) -> bool:
        calls.append(info)
        return info.hypervisor_type == "QEMU"  # type: ignore[attr-defined]

    first = table.signature_mask(CAPABILITIES, "qemu?", is_qemu)
    assert first.tolist() == [True, False]
    assert table.signature_mask(CAPABILITIES, "qemu?", is_qemu) is first
    assert len(calls) == 2
    with pytest.raises(ValueError):
        first[0] = False  # shared cache entries are read-only
    table.update_host(host("b", hypervisor_type="QEMU", hypervisor_version=9000000))
    assert table.signature_mask(CAPABILITIES, "qemu?", is_qemu).tolist() == [True, True]
    assert len(calls) == 3  # only the new signature was evaluated
    table.update_host(host("c", hypervisor_type="xen"))
    assert table.signature_mask(CAPABILITIES, "qemu?", is_qemu).tolist() == [True, True, False]


def test_update_host_in_place_and_append() -> None:
    table = HostTable([host("a"), host("b")])
    sizes = table.size
    row = table.update_host(host("a", memory_mb=2048, instances={"u1": "p"}))
    assert row == 0 and table.size == sizes
    assert table.free_ram[0] == 2048
    assert table.num_instances[0] == 1
    for i in range(40):  # growth past the initial buffer keeps earlier rows intact
        table.update_host(host(f"n{i}", memory_mb=i))
    assert len(table) == 42
    assert table.free_ram[0] == 2048
    assert table.free_ram[table.index_of("n39")] == 39
    assert table.rows_with_instances(["u1"]).tolist() == [0]


def test_instances_move_with_updates() -> None:
    table = HostTable([host("a", instances={"u1": "p"}), host("b")])
    table.update_host(host("a"))
    table.update_host(host("b", instances={"u1": "p"}))
    assert table.rows_with_instances(["u1"]).tolist() == [1]
    assert table.instance_counts(["u1", "zz"]).tolist() == [0, 1]


def test_remove_host_leaves_a_dead_row() -> None:
    table = HostTable([host("a", instances={"u": None}), host("b")])
    assert table.remove_host("a")
    assert not table.remove_host("a")
    assert len(table) == 1 and table.size == 2
    assert table.live.tolist() == [False, True]
    assert table.rows_with_instances(["u"]).size == 0
    table.update_host(host("a"))
    assert table.live.tolist() == [False, True, True]


def test_consume_and_release_are_inverse() -> None:
    table = HostTable([host("a", memory_mb=4096)])
    flavor = Flavor(vcpus=2, memory_mb=1024, root_gb=10, ephemeral_gb=5, swap=512)
    before = {c: getattr(table, c).copy() for c in ("free_ram", "free_disk_mb", "vcpus_used")}
    table.consume(0, flavor, "u1", "p1")
    assert table.free_ram[0] == 3072
    assert table.free_disk_mb[0] == 100 * 1024 - 15 * 1024  # swap is not charged
    assert table.vcpus_used[0] == 2
    assert table.num_instances[0] == 1 and table.num_io_ops[0] == 1
    assert table.instances(0) == {"u1": "p1"}
    table.release(0, flavor, "u1")
    for column, values in before.items():
        assert np.array_equal(getattr(table, column), values)
    assert table.instances(0) == {}
    assert table.num_instances[0] == 0


def test_update_aggregate_rewrites_member_hosts() -> None:
    agg = Aggregate("a", {"cpu_allocation_ratio": "2"}, id=1)
    original = host("h", aggregates=[agg])
    table = HostTable([original, host("other")])
    assert table.update_aggregate(Aggregate("a", {"cpu_allocation_ratio": "1"}, id=1)) == [0]
    assert table.cpu_ratio.tolist() == [1.0, 16.0]
    assert original.aggregates == [agg]  # the caller's record is not modified


def test_service_state_toggles() -> None:
    table = HostTable([host("a")])
    table.set_service_state("a", up=False)
    assert not table.up[0] and table.enabled[0]
    table.set_service_state("a", up=True, disabled=True)
    assert table.up[0] and not table.enabled[0]


def test_host_mask_matches_node_names_on_request() -> None:
    table = HostTable([host("a", nodename="a.example"), host("b")])
    assert table.host_mask(["a.example"]).tolist() == [True, False]
    assert table.host_mask(["a.example"], match_nodes=False).tolist() == [False, False]


def test_name_rank_orders_by_host_name() -> None:
    table = HostTable([host("c"), host("a"), host("b")])
    assert table.name_rank.tolist() == [2, 0, 1]
    table.update_host(host("0"))
    assert table.name_rank.tolist() == [3, 1, 2, 0]


def test_record_round_trip() -> None:
    record = host(
        "a",
        aggregates=[Aggregate("x", {"k": "v"}, id=3)],
        supported_instances=[("x86_64", "kvm", "hvm")],
        instances={"u": "p"},
    )
    assert HostRecord.from_dict(record.to_dict()) == record


def test_aggregate_info_splits_metadata_values() -> None:
    table = HostTable(
        [
            host(
                "a",
                aggregates=[
                    Aggregate("x", {"filter_tenant_id": "p1, p2", "filter_tenant_id2": "p3"}),
                    Aggregate("y", {"ssd": "true"}),
                ],
            )
        ]
    )
    info = table.aggregate_info(0)
    assert info.tenant_ids == {"p1", "p2", "p3"}
    assert info.metadata["ssd"] == {"true"}
    column = table.signature_column(AGGREGATES, "ssd", lambda i: "ssd" in i.metadata)
    assert column.tolist() == [True]


def test_host_state_still_names_everything_it_used_to() -> None:
    """The module was split by concern; code importing from it keeps working."""
    from stratus.scheduler import canonical, host_record, host_state, host_table, signatures
    from stratus.scheduler.host_view import HostStateView

    assert host_state.HostTable is host_table.HostTable
    assert host_state.HostRecord is host_record.HostRecord
    assert host_state.Aggregate is host_record.Aggregate
    assert host_state.AggregateInfo is signatures.AggregateInfo
    assert host_state.CapabilityInfo is signatures.CapabilityInfo
    assert host_state.capability_missing is signatures.capability_missing
    assert host_state.canonical_arch is canonical.canonical_arch
    assert host_state.HostStateView is HostStateView
    assert host_state.DefaultHostSettings is host_table.DefaultHostSettings
    assert (host_state.AGGREGATES, host_state.CAPABILITIES) == ("aggregates", "capabilities")
