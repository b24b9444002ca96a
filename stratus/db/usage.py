"""Usage reports (os-simple-tenant-usage): what each project's servers held, and for
how long, within a period; from the instances' launch and termination times and their
flavors' sizes, as Nova computes them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from stratus.db.models import Instance


def active_in(
    session: Session,
    start: dt.datetime,
    stop: dt.datetime,
    project_id: str | None = None,
    marker_id: int | None = None,
    limit: int | None = None,
) -> list[Instance]:
    """Servers, deleted ones too, that ran at some time in ``[start, stop]``: launched
    before ``stop`` and not terminated before ``start``; in id order."""
    stmt = (
        sa.select(Instance)
        .where(
            Instance.launched_at < stop,
            sa.or_(Instance.terminated_at.is_(None), Instance.terminated_at > start),
        )
        .order_by(Instance.id)
    )
    if project_id is not None:
        stmt = stmt.where(Instance.project_id == project_id)
    if marker_id is not None:
        stmt = stmt.where(Instance.id > marker_id)
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(session.scalars(stmt))


def hours_for(
    launched_at: dt.datetime | None,
    terminated_at: dt.datetime | None,
    start: dt.datetime,
    stop: dt.datetime,
) -> float:
    """Hours a server ran within ``[start, stop]``; one still running is counted up to
    ``stop``, one never launched not at all."""
    if launched_at is None or launched_at > stop:
        return 0.0
    if terminated_at is not None and terminated_at < start:
        return 0.0
    end = min(stop, terminated_at) if terminated_at is not None else stop
    return max((end - max(launched_at, start)).total_seconds(), 0.0) / 3600.0


@dataclass
class ServerUsage:
    instance_id: str
    name: str
    tenant_id: str
    flavor: str
    vcpus: int
    memory_mb: int
    local_gb: int
    hours: float
    started_at: dt.datetime | None
    ended_at: dt.datetime | None
    state: str
    uptime: int


@dataclass
class ProjectUsage:
    tenant_id: str
    start: dt.datetime
    stop: dt.datetime
    total_hours: float = 0.0
    total_vcpus_usage: float = 0.0
    total_memory_mb_usage: float = 0.0
    total_local_gb_usage: float = 0.0
    servers: list[ServerUsage] = field(default_factory=list)


def server_usage(
    instance: Instance, start: dt.datetime, stop: dt.datetime, now: dt.datetime
) -> ServerUsage:
    flavor: dict[str, Any] = instance.flavor or {}
    ended = instance.terminated_at
    began = instance.launched_at
    uptime_end = ended if ended is not None else now
    return ServerUsage(
        instance_id=instance.uuid,
        name=instance.display_name,
        tenant_id=instance.project_id,
        flavor=str(flavor.get("name", "")),
        vcpus=instance.vcpus,
        memory_mb=instance.memory_mb,
        local_gb=instance.root_gb + (instance.ephemeral_gb or 0),
        hours=hours_for(began, ended, start, stop),
        started_at=began,
        ended_at=ended,
        state="terminated" if ended is not None else instance.vm_state,
        uptime=int((uptime_end - began).total_seconds()) if began is not None else 0,
    )


def report(
    instances: list[Instance], start: dt.datetime, stop: dt.datetime, now: dt.datetime
) -> dict[str, ProjectUsage]:
    """Per project, in the order projects first appear: totals over ``instances``."""
    projects: dict[str, ProjectUsage] = {}
    for instance in instances:
        usage = server_usage(instance, start, stop, now)
        total = projects.setdefault(usage.tenant_id, ProjectUsage(usage.tenant_id, start, stop))
        total.total_hours += usage.hours
        total.total_vcpus_usage += usage.vcpus * usage.hours
        total.total_memory_mb_usage += usage.memory_mb * usage.hours
        total.total_local_gb_usage += usage.local_gb * usage.hours
        total.servers.append(usage)
    return projects


def instance_id(session: Session, uuid: str) -> int | None:
    """The row id of server ``uuid`` (deleted or not), for paging by marker."""
    return session.scalar(sa.select(Instance.id).where(Instance.uuid == uuid))
