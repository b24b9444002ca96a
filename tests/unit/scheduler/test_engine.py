import json
import random

import pytest
from oslo_config import cfg as oslo_cfg

from stratus.conf import filter_scheduler as opts
from stratus.scheduler import (
    Aggregate,
    FilterScheduler,
    Flavor,
    HostTable,
    InstanceGroup,
    NoValidHost,
    RequestSpec,
    SchedulerConfig,
    select_destinations,
)

from .factories import config, host, spec


def hosts_of(selections: list) -> list[list[str]]:
    return [[s.host for s in per_instance] for per_instance in selections]


def test_multi_instance_request_consumes_before_the_next_instance() -> None:
    # Each host fits exactly one 6 GB instance (8 GB x 1.0).
    cfg = config(ram_allocation_ratio=1.0)
    table = HostTable([host("a"), host("b", memory_mb_used=1), host("c", memory_mb_used=2)], cfg)
    result = select_destinations(table, spec(memory_mb=6144, num_instances=3), config=cfg)
    assert hosts_of(result) == [["a"], ["b"], ["c"]]
    assert table.free_ram.tolist() == [2048, 2047, 2046]


def test_all_or_nothing_releases_earlier_placements() -> None:
    cfg = config(ram_allocation_ratio=1.0)
    table = HostTable([host("a"), host("b")], cfg)
    before = table.free_ram.copy()
    with pytest.raises(NoValidHost) as failure:
        select_destinations(table, spec(memory_mb=6144, num_instances=3), config=cfg)
    assert table.free_ram.tolist() == before.tolist()
    assert table.num_instances.tolist() == [0, 0]
    assert failure.value.instance_index == 2
    assert str(failure.value) == (
        "No valid host was found for instance 3 of 3: RamFilter removed 2 of 2 hosts."
    )


def test_no_valid_host_names_each_filter_that_removed_hosts() -> None:
    records = [host(f"h{i}", memory_mb=1024) for i in range(7)]
    records += [host(f"big{i}", service_up=False, memory_mb=65536) for i in range(3)]
    table = HostTable(records)
    with pytest.raises(NoValidHost) as failure:
        select_destinations(table, spec(memory_mb=4096))
    message = failure.value.message
    assert message == (
        "No valid host was found: RamFilter removed 7 of 10 hosts, "
        "ComputeFilter removed 3 of 3 hosts."
    )
    removed = {r.name: r.removed for r in failure.value.results}
    assert removed["RamFilter"] == 7 and removed["RetryFilter"] == 0


def test_no_hosts_at_all() -> None:
    with pytest.raises(NoValidHost, match="there are no compute hosts"):
        select_destinations(HostTable([]), spec())


def test_alternates_for_one_instance_come_from_the_same_ranking() -> None:
    records = [host(f"h{i}", memory_mb_used=i * 100) for i in range(5)]
    table = HostTable(records)
    result = select_destinations(table, spec(), num_alternates=2)
    assert hosts_of(result) == [["h0", "h1", "h2"]]
    first = result[0][0]
    assert first.limits == {"vcpu": 128.0, "memory_mb": 12288.0, "disk_gb": 100.0}
    assert first.record is records[0]
    assert json.loads(json.dumps(first.to_dict())) == {
        "host": "h0",
        "nodename": "h0",
        "weight": first.weight,
        "limits": first.limits,
        "compute_node_uuid": None,
    }


def test_alternates_for_many_instances_exclude_every_primary() -> None:
    cfg = config(ram_allocation_ratio=1.0)
    records = [host(f"h{i}", memory_mb_used=i * 100) for i in range(6)]
    table = HostTable(records, cfg)
    result = select_destinations(
        table, spec(memory_mb=6144, num_instances=2), num_alternates=3, config=cfg
    )
    assert [r[0].host for r in result] == ["h0", "h1"]
    for per_instance in result:
        assert [s.host for s in per_instance[1:]] == ["h2", "h3", "h4"]


def test_fewer_alternates_when_hosts_run_out() -> None:
    table = HostTable([host("a"), host("b")])
    assert hosts_of(select_destinations(table, spec(), num_alternates=5)) == [["a", "b"]]


def test_anti_affinity_spreads_one_request() -> None:
    table = HostTable([host("a"), host("b"), host("c")])
    group = InstanceGroup(policy="anti-affinity")
    result = select_destinations(table, spec(num_instances=3, instance_group=group))
    assert sorted(r[0].host for r in result) == ["a", "b", "c"]
    with pytest.raises(NoValidHost, match="ServerGroupAntiAffinityFilter removed 3 of 3"):
        select_destinations(table, spec(num_instances=4, instance_group=group))
    # the caller's group is left untouched
    assert group.hosts == [] and group.members == []


def test_affinity_keeps_one_request_together() -> None:
    table = HostTable([host("a"), host("b", memory_mb_used=1000)])
    group = InstanceGroup(policy="affinity")
    result = select_destinations(table, spec(num_instances=3, instance_group=group))
    assert [r[0].host for r in result] == ["a", "a", "a"]


def test_soft_anti_affinity_spreads_within_a_request() -> None:
    table = HostTable([host("a"), host("b")])
    group = InstanceGroup(policy="soft-anti-affinity")
    result = select_destinations(
        table, spec(num_instances=4, instance_group=group, instance_uuids=list("wxyz"))
    )
    assert sorted(r[0].host for r in result) == ["a", "a", "b", "b"]
    assert table.rows_with_instances(["w"]).tolist() == [table.index_of(result[0][0].host)]


def test_forced_host_skips_filters_for_admins_only() -> None:
    table = HostTable([host("a", service_disabled=True), host("b")])
    admin = spec(force_hosts=["a"], is_admin=True)
    assert hosts_of(select_destinations(table, admin)) == [["a"]]
    user = spec(force_hosts=["a"])
    with pytest.raises(NoValidHost, match="ComputeFilter removed 1 of 1 hosts"):
        select_destinations(table, user)
    missing = spec(force_hosts=["zz"], is_admin=True)
    with pytest.raises(NoValidHost, match="force_hosts removed 2 of 2 hosts"):
        select_destinations(table, missing)


def test_forced_host_still_honours_tried_hosts() -> None:
    table = HostTable([host("a"), host("b")])
    retry = spec(force_hosts=["a"], ignore_hosts=["a"], is_admin=True)
    with pytest.raises(NoValidHost):
        select_destinations(table, retry)


def test_host_subset_size_picks_among_the_best() -> None:
    records = [host(f"h{i}", memory_mb_used=i * 100) for i in range(10)]
    cfg = config(host_subset_size=3)
    seen = set()
    for seed in range(40):
        table = HostTable(records, cfg)
        scheduler = FilterScheduler(cfg, rng=random.Random(seed))
        seen.add(scheduler.select_destinations(table, spec())[0][0].host)
    assert seen == {"h0", "h1", "h2"}


def test_subset_size_one_is_deterministic() -> None:
    records = [host(f"h{i}") for i in range(10)]
    picks = {select_destinations(HostTable(records), spec())[0][0].host for _ in range(5)}
    assert picks == {"h0"}


def test_unknown_filter_or_weigher_is_an_error() -> None:
    with pytest.raises(ValueError, match="NoSuchFilter"):
        FilterScheduler(config(enabled_filters=["NoSuchFilter"]))
    with pytest.raises(ValueError, match="unknown scheduler option"):
        SchedulerConfig.from_dict({"enabled_filter": []})


def test_config_from_dict_coerces_values() -> None:
    cfg = SchedulerConfig.from_dict(
        {
            "enabled_filters": "RamFilter, CoreFilter",
            "host_subset_size": "2",
            "ram_weight_multiplier": "-1",
            "restrict_isolated_hosts_to_isolated_images": "false",
        }
    )
    assert cfg.enabled_filters == ("RamFilter", "CoreFilter")
    assert cfg.host_subset_size == 2
    assert cfg.ram_weight_multiplier == -1.0
    assert cfg.restrict_isolated_hosts_to_isolated_images is False
    assert SchedulerConfig.from_dict(cfg.to_dict()) == cfg


def test_config_from_oslo_config() -> None:
    conf = oslo_cfg.ConfigOpts()
    conf.register_opts(opts.OPTS, group=opts.GROUP)
    conf([], project="stratus-test", default_config_files=[])
    conf.set_override("enabled_filters", ["RamFilter"], group=opts.GROUP)
    conf.set_override("ram_weight_multiplier", -2.0, group=opts.GROUP)
    cfg = SchedulerConfig.from_conf(conf)
    assert cfg.enabled_filters == ("RamFilter",)
    assert cfg.ram_weight_multiplier == -2.0
    assert cfg.default_availability_zone == "nova"
    assert cfg.max_io_ops_per_host == 8
    conf.register_opt(oslo_cfg.StrOpt("default_availability_zone", default="zone-x"))
    assert SchedulerConfig.from_conf(conf).default_availability_zone == "zone-x"


def test_default_filters_follow_nova_with_core_filter() -> None:
    assert SchedulerConfig().enabled_filters == (
        "RetryFilter",
        "AvailabilityZoneFilter",
        "RamFilter",
        "CoreFilter",
        "DiskFilter",
        "ComputeFilter",
        "ComputeCapabilitiesFilter",
        "ImagePropertiesFilter",
        "ServerGroupAntiAffinityFilter",
        "ServerGroupAffinityFilter",
        # Nova's placement does this for ports on physical networks.
        "PhysicalNetworkFilter",
    )


def test_request_spec_round_trips_through_json() -> None:
    request = RequestSpec(
        flavor=Flavor(2, 2048, 20, 5, 512, {"hw:cpu_policy": "dedicated"}, "m1", "42"),
        image_id="img",
        image_properties={"hw_architecture": "x86_64"},
        project_id="p",
        availability_zone="az1",
        scheduler_hints={"same_host": ["u"], "query": '["=", 1, 1]'},
        force_hosts=["a"],
        is_admin=True,
        num_instances=2,
        ignore_hosts=["b"],
        instance_group=InstanceGroup("anti-affinity", {"max_server_per_host": 2}, ["a"], ["u"]),
        instance_uuids=["x", "y"],
    )
    assert RequestSpec.from_dict(json.loads(json.dumps(request.to_dict()))) == request
    minimal = RequestSpec.from_dict({"flavor": {"vcpus": 1, "memory_mb": 64}})
    assert minimal.num_instances == 1 and minimal.instance_group is None


def test_hints_are_unwrapped() -> None:
    request = spec(scheduler_hints={"query": ["[]"], "same_host": "u1", "cidr": []})
    assert request.get_hint("query") == "[]"
    assert request.get_hint("cidr", "/24") == "/24"
    assert request.get_hint_list("same_host") == ["u1"]
    assert request.get_hint_list("different_host") == []


def test_group_from_dict_accepts_policies_list() -> None:
    group = InstanceGroup.from_dict({"policies": ["soft-affinity"], "members": ["m"]})
    assert group.policy == "soft-affinity" and group.max_server_per_host == 1


def test_all_filters_enabled_together() -> None:
    from stratus.scheduler.filters import ALL_FILTERS

    cfg = config(enabled_filters=list(ALL_FILTERS))
    agg = Aggregate("z", {"availability_zone": "az1", "filter_tenant_id": "p"})
    table = HostTable([host("a", aggregates=[agg], host_ip="10.1.1.1"), host("b")], cfg)
    request = spec(
        availability_zone="az1",
        project_id="p",
        scheduler_hints={"build_near_host_ip": "10.1.1.9", "query": '[">", "$vcpus_total", 1]'},
    )
    assert hosts_of(select_destinations(table, request, config=cfg)) == [["a"]]


# -- logging -------------------------------------------------------------------------------


def test_debug_log_says_what_each_filter_removed(caplog: pytest.LogCaptureFixture) -> None:
    cfg = config(enabled_filters=["ComputeFilter", "RamFilter"], ram_allocation_ratio=1.0)
    records = [host(f"h{i}") for i in range(10)]
    records[0].service_up = False
    for record in records[1:4]:
        record.memory_mb_used = 6144
    request = spec(memory_mb=5000, num_instances=2, instance_uuids=["u1", "u2"])
    with caplog.at_level("DEBUG", logger="stratus.scheduler.engine"):
        FilterScheduler(cfg).select_destinations(HostTable(records, cfg), request)
    assert [r.getMessage() for r in caplog.records if r.levelname == "DEBUG"] == [
        "Filter ComputeFilter removed 1 of 10 hosts (9 left) for instance 1 of 2 (u1)",
        "Filter RamFilter removed 3 of 9 hosts (6 left) for instance 1 of 2 (u1)",
        "Filter ComputeFilter removed 1 of 10 hosts (9 left) for instance 2 of 2 (u2)",
        "Filter RamFilter removed 4 of 9 hosts (5 left) for instance 2 of 2 (u2)",
    ]


def test_no_host_left_is_logged_naming_the_filter(caplog: pytest.LogCaptureFixture) -> None:
    cfg = config(enabled_filters=["ComputeFilter", "RamFilter", "CoreFilter"])
    table = HostTable([host("a"), host("b", service_up=False)], cfg)
    with caplog.at_level("INFO", logger="stratus.scheduler.engine"), pytest.raises(NoValidHost):
        FilterScheduler(cfg).select_destinations(table, spec(memory_mb=65536))
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("INFO", "No host left for instance 1 of 1: filter RamFilter removed the last 1 of them"),
    ]


def test_no_hosts_at_all_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("INFO", logger="stratus.scheduler.engine"), pytest.raises(NoValidHost):
        FilterScheduler(config()).select_destinations(HostTable([]), spec())
    assert [r.getMessage() for r in caplog.records] == [
        "No host left for instance 1 of 1: there are no compute hosts"
    ]
