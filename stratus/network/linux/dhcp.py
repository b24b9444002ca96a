"""dnsmasq's configuration for one network, rendered from the desired state.

Pure functions: the agent writes what they return into the network's state
directory and starts or signals dnsmasq through ``privileged``.

dnsmasq serves exactly the network's ports: every port address is a static
``dhcp-host`` line (by MAC) in the hostsfile, and every DHCP-enabled subnet has
a ``dhcp-range`` in ``static`` mode (no dynamic pool). Per subnet the options
file carries the gateway (router), the DNS servers and, when the subnet has
host routes, classless static routes (RFC 3442; clients that receive option 121
ignore the router option, so the default route through the gateway is repeated
there; so is the route to the metadata proxy, 169.254.169.254/32 through the
DHCP port, when the namespace runs one). IPv6 subnets get a range in the mode
their ``ipv6_address_mode`` says (DHCPv6 stateful: static addresses; stateless and SLAAC: router
advertisements, with DHCPv6 for options only when stateless). dnsmasq re-reads
the hostsfile and the options file on SIGHUP, so ports that come and go need no
restart; a change of the command line (a subnet added or removed) does.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import netaddr

from stratus.network.linux.metadata_proxy import METADATA_CIDR

DHCP_DEVICE_OWNER = "network:dhcp"


@dataclass(frozen=True)
class DnsmasqFiles:
    """Where one network's dnsmasq keeps its files."""

    directory: str

    @property
    def pid(self) -> str:
        return os.path.join(self.directory, "pid")

    @property
    def hosts(self) -> str:
        return os.path.join(self.directory, "host")

    @property
    def opts(self) -> str:
        return os.path.join(self.directory, "opts")

    @property
    def cmdline(self) -> str:
        return os.path.join(self.directory, "cmdline")


def dhcp_port(network: dict[str, Any], host: str | None = None) -> dict[str, Any] | None:
    """The network's DHCP port (device_owner ``network:dhcp``), this host's first."""
    ports = [p for p in network.get("ports", []) if p.get("device_owner") == DHCP_DEVICE_OWNER]
    ports.sort(key=lambda p: (p.get("host") != host, p["id"]))
    return ports[0] if ports else None


def dhcp_subnets(network: dict[str, Any]) -> list[dict[str, Any]]:
    """The subnets dnsmasq serves, in id order."""
    return sorted(
        (s for s in network.get("subnets", []) if s.get("enable_dhcp", True)),
        key=lambda s: s["id"],
    )


def _tag(subnet: dict[str, Any]) -> str:
    return "subnet-" + subnet["id"]


def interface_addresses(network: dict[str, Any], port: dict[str, Any]) -> list[str]:
    """The DHCP port's addresses as ``address/prefix``, for the namespace interface."""
    subnets = {s["id"]: s for s in network.get("subnets", [])}
    out = []
    for fixed in port.get("fixed_ips", []):
        subnet = subnets.get(fixed["subnet_id"])
        if subnet is None:
            continue
        prefix = netaddr.IPNetwork(subnet["cidr"]).prefixlen
        out.append(f"{netaddr.IPAddress(fixed['ip_address'])}/{prefix}")
    return out


def _range(subnet: dict[str, Any], lease: int) -> str | None:
    net = netaddr.IPNetwork(subnet["cidr"])
    tag = _tag(subnet)
    if net.version == 4:
        return f"set:{tag},{net.network},static,{net.netmask},{lease}s"
    mode = subnet.get("ipv6_address_mode")
    if mode == "dhcpv6-stateful":
        return f"set:{tag},{net.network},static,{net.prefixlen},{lease}s"
    if mode == "dhcpv6-stateless":
        return f"set:{tag},{net.network},ra-stateless,{net.prefixlen},{lease}s"
    if mode == "slaac" or subnet.get("ipv6_ra_mode"):
        return f"set:{tag},{net.network},ra-only,{net.prefixlen},{lease}s"
    return None


def command(
    network: dict[str, Any],
    files: DnsmasqFiles,
    interface: str,
    *,
    binary: str = "dnsmasq",
    lease: int = 86400,
    user: str | None = None,
) -> list[str]:
    """dnsmasq's command line for one network (it forks and writes its pid file).

    ``user``: the user dnsmasq drops to once its sockets are open, the one that
    owns the hostsfile and optsfile it re-reads on each reload (dnsmasq's default,
    nobody, could not read them in a private state directory)."""
    argv = [
        binary,
        "--no-hosts",
        "--no-resolv",
        "--port=0",
        "--strict-order",
        "--except-interface=lo",
        f"--interface={interface}",
        "--bind-interfaces",
        f"--pid-file={files.pid}",
        f"--dhcp-hostsfile={files.hosts}",
        f"--dhcp-optsfile={files.opts}",
        "--leasefile-ro",
        "--dhcp-authoritative",
    ]
    if user:
        argv.append(f"--user={user}")
    hosts = sum(1 for p in network.get("ports", []) for _ in p.get("fixed_ips", []))
    argv.append(f"--dhcp-lease-max={max(hosts, 16)}")
    ipv6 = False
    for subnet in dhcp_subnets(network):
        rng = _range(subnet, lease)
        if rng is None:
            continue
        argv.append(f"--dhcp-range={rng}")
        ipv6 = ipv6 or netaddr.IPNetwork(subnet["cidr"]).version == 6
    if ipv6:
        argv.append("--enable-ra")
    return argv


def _hostname(address: netaddr.IPAddress) -> str:
    return "host-" + str(address).replace(".", "-").replace(":", "-")


def hosts_file(network: dict[str, Any]) -> str:
    """The ``dhcp-hostsfile``: one static entry per port address on a served subnet."""
    served = {s["id"]: s for s in dhcp_subnets(network)}
    lines = []
    for port in sorted(network.get("ports", []), key=lambda p: p["id"]):
        if port.get("device_owner") == DHCP_DEVICE_OWNER:
            continue
        mac = str(port["mac_address"]).lower()
        for fixed in port.get("fixed_ips", []):
            subnet = served.get(fixed["subnet_id"])
            if subnet is None:
                continue
            address = netaddr.IPAddress(fixed["ip_address"])
            if address.version == 6:
                if subnet.get("ipv6_address_mode") != "dhcpv6-stateful":
                    continue  # SLAAC and stateless addresses are not leased
                lines.append(f"{mac},{_hostname(address)},[{address}]")
            else:
                lines.append(f"{mac},{_hostname(address)},{address}")
    return "".join(line + "\n" for line in lines)


def opts_file(
    network: dict[str, Any],
    dns_servers: list[str] | None = None,
    metadata_port: dict[str, Any] | None = None,
) -> str:
    """The ``dhcp-optsfile``: gateway, DNS servers and host routes per subnet.

    With ``metadata_port`` (the DHCP port, whose namespace runs the metadata
    proxy) each IPv4 subnet also gets the classless route to 169.254.169.254/32
    through that port's address on the subnet, as for networks without a router."""
    metadata_hops = {
        f["subnet_id"]: f["ip_address"]
        for f in (metadata_port or {}).get("fixed_ips", [])
        if netaddr.IPAddress(f["ip_address"]).version == 4
    }
    lines = []
    for subnet in dhcp_subnets(network):
        tag = _tag(subnet)
        net = netaddr.IPNetwork(subnet["cidr"])
        servers = list(subnet.get("dns_nameservers") or dns_servers or [])
        gateway = subnet.get("gateway_ip")
        if net.version == 4:
            if servers:
                lines.append(f"tag:{tag},option:dns-server," + ",".join(servers))
            if gateway:
                lines.append(f"tag:{tag},option:router,{gateway}")
            else:
                lines.append(f"tag:{tag},option:router")
            routes = [
                (str(netaddr.IPNetwork(r["destination"]).cidr), r["nexthop"])
                for r in subnet.get("host_routes") or []
                if netaddr.IPNetwork(r["destination"]).version == 4
            ]
            hop = metadata_hops.get(subnet["id"])
            if hop and all(dest != METADATA_CIDR for dest, _ in routes):
                routes.insert(0, (METADATA_CIDR, hop))
            if routes:
                if gateway and all(dest != "0.0.0.0/0" for dest, _ in routes):
                    routes.append(("0.0.0.0/0", gateway))
                flat = ",".join(f"{dest},{hop}" for dest, hop in routes)
                lines.append(f"tag:{tag},option:classless-static-route,{flat}")
        elif servers:
            lines.append(f"tag:{tag},option6:dns-server," + ",".join(f"[{s}]" for s in servers))
    return "".join(line + "\n" for line in lines)
