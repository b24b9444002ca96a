"""IoOpsFilter: the host is not already busy with too many I/O-heavy operations."""

from __future__ import annotations

from typing import TYPE_CHECKING

from stratus.scheduler.filters.base import BaseFilter

if TYPE_CHECKING:
    import numpy as np

    from stratus.scheduler.host_table import HostTable
    from stratus.scheduler.request_spec import RequestSpec


class IoOpsFilter(BaseFilter):
    per_instance = True

    def mask(self, table: HostTable, spec: RequestSpec, index: int) -> np.ndarray | None:
        return table.num_io_ops < self.config.max_io_ops_per_host
