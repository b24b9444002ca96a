"""Host weighers, looked up by class name."""

from __future__ import annotations

from stratus.scheduler.weighers.affinity import (
    ServerGroupSoftAffinityWeigher,
    ServerGroupSoftAntiAffinityWeigher,
)
from stratus.scheduler.weighers.base import BaseWeigher, normalize
from stratus.scheduler.weighers.build_failure import BuildFailureWeigher
from stratus.scheduler.weighers.cpu import CPUWeigher
from stratus.scheduler.weighers.disk import DiskWeigher
from stratus.scheduler.weighers.io_ops import IoOpsWeigher
from stratus.scheduler.weighers.num_instances import NumInstancesWeigher
from stratus.scheduler.weighers.ram import RAMWeigher

ALL_WEIGHERS: dict[str, type[BaseWeigher]] = {
    cls.__name__: cls
    for cls in (
        RAMWeigher,
        CPUWeigher,
        DiskWeigher,
        IoOpsWeigher,
        NumInstancesWeigher,
        ServerGroupSoftAffinityWeigher,
        ServerGroupSoftAntiAffinityWeigher,
        BuildFailureWeigher,
    )
}

__all__ = ["ALL_WEIGHERS", "BaseWeigher", "normalize", *ALL_WEIGHERS]
