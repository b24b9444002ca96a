"""RetryFilter: skip hosts an earlier attempt of this request already failed on."""

from __future__ import annotations

from typing import TYPE_CHECKING

from stratus.scheduler.filters.base import BaseFilter

if TYPE_CHECKING:
    import numpy as np

    from stratus.scheduler.host_table import HostTable
    from stratus.scheduler.request_spec import RequestSpec


class RetryFilter(BaseFilter):
    def mask(self, table: HostTable, spec: RequestSpec, index: int) -> np.ndarray | None:
        if not spec.ignore_hosts:
            return None
        return ~table.host_mask(spec.ignore_hosts)
