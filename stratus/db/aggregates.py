"""Host aggregates: queries, the availability-zone rules, and the scheduler's view.

An availability zone is aggregate metadata under the key ``availability_zone``
(as in Nova); a host's zone is the zone of the aggregates it belongs to. A host may
belong to any number of aggregates, but not to two that name different zones.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from stratus.db.models import Aggregate, AggregateHost, AggregateMetadata, Instance

AZ_KEY = "availability_zone"


# --- reading --------------------------------------------------------------------------


def get(session: Session, aggregate_id: int) -> Aggregate | None:
    return session.get(Aggregate, aggregate_id)


def get_by_name(session: Session, name: str) -> Aggregate | None:
    return session.scalar(sa.select(Aggregate).where(Aggregate.name == name))


def list_all(session: Session) -> list[Aggregate]:
    return list(session.scalars(sa.select(Aggregate).order_by(Aggregate.id)))


def metadata_of(aggregate: Aggregate) -> dict[str, str]:
    return {item.key: item.value for item in aggregate.metadata_items}


def hosts_of(aggregate: Aggregate) -> list[str]:
    return sorted(item.host for item in aggregate.hosts)


def zone_of(aggregate: Aggregate) -> str | None:
    return metadata_of(aggregate).get(AZ_KEY)


def zones_of_hosts(
    session: Session, hosts: Iterable[str], exclude_aggregate: int | None = None
) -> dict[str, set[str]]:
    """host -> the zones other aggregates (not ``exclude_aggregate``) put it in."""
    hosts = list(hosts)
    if not hosts:
        return {}
    stmt = (
        sa.select(AggregateHost.host, AggregateMetadata.value)
        .join(AggregateMetadata, AggregateMetadata.aggregate_id == AggregateHost.aggregate_id)
        .where(AggregateMetadata.key == AZ_KEY, AggregateHost.host.in_(hosts))
    )
    if exclude_aggregate is not None:
        stmt = stmt.where(AggregateHost.aggregate_id != exclude_aggregate)
    found: dict[str, set[str]] = {}
    for host, zone in session.execute(stmt):
        found.setdefault(host, set()).add(zone)
    return found


def conflicting_zones(
    session: Session, aggregate: Aggregate, zone: str, hosts: Iterable[str] | None = None
) -> list[str]:
    """Zones other than ``zone`` that ``hosts`` (default: the aggregate's hosts) are
    already in through other aggregates. Non-empty means ``zone`` may not be used."""
    hosts = hosts_of(aggregate) if hosts is None else list(hosts)
    taken = zones_of_hosts(session, hosts, exclude_aggregate=aggregate.id)
    return sorted({z for zones in taken.values() for z in zones if z != zone})


def instances_on_hosts(session: Session, hosts: Iterable[str]) -> int:
    """Live instances on ``hosts`` (a zone change would move them to another zone)."""
    hosts = list(hosts)
    if not hosts:
        return 0
    return int(
        session.scalar(
            sa.select(sa.func.count(Instance.id)).where(
                Instance.host.in_(hosts), Instance.deleted.is_(False)
            )
        )
        or 0
    )


# --- writing --------------------------------------------------------------------------


def create(session: Session, name: str, zone: str | None = None) -> Aggregate:
    """A new aggregate; the caller checks the name is free (the unique index backs it)."""
    aggregate = Aggregate(name=name)
    if zone:
        aggregate.metadata_items.append(AggregateMetadata(key=AZ_KEY, value=zone))
    session.add(aggregate)
    session.flush()
    return aggregate


def update_metadata(aggregate: Aggregate, updates: Mapping[str, str | None]) -> None:
    """Set each key; a value of None deletes the key (a missing key is no error)."""
    current = {item.key: item for item in aggregate.metadata_items}
    for key, value in updates.items():
        item = current.get(key)
        if value is None:
            if item is not None:
                aggregate.metadata_items.remove(item)
        elif item is not None:
            item.value = value
        else:
            aggregate.metadata_items.append(AggregateMetadata(key=key, value=value))


def add_host(aggregate: Aggregate, host: str) -> None:
    aggregate.hosts.append(AggregateHost(host=host))


def remove_host(aggregate: Aggregate, host: str) -> bool:
    """Remove ``host``; False if it was not a member."""
    for item in aggregate.hosts:
        if item.host == host:
            aggregate.hosts.remove(item)
            return True
    return False


def delete(session: Session, aggregate: Aggregate) -> None:
    session.delete(aggregate)


# --- the scheduler's view ----------------------------------------------------------


def as_dict(aggregate: Aggregate) -> dict[str, Any]:
    """Plain data: what ``stratus.scheduler.host_state.Aggregate.from_dict`` reads."""
    metadata = metadata_of(aggregate)
    return {
        "id": aggregate.id,
        "uuid": aggregate.uuid,
        "name": aggregate.name,
        "hosts": hosts_of(aggregate),
        "metadata": metadata,
        "availability_zone": metadata.get(AZ_KEY),
    }


def aggregates_by_host(session: Session) -> dict[str, list[dict[str, Any]]]:
    """host -> the aggregates it belongs to (as ``as_dict``), in aggregate id order.

    Hosts in no aggregate are absent. Three queries whatever the number of
    aggregates (the hosts and metadata relationships load with ``selectin``).
    """
    result: dict[str, list[dict[str, Any]]] = {}
    for aggregate in list_all(session):
        data = as_dict(aggregate)
        for host in data["hosts"]:
            result.setdefault(host, []).append(data)
    return result


def zones(session: Session) -> dict[str, list[str]]:
    """availability zone -> its hosts, for the zones that aggregates define (a zone
    whose aggregates have no hosts yet maps to an empty list)."""
    result: dict[str, set[str]] = {}
    for aggregate in list_all(session):
        zone = zone_of(aggregate)
        if zone:
            result.setdefault(zone, set()).update(hosts_of(aggregate))
    return {zone: sorted(hosts) for zone, hosts in sorted(result.items())}
