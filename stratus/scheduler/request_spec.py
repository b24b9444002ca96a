"""What a boot request asks of the scheduler, as plain data that travels over RPC."""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from typing import Any

GROUP_POLICIES = ("affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity")

# Hints that carry one value; the API may still wrap them in a one-item list.
_SCALAR_HINTS = frozenset({"group", "query", "build_near_host_ip", "cidr"})


@dataclass
class Flavor:
    vcpus: int
    memory_mb: int
    root_gb: int = 0
    ephemeral_gb: int = 0
    swap: int = 0
    extra_specs: dict[str, str] = field(default_factory=dict)
    name: str | None = None
    flavorid: str | None = None

    @property
    def disk_mb(self) -> int:
        """Disk a placement claims on the host (root + ephemeral; swap is not counted)."""
        return (self.root_gb + self.ephemeral_gb) * 1024

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Flavor:
        return cls(
            vcpus=int(data.get("vcpus", 0)),
            memory_mb=int(data.get("memory_mb", 0)),
            root_gb=int(data.get("root_gb", 0)),
            ephemeral_gb=int(data.get("ephemeral_gb", 0)),
            swap=int(data.get("swap") or 0),
            extra_specs={str(k): str(v) for k, v in (data.get("extra_specs") or {}).items()},
            name=data.get("name"),
            flavorid=data.get("flavorid"),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class InstanceGroup:
    """A server group: its policy, rules and where its members already run."""

    policy: str | None = None
    rules: dict[str, Any] = field(default_factory=dict)
    hosts: list[str] = field(default_factory=list)
    members: list[str] = field(default_factory=list)
    uuid: str | None = None
    name: str | None = None

    @property
    def max_server_per_host(self) -> int:
        return int(self.rules.get("max_server_per_host", 1))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InstanceGroup:
        policy = data.get("policy")
        if policy is None and data.get("policies"):
            policy = data["policies"][0]
        return cls(
            policy=policy,
            rules=dict(data.get("rules") or {}),
            hosts=[str(h) for h in data.get("hosts") or []],
            members=[str(m) for m in data.get("members") or []],
            uuid=data.get("uuid"),
            name=data.get("name"),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RequestSpec:
    """A scheduling request: one flavor and image for ``num_instances`` instances.

    ``force_hosts`` narrows the candidates to the named hosts; it skips the filters
    only when ``is_admin`` is set. ``ignore_hosts`` lists hosts an earlier attempt
    already failed on (RetryFilter).
    """

    flavor: Flavor
    image_id: str | None = None
    image_properties: dict[str, Any] = field(default_factory=dict)
    project_id: str | None = None
    user_id: str | None = None
    availability_zone: str | None = None
    scheduler_hints: dict[str, Any] = field(default_factory=dict)
    force_hosts: list[str] = field(default_factory=list)
    is_admin: bool = False
    num_instances: int = 1
    ignore_hosts: list[str] = field(default_factory=list)
    instance_group: InstanceGroup | None = None
    instance_uuids: list[str] = field(default_factory=list)
    # The physical networks of the instance's flat and vlan networks.
    physical_networks: list[str] = field(default_factory=list)

    def get_hint(self, name: str, default: Any = None) -> Any:
        """A scheduler hint; scalar hints are unwrapped from one-item lists."""
        value = self.scheduler_hints.get(name, default)
        if name in _SCALAR_HINTS and isinstance(value, list | tuple):
            return value[0] if value else default
        return value

    def get_hint_list(self, name: str) -> list[str]:
        """A hint that names instances: always a list (a lone string is one item)."""
        value = self.scheduler_hints.get(name)
        if not value:
            return []
        if isinstance(value, str):
            return [value]
        return [str(v) for v in value]

    def copy(self) -> RequestSpec:
        return copy.deepcopy(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RequestSpec:
        group = data.get("instance_group")
        return cls(
            flavor=Flavor.from_dict(data["flavor"]),
            image_id=data.get("image_id"),
            image_properties=dict(data.get("image_properties") or {}),
            project_id=data.get("project_id"),
            user_id=data.get("user_id"),
            availability_zone=data.get("availability_zone"),
            scheduler_hints=dict(data.get("scheduler_hints") or {}),
            force_hosts=[str(h) for h in data.get("force_hosts") or []],
            is_admin=bool(data.get("is_admin", False)),
            num_instances=int(data.get("num_instances", 1)),
            ignore_hosts=[str(h) for h in data.get("ignore_hosts") or []],
            instance_group=InstanceGroup.from_dict(group) if group else None,
            instance_uuids=[str(u) for u in data.get("instance_uuids") or []],
            physical_networks=[str(p) for p in data.get("physical_networks") or []],
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
