"""Routers, floating IPs and port forwardings: the service layer under the
Networking API's ``routers``, ``floatingips`` and
``floatingips/{id}/port_forwardings``, and their part of a network host's desired
data-plane state.

A router's ports are ordinary ports owned by it (``device_id`` the router's id):
its gateway (``network:router_gateway``, on an external network) and its
interfaces (``network:router_interface``, each holding its subnet's gateway
address), all with port security off. A floating IP holds its address through a
port of its own (``network:floatingip``) on the external network, so that IPAM
decides which of two concurrent creations gets an address, as for any port.

Placement: a router is carried by one network host (a host whose network agent
serves DHCP: it asked for its state with ``dhcp``, and is recorded in
``router_hosts``), the one with the fewest routers when the router is created, or
the first network host to ask for its state if none was known then. The router's
ports are bound to that host, so its networks (tenant and external) appear in
that host's state, and the compute hosts of a vxlan network learn its VTEP.

Every function takes a ``context`` (``project_id``, ``is_admin``) and returns
plain dicts in the API's attribute names; policy is the caller's.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import netaddr
from sqlalchemy.orm import Session

from stratus.conf import CONF
from stratus.db import network as net_db
from stratus.db import routers as db
from stratus.db.models import FloatingIP, Port, PortForwarding, Router, Subnet, new_uuid
from stratus.db.routers import FLOATINGIP_OWNER, GATEWAY_OWNER, INTERFACE_OWNER
from stratus.db.session import transaction
from stratus.network import api as net
from stratus.network import exceptions as exc

MAX_ROUTES = 30
PF_PROTOCOLS = ("tcp", "udp")
L3_OWNERS = (GATEWAY_OWNER, INTERFACE_OWNER, FLOATINGIP_OWNER)


def _timestamp(value: dt.datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def _bad(resource: str, message: str) -> exc.InvalidInput:
    """400 ``BadRequest``: "Bad <resource> request: <message>"."""
    return _typed(
        exc.InvalidInput(resource, ""), "BadRequest", f"Bad {resource} request: {message}"
    )


def _typed(error: Any, neutron_type: str, message: str) -> Any:
    """``error`` with Neutron's type and message."""
    error.message, error.neutron_type = message, neutron_type
    error.args = (message,)
    return error


def _not_found(kind: str, resource_id: str) -> exc.NotFound:
    return exc.NotFound(kind, resource_id)


def _unreachable(network_id: str, subnet_id: str, port_id: str) -> exc.NotFound:
    return _typed(
        exc.NotFound("External gateway", network_id),
        "ExternalGatewayForFloatingIPNotFound",
        f"External network {network_id} is not reachable from subnet {subnet_id}. "
        f"Therefore, cannot associate Port {port_id} with a Floating IP.",
    )


# --- rendering -------------------------------------------------------------------------


def _fixed_ips(port: Port) -> list[dict[str, str]]:
    return [{"subnet_id": a.subnet_id, "ip_address": a.ip_address} for a in port.fixed_ips]


def router_dict(router: Router, gateway: Port | None) -> dict[str, Any]:
    return {
        "id": router.id,
        "name": router.name,
        "description": router.description,
        "admin_state_up": router.admin_state_up,
        "status": router.status if router.admin_state_up else "DOWN",
        "external_gateway_info": (
            {
                "network_id": gateway.network_id,
                "enable_snat": router.enable_snat,
                "external_fixed_ips": _fixed_ips(gateway),
            }
            if gateway is not None
            else None
        ),
        "routes": [dict(r) for r in router.routes or []],
        "distributed": False,
        "ha": False,
        "flavor_id": None,
        "availability_zone_hints": [],
        "availability_zones": [CONF.network.default_availability_zone],
        "project_id": router.project_id,
        "tenant_id": router.project_id,
        "created_at": _timestamp(router.created_at),
        "updated_at": _timestamp(router.updated_at or router.created_at),
        "revision_number": router.revision_number,
        "tags": list(router.tags or []),
    }


def _render_router(session: Session, router: Router) -> dict[str, Any]:
    return router_dict(router, _gateway(session, router))


def floatingip_dict(
    fip: FloatingIP, port: Port | None, forwardings: list[PortForwarding]
) -> dict[str, Any]:
    return {
        "id": fip.id,
        "floating_ip_address": fip.floating_ip_address,
        "floating_network_id": fip.floating_network_id,
        "router_id": fip.router_id,
        "port_id": fip.fixed_port_id,
        "fixed_ip_address": fip.fixed_ip_address,
        "status": fip.status,
        "description": fip.description,
        "project_id": fip.project_id,
        "tenant_id": fip.project_id,
        "port_details": (
            {
                "name": port.name,
                "network_id": port.network_id,
                "mac_address": port.mac_address,
                "admin_state_up": port.admin_state_up,
                "status": port.status,
                "device_id": port.device_id,
                "device_owner": port.device_owner,
            }
            if port is not None
            else None
        ),
        "port_forwardings": [
            {
                k: v
                for k, v in port_forwarding_dict(pf).items()
                if k in ("protocol", "internal_ip_address", "internal_port", "external_port")
            }
            for pf in forwardings
        ],
        "dns_domain": "",
        "dns_name": "",
        "qos_policy_id": None,
        "created_at": _timestamp(fip.created_at),
        "updated_at": _timestamp(fip.updated_at or fip.created_at),
        "revision_number": fip.revision_number,
        "tags": list(fip.tags or []),
    }


def _render_fip(session: Session, fip: FloatingIP) -> dict[str, Any]:
    port = net_db.get_port(session, fip.fixed_port_id) if fip.fixed_port_id else None
    return floatingip_dict(fip, port, db.list_port_forwardings(session, [fip.id]))


def port_forwarding_dict(pf: PortForwarding) -> dict[str, Any]:
    return {
        "id": pf.id,
        "internal_port_id": pf.internal_port_id,
        "internal_ip_address": pf.internal_ip_address,
        "internal_port": pf.internal_port,
        "external_port": pf.external_port,
        "protocol": pf.protocol,
        "description": pf.description,
    }


# --- lookups -----------------------------------------------------------------------------


def _router(session: Session, context: Any, router_id: str) -> Router:
    router = db.get_router(session, router_id)
    if router is None or not net._sees(context, router.project_id):
        raise _not_found("Router", router_id)
    return router


def _gateway(session: Session, router: Router) -> Port | None:
    return net_db.get_port(session, router.gw_port_id) if router.gw_port_id else None


def _interfaces(session: Session, router: Router) -> list[Port]:
    return db.router_ports(session, [router.id], INTERFACE_OWNER)


def _subnets_of(session: Session, ports: list[Port]) -> list[Subnet]:
    found = []
    for port in ports:
        for allocation in port.fixed_ips:
            subnet = net_db.get_subnet(session, allocation.subnet_id)
            if subnet is not None:
                found.append(subnet)
    return found


def _external_network(session: Session, context: Any, network_id: Any, resource: str) -> Any:
    if not isinstance(network_id, str) or not network_id:
        raise exc.InvalidInput("network_id", f"'{network_id}' is not a valid UUID.")
    network = net._network(session, context, network_id)
    if not network.external:
        raise _bad(resource, f"Network {network_id} is not a valid external network.")
    return network


def _routers_networks(session: Session, routers: list[Router]) -> set[str]:
    return {p.network_id for p in db.router_ports(session, [r.id for r in routers])}


# --- placement -----------------------------------------------------------------------------


def _place(session: Session, router: Router) -> None:
    """Give an unplaced router the router host with the fewest routers (none: it
    waits for the first network host to ask for its state)."""
    if router.host:
        return
    counts = db.router_host_counts(session)
    if counts:
        router.host = min(sorted(counts), key=lambda host: counts[host])
        for port in db.router_ports(session, [router.id]):
            port.binding_host_id = router.host


def adopt_routers(host: str) -> set[str]:
    """Record ``host`` as a router host and place the routers that have none on it;
    the networks whose state changed (the placed routers')."""
    with transaction() as session:
        db.add_router_host(session, host)
        unplaced = db.list_routers(session, host="")
        for router in unplaced:
            router.host = host
            for port in db.router_ports(session, [router.id]):
                port.binding_host_id = host
        session.flush()
        return _routers_networks(session, unplaced)


# --- routers -------------------------------------------------------------------------------


def list_routers(context: Any) -> list[dict[str, Any]]:
    with transaction() as session:
        return [_render_router(session, r) for r in db.list_routers(session, net._scope(context))]


def get_router(context: Any, router_id: str) -> dict[str, Any]:
    with transaction() as session:
        return _render_router(session, _router(session, context, router_id))


def router_networks(context: Any, router_id: str) -> set[str]:
    """The networks of a router's ports (what a change of the router affects)."""
    with transaction() as session:
        return _routers_networks(session, [_router(session, context, router_id)])


def create_router(context: Any, values: dict[str, Any]) -> dict[str, Any]:
    project_id = values.get("project_id") or context.project_id

    def work(session: Session) -> dict[str, Any]:
        net._check_quota(session, "router", project_id)
        router = Router(
            project_id=project_id,
            name=values.get("name", ""),
            description=values.get("description", ""),
            admin_state_up=values.get("admin_state_up", True),
            tags=net.validate_tags(values.get("tags", [])),
        )
        session.add(router)
        session.flush()
        _place(session, router)
        if values.get("external_gateway_info"):
            _set_gateway(session, context, router, values["external_gateway_info"])
        session.flush()
        return _render_router(session, router)

    return net._retrying(work)


def update_router(context: Any, router_id: str, values: dict[str, Any]) -> dict[str, Any]:
    def work(session: Session) -> dict[str, Any]:
        router = _router(session, context, router_id)
        db.lock_router(session, router)
        if "external_gateway_info" in values:
            info = values["external_gateway_info"]
            if info:
                _set_gateway(session, context, router, info)
            else:
                _clear_gateway(session, router)
        if "routes" in values:
            router.routes = _validate_routes(session, router, values["routes"])
        for key in ("name", "description", "admin_state_up"):
            if key in values:
                setattr(router, key, values[key])
        router.revision_number += 1
        session.flush()
        return _render_router(session, router)

    return net._retrying(work)


def delete_router(context: Any, router_id: str) -> None:
    def work(session: Session) -> None:
        router = _router(session, context, router_id)
        db.lock_router(session, router)
        if _interfaces(session, router):
            raise exc.Conflict(
                "RouterInUse", f"Router {router_id} still has ports; remove its interfaces first."
            )
        if db.list_floatingips(session, router_ids=[router.id]):
            raise exc.Conflict(
                "RouterInUse",
                f"Router {router_id} still has floating IPs associated through it.",
            )
        gateway = _gateway(session, router)
        router.gw_port_id = None
        session.flush()
        if gateway is not None:
            session.delete(gateway)
        session.delete(router)

    net._retrying(work)


# --- the gateway ---------------------------------------------------------------------------


def _set_gateway(session: Session, context: Any, router: Router, info: Any) -> None:
    if not isinstance(info, dict) or not set(info) <= {
        "network_id",
        "enable_snat",
        "external_fixed_ips",
    }:
        raise exc.InvalidInput(
            "external_gateway_info",
            f"{info!r} is not a {{network_id, enable_snat, external_fixed_ips}} object.",
        )
    network = _external_network(session, context, info.get("network_id"), "router")
    snat = info.get("enable_snat", True)
    if not isinstance(snat, bool):
        raise exc.InvalidInput("enable_snat", f"'{snat}' is not a valid boolean value.")
    requested = info.get("external_fixed_ips")
    if requested is not None and (
        not isinstance(requested, list)
        or not all(isinstance(i, dict) and set(i) <= {"subnet_id", "ip_address"} for i in requested)
    ):
        raise exc.InvalidInput(
            "external_fixed_ips", f"'{requested}' is not a list of {{subnet_id, ip_address}}."
        )
    router.enable_snat = snat
    current = _gateway(session, router)
    if current is not None and current.network_id == network.id:
        wanted = [(i.get("subnet_id"), i.get("ip_address")) for i in requested or []]
        held = [(a.subnet_id, a.ip_address) for a in current.fixed_ips]
        if requested is None or all(
            any(s in (None, hs) and a in (None, ha) for hs, ha in held) for s, a in wanted
        ):
            return
    if current is not None:
        _clear_gateway(session, router)
    subnets = net_db.list_subnets(session, network_ids=[network.id])
    if not subnets:
        raise _bad("router", f"No subnets defined on the external network {network.id}.")
    port = _router_port(session, router, network.id, GATEWAY_OWNER, project_id="")
    if requested:
        chosen = net._requested_ips(session, network.id, subnets, requested)
        wanted_ips = [([subnet], address) for subnet, address in chosen]
    else:
        wanted_ips = list(net._default_ips(subnets))
    net._allocate_all(session, network.id, port, wanted_ips)
    session.flush()
    _check_overlaps(session, router, _subnets_of(session, [port]))
    router.gw_port_id = port.id


def _clear_gateway(session: Session, router: Router) -> None:
    gateway = _gateway(session, router)
    if gateway is None:
        return
    if db.list_floatingips(session, router_ids=[router.id]):
        raise exc.Conflict(
            "RouterExternalGatewayInUseByFloatingIp",
            f"Gateway cannot be updated for router {router.id}, since a gateway to external "
            f"network {gateway.network_id} is required by one or more floating IPs.",
        )
    router.gw_port_id = None
    session.flush()
    session.delete(gateway)
    session.flush()


def _router_port(
    session: Session, router: Router, network_id: str, owner: str, project_id: str
) -> Port:
    port = Port(
        project_id=project_id,
        network_id=network_id,
        mac_address=net._new_mac(session, network_id),
        device_id=router.id,
        device_owner=owner,
        port_security_enabled=False,
        binding_host_id=router.host,
        status="DOWN",
    )
    session.add(port)
    session.flush()
    return port


# --- interfaces ------------------------------------------------------------------------------


def _check_overlaps(session: Session, router: Router, new: list[Subnet]) -> None:
    """No two subnets of one router (interfaces and gateway) may overlap."""
    ports = db.router_ports(session, [router.id])
    held = [s for s in _subnets_of(session, ports) if s.id not in {n.id for n in new}]
    for subnet in new:
        for other in held:
            if netaddr.IPNetwork(subnet.cidr) in netaddr.IPNetwork(other.cidr) or netaddr.IPNetwork(
                other.cidr
            ) in netaddr.IPNetwork(subnet.cidr):
                raise _bad(
                    "router",
                    f"Cidr {subnet.cidr} of subnet {subnet.id} overlaps with cidr "
                    f"{other.cidr} of subnet {other.id}.",
                )


def _interface_info(router: Router, port: Port) -> dict[str, Any]:
    subnet_ids = [a.subnet_id for a in port.fixed_ips]
    return {
        "id": router.id,
        "tenant_id": router.project_id,
        "project_id": router.project_id,
        "port_id": port.id,
        "network_id": port.network_id,
        "subnet_id": subnet_ids[0] if subnet_ids else None,
        "subnet_ids": subnet_ids,
    }


def _interface_target(body: Any) -> tuple[str | None, str | None]:
    if not isinstance(body, dict) or not set(body) <= {"subnet_id", "port_id"}:
        raise _bad("router", "The body must be {'subnet_id': ...} or {'port_id': ...}.")
    subnet_id, port_id = body.get("subnet_id"), body.get("port_id")
    if (subnet_id is None) == (port_id is None):
        raise _bad("router", "Either subnet_id or port_id must be specified, and not both.")
    for name, value in (("subnet_id", subnet_id), ("port_id", port_id)):
        if value is not None and (not isinstance(value, str) or not value):
            raise exc.InvalidInput(name, f"'{value}' is not a valid UUID.")
    return subnet_id, port_id


def add_router_interface(context: Any, router_id: str, body: Any) -> dict[str, Any]:
    """Attach a subnet (a new port holding its gateway address) or a port (given up
    by its project to the router); the interface's ``{id, port_id, subnet_id, ...}``."""
    subnet_id, port_id = _interface_target(body)

    def work(session: Session) -> dict[str, Any]:
        router = _router(session, context, router_id)
        db.lock_router(session, router)
        attached = {s.id for s in _subnets_of(session, _interfaces(session, router))}
        if subnet_id is not None:
            subnet = net._subnet(session, context, subnet_id)
            if subnet.id in attached:
                raise _bad("router", f"Router already has a port on subnet {subnet.id}.")
            if not subnet.gateway_ip:
                raise _bad(
                    "router",
                    f"Subnet {subnet.id} for router interface must have a gateway IP.",
                )
            _check_overlaps(session, router, [subnet])
            port = _router_port(
                session, router, subnet.network_id, INTERFACE_OWNER, router.project_id
            )
            net._allocate_all(session, subnet.network_id, port, [([subnet], subnet.gateway_ip)])
        else:
            port = net._port(session, context, port_id)
            if port.device_id or port.device_owner:
                raise exc.Conflict(
                    "PortInUse",
                    f"Unable to complete operation on port {port.id} for network "
                    f"{port.network_id}. Port already has an attached device {port.device_id}.",
                )
            if not port.fixed_ips:
                raise _bad("router", f"Router port {port.id} must have at least one fixed IP.")
            subnets = _subnets_of(session, [port])
            for subnet in subnets:
                if subnet.id in attached:
                    raise _bad("router", f"Router already has a port on subnet {subnet.id}.")
            _check_overlaps(session, router, subnets)
            for binding in list(port.security_group_bindings):
                port.security_group_bindings.remove(binding)
            for pair in list(port.allowed_address_pairs):
                port.allowed_address_pairs.remove(pair)
            port.device_id, port.device_owner = router.id, INTERFACE_OWNER
            port.port_security_enabled = False
            port.binding_host_id = router.host
            port.status = "DOWN"
            port.revision_number += 1
        router.revision_number += 1
        session.flush()
        return _interface_info(router, port)

    return net._retrying(work)


def remove_router_interface(context: Any, router_id: str, body: Any) -> dict[str, Any]:
    subnet_id, port_id = _interface_target(body)

    def work(session: Session) -> dict[str, Any]:
        router = _router(session, context, router_id)
        db.lock_router(session, router)
        interfaces = _interfaces(session, router)
        if port_id is not None:
            port = next((p for p in interfaces if p.id == port_id), None)
            if port is None:
                raise _typed(
                    exc.NotFound("Router interface for port", str(port_id)),
                    "RouterInterfaceNotFound",
                    f"Router {router.id} does not have an interface with id {port_id}",
                )
            if subnet_id is not None and subnet_id not in {a.subnet_id for a in port.fixed_ips}:
                raise exc.NotFound("Router interface for subnet", subnet_id)
        else:
            port = next(
                (p for p in interfaces if subnet_id in {a.subnet_id for a in p.fixed_ips}), None
            )
            if port is None:
                raise _typed(
                    exc.NotFound("Router interface for subnet", str(subnet_id)),
                    "RouterInterfaceNotFoundForSubnet",
                    f"Router {router.id} has no interface on subnet {subnet_id}",
                )
        info = _interface_info(router, port)
        leaving = _subnets_of(session, [port])
        for route in router.routes or []:
            if any(ipam_contains(s.cidr, route["nexthop"]) for s in leaving):
                raise exc.Conflict(
                    "RouterInterfaceInUseByRoute",
                    f"Router interface for subnet {leaving[0].id} on router {router.id} cannot "
                    "be deleted, as it is required by one or more routes.",
                )
        for fip in db.list_floatingips(session, router_ids=[router.id]):
            if any(ipam_contains(s.cidr, fip.fixed_ip_address or "") for s in leaving):
                raise exc.Conflict(
                    "RouterInterfaceInUseByFloatingIP",
                    f"Router interface for subnet {leaving[0].id} on router {router.id} cannot "
                    "be deleted, as it is required by one or more floating IPs.",
                )
        session.delete(port)
        router.revision_number += 1
        return info

    return net._retrying(work)


def ipam_contains(cidr: str, address: str) -> bool:
    try:
        return netaddr.IPAddress(address) in netaddr.IPNetwork(cidr)
    except (netaddr.AddrFormatError, ValueError, TypeError):
        return False


# --- static routes -------------------------------------------------------------------------


def validate_routes_shape(routes: Any) -> list[dict[str, str]]:
    """Parse ``routes`` ([{destination, nexthop}]); normalised and deduplicated."""
    if routes is None:
        return []
    if not isinstance(routes, list):
        raise exc.InvalidInput("routes", f"'{routes}' is not a list.")
    if len(routes) > MAX_ROUTES:
        error = exc.InvalidInput(
            "routes", f"Number of routes exceeds the maximum {MAX_ROUTES} routes."
        )
        error.neutron_type = "RoutesExhausted"
        raise error
    found: list[dict[str, str]] = []
    for route in routes:
        if not isinstance(route, dict) or set(route) != {"destination", "nexthop"}:
            raise exc.InvalidInput("routes", f"{route!r} is not a {{destination, nexthop}} entry.")
        try:
            destination = netaddr.IPNetwork(str(route["destination"]))
            nexthop = netaddr.IPAddress(str(route["nexthop"]))
        except (netaddr.AddrFormatError, ValueError):
            raise exc.InvalidInput(
                "routes", f"{route!r}: destination must be a CIDR and nexthop an IP address."
            ) from None
        if destination.version != nexthop.version:
            raise exc.InvalidInput("routes", f"{route!r}: destination and nexthop IP versions.")
        item = {"destination": str(destination.cidr), "nexthop": str(nexthop)}
        if item not in found:
            found.append(item)
    return found


def _validate_routes(session: Session, router: Router, routes: Any) -> list[dict[str, str]]:
    """Each nexthop must be in a subnet of the router's interfaces, and not one of
    the router's own addresses."""
    found = validate_routes_shape(routes)
    ports = _interfaces(session, router)
    cidrs = [s.cidr for s in _subnets_of(session, ports)]
    own = {a.ip_address for p in db.router_ports(session, [router.id]) for a in p.fixed_ips}
    for route in found:
        if route["nexthop"] in own or not any(ipam_contains(c, route["nexthop"]) for c in cidrs):
            problem = "is used by" if route["nexthop"] in own else "is not connected with"
            raise _typed(
                exc.InvalidInput("routes", ""),
                "InvalidRoutes",
                f"Invalid format for routes: {[route]}, the nexthop {problem} router",
            )
    return found


# --- floating IPs ---------------------------------------------------------------------------


def _fip(session: Session, context: Any, fip_id: str) -> FloatingIP:
    fip = db.get_floatingip(session, fip_id)
    if fip is None or not net._sees(context, fip.project_id):
        error = exc.NotFound("Floating IP", fip_id)
        error.neutron_type = "FloatingIPNotFound"
        raise error
    return fip


def list_floatingips(context: Any) -> list[dict[str, Any]]:
    with transaction() as session:
        fips = db.list_floatingips(session, net._scope(context))
        return [_render_fip(session, f) for f in fips]


def get_floatingip(context: Any, fip_id: str) -> dict[str, Any]:
    with transaction() as session:
        return _render_fip(session, _fip(session, context, fip_id))


def _associate(session: Session, context: Any, fip: FloatingIP, port_id: Any, fixed: Any) -> None:
    """Point ``fip`` at a fixed address of a port (``port_id`` None: at nothing),
    through the router that joins the address's subnet to the floating network."""
    if port_id is None:
        if fixed is not None:
            raise _bad("floatingip", "fixed_ip_address cannot be specified without a port_id.")
        fip.fixed_port_id = fip.fixed_ip_address = fip.router_id = None
        fip.status = "DOWN"
        return
    if not isinstance(port_id, str) or not port_id:
        raise exc.InvalidInput("port_id", f"'{port_id}' is not a valid UUID.")
    if db.list_port_forwardings(session, [fip.id]):
        raise exc.Conflict(
            "FipInUseByPortForwarding",
            f"Floating IP {fip.id} has port forwardings; it cannot also be associated with a port.",
        )
    port = net._port(session, context, port_id)
    if not context.is_admin and port.project_id != fip.project_id:
        raise exc.NotFound("Port", port_id)
    if port.device_owner in L3_OWNERS:
        raise _bad(
            "floatingip",
            f"Port {port.id} has owner {port.device_owner} and therefore cannot be "
            "associated with a floating IP.",
        )
    v4 = [a for a in port.fixed_ips if netaddr.IPAddress(a.ip_address).version == 4]
    if fixed is not None:
        address = str(net.ipam.parse_ip(fixed, "fixed_ip_address"))
        allocation = next((a for a in port.fixed_ips if a.ip_address == address), None)
        if allocation is None:
            raise _bad("floatingip", f"Port {port.id} does not have fixed ip {address}.")
    elif not v4:
        raise _bad("floatingip", f"No IPv4 addresses found on port {port.id}.")
    elif len(v4) > 1:
        raise _bad(
            "floatingip",
            f"Port {port.id} has multiple fixed IPv4 addresses. Must provide a specific "
            "IPv4 address when assigning a floating IP.",
        )
    else:
        allocation = v4[0]
    if netaddr.IPAddress(allocation.ip_address).version != 4:
        raise _bad("floatingip", f"{allocation.ip_address} is not an IPv4 address.")
    holder = db.floatingip_of_fixed(
        session, fip.floating_network_id, port.id, allocation.ip_address
    )
    if holder is not None and holder.id != fip.id:
        raise exc.Conflict(
            "FloatingIPPortAlreadyAssociated",
            f"Cannot associate floating IP {fip.floating_ip_address} ({fip.id}) with port "
            f"{port.id} using fixed IP {allocation.ip_address}, as that fixed IP already has "
            f"a floating IP on external network {fip.floating_network_id}.",
        )
    router = _router_for(session, fip.floating_network_id, allocation.subnet_id)
    if router is None:
        raise _unreachable(fip.floating_network_id, allocation.subnet_id, port.id)
    fip.fixed_port_id, fip.fixed_ip_address = port.id, allocation.ip_address
    fip.router_id, fip.status = router.id, "ACTIVE"


def _router_for(session: Session, network_id: str, subnet_id: str) -> Router | None:
    """The router with an interface on ``subnet_id`` and a gateway on ``network_id``."""
    for port in db.interfaces_on_subnet(session, subnet_id):
        router = db.get_router(session, port.device_id)
        gateway = _gateway(session, router) if router is not None else None
        if gateway is not None and gateway.network_id == network_id:
            return router
    return None


def create_floatingip(context: Any, values: dict[str, Any]) -> dict[str, Any]:
    project_id = values.get("project_id") or context.project_id

    def work(session: Session) -> dict[str, Any]:
        network = _external_network(
            session, context, values.get("floating_network_id"), "floatingip"
        )
        net._check_quota(session, "floatingip", project_id)
        fip_id = new_uuid()
        port = Port(
            project_id="",
            network_id=network.id,
            mac_address=net._new_mac(session, network.id),
            device_id=fip_id,
            device_owner=FLOATINGIP_OWNER,
            port_security_enabled=False,
            status="N/A",
        )
        session.add(port)
        session.flush()
        subnets = [
            s for s in net_db.list_subnets(session, network_ids=[network.id]) if s.ip_version == 4
        ]
        if not subnets:
            raise _bad("floatingip", f"Network {network.id} has no IPv4 subnet.")
        address, subnet_id = values.get("floating_ip_address"), values.get("subnet_id")
        if address is not None or subnet_id is not None:
            item = {k: v for k, v in (("ip_address", address), ("subnet_id", subnet_id)) if v}
            chosen = net._requested_ips(session, network.id, subnets, [item])
            net._allocate_all(session, network.id, port, [([s], a) for s, a in chosen])
        else:
            net._allocate_all(session, network.id, port, [(subnets, None)])
        session.flush()
        fip = FloatingIP(
            id=fip_id,
            project_id=project_id,
            floating_network_id=network.id,
            floating_port_id=port.id,
            floating_ip_address=port.fixed_ips[0].ip_address,
            description=values.get("description", ""),
            tags=net.validate_tags(values.get("tags", [])),
            status="DOWN",
        )
        session.add(fip)
        _associate(session, context, fip, values.get("port_id"), values.get("fixed_ip_address"))
        session.flush()
        return _render_fip(session, fip)

    return net._retrying(work)


def update_floatingip(context: Any, fip_id: str, values: dict[str, Any]) -> dict[str, Any]:
    def work(session: Session) -> dict[str, Any]:
        fip = _fip(session, context, fip_id)
        if "port_id" in values or "fixed_ip_address" in values:
            port_id = values.get("port_id", fip.fixed_port_id)
            _associate(session, context, fip, port_id, values.get("fixed_ip_address"))
        if "description" in values:
            fip.description = values["description"]
        fip.revision_number += 1
        session.flush()
        return _render_fip(session, fip)

    return net._retrying(work)


def delete_floatingip(context: Any, fip_id: str) -> None:
    """Delete a floating IP; its address goes back to the pool with its port."""

    def work(session: Session) -> None:
        fip = _fip(session, context, fip_id)
        port = net_db.get_port(session, fip.floating_port_id)
        session.delete(fip)
        session.flush()
        if port is not None:
            session.delete(port)

    net._retrying(work)


def floatingip_networks(context: Any, fip_id: str) -> set[str]:
    """What a change of the floating IP affects: its router's networks."""
    with transaction() as session:
        fip = _fip(session, context, fip_id)
        if fip.router_id is None:
            return set()
        router = db.get_router(session, fip.router_id)
        return _routers_networks(session, [router]) if router is not None else set()


def floating_addresses(port_ids: list[str]) -> dict[str, list[tuple[str, str]]]:
    """Per port, its (fixed address, floating address) pairs."""
    found: dict[str, list[tuple[str, str]]] = {}
    if not port_ids:
        return found
    with transaction() as session:
        for fip in db.list_floatingips(session, fixed_port_ids=port_ids):
            if fip.fixed_port_id and fip.fixed_ip_address:
                found.setdefault(fip.fixed_port_id, []).append(
                    (fip.fixed_ip_address, fip.floating_ip_address)
                )
    return found


# --- ports that the routers' world holds on to ----------------------------------------------


def check_port_deletable(session: Session, port: Port) -> None:
    """A router's or a floating IP's port goes only with its owner (409)."""
    if port.device_owner in L3_OWNERS:
        raise exc.Conflict(
            "L3PortInUse",
            f"Port {port.id} has owner {port.device_owner} and therefore cannot be deleted "
            "directly via the port API.",
        )


def check_not_external_in_use(session: Session, network: Any) -> None:
    """An external network with router gateways or floating IPs stays external."""
    owners = {p.device_owner for p in net_db.list_ports(session, network_ids=[network.id])}
    if owners & {GATEWAY_OWNER, FLOATINGIP_OWNER}:
        raise exc.Conflict(
            "ExternalNetworkInUse",
            f"External network {network.id} cannot be updated to be made non-external, "
            "since it has existing gateway ports or floating IPs.",
        )


def release_port(session: Session, port: Port) -> set[str]:
    """Before a port is deleted: its floating IPs are disassociated (DOWN) and its
    port forwardings go; the networks of the routers that carried them."""
    fips = db.list_floatingips(session, fixed_port_ids=[port.id])
    routers = [r for f in fips if f.router_id and (r := db.get_router(session, f.router_id))]
    for fip in fips:
        fip.fixed_port_id = fip.fixed_ip_address = fip.router_id = None
        fip.status = "DOWN"
    session.flush()
    return _routers_networks(session, routers)


# --- port forwardings ------------------------------------------------------------------------


def _int_port(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise exc.InvalidInput(name, f"'{value}' is not an integer.")
    try:
        number = int(value)
    except ValueError:
        raise exc.InvalidInput(name, f"'{value}' is not an integer.") from None
    if not 1 <= number <= 65535:
        raise exc.InvalidInput(name, f"{number} is outside 1..65535.")
    return number


def list_port_forwardings(context: Any, fip_id: str) -> list[dict[str, Any]]:
    with transaction() as session:
        fip = _fip(session, context, fip_id)
        return [port_forwarding_dict(p) for p in db.list_port_forwardings(session, [fip.id])]


def _pf(session: Session, context: Any, fip_id: str, pf_id: str) -> PortForwarding:
    fip = _fip(session, context, fip_id)
    pf = db.get_port_forwarding(session, pf_id)
    if pf is None or pf.floatingip_id != fip.id:
        error = exc.NotFound("Port forwarding", pf_id)
        error.neutron_type = "PortForwardingNotFound"
        raise error
    return pf


def get_port_forwarding(context: Any, fip_id: str, pf_id: str) -> dict[str, Any]:
    with transaction() as session:
        return port_forwarding_dict(_pf(session, context, fip_id, pf_id))


def _apply_pf(
    session: Session, context: Any, fip: FloatingIP, pf: PortForwarding, values: dict[str, Any]
) -> None:
    if "protocol" in values:
        if values["protocol"] not in PF_PROTOCOLS:
            raise exc.InvalidInput(
                "protocol", f"'{values['protocol']}' is not in {list(PF_PROTOCOLS)}."
            )
        pf.protocol = values["protocol"]
    for name in ("internal_port", "external_port"):
        if name in values:
            setattr(pf, name, _int_port(name, values[name]))
    if "description" in values:
        pf.description = values["description"] or ""
    if "internal_port_id" in values or "internal_ip_address" in values:
        port = net._port(session, context, values.get("internal_port_id", pf.internal_port_id))
        address = values.get("internal_ip_address", pf.internal_ip_address)
        allocation = next((a for a in port.fixed_ips if a.ip_address == address), None)
        if allocation is None or netaddr.IPAddress(address).version != 4:
            raise _bad(
                "port_forwarding",
                f"The requested internal IP address {address} is not an IPv4 address of "
                f"port {port.id}.",
            )
        if fip.fixed_port_id is not None:
            raise exc.Conflict(
                "FloatingIPPortAlreadyAssociated",
                f"Floating IP {fip.id} is associated with port {fip.fixed_port_id}; it cannot "
                "also forward ports.",
            )
        if _router_for(session, fip.floating_network_id, allocation.subnet_id) is None:
            raise _unreachable(fip.floating_network_id, allocation.subnet_id, port.id)
        pf.internal_port_id, pf.internal_ip_address = port.id, address


def create_port_forwarding(context: Any, fip_id: str, values: dict[str, Any]) -> dict[str, Any]:
    missing = [
        k
        for k in ("internal_port_id", "internal_ip_address", "internal_port", "external_port")
        if k not in values
    ] + ([] if "protocol" in values else ["protocol"])
    if missing:
        raise exc.InvalidInput(
            missing[0], f"Failed to parse request. Required attribute '{missing[0]}' not specified"
        )

    def work(session: Session) -> dict[str, Any]:
        fip = _fip(session, context, fip_id)
        pf = PortForwarding(floatingip_id=fip.id, description="")
        _apply_pf(session, context, fip, pf, values)
        _check_pf_unique(session, fip, pf)
        session.add(pf)
        _pf_router(session, fip, pf)
        session.flush()
        return port_forwarding_dict(pf)

    return net._retrying(work)


def _pf_router(session: Session, fip: FloatingIP, pf: PortForwarding) -> None:
    """A floating IP with port forwardings is routed by the router of their port."""
    port = net_db.get_port(session, pf.internal_port_id)
    allocation = next(a for a in port.fixed_ips if a.ip_address == pf.internal_ip_address)
    router = _router_for(session, fip.floating_network_id, allocation.subnet_id)
    fip.router_id = router.id if router is not None else None
    fip.status = "ACTIVE"


def _check_pf_unique(session: Session, fip: FloatingIP, pf: PortForwarding) -> None:
    for other in db.list_port_forwardings(session, [fip.id]):
        if other.id != pf.id and (other.external_port, other.protocol) == (
            pf.external_port,
            pf.protocol,
        ):
            raise _bad(
                "port_forwarding",
                f"A duplicate port forwarding entry with same attributes already exists, "
                f"conflicting values are {{'floatingip_id': '{fip.id}', 'external_port': "
                f"{pf.external_port}, 'protocol': '{pf.protocol}'}}.",
            )


def update_port_forwarding(
    context: Any, fip_id: str, pf_id: str, values: dict[str, Any]
) -> dict[str, Any]:
    def work(session: Session) -> dict[str, Any]:
        fip = _fip(session, context, fip_id)
        pf = _pf(session, context, fip_id, pf_id)
        _apply_pf(session, context, fip, pf, values)
        _check_pf_unique(session, fip, pf)
        session.flush()
        return port_forwarding_dict(pf)

    return net._retrying(work)


def delete_port_forwarding(context: Any, fip_id: str, pf_id: str) -> None:
    def work(session: Session) -> None:
        fip = _fip(session, context, fip_id)
        session.delete(_pf(session, context, fip_id, pf_id))
        session.flush()
        if not db.list_port_forwardings(session, [fip.id]) and fip.fixed_port_id is None:
            fip.router_id, fip.status = None, "DOWN"

    net._retrying(work)


# --- the data plane ----------------------------------------------------------------------------


def _port_view(session: Session, port: Port, with_gateway: bool) -> dict[str, Any]:
    network = net_db.get_network(session, port.network_id)
    fixed = []
    for allocation in port.fixed_ips:
        subnet = net_db.get_subnet(session, allocation.subnet_id)
        entry = {
            "subnet_id": allocation.subnet_id,
            "ip_address": allocation.ip_address,
            "cidr": subnet.cidr if subnet else None,
        }
        if with_gateway:
            entry["gateway_ip"] = subnet.gateway_ip if subnet else None
        fixed.append(entry)
    return {
        "port_id": port.id,
        "mac_address": port.mac_address,
        "network_id": port.network_id,
        "bridge_name": net.bridge_name(port.network_id),
        "mtu": network.mtu if network else None,
        "fixed_ips": fixed,
    }


def host_routers(session: Session, host: str) -> list[dict[str, Any]]:
    """``host_state``'s ``routers``: the routers placed on ``host``."""
    found = []
    for router in db.list_routers(session, host=host):
        gateway = _gateway(session, router)
        fips = db.list_floatingips(session, router_ids=[router.id])
        forwardings = db.list_port_forwardings(session, [f.id for f in fips])
        addresses = {f.id: f.floating_ip_address for f in fips}
        found.append(
            {
                "id": router.id,
                "admin_state_up": router.admin_state_up,
                "gateway": (
                    {**_port_view(session, gateway, True), "enable_snat": router.enable_snat}
                    if gateway is not None
                    else None
                ),
                "interfaces": [_port_view(session, p, False) for p in _interfaces(session, router)],
                "routes": [dict(r) for r in router.routes or []],
                "floating_ips": [
                    {
                        "id": f.id,
                        "floating_ip_address": f.floating_ip_address,
                        "fixed_ip_address": f.fixed_ip_address,
                    }
                    for f in fips
                    if f.fixed_ip_address
                ],
                "port_forwardings": [
                    {
                        "id": pf.id,
                        "floating_ip_address": addresses[pf.floatingip_id],
                        "protocol": pf.protocol,
                        "external_port": pf.external_port,
                        "internal_ip_address": pf.internal_ip_address,
                        "internal_port": pf.internal_port,
                    }
                    for pf in forwardings
                ],
            }
        )
    return found
