"""NumInstancesFilter and AggregateNumInstancesFilter: cap instances per host."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from stratus.scheduler.filters.base import BaseFilter
from stratus.scheduler.signatures import AGGREGATES, AggregateInfo

if TYPE_CHECKING:
    from stratus.scheduler.host_table import HostTable
    from stratus.scheduler.request_spec import RequestSpec


class NumInstancesFilter(BaseFilter):
    per_instance = True

    def mask(self, table: HostTable, spec: RequestSpec, index: int) -> np.ndarray | None:
        return table.num_instances < self.config.max_instances_per_host


class AggregateNumInstancesFilter(BaseFilter):
    """Like NumInstancesFilter, with the limit taken from the aggregates'
    ``max_instances_per_host`` metadata (the lowest) where they set one."""

    per_instance = True

    def mask(self, table: HostTable, spec: RequestSpec, index: int) -> np.ndarray | None:
        default = self.config.max_instances_per_host

        def limit(info: AggregateInfo) -> int:
            value = info.max_instances_per_host
            return default if value is None else value

        limits = table.signature_column(AGGREGATES, ("max_instances", default), limit, np.int64)
        return table.num_instances < limits
