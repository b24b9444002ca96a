"""Quota limits and usage."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from stratus.conf import CONF
from stratus.db.models import Instance, KeyPair, Quota, ServerGroup

RESOURCES = (
    "instances",
    "cores",
    "ram",
    "metadata_items",
    "key_pairs",
    "server_groups",
    "server_group_members",
    "injected_files",
    "injected_file_content_bytes",
    "injected_file_path_length",
)


def defaults() -> dict[str, int]:
    return {name: getattr(CONF.quota, name) for name in RESOURCES}


def limits(session: Session, project_id: str) -> dict[str, int]:
    result = defaults()
    for quota in session.scalars(sa.select(Quota).where(Quota.project_id == project_id)):
        result[quota.resource] = quota.hard_limit
    return result


def set_limits(session: Session, project_id: str, values: dict[str, int]) -> None:
    for resource, hard_limit in values.items():
        quota = session.get(Quota, (project_id, resource))
        if quota is None:
            session.add(Quota(project_id=project_id, resource=resource, hard_limit=hard_limit))
        else:
            quota.hard_limit = hard_limit


def reset(session: Session, project_id: str) -> None:
    session.execute(sa.delete(Quota).where(Quota.project_id == project_id))


def instance_usage(session: Session, project_id: str) -> dict[str, int]:
    """The project's live servers, and the cores and RAM they hold."""
    instances, cores, ram = session.execute(
        sa.select(
            sa.func.count(Instance.id),
            sa.func.coalesce(sa.func.sum(Instance.vcpus), 0),
            sa.func.coalesce(sa.func.sum(Instance.memory_mb), 0),
        ).where(Instance.project_id == project_id, Instance.deleted.is_(False))
    ).one()
    return {"instances": int(instances), "cores": int(cores), "ram": int(ram)}


def usage(session: Session, project_id: str, user_id: str | None = None) -> dict[str, int]:
    groups = session.scalar(
        sa.select(sa.func.count(ServerGroup.id)).where(ServerGroup.project_id == project_id)
    )
    key_pairs = 0
    if user_id:
        key_pairs = session.scalar(
            sa.select(sa.func.count(KeyPair.id)).where(KeyPair.user_id == user_id)
        )
    return {
        **instance_usage(session, project_id),
        "server_groups": int(groups or 0),
        "key_pairs": int(key_pairs or 0),
    }
