"""Small builders for scheduler tests."""

from __future__ import annotations

from typing import Any

from stratus.scheduler import (
    FilterScheduler,
    Flavor,
    HostRecord,
    HostTable,
    RequestSpec,
    SchedulerConfig,
)


def host(name: str, **kwargs: Any) -> HostRecord:
    values: dict[str, Any] = {
        "vcpus": 8,
        "memory_mb": 8192,
        "local_gb": 100,
        "hypervisor_type": "QEMU",
        "hypervisor_version": 8002000,
        "arch": "x86_64",
    }
    values.update(kwargs)
    return HostRecord(host=name, **values)


def spec(vcpus: int = 1, memory_mb: int = 512, root_gb: int = 1, **kwargs: Any) -> RequestSpec:
    flavor_keys = {"ephemeral_gb", "swap", "extra_specs"}
    flavor = Flavor(
        vcpus=vcpus,
        memory_mb=memory_mb,
        root_gb=root_gb,
        **{k: kwargs.pop(k) for k in list(kwargs) if k in flavor_keys},
    )
    return RequestSpec(flavor=flavor, **kwargs)


def config(**kwargs: Any) -> SchedulerConfig:
    return SchedulerConfig.from_dict(kwargs)


def passing(
    filter_name: str, records: list[HostRecord], request: RequestSpec, **options: Any
) -> list[str]:
    """Names of the hosts that pass one filter alone."""
    cfg = config(enabled_filters=[filter_name], **options)
    table = HostTable(records, cfg)
    rows, _ = FilterScheduler(cfg).filter_hosts(table, request)
    return [str(table.names[r]) for r in rows]
