"""Instance queries: records, state changes, faults, actions and events.

Every state change goes through ``update`` or ``start_task``, which are conditional
updates: a change whose expected state no longer holds changes nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, lazyload

from stratus.db.models import (
    Instance,
    InstanceAction,
    InstanceActionEvent,
    InstanceFault,
    InstanceMetadata,
    utcnow,
)
from stratus.exception import UnexpectedState  # raised by update()

UNSET = object()

# The hot paths of builds (state changes, action events) use plain statements on
# the tables: the ORM's share was a large part of what a build cost the conductor.
INSTANCES = Instance.__table__
ACTIONS = InstanceAction.__table__
EVENTS = InstanceActionEvent.__table__


def get(
    session: Session, uuid: str, *, project_id: str | None = None, include_deleted: bool = False
) -> Instance | None:
    stmt = sa.select(Instance).where(Instance.uuid == uuid)
    if project_id is not None:
        stmt = stmt.where(Instance.project_id == project_id)
    if not include_deleted:
        stmt = stmt.where(Instance.deleted.is_(False))
    return session.scalar(stmt)


def change(
    session: Session,
    uuid: str,
    values: dict[str, Any],
    expected_task_state: Any = UNSET,
    expected_vm_state: Any = UNSET,
) -> bool:
    """Apply ``values`` if the instance exists (not deleted) and its states match the
    expectations (a value or a list of acceptable values); False if it did not.
    A plain statement: nothing the session holds is kept in step (``update`` reloads)."""
    stmt = sa.update(INSTANCES).where(INSTANCES.c.uuid == uuid, INSTANCES.c.deleted.is_(False))
    for column, expected in (
        (INSTANCES.c.task_state, expected_task_state),
        (INSTANCES.c.vm_state, expected_vm_state),
    ):
        if expected is UNSET:
            continue
        options = list(expected) if isinstance(expected, list | tuple | set) else [expected]
        conditions = [column.is_(None) if o is None else column == o for o in options]
        stmt = stmt.where(sa.or_(*conditions))
    return session.execute(stmt.values(**values, updated_at=utcnow())).rowcount == 1


def row(session: Session, uuid: str) -> sa.Row:
    """The instance's columns as a plain row (no ORM state, no relationships)."""
    return session.execute(sa.select(INSTANCES).where(INSTANCES.c.uuid == uuid)).one()


def update(
    session: Session,
    uuid: str,
    values: dict[str, Any],
    expected_task_state: Any = UNSET,
    expected_vm_state: Any = UNSET,
) -> Instance:
    """``change``, then the changed instance; UnexpectedState if nothing changed."""
    if not change(session, uuid, values, expected_task_state, expected_vm_state):
        raise UnexpectedState(f"instance {uuid} is deleted or not in the expected state")
    # The UPDATE went around the session: reload what it may hold already.
    # Its metadata only when asked for: state changes rarely need it.
    return session.scalars(
        sa.select(Instance)
        .where(Instance.uuid == uuid)
        .options(lazyload(Instance.metadata_items))
        .execution_options(populate_existing=True)
    ).one()


def start_task(
    session: Session, uuid: str, allowed_vm_states: frozenset[str], task_state: str
) -> bool:
    """Set ``task_state`` if no task runs and vm_state is allowed, atomically."""
    result = session.execute(
        sa.update(Instance)
        .where(
            Instance.uuid == uuid,
            Instance.deleted.is_(False),
            Instance.task_state.is_(None),
            Instance.vm_state.in_(allowed_vm_states),
        )
        .values(task_state=task_state, updated_at=utcnow())
    )
    return result.rowcount == 1


def soft_delete(session: Session, uuid: str) -> bool:
    now = utcnow()
    result = session.execute(
        sa.update(Instance)
        .where(Instance.uuid == uuid, Instance.deleted.is_(False))
        .values(
            deleted=True,
            deleted_at=now,
            terminated_at=now,
            vm_state="deleted",
            task_state=None,
            power_state=0,
            updated_at=now,
        )
    )
    return result.rowcount == 1


def on_host(session: Session, host: str) -> list[Instance]:
    return list(
        session.scalars(
            sa.select(Instance).where(Instance.host == host, Instance.deleted.is_(False))
        )
    )


def hosts_of(session: Session, uuids: list[str]) -> dict[str, str | None]:
    if not uuids:
        return {}
    return dict(
        session.execute(
            sa.select(Instance.uuid, Instance.host).where(
                Instance.uuid.in_(uuids), Instance.deleted.is_(False)
            )
        ).tuples()
    )


def set_metadata(instance: Instance, metadata: dict[str, str], replace: bool) -> None:
    current = {item.key: item for item in instance.metadata_items}
    if replace:
        for key in set(current) - set(metadata):
            instance.metadata_items.remove(current.pop(key))
    for key, value in metadata.items():
        if key in current:
            current[key].value = value
        else:
            instance.metadata_items.append(InstanceMetadata(key=key, value=value))


def add_fault(
    session: Session, uuid: str, code: int, message: str, details: str = "", host: str | None = None
) -> None:
    session.add(
        InstanceFault(
            instance_uuid=uuid, code=code, message=message[:65535], details=details, host=host
        )
    )


def latest_fault(session: Session, uuid: str) -> InstanceFault | None:
    return session.scalar(
        sa.select(InstanceFault)
        .where(InstanceFault.instance_uuid == uuid)
        .order_by(InstanceFault.id.desc())
        .limit(1)
    )


# --- instance actions and events ------------------------------------------------------


def start_action(
    session: Session, uuid: str, action: str, request_id: str, user_id: str, project_id: str
) -> InstanceAction:
    record = InstanceAction(
        instance_uuid=uuid,
        action=action,
        request_id=request_id,
        user_id=user_id,
        project_id=project_id,
    )
    session.add(record)
    session.flush()
    return record


def _action(session: Session, uuid: str, request_id: str) -> InstanceAction | None:
    return session.scalar(
        sa.select(InstanceAction).where(
            InstanceAction.instance_uuid == uuid, InstanceAction.request_id == request_id
        )
    )


def _action_id(session: Session, uuid: str, request_id: str) -> int | None:
    return session.scalar(
        sa.select(ACTIONS.c.id).where(
            ACTIONS.c.instance_uuid == uuid, ACTIONS.c.request_id == request_id
        )
    )


def start_event(session: Session, uuid: str, request_id: str, event: str, host: str | None) -> None:
    action_id = _action_id(session, uuid, request_id)
    if action_id is None:
        return
    now = utcnow()
    session.execute(
        sa.insert(EVENTS).values(action_id=action_id, event=event, host=host, start_time=now)
    )
    session.execute(sa.update(ACTIONS).where(ACTIONS.c.id == action_id).values(updated_at=now))


def finish_event(
    session: Session,
    uuid: str,
    request_id: str,
    event: str,
    result: str,
    traceback: str | None = None,
    details: str | None = None,
) -> None:
    """Finish the open ``event`` records of the request's action; the action is
    finished once none of its events is open."""
    action_id = _action_id(session, uuid, request_id)
    if action_id is None:
        return
    now = utcnow()
    session.execute(
        sa.update(EVENTS)
        .where(
            EVENTS.c.action_id == action_id,
            EVENTS.c.event == event,
            EVENTS.c.finish_time.is_(None),
        )
        .values(finish_time=now, result=result, traceback=traceback, details=details)
    )
    _touch_action(session, action_id, now, result)


def record_event(
    session: Session,
    uuid: str,
    request_id: str,
    event: str,
    host: str | None,
    start_time: dt.datetime,
    result: str,
    details: str | None = None,
) -> None:
    """Record ``event`` of the request's action, started at ``start_time`` and
    finished now with ``result``, in one statement."""
    action_id = _action_id(session, uuid, request_id)
    if action_id is None:
        return
    now = utcnow()
    session.execute(
        sa.insert(EVENTS).values(
            action_id=action_id,
            event=event,
            host=host,
            start_time=start_time,
            finish_time=now,
            result=result,
            details=details,
        )
    )
    _touch_action(session, action_id, now, result)


def _touch_action(session: Session, action_id: int, now: dt.datetime, result: str) -> None:
    """An event of the action finished with ``result``: the action is updated, marked
    as an error if the event failed, and finished once none of its events is open."""
    still_open = sa.exists().where(EVENTS.c.action_id == action_id, EVENTS.c.finish_time.is_(None))
    values: dict[str, Any] = {
        "updated_at": now,
        "finish_time": sa.case((~still_open, now), else_=ACTIONS.c.finish_time),
    }
    if result == "Error":
        values["message"] = "Error"
    session.execute(sa.update(ACTIONS).where(ACTIONS.c.id == action_id).values(**values))


def actions(session: Session, uuid: str) -> list[InstanceAction]:
    return list(
        session.scalars(
            sa.select(InstanceAction)
            .where(InstanceAction.instance_uuid == uuid)
            .order_by(InstanceAction.start_time.desc(), InstanceAction.id.desc())
        )
    )


def action(session: Session, uuid: str, request_id: str) -> InstanceAction | None:
    return _action(session, uuid, request_id)


def changed_since(stmt: Any, since: dt.datetime) -> Any:
    return stmt.where(sa.or_(Instance.updated_at >= since, Instance.created_at >= since))
