"""AggregateMultiTenancyIsolation: aggregates reserved for some projects."""

from __future__ import annotations

from typing import TYPE_CHECKING

from stratus.scheduler.filters.base import BaseFilter
from stratus.scheduler.signatures import AGGREGATES

if TYPE_CHECKING:
    import numpy as np

    from stratus.scheduler.host_table import HostTable
    from stratus.scheduler.request_spec import RequestSpec


class AggregateMultiTenancyIsolation(BaseFilter):
    """A host in an aggregate with ``filter_tenant_id*`` metadata (comma-separated
    project IDs) only takes instances of those projects; other hosts take anyone's."""

    def mask(self, table: HostTable, spec: RequestSpec, index: int) -> np.ndarray | None:
        project = spec.project_id
        return table.signature_mask(
            AGGREGATES,
            ("tenant", project),
            lambda info: not info.tenant_ids or project in info.tenant_ids,
        )
