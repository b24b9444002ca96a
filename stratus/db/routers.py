"""Queries of the Networking service's routers, router hosts, floating IPs and port
forwardings."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from stratus.db.models import FloatingIP, IPAllocation, Port, PortForwarding, Router, RouterHost

GATEWAY_OWNER = "network:router_gateway"
INTERFACE_OWNER = "network:router_interface"
FLOATINGIP_OWNER = "network:floatingip"


def list_routers(
    session: Session, project_id: str | None = None, host: str | None = None
) -> list[Router]:
    query = sa.select(Router).order_by(Router.created_at, Router.id)
    if project_id is not None:
        query = query.where(Router.project_id == project_id)
    if host is not None:
        query = query.where(Router.host == host)
    return list(session.scalars(query))


def get_router(session: Session, router_id: str) -> Router | None:
    return session.get(Router, router_id)


def lock_router(session: Session, router: Router) -> None:
    """Hold the router's row until the transaction ends (changes of one router's
    ports and routes take turns): a write that changes nothing."""
    session.execute(
        sa.update(Router)
        .where(Router.id == router.id)
        .values(revision_number=Router.revision_number)
        .execution_options(synchronize_session=False)
    )


def router_ports(
    session: Session, router_ids: Iterable[str], owner: str | None = None
) -> list[Port]:
    """The ports of the routers (gateway and interfaces, or those of ``owner``)."""
    owners = [owner] if owner else [GATEWAY_OWNER, INTERFACE_OWNER]
    query = (
        sa.select(Port)
        .where(Port.device_id.in_(list(router_ids)), Port.device_owner.in_(owners))
        .order_by(Port.created_at, Port.id)
    )
    return list(session.scalars(query))


def interfaces_on_subnet(session: Session, subnet_id: str) -> list[Port]:
    """The router interface ports holding an address of the subnet."""
    query = (
        sa.select(Port)
        .join(IPAllocation, IPAllocation.port_id == Port.id)
        .where(IPAllocation.subnet_id == subnet_id, Port.device_owner == INTERFACE_OWNER)
    )
    return list(session.scalars(query))


def router_host_counts(session: Session) -> dict[str, int]:
    """Every router host with the number of routers it carries."""
    counts = {host: 0 for host in session.scalars(sa.select(RouterHost.host))}
    rows = session.execute(
        sa.select(Router.host, sa.func.count()).where(Router.host != "").group_by(Router.host)
    )
    for host, count in rows:
        if host in counts:
            counts[host] = int(count)
    return counts


def add_router_host(session: Session, host: str) -> bool:
    """Record ``host`` as a router host; True if it was not one yet."""
    if session.get(RouterHost, host) is not None:
        return False
    session.add(RouterHost(host=host))
    return True


def list_floatingips(
    session: Session,
    project_id: str | None = None,
    router_ids: Iterable[str] | None = None,
    fixed_port_ids: Iterable[str] | None = None,
) -> list[FloatingIP]:
    query = sa.select(FloatingIP).order_by(FloatingIP.created_at, FloatingIP.id)
    if project_id is not None:
        query = query.where(FloatingIP.project_id == project_id)
    if router_ids is not None:
        query = query.where(FloatingIP.router_id.in_(list(router_ids)))
    if fixed_port_ids is not None:
        query = query.where(FloatingIP.fixed_port_id.in_(list(fixed_port_ids)))
    return list(session.scalars(query))


def get_floatingip(session: Session, floatingip_id: str) -> FloatingIP | None:
    return session.get(FloatingIP, floatingip_id)


def floatingip_of_fixed(
    session: Session, network_id: str, port_id: str, ip_address: str
) -> FloatingIP | None:
    return session.scalar(
        sa.select(FloatingIP).where(
            FloatingIP.floating_network_id == network_id,
            FloatingIP.fixed_port_id == port_id,
            FloatingIP.fixed_ip_address == ip_address,
        )
    )


def list_port_forwardings(session: Session, floatingip_ids: Iterable[str]) -> list[PortForwarding]:
    query = (
        sa.select(PortForwarding)
        .where(PortForwarding.floatingip_id.in_(list(floatingip_ids)))
        .order_by(PortForwarding.external_port, PortForwarding.protocol, PortForwarding.id)
    )
    return list(session.scalars(query))


def get_port_forwarding(session: Session, pf_id: str) -> PortForwarding | None:
    return session.get(PortForwarding, pf_id)


def count_owned(session: Session, model: type, project_id: str) -> int:
    query = sa.select(sa.func.count()).select_from(model).where(model.project_id == project_id)
    return int(session.scalar(query) or 0)
