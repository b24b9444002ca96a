"""AvailabilityZoneFilter: the host is in the requested availability zone."""

from __future__ import annotations

from typing import TYPE_CHECKING

from stratus.scheduler.filters.base import BaseFilter
from stratus.scheduler.signatures import AGGREGATES

if TYPE_CHECKING:
    import numpy as np

    from stratus.scheduler.host_table import HostTable
    from stratus.scheduler.request_spec import RequestSpec


class AvailabilityZoneFilter(BaseFilter):
    """A host's zones come from its aggregates' ``availability_zone`` metadata, else
    from its own record, else the default zone."""

    def mask(self, table: HostTable, spec: RequestSpec, index: int) -> np.ndarray | None:
        zone = spec.availability_zone
        if not zone:
            return None
        return table.signature_mask(AGGREGATES, ("az", zone), lambda info: zone in info.zones)
