"""Quota limits and usage."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from stratus.conf import CONF
from stratus.db.models import (
    Instance,
    KeyPair,
    ProjectUserQuota,
    Quota,
    QuotaClass,
    ServerGroup,
)

#: Every resource a limit can be stored for, by the API's names. The network ones
#: (shown below microversion 2.36) have no effect: networking keeps no quotas here.
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
    "injected_file_path_bytes",
    "fixed_ips",
    "floating_ips",
    "security_groups",
    "security_group_rules",
)
NETWORK_RESOURCES = ("fixed_ips", "floating_ips", "security_groups", "security_group_rules")
DEFAULT_CLASS = "default"

# The configuration option of a resource whose option has another name.
_OPTION = {"injected_file_path_bytes": "injected_file_path_length"}


def configured() -> dict[str, int]:
    """The limits the configuration gives (``[quota]``); -1 for the unenforced ones."""
    return {
        name: -1 if name in NETWORK_RESOURCES else getattr(CONF.quota, _OPTION.get(name, name))
        for name in RESOURCES
    }


def class_limits(session: Session, class_name: str) -> dict[str, int]:
    """A quota class's limits: the configured ones with the class's own over them."""
    result = configured()
    for row in session.scalars(sa.select(QuotaClass).where(QuotaClass.class_name == class_name)):
        if row.resource in result:
            result[row.resource] = row.hard_limit
    return result


def defaults(session: Session) -> dict[str, int]:
    """Every project's defaults: the ``default`` quota class (as Nova has them)."""
    return class_limits(session, DEFAULT_CLASS)


def _store(
    session: Session,
    model: type[Quota | QuotaClass | ProjectUserQuota],
    owner: dict[str, str],
    values: dict[str, int],
) -> None:
    """Insert or change the ``model`` rows of ``owner`` (its key columns) for ``values``."""
    for resource, hard_limit in values.items():
        row = session.get(model, (*owner.values(), resource))
        if row is None:
            session.add(model(**owner, resource=resource, hard_limit=hard_limit))
        else:
            row.hard_limit = hard_limit


def set_class_limits(session: Session, class_name: str, values: dict[str, int]) -> None:
    _store(session, QuotaClass, {"class_name": class_name}, values)


def limits(session: Session, project_id: str, user_id: str | None = None) -> dict[str, int]:
    """A project's limits (the defaults with its own over them); with ``user_id``, that
    user's within the project (the project's with the user's own over them)."""
    result = defaults(session)
    for quota in session.scalars(sa.select(Quota).where(Quota.project_id == project_id)):
        if quota.resource in result:
            result[quota.resource] = quota.hard_limit
    if user_id is not None:
        result = user_limits(session, project_id, user_id, result)
    return result


def user_limits(
    session: Session, project_id: str, user_id: str, project_limits: dict[str, int]
) -> dict[str, int]:
    """One user's limits within a project: the project's (as given) with the user's own
    over them."""
    result = dict(project_limits)
    for row in session.scalars(
        sa.select(ProjectUserQuota).where(
            ProjectUserQuota.project_id == project_id, ProjectUserQuota.user_id == user_id
        )
    ):
        if row.resource in result:
            result[row.resource] = row.hard_limit
    return result


def set_limits(
    session: Session, project_id: str, values: dict[str, int], user_id: str | None = None
) -> None:
    if user_id is None:
        _store(session, Quota, {"project_id": project_id}, values)
    else:
        _store(session, ProjectUserQuota, {"project_id": project_id, "user_id": user_id}, values)


def reset(session: Session, project_id: str, user_id: str | None = None) -> None:
    """Back to the defaults: one user's limits, or the project's and all its users'."""
    users = sa.delete(ProjectUserQuota).where(ProjectUserQuota.project_id == project_id)
    if user_id is not None:
        session.execute(users.where(ProjectUserQuota.user_id == user_id))
        return
    session.execute(users)
    session.execute(sa.delete(Quota).where(Quota.project_id == project_id))


def instance_usage(session: Session, project_id: str, user_id: str | None = None) -> dict[str, int]:
    """The project's live servers (or one user's among them), and the cores and RAM
    they hold."""
    stmt = sa.select(
        sa.func.count(Instance.id),
        sa.func.coalesce(sa.func.sum(Instance.vcpus), 0),
        sa.func.coalesce(sa.func.sum(Instance.memory_mb), 0),
    ).where(Instance.project_id == project_id, Instance.deleted.is_(False))
    if user_id is not None:
        stmt = stmt.where(Instance.user_id == user_id)
    instances, cores, ram = session.execute(stmt).one()
    return {"instances": int(instances), "cores": int(cores), "ram": int(ram)}


def usage(
    session: Session, project_id: str, user_id: str | None = None, per_user: bool = False
) -> dict[str, int]:
    """What the project holds (key pairs: ``user_id``'s); with ``per_user``, its servers
    are only those of ``user_id``."""
    groups = session.scalar(
        sa.select(sa.func.count(ServerGroup.id)).where(ServerGroup.project_id == project_id)
    )
    key_pairs = 0
    if user_id:
        key_pairs = session.scalar(
            sa.select(sa.func.count(KeyPair.id)).where(KeyPair.user_id == user_id)
        )
    return {
        **instance_usage(session, project_id, user_id if per_user else None),
        "server_groups": int(groups or 0),
        "key_pairs": int(key_pairs or 0),
    }
