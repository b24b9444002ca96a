"""Queries of the Networking service: networks, subnets, ports, address
allocations, security groups, network hosts and network quotas."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from stratus.db.models import (
    DefaultSecurityGroup,
    FloatingIP,
    IPAllocation,
    Network,
    NetworkHost,
    NetworkQuota,
    Port,
    Project,
    Router,
    SecurityGroup,
    SecurityGroupPortBinding,
    SecurityGroupRule,
    Subnet,
)

QUOTA_RESOURCES = (
    "network",
    "subnet",
    "port",
    "security_group",
    "security_group_rule",
    "router",
    "floatingip",
)
_COUNTED = {
    "network": Network,
    "subnet": Subnet,
    "port": Port,
    "security_group": SecurityGroup,
    "security_group_rule": SecurityGroupRule,
    "router": Router,
    "floatingip": FloatingIP,
}


def visible_networks_clause(project_id: str | None) -> sa.ColumnElement[bool]:
    """Networks a project sees: its own, shared ones and external ones."""
    return sa.or_(
        Network.project_id == project_id, Network.shared.is_(True), Network.external.is_(True)
    )


def list_networks(session: Session, project_id: str | None = None) -> list[Network]:
    """Every network (``project_id`` None), or those the project sees."""
    query = sa.select(Network).order_by(Network.created_at, Network.id)
    if project_id is not None:
        query = query.where(visible_networks_clause(project_id))
    return list(session.scalars(query))


def get_network(session: Session, network_id: str) -> Network | None:
    return session.get(Network, network_id)


def list_subnets(
    session: Session, project_id: str | None = None, network_ids: Iterable[str] | None = None
) -> list[Subnet]:
    """Every subnet, or those of the project plus those of networks it sees."""
    query = sa.select(Subnet).order_by(Subnet.created_at, Subnet.id)
    if project_id is not None:
        visible = sa.select(Network.id).where(visible_networks_clause(project_id))
        query = query.where(sa.or_(Subnet.project_id == project_id, Subnet.network_id.in_(visible)))
    if network_ids is not None:
        query = query.where(Subnet.network_id.in_(list(network_ids)))
    return list(session.scalars(query))


def get_subnet(session: Session, subnet_id: str) -> Subnet | None:
    return session.get(Subnet, subnet_id)


def subnets_of(session: Session, network_ids: Iterable[str]) -> dict[str, list[Subnet]]:
    found: dict[str, list[Subnet]] = {}
    for subnet in list_subnets(session, network_ids=network_ids):
        found.setdefault(subnet.network_id, []).append(subnet)
    return found


def list_ports(
    session: Session,
    project_id: str | None = None,
    network_ids: Iterable[str] | None = None,
    host: str | None = None,
) -> list[Port]:
    """Every port, or the project's plus those on networks the project owns."""
    query = sa.select(Port).order_by(Port.created_at, Port.id)
    if project_id is not None:
        owned = sa.select(Network.id).where(Network.project_id == project_id)
        query = query.where(sa.or_(Port.project_id == project_id, Port.network_id.in_(owned)))
    if network_ids is not None:
        query = query.where(Port.network_id.in_(list(network_ids)))
    if host is not None:
        query = query.where(Port.binding_host_id == host)
    return list(session.scalars(query))


def get_port(session: Session, port_id: str) -> Port | None:
    return session.get(Port, port_id)


def count_ports(session: Session, network_id: str, exclude_owner: str | None = None) -> int:
    query = sa.select(sa.func.count(Port.id)).where(Port.network_id == network_id)
    if exclude_owner is not None:
        query = query.where(Port.device_owner != exclude_owner)
    return int(session.scalar(query) or 0)


def ports_with_owner(session: Session, network_id: str, device_owner: str) -> list[Port]:
    return list(
        session.scalars(
            sa.select(Port).where(Port.network_id == network_id, Port.device_owner == device_owner)
        )
    )


def used_addresses(session: Session, subnet_id: str) -> set[str]:
    return set(
        session.scalars(
            sa.select(IPAllocation.ip_address).where(IPAllocation.subnet_id == subnet_id)
        )
    )


def allocation_counts(session: Session, subnet_ids: Iterable[str]) -> dict[str, int]:
    rows = session.execute(
        sa.select(IPAllocation.subnet_id, sa.func.count())
        .where(IPAllocation.subnet_id.in_(list(subnet_ids)))
        .group_by(IPAllocation.subnet_id)
    )
    return {subnet_id: int(count) for subnet_id, count in rows}


def subnet_allocations(session: Session, subnet_id: str, exclude_owner: str) -> int:
    """Addresses of the subnet held by ports whose device_owner is not ``exclude_owner``."""
    return int(
        session.scalar(
            sa.select(sa.func.count())
            .select_from(IPAllocation)
            .join(Port, Port.id == IPAllocation.port_id)
            .where(IPAllocation.subnet_id == subnet_id, Port.device_owner != exclude_owner)
        )
        or 0
    )


def delete_subnet_allocations(session: Session, subnet_id: str) -> None:
    session.execute(sa.delete(IPAllocation).where(IPAllocation.subnet_id == subnet_id))


def used_segments(session: Session, network_type: str, physical_network: str) -> set[int]:
    return set(
        session.scalars(
            sa.select(Network.segmentation_id).where(
                Network.network_type == network_type,
                Network.physical_network == physical_network,
            )
        )
    )


def network_hosts(session: Session, hosts: Iterable[str]) -> dict[str, str | None]:
    rows = session.scalars(sa.select(NetworkHost).where(NetworkHost.host.in_(list(hosts))))
    return {row.host: row.vtep_address for row in rows}


def set_network_host(session: Session, host: str, vtep_address: str | None) -> None:
    row = session.get(NetworkHost, host)
    if row is None:
        session.add(NetworkHost(host=host, vtep_address=vtep_address))
    else:
        row.vtep_address = vtep_address


def quota_limits(session: Session, project_id: str, defaults: dict[str, int]) -> dict[str, int]:
    limits = dict(defaults)
    for row in session.scalars(
        sa.select(NetworkQuota).where(NetworkQuota.project_id == project_id)
    ):
        limits[row.resource] = row.hard_limit
    return limits


def projects_with_quotas(session: Session) -> list[str]:
    return list(session.scalars(sa.select(NetworkQuota.project_id).distinct()))


def set_quota_limits(session: Session, project_id: str, values: dict[str, int]) -> None:
    for resource, limit in values.items():
        row = session.get(NetworkQuota, (project_id, resource))
        if row is None:
            session.add(NetworkQuota(project_id=project_id, resource=resource, hard_limit=limit))
        else:
            row.hard_limit = limit


def reset_quota_limits(session: Session, project_id: str) -> None:
    session.execute(sa.delete(NetworkQuota).where(NetworkQuota.project_id == project_id))


def quota_usage(session: Session, project_id: str) -> dict[str, int]:
    return {resource: count_owned(session, resource, project_id) for resource in _COUNTED}


def lock_project(session: Session, project_id: str) -> None:
    """Hold the project's row (MariaDB) or the database's write lock (SQLite) until
    the transaction ends, so that the quota checks of one project's concurrent
    creations take turns. A write that changes nothing does it on both: SQLite
    starts its write transaction only at the first write."""
    session.execute(
        sa.update(Project)
        .where(Project.id == project_id)
        .values(description=Project.description, updated_at=Project.updated_at)
        .execution_options(synchronize_session=False)
    )


def count_owned(session: Session, resource: str, project_id: str) -> int:
    model = _COUNTED[resource]
    query = sa.select(sa.func.count()).select_from(model).where(model.project_id == project_id)
    return int(session.scalar(query) or 0)


# --- security groups -------------------------------------------------------------------


def list_security_groups(
    session: Session, project_id: str | None = None, ids: Iterable[str] | None = None
) -> list[SecurityGroup]:
    """Every group (``project_id`` None) or the project's; only ``ids`` if given."""
    query = sa.select(SecurityGroup).order_by(SecurityGroup.created_at, SecurityGroup.id)
    if project_id is not None:
        query = query.where(SecurityGroup.project_id == project_id)
    if ids is not None:
        query = query.where(SecurityGroup.id.in_(list(ids)))
    return list(session.scalars(query))


def get_security_group(session: Session, group_id: str) -> SecurityGroup | None:
    return session.get(SecurityGroup, group_id)


def default_security_group_id(session: Session, project_id: str) -> str | None:
    return session.scalar(
        sa.select(DefaultSecurityGroup.security_group_id).where(
            DefaultSecurityGroup.project_id == project_id
        )
    )


def default_security_group_ids(session: Session) -> set[str]:
    return set(session.scalars(sa.select(DefaultSecurityGroup.security_group_id)))


def list_security_group_rules(
    session: Session, project_id: str | None = None
) -> list[SecurityGroupRule]:
    """Every rule, or those of the project's groups."""
    query = sa.select(SecurityGroupRule).order_by(
        SecurityGroupRule.created_at, SecurityGroupRule.id
    )
    if project_id is not None:
        owned = sa.select(SecurityGroup.id).where(SecurityGroup.project_id == project_id)
        query = query.where(SecurityGroupRule.security_group_id.in_(owned))
    return list(session.scalars(query))


def get_security_group_rule(session: Session, rule_id: str) -> SecurityGroupRule | None:
    return session.get(SecurityGroupRule, rule_id)


def rules_with_remote_group(session: Session, group_ids: Iterable[str]) -> list[SecurityGroupRule]:
    return list(
        session.scalars(
            sa.select(SecurityGroupRule).where(
                SecurityGroupRule.remote_group_id.in_(list(group_ids))
            )
        )
    )


def ports_in_security_groups(session: Session, group_ids: Iterable[str]) -> list[Port]:
    members = sa.select(SecurityGroupPortBinding.port_id).where(
        SecurityGroupPortBinding.security_group_id.in_(list(group_ids))
    )
    return list(session.scalars(sa.select(Port).where(Port.id.in_(members))))


def security_group_in_use(session: Session, group_id: str) -> bool:
    return bool(
        session.scalar(
            sa.select(sa.func.count())
            .select_from(SecurityGroupPortBinding)
            .where(SecurityGroupPortBinding.security_group_id == group_id)
        )
    )
