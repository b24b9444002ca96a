"""Host selection: Nova's filter scheduler as a pure, vectorised decision engine.

The pieces, in the order a request meets them:

* ``host_state`` -- ``HostRecord`` (one compute node as plain data) and
  ``HostTable`` (all of them, column by column, updated in place);
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
package; the Ansible filter plugin ``filter_plugins/stratus_scheduler.py`` calls the
same code.
"""

from stratus.scheduler.engine import (
    FilterResult,
    FilterScheduler,
    NoValidHost,
    SchedulerConfig,
    Selection,
    select_destinations,
)
from stratus.scheduler.host_state import Aggregate, HostRecord, HostTable
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
