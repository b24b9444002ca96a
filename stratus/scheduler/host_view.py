"""One row of the host table seen as an object with Nova's host-state names."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stratus.scheduler.host_record import Aggregate
    from stratus.scheduler.host_table import HostTable
    from stratus.scheduler.signatures import CapabilityInfo


class HostStateView:
    """One row seen as an object with Nova's host-state attribute names.

    Used where a rule needs one host at a time (JsonFilter's generic path).
    """

    __slots__ = ("_table", "_row")

    def __init__(self, table: HostTable, row: int) -> None:
        self._table = table
        self._row = row

    def _caps(self) -> CapabilityInfo:
        return self._table.capability_info(self._row)

    @property
    def host(self) -> str:
        return self._table.names[self._row]

    @property
    def nodename(self) -> str:
        return self._table.nodenames[self._row]

    hypervisor_hostname = nodename

    @property
    def host_ip(self) -> str | None:
        return self._table.host_ips[self._row]

    @property
    def free_ram_mb(self) -> int:
        return int(self._table.free_ram[self._row])

    @property
    def free_disk_mb(self) -> int:
        return int(self._table.free_disk_mb[self._row])

    @property
    def total_usable_ram_mb(self) -> int:
        return int(self._table.ram_total[self._row])

    @property
    def total_usable_disk_gb(self) -> int:
        return int(self._table.disk_total_mb[self._row]) // 1024

    @property
    def vcpus_total(self) -> int:
        return int(self._table.vcpus_total[self._row])

    @property
    def vcpus_used(self) -> int:
        return int(self._table.vcpus_used[self._row])

    @property
    def num_instances(self) -> int:
        return int(self._table.num_instances[self._row])

    @property
    def num_io_ops(self) -> int:
        return int(self._table.num_io_ops[self._row])

    @property
    def failed_builds(self) -> int:
        return int(self._table.failed_builds[self._row])

    @property
    def cpu_allocation_ratio(self) -> float:
        return float(self._table.cpu_ratio[self._row])

    @property
    def ram_allocation_ratio(self) -> float:
        return float(self._table.ram_ratio[self._row])

    @property
    def disk_allocation_ratio(self) -> float:
        return float(self._table.disk_ratio[self._row])

    @property
    def hypervisor_type(self) -> str | None:
        return self._caps().hypervisor_type

    @property
    def hypervisor_version(self) -> int:
        return self._caps().hypervisor_version

    @property
    def arch(self) -> str | None:
        return self._caps().arch

    @property
    def cpu_info(self) -> dict[str, Any]:
        return self._caps().cpu_info

    @property
    def capabilities(self) -> dict[str, Any]:
        return self._caps().capabilities

    stats = capabilities

    @property
    def instances(self) -> dict[str, str | None]:
        return self._table.instances(self._row)

    @property
    def aggregates(self) -> tuple[Aggregate, ...]:
        return self._table.aggregate_info(self._row).aggregates
