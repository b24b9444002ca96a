"""SimpleCIDRAffinityFilter: the host's IP is in the network of a given address."""

from __future__ import annotations

from typing import TYPE_CHECKING

import netaddr
import numpy as np

from stratus.scheduler.filters.base import BaseFilter

if TYPE_CHECKING:
    from stratus.scheduler.host_table import HostTable
    from stratus.scheduler.request_spec import RequestSpec

_MASK64 = (1 << 64) - 1


class SimpleCIDRAffinityFilter(BaseFilter):
    """Hints ``build_near_host_ip`` (an address) and ``cidr`` (a prefix such as
    ``/24``, the default) select hosts whose ``host_ip`` is in that network. An
    unreadable address or prefix matches no host."""

    def mask(self, table: HostTable, spec: RequestSpec, index: int) -> np.ndarray | None:
        address = spec.get_hint("build_near_host_ip")
        if not address:
            return None
        cidr = spec.get_hint("cidr", "/24")
        try:
            network = netaddr.IPNetwork(f"{address}{cidr}")
        except (netaddr.AddrFormatError, ValueError, TypeError):
            return np.zeros(table.size, dtype=bool)
        first, netmask = network.first, int(network.netmask)
        return (
            (table.ip_version == network.version)
            & ((table.ip_hi & np.uint64(netmask >> 64)) == np.uint64(first >> 64))
            & ((table.ip_lo & np.uint64(netmask & _MASK64)) == np.uint64(first & _MASK64))
        )
