"""ImagePropertiesFilter: the host can run what the image says it needs."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from stratus.scheduler.canonical import canonical_arch, canonical_hv_type, canonical_vm_mode
from stratus.scheduler.filters.base import BaseFilter
from stratus.scheduler.signatures import CAPABILITIES, CapabilityInfo

if TYPE_CHECKING:
    import numpy as np

    from stratus.scheduler.host_table import HostTable
    from stratus.scheduler.request_spec import RequestSpec

_VERSION_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
}
_CLAUSE = re.compile(r"^\s*(<=|>=|==|!=|<|>)?\s*(\d+(?:\.\d+)*)\s*$")


def version_to_tuple(version: int) -> tuple[int, ...]:
    """A packed hypervisor version (major * 1000000 + minor * 1000 + micro) as numbers."""
    parts: list[int] = []
    while version:
        parts.insert(0, version % 1000)
        version //= 1000
    return tuple(parts)


def version_satisfies(version: int, requirement: str) -> bool:
    """Whether ``version`` meets e.g. ``">=6.0"`` or ``">= 6.0, < 8"``.

    A clause without an operator means ``==``; an unreadable requirement matches
    nothing.
    """
    have = version_to_tuple(version)
    for clause in requirement.split(","):
        found = _CLAUSE.match(clause)
        if not found:
            return False
        op, text = found.group(1) or "==", found.group(2)
        want = tuple(int(p) for p in text.split("."))
        width = max(len(have), len(want), 3)
        left = have + (0,) * (width - len(have))
        right = want + (0,) * (width - len(want))
        if not _VERSION_OPS[op](left, right):
            return False
    return True


def image_requirements(
    properties: dict[str, Any],
) -> tuple[str | None, str | None, str | None, str | None]:
    """(arch, hypervisor type, vm mode, version requirement) an image asks for.

    Both the current property names (``hw_architecture``, ``img_hv_type``,
    ``hw_vm_mode``, ``img_hv_requested_version``) and the older ones
    (``architecture``, ``hypervisor_type``, ``vm_mode``,
    ``hypervisor_version_requires``) are read.
    """
    return (
        canonical_arch(properties.get("hw_architecture") or properties.get("architecture")),
        canonical_hv_type(properties.get("img_hv_type") or properties.get("hypervisor_type")),
        canonical_vm_mode(properties.get("hw_vm_mode") or properties.get("vm_mode")),
        properties.get("img_hv_requested_version") or properties.get("hypervisor_version_requires"),
    )


class ImagePropertiesFilter(BaseFilter):
    """Passes hosts advertising a supported (arch, hypervisor type, vm mode) triple
    that contains every one the image names, on a new enough hypervisor."""

    def mask(self, table: HostTable, spec: RequestSpec, index: int) -> np.ndarray | None:
        arch, hv_type, vm_mode, version_req = image_requirements(spec.image_properties)
        if not (arch or hv_type or vm_mode):
            return None
        wanted = tuple(p for p in (arch, hv_type, vm_mode) if p)

        def supported(info: CapabilityInfo) -> bool:
            for triple in info.supported_instances:
                if all(p in triple for p in wanted) and (
                    not (info.hypervisor_version and version_req)
                    or version_satisfies(info.hypervisor_version, str(version_req))
                ):
                    return True
            return False

        return table.signature_mask(
            CAPABILITIES, ("image", arch, hv_type, vm_mode, version_req), supported
        )
