"""AllHostsFilter: no filtering at all."""

from __future__ import annotations

from typing import TYPE_CHECKING

from stratus.scheduler.filters.base import BaseFilter

if TYPE_CHECKING:
    import numpy as np

    from stratus.scheduler.host_table import HostTable
    from stratus.scheduler.request_spec import RequestSpec


class AllHostsFilter(BaseFilter):
    def mask(self, table: HostTable, spec: RequestSpec, index: int) -> np.ndarray | None:
        return None
