"""Server groups: queries, quotas, membership and the scheduler's view.

A member counts (in views, quotas and placement) while its instance exists and is
not deleted; membership rows of deleted instances are kept until the instance is
purged, as Nova does.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from stratus.db import quotas as db_quotas
from stratus.db.models import Instance, ServerGroup, ServerGroupMember
from stratus.exception import QuotaExceeded

POLICIES = ("affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity")
LEGACY_POLICIES = ("affinity", "anti-affinity")  # below microversion 2.15
RULES_POLICY = "anti-affinity"  # the only policy that takes rules (max_server_per_host)


# --- reading --------------------------------------------------------------------------


def get(session: Session, uuid: str) -> ServerGroup | None:
    return session.scalar(sa.select(ServerGroup).where(ServerGroup.uuid == uuid))


def list_groups(
    session: Session, project_id: str | None, limit: int | None = None, offset: int = 0
) -> list[ServerGroup]:
    """Groups of ``project_id`` (None: every project), oldest first."""
    stmt = sa.select(ServerGroup).order_by(ServerGroup.id)
    if project_id is not None:
        stmt = stmt.where(ServerGroup.project_id == project_id)
    if offset:
        stmt = stmt.offset(offset)
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(session.scalars(stmt))


def _live(stmt: sa.Select) -> sa.Select:
    return stmt.join(Instance, Instance.uuid == ServerGroupMember.instance_uuid).where(
        Instance.deleted.is_(False)
    )


def live_members(session: Session, groups: Iterable[ServerGroup]) -> dict[int, list[str]]:
    """group id -> uuids of its members whose instances are not deleted (one query)."""
    ids = [group.id for group in groups]
    result: dict[int, list[str]] = {gid: [] for gid in ids}
    if not ids:
        return result
    stmt = _live(
        sa.select(ServerGroupMember.group_id, ServerGroupMember.instance_uuid)
        .where(ServerGroupMember.group_id.in_(ids))
        .order_by(Instance.id)
    )
    for group_id, uuid in session.execute(stmt):
        result[group_id].append(uuid)
    return result


def count_members(session: Session, group: ServerGroup) -> int:
    return int(
        session.scalar(
            _live(sa.select(sa.func.count()).select_from(ServerGroupMember)).where(
                ServerGroupMember.group_id == group.id
            )
        )
        or 0
    )


def member_hosts(session: Session, group: ServerGroup) -> list[str]:
    """Hosts that live members run on, one entry per member (so a host appears as
    often as members on it; members not yet placed are left out)."""
    stmt = _live(sa.select(Instance.host).select_from(ServerGroupMember)).where(
        ServerGroupMember.group_id == group.id, Instance.host.is_not(None)
    )
    return [host for (host,) in session.execute(stmt.order_by(Instance.id))]


def group_for_instance(session: Session, instance_uuid: str) -> ServerGroup | None:
    """The group ``instance_uuid`` belongs to (an instance is in at most one)."""
    return session.scalar(
        sa.select(ServerGroup)
        .join(ServerGroupMember, ServerGroupMember.group_id == ServerGroup.id)
        .where(ServerGroupMember.instance_uuid == instance_uuid)
    )


def scheduler_view(session: Session, group: ServerGroup) -> dict[str, Any]:
    """Plain data: what ``stratus.scheduler.request_spec.InstanceGroup.from_dict``
    reads. ``hosts`` is the distinct hosts of placed members; ``members`` every live
    member (the scheduler counts them per host for ``max_server_per_host``)."""
    return {
        "uuid": group.uuid,
        "name": group.name,
        "policy": group.policy,
        "rules": dict(group.rules or {}),
        "members": live_members(session, [group])[group.id],
        "hosts": list(dict.fromkeys(member_hosts(session, group))),
    }


def scheduler_view_for_instance(session: Session, instance_uuid: str) -> dict[str, Any] | None:
    """``scheduler_view`` of the group ``instance_uuid`` belongs to, or None."""
    group = group_for_instance(session, instance_uuid)
    return scheduler_view(session, group) if group is not None else None


# --- quotas ---------------------------------------------------------------------------


def check_groups_quota(session: Session, project_id: str, adding: int = 1) -> None:
    """Raise QuotaExceeded if ``project_id`` may not have ``adding`` more groups."""
    limit = db_quotas.limits(session, project_id)["server_groups"]
    if limit < 0:
        return
    used = int(
        session.scalar(
            sa.select(sa.func.count(ServerGroup.id)).where(ServerGroup.project_id == project_id)
        )
        or 0
    )
    if used + adding > limit:
        raise QuotaExceeded("server_groups", adding, used, limit)


def check_group_members(session: Session, group: ServerGroup, adding: int) -> None:
    """Raise QuotaExceeded if ``group`` may not take ``adding`` more members: live
    members plus ``adding`` must stay within the ``server_group_members`` limit of
    the group's project."""
    limit = db_quotas.limits(session, group.project_id)["server_group_members"]
    if limit < 0 or adding <= 0:
        return
    used = count_members(session, group)
    if used + adding > limit:
        raise QuotaExceeded("server_group_members", adding, used, limit)


# --- writing --------------------------------------------------------------------------


def create(
    session: Session,
    *,
    project_id: str,
    user_id: str,
    name: str,
    policy: str,
    rules: dict[str, Any] | None = None,
) -> ServerGroup:
    """A new group, within the project's ``server_groups`` quota."""
    if policy not in POLICIES:
        raise ValueError(f"unknown server group policy {policy!r}")
    check_groups_quota(session, project_id)
    group = ServerGroup(
        name=name, project_id=project_id, user_id=user_id, policy=policy, rules=rules or {}
    )
    session.add(group)
    session.flush()
    return group


def add_members(session: Session, group: ServerGroup, instance_uuids: Iterable[str]) -> None:
    """Add instances to ``group`` within the ``server_group_members`` quota. The
    instance rows should exist (members without one do not count)."""
    present = {member.instance_uuid for member in group.members}
    new = [uuid for uuid in dict.fromkeys(instance_uuids) if uuid not in present]
    check_group_members(session, group, len(new))
    for uuid in new:
        group.members.append(ServerGroupMember(instance_uuid=uuid))
    session.flush()


def remove_members(session: Session, instance_uuids: Iterable[str]) -> None:
    """Forget the memberships of purged instances."""
    uuids = list(instance_uuids)
    if uuids:
        session.execute(
            sa.delete(ServerGroupMember).where(ServerGroupMember.instance_uuid.in_(uuids))
        )


def delete(session: Session, group: ServerGroup) -> None:
    """Delete the group; its members keep running, outside any group."""
    session.delete(group)
