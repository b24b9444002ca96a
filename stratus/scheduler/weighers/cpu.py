"""CPUWeigher: free vCPUs under the allocation ratio."""

from __future__ import annotations

from typing import TYPE_CHECKING

from stratus.scheduler.weighers.base import BaseWeigher

if TYPE_CHECKING:
    import numpy as np

    from stratus.scheduler.host_table import HostTable
    from stratus.scheduler.request_spec import RequestSpec


class CPUWeigher(BaseWeigher):
    multiplier_option = "cpu_weight_multiplier"

    def raw(self, table: HostTable, spec: RequestSpec, rows: np.ndarray) -> np.ndarray | None:
        return table.vcpu_free[rows]
