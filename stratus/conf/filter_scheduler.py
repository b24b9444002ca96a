"""[filter_scheduler] options: which filters and weighers pick a host, and how."""

from oslo_config import cfg

GROUP = "filter_scheduler"

# Nova's filter list from before the placement service, plus CoreFilter: Stratus
# has no placement service, so the scheduler itself keeps vCPUs within the ratio.
DEFAULT_FILTERS = [
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
    "PhysicalNetworkFilter",
]

DEFAULT_WEIGHERS = [
    "RAMWeigher",
    "CPUWeigher",
    "DiskWeigher",
    "IoOpsWeigher",
    "NumInstancesWeigher",
    "ServerGroupSoftAffinityWeigher",
    "ServerGroupSoftAntiAffinityWeigher",
    "BuildFailureWeigher",
]

OPTS = [
    cfg.ListOpt(
        "enabled_filters",
        default=DEFAULT_FILTERS,
        help="Filters, by class name, applied in this order; a host must pass all of them. "
        "Available: AllHostsFilter, ComputeFilter, RamFilter, CoreFilter, DiskFilter, "
        "AvailabilityZoneFilter, ImagePropertiesFilter, ComputeCapabilitiesFilter, "
        "AggregateInstanceExtraSpecsFilter, IsolatedHostsFilter, JsonFilter, "
        "SimpleCIDRAffinityFilter, DifferentHostFilter, SameHostFilter, RetryFilter, "
        "ServerGroupAffinityFilter, ServerGroupAntiAffinityFilter, NumInstancesFilter, "
        "IoOpsFilter, AggregateMultiTenancyIsolation, AggregateNumInstancesFilter, "
        "PhysicalNetworkFilter.",
    ),
    cfg.ListOpt(
        "weight_classes",
        default=DEFAULT_WEIGHERS,
        help="Weighers, by class name, that rank the hosts that passed the filters.",
    ),
    cfg.IntOpt(
        "host_subset_size",
        default=1,
        min=1,
        help="Pick the host at random among this many best-weighed hosts; 1 always picks "
        "the best (ties broken by host name). Larger values spread concurrent requests.",
    ),
    cfg.IntOpt(
        "max_io_ops_per_host",
        default=8,
        min=0,
        help="IoOpsFilter: hosts with this many concurrent I/O-heavy operations "
        "(builds, resizes, snapshots) or more are skipped.",
    ),
    cfg.IntOpt(
        "max_instances_per_host",
        default=50,
        min=1,
        help="NumInstancesFilter and AggregateNumInstancesFilter (unless an aggregate sets "
        "max_instances_per_host): hosts with this many instances or more are skipped.",
    ),
    cfg.FloatOpt(
        "ram_weight_multiplier",
        default=1.0,
        help="RAMWeigher: positive spreads instances over hosts with the most free RAM, "
        "negative stacks them onto the fullest hosts.",
    ),
    cfg.FloatOpt(
        "cpu_weight_multiplier",
        default=1.0,
        help="CPUWeigher: positive prefers hosts with the most free vCPUs, negative stacks.",
    ),
    cfg.FloatOpt(
        "disk_weight_multiplier",
        default=1.0,
        help="DiskWeigher: positive prefers hosts with the most free disk, negative stacks.",
    ),
    cfg.FloatOpt(
        "io_ops_weight_multiplier",
        default=-1.0,
        help="IoOpsWeigher: negative prefers hosts with fewer concurrent I/O operations.",
    ),
    cfg.FloatOpt(
        "num_instances_weight_multiplier",
        default=0.0,
        help="NumInstancesWeigher: positive prefers hosts with more instances, negative "
        "fewer; 0 ignores the instance count.",
    ),
    cfg.FloatOpt(
        "soft_affinity_weight_multiplier",
        default=1.0,
        min=0.0,
        help="ServerGroupSoftAffinityWeigher: how strongly a soft-affinity group is kept together.",
    ),
    cfg.FloatOpt(
        "soft_anti_affinity_weight_multiplier",
        default=1.0,
        min=0.0,
        help="ServerGroupSoftAntiAffinityWeigher: how strongly a soft-anti-affinity group "
        "is spread apart.",
    ),
    cfg.FloatOpt(
        "build_failure_weight_multiplier",
        default=1000000.0,
        help="BuildFailureWeigher: penalty per recent build failure on a host. The large "
        "default keeps failing hosts last; 0 disables it.",
    ),
    cfg.ListOpt(
        "isolated_images",
        default=[],
        help="IsolatedHostsFilter: image IDs that may only run on isolated_hosts.",
    ),
    cfg.ListOpt(
        "isolated_hosts",
        default=[],
        help="IsolatedHostsFilter: hosts that may only run isolated_images.",
    ),
    cfg.BoolOpt(
        "restrict_isolated_hosts_to_isolated_images",
        default=True,
        help="IsolatedHostsFilter: whether isolated hosts refuse images that are not isolated.",
    ),
    cfg.FloatOpt(
        "cpu_allocation_ratio",
        default=16.0,
        min=0.0,
        help="vCPU oversubscription for compute nodes that report no ratio of their own. "
        "An aggregate's cpu_allocation_ratio metadata overrides both (lowest wins).",
    ),
    cfg.FloatOpt(
        "ram_allocation_ratio",
        default=1.5,
        min=0.0,
        help="RAM oversubscription for compute nodes that report no ratio of their own. "
        "An aggregate's ram_allocation_ratio metadata overrides both (lowest wins).",
    ),
    cfg.FloatOpt(
        "disk_allocation_ratio",
        default=1.0,
        min=0.0,
        help="Disk oversubscription for compute nodes that report no ratio of their own. "
        "An aggregate's disk_allocation_ratio metadata overrides both (lowest wins).",
    ),
]
