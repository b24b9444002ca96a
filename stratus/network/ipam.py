"""IP address management with netaddr: the rules for a subnet's CIDR, gateway and
allocation pools, which addresses a port may get, SLAAC (EUI-64) addresses and
generated MAC addresses.

Pure functions over values; the service layer (``stratus/network/api.py``) reads
and writes the rows. The guarantee that no address is handed out twice is the
database's: the primary key of ``ip_allocations`` is (subnet, address), and the
service retries an allocation that lost a race.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import netaddr

from stratus.network.exceptions import InvalidInput

IPV6_MODES = ("slaac", "dhcpv6-stateful", "dhcpv6-stateless")
# Addresses of a pool that are looked at for a port: picking among the first few
# free ones spreads concurrent requests, so that fewer of them collide.
CANDIDATE_WINDOW = 8


@dataclass
class SubnetSpec:
    """A subnet's addressing, validated and normalised."""

    cidr: str
    ip_version: int
    gateway_ip: str | None
    allocation_pools: list[dict[str, str]]
    dns_nameservers: list[str] = field(default_factory=list)
    host_routes: list[dict[str, str]] = field(default_factory=list)
    ipv6_ra_mode: str | None = None
    ipv6_address_mode: str | None = None


def parse_cidr(value: Any, ip_version: int | None = None) -> netaddr.IPNetwork:
    """A CIDR given as ``address/prefix`` with no host bits set."""
    if not isinstance(value, str) or "/" not in value:
        raise InvalidInput("cidr", f"'{value}' is not a valid CIDR (address/prefix).")
    try:
        network = netaddr.IPNetwork(value)
    except (netaddr.AddrFormatError, ValueError, TypeError) as exc:
        raise InvalidInput("cidr", f"'{value}' is not a valid CIDR.") from exc
    if network.ip != network.network:
        raise InvalidInput(
            "cidr", f"'{value}' is not a network address; did you mean '{network.cidr}'?"
        )
    if ip_version is not None and network.version != ip_version:
        raise InvalidInput("cidr", f"'{value}' is not an IPv{ip_version} CIDR (ip_version).")
    if network.version == 4 and network.prefixlen > 30:
        raise InvalidInput("cidr", f"'{value}' is too small: an IPv4 subnet needs /30 or larger.")
    if network.version == 6 and network.prefixlen > 126:
        raise InvalidInput("cidr", f"'{value}' is too small: an IPv6 subnet needs /126 or larger.")
    return network


def parse_ip(value: Any, what: str) -> netaddr.IPAddress:
    if not isinstance(value, str):
        raise InvalidInput(what, f"'{value}' is not a valid IP address.")
    try:
        return netaddr.IPAddress(value)
    except (netaddr.AddrFormatError, ValueError) as exc:
        raise InvalidInput(what, f"'{value}' is not a valid IP address.") from exc


def usable_range(network: netaddr.IPNetwork) -> netaddr.IPRange:
    """Addresses hosts may hold: IPv4 without network and broadcast; IPv6 without
    the subnet-router anycast address."""
    if network.version == 4:
        return netaddr.IPRange(network.first + 1, network.last - 1)
    return netaddr.IPRange(network.first + 1, network.last)


def default_pools(network: netaddr.IPNetwork, gateway: str | None) -> list[netaddr.IPRange]:
    """The usable range with the gateway cut out, as Neutron does."""
    usable = netaddr.IPSet(usable_range(network))
    if gateway:
        usable.remove(gateway)
    return list(usable.iter_ipranges())


def validate_subnet(
    *,
    cidr: Any,
    ip_version: Any,
    gateway_ip: Any = "",
    allocation_pools: Any = None,
    dns_nameservers: Any = None,
    host_routes: Any = None,
    ipv6_ra_mode: Any = None,
    ipv6_address_mode: Any = None,
    other_cidrs: Iterable[str] = (),
) -> SubnetSpec:
    """Check a new subnet's addressing; ``gateway_ip`` "" means the first usable
    address and None no gateway. ``other_cidrs`` are the network's other subnets."""
    if ip_version not in (4, 6):
        raise InvalidInput("ip_version", f"'{ip_version}' is not 4 or 6.")
    network = parse_cidr(cidr, ip_version)
    for other in other_cidrs:
        if netaddr.IPNetwork(other).version == network.version and (
            netaddr.IPSet([other]) & netaddr.IPSet([network])
        ):
            raise InvalidInput(
                "cidr",
                f"Requested subnet with cidr: {network} for network overlaps with "
                f"another subnet ({other}).",
            )
    usable = usable_range(network)
    if gateway_ip == "":
        gateway = str(usable[0])
    elif gateway_ip is None:
        gateway = None
    else:
        address = parse_ip(gateway_ip, "gateway_ip")
        if address not in network or address not in netaddr.IPSet(usable):
            raise InvalidInput(
                "gateway_ip", f"Gateway IP {gateway_ip} is not a usable address of {network}."
            )
        gateway = str(address)
    if allocation_pools is None:
        pools = default_pools(network, gateway)
    else:
        pools = _validate_pools(allocation_pools, network, gateway)
    if ip_version == 4 and (ipv6_ra_mode or ipv6_address_mode):
        raise InvalidInput("ipv6_address_mode", "IPv6 modes apply to IPv6 subnets only.")
    for name, value in (("ipv6_ra_mode", ipv6_ra_mode), ("ipv6_address_mode", ipv6_address_mode)):
        if value is not None and value not in IPV6_MODES:
            raise InvalidInput(name, f"'{value}' is not one of {', '.join(IPV6_MODES)}.")
    if ipv6_ra_mode and ipv6_address_mode and ipv6_ra_mode != ipv6_address_mode:
        raise InvalidInput(
            "ipv6_ra_mode", "ipv6_ra_mode and ipv6_address_mode must agree when both are set."
        )
    if ipv6_address_mode in ("slaac", "dhcpv6-stateless") and network.prefixlen != 64:
        raise InvalidInput("cidr", "An IPv6 SLAAC or stateless subnet must be a /64.")
    return SubnetSpec(
        cidr=str(network.cidr),
        ip_version=network.version,
        gateway_ip=gateway,
        allocation_pools=[{"start": str(p[0]), "end": str(p[-1])} for p in pools],
        dns_nameservers=validate_nameservers(dns_nameservers),
        host_routes=validate_host_routes(host_routes, network.version),
        ipv6_ra_mode=ipv6_ra_mode,
        ipv6_address_mode=ipv6_address_mode,
    )


def _validate_pools(
    value: Any, network: netaddr.IPNetwork, gateway: str | None
) -> list[netaddr.IPRange]:
    if not isinstance(value, list):
        raise InvalidInput("allocation_pools", "must be a list of {start, end}.")
    pools: list[netaddr.IPRange] = []
    usable = netaddr.IPSet(usable_range(network))
    for pool in value:
        if not isinstance(pool, dict) or set(pool) != {"start", "end"}:
            raise InvalidInput("allocation_pools", f"{pool!r} is not a {{start, end}} pair.")
        start = parse_ip(pool["start"], "allocation_pools")
        end = parse_ip(pool["end"], "allocation_pools")
        if start.version != network.version or end.version != network.version or start > end:
            raise InvalidInput("allocation_pools", f"{start}-{end} is not a valid range.")
        ip_range = netaddr.IPRange(start, end)
        if not netaddr.IPSet(ip_range).issubset(usable):
            raise InvalidInput(
                "allocation_pools",
                f"The allocation pool {start}-{end} spans beyond the usable addresses "
                f"of the subnet cidr {network}.",
            )
        for earlier in pools:
            if netaddr.IPSet(earlier) & netaddr.IPSet(ip_range):
                raise InvalidInput(
                    "allocation_pools", f"Allocation pools {earlier} and {ip_range} overlap."
                )
        if gateway and netaddr.IPAddress(gateway) in ip_range:
            raise InvalidInput(
                "allocation_pools",
                f"Gateway ip {gateway} conflicts with allocation pool {start}-{end}.",
            )
        pools.append(ip_range)
    return pools


def validate_nameservers(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidInput("dns_nameservers", "must be a list of IP addresses.")
    servers = [str(parse_ip(v, "dns_nameservers")) for v in value]
    if len(set(servers)) != len(servers):
        raise InvalidInput("dns_nameservers", "contains a duplicate address.")
    return servers


def validate_host_routes(value: Any, ip_version: int) -> list[dict[str, str]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidInput("host_routes", "must be a list of {destination, nexthop}.")
    routes = []
    for route in value:
        if not isinstance(route, dict) or set(route) != {"destination", "nexthop"}:
            raise InvalidInput("host_routes", f"{route!r} is not a {{destination, nexthop}} pair.")
        try:
            destination = netaddr.IPNetwork(route["destination"])
        except (netaddr.AddrFormatError, ValueError, TypeError) as exc:
            raise InvalidInput("host_routes", f"'{route['destination']}' is not a CIDR.") from exc
        nexthop = parse_ip(route["nexthop"], "host_routes")
        if destination.version != ip_version or nexthop.version != ip_version:
            raise InvalidInput("host_routes", f"{route!r} is not IPv{ip_version}.")
        routes.append({"destination": str(destination.cidr), "nexthop": str(nexthop)})
    return routes


def validate_pools_update(
    value: Any, cidr: str, gateway: str | None, allocated: Iterable[str]
) -> list[dict[str, str]]:
    """New pools for an existing subnet (addresses already given out stay valid)."""
    pools = _validate_pools(value, netaddr.IPNetwork(cidr), gateway)
    return [{"start": str(p[0]), "end": str(p[-1])} for p in pools]


def is_slaac(ip_version: int, ipv6_address_mode: str | None) -> bool:
    """Addresses of this subnet come from the port's MAC (EUI-64), not from pools."""
    return ip_version == 6 and ipv6_address_mode in ("slaac", "dhcpv6-stateless")


def eui64_address(cidr: str, mac: str) -> str:
    """The SLAAC address of ``mac`` in IPv6 /64 ``cidr`` (modified EUI-64)."""
    network = netaddr.IPNetwork(cidr)
    eui = netaddr.EUI(mac)
    return str(eui.ipv6(network.first))


def address_in_subnet(address: str, cidr: str) -> bool:
    network = netaddr.IPNetwork(cidr)
    ip = netaddr.IPAddress(address)
    return ip.version == network.version and ip in netaddr.IPSet(usable_range(network))


def free_addresses(pools: list[dict[str, str]], used: set[str]) -> Iterator[str]:
    """The pools' addresses not in ``used``, in order."""
    for pool in pools:
        for address in netaddr.iter_iprange(pool["start"], pool["end"]):
            text = str(address)
            if text not in used:
                yield text


def pick_address(pools: list[dict[str, str]], used: set[str], first: bool = False) -> str | None:
    """One free address: the first one when ``first``, else one of the first few
    (chosen at random, so that concurrent requests rarely want the same one)."""
    window = []
    for address in free_addresses(pools, used):
        window.append(address)
        if first or len(window) >= CANDIDATE_WINDOW:
            break
    if not window:
        return None
    return window[0] if first else random.choice(window)


def pool_size(pools: list[dict[str, str]]) -> int:
    return sum(netaddr.IPRange(p["start"], p["end"]).size for p in pools)


def in_pools(address: str, pools: list[dict[str, str]]) -> bool:
    ip = netaddr.IPAddress(address)
    return any(ip in netaddr.IPRange(p["start"], p["end"]) for p in pools)


def generate_mac(base_mac: str) -> str:
    """A random MAC address with ``base_mac``'s first three octets (unicast, local)."""
    prefix = base_mac.split(":")[:3]
    tail = [f"{random.randint(0, 255):02x}" for _ in range(3)]
    return ":".join([*prefix, *tail])


def validate_mac(value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidInput("mac_address", f"'{value}' is not a valid MAC address.")
    try:
        mac = netaddr.EUI(value, dialect=netaddr.mac_unix_expanded)
    except (netaddr.AddrFormatError, ValueError, TypeError) as exc:
        raise InvalidInput("mac_address", f"'{value}' is not a valid MAC address.") from exc
    if mac.words[0] & 1:
        raise InvalidInput("mac_address", f"'{value}' is a multicast address.")
    return str(mac)
