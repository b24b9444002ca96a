"""The scheduler's in-memory view of every compute node, column by column.

``HostTable`` holds many ``HostRecord``s so that filters and weighers work on
whole numpy arrays:

* numeric state (capacity, usage, effective allocation ratios and limits, counters)
  lives in one array per quantity;
* aggregate membership (with the host's availability zone) and hypervisor
  capabilities are interned into signatures (``stratus.scheduler.signatures``): a
  request-shape predicate (an extra-spec set, an image, a zone) is evaluated once
  per distinct signature and cached, and the per-host mask is a lookup through
  the signature column;
* instances are indexed uuid -> row for the affinity filters.

``update_host`` rewrites one row in place; ``consume`` charges one placement to a
row so that instance k+1 of a request sees instance k. Nothing is rebuilt per
request. The table is not thread-safe: one scheduling decision (and one update)
at a time.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from stratus.scheduler.host_record import Aggregate, HostRecord
from stratus.scheduler.host_view import HostStateView
from stratus.scheduler.request_spec import Flavor
from stratus.scheduler.signatures import (
    AGGREGATES,
    CAPABILITIES,
    AggregateInfo,
    CapabilityInfo,
    Interner,
    Lut,
)

_MASK64 = (1 << 64) - 1
_LUT_CACHE_SIZE = 1024


class HostDefaults(Protocol):
    """What a table needs from configuration (``SchedulerConfig`` provides it)."""

    cpu_allocation_ratio: float
    ram_allocation_ratio: float
    disk_allocation_ratio: float
    default_availability_zone: str


@dataclass(frozen=True)
class DefaultHostSettings:
    cpu_allocation_ratio: float = 16.0
    ram_allocation_ratio: float = 1.5
    disk_allocation_ratio: float = 1.0
    default_availability_zone: str = "nova"


# -- the table -------------------------------------------------------------------------

_INT_COLUMNS = (
    "vcpus_total",
    "vcpus_used",
    "ram_total",
    "free_ram",
    "disk_total_mb",
    "free_disk_mb",
    "num_instances",
    "num_io_ops",
    "failed_builds",
)
_FLOAT_COLUMNS = (
    "cpu_ratio",
    "ram_ratio",
    "disk_ratio",
    "vcpu_limit",
    "ram_limit",
    "disk_limit_mb",
    "vcpu_free",
    "vcpu_fit",
    "ram_fit",
    "disk_fit",
)
_COLUMNS: tuple[tuple[str, Any], ...] = (
    *((name, np.int64) for name in _INT_COLUMNS),
    *((name, np.float64) for name in _FLOAT_COLUMNS),
    ("live", bool),
    ("up", bool),
    ("enabled", bool),
    ("agg_sig", np.int32),
    ("cap_sig", np.int32),
    ("ip_version", np.int8),
    ("ip_hi", np.uint64),
    ("ip_lo", np.uint64),
    ("names", object),
    ("nodenames", object),
    ("host_ips", object),
)


class HostTable:
    """Columnar state of all compute nodes; rows are addressed by integer index.

    Besides the reported quantities it keeps, per row, what one more instance may
    take: ``ram_fit``/``disk_fit`` (MB) and ``vcpu_fit`` are the smaller of the
    physical total (an instance never overcommits against itself) and what the
    allocation ratio leaves; ``vcpu_free`` is vCPUs left under the ratio. They are
    refreshed whenever the row changes, so a capacity filter is one comparison.

    Removed hosts leave a dead row (``live`` is False) that filters never pass.
    """

    vcpus_total: np.ndarray
    vcpus_used: np.ndarray
    ram_total: np.ndarray
    free_ram: np.ndarray
    disk_total_mb: np.ndarray
    free_disk_mb: np.ndarray
    num_instances: np.ndarray
    num_io_ops: np.ndarray
    failed_builds: np.ndarray
    cpu_ratio: np.ndarray
    ram_ratio: np.ndarray
    disk_ratio: np.ndarray
    vcpu_limit: np.ndarray
    ram_limit: np.ndarray
    disk_limit_mb: np.ndarray
    vcpu_free: np.ndarray
    vcpu_fit: np.ndarray
    ram_fit: np.ndarray
    disk_fit: np.ndarray
    live: np.ndarray
    up: np.ndarray
    enabled: np.ndarray
    agg_sig: np.ndarray
    cap_sig: np.ndarray
    ip_version: np.ndarray
    ip_hi: np.ndarray
    ip_lo: np.ndarray
    names: np.ndarray
    nodenames: np.ndarray
    host_ips: np.ndarray

    def __init__(
        self, records: Iterable[HostRecord] = (), defaults: HostDefaults | None = None
    ) -> None:
        self.defaults: HostDefaults = defaults or DefaultHostSettings()
        records = list(records)
        self._records: list[HostRecord | None] = []
        self._row_instances: list[dict[str, str | None]] = []
        self._rows: dict[str, int] = {}
        self._node_rows: dict[str, int] = {}
        self._instance_rows: dict[str, int] = {}
        self._sigs = {AGGREGATES: Interner(), CAPABILITIES: Interner()}
        self._sig_version = {AGGREGATES: 0, CAPABILITIES: 0}
        self._luts: OrderedDict[tuple[str, Hashable], Lut] = OrderedDict()
        self._used: dict[str, tuple[int, np.ndarray]] = {}
        self._name_rank: np.ndarray | None = None
        self._allocate(len(records))
        self._records.extend([None] * len(records))
        self._row_instances.extend({} for _ in records)
        self._expose()
        for row, record in enumerate(records):
            if record.host in self._rows:
                raise ValueError(f"duplicate host {record.host!r}")
            self._write_row(row, record)

    # -- storage -------------------------------------------------------------------

    @property
    def size(self) -> int:
        """Number of rows, dead ones included."""
        return len(self._records)

    def __len__(self) -> int:
        return len(self._rows)

    def _allocate(self, capacity: int) -> None:
        for name, dtype in _COLUMNS:
            if dtype is object:
                buffer = np.full(capacity, None, dtype=object)
            else:
                buffer = np.zeros(capacity, dtype=dtype)
            self.__dict__[f"_full_{name}"] = buffer
        self._capacity = capacity
        self._expose()

    def _grow(self, extra: int) -> None:
        """Make room for ``extra`` more rows (amortised doubling)."""
        need = len(self._records) + extra
        if need <= self._capacity:
            return
        capacity = max(need, 2 * self._capacity, 16)
        for name, dtype in _COLUMNS:
            old = self.__dict__[f"_full_{name}"]
            if dtype is object:
                buffer = np.full(capacity, None, dtype=object)
            else:
                buffer = np.zeros(capacity, dtype=dtype)
            buffer[: len(old)] = old
            self.__dict__[f"_full_{name}"] = buffer
        self._capacity = capacity
        self._expose()

    def _expose(self) -> None:
        """Point the public column attributes at the used prefix of the buffers."""
        n = len(self._records)
        for name, _ in _COLUMNS:
            self.__dict__[name] = self.__dict__[f"_full_{name}"][:n]

    def _add_row(self, record: HostRecord) -> int:
        self._grow(1)
        row = len(self._records)
        self._records.append(None)
        self._row_instances.append({})
        self._expose()
        self._write_row(row, record)
        self._name_rank = None
        for kind in self._sig_version:
            self._sig_version[kind] += 1
        return row

    def _write_row(self, row: int, record: HostRecord) -> None:
        d = self.defaults
        old = self._records[row]
        if old is not None:
            for uuid in self._row_instances[row]:
                if self._instance_rows.get(uuid) == row:
                    del self._instance_rows[uuid]
            if self._node_rows.get(old.nodename or old.host) == row:
                del self._node_rows[old.nodename or old.host]
        self._records[row] = record
        self._rows[record.host] = row
        self._node_rows[record.nodename or record.host] = row
        instances = dict(record.instances)
        self._row_instances[row] = instances
        for uuid in instances:
            self._instance_rows[uuid] = row

        agg_sig = self._sigs[AGGREGATES].intern(
            (
                tuple(
                    sorted(
                        ((str(a.key), tuple(sorted(a.metadata.items()))) for a in record.aggregates)
                    )
                ),
                record.availability_zone,
            ),
            lambda: AggregateInfo.build(
                record.aggregates, record.availability_zone, d.default_availability_zone
            ),
        )
        cap_sig = self._sigs[CAPABILITIES].intern(
            CapabilityInfo.key(record), lambda: CapabilityInfo.from_record(record)
        )
        info: AggregateInfo = self._sigs[AGGREGATES].items[agg_sig]
        if self.agg_sig[row] != agg_sig or old is None:
            self._sig_version[AGGREGATES] += 1
        if self.cap_sig[row] != cap_sig or old is None:
            self._sig_version[CAPABILITIES] += 1
        self.agg_sig[row] = agg_sig
        self.cap_sig[row] = cap_sig

        cpu_ratio = info.cpu_allocation_ratio
        if cpu_ratio is None:
            cpu_ratio = record.cpu_allocation_ratio or d.cpu_allocation_ratio
        ram_ratio = info.ram_allocation_ratio
        if ram_ratio is None:
            ram_ratio = record.ram_allocation_ratio or d.ram_allocation_ratio
        disk_ratio = info.disk_allocation_ratio
        if disk_ratio is None:
            disk_ratio = record.disk_allocation_ratio or d.disk_allocation_ratio
        free_gb = record.local_gb - record.local_gb_used
        if record.disk_available_least is not None:
            free_gb = min(free_gb, record.disk_available_least)

        self.live[row] = True
        self.up[row] = bool(record.service_up)
        self.enabled[row] = not record.service_disabled
        self.vcpus_total[row] = record.vcpus
        self.vcpus_used[row] = record.vcpus_used
        self.ram_total[row] = record.memory_mb
        self.free_ram[row] = record.memory_mb - record.memory_mb_used
        self.disk_total_mb[row] = record.local_gb * 1024
        self.free_disk_mb[row] = free_gb * 1024
        self.num_instances[row] = (
            len(instances) if record.num_instances is None else record.num_instances
        )
        self.num_io_ops[row] = record.num_io_ops
        self.failed_builds[row] = record.failed_builds
        self.cpu_ratio[row] = cpu_ratio
        self.ram_ratio[row] = ram_ratio
        self.disk_ratio[row] = disk_ratio
        # Same float operations, in the same order, as the per-host rules.
        self.vcpu_limit[row] = record.vcpus * cpu_ratio
        self.ram_limit[row] = record.memory_mb * ram_ratio
        self.disk_limit_mb[row] = (record.local_gb * 1024) * disk_ratio
        self.names[row] = record.host
        self.nodenames[row] = record.nodename
        self.host_ips[row] = record.host_ip
        version, hi, lo = 0, 0, 0
        if record.host_ip:
            try:
                address = ipaddress.ip_address(str(record.host_ip))
            except ValueError:
                pass
            else:
                version, value = address.version, int(address)
                hi, lo = value >> 64, value & _MASK64
        self.ip_version[row] = version
        self.ip_hi[row] = hi
        self.ip_lo[row] = lo
        self._refresh(row)

    def _refresh(self, row: int) -> None:
        """Recompute one row's headroom columns from its capacity and usage."""
        # The same float operations, in the same order, as the per-host rules:
        # usable = total * ratio - (total - free).
        ram_total = int(self.ram_total[row])
        ram_used = ram_total - int(self.free_ram[row])
        self.ram_fit[row] = min(ram_total, float(self.ram_limit[row]) - ram_used)
        disk_total = int(self.disk_total_mb[row])
        disk_used = disk_total - int(self.free_disk_mb[row])
        self.disk_fit[row] = min(disk_total, float(self.disk_limit_mb[row]) - disk_used)
        vcpus = int(self.vcpus_total[row])
        free = float(self.vcpu_limit[row]) - int(self.vcpus_used[row])
        self.vcpu_free[row] = free
        # A host that reports no vCPUs at all is not limited (Nova's fail-safe).
        self.vcpu_fit[row] = math.inf if vcpus == 0 else min(vcpus, free)

    # -- maintenance (called by loaders) ----------------------------------------------

    def update_host(self, record: HostRecord) -> int:
        """Insert or replace one host's state; returns its row."""
        row = self._rows.get(record.host)
        if row is None:
            return self._add_row(record)
        self._write_row(row, record)
        return row

    def remove_host(self, host: str) -> bool:
        row = self._rows.pop(host, None)
        if row is None:
            return False
        record = self._records[row]
        assert record is not None
        for uuid in self._row_instances[row]:
            if self._instance_rows.get(uuid) == row:
                del self._instance_rows[uuid]
        if self._node_rows.get(record.nodename or host) == row:
            del self._node_rows[record.nodename or host]
        self._row_instances[row] = {}
        self.live[row] = False
        for kind in self._sig_version:
            self._sig_version[kind] += 1
        return True

    def update_aggregate(self, aggregate: Aggregate) -> list[int]:
        """Replace an aggregate's metadata on every host that belongs to it."""
        touched = []
        for row in list(self._rows.values()):
            record = self._records[row]
            assert record is not None
            if any(a.key == aggregate.key for a in record.aggregates):
                aggregates = [aggregate if a.key == aggregate.key else a for a in record.aggregates]
                touched.append(self.update_host(dataclasses.replace(record, aggregates=aggregates)))
        return touched

    def set_service_state(
        self, host: str, *, up: bool | None = None, disabled: bool | None = None
    ) -> None:
        row = self._rows[host]
        record = self._records[row]
        assert record is not None
        if up is not None:
            record.service_up = up
            self.up[row] = up
        if disabled is not None:
            record.service_disabled = disabled
            self.enabled[row] = not disabled

    # -- placement accounting --------------------------------------------------------

    def consume(
        self,
        index: int,
        flavor: Flavor,
        instance_uuid: str | None = None,
        project_id: str | None = None,
    ) -> None:
        """Charge one instance of ``flavor`` to row ``index`` (as Nova's consume_from_request)."""
        self.free_ram[index] -= flavor.memory_mb
        self.free_disk_mb[index] -= flavor.disk_mb
        self.vcpus_used[index] += flavor.vcpus
        self.num_instances[index] += 1
        self.num_io_ops[index] += 1
        self._refresh(index)
        if instance_uuid:
            self._row_instances[index][instance_uuid] = project_id
            self._instance_rows[instance_uuid] = index

    def release(self, index: int, flavor: Flavor, instance_uuid: str | None = None) -> None:
        """Undo ``consume`` (a failed claim, or an all-or-nothing request that failed)."""
        self.free_ram[index] += flavor.memory_mb
        self.free_disk_mb[index] += flavor.disk_mb
        self.vcpus_used[index] -= flavor.vcpus
        self.num_instances[index] -= 1
        self.num_io_ops[index] -= 1
        self._refresh(index)
        instances = self._row_instances[index]
        if instance_uuid and instance_uuid in instances:
            del instances[instance_uuid]
            if self._instance_rows.get(instance_uuid) == index:
                del self._instance_rows[instance_uuid]

    # -- lookups ---------------------------------------------------------------------

    def index_of(self, host: str) -> int | None:
        return self._rows.get(host)

    def record(self, index: int) -> HostRecord:
        record = self._records[index]
        assert record is not None
        return record

    def records(self) -> list[HostRecord]:
        return [self._records[row] for row in sorted(self._rows.values())]  # type: ignore[misc]

    def instances(self, index: int) -> dict[str, str | None]:
        return self._row_instances[index]

    def aggregate_info(self, index: int) -> AggregateInfo:
        return self._sigs[AGGREGATES].items[self.agg_sig[index]]

    def capability_info(self, index: int) -> CapabilityInfo:
        return self._sigs[CAPABILITIES].items[self.cap_sig[index]]

    def rows_for_hosts(self, names: Iterable[str], match_nodes: bool = True) -> np.ndarray:
        """Rows whose host name (or, with ``match_nodes``, node name) is in ``names``."""
        rows = set()
        for name in names:
            row = self._rows.get(name)
            if row is None and match_nodes:
                row = self._node_rows.get(name)
            if row is not None:
                rows.add(row)
        return np.fromiter(rows, dtype=np.intp, count=len(rows))

    def host_mask(self, names: Iterable[str], match_nodes: bool = True) -> np.ndarray:
        mask = np.zeros(self.size, dtype=bool)
        mask[self.rows_for_hosts(names, match_nodes)] = True
        return mask

    def rows_with_instances(self, uuids: Iterable[str]) -> np.ndarray:
        rows = {self._instance_rows[u] for u in uuids if u in self._instance_rows}
        return np.fromiter(rows, dtype=np.intp, count=len(rows))

    def instance_counts(self, uuids: Iterable[str]) -> np.ndarray:
        """Per row, how many of ``uuids`` run there."""
        rows = [self._instance_rows[u] for u in set(uuids) if u in self._instance_rows]
        return np.bincount(np.asarray(rows, dtype=np.intp), minlength=self.size)

    @property
    def name_rank(self) -> np.ndarray:
        """Rank of each row's host name in sorted order: the deterministic tie-breaker."""
        if self._name_rank is None or len(self._name_rank) != self.size:
            order = np.argsort(self.names.astype(str), kind="stable")
            rank = np.empty(self.size, dtype=np.int64)
            rank[order] = np.arange(self.size)
            self._name_rank = rank
        return self._name_rank

    def limits(self, index: int) -> dict[str, float]:
        """The oversubscription limits a claim on this host must respect."""
        return {
            "vcpu": float(self.vcpu_limit[index]),
            "memory_mb": float(self.ram_limit[index]),
            "disk_gb": float(self.disk_limit_mb[index]) / 1024,
        }

    def host_state(self, index: int) -> HostStateView:
        return HostStateView(self, index)

    # -- per-signature caches --------------------------------------------------------

    def signature_lookup(
        self,
        kind: str,
        key: Hashable,
        compute: Callable[[Any], Any],
        dtype: Any = bool,
    ) -> tuple[np.ndarray, np.ndarray]:
        """``compute(info)`` per distinct signature, and spread over the rows.

        ``kind`` is ``AGGREGATES`` (info is an ``AggregateInfo``) or ``CAPABILITIES``
        (a ``CapabilityInfo``). ``key`` must identify ``compute`` completely: the
        result is cached under it and kept current as hosts change. Returns the
        per-signature values and the per-row column (read-only).
        """
        cache_key = (kind, key)
        lut = self._luts.get(cache_key)
        if lut is None:
            lut = Lut(compute, np.empty(0, dtype=dtype))
            self._luts[cache_key] = lut
            if len(self._luts) > _LUT_CACHE_SIZE:
                self._luts.popitem(last=False)
        else:
            self._luts.move_to_end(cache_key)
        items = self._sigs[kind].items
        if len(lut.values) < len(items):
            extra = [lut.compute(info) for info in items[len(lut.values) :]]
            added = np.empty(len(extra), dtype=dtype)
            for i, value in enumerate(extra):
                added[i] = value
            lut.values = np.concatenate([lut.values, added])
            lut.version = -1
        version = self._sig_version[kind]
        if lut.version != version or lut.column is None:
            column = lut.values[self.agg_sig if kind == AGGREGATES else self.cap_sig]
            column.flags.writeable = False
            lut.column = column
            lut.version = version
        return lut.values, lut.column

    def signature_column(
        self, kind: str, key: Hashable, compute: Callable[[Any], Any], dtype: Any = bool
    ) -> np.ndarray:
        return self.signature_lookup(kind, key, compute, dtype)[1]

    def used_signatures(self, kind: str) -> np.ndarray:
        """Per signature of ``kind``: whether any live host has it."""
        version = self._sig_version[kind]
        cached = self._used.get(kind)
        if cached is None or cached[0] != version:
            column = self.agg_sig if kind == AGGREGATES else self.cap_sig
            used = np.bincount(column[self.live], minlength=len(self._sigs[kind].items)) > 0
            self._used[kind] = (version, used)
            return used
        return cached[1]

    def signature_mask(
        self, kind: str, key: Hashable, predicate: Callable[[Any], bool]
    ) -> np.ndarray:
        return self.signature_column(kind, key, predicate, bool)
