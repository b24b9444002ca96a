"""AggregateInstanceExtraSpecsFilter: aggregate metadata satisfies the flavor's extra specs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from stratus.scheduler import extra_specs
from stratus.scheduler.filters.base import BaseFilter
from stratus.scheduler.signatures import AGGREGATES, AggregateInfo

if TYPE_CHECKING:
    import numpy as np

    from stratus.scheduler.host_table import HostTable
    from stratus.scheduler.request_spec import RequestSpec


def satisfies(info: AggregateInfo, specs: dict[str, str]) -> bool:
    for key, requirement in specs.items():
        scope = extra_specs.split_scope(key, 1)
        if len(scope) > 1:
            if scope[0] != extra_specs.AGGREGATE_SCOPE:
                continue
            key = scope[1]
        values = info.metadata.get(key)
        if not values:
            return False
        if not any(extra_specs.matches(value, requirement) for value in values):
            return False
    return True


class AggregateInstanceExtraSpecsFilter(BaseFilter):
    """Checks ``aggregate_instance_extra_specs:<key>`` and unscoped extra specs
    against the metadata of the host's aggregates (any one value may match)."""

    def mask(self, table: HostTable, spec: RequestSpec, index: int) -> np.ndarray | None:
        specs = spec.flavor.extra_specs
        if not specs:
            return None
        frozen = dict(specs)
        return table.signature_mask(
            AGGREGATES,
            ("extra_specs", tuple(sorted(frozen.items()))),
            lambda info: satisfies(info, frozen),
        )
