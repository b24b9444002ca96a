"""Filter, weigh and place: the scheduler's decision, with no database and no RPC.

``FilterScheduler.select_destinations`` places every instance of a request in
turn. Each placement is charged to the ``HostTable`` (``consume``) before the next
instance is filtered, so a multi-instance request never double-books a host and
server-group placements see each other. The request is all or nothing: if one
instance finds no host, the placements already made are released and
``NoValidHost`` says which filters removed how many hosts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import random
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

import numpy as np

from stratus.conf import filter_scheduler as _opts
from stratus.scheduler.filters import ALL_FILTERS, BaseFilter
from stratus.scheduler.host_record import HostRecord
from stratus.scheduler.host_table import HostTable
from stratus.scheduler.request_spec import RequestSpec
from stratus.scheduler.weighers import ALL_WEIGHERS, BaseWeigher, normalize

if TYPE_CHECKING:
    from oslo_config import cfg

LOG = logging.getLogger(__name__)

_DEFAULTS: dict[str, Any] = {opt.dest: opt.default for opt in _opts.OPTS}


def _tuple(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return tuple(str(v) for v in value or ())


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


@dataclass(frozen=True)
class SchedulerConfig:
    """Everything the engine reads from ``[filter_scheduler]`` (same names, same defaults)."""

    enabled_filters: tuple[str, ...] = tuple(_DEFAULTS["enabled_filters"])
    weight_classes: tuple[str, ...] = tuple(_DEFAULTS["weight_classes"])
    host_subset_size: int = _DEFAULTS["host_subset_size"]
    max_io_ops_per_host: int = _DEFAULTS["max_io_ops_per_host"]
    max_instances_per_host: int = _DEFAULTS["max_instances_per_host"]
    ram_weight_multiplier: float = _DEFAULTS["ram_weight_multiplier"]
    cpu_weight_multiplier: float = _DEFAULTS["cpu_weight_multiplier"]
    disk_weight_multiplier: float = _DEFAULTS["disk_weight_multiplier"]
    io_ops_weight_multiplier: float = _DEFAULTS["io_ops_weight_multiplier"]
    num_instances_weight_multiplier: float = _DEFAULTS["num_instances_weight_multiplier"]
    soft_affinity_weight_multiplier: float = _DEFAULTS["soft_affinity_weight_multiplier"]
    soft_anti_affinity_weight_multiplier: float = _DEFAULTS["soft_anti_affinity_weight_multiplier"]
    build_failure_weight_multiplier: float = _DEFAULTS["build_failure_weight_multiplier"]
    isolated_images: tuple[str, ...] = tuple(_DEFAULTS["isolated_images"])
    isolated_hosts: tuple[str, ...] = tuple(_DEFAULTS["isolated_hosts"])
    restrict_isolated_hosts_to_isolated_images: bool = _DEFAULTS[
        "restrict_isolated_hosts_to_isolated_images"
    ]
    cpu_allocation_ratio: float = _DEFAULTS["cpu_allocation_ratio"]
    ram_allocation_ratio: float = _DEFAULTS["ram_allocation_ratio"]
    disk_allocation_ratio: float = _DEFAULTS["disk_allocation_ratio"]
    # [DEFAULT] default_availability_zone when that option exists, else Nova's "nova".
    default_availability_zone: str = "nova"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None = None) -> SchedulerConfig:
        """Build from a plain mapping (a playbook's ``config``); unknown keys are errors."""
        data = dict(data or {})
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(f"unknown scheduler option(s): {', '.join(unknown)}")
        values: dict[str, Any] = {}
        for name, value in data.items():
            kind = known[name].type
            if "tuple" in str(kind):
                values[name] = _tuple(value)
            elif kind in ("int", int):
                values[name] = int(value)
            elif kind in ("float", float):
                values[name] = float(value)
            elif kind in ("bool", bool):
                values[name] = _bool(value)
            else:
                values[name] = str(value)
        return cls(**values)

    @classmethod
    def from_conf(cls, conf: cfg.ConfigOpts | None = None) -> SchedulerConfig:
        """Build from oslo.config (``CONF.filter_scheduler``)."""
        if conf is None:
            from stratus.conf import CONF as conf
        group = conf[_opts.GROUP]
        values = {f.name: getattr(group, f.name) for f in fields(cls) if f.name in _DEFAULTS}
        # [DEFAULT] default_availability_zone belongs to the API's options; it may
        # not be registered where only the scheduler's options are.
        with contextlib.suppress(AttributeError, KeyError):
            values["default_availability_zone"] = conf.default_availability_zone
        return cls.from_dict(values)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class FilterResult:
    """How many hosts one filter saw and let through."""

    name: str
    before: int
    after: int

    @property
    def removed(self) -> int:
        return self.before - self.after


def summarize(results: Sequence[FilterResult]) -> str:
    """ "RamFilter removed 7 of 10 hosts, CoreFilter removed 3 of 3 hosts"."""
    parts = [f"{r.name} removed {r.removed} of {r.before} hosts" for r in results if r.removed]
    return ", ".join(parts)


class NoValidHost(Exception):
    """No host can take (one of) the instances; the message names the culprits."""

    def __init__(
        self,
        results: Sequence[FilterResult] = (),
        *,
        instance_index: int = 0,
        num_instances: int = 1,
        reason: str | None = None,
    ) -> None:
        self.results = list(results)
        self.instance_index = instance_index
        self.num_instances = num_instances
        which = (
            f" for instance {instance_index + 1} of {num_instances}" if num_instances > 1 else ""
        )
        detail = reason or summarize(self.results) or "there are no compute hosts"
        self.message = f"No valid host was found{which}: {detail}."
        super().__init__(self.message)


@dataclass(frozen=True)
class Selection:
    """One destination: a host, its oversubscription limits and its weight."""

    host: str
    nodename: str
    weight: float
    limits: dict[str, float]
    record: HostRecord = field(repr=False)
    compute_node_uuid: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON primitives for an RPC reply (the record stays behind)."""
        return {
            "host": self.host,
            "nodename": self.nodename,
            "weight": self.weight,
            "limits": dict(self.limits),
            "compute_node_uuid": self.compute_node_uuid,
        }


class FilterScheduler:
    """Filters and weighers configured once; ``select_destinations`` per request."""

    def __init__(self, config: SchedulerConfig | None = None, rng: random.Random | None = None):
        self.config = config or SchedulerConfig()
        unknown = [n for n in self.config.enabled_filters if n not in ALL_FILTERS]
        unknown += [n for n in self.config.weight_classes if n not in ALL_WEIGHERS]
        if unknown:
            raise ValueError(
                f"unknown filter or weigher: {', '.join(unknown)}; available: "
                f"{', '.join([*ALL_FILTERS, *ALL_WEIGHERS])}"
            )
        self.filters: list[BaseFilter] = [
            ALL_FILTERS[name](self.config) for name in self.config.enabled_filters
        ]
        self.weighers: list[BaseWeigher] = [
            ALL_WEIGHERS[name](self.config) for name in self.config.weight_classes
        ]
        self.rng = rng or random.Random()

    # -- the two steps -----------------------------------------------------------------

    def filter_hosts(
        self, table: HostTable, spec: RequestSpec, index: int = 0
    ) -> tuple[np.ndarray, list[FilterResult]]:
        """Rows passing every filter (ascending), and what each filter removed."""
        return self._filter(table, spec, index, {})

    def weigh_hosts(self, table: HostTable, spec: RequestSpec, rows: np.ndarray) -> np.ndarray:
        """Each row's weight: the sum of multiplier x normalised value per weigher."""
        weights = np.zeros(len(rows), dtype=np.float64)
        if len(rows) <= 1:
            return weights
        for weigher in self.weighers:
            if weigher.multiplier == 0:
                continue
            raw = weigher.raw(table, spec, rows)
            if raw is None:
                continue
            scaled = normalize(raw)
            if scaled is not None:
                scaled *= weigher.multiplier
                weights += scaled
        return weights

    def rank_hosts(
        self,
        table: HostTable,
        rows: np.ndarray,
        weights: np.ndarray,
        limit: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The best ``limit`` rows (all if None), heaviest first, ties by host name."""
        ranks = table.name_rank
        if limit is None or limit >= len(rows):
            order = np.lexsort((ranks[rows], -weights))
            return rows[order], weights[order]
        negated = -weights
        top = np.argpartition(negated, limit - 1)[:limit]
        threshold = negated[top].max()
        if np.count_nonzero(negated <= threshold) > limit:
            # Hosts tied at the cut-off compete by name for the last places.
            better = np.flatnonzero(negated < threshold)
            tied = np.flatnonzero(negated == threshold)
            need = limit - len(better)
            tied = tied[np.argpartition(ranks[rows[tied]], need - 1)[:need]]
            top = np.concatenate([better, tied])
        order = top[np.lexsort((ranks[rows[top]], negated[top]))]
        return rows[order], weights[order]

    # -- placement -----------------------------------------------------------------

    def select_destinations(
        self, table: HostTable, spec: RequestSpec, num_alternates: int = 0
    ) -> list[list[Selection]]:
        """Per instance, the chosen host followed by up to ``num_alternates`` others.

        Every choice is consumed in ``table`` (the caller releases it if a later
        claim fails). Raises ``NoValidHost`` without consuming anything when any
        instance cannot be placed.
        """
        count = max(1, spec.num_instances)
        work, uuids = self._working_copy(spec, count)
        subset = self.config.host_subset_size
        static: dict[int, np.ndarray | None] = {}
        placed: list[tuple[int, str | None]] = []
        chosen: list[tuple[int, float]] = []
        ranked: tuple[np.ndarray, np.ndarray] | None = None
        # Counting what each filter removed costs a pass per filter: only for debug logs
        # (and for the error when nothing passes, which _filter rebuilds by itself).
        explain = LOG.isEnabledFor(logging.DEBUG)
        try:
            for index in range(count):
                rows, results = self._filter(table, work, index, static, explain=explain)
                if explain or len(rows) == 0:
                    _log_filter_run(results, len(rows), _instance_label(uuids, index, count))
                if len(rows) == 0:
                    raise NoValidHost(results, instance_index=index, num_instances=count)
                weights = self.weigh_hosts(table, work, rows)
                limit = subset + (num_alternates if count == 1 else 0)
                ranked = self.rank_hosts(table, rows, weights, limit)
                pick = 0
                if subset > 1 and len(ranked[0]) > 1:
                    pick = self.rng.randrange(min(subset, len(ranked[0])))
                row = int(ranked[0][pick])
                instance_uuid = uuids[index] if index < len(uuids) else None
                table.consume(row, spec.flavor, instance_uuid, spec.project_id)
                placed.append((row, instance_uuid))
                chosen.append((row, float(ranked[1][pick])))
                if work.instance_group is not None:
                    work.instance_group.hosts.append(str(table.names[row]))
        except NoValidHost:
            for row, instance_uuid in reversed(placed):
                table.release(row, spec.flavor, instance_uuid)
            raise

        alternates: list[tuple[int, float]] = []
        if num_alternates > 0:
            if count > 1:
                # Alternates come from a fresh pass over the hosts as they are now,
                # with every instance of this request already charged.
                rows, _ = self._filter(table, work, count - 1, static, explain=False)
                weights = self.weigh_hosts(table, work, rows)
                ranked = self.rank_hosts(table, rows, weights, num_alternates + count)
            assert ranked is not None
            primaries = {row for row, _ in chosen}
            alternates = [
                (int(r), float(w)) for r, w in zip(*ranked, strict=True) if int(r) not in primaries
            ][:num_alternates]
        return [
            [self._selection(table, row, weight)]
            + [self._selection(table, r, w) for r, w in alternates]
            for row, weight in chosen
        ]

    # -- internals ---------------------------------------------------------------------

    @staticmethod
    def _working_copy(spec: RequestSpec, count: int) -> tuple[RequestSpec, list[str]]:
        """A copy the engine may update as instances are placed (group hosts/members)."""
        group = spec.instance_group
        if group is None:
            return spec, spec.instance_uuids
        # Group filters recognise members by instance UUID, so each instance of
        # this request needs one even when the caller has none yet.
        uuids = list(spec.instance_uuids)
        uuids += [str(uuid.uuid4()) for _ in range(count - len(uuids))]
        group = dataclasses.replace(
            group,
            hosts=list(group.hosts),
            members=list(dict.fromkeys([*group.members, *uuids])),
        )
        return dataclasses.replace(spec, instance_group=group, instance_uuids=uuids), uuids

    def _filter(
        self,
        table: HostTable,
        spec: RequestSpec,
        index: int,
        static: dict[int, np.ndarray | None],
        explain: bool = True,
    ) -> tuple[np.ndarray, list[FilterResult]]:
        """Rows passing all filters. With ``explain`` False the per-filter counts are
        skipped (the common, successful case); they are rebuilt if nothing passes."""
        candidates = table.live
        count = len(table)
        results: list[FilterResult] = []
        if spec.force_hosts:
            candidates = candidates & table.host_mask(spec.force_hosts)
            if spec.ignore_hosts:
                candidates &= ~table.host_mask(spec.ignore_hosts)
            forced = int(np.count_nonzero(candidates))
            results.append(FilterResult("force_hosts", count, forced))
            count = forced
            if spec.is_admin or count == 0:
                return np.flatnonzero(candidates), results
        for position, host_filter in enumerate(self.filters):
            if host_filter.per_instance:
                mask = host_filter.mask(table, spec, index)
            else:
                if position not in static:
                    static[position] = host_filter.mask(table, spec, index)
                mask = static[position]
            if mask is None:
                if explain:
                    results.append(FilterResult(host_filter.name, count, count))
                continue
            candidates = candidates & mask
            if explain:
                after = int(np.count_nonzero(candidates))
                results.append(FilterResult(host_filter.name, count, after))
                count = after
                if count == 0:
                    break
        rows = np.flatnonzero(candidates)
        if not explain and len(rows) == 0:
            return self._filter(table, spec, index, static, explain=True)
        return rows, results

    @staticmethod
    def _selection(table: HostTable, row: int, weight: float) -> Selection:
        record = table.record(row)
        return Selection(
            host=record.host,
            nodename=record.nodename or record.host,
            weight=weight,
            limits=table.limits(row),
            record=record,
            compute_node_uuid=record.uuid,
        )


def _log_filter_run(results: Sequence[FilterResult], left: int, which: str) -> None:
    """At debug, what each filter removed; at info, which filter left no host."""
    for result in results:
        LOG.debug(
            "Filter %s removed %d of %d hosts (%d left) for %s",
            result.name,
            result.removed,
            result.before,
            result.after,
            which,
        )
    if left == 0:
        culprit = next((r for r in results if r.after == 0), None)
        if culprit is not None and culprit.before:
            reason = f"filter {culprit.name} removed the last {culprit.before} of them"
        else:
            reason = "there are no compute hosts"
        LOG.info("No host left for %s: %s", which, reason)


def _instance_label(uuids: Sequence[str], index: int, count: int) -> str:
    """Which instance of a request a log line is about: "instance 2 of 3 (uuid)"."""
    label = f"instance {index + 1} of {count}"
    return f"{label} ({uuids[index]})" if index < len(uuids) else label


def select_destinations(
    table: HostTable,
    spec: RequestSpec,
    num_alternates: int = 0,
    config: SchedulerConfig | None = None,
) -> list[list[Selection]]:
    """One-shot form of ``FilterScheduler(config).select_destinations``."""
    return FilterScheduler(config).select_destinations(table, spec, num_alternates)
