"""Names of the kernel objects that the data plane creates, from one rule each.

Interface names are at most 15 characters (IFNAMSIZ - 1). Everything Stratus
creates carries one of the prefixes below, so that the agent only ever removes
its own objects; devices also carry an owner tag in their alias
(:func:`owner_alias`) so that two agents (two test hosts, or another tool using
the same prefixes) never remove each other's.
"""

from __future__ import annotations

IFNAMSIZ = 15
BRIDGE_PREFIX = "brq"
VXLAN_PREFIX = "vxlan-"
VLAN_PREFIX = "vlan-"
DHCP_NAMESPACE_PREFIX = "qdhcp-"
TAP_PREFIX = "tap"
NS_DEVICE_PREFIX = "ns-"
ROUTER_NAMESPACE_PREFIX = "qrouter-"
ROUTER_INTERFACE_PREFIX = "qr-"
ROUTER_GATEWAY_PREFIX = "qg-"
ALIAS_PREFIX = "stratus:"


def bridge_name(network_id: str) -> str:
    """The network's bridge on every host: ``brq`` + the first 11 characters of its id."""
    return BRIDGE_PREFIX + network_id[:11]


def vxlan_name(vni: int) -> str:
    """The VXLAN device of the network with this VNI (``vxlan-<vni>``)."""
    return f"{VXLAN_PREFIX}{int(vni)}"


def vlan_name(vlan_id: int) -> str:
    """The VLAN sub-interface of a vlan network (``vlan-<id>``)."""
    return f"{VLAN_PREFIX}{int(vlan_id)}"


def dhcp_namespace(network_id: str) -> str:
    """The network namespace in which the network's dnsmasq runs."""
    return DHCP_NAMESPACE_PREFIX + network_id


def tap_name(port_id: str) -> str:
    """A port's device on the bridge (a guest's tap, or the bridge end of a veth)."""
    return TAP_PREFIX + port_id[:11]


def ns_device_name(port_id: str) -> str:
    """The namespace end of a DHCP port's veth pair."""
    return NS_DEVICE_PREFIX + port_id[:11]


def router_namespace(router_id: str) -> str:
    """The network namespace of a router (its interfaces, routes and NAT)."""
    return ROUTER_NAMESPACE_PREFIX + router_id


def router_device_name(port_id: str, gateway: bool = False) -> str:
    """The namespace end of a router port's veth pair: ``qr-`` (an interface into a
    subnet) or ``qg-`` (the external gateway) + 11 characters of the port id; its
    bridge end is :func:`tap_name`, as for every port's device on a bridge."""
    prefix = ROUTER_GATEWAY_PREFIX if gateway else ROUTER_INTERFACE_PREFIX
    return prefix + port_id[:11]


def owner_alias(host: str, network_id: str) -> str:
    """The alias (``ip link ... alias``) that marks a device as this agent's."""
    return f"{ALIAS_PREFIX}{host}:{network_id}"


def parse_owner_alias(alias: str | None) -> tuple[str, str] | None:
    """(host, network id) of an alias made by :func:`owner_alias`, else None."""
    if not alias or not alias.startswith(ALIAS_PREFIX):
        return None
    host, sep, network_id = alias[len(ALIAS_PREFIX) :].rpartition(":")
    if not sep or not host or not network_id:
        return None
    return host, network_id


def is_stratus_device(name: str) -> bool:
    """Whether a device name is one of the names the data plane gives."""
    return name.startswith((BRIDGE_PREFIX, VXLAN_PREFIX, VLAN_PREFIX))
