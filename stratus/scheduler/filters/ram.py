"""RamFilter: enough RAM left under the host's RAM allocation ratio."""

from __future__ import annotations

from typing import TYPE_CHECKING

from stratus.scheduler.filters.base import BaseFilter

if TYPE_CHECKING:
    import numpy as np

    from stratus.scheduler.host_table import HostTable
    from stratus.scheduler.request_spec import RequestSpec


class RamFilter(BaseFilter):
    """Passes when ``total * ratio - used >= requested``.

    An instance may overcommit against other instances but never against itself:
    it must also fit in the host's physical RAM.
    """

    per_instance = True

    def mask(self, table: HostTable, spec: RequestSpec, index: int) -> np.ndarray | None:
        return table.ram_fit >= spec.flavor.memory_mb
