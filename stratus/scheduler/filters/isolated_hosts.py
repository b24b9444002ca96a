"""IsolatedHostsFilter: keep isolated images and isolated hosts to each other."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from stratus.scheduler.filters.base import BaseFilter

if TYPE_CHECKING:
    from stratus.scheduler.host_table import HostTable
    from stratus.scheduler.request_spec import RequestSpec


class IsolatedHostsFilter(BaseFilter):
    """Images in ``isolated_images`` run only on ``isolated_hosts``; with
    ``restrict_isolated_hosts_to_isolated_images`` those hosts run nothing else."""

    def mask(self, table: HostTable, spec: RequestSpec, index: int) -> np.ndarray | None:
        cfg = self.config
        restrict = cfg.restrict_isolated_hosts_to_isolated_images
        if not cfg.isolated_images:
            return ~self._isolated(table) if restrict and cfg.isolated_hosts else None
        image_isolated = spec.image_id in cfg.isolated_images
        host_isolated = self._isolated(table)
        if restrict:
            return host_isolated if image_isolated else ~host_isolated
        return host_isolated if image_isolated else None

    def _isolated(self, table: HostTable) -> np.ndarray:
        return table.host_mask(self.config.isolated_hosts, match_nodes=False)
