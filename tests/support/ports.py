"""Free TCP ports on the loopback interface for servers started by the tests."""

from __future__ import annotations

import contextlib
import socket

LOOPBACK = "127.0.0.1"


def free_ports(count: int, host: str = LOOPBACK) -> list[int]:
    """Return ``count`` distinct TCP ports that are free on ``host`` right now.

    The kernel picks each port (bind to port 0), and all sockets are held open
    until every port is chosen, so the ports are distinct from each other. A
    port can still be taken by another process before the caller binds it;
    callers that start a server should treat "address in use" as retryable.
    """
    if count < 1:
        raise ValueError("count must be at least 1")
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((host, 0))
            ports.append(sock.getsockname()[1])
        return ports


def free_port(host: str = LOOPBACK) -> int:
    """Return one TCP port that is free on ``host`` (127.0.0.1 by default)."""
    return free_ports(1, host)[0]


def port_is_open(port: int, host: str = LOOPBACK, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
