"""JsonFilter: hosts selected by a query in Nova's small JSON language.

The hint ``query`` is a JSON list ``[op, arg, ...]``. Operators: ``=``, ``<``,
``>``, ``<=``, ``>=`` (the first argument against every other one), ``in`` (the
first argument equals one of the others), ``not`` (a list of negations), ``or``,
``and``. Arguments are constants, nested queries, or ``$variables`` naming host
state (``$free_ram_mb``, ``$capabilities.gpu``, ``$cpu_info.vendor``...); a
variable the host lacks, and ``null``, drop out of the argument list. A
comparison with fewer than two arguments is false. As in Nova, a list result
(from ``not``) passes the host if any element is true.

Two differences from Nova, both where Nova raises: comparing values that cannot be
ordered (a number with a string) is false, and an unreadable query passes no host.

The query is evaluated on whole columns when every variable it uses has a value
of one kind on every host; otherwise it falls back to evaluating host by host.
"""

from __future__ import annotations

import functools
import itertools
import json
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from stratus.scheduler.filters.base import BaseFilter
from stratus.scheduler.signatures import CAPABILITIES, CapabilityInfo

if TYPE_CHECKING:
    from stratus.scheduler.host_table import HostTable
    from stratus.scheduler.request_spec import RequestSpec

_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq,
    "<": operator.lt,
    ">": operator.gt,
    "<=": operator.le,
    ">=": operator.ge,
}
COMMANDS = frozenset(_COMPARE) | {"in", "not", "or", "and"}

# Variables backed by a numeric column of the table.
_NUMERIC = {
    "free_ram_mb": "free_ram",
    "free_disk_mb": "free_disk_mb",
    "total_usable_ram_mb": "ram_total",
    "vcpus_total": "vcpus_total",
    "vcpus_used": "vcpus_used",
    "num_instances": "num_instances",
    "num_io_ops": "num_io_ops",
    "failed_builds": "failed_builds",
    "cpu_allocation_ratio": "cpu_ratio",
    "ram_allocation_ratio": "ram_ratio",
    "disk_allocation_ratio": "disk_ratio",
}
# Variables backed by a per-host string column.
_STRINGS = {"host": "names", "nodename": "nodenames", "hypervisor_hostname": "nodenames"}
# Variables that come from the host's capability signature.
_CAPABILITY = frozenset(
    {"hypervisor_type", "hypervisor_version", "arch", "cpu_info", "capabilities", "stats"}
)
VARIABLES = (
    frozenset(_NUMERIC) | frozenset(_STRINGS) | _CAPABILITY | {"host_ip", "total_usable_disk_gb"}
)


class QueryError(ValueError):
    pass


def _check(query: Any) -> None:
    if not isinstance(query, list):
        raise QueryError("a query is a JSON list")
    if not query:
        return
    if query[0] not in COMMANDS:
        raise QueryError(f"unknown operator {query[0]!r}")
    for arg in query[1:]:
        if isinstance(arg, list):
            _check(arg)


@functools.lru_cache(maxsize=1024)
def parse_query(text: str) -> Any:
    """Decode and validate a query; raises ``QueryError``. Callers must not mutate it."""
    try:
        query = json.loads(text) if isinstance(text, str) else text
    except ValueError as exc:
        raise QueryError(f"not JSON: {exc}") from exc
    _check(query)
    return query


# -- host by host ---------------------------------------------------------------------


def _lookup(host: Any, text: str) -> Any:
    if not text:
        return None
    if not text.startswith("$"):
        return text
    path = text[1:].split(".")
    if path[0] not in VARIABLES:
        return None
    value = getattr(host, path[0], None)
    for step in path[1:]:
        if not isinstance(value, dict):
            return None
        value = value.get(step)
    return value


def _apply(cmd: str, args: list[Any]) -> Any:
    if cmd == "not":
        return [not arg for arg in args]
    if cmd == "or":
        return any(args)
    if cmd == "and":
        return all(args)
    if len(args) < 2:
        return False
    if cmd == "in":
        return args[0] in args[1:]
    compare = _COMPARE[cmd]
    try:
        return all(compare(args[0], other) for other in args[1:])
    except TypeError:
        return False


def _process(query: list[Any], host: Any) -> Any:
    if not query:
        return True
    args = []
    for arg in query[1:]:
        if isinstance(arg, list):
            arg = _process(arg, host)
        elif isinstance(arg, str):
            arg = _lookup(host, arg)
        if arg is not None:
            args.append(arg)
    return _apply(query[0], args)


def host_passes(query: list[Any], host: Any) -> bool:
    """Evaluate a parsed query against one host-state object."""
    result = _process(query, host)
    if isinstance(result, list):
        return any(result)
    return bool(result)


# -- whole columns --------------------------------------------------------------------


class _Fallback(Exception):
    """The query cannot be evaluated column-wise for this table."""


@dataclass
class _Const:
    value: Any


@dataclass
class _Column:
    """Per-row values of one kind (numbers, or text in an object array).

    ``present`` marks the rows that have a value at all (None: every row); on
    other rows the argument drops out, exactly as a missing variable does.
    """

    values: np.ndarray
    text: bool
    present: np.ndarray | None = None


@dataclass
class _Negations:
    """The list ``not`` returns: per item, its truth and the rows it exists on."""

    items: list[tuple[Any, np.ndarray | None]]


_Value = _Const | _Column | _Negations
_MAX_PARTIAL = 4


def _capability_value(info: CapabilityInfo, path: tuple[str, ...]) -> Any:
    name = path[0]
    value = info.capabilities if name == "stats" else getattr(info, name)
    for step in path[1:]:
        if not isinstance(value, dict):
            return None
        value = value.get(step)
    return value


def _kind(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, str):
        return "text"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "number"
    return "other"


class _Columns:
    """Resolves ``$variables`` to table columns for one evaluation."""

    def __init__(self, table: HostTable) -> None:
        self.table = table
        self.size = table.size

    def variable(self, text: str) -> _Const | _Column:
        if not text:
            return _Const(None)
        if not text.startswith("$"):
            return _Const(text)
        path = tuple(text[1:].split("."))
        name = path[0]
        if name not in VARIABLES:
            return _Const(None)
        table = self.table
        if name not in _CAPABILITY:
            if len(path) > 1:
                return _Const(None)
            if name in _NUMERIC:
                return _Column(getattr(table, _NUMERIC[name]), text=False)
            if name == "total_usable_disk_gb":
                return _Column(table.disk_total_mb // 1024, text=False)
            if name in _STRINGS:
                return _Column(getattr(table, _STRINGS[name]), text=True)
            ips = table.host_ips
            present = np.not_equal(ips, None).astype(bool)
            return self._typed(ips, present, ips[table.live & present])
        per_sig, _ = table.signature_lookup(
            CAPABILITIES, ("json", path), lambda info: _capability_value(info, path), object
        )
        used = per_sig[table.used_signatures(CAPABILITIES)]
        present_per_sig = np.not_equal(per_sig, None).astype(bool)
        return self._typed(per_sig, present_per_sig, used[np.not_equal(used, None)], table.cap_sig)

    def _typed(
        self,
        values: np.ndarray,
        present: np.ndarray,
        live_values: np.ndarray,
        index: np.ndarray | None = None,
    ) -> _Const | _Column:
        """A column of one kind from object ``values`` (per row, or per signature
        spread through ``index``); ``live_values`` are the values live hosts hold."""
        kinds = {_kind(v) for v in live_values}
        if not kinds:
            return _Const(None)
        if kinds == {"text"}:
            typed = np.where(present, values, "")
            text = True
        elif kinds == {"number"}:
            dtype = np.float64 if any(isinstance(v, float) for v in live_values) else np.int64
            typed = np.where(present, values, 0).astype(dtype)
            text = False
        else:
            raise _Fallback
        if index is not None:
            typed, present = typed[index], present[index]
        return _Column(typed, text, None if present.all() else present)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float)  # bool included: True == 1, as in Python


def _truth(value: _Value) -> Any:
    """Python truthiness of a present value, as a bool or a boolean column."""
    if isinstance(value, _Const):
        return bool(value.value)
    if isinstance(value, _Negations):
        # A list is true when it is not empty, i.e. where any item exists.
        result: Any = False
        for _, present in value.items:
            if present is None:
                return True
            result = result | present
        return result
    if value.text:
        return value.values != ""
    return value.values != 0


def _compare_pair(cmd: str, left: _Const | _Column, right: _Const | _Column) -> Any:
    compare = operator.eq if cmd == "in" else _COMPARE[cmd]
    if isinstance(left, _Const) and isinstance(right, _Const):
        try:
            return bool(compare(left.value, right.value))
        except TypeError:
            return False

    def kind(v: _Const | _Column) -> str:
        if isinstance(v, _Column):
            return "text" if v.text else "number"
        if isinstance(v.value, str):
            return "text"
        return "number" if _is_number(v.value) else "other"

    if kind(left) != kind(right) or kind(left) == "other":
        # Python: unequal kinds are never equal, and cannot be ordered.
        return False
    a = left.values if isinstance(left, _Column) else left.value
    b = right.values if isinstance(right, _Column) else right.value
    try:
        result = compare(a, b)
    except (TypeError, OverflowError) as exc:
        raise _Fallback from exc
    return np.asarray(result, dtype=bool)


def _compare_all_present(cmd: str, args: list[_Const | _Column]) -> Any:
    if len(args) < 2:
        return False
    results = [_compare_pair(cmd, args[0], other) for other in args[1:]]
    if cmd == "in":
        return _combine(results, operator.or_, False)
    return _combine(results, operator.and_, True)


def _compare(cmd: str, args: list[_Value], size: int) -> Any:
    if any(isinstance(arg, _Negations) for arg in args):
        raise _Fallback
    columns: list[_Const | _Column] = args  # type: ignore[assignment]
    partial = [
        i for i, arg in enumerate(columns) if isinstance(arg, _Column) and arg.present is not None
    ]
    if not partial:
        return _compare_all_present(cmd, columns)
    if len(partial) > _MAX_PARTIAL:
        raise _Fallback
    # Rows differ in which arguments they have: evaluate each presence pattern.
    result = np.zeros(size, dtype=bool)
    for pattern in itertools.product((False, True), repeat=len(partial)):
        rows = np.ones(size, dtype=bool)
        kept: list[_Const | _Column] = []
        for i, arg in enumerate(columns):
            if i in partial:
                has = pattern[partial.index(i)]
                assert isinstance(arg, _Column) and arg.present is not None
                rows &= arg.present if has else ~arg.present
                if has:
                    kept.append(_Column(arg.values, arg.text))
            else:
                kept.append(arg)
        if rows.any():
            result |= rows & _compare_all_present(cmd, kept)
    return result


def _combine(parts: list[Any], op: Callable[[Any, Any], Any], empty: bool) -> Any:
    result: Any = empty
    for part in parts:
        result = op(result, part)
    return result


def _present(value: _Value) -> np.ndarray | None:
    return value.present if isinstance(value, _Column) else None


def _wrap(result: Any) -> _Const | _Column:
    return _Column(result, False) if isinstance(result, np.ndarray) else _Const(result)


def _apply_columns(cmd: str, args: list[_Value], size: int) -> _Value:
    if cmd == "not":
        items: list[tuple[Any, np.ndarray | None]] = []
        for arg in args:
            truth = _truth(arg)
            items.append((~truth if isinstance(truth, np.ndarray) else not truth, _present(arg)))
        return _Negations(items)
    if cmd == "or":
        parts = []
        for arg in args:
            present = _present(arg)
            parts.append(_truth(arg) if present is None else _truth(arg) & present)
        return _wrap(_combine(parts, operator.or_, False))
    if cmd == "and":
        parts = []
        for arg in args:
            present = _present(arg)
            parts.append(_truth(arg) if present is None else _truth(arg) | ~present)
        return _wrap(_combine(parts, operator.and_, True))
    return _wrap(_compare(cmd, args, size))


def _process_columns(query: list[Any], columns: _Columns) -> _Value:
    if not query:
        return _Const(True)
    args: list[_Value] = []
    for arg in query[1:]:
        if isinstance(arg, list):
            value: _Value = _process_columns(arg, columns)
        elif isinstance(arg, str):
            value = columns.variable(arg)
        else:
            value = _Const(arg)
        if isinstance(value, _Const) and value.value is None:
            continue
        args.append(value)
    return _apply_columns(query[0], args, columns.size)


def evaluate(query: list[Any], table: HostTable) -> np.ndarray:
    """The query's verdict for every row of ``table``."""
    try:
        result = _process_columns(query, _Columns(table))
        if isinstance(result, _Negations):
            verdict = _combine(
                [t if p is None else t & p for t, p in result.items], operator.or_, False
            )
        else:
            verdict = _truth(result)
    except _Fallback:
        return np.fromiter(
            (
                bool(table.live[row]) and host_passes(query, table.host_state(row))
                for row in range(table.size)
            ),
            dtype=bool,
            count=table.size,
        )
    if isinstance(verdict, np.ndarray):
        return verdict
    return np.full(table.size, bool(verdict))


class JsonFilter(BaseFilter):
    per_instance = True

    def mask(self, table: HostTable, spec: RequestSpec, index: int) -> np.ndarray | None:
        text = spec.get_hint("query")
        if not text:
            return None
        try:
            query = parse_query(text if isinstance(text, str) else json.dumps(text))
        except QueryError:
            return np.zeros(table.size, dtype=bool)
        return evaluate(query, table)
