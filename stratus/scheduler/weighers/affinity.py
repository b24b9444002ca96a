"""Soft server-group policies: prefer (or avoid) hosts running group members."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from stratus.scheduler.weighers.base import BaseWeigher

if TYPE_CHECKING:
    import numpy as np

    from stratus.scheduler.host_table import HostTable
    from stratus.scheduler.request_spec import RequestSpec


class _GroupMembersWeigher(BaseWeigher):
    policy: ClassVar[str]
    sign: ClassVar[int]

    def raw(self, table: HostTable, spec: RequestSpec, rows: np.ndarray) -> np.ndarray | None:
        group = spec.instance_group
        if group is None or group.policy != self.policy or not group.members:
            return None
        return self.sign * table.instance_counts(group.members)[rows]


class ServerGroupSoftAffinityWeigher(_GroupMembersWeigher):
    """More members of a ``soft-affinity`` group on the host, higher weight."""

    multiplier_option = "soft_affinity_weight_multiplier"
    policy = "soft-affinity"
    sign = 1


class ServerGroupSoftAntiAffinityWeigher(_GroupMembersWeigher):
    """More members of a ``soft-anti-affinity`` group on the host, lower weight."""

    multiplier_option = "soft_anti_affinity_weight_multiplier"
    policy = "soft-anti-affinity"
    sign = -1
