"""ComputeCapabilitiesFilter: the host's capabilities satisfy the flavor's extra specs."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from stratus.scheduler import extra_specs
from stratus.scheduler.filters.base import BaseFilter
from stratus.scheduler.signatures import CAPABILITIES, CapabilityInfo, capability_missing

if TYPE_CHECKING:
    import numpy as np

    from stratus.scheduler.host_table import HostTable
    from stratus.scheduler.request_spec import RequestSpec


def resolve_capability(info: CapabilityInfo, path: list[str]) -> Any:
    """Follow ``cpu_info:features``-style paths; ``None`` when any step is missing.

    The first step names a host attribute (hypervisor_type, hypervisor_version,
    cpu_info, arch) or a key of the free-form capabilities; later steps index
    into dicts (JSON text is decoded on the way).
    """
    value = info.lookup(path[0])
    if capability_missing(value):
        return None
    for step in path[1:]:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                return None
        if not isinstance(value, dict):
            return None
        value = value.get(step)
        if value is None:
            return None
    return value


def satisfies(info: CapabilityInfo, specs: dict[str, str]) -> bool:
    for key, requirement in specs.items():
        scope = extra_specs.split_scope(key)
        if len(scope) == 1:
            # An unscoped key is checked only where the host knows it at all.
            if not info.has(key):
                continue
        elif scope[0] != extra_specs.CAPABILITIES_SCOPE:
            continue
        else:
            scope = scope[1:]
        value = resolve_capability(info, scope)
        if value is None or not extra_specs.matches(str(value), requirement):
            return False
    return True


class ComputeCapabilitiesFilter(BaseFilter):
    """Checks ``capabilities:<path>`` extra specs (and unscoped keys the host has)."""

    def mask(self, table: HostTable, spec: RequestSpec, index: int) -> np.ndarray | None:
        specs = spec.flavor.extra_specs
        if not specs:
            return None
        frozen = dict(specs)
        return table.signature_mask(
            CAPABILITIES,
            ("capabilities", tuple(sorted(frozen.items()))),
            lambda info: satisfies(info, frozen),
        )
