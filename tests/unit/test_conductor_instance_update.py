"""The conductor's ``instance_update``: a state change and the action event that goes
with it, in one transaction, on a real SQLite database. The method is called
directly, as oslo.messaging's dispatcher calls it; the RPC path itself is covered by
the integration tier."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stratus import rpc
from stratus.compute import states
from stratus.conductor.manager import ConductorManager
from stratus.conf import CONF
from stratus.db import instances as db_instances
from stratus.db import session as db_session
from stratus.db.models import Base, Instance, utcnow
from stratus.db.session import transaction

BUILD = "compute__do_build_and_run_instance"
CTXT = {"request_id": "req-1"}


@pytest.fixture
def conductor(tmp_path: Path) -> Iterator[ConductorManager]:
    CONF.set_override("connection", f"sqlite:///{tmp_path}/conductor.db", "database")
    db_session.reset()
    Base.metadata.create_all(db_session.get_engine())
    try:
        yield ConductorManager()
    finally:
        db_session.reset()
        rpc.reset()
        CONF.clear_override("connection", "database")


@pytest.fixture
def spawning(conductor: ConductorManager) -> str:
    with transaction() as session:
        instance = Instance(
            project_id="p1",
            user_id="u1",
            display_name="vm",
            flavor={},
            vcpus=1,
            memory_mb=64,
            root_gb=1,
            vm_state=states.BUILDING,
            task_state=states.SPAWNING,
        )
        session.add(instance)
        session.flush()
        db_instances.start_action(session, instance.uuid, "create", "req-1", "u1", "p1")
        return instance.uuid


def event(result: str | None = None) -> dict:
    return {"event": BUILD, "host": "c1", "result": result, "details": None}


def build_events(uuid: str) -> list:
    with transaction() as session:
        action = db_instances.action(session, uuid, "req-1")
        return [(e.event, e.result, e.finish_time is not None) for e in action.events]


def test_change_and_event_in_one_call(conductor: ConductorManager, spawning: str) -> None:
    assert conductor.instance_update(
        CTXT, spawning, {}, expected_task_state=states.SPAWNING, event=event()
    )
    assert build_events(spawning) == [(BUILD, None, False)]
    assert conductor.instance_update(
        CTXT,
        spawning,
        {"vm_state": states.ACTIVE, "task_state": None, "launched_at": True},
        expected_task_state=states.SPAWNING,
        event=event("Success"),
    )
    assert build_events(spawning) == [(BUILD, "Success", True)]
    with transaction() as session:
        instance = db_instances.get(session, spawning)
        assert (instance.vm_state, instance.task_state) == (states.ACTIVE, None)
        assert instance.launched_at is not None
        assert db_instances.action(session, spawning, "req-1").finish_time is not None


def test_no_event_when_the_change_does_not_apply(
    conductor: ConductorManager, spawning: str
) -> None:
    """A server deleted meanwhile (here: not in the expected state) changes nothing
    and records nothing; the compute node then records the error itself."""
    assert not conductor.instance_update(
        CTXT,
        spawning,
        {"vm_state": states.ACTIVE},
        expected_task_state=states.DELETING,
        event=event("Success"),
    )
    assert build_events(spawning) == []
    with transaction() as session:
        assert db_instances.get(session, spawning).vm_state == states.BUILDING


def test_compute_may_not_change_other_fields(conductor: ConductorManager, spawning: str) -> None:
    with pytest.raises(ValueError, match="host"):
        conductor.instance_update(CTXT, spawning, {"host": "elsewhere"})


def action_state(uuid: str) -> tuple[bool, str | None]:
    with transaction() as session:
        action = db_instances.action(session, uuid, "req-1")
        return action.finish_time is not None, action.message


def test_an_action_finishes_when_its_last_open_event_does(
    conductor: ConductorManager, spawning: str
) -> None:
    """A whole event recorded at once (the conductor's scheduling event) does not
    finish an action whose build event is still open; the build's end does."""
    conductor.instance_update(
        CTXT, spawning, {}, expected_task_state=states.SPAWNING, event=event()
    )
    with transaction() as session:
        db_instances.record_event(
            session, spawning, "req-1", "schedule", "cond", utcnow(), "Success"
        )
    assert action_state(spawning) == (False, None)
    conductor.action_event(CTXT, spawning, BUILD, "c1", "Error", "disk full")
    assert action_state(spawning) == (True, "Error")
    assert sorted(build_events(spawning)) == [(BUILD, "Error", True), ("schedule", "Success", True)]


def test_a_failed_whole_event_marks_the_action(conductor: ConductorManager, spawning: str) -> None:
    with transaction() as session:
        db_instances.record_event(
            session, spawning, "req-1", "schedule", "cond", utcnow(), "Error", "no host"
        )
    assert action_state(spawning) == (True, "Error")
