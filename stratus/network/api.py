"""What a Networking request means: networks and their segments, subnets, ports
and their addresses, quotas, address availability, and the desired state of a
host's data plane. The layer between the Networking API's handlers and the
database, as Neutron's plugin.

Every function takes a ``context`` with ``project_id`` and ``is_admin`` (the API's
request context, or any object with those attributes) and returns plain dicts in
the Networking API's attribute names. Authorisation by policy is the caller's; this
layer applies visibility (a project sees its own resources, and shared and external
networks) and the rules of the data (IPAM, segments, quotas).

Writes that allocate something unique (an address, a segmentation id, a MAC
address) run in ``_retrying``: the database's unique constraints decide which of
two concurrent requests wins, and the loser starts its transaction again and
chooses anew.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

import netaddr
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from stratus.conf import CONF
from stratus.db import network as db
from stratus.db.models import IPAllocation, Network, Port, Subnet
from stratus.db.session import transaction
from stratus.network import exceptions as exc
from stratus.network import ipam
from stratus.network import routers as l3
from stratus.network import security_groups as sg

LOG = logging.getLogger(__name__)
T = TypeVar("T")

DHCP_OWNER = "network:dhcp"
NETWORK_TYPES = ("flat", "vlan", "vxlan")
VLAN_MIN, VLAN_MAX = 1, 4094
VNI_MIN, VNI_MAX = 1, 2**24 - 1
VXLAN_OVERHEAD = 50
QUOTA_NAMES = {
    "network": "quota_network",
    "subnet": "quota_subnet",
    "port": "quota_port",
    "security_group": "quota_security_group",
    "security_group_rule": "quota_security_group_rule",
    "router": "quota_router",
    "floatingip": "quota_floatingip",
}


def bridge_name(network_id: str) -> str:
    """The Linux bridge of a network on every host (15 characters at most)."""
    return f"brq{network_id[:11]}"


# --- helpers ---------------------------------------------------------------------------


def _retryable(error: Exception) -> bool:
    if isinstance(error, IntegrityError):
        return True
    text = str(getattr(error, "orig", error)).lower()
    return isinstance(error, OperationalError) and ("lock" in text or "deadlock" in text)


def _retrying(work: Callable[[Session], T]) -> T:
    """Run ``work`` in a transaction, again (with a fresh view of the database)
    when a concurrent request took what it chose first or held the database."""
    attempts = CONF.network.ip_allocation_retries
    for attempt in range(attempts):
        try:
            with transaction() as session:
                return work(session)
        except (IntegrityError, OperationalError) as error:
            if not _retryable(error) or attempt == attempts - 1:
                raise
            LOG.debug("retrying a network write after %s", type(error).__name__)
            time.sleep(random.uniform(0.005, 0.05) * (attempt + 1))
    raise AssertionError("unreachable")


def _timestamp(value: dt.datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def _sees(context: Any, project_id: str) -> bool:
    return bool(context.is_admin) or context.project_id == project_id


def _scope(context: Any) -> str | None:
    """The project whose view applies, None for an administrator's view of all."""
    return None if context.is_admin else context.project_id


# --- rendering -------------------------------------------------------------------------


def network_dict(network: Network, subnet_ids: list[str]) -> dict[str, Any]:
    vxlan = network.network_type == "vxlan"
    return {
        "id": network.id,
        "name": network.name,
        "description": network.description,
        "admin_state_up": network.admin_state_up,
        "status": network.status if network.admin_state_up else "DOWN",
        "shared": network.shared,
        "router:external": network.external,
        "provider:network_type": network.network_type,
        "provider:physical_network": None if vxlan else network.physical_network or None,
        "provider:segmentation_id": (
            None if network.network_type == "flat" else network.segmentation_id
        ),
        "mtu": network.mtu,
        "port_security_enabled": network.port_security_enabled,
        "availability_zone_hints": list(network.availability_zone_hints or []),
        "availability_zones": [CONF.network.default_availability_zone],
        "subnets": subnet_ids,
        "project_id": network.project_id,
        "tenant_id": network.project_id,
        "created_at": _timestamp(network.created_at),
        "updated_at": _timestamp(network.updated_at or network.created_at),
        "revision_number": network.revision_number,
        "tags": list(network.tags or []),
    }


def subnet_dict(subnet: Subnet) -> dict[str, Any]:
    return {
        "id": subnet.id,
        "name": subnet.name,
        "description": subnet.description,
        "network_id": subnet.network_id,
        "project_id": subnet.project_id,
        "tenant_id": subnet.project_id,
        "ip_version": subnet.ip_version,
        "cidr": subnet.cidr,
        "gateway_ip": subnet.gateway_ip,
        "allocation_pools": list(subnet.allocation_pools),
        "dns_nameservers": list(subnet.dns_nameservers),
        "host_routes": list(subnet.host_routes),
        "enable_dhcp": subnet.enable_dhcp,
        "ipv6_ra_mode": subnet.ipv6_ra_mode,
        "ipv6_address_mode": subnet.ipv6_address_mode,
        "subnetpool_id": None,
        "service_types": [],
        "created_at": _timestamp(subnet.created_at),
        "updated_at": _timestamp(subnet.updated_at or subnet.created_at),
        "revision_number": subnet.revision_number,
        "tags": list(subnet.tags or []),
    }


def port_dict(port: Port) -> dict[str, Any]:
    bound = bool(port.binding_host_id)
    return {
        "id": port.id,
        "name": port.name,
        "description": port.description,
        "network_id": port.network_id,
        "project_id": port.project_id,
        "tenant_id": port.project_id,
        "admin_state_up": port.admin_state_up,
        "mac_address": port.mac_address,
        "fixed_ips": [
            {"subnet_id": a.subnet_id, "ip_address": a.ip_address} for a in port.fixed_ips
        ],
        "device_id": port.device_id,
        "device_owner": port.device_owner,
        "status": port.status,
        **sg.port_attributes(port),
        "port_security_enabled": port.port_security_enabled,
        "binding:host_id": port.binding_host_id,
        "binding:vif_type": "bridge" if bound else "unbound",
        "binding:vif_details": (
            {
                "connectivity": "l2",
                "port_filter": False,
                "bridge_name": bridge_name(port.network_id),
            }
            if bound
            else {}
        ),
        "binding:vnic_type": port.binding_vnic_type,
        "binding:profile": dict(port.binding_profile or {}),
        "created_at": _timestamp(port.created_at),
        "updated_at": _timestamp(port.updated_at or port.created_at),
        "revision_number": port.revision_number,
        "tags": list(port.tags or []),
    }


# --- networks --------------------------------------------------------------------------


def _network(session: Session, context: Any, network_id: str) -> Network:
    network = db.get_network(session, network_id)
    if network is None or not (
        _sees(context, network.project_id) or network.shared or network.external
    ):
        raise exc.NotFound("Network", network_id)
    return network


def _render_networks(session: Session, networks: list[Network]) -> list[dict[str, Any]]:
    subnets = db.subnets_of(session, [n.id for n in networks])
    return [network_dict(n, [s.id for s in subnets.get(n.id, [])]) for n in networks]


def list_networks(context: Any) -> list[dict[str, Any]]:
    with transaction() as session:
        return _render_networks(session, db.list_networks(session, _scope(context)))


def get_network(context: Any, network_id: str) -> dict[str, Any]:
    with transaction() as session:
        return _render_networks(session, [_network(session, context, network_id)])[0]


def _parse_ranges(entries: list[str], low: int, high: int, option: str) -> list[tuple[int, int]]:
    ranges = []
    for entry in entries:
        first, _, last = entry.partition(":")
        try:
            lo, hi = int(first), int(last or first)
        except ValueError as error:
            raise exc.InvalidInput(option, f"'{entry}' is not <min>:<max>.") from error
        if not low <= lo <= hi <= high:
            raise exc.InvalidInput(option, f"'{entry}' is outside {low}..{high}.")
        ranges.append((lo, hi))
    return ranges


def physical_networks() -> set[str]:
    """Physical networks the cloud knows: the mappings' and the vlan ranges' names."""
    names = {m.split(":", 1)[0] for m in CONF.network.physical_network_mappings if m}
    names |= {r.split(":", 1)[0] for r in CONF.network.network_vlan_ranges if r}
    return names


def vlan_ranges() -> dict[str, list[tuple[int, int]]]:
    """Tenant vlan ranges per physical network (empty for a physnet without range)."""
    found: dict[str, list[tuple[int, int]]] = {}
    for entry in CONF.network.network_vlan_ranges:
        physnet, _, span = entry.partition(":")
        found.setdefault(physnet, [])
        if span:
            found[physnet] += _parse_ranges([span], VLAN_MIN, VLAN_MAX, "network_vlan_ranges")
    return found


def _check_segment(values: dict[str, Any]) -> tuple[str, str, int | None]:
    """(network_type, physical_network, segmentation_id or None to allocate)."""
    provider = {k: values.get(k) for k in values if k.startswith("provider:")}
    network_type = provider.get("provider:network_type")
    physnet = provider.get("provider:physical_network")
    segment = provider.get("provider:segmentation_id")
    if network_type is None:
        if physnet is not None or segment is not None:
            raise exc.InvalidInput(
                "provider:network_type", "is required with the other provider attributes."
            )
        network_type = CONF.network.tenant_network_types[0]
        if network_type == "flat":
            raise exc.InvalidInput(
                "provider:network_type", "flat networks need provider attributes."
            )
        if network_type == "vlan":
            physnet = next((p for p, r in vlan_ranges().items() if r), None)
            if physnet is None:
                raise exc.InvalidInput("provider:network_type", "no vlan range is configured.")
        return network_type, physnet or "", None
    if network_type not in NETWORK_TYPES:
        raise exc.InvalidInput(
            "provider:network_type",
            f"network type '{network_type}' is not one of {', '.join(NETWORK_TYPES)}.",
        )
    if network_type == "vxlan":
        if physnet:
            raise exc.InvalidInput(
                "provider:physical_network", "vxlan networks have no physical network."
            )
        if segment is not None and not VNI_MIN <= segment <= VNI_MAX:
            raise exc.InvalidInput(
                "provider:segmentation_id", f"VNI {segment} is outside {VNI_MIN}..{VNI_MAX}."
            )
        return network_type, "", segment
    if not physnet:
        raise exc.InvalidInput(
            "provider:physical_network", f"{network_type} networks need a physical network."
        )
    if physnet not in physical_networks():
        raise exc.InvalidInput(
            "provider:physical_network", f"physical network '{physnet}' is unknown."
        )
    if network_type == "flat":
        allowed = CONF.network.flat_networks
        if "*" not in allowed and physnet not in allowed:
            raise exc.InvalidInput(
                "provider:physical_network", f"flat networks are not allowed on '{physnet}'."
            )
        if segment is not None:
            raise exc.InvalidInput(
                "provider:segmentation_id", "flat networks have no segmentation id."
            )
        return network_type, physnet, 0
    if physnet not in vlan_ranges():
        raise exc.InvalidInput(
            "provider:physical_network", f"physical network '{physnet}' carries no vlans."
        )
    if segment is not None and not VLAN_MIN <= segment <= VLAN_MAX:
        raise exc.InvalidInput(
            "provider:segmentation_id", f"vlan id {segment} is outside {VLAN_MIN}..{VLAN_MAX}."
        )
    return network_type, physnet, segment


def _allocate_segment(session: Session, network_type: str, physnet: str) -> int:
    if network_type == "vxlan":
        ranges = _parse_ranges(CONF.network.vni_ranges, VNI_MIN, VNI_MAX, "vni_ranges")
    else:
        ranges = vlan_ranges().get(physnet, [])
    used = db.used_segments(session, network_type, physnet)
    free: list[int] = []
    for low, high in ranges:
        for value in range(low, high + 1):
            if value not in used:
                free.append(value)
                if len(free) >= ipam.CANDIDATE_WINDOW:
                    return random.choice(free)
    if not free:
        raise exc.Conflict(
            "NoNetworkAvailable",
            "Unable to create the network. No tenant network is available for allocation.",
        )
    return random.choice(free)


def _check_quota(session: Session, resource: str, project_id: str) -> None:
    limit = db.quota_limits(session, project_id, default_quotas())[resource]
    if limit >= 0:
        db.lock_project(session, project_id)
    if limit >= 0 and db.count_owned(session, resource, project_id) + 1 > limit:
        raise exc.OverQuota(f"{resource}s", limit)


def _mtu(network_type: str, requested: int | None) -> int:
    largest = CONF.network.global_physnet_mtu - (VXLAN_OVERHEAD if network_type == "vxlan" else 0)
    if requested is None:
        return largest
    if not 68 <= requested <= largest:
        raise exc.InvalidInput("mtu", f"{requested} is outside 68..{largest} for {network_type}.")
    return requested


def create_network(context: Any, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` are the request's attributes, already type-checked."""
    network_type, physnet, segment = _check_segment(values)
    mtu = _mtu(network_type, values.get("mtu"))
    project_id = values.get("project_id") or context.project_id
    hints = values.get("availability_zone_hints") or []
    for zone in hints:
        if zone != CONF.network.default_availability_zone:
            raise exc.InvalidInput("availability_zone_hints", f"zone '{zone}' is unknown.")

    def work(session: Session) -> dict[str, Any]:
        _check_quota(session, "network", project_id)
        chosen = segment
        if chosen is None:
            chosen = _allocate_segment(session, network_type, physnet)
        elif chosen in db.used_segments(session, network_type, physnet):
            if network_type == "flat":
                raise exc.Conflict(
                    "FlatNetworkInUse",
                    f"Unable to create the flat network. Physical network {physnet} is in use.",
                )
            raise exc.Conflict(
                "SegmentationIdInUse",
                f"Unable to create the network. The {network_type} segmentation id "
                f"{chosen} is in use.",
            )
        network = Network(
            project_id=project_id,
            name=values.get("name", ""),
            description=values.get("description", ""),
            admin_state_up=values.get("admin_state_up", True),
            shared=values.get("shared", False),
            external=values.get("router:external", False),
            mtu=mtu,
            port_security_enabled=values.get("port_security_enabled", True),
            availability_zone_hints=hints,
            network_type=network_type,
            physical_network=physnet,
            segmentation_id=chosen,
            tags=validate_tags(values.get("tags", [])),
        )
        session.add(network)
        session.flush()
        return network_dict(network, [])

    return _retrying(work)


def update_network(context: Any, network_id: str, values: dict[str, Any]) -> dict[str, Any]:
    if any(k.startswith("provider:") for k in values):
        raise exc.InvalidInput(
            "provider:network_type", "provider attributes cannot be changed in place."
        )
    with transaction() as session:
        network = _network(session, context, network_id)
        if "mtu" in values:
            network.mtu = _mtu(network.network_type, values["mtu"])
        if values.get("shared") is False and network.shared:
            ports = db.list_ports(session, network_ids=[network.id])
            if any(p.project_id != network.project_id for p in ports):
                raise exc.Conflict(
                    "InvalidSharedSetting",
                    f"Unable to reconfigure sharing settings for network {network_id}. "
                    "Multiple projects are using it.",
                )
        if values.get("router:external") is False and network.external:
            l3.check_not_external_in_use(session, network)
        for key, column in (
            ("name", "name"),
            ("description", "description"),
            ("admin_state_up", "admin_state_up"),
            ("shared", "shared"),
            ("router:external", "external"),
            ("port_security_enabled", "port_security_enabled"),
        ):
            if key in values:
                setattr(network, column, values[key])
        network.revision_number += 1
        session.flush()
        return _render_networks(session, [network])[0]


def delete_network(context: Any, network_id: str) -> None:
    with transaction() as session:
        network = _network(session, context, network_id)
        if db.count_ports(session, network_id, exclude_owner=DHCP_OWNER):
            raise exc.Conflict(
                "NetworkInUse",
                f"Unable to complete operation on network {network_id}. "
                "There are one or more ports still in use on the network.",
            )
        for port in db.ports_with_owner(session, network_id, DHCP_OWNER):
            session.delete(port)
        session.flush()
        for subnet in db.list_subnets(session, network_ids=[network_id]):
            db.delete_subnet_allocations(session, subnet.id)
            session.delete(subnet)
        session.flush()
        session.delete(network)


# --- subnets ---------------------------------------------------------------------------


def _subnet(session: Session, context: Any, subnet_id: str) -> Subnet:
    subnet = db.get_subnet(session, subnet_id)
    if subnet is None:
        raise exc.NotFound("Subnet", subnet_id)
    if not _sees(context, subnet.project_id):
        try:
            _network(session, context, subnet.network_id)
        except exc.NotFound:
            raise exc.NotFound("Subnet", subnet_id) from None
    return subnet


def list_subnets(context: Any) -> list[dict[str, Any]]:
    with transaction() as session:
        return [subnet_dict(s) for s in db.list_subnets(session, _scope(context))]


def get_subnet(context: Any, subnet_id: str) -> dict[str, Any]:
    with transaction() as session:
        return subnet_dict(_subnet(session, context, subnet_id))


def subnet_network(context: Any, network_id: str) -> dict[str, Any]:
    """The network a new subnet goes on (for the caller's policy check): 404 if
    the caller cannot see it."""
    return get_network(context, network_id)


def create_subnet(context: Any, values: dict[str, Any]) -> dict[str, Any]:
    network_id = values["network_id"]
    project_id = values.get("project_id") or context.project_id

    def work(session: Session) -> dict[str, Any]:
        network = _network(session, context, network_id)
        _check_quota(session, "subnet", project_id)
        siblings = db.list_subnets(session, network_ids=[network.id])
        spec = ipam.validate_subnet(
            cidr=values.get("cidr"),
            ip_version=values.get("ip_version", 4),
            gateway_ip=values.get("gateway_ip", ""),
            allocation_pools=values.get("allocation_pools"),
            dns_nameservers=values.get("dns_nameservers"),
            host_routes=values.get("host_routes"),
            ipv6_ra_mode=values.get("ipv6_ra_mode"),
            ipv6_address_mode=values.get("ipv6_address_mode"),
            other_cidrs=[s.cidr for s in siblings],
        )
        subnet = Subnet(
            project_id=project_id,
            network_id=network.id,
            name=values.get("name", ""),
            description=values.get("description", ""),
            enable_dhcp=values.get("enable_dhcp", True),
            tags=validate_tags(values.get("tags", [])),
            **vars(spec),
        )
        session.add(subnet)
        session.flush()
        _sync_dhcp_port(session, network, [*siblings, subnet])
        network.revision_number += 1
        return subnet_dict(subnet)

    return _retrying(work)


def update_subnet(context: Any, subnet_id: str, values: dict[str, Any]) -> dict[str, Any]:
    def work(session: Session) -> dict[str, Any]:
        subnet = _subnet(session, context, subnet_id)
        network = _network(session, context, subnet.network_id)
        if "gateway_ip" in values:
            gateway = values["gateway_ip"]
            if gateway is not None:
                gateway = str(ipam.parse_ip(gateway, "gateway_ip"))
                if not ipam.address_in_subnet(gateway, subnet.cidr):
                    raise exc.InvalidInput(
                        "gateway_ip", f"Gateway IP {gateway} is not in subnet {subnet.cidr}."
                    )
                if ipam.in_pools(gateway, subnet.allocation_pools):
                    raise exc.InvalidInput(
                        "gateway_ip", f"Gateway IP {gateway} is inside an allocation pool."
                    )
            subnet.gateway_ip = gateway
        if "allocation_pools" in values:
            subnet.allocation_pools = ipam.validate_pools_update(
                values["allocation_pools"], subnet.cidr, subnet.gateway_ip
            )
        if "dns_nameservers" in values:
            subnet.dns_nameservers = ipam.validate_nameservers(values["dns_nameservers"])
        if "host_routes" in values:
            subnet.host_routes = ipam.validate_host_routes(values["host_routes"], subnet.ip_version)
        for key in ("name", "description", "enable_dhcp"):
            if key in values:
                setattr(subnet, key, values[key])
        subnet.revision_number += 1
        session.flush()
        _sync_dhcp_port(session, network, db.list_subnets(session, network_ids=[network.id]))
        return subnet_dict(subnet)

    return _retrying(work)


def delete_subnet(context: Any, subnet_id: str) -> None:
    def work(session: Session) -> None:
        subnet = _subnet(session, context, subnet_id)
        network = _network(session, context, subnet.network_id)
        if ipam.is_slaac(subnet.ip_version, subnet.ipv6_address_mode):
            # An auto-address subnet's addresses go with it; the ports stay (a router's
            # interface in it still holds the subnet).
            holders = [
                port
                for port in db.list_ports(session, network_ids=[network.id])
                if port.device_owner != DHCP_OWNER
                and any(ip.subnet_id == subnet.id for ip in port.fixed_ips)
            ]
            in_use = any(p.device_owner.startswith("network:router_interface") for p in holders)
            if not in_use:
                for port in holders:
                    port.revision_number += 1
        else:
            in_use = bool(db.subnet_allocations(session, subnet.id, exclude_owner=DHCP_OWNER))
        if in_use:
            raise exc.Conflict(
                "SubnetInUse",
                f"Unable to complete operation on subnet {subnet_id}: "
                "one or more ports have an IP allocation from this subnet.",
            )
        db.delete_subnet_allocations(session, subnet.id)
        session.expire_all()
        others = [
            s for s in db.list_subnets(session, network_ids=[network.id]) if s.id != subnet_id
        ]
        _sync_dhcp_port(session, network, others)
        session.delete(subnet)

    _retrying(work)


def _sync_dhcp_port(session: Session, network: Network, subnets: list[Subnet]) -> None:
    """The network's DHCP port holds one address in each DHCP-enabled subnet, the
    first free one; it exists while any subnet has DHCP."""
    wanted = [s for s in subnets if s.enable_dhcp]
    ports = db.ports_with_owner(session, network.id, DHCP_OWNER)
    if not wanted:
        for port in ports:
            session.delete(port)
        return
    if ports:
        port = ports[0]
    else:
        port = Port(
            project_id=network.project_id,
            network_id=network.id,
            mac_address=_new_mac(session, network.id),
            device_id=f"dhcp-{network.id}",
            device_owner=DHCP_OWNER,
            status="DOWN",
        )
        session.add(port)
        session.flush()
    wanted_ids = {s.id for s in wanted}
    held = {a.subnet_id for a in port.fixed_ips}
    for allocation in list(port.fixed_ips):
        if allocation.subnet_id not in wanted_ids:
            port.fixed_ips.remove(allocation)
    for subnet in wanted:
        if subnet.id not in held:
            port.fixed_ips.append(_allocation(session, network.id, subnet, port, None, first=True))
    session.flush()


# --- ports -----------------------------------------------------------------------------


def _port(session: Session, context: Any, port_id: str) -> Port:
    port = db.get_port(session, port_id)
    if port is None:
        raise exc.NotFound("Port", port_id)
    if not _sees(context, port.project_id):
        network = db.get_network(session, port.network_id)
        if network is None or network.project_id != context.project_id:
            raise exc.NotFound("Port", port_id)
    return port


def list_ports(context: Any) -> list[dict[str, Any]]:
    with transaction() as session:
        return [port_dict(p) for p in db.list_ports(session, _scope(context))]


def get_port(context: Any, port_id: str) -> dict[str, Any]:
    with transaction() as session:
        return port_dict(_port(session, context, port_id))


def _new_mac(session: Session, network_id: str, requested: str | None = None) -> str:
    if requested is not None:
        mac = ipam.validate_mac(requested)
        taken = any(p.mac_address == mac for p in db.list_ports(session, network_ids=[network_id]))
        if taken:
            raise exc.Conflict(
                "MacAddressInUse",
                f"Unable to complete operation for network {network_id}. "
                f"The mac address {mac} is in use.",
            )
        return mac
    # A collision is unlikely; the unique constraint (network, mac) catches it and
    # the transaction is retried with a new address.
    return ipam.generate_mac(CONF.network.base_mac)


def _allocation(
    session: Session,
    network_id: str,
    subnet: Subnet,
    port: Port,
    address: str | None,
    first: bool = False,
) -> IPAllocation:
    """An address of ``subnet`` for ``port``: ``address`` if given (and free), the
    SLAAC address for a SLAAC subnet, else a free address of the pools."""
    used = db.used_addresses(session, subnet.id)
    if address is not None:
        if not ipam.address_in_subnet(address, subnet.cidr):
            raise exc.InvalidInput(
                "fixed_ips", f"IP address {address} is not a valid IP for subnet {subnet.id}."
            )
        gateway_holder = address == subnet.gateway_ip and not port.device_owner.startswith(
            "network:router"
        )
        if address in used or gateway_holder:
            raise exc.IpAddressAlreadyAllocated(address, subnet.id)
    elif ipam.is_slaac(subnet.ip_version, subnet.ipv6_address_mode):
        address = ipam.eui64_address(subnet.cidr, port.mac_address)
        if address in used:
            raise exc.IpAddressAlreadyAllocated(address, subnet.id)
    else:
        exclude = used | ({subnet.gateway_ip} if subnet.gateway_ip else set())
        address = ipam.pick_address(subnet.allocation_pools, exclude, first=first)
        if address is None:
            raise exc.IpAddressGenerationFailure(network_id)
    return IPAllocation(
        subnet_id=subnet.id, ip_address=address, port_id=port.id, network_id=network_id
    )


def _requested_ips(
    session: Session, network_id: str, subnets: list[Subnet], fixed_ips: list[dict[str, Any]]
) -> list[tuple[Subnet, str | None]]:
    by_id = {s.id: s for s in subnets}
    wanted: list[tuple[Subnet, str | None]] = []
    for item in fixed_ips:
        subnet_id, address = item.get("subnet_id"), item.get("ip_address")
        if address is not None:
            address = str(ipam.parse_ip(address, "fixed_ips"))
        if subnet_id is not None:
            if subnet_id not in by_id:
                if db.get_subnet(session, subnet_id) is None:
                    raise exc.NotFound("Subnet", subnet_id)
                raise exc.InvalidInput(
                    "fixed_ips",
                    f"Failed to create port on network {network_id}, because fixed_ips "
                    f"included invalid subnet {subnet_id}.",
                )
            subnet = by_id[subnet_id]
        elif address is not None:
            subnet = next((s for s in subnets if ipam.address_in_subnet(address, s.cidr)), None)
            if subnet is None:
                raise exc.InvalidInput(
                    "fixed_ips",
                    f"IP address {address} is not a valid IP for any subnet on network "
                    f"{network_id}.",
                )
        else:
            raise exc.InvalidInput("fixed_ips", "each entry needs subnet_id or ip_address.")
        wanted.append((subnet, address))
    return wanted


def _default_ips(subnets: list[Subnet]) -> list[tuple[list[Subnet], None]]:
    """As Neutron: the SLAAC address of every SLAAC subnet, one IPv4 address and
    one stateful IPv6 address (each from the first such subnet with room)."""
    slaac = [s for s in subnets if ipam.is_slaac(s.ip_version, s.ipv6_address_mode)]
    v4 = [s for s in subnets if s.ip_version == 4]
    v6 = [s for s in subnets if s.ip_version == 6 and s not in slaac]
    return [([s], None) for s in slaac] + [(group, None) for group in (v4, v6) if group]


def _allocate_all(
    session: Session,
    network_id: str,
    port: Port,
    wanted: list[tuple[list[Subnet], str | None]],
) -> None:
    """Give ``port`` one address per entry: ``address`` in the entry's one subnet,
    or a free address of the first of the entry's subnets that has one."""
    first = port.device_owner == DHCP_OWNER
    for candidates, address in wanted:
        for position, subnet in enumerate(candidates):
            try:
                allocation = _allocation(session, network_id, subnet, port, address, first)
            except exc.IpAddressGenerationFailure:
                if position == len(candidates) - 1:
                    raise
                continue
            port.fixed_ips.append(allocation)
            break


def create_port(context: Any, values: dict[str, Any]) -> dict[str, Any]:
    network_id = values["network_id"]
    project_id = values.get("project_id") or context.project_id
    _check_port_extras(values)
    default_id = ensure_default_security_group(project_id) if sg.wants_default(values) else None

    def work(session: Session) -> dict[str, Any]:
        network = _network(session, context, network_id)
        _check_quota(session, "port", project_id)
        subnets = db.list_subnets(session, network_ids=[network.id])
        port = Port(
            project_id=project_id,
            network_id=network.id,
            name=values.get("name", ""),
            description=values.get("description", ""),
            admin_state_up=values.get("admin_state_up", True),
            mac_address=_new_mac(session, network.id, values.get("mac_address")),
            device_id=values.get("device_id", ""),
            device_owner=values.get("device_owner", ""),
            port_security_enabled=values.get(
                "port_security_enabled", network.port_security_enabled
            ),
            binding_host_id=values.get("binding:host_id", ""),
            binding_vnic_type=values.get("binding:vnic_type", "normal"),
            binding_profile=values.get("binding:profile") or {},
            tags=validate_tags(values.get("tags", [])),
            status="DOWN",
        )
        session.add(port)
        session.flush()
        sg.apply_to_port(session, port, values, True, default_id)
        if values.get("fixed_ips") is None:
            wanted: list[tuple[list[Subnet], str | None]] = list(_default_ips(subnets))
        else:
            requested = _requested_ips(session, network.id, subnets, values["fixed_ips"])
            wanted = [([subnet], address) for subnet, address in requested]
        _allocate_all(session, network.id, port, wanted)
        session.flush()
        return port_dict(port)

    return _retrying(work)


def _check_port_extras(values: dict[str, Any]) -> None:
    vnic = values.get("binding:vnic_type")
    if vnic is not None and vnic != "normal":
        raise exc.InvalidInput("binding:vnic_type", f"vnic type '{vnic}' is not supported.")


def update_port(context: Any, port_id: str, values: dict[str, Any]) -> dict[str, Any]:
    _check_port_extras(values)

    def work(session: Session) -> dict[str, Any]:
        port = _port(session, context, port_id)
        if values.get("fixed_ips") is not None:
            subnets = db.list_subnets(session, network_ids=[port.network_id])
            wanted = _requested_ips(session, port.network_id, subnets, values["fixed_ips"])
            keep = {(s.id, a) for s, a in wanted if a is not None}
            for allocation in list(port.fixed_ips):
                if (allocation.subnet_id, allocation.ip_address) not in keep:
                    port.fixed_ips.remove(allocation)
            session.flush()
            held = {(a.subnet_id, a.ip_address) for a in port.fixed_ips}
            _allocate_all(
                session,
                port.network_id,
                port,
                [([s], a) for s, a in wanted if (s.id, a) not in held],
            )
        for key, column in (
            ("name", "name"),
            ("description", "description"),
            ("admin_state_up", "admin_state_up"),
            ("device_id", "device_id"),
            ("device_owner", "device_owner"),
            ("port_security_enabled", "port_security_enabled"),
            ("binding:host_id", "binding_host_id"),
            ("binding:profile", "binding_profile"),
        ):
            if key in values:
                setattr(port, column, values[key] if values[key] is not None else "")
        sg.apply_to_port(session, port, values, False, None)
        if "binding:host_id" in values and not port.binding_host_id:
            port.status = "DOWN"
        port.revision_number += 1
        session.flush()
        return port_dict(port)

    return _retrying(work)


def delete_port(context: Any, port_id: str) -> set[str]:
    """Delete a port; its addresses go back to the pools with it. A router's or a
    floating IP's port is refused (409); a port's floating IPs are disassociated.
    The networks of the routers that carried those (their state changed)."""
    with transaction() as session:
        port = _port(session, context, port_id)
        l3.check_port_deletable(session, port)
        changed = l3.release_port(session, port)
        session.delete(port)
        return changed


# --- security groups ---------------------------------------------------------------------


def ensure_default_security_group(project_id: str) -> str:
    """The id of the project's ``default`` group, made now if it has none."""
    return _retrying(lambda session: sg.ensure_default(session, project_id))


def list_security_groups(context: Any) -> list[dict[str, Any]]:
    if context.project_id:
        ensure_default_security_group(context.project_id)
    with transaction() as session:
        return sg.list_groups(session, context)


def get_security_group(context: Any, group_id: str) -> dict[str, Any]:
    with transaction() as session:
        return sg.get_group(session, context, group_id)


def create_security_group(context: Any, values: dict[str, Any]) -> dict[str, Any]:
    values = {**values, "tags": validate_tags(values.get("tags", []))}
    ensure_default_security_group(values.get("project_id") or context.project_id)
    return _retrying(lambda session: sg.create_group(session, context, values, _check_quota))


def update_security_group(context: Any, group_id: str, values: dict[str, Any]) -> dict[str, Any]:
    with transaction() as session:
        return sg.update_group(session, context, group_id, values)


def delete_security_group(context: Any, group_id: str) -> None:
    _retrying(lambda session: sg.delete_group(session, context, group_id))


def list_security_group_rules(context: Any) -> list[dict[str, Any]]:
    if context.project_id:
        ensure_default_security_group(context.project_id)
    with transaction() as session:
        return sg.list_rules(session, context)


def get_security_group_rule(context: Any, rule_id: str) -> dict[str, Any]:
    with transaction() as session:
        return sg.get_rule(session, context, rule_id)


def create_security_group_rule(context: Any, values: dict[str, Any]) -> dict[str, Any]:
    """A new rule; of two equal rules made at once the database refuses the second,
    whose retry then finds the first (409 ``SecurityGroupRuleExists``)."""
    return _retrying(lambda session: sg.create_rule(session, context, values, _check_quota))


def delete_security_group_rule(context: Any, rule_id: str) -> str:
    """Delete a rule; the id of its group."""
    return _retrying(lambda session: sg.delete_rule(session, context, rule_id))


def networks_watching_security_groups(group_ids: set[str]) -> set[str]:
    """The networks whose ports' filtering depends on the groups ``group_ids``."""
    with transaction() as session:
        return sg.networks_watching(session, group_ids)


# --- tags ------------------------------------------------------------------------------

MAX_TAG_LENGTH = 255


def _tagged(session: Session, context: Any, collection: str, resource_id: str) -> Any:
    finders = {
        "networks": _network,
        "subnets": _subnet,
        "ports": _port,
        "routers": l3._router,
        "floatingips": l3._fip,
    }
    if collection not in finders:
        raise exc.NotFound("Resource", collection)
    return finders[collection](session, context, resource_id)


def validate_tags(tags: Any) -> list[str]:
    if not isinstance(tags, list):
        raise exc.InvalidInput("tags", "must be a list of strings.")
    for tag in tags:
        if not isinstance(tag, str) or not tag or "," in tag or len(tag) > MAX_TAG_LENGTH:
            raise exc.InvalidInput(
                "tags", f"'{tag}' is not a tag (1 to {MAX_TAG_LENGTH} characters, no comma)."
            )
    return sorted(set(tags))


def get_tags(context: Any, collection: str, resource_id: str) -> list[str]:
    with transaction() as session:
        return list(_tagged(session, context, collection, resource_id).tags or [])


def set_tags(
    context: Any, collection: str, resource_id: str, tags: list[str] | None = None, **change: str
) -> list[str]:
    """Replace the tags (``tags``), or ``add`` or ``remove`` one; a removed tag
    that is absent is a 404."""
    with transaction() as session:
        row = _tagged(session, context, collection, resource_id)
        current = set(row.tags or [])
        if tags is not None:
            current = set(validate_tags(tags))
        if "add" in change:
            current |= set(validate_tags([change["add"]]))
        if "remove" in change:
            if change["remove"] not in current:
                raise exc.NotFound("Tag", change["remove"])
            current.discard(change["remove"])
        row.tags = sorted(current)
        row.revision_number += 1
        return list(row.tags)


# --- quotas and availability -------------------------------------------------------------


def default_quotas() -> dict[str, int]:
    return {name: getattr(CONF.network, option) for name, option in QUOTA_NAMES.items()}


def get_quotas(project_id: str) -> dict[str, int]:
    with transaction() as session:
        return db.quota_limits(session, project_id, default_quotas())


def list_quotas() -> list[dict[str, Any]]:
    """The limits of every project that has some not at their defaults."""
    with transaction() as session:
        return [
            {
                **db.quota_limits(session, project_id, default_quotas()),
                "project_id": project_id,
                "tenant_id": project_id,
            }
            for project_id in sorted(db.projects_with_quotas(session))
        ]


def quota_details(project_id: str) -> dict[str, dict[str, int]]:
    with transaction() as session:
        limits = db.quota_limits(session, project_id, default_quotas())
        used = db.quota_usage(session, project_id)
    return {r: {"limit": limits[r], "used": used[r], "reserved": 0} for r in QUOTA_NAMES}


def update_quotas(project_id: str, values: dict[str, Any]) -> dict[str, int]:
    """Set limits; with ``check_limit`` true (as clients send), a limit below the
    project's current usage is refused."""
    values = dict(values)
    check_limit = values.pop("check_limit", False)
    if not isinstance(check_limit, bool):
        raise exc.InvalidInput("check_limit", f"'{check_limit}' is not a boolean.")
    for name, value in values.items():
        if name not in QUOTA_NAMES:
            raise exc.InvalidInput("quota", f"Unrecognized attribute(s) '{name}'.")
        if not isinstance(value, int) or isinstance(value, bool) or value < -1:
            raise exc.InvalidInput(name, f"'{value}' is not an integer of -1 or more.")
    with transaction() as session:
        if check_limit:
            used = db.quota_usage(session, project_id)
            for name, value in values.items():
                if 0 <= value < used[name]:
                    raise exc.InvalidInput(
                        name, f"limit {value} is below the {used[name]} {name}s in use."
                    )
        db.set_quota_limits(session, project_id, values)
        session.flush()
        return db.quota_limits(session, project_id, default_quotas())


def reset_quotas(project_id: str) -> None:
    with transaction() as session:
        db.reset_quota_limits(session, project_id)


def ip_availabilities(context: Any) -> list[dict[str, Any]]:
    """Per network, the addresses of its subnets' pools and how many are held."""
    with transaction() as session:
        networks = db.list_networks(session, _scope(context))
        subnets = db.subnets_of(session, [n.id for n in networks])
        counts = db.allocation_counts(session, [s.id for group in subnets.values() for s in group])
    found = []
    for network in networks:
        rows = [
            {
                "subnet_id": s.id,
                "subnet_name": s.name,
                "cidr": s.cidr,
                "ip_version": s.ip_version,
                "total_ips": ipam.pool_size(s.allocation_pools),
                "used_ips": counts.get(s.id, 0),
            }
            for s in subnets.get(network.id, [])
        ]
        found.append(
            {
                "network_id": network.id,
                "network_name": network.name,
                "project_id": network.project_id,
                "tenant_id": network.project_id,
                "total_ips": sum(r["total_ips"] for r in rows),
                "used_ips": sum(r["used_ips"] for r in rows),
                "subnet_ip_availability": rows,
            }
        )
    return found


# --- the data plane's view (served by the conductor to network and compute hosts) ---------


def report_host(host: str, vtep_address: str | None) -> None:
    """Record a host's VXLAN tunnel endpoint address (its agent's ``local_ip``)."""
    if vtep_address is not None:
        vtep_address = str(netaddr.IPAddress(vtep_address))
    with transaction() as session:
        db.set_network_host(session, host, vtep_address)


def bind_port(port_id: str, host: str) -> dict[str, Any]:
    """Bind a port to a host (``binding:host_id``); the port is DOWN until plugged."""
    with transaction() as session:
        port = db.get_port(session, port_id)
        if port is None:
            raise exc.NotFound("Port", port_id)
        if port.binding_host_id != host:
            port.binding_host_id, port.status = host, "DOWN"
            port.revision_number += 1
        session.flush()
        return port_dict(port)


def set_port_status(port_id: str, status: str) -> None:
    """The data plane reports a port plugged (ACTIVE) or unplugged (DOWN)."""
    if status not in ("ACTIVE", "DOWN", "BUILD", "ERROR"):
        raise exc.InvalidInput("status", f"'{status}' is not a port status.")
    with transaction() as session:
        port = db.get_port(session, port_id)
        if port is None:
            raise exc.NotFound("Port", port_id)
        if port.status != status:
            port.status = status
            port.revision_number += 1


def host_state(host: str, dhcp: bool = False) -> dict[str, Any]:
    """The desired data-plane state of one host, as plain dicts (JSON-safe).

    A compute host (``dhcp`` False) gets the networks on which some port is bound
    to ``host``; a network/DHCP host (``dhcp`` True) gets every network with a
    DHCP-enabled subnet, too. The shape::

        {
          "host": "compute-1",
          "vtep_address": "192.0.2.11" | None,     # this host's own, if reported
          "networks": [
            {
              "id": "<uuid>", "name": "net1", "admin_state_up": True, "mtu": 1450,
              "network_type": "flat" | "vlan" | "vxlan",
              "physical_network": "physnet1" | None,   # None for vxlan
              "segmentation_id": 1234 | None,          # VNI or vlan id; None for flat
              "bridge_name": "brq<first 11 of id>",
              "subnets": [
                {"id", "ip_version": 4 | 6, "cidr": "10.0.0.0/24",
                 "gateway_ip": "10.0.0.1" | None, "enable_dhcp": True,
                 "dns_nameservers": ["192.0.2.53"],
                 "host_routes": [{"destination": "...", "nexthop": "..."}],
                 "allocation_pools": [{"start": "10.0.0.2", "end": "10.0.0.254"}],
                 "ipv6_address_mode": None | "slaac" | ..., "ipv6_ra_mode": ...}
              ],
              "ports": [                                # every port of the network
                {"id", "mac_address": "fa:16:3e:..", "device_owner": "network:dhcp",
                 "device_id": "...", "project_id": "...",
                 "binding_host_id": "compute-1" | "",
                 "admin_state_up": True, "status": "DOWN" | "ACTIVE",
                 "fixed_ips": [{"subnet_id": "...", "ip_address": "10.0.0.2"}],
                 "port_security_enabled": True,        # False: no filtering and
                                                       # no anti-spoofing at all
                 "security_groups": ["<group uuid>", ...],   # keys of the top level's
                                                             # "security_groups" (for
                                                             # ports bound to ``host``)
                 "allowed_address_pairs": [             # more source addresses/MACs
                   {"ip_address": "10.0.0.50" | "10.0.9.0/24",
                    "mac_address": "fa:16:3e:.."}]}
              ],
              # vxlan only (else {}): the other hosts with ports on the network,
              # host name -> VTEP address (None until that host reports one)
              "vteps": {"compute-2": "192.0.2.12"},
            }
          ],
        }

    The security groups that apply on this host: every group of a port bound to
    ``host`` and every group that one of their rules names as ``remote_group_id``::

        "security_groups": {
          "<group uuid>": {
            "rules": [
              {"id": "<rule uuid>",
               "direction": "ingress" | "egress",
               "ethertype": "IPv4" | "IPv6",
               # None: any protocol; else "tcp", "udp", "icmp" (IPv4 only),
               # "icmpv6" (any spelling of IPv6's ICMP, and "icmp" in an IPv6 rule),
               # "sctp", "udplite", "dccp", "gre", "esp", "ah", "vrrp", "igmp",
               # or another IP protocol number as a decimal string ("99"); a
               # known number comes as its name ("6" as "tcp", "58" as "icmpv6")
               "protocol": "tcp" | None,
               # tcp/udp/sctp/udplite/dccp: destination ports min..max (both set,
               # 1..65535) or both None (all ports); icmp/icmpv6: min is the ICMP
               # type and max the code (0..255 each; None: any); else both None
               "port_range_min": 22 | None, "port_range_max": 22 | None,
               # the peer's address: a normalised CIDR ("10.0.0.0/24",
               # "0.0.0.0/0"), or the members of remote_group_id, or (both None)
               # any address of the ethertype
               "remote_ip_prefix": "10.0.0.0/24" | None,
               "remote_group_id": "<group uuid>" | None}
            ],
            # the fixed and allowed-address-pair addresses of every port in the
            # group on any host: plain addresses, or CIDRs from address pairs
            "members": {"IPv4": ["10.0.0.5", "10.0.9.0/24"], "IPv6": ["fd00::5"]}
          }
        }

    Rules are stateful (replies of allowed connections pass). A port with
    ``port_security_enabled`` and no group gets no traffic allowed by rules.

    The routers placed on this host (a network host: ``dhcp`` True records the host
    as one that carries routers, and places routers that have no host yet on it;
    see stratus.network.routers). Their ports are bound to ``host``, so their
    networks (tenant and external) are in ``networks`` and the other hosts learn
    this host as a VTEP. Router ports have port security off (no filtering)::

        "routers": [
          {"id": "<uuid>", "admin_state_up": True,
           # the external gateway, or None
           "gateway": {"port_id", "mac_address", "network_id", "bridge_name", "mtu",
                       "fixed_ips": [{"subnet_id", "ip_address": "203.0.113.10",
                                      "cidr": "203.0.113.0/24",
                                      "gateway_ip": "203.0.113.1" | None}],
                       "enable_snat": True},
           # one per attached subnet (or port): the address is the subnet's gateway
           "interfaces": [{"port_id", "mac_address", "network_id", "bridge_name", "mtu",
                           "fixed_ips": [{"subnet_id", "ip_address": "10.0.0.1",
                                          "cidr": "10.0.0.0/24"}]}],
           # static routes; each nexthop is in an interface's subnet
           "routes": [{"destination": "10.1.0.0/24", "nexthop": "10.0.0.5"}],
           # associated floating IPs only: DNAT to / SNAT from the fixed address
           "floating_ips": [{"id", "floating_ip_address": "203.0.113.20",
                             "fixed_ip_address": "10.0.0.5"}],
           "port_forwardings": [{"id", "floating_ip_address": "203.0.113.21",
                                 "protocol": "tcp" | "udp", "external_port": 2222,
                                 "internal_ip_address": "10.0.0.5", "internal_port": 22}]}
        ]

    VTEP addresses live in the ``network_hosts`` table, written by ``report_host``
    when a host's agent reports its ``local_ip`` (through the conductor).
    """
    if dhcp:
        adopted = l3.adopt_routers(host)
        if adopted:
            # The other hosts learn this host's VTEP for the routers' networks now,
            # not at their next resync. (Imported here: the service layer wraps this
            # module.)
            from stratus.network import service

            for network_id in sorted(adopted):
                service.network_changed(network_id)
    with transaction() as session:
        routers = l3.host_routers(session, host)
        ids = {p.network_id for p in db.list_ports(session, host=host)}
        networks = db.list_networks(session)
        subnets = db.subnets_of(session, [n.id for n in networks])
        if dhcp:
            ids |= {n.id for n in networks if any(s.enable_dhcp for s in subnets.get(n.id, []))}
        chosen = [n for n in networks if n.id in ids]
        ports = db.list_ports(session, network_ids=[n.id for n in chosen])
        hosts = {p.binding_host_id for p in ports if p.binding_host_id} | {host}
        vteps = db.network_hosts(session, hosts)
        groups = sg.host_groups(session, _host_group_ids(ports, host))
    result = []
    for network in chosen:
        own = [p for p in ports if p.network_id == network.id]
        peers = {p.binding_host_id for p in own if p.binding_host_id not in ("", host)}
        result.append(
            {
                "id": network.id,
                "name": network.name,
                "admin_state_up": network.admin_state_up,
                "mtu": network.mtu,
                "network_type": network.network_type,
                "physical_network": network.physical_network or None,
                "segmentation_id": (
                    None if network.network_type == "flat" else network.segmentation_id
                ),
                "bridge_name": bridge_name(network.id),
                "subnets": [
                    {
                        key: value
                        for key, value in subnet_dict(s).items()
                        if key
                        in (
                            "id",
                            "ip_version",
                            "cidr",
                            "gateway_ip",
                            "enable_dhcp",
                            "dns_nameservers",
                            "host_routes",
                            "allocation_pools",
                            "ipv6_address_mode",
                            "ipv6_ra_mode",
                        )
                    }
                    for s in subnets.get(network.id, [])
                ],
                "ports": [
                    {
                        "id": p.id,
                        "mac_address": p.mac_address,
                        "device_owner": p.device_owner,
                        "device_id": p.device_id,
                        "project_id": p.project_id,
                        "binding_host_id": p.binding_host_id,
                        "admin_state_up": p.admin_state_up,
                        "status": p.status,
                        "fixed_ips": [
                            {"subnet_id": a.subnet_id, "ip_address": a.ip_address}
                            for a in p.fixed_ips
                        ],
                        "port_security_enabled": p.port_security_enabled,
                        **sg.port_attributes(p),
                    }
                    for p in own
                ],
                "vteps": (
                    {peer: vteps.get(peer) for peer in sorted(peers)}
                    if network.network_type == "vxlan"
                    else {}
                ),
            }
        )
    return {
        "host": host,
        "vtep_address": vteps.get(host),
        "networks": result,
        "security_groups": groups,
        "routers": routers,
    }


def _host_group_ids(ports: list[Port], host: str) -> set[str]:
    return {
        b.security_group_id
        for p in ports
        if p.binding_host_id == host
        for b in p.security_group_bindings
    }
