"""Host filters, one small class each, looked up by class name."""

from __future__ import annotations

from stratus.scheduler.filters.affinity import (
    DifferentHostFilter,
    SameHostFilter,
    ServerGroupAffinityFilter,
    ServerGroupAntiAffinityFilter,
)
from stratus.scheduler.filters.aggregate_instance_extra_specs import (
    AggregateInstanceExtraSpecsFilter,
)
from stratus.scheduler.filters.aggregate_multitenancy_isolation import (
    AggregateMultiTenancyIsolation,
)
from stratus.scheduler.filters.all_hosts import AllHostsFilter
from stratus.scheduler.filters.availability_zone import AvailabilityZoneFilter
from stratus.scheduler.filters.base import BaseFilter
from stratus.scheduler.filters.compute import ComputeFilter
from stratus.scheduler.filters.compute_capabilities import ComputeCapabilitiesFilter
from stratus.scheduler.filters.core import CoreFilter
from stratus.scheduler.filters.disk import DiskFilter
from stratus.scheduler.filters.image_properties import ImagePropertiesFilter
from stratus.scheduler.filters.io_ops import IoOpsFilter
from stratus.scheduler.filters.isolated_hosts import IsolatedHostsFilter
from stratus.scheduler.filters.json_filter import JsonFilter
from stratus.scheduler.filters.num_instances import AggregateNumInstancesFilter, NumInstancesFilter
from stratus.scheduler.filters.physical_network import PhysicalNetworkFilter
from stratus.scheduler.filters.ram import RamFilter
from stratus.scheduler.filters.retry import RetryFilter
from stratus.scheduler.filters.simple_cidr_affinity import SimpleCIDRAffinityFilter

ALL_FILTERS: dict[str, type[BaseFilter]] = {
    cls.__name__: cls
    for cls in (
        AllHostsFilter,
        ComputeFilter,
        RamFilter,
        CoreFilter,
        DiskFilter,
        AvailabilityZoneFilter,
        ImagePropertiesFilter,
        ComputeCapabilitiesFilter,
        AggregateInstanceExtraSpecsFilter,
        IsolatedHostsFilter,
        JsonFilter,
        SimpleCIDRAffinityFilter,
        DifferentHostFilter,
        SameHostFilter,
        RetryFilter,
        ServerGroupAffinityFilter,
        ServerGroupAntiAffinityFilter,
        NumInstancesFilter,
        IoOpsFilter,
        AggregateMultiTenancyIsolation,
        AggregateNumInstancesFilter,
        PhysicalNetworkFilter,
    )
}

__all__ = ["ALL_FILTERS", "BaseFilter", *ALL_FILTERS]
