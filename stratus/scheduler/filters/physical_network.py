"""PhysicalNetworkFilter: the host reaches every physical network the instance's
flat and vlan networks are on."""

from __future__ import annotations

from typing import TYPE_CHECKING

from stratus.scheduler.filters.base import BaseFilter
from stratus.scheduler.signatures import CAPABILITIES

if TYPE_CHECKING:
    import numpy as np

    from stratus.scheduler.host_table import HostTable
    from stratus.scheduler.request_spec import RequestSpec

# The capability in which a compute host reports its physical networks (the
# physnets of its ``[network] physical_interface_mappings``).
PHYSICAL_NETWORKS = "physical_networks"


class PhysicalNetworkFilter(BaseFilter):
    """A request without flat or vlan networks passes every host (vxlan networks
    reach any host with a VTEP)."""

    def mask(self, table: HostTable, spec: RequestSpec, index: int) -> np.ndarray | None:
        wanted = frozenset(spec.physical_networks)
        if not wanted:
            return None
        return table.signature_mask(
            CAPABILITIES,
            ("physnets", wanted),
            lambda info: wanted <= set(info.capabilities.get(PHYSICAL_NETWORKS) or ()),
        )
