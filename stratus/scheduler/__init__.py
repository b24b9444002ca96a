"""Host selection: Nova's filter scheduler as a pure, vectorised decision engine.

The pieces, in the order a request meets them:

* ``host_record`` -- ``HostRecord`` (one compute node as plain data) and
  ``Aggregate``;
* ``host_table`` -- ``HostTable`` (all of them, column by column, updated in
  place), with ``signatures`` (what hosts share: aggregates, capabilities,
  interned), ``canonical`` (architecture and hypervisor names) and ``host_view``
  (one row as a Nova host state); ``host_state`` re-exports them;
* ``request_spec`` -- ``RequestSpec``, ``Flavor``, ``InstanceGroup``;
* ``filters`` -- one class per Nova filter, each answering for every host at once
  with a boolean mask;
* ``weighers`` -- one class per Nova weigher, min-max normalised and summed with
  their multipliers;
* ``engine`` -- ``FilterScheduler``/``select_destinations``, ``SchedulerConfig``,
  ``NoValidHost``;
* ``extra_specs`` -- the extra-spec operator language shared by the filters.

TrustedFilter is not provided: it relied on an attestation service (OpenAttestation)
that no longer exists, and Nova itself removed it.

The database side (loading compute nodes, claims) and the RPC service build on this
package; ``planner`` runs the same code over hosts and servers described as plain
data, for the Ansible filter plugin ``filter_plugins/stratus_scheduler.py``.
"""

from stratus.scheduler.engine import (
    FilterResult,
    FilterScheduler,
    NoValidHost,
    SchedulerConfig,
    Selection,
    select_destinations,
)
from stratus.scheduler.host_record import Aggregate, HostRecord
from stratus.scheduler.host_table import HostTable
from stratus.scheduler.request_spec import Flavor, InstanceGroup, RequestSpec

__all__ = [
    "Aggregate",
    "FilterResult",
    "FilterScheduler",
    "Flavor",
    "HostRecord",
    "HostTable",
    "InstanceGroup",
    "NoValidHost",
    "RequestSpec",
    "SchedulerConfig",
    "Selection",
    "select_destinations",
]
