"""The one instance state machine: vm_state, task_state, power_state, the status the
API shows for them, and which action may start from which state."""

from __future__ import annotations

from dataclasses import dataclass

# vm_state
BUILDING = "building"
ACTIVE = "active"
STOPPED = "stopped"
PAUSED = "paused"
SUSPENDED = "suspended"
ERROR = "error"
DELETED = "deleted"

# task_state
SCHEDULING = "scheduling"
SPAWNING = "spawning"
REBOOTING = "rebooting"
REBOOTING_HARD = "rebooting_hard"
POWERING_OFF = "powering-off"
POWERING_ON = "powering-on"
PAUSING = "pausing"
UNPAUSING = "unpausing"
SUSPENDING = "suspending"
RESUMING = "resuming"
DELETING = "deleting"

# The instance action event of a build: opened by the conductor when it hands the
# build to a compute node, finished by that node.
BUILD_EVENT = "compute__do_build_and_run_instance"
# The event of a delete: opened and finished by the compute node (the conductor
# finishes it when it records the instance as gone).
TERMINATE_EVENT = "compute_terminate_instance"

# power_state, as the virt drivers report it (Nova's numbering)
NOSTATE = 0
RUNNING = 1
POWER_PAUSED = 3
SHUTDOWN = 4
CRASHED = 6
POWER_SUSPENDED = 7

POWER_STATE_NAMES = {
    NOSTATE: "pending",
    RUNNING: "running",
    POWER_PAUSED: "paused",
    SHUTDOWN: "shutdown",
    CRASHED: "crashed",
    POWER_SUSPENDED: "suspended",
}


def power_state_name(state: int) -> str:
    """A power state's name (``"running"``), for messages."""
    return POWER_STATE_NAMES.get(state, "pending")


_STATUS = {
    BUILDING: "BUILD",
    ACTIVE: "ACTIVE",
    STOPPED: "SHUTOFF",
    PAUSED: "PAUSED",
    SUSPENDED: "SUSPENDED",
    ERROR: "ERROR",
    DELETED: "DELETED",
}
_TASK_STATUS = {REBOOTING: "REBOOT", REBOOTING_HARD: "HARD_REBOOT"}


def status(vm_state: str, task_state: str | None) -> str:
    """The Nova status the API shows (never null)."""
    if vm_state == ACTIVE and task_state in _TASK_STATUS:
        return _TASK_STATUS[task_state]
    return _STATUS.get(vm_state, "UNKNOWN")


@dataclass(frozen=True)
class Transition:
    """An action that may start when vm_state is in ``allowed`` and no other task
    runs; it sets ``task`` while it runs and ends in ``result``."""

    allowed: frozenset[str]
    task: str
    result: str
    power: int


TRANSITIONS: dict[str, Transition] = {
    "reboot": Transition(frozenset({ACTIVE}), REBOOTING, ACTIVE, RUNNING),
    "reboot_hard": Transition(
        frozenset({ACTIVE, STOPPED, PAUSED, SUSPENDED, ERROR}), REBOOTING_HARD, ACTIVE, RUNNING
    ),
    "stop": Transition(frozenset({ACTIVE, ERROR}), POWERING_OFF, STOPPED, SHUTDOWN),
    "start": Transition(frozenset({STOPPED}), POWERING_ON, ACTIVE, RUNNING),
    "pause": Transition(frozenset({ACTIVE}), PAUSING, PAUSED, POWER_PAUSED),
    "unpause": Transition(frozenset({PAUSED}), UNPAUSING, ACTIVE, RUNNING),
    "suspend": Transition(frozenset({ACTIVE}), SUSPENDING, SUSPENDED, POWER_SUSPENDED),
    "resume": Transition(frozenset({SUSPENDED}), RESUMING, ACTIVE, RUNNING),
}


# os-resetState: the vm_states an administrator may force, from any state, with no
# task left running.
RESET_STATES = {"active": ACTIVE, "error": ERROR}


def reset(state: str) -> dict[str, str | None]:
    """The instance values of a reset to ``state`` (a key of RESET_STATES)."""
    return {"vm_state": RESET_STATES[state], "task_state": None}


def stopped_unexpectedly(vm_state: str, task_state: str | None, power_state: int) -> bool:
    """Nova's sync_power_states rule: an ACTIVE guest with no task running whose
    hypervisor says it is no longer running has stopped, and becomes SHUTOFF."""
    return vm_state == ACTIVE and task_state is None and power_state in (SHUTDOWN, CRASHED, NOSTATE)
