"""CoreFilter: enough vCPUs left under the host's CPU allocation ratio."""

from __future__ import annotations

from typing import TYPE_CHECKING

from stratus.scheduler.filters.base import BaseFilter

if TYPE_CHECKING:
    import numpy as np

    from stratus.scheduler.host_table import HostTable
    from stratus.scheduler.request_spec import RequestSpec


class CoreFilter(BaseFilter):
    """Passes when ``vcpus * ratio - vcpus_used >= requested``.

    As in Nova, a host reporting no vCPUs at all passes (its driver cannot count
    them), and an instance never gets more vCPUs than the host has.
    """

    per_instance = True

    def mask(self, table: HostTable, spec: RequestSpec, index: int) -> np.ndarray | None:
        return table.vcpu_fit >= spec.flavor.vcpus
