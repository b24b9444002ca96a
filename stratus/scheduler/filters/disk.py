"""DiskFilter: enough local disk left under the host's disk allocation ratio."""

from __future__ import annotations

from typing import TYPE_CHECKING

from stratus.scheduler.filters.base import BaseFilter

if TYPE_CHECKING:
    import numpy as np

    from stratus.scheduler.host_table import HostTable
    from stratus.scheduler.request_spec import RequestSpec


class DiskFilter(BaseFilter):
    """Passes when root + ephemeral + swap fits in ``total * ratio - used`` (in MB)."""

    per_instance = True

    def mask(self, table: HostTable, spec: RequestSpec, index: int) -> np.ndarray | None:
        flavor = spec.flavor
        return table.disk_fit >= 1024 * (flavor.root_gb + flavor.ephemeral_gb) + flavor.swap
