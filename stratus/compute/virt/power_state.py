"""Power states of an instance as the hypervisor sees it (Nova's integer values)."""

from __future__ import annotations

NOSTATE = 0
RUNNING = 1
PAUSED = 3
SHUTDOWN = 4
CRASHED = 6
SUSPENDED = 7

STATE_NAMES: dict[int, str] = {
    NOSTATE: "pending",
    RUNNING: "running",
    PAUSED: "paused",
    SHUTDOWN: "shutdown",
    CRASHED: "crashed",
    SUSPENDED: "suspended",
}


def name(state: int) -> str:
    """Human name of a power state (``"running"``), as the API shows it."""
    return STATE_NAMES.get(state, "pending")
