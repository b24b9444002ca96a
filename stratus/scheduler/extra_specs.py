"""Flavor extra-spec requirement parsing, shared by the filters that read extra specs.

A requirement is the value side of an extra spec, e.g. ``">= 4"``, ``"<in> avx2"``,
``"<or> kvm <or> qemu"`` or a bare ``"ssd"``. It is compared with one host value
(a string). The operators and their meaning follow Nova:

====================  ======================================================
``=`` / ``>=``        numeric, host value >= wanted (``=`` means "at least")
``==`` / ``!=``       numeric equality / inequality
``<=``                numeric, host value <= wanted
``s==`` ``s!=``       string comparison
``s<`` ``s<=``        string comparison
``s>`` ``s>=``        string comparison
``<in>``              wanted text is a substring of the host value
``<all-in>``          every following word is a substring of the host value
``<or>``              host value equals one of the alternatives
(none)                host value equals the whole requirement string
====================  ======================================================

A numeric operator facing a value that is not a number does not match.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from dataclasses import dataclass

CAPABILITIES_SCOPE = "capabilities"
AGGREGATE_SCOPE = "aggregate_instance_extra_specs"


def _numeric(op: Callable[[float, float], bool]) -> Callable[[str, str], bool]:
    def compare(value: str, wanted: str) -> bool:
        try:
            return op(float(value), float(wanted))
        except ValueError:
            return False

    return compare


_BINARY: dict[str, Callable[[str, str], bool]] = {
    "=": _numeric(operator.ge),
    ">=": _numeric(operator.ge),
    "<=": _numeric(operator.le),
    "==": _numeric(operator.eq),
    "!=": _numeric(operator.ne),
    "s==": operator.eq,
    "s!=": operator.ne,
    "s<": operator.lt,
    "s<=": operator.le,
    "s>": operator.gt,
    "s>=": operator.ge,
    "<in>": lambda value, wanted: wanted in value,
}

OPERATORS = frozenset(_BINARY) | {"<all-in>", "<or>"}


@dataclass(frozen=True)
class Requirement:
    """One parsed extra-spec requirement; ``matches`` tests a host value against it."""

    text: str
    op: str | None
    operands: tuple[str, ...]

    def matches(self, value: str | None) -> bool:
        if self.op is None:
            return value == self.text
        if value is None:
            return False
        if self.op == "<or>":
            return value in self.operands
        if not self.operands:
            return False
        if self.op == "<all-in>":
            return all(word in value for word in self.operands)
        return _BINARY[self.op](value, self.operands[0])


@functools.lru_cache(maxsize=4096)
def parse(text: str) -> Requirement:
    """Parse a requirement string (cached: flavors repeat)."""
    words = text.split()
    if not words or words[0] not in OPERATORS:
        return Requirement(text, None, ())
    op, rest = words[0], words[1:]
    if op == "<or>":
        # "<or> a <or> b <or> c": the alternatives sit at the even positions.
        return Requirement(text, op, tuple(rest[0::2]))
    return Requirement(text, op, tuple(rest))


def matches(value: str | None, text: str) -> bool:
    """Whether a host value satisfies the requirement ``text``."""
    return parse(text).matches(value)


def split_scope(key: str, maxsplit: int = -1) -> list[str]:
    """Split an extra-spec key on ``:`` (``hw:cpu_policy`` -> ``["hw", "cpu_policy"]``)."""
    return key.split(":", maxsplit)
