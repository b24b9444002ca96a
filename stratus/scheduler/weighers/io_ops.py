"""IoOpsWeigher: concurrent I/O-heavy operations (the negative default prefers idle hosts)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from stratus.scheduler.weighers.base import BaseWeigher

if TYPE_CHECKING:
    import numpy as np

    from stratus.scheduler.host_table import HostTable
    from stratus.scheduler.request_spec import RequestSpec


class IoOpsWeigher(BaseWeigher):
    multiplier_option = "io_ops_weight_multiplier"

    def raw(self, table: HostTable, spec: RequestSpec, rows: np.ndarray) -> np.ndarray | None:
        return table.num_io_ops[rows]
