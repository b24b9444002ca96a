"""Server-group quotas and the scheduler's view of a group, on a SQLite schema."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from stratus.api import errors
from stratus.db import quotas as db_quotas
from stratus.db import server_groups as db_groups
from stratus.db.models import Base, Instance, ServerGroup
from stratus.db.session import create_engine


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    engine = create_engine(f"sqlite:///{tmp_path}/groups.db")
    Base.metadata.create_all(engine)
    try:
        with Session(engine) as session:
            yield session
    finally:
        engine.dispose()


def _instance(session: Session, host: str | None = None, deleted: bool = False) -> str:
    instance = Instance(
        project_id="p1",
        user_id="u1",
        display_name="vm",
        flavor={},
        vcpus=1,
        memory_mb=64,
        root_gb=1,
        host=host,
        deleted=deleted,
    )
    session.add(instance)
    session.flush()
    return instance.uuid


def _group(session: Session, policy: str = "anti-affinity", **rules: int) -> ServerGroup:
    return db_groups.create(
        session, project_id="p1", user_id="u1", name="g", policy=policy, rules=dict(rules)
    )


def test_members_within_quota(session: Session) -> None:
    db_quotas.set_limits(session, "p1", {"server_group_members": 3})
    group = _group(session)
    db_groups.add_members(session, group, [_instance(session), _instance(session)])
    db_groups.check_group_members(session, group, 1)
    with pytest.raises(db_groups.QuotaExceeded) as caught:
        db_groups.check_group_members(session, group, 2)
    assert errors.from_domain(caught.value).status == 403
    assert caught.value.message.startswith("Quota exceeded for server_group_members")
    assert (caught.value.used, caught.value.limit) == (2, 3)
    with pytest.raises(db_groups.QuotaExceeded):
        db_groups.add_members(session, group, [_instance(session), _instance(session)])
    assert db_groups.count_members(session, group) == 2


def test_deleted_members_do_not_count_and_unlimited(session: Session) -> None:
    db_quotas.set_limits(session, "p1", {"server_group_members": 1})
    group = _group(session)
    db_groups.add_members(session, group, [_instance(session, deleted=True)])
    db_groups.check_group_members(session, group, 1)
    db_quotas.set_limits(session, "p1", {"server_group_members": -1})
    db_groups.check_group_members(session, group, 1000)


def test_groups_quota(session: Session) -> None:
    db_quotas.set_limits(session, "p1", {"server_groups": 1})
    _group(session)
    with pytest.raises(db_groups.QuotaExceeded, match="Quota exceeded for server_groups"):
        _group(session)


def test_scheduler_view(session: Session) -> None:
    group = _group(session, max_server_per_host=2)
    placed = [_instance(session, "h1"), _instance(session, "h1"), _instance(session, "h2")]
    waiting, gone = _instance(session), _instance(session, "h3", deleted=True)
    db_groups.add_members(session, group, [*placed, waiting, gone])
    view = db_groups.scheduler_view_for_instance(session, waiting)
    assert view == {
        "uuid": group.uuid,
        "name": "g",
        "policy": "anti-affinity",
        "rules": {"max_server_per_host": 2},
        "members": [*placed, waiting],
        "hosts": ["h1", "h2"],
    }
    assert db_groups.member_hosts(session, group) == ["h1", "h1", "h2"]
    assert db_groups.group_for_instance(session, _instance(session)) is None
    db_groups.remove_members(session, [waiting])
    assert db_groups.scheduler_view_for_instance(session, waiting) is None
