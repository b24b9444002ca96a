"""The scheduler's host state, by its former single-module name.

The pieces live by concern: ``host_record`` (``HostRecord``, ``Aggregate``),
``canonical`` (architecture, hypervisor type and VM mode names), ``signatures``
(``AggregateInfo``, ``CapabilityInfo``: what hosts share, interned) and
``host_table`` (``HostTable``) with ``host_view`` (``HostStateView``). This module
re-exports them for code that imports from here.
"""

from stratus.scheduler.canonical import canonical_arch, canonical_hv_type, canonical_vm_mode
from stratus.scheduler.host_record import Aggregate, HostRecord
from stratus.scheduler.host_table import DefaultHostSettings, HostDefaults, HostTable
from stratus.scheduler.host_view import HostStateView
from stratus.scheduler.signatures import (
    AGGREGATES,
    CAPABILITIES,
    CAPABILITY_ATTRIBUTES,
    AggregateInfo,
    CapabilityInfo,
    capability_missing,
)

__all__ = [
    "AGGREGATES",
    "CAPABILITIES",
    "CAPABILITY_ATTRIBUTES",
    "Aggregate",
    "AggregateInfo",
    "CapabilityInfo",
    "DefaultHostSettings",
    "HostDefaults",
    "HostRecord",
    "HostStateView",
    "HostTable",
    "canonical_arch",
    "canonical_hv_type",
    "canonical_vm_mode",
    "capability_missing",
]
