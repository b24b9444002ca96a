"""Service registration, heartbeats and liveness; compute nodes; zones."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from stratus.conf import CONF
from stratus.db.models import AggregateHost, AggregateMetadata, ComputeNode, Service, utcnow

COMPUTE_BINARY = "stratus-compute"


def register(session: Session, host: str, binary: str, topic: str | None = None) -> Service:
    """Create or revive the row of a starting service, and count it as seen now."""
    service = session.scalar(
        sa.select(Service).where(Service.host == host, Service.binary == binary)
    )
    if service is None:
        service = Service(host=host, binary=binary, topic=topic)
        session.add(service)
    service.last_seen_up = utcnow()
    service.report_count = (service.report_count or 0) + 1
    session.flush()
    return service


def heartbeat(session: Session, service_id: int) -> None:
    session.execute(
        sa.update(Service)
        .where(Service.id == service_id)
        .values(last_seen_up=utcnow(), report_count=Service.report_count + 1)
    )


def is_up(service: Service, now: dt.datetime | None = None) -> bool:
    if service.forced_down or service.last_seen_up is None:
        return False
    now = now or utcnow()
    return (now - service.last_seen_up).total_seconds() <= CONF.service_down_time


def host_zones(session: Session) -> dict[str, str]:
    """Availability zone per host that an aggregate puts in a zone."""
    rows = session.execute(
        sa.select(AggregateHost.host, AggregateMetadata.value)
        .join(AggregateMetadata, AggregateMetadata.aggregate_id == AggregateHost.aggregate_id)
        .where(AggregateMetadata.key == "availability_zone")
        .order_by(AggregateMetadata.value)
    )
    zones: dict[str, str] = {}
    for host, zone in rows:
        zones[host] = f"{zones[host]},{zone}" if host in zones else zone
    return zones


def zone_of(service: Service, zones: dict[str, str]) -> str:
    if service.binary != COMPUTE_BINARY:
        return CONF.internal_service_availability_zone
    return zones.get(service.host, CONF.default_availability_zone)


def list_services(
    session: Session, host: str | None = None, binary: str | None = None
) -> list[Service]:
    stmt = sa.select(Service).order_by(Service.id)
    if host:
        stmt = stmt.where(Service.host == host)
    if binary:
        stmt = stmt.where(Service.binary == binary)
    return list(session.scalars(stmt))


def list_nodes(session: Session) -> list[tuple[ComputeNode, Service | None]]:
    return list(
        session.execute(
            sa.select(ComputeNode, Service)
            .outerjoin(Service, Service.id == ComputeNode.service_id)
            .order_by(ComputeNode.id)
        ).tuples()
    )
