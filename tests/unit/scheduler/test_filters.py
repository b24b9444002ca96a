"""Each filter alone, at the edge of its rule."""

from stratus.scheduler import Aggregate, InstanceGroup
from stratus.scheduler.filters.image_properties import version_satisfies, version_to_tuple

from .factories import host, passing, spec


def test_all_hosts_filter() -> None:
    records = [host("a", service_up=False), host("b", memory_mb=0)]
    assert passing("AllHostsFilter", records, spec(memory_mb=10**6)) == ["a", "b"]


def test_compute_filter() -> None:
    records = [host("up"), host("down", service_up=False), host("off", service_disabled=True)]
    assert passing("ComputeFilter", records, spec()) == ["up"]


def test_ram_filter_exactly_at_ratio_limit() -> None:
    # 8192 MB x 1.5 = 12288; 4096 used leaves 8192.
    records = [host("a", memory_mb=8192, memory_mb_used=4096)]
    assert passing("RamFilter", records, spec(memory_mb=8192)) == ["a"]
    assert passing("RamFilter", records, spec(memory_mb=8193)) == []


def test_ram_filter_never_overcommits_an_instance_against_itself() -> None:
    records = [host("a", memory_mb=8192)]
    assert passing("RamFilter", records, spec(memory_mb=8193), ram_allocation_ratio=4.0) == []


def test_ram_filter_uses_aggregate_ratio() -> None:
    agg = Aggregate("tight", {"ram_allocation_ratio": "1.0"})
    records = [host("a", memory_mb=8192, memory_mb_used=1, aggregates=[agg])]
    assert passing("RamFilter", records, spec(memory_mb=8191)) == ["a"]
    assert passing("RamFilter", records, spec(memory_mb=8192)) == []


def test_core_filter_exactly_at_ratio_limit() -> None:
    records = [host("a", vcpus=8, vcpus_used=10, cpu_allocation_ratio=2.0)]
    assert passing("CoreFilter", records, spec(vcpus=6)) == ["a"]
    assert passing("CoreFilter", records, spec(vcpus=7)) == []


def test_core_filter_instance_larger_than_host_fails() -> None:
    records = [host("a", vcpus=8)]
    assert passing("CoreFilter", records, spec(vcpus=8)) == ["a"]
    assert passing("CoreFilter", records, spec(vcpus=9)) == []


def test_core_filter_passes_hosts_without_a_vcpu_count() -> None:
    assert passing("CoreFilter", [host("a", vcpus=0)], spec(vcpus=64)) == ["a"]


def test_disk_filter_counts_root_ephemeral_and_swap() -> None:
    records = [host("a", local_gb=100, local_gb_used=50)]
    assert passing("DiskFilter", records, spec(root_gb=50)) == ["a"]
    assert passing("DiskFilter", records, spec(root_gb=40, ephemeral_gb=10, swap=1)) == []
    assert passing("DiskFilter", records, spec(root_gb=49, swap=1024)) == ["a"]


def test_disk_filter_with_ratio_and_available_least() -> None:
    records = [host("a", local_gb=100, local_gb_used=90, disk_available_least=5)]
    # free is min(10, 5) GB = 5120 MB; limit 200 GB; used counts as 95 GB
    assert passing("DiskFilter", records, spec(root_gb=100), disk_allocation_ratio=2.0) == ["a"]
    assert passing("DiskFilter", records, spec(root_gb=101), disk_allocation_ratio=2.0) == []


def test_availability_zone_filter() -> None:
    records = [
        host("a", aggregates=[Aggregate("z1", {"availability_zone": "az1"})]),
        host("b", availability_zone="az2"),
        host("c"),
    ]
    assert passing("AvailabilityZoneFilter", records, spec()) == ["a", "b", "c"]
    assert passing("AvailabilityZoneFilter", records, spec(availability_zone="az1")) == ["a"]
    assert passing("AvailabilityZoneFilter", records, spec(availability_zone="az2")) == ["b"]
    assert passing("AvailabilityZoneFilter", records, spec(availability_zone="nova")) == ["c"]


def test_image_properties_filter_matches_canonical_names() -> None:
    records = [
        host("qemu"),
        host("arm", arch="aarch64"),
        host("kvm", supported_instances=[("x86_64", "kvm", "hvm"), ("i686", "kvm", "hvm")]),
        host("bare", arch=None, hypervisor_type=None),
    ]

    def image(**props: str) -> list[str]:
        return passing("ImagePropertiesFilter", records, spec(image_properties=props))

    assert image() == ["qemu", "arm", "kvm", "bare"]
    assert image(hw_architecture="amd64") == ["qemu", "kvm"]
    assert image(architecture="i386") == ["kvm"]
    assert image(img_hv_type="KVM") == ["kvm"]
    assert image(hypervisor_type="qemu", architecture="aarch64") == ["arm"]
    assert image(hw_vm_mode="hv") == ["qemu", "arm", "kvm"]
    assert image(vm_mode="xen") == []


def test_image_properties_filter_hypervisor_version_boundary() -> None:
    records = [host("a", hypervisor_version=8002000), host("old", hypervisor_version=0)]

    def image(requires: str) -> list[str]:
        props = {"hw_architecture": "x86_64", "img_hv_requested_version": requires}
        return passing("ImagePropertiesFilter", records, spec(image_properties=props))

    assert image(">=8.2") == ["a", "old"]  # an unknown version is not held against a host
    assert image(">8.2.0") == ["old"]
    assert image(">=7.0, <8.3") == ["a", "old"]
    assert image("8.2.0") == ["a", "old"]
    assert image("garbage") == ["old"]


def test_version_helpers() -> None:
    assert version_to_tuple(8002001) == (8, 2, 1)
    assert version_to_tuple(0) == ()
    assert version_satisfies(6000000, "== 6")
    assert not version_satisfies(6000000, "!= 6.0.0")


def test_compute_capabilities_filter_scopes_and_operators() -> None:
    records = [
        host(
            "a", cpu_info={"vendor": "Intel", "features": ["sse", "avx2"]}, capabilities={"gpus": 2}
        ),
        host("b", hypervisor_type="KVM", cpu_info={"vendor": "AMD"}, capabilities={"gpus": 1}),
        host("c"),
    ]

    def with_specs(**extra: str) -> list[str]:
        return passing("ComputeCapabilitiesFilter", records, spec(extra_specs=extra))

    assert with_specs() == ["a", "b", "c"]
    assert with_specs(**{"capabilities:hypervisor_type": "s== QEMU"}) == ["a", "c"]
    assert with_specs(**{"capabilities:cpu_info:vendor": "<or> AMD <or> Via"}) == ["b"]
    assert with_specs(**{"capabilities:cpu_info:features": "<in> avx2"}) == ["a"]
    assert with_specs(**{"capabilities:gpus": ">= 2"}) == ["a"]
    assert with_specs(**{"capabilities:gpus": ">= 1"}) == ["a", "b"]
    assert with_specs(**{"capabilities:hypervisor_version": ">= 8002000"}) == ["a", "b", "c"]
    assert with_specs(**{"capabilities:hypervisor_version": ">= 8002001"}) == []
    # unscoped keys count only where the host knows them
    assert with_specs(gpus="2") == ["a", "c"]
    assert with_specs(hypervisor_type="KVM") == ["b"]
    # other scopes are somebody else's business
    assert with_specs(**{"hw:cpu_policy": "dedicated", "quota:cpu_shares": "5"}) == [
        "a",
        "b",
        "c",
    ]
    assert with_specs(**{"capabilities:missing": "1"}) == []


def test_compute_capabilities_filter_decodes_json_text() -> None:
    records = [host("a", capabilities={"numa": '{"nodes": 2}'})]
    extra = {"capabilities:numa:nodes": "= 2"}
    assert passing("ComputeCapabilitiesFilter", records, spec(extra_specs=extra)) == ["a"]


def test_aggregate_instance_extra_specs_filter() -> None:
    fast = Aggregate("fast", {"ssd": "true", "tier": "gold, silver"})
    records = [host("a", aggregates=[fast]), host("b")]

    def with_specs(**extra: str) -> list[str]:
        return passing("AggregateInstanceExtraSpecsFilter", records, spec(extra_specs=extra))

    assert with_specs() == ["a", "b"]
    assert with_specs(**{"aggregate_instance_extra_specs:ssd": "true"}) == ["a"]
    assert with_specs(**{"aggregate_instance_extra_specs:ssd": "false"}) == []
    assert with_specs(ssd="true") == ["a"]  # unscoped keys are checked too
    assert with_specs(**{"aggregate_instance_extra_specs:tier": "silver"}) == ["a"]
    assert with_specs(**{"aggregate_instance_extra_specs:tier": "<or> bronze <or> gold"}) == ["a"]
    assert with_specs(**{"hw:cpu_policy": "dedicated"}) == ["a", "b"]
    assert with_specs(**{"capabilities:gpus": "1"}) == ["a", "b"]


def test_isolated_hosts_filter() -> None:
    records = [host("iso"), host("open")]
    options = {"isolated_hosts": ["iso"], "isolated_images": ["img-iso"]}

    def run(image: str | None, **extra: object) -> list[str]:
        return passing("IsolatedHostsFilter", records, spec(image_id=image), **options, **extra)

    assert run("img-iso") == ["iso"]
    assert run("img-other") == ["open"]
    assert run(None) == ["open"]
    assert run("img-iso", restrict_isolated_hosts_to_isolated_images=False) == ["iso"]
    assert run("img-other", restrict_isolated_hosts_to_isolated_images=False) == ["iso", "open"]
    no_images = {"isolated_hosts": ["iso"]}
    assert passing("IsolatedHostsFilter", records, spec(), **no_images) == ["open"]
    assert passing(
        "IsolatedHostsFilter",
        records,
        spec(),
        restrict_isolated_hosts_to_isolated_images=False,
        **no_images,
    ) == ["iso", "open"]


def test_simple_cidr_affinity_filter() -> None:
    records = [
        host("a", host_ip="10.0.1.5"),
        host("b", host_ip="10.0.2.5"),
        host("v6", host_ip="2001:db8::5"),
        host("none"),
    ]

    def near(ip: str, cidr: str | None = None) -> list[str]:
        hints = {"build_near_host_ip": ip}
        if cidr is not None:
            hints["cidr"] = cidr
        return passing("SimpleCIDRAffinityFilter", records, spec(scheduler_hints=hints))

    assert passing("SimpleCIDRAffinityFilter", records, spec()) == ["a", "b", "v6", "none"]
    assert near("10.0.1.200") == ["a"]
    assert near("10.0.1.200", "/16") == ["a", "b"]
    assert near("10.0.1.5", "/32") == ["a"]
    assert near("10.0.1.6", "/32") == []
    assert near("2001:db8::ffff", "/64") == ["v6"]
    assert near("not-an-ip") == []


def test_different_and_same_host_filters() -> None:
    records = [host("a", instances={"u1": "p"}), host("b", instances={"u2": "p"}), host("c")]
    hints = {"different_host": ["u1", "u2"]}
    assert passing("DifferentHostFilter", records, spec(scheduler_hints=hints)) == ["c"]
    assert passing("SameHostFilter", records, spec(scheduler_hints={"same_host": "u2"})) == ["b"]
    assert passing("SameHostFilter", records, spec(scheduler_hints={"same_host": ["x"]})) == []
    assert passing("SameHostFilter", records, spec()) == ["a", "b", "c"]


def test_retry_filter_skips_tried_hosts_and_nodes() -> None:
    records = [host("a"), host("b", nodename="b-node"), host("c")]
    assert passing("RetryFilter", records, spec(ignore_hosts=["a", "b-node"])) == ["c"]


def test_server_group_affinity_filter() -> None:
    records = [host("a"), host("b")]
    group = InstanceGroup(policy="affinity", hosts=["b"])
    assert passing("ServerGroupAffinityFilter", records, spec(instance_group=group)) == ["b"]
    fresh = InstanceGroup(policy="affinity")
    assert passing("ServerGroupAffinityFilter", records, spec(instance_group=fresh)) == ["a", "b"]
    other = InstanceGroup(policy="anti-affinity", hosts=["b"])
    assert passing("ServerGroupAffinityFilter", records, spec(instance_group=other)) == ["a", "b"]


def test_server_group_anti_affinity_filter_max_server_per_host() -> None:
    records = [host("a", instances={"m1": "p", "m2": "p"}), host("b", instances={"m3": "p"})]
    group = InstanceGroup(policy="anti-affinity", members=["m1", "m2", "m3"])
    assert passing("ServerGroupAntiAffinityFilter", records, spec(instance_group=group)) == []
    group.rules = {"max_server_per_host": 2}
    assert passing("ServerGroupAntiAffinityFilter", records, spec(instance_group=group)) == ["b"]
    group.rules = {"max_server_per_host": "3"}
    assert passing("ServerGroupAntiAffinityFilter", records, spec(instance_group=group)) == [
        "a",
        "b",
    ]


def test_server_group_anti_affinity_lets_an_instance_stay_where_it_is() -> None:
    records = [host("a", instances={"m1": "p"}), host("b", instances={"m2": "p"})]
    group = InstanceGroup(policy="anti-affinity", members=["m1", "m2"])
    request = spec(instance_group=group, instance_uuids=["m1"])
    assert passing("ServerGroupAntiAffinityFilter", records, request) == ["a"]


def test_num_instances_filter_boundary() -> None:
    records = [host("a", num_instances=49), host("b", num_instances=50)]
    assert passing("NumInstancesFilter", records, spec()) == ["a"]
    assert passing("NumInstancesFilter", records, spec(), max_instances_per_host=51) == ["a", "b"]


def test_aggregate_num_instances_filter() -> None:
    small = Aggregate("small", {"max_instances_per_host": "3"})
    smaller = Aggregate("smaller", {"max_instances_per_host": "2"})
    records = [
        host("a", num_instances=2, aggregates=[small]),
        host("b", num_instances=2, aggregates=[small, smaller]),
        host("c", num_instances=4),
    ]
    assert passing("AggregateNumInstancesFilter", records, spec(), max_instances_per_host=5) == [
        "a",
        "c",
    ]
    assert passing("AggregateNumInstancesFilter", records, spec(), max_instances_per_host=4) == [
        "a"
    ]


def test_io_ops_filter_boundary() -> None:
    records = [host("a", num_io_ops=7), host("b", num_io_ops=8)]
    assert passing("IoOpsFilter", records, spec()) == ["a"]
    assert passing("IoOpsFilter", records, spec(), max_io_ops_per_host=9) == ["a", "b"]


def test_aggregate_multi_tenancy_isolation() -> None:
    private = Aggregate("private", {"filter_tenant_id": "p1,p2"})
    extra = Aggregate("extra", {"filter_tenant_id_more": "p3"})
    records = [host("a", aggregates=[private]), host("b", aggregates=[extra]), host("c")]
    run = "AggregateMultiTenancyIsolation"
    assert passing(run, records, spec(project_id="p1")) == ["a", "c"]
    assert passing(run, records, spec(project_id="p3")) == ["b", "c"]
    assert passing(run, records, spec(project_id="p9")) == ["c"]
