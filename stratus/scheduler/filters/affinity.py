"""Affinity filters: hints that name instances, and server-group policies."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from stratus.scheduler.filters.base import BaseFilter

if TYPE_CHECKING:
    from stratus.scheduler.host_table import HostTable
    from stratus.scheduler.request_spec import RequestSpec


class DifferentHostFilter(BaseFilter):
    """Hint ``different_host``: none of these instances may run on the host."""

    def mask(self, table: HostTable, spec: RequestSpec, index: int) -> np.ndarray | None:
        uuids = spec.get_hint_list("different_host")
        if not uuids:
            return None
        mask = np.ones(table.size, dtype=bool)
        mask[table.rows_with_instances(uuids)] = False
        return mask


class SameHostFilter(BaseFilter):
    """Hint ``same_host``: at least one of these instances runs on the host."""

    def mask(self, table: HostTable, spec: RequestSpec, index: int) -> np.ndarray | None:
        uuids = spec.get_hint_list("same_host")
        if not uuids:
            return None
        mask = np.zeros(table.size, dtype=bool)
        mask[table.rows_with_instances(uuids)] = True
        return mask


class ServerGroupAffinityFilter(BaseFilter):
    """An ``affinity`` group: once a member is placed, the rest follow to its host."""

    per_instance = True

    def mask(self, table: HostTable, spec: RequestSpec, index: int) -> np.ndarray | None:
        group = spec.instance_group
        if group is None or group.policy != "affinity" or not group.hosts:
            return None
        return table.host_mask(group.hosts, match_nodes=False)


class ServerGroupAntiAffinityFilter(BaseFilter):
    """An ``anti-affinity`` group: fewer than ``max_server_per_host`` members (rule,
    default 1) may already run on the host."""

    per_instance = True

    def mask(self, table: HostTable, spec: RequestSpec, index: int) -> np.ndarray | None:
        group = spec.instance_group
        if group is None or group.policy != "anti-affinity":
            return None
        mask = table.instance_counts(group.members) < group.max_server_per_host
        if index < len(spec.instance_uuids):
            # A move may land back on the host the instance already occupies.
            mask[table.rows_with_instances([spec.instance_uuids[index]])] = True
        return mask
