"""One compute node, and its host aggregates, as plain data.

What a loader builds from database rows (``stratus.scheduler.loader``) or the
planner from hypervisor dicts (``stratus.scheduler.planner``), and what
``HostTable`` is made of.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Aggregate:
    """A host aggregate as the scheduler sees it: an identity and its metadata."""

    name: str
    metadata: dict[str, str] = field(default_factory=dict)
    id: int | str | None = None

    @property
    def key(self) -> int | str:
        return self.id if self.id is not None else self.name

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Aggregate:
        metadata = {str(k): str(v) for k, v in (data.get("metadata") or {}).items()}
        if data.get("availability_zone") and "availability_zone" not in metadata:
            metadata["availability_zone"] = str(data["availability_zone"])
        return cls(
            name=str(data.get("name", data.get("id", ""))), metadata=metadata, id=data.get("id")
        )


@dataclass
class HostRecord:
    """One compute node. Sizes are in the units the compute API reports them.

    ``*_allocation_ratio`` of ``None`` (or 0) means the scheduler's default;
    aggregates may lower it further through their metadata. ``num_instances`` of
    ``None`` means ``len(instances)``. ``supported_instances`` lists
    ``(arch, hypervisor_type, vm_mode)`` triples; empty means one triple made of
    ``arch`` and ``hypervisor_type`` in ``hvm`` mode.
    """

    host: str
    nodename: str | None = None
    uuid: str | None = None
    vcpus: int = 0
    vcpus_used: int = 0
    memory_mb: int = 0
    memory_mb_used: int = 0
    local_gb: int = 0
    local_gb_used: int = 0
    disk_available_least: int | None = None
    cpu_allocation_ratio: float | None = None
    ram_allocation_ratio: float | None = None
    disk_allocation_ratio: float | None = None
    service_up: bool = True
    service_disabled: bool = False
    availability_zone: str | None = None
    aggregates: list[Aggregate] = field(default_factory=list)
    hypervisor_type: str | None = None
    hypervisor_version: int = 0
    cpu_info: dict[str, Any] = field(default_factory=dict)
    arch: str | None = None
    supported_instances: list[tuple[str | None, str | None, str | None]] = field(
        default_factory=list
    )
    capabilities: dict[str, Any] = field(default_factory=dict)
    num_instances: int | None = None
    num_io_ops: int = 0
    host_ip: str | None = None
    instances: dict[str, str | None] = field(default_factory=dict)
    failed_builds: int = 0

    def __post_init__(self) -> None:
        if not self.nodename:
            self.nodename = self.host

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HostRecord:
        data = dict(data)
        data["aggregates"] = [
            a if isinstance(a, Aggregate) else Aggregate.from_dict(a)
            for a in data.get("aggregates") or []
        ]
        data["supported_instances"] = [tuple(t) for t in data.get("supported_instances") or []]
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in known})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
