"""Interned per-signature information: what many hosts share, worked out once.

Hosts with identical aggregates (plus their own availability zone) share one
*aggregate signature* (``AggregateInfo``); hosts that report the same hypervisor
one *capability signature* (``CapabilityInfo``). ``HostTable`` keeps a signature
column per kind, so that a request-shape predicate is evaluated once per distinct
signature and spread over the rows through a cached lookup table.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from stratus.scheduler.canonical import canonical_arch, canonical_hv_type, canonical_vm_mode
from stratus.scheduler.host_record import Aggregate, HostRecord

AGGREGATES = "aggregates"
CAPABILITIES = "capabilities"

# Host attributes a capabilities-scoped extra spec may name before falling back to
# the free-form ``capabilities`` dict (Nova's host_state attributes, then stats).
CAPABILITY_ATTRIBUTES = ("hypervisor_type", "hypervisor_version", "cpu_info", "arch")


def _min_number(values: Iterable[str], cast: Callable[[str], Any]) -> Any:
    """Nova's validate_num_values: the minimum, None if absent or not all numbers."""
    values = list(values)
    if not values:
        return None
    try:
        return min(cast(v) for v in values)
    except ValueError:
        return None


@dataclass(frozen=True)
class AggregateInfo:
    """What a set of aggregates (plus the host's own zone) means to the filters."""

    aggregates: tuple[Aggregate, ...]
    metadata: dict[str, frozenset[str]]
    zones: frozenset[str]
    cpu_allocation_ratio: float | None
    ram_allocation_ratio: float | None
    disk_allocation_ratio: float | None
    max_instances_per_host: int | None
    tenant_ids: frozenset[str]

    @classmethod
    def build(
        cls, aggregates: Sequence[Aggregate], own_zone: str | None, default_zone: str
    ) -> AggregateInfo:
        metadata: dict[str, set[str]] = {}
        raw: dict[str, set[str]] = {}
        for agg in aggregates:
            for key, value in agg.metadata.items():
                raw.setdefault(key, set()).add(value)
                metadata.setdefault(key, set()).update(p.strip() for p in value.split(","))
        if "availability_zone" in metadata:
            zones = frozenset(metadata["availability_zone"])
        else:
            zones = frozenset({own_zone or default_zone})
        tenants: set[str] = set()
        for key, values in metadata.items():
            if key.startswith("filter_tenant_id"):
                tenants.update(values)
        return cls(
            aggregates=tuple(aggregates),
            metadata={k: frozenset(v) for k, v in metadata.items()},
            zones=zones,
            cpu_allocation_ratio=_min_number(raw.get("cpu_allocation_ratio", ()), float),
            ram_allocation_ratio=_min_number(raw.get("ram_allocation_ratio", ()), float),
            disk_allocation_ratio=_min_number(raw.get("disk_allocation_ratio", ()), float),
            max_instances_per_host=_min_number(raw.get("max_instances_per_host", ()), int),
            tenant_ids=frozenset(tenants),
        )


_MISSING = object()


@dataclass(frozen=True)
class CapabilityInfo:
    """A host's hypervisor description, shared by all hosts that report the same one."""

    hypervisor_type: str | None
    hypervisor_version: int
    arch: str | None
    cpu_info: dict[str, Any]
    capabilities: dict[str, Any]
    supported_instances: tuple[tuple[str | None, str | None, str | None], ...]

    @classmethod
    def from_record(cls, record: HostRecord) -> CapabilityInfo:
        triples = record.supported_instances or (
            [(record.arch, record.hypervisor_type, "hvm")]
            if record.arch or record.hypervisor_type
            else []
        )
        return cls(
            hypervisor_type=record.hypervisor_type,
            hypervisor_version=int(record.hypervisor_version or 0),
            arch=record.arch,
            cpu_info=dict(record.cpu_info or {}),
            capabilities=dict(record.capabilities or {}),
            supported_instances=tuple(
                (canonical_arch(a), canonical_hv_type(h), canonical_vm_mode(m))
                for a, h, m in triples
            ),
        )

    @staticmethod
    def key(record: HostRecord) -> Hashable:
        """What makes two records' capabilities the same (cheap; no info built)."""
        return (
            record.hypervisor_type,
            record.hypervisor_version,
            record.arch,
            _freeze(record.cpu_info),
            _freeze(record.capabilities),
            _freeze(record.supported_instances),
        )

    def has(self, name: str) -> bool:
        return name in CAPABILITY_ATTRIBUTES or name in self.capabilities

    def lookup(self, name: str) -> Any:
        """A top-level capability: a known attribute, else a ``capabilities`` key.

        Returns ``_MISSING`` when the host has no such capability at all.
        """
        if name in CAPABILITY_ATTRIBUTES:
            value = getattr(self, name)
            if value is not None:
                return value
        return self.capabilities.get(name, _MISSING)


def _freeze(value: Any) -> Hashable:
    """A hashable stand-in for JSON-like data that keeps 1, 1.0 and True apart."""
    if isinstance(value, dict):
        return ("dict", tuple(sorted(((str(k), _freeze(v)) for k, v in value.items()))))
    if isinstance(value, list | tuple):
        return ("list", tuple(_freeze(v) for v in value))
    return (type(value).__name__, value if isinstance(value, Hashable) else repr(value))


def capability_missing(value: Any) -> bool:
    return value is _MISSING


@dataclass
class Lut:
    """A cached per-signature lookup table for one request shape."""

    compute: Callable[[Any], Any]
    values: np.ndarray
    column: np.ndarray | None = None
    version: int = -1


class Interner:
    """Signature numbers for keys: equal keys share one number and one info object."""

    def __init__(self) -> None:
        self.index: dict[Hashable, int] = {}
        self.items: list[Any] = []

    def intern(self, key: Hashable, make: Callable[[], Any]) -> int:
        sig = self.index.get(key)
        if sig is None:
            sig = len(self.items)
            self.index[key] = sig
            self.items.append(make())
        return sig
