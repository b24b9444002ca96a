"""BuildFailureWeigher: push hosts that recently failed builds to the back."""

from __future__ import annotations

from typing import TYPE_CHECKING

from stratus.scheduler.weighers.base import BaseWeigher

if TYPE_CHECKING:
    import numpy as np

    from stratus.scheduler.host_table import HostTable
    from stratus.scheduler.request_spec import RequestSpec


class BuildFailureWeigher(BaseWeigher):
    """Each failure counts against the host with ``build_failure_weight_multiplier``."""

    multiplier_option = "build_failure_weight_multiplier"
    negate = True

    def raw(self, table: HostTable, spec: RequestSpec, rows: np.ndarray) -> np.ndarray | None:
        if not table.failed_builds.any():
            return None
        return table.failed_builds[rows]
