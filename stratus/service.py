"""Process bootstrap shared by every Stratus command: configuration and logging."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

from stratus.conf import CONF

DEFAULT_CONFIG = "/etc/stratus/stratus.conf"
#: Files a service creates (the SQLite database and its -wal/-shm, instance
#: disks, console logs, libvirt.xml) are 0640 and directories 0750: the
#: database holds password hashes, instances hold guests' data.
UMASK = 0o027
LOG = logging.getLogger(__name__)


def prepare(argv: list[str] | None, name: str) -> None:
    """Parse ``--config-file`` (default /etc/stratus/stratus.conf when it exists) and
    the command line, then set up logging to stderr and ``<log_dir>/<name>.log``.
    Sets the process umask to ``UMASK`` first."""
    os.umask(UMASK)
    defaults = [DEFAULT_CONFIG] if os.path.exists(DEFAULT_CONFIG) else []
    CONF(
        argv if argv is not None else sys.argv[1:],
        project="stratus",
        prog=name,
        default_config_files=defaults,
    )
    setup_logging(name)


def setup_logging(name: str) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if CONF.log_dir:
        os.makedirs(CONF.log_dir, exist_ok=True)
        handlers.append(logging.FileHandler(os.path.join(CONF.log_dir, f"{name}.log")))
    logging.basicConfig(
        level=logging.DEBUG if CONF.debug else logging.INFO,
        format="%(asctime)s %(process)d %(levelname)s %(name)s %(message)s",
        handlers=handlers,
        force=True,
    )
    for noisy in ("alembic", "amqp", "kombu", "oslo_messaging", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def start_privsep() -> None:
    """Start the privsep daemon of ``stratus.privsep.sys_admin_pctxt`` now. A service
    running as root forks it (no sudo helper needed); an unprivileged one leaves it to
    oslo.privsep, which starts it through ``[stratus_sys_admin] helper_command`` on the
    first privileged call."""
    from oslo_privsep import priv_context

    from stratus.privsep import sys_admin_pctxt

    if os.geteuid() == 0 and sys_admin_pctxt.channel is None:
        sys_admin_pctxt.start(priv_context.Method.FORK)


class RPCService:
    """An oslo.messaging RPC server for one host, with its heartbeat and periodic tasks.

    ``register`` is called once at start and returns a service id; ``heartbeat(id)``
    runs every ``report_interval`` seconds. Services with database access pass
    ``db_registration``; compute nodes go through the conductor instead.
    """

    def __init__(
        self,
        binary: str,
        topic: str,
        endpoints: list[Any],
        register: Callable[[], Any],
        heartbeat: Callable[[Any], None],
        periodic: list[tuple[float, Callable[[], None]]] | None = None,
        host: str | None = None,
    ) -> None:
        self.binary, self.topic, self.endpoints = binary, topic, endpoints
        self.register, self.heartbeat = register, heartbeat
        self.host = host or CONF.host
        self.periodic = [(CONF.report_interval, self._beat), *(periodic or [])]
        self.stopping = threading.Event()
        self.service_id: Any = None
        self._server: Any = None

    def _beat(self) -> None:
        self.heartbeat(self.service_id)

    def _loop(self, interval: float, task: Callable[[], None]) -> None:
        while not self.stopping.wait(interval):
            try:
                task()
            except Exception:  # a periodic task must never kill the service
                LOG.exception("periodic task %s failed", getattr(task, "__name__", task))

    def start(self) -> None:
        from stratus import rpc

        self.service_id = self.register()
        self._server = rpc.server(self.topic, self.endpoints, host=self.host)
        self._server.start()
        for interval, task in self.periodic:
            threading.Thread(
                target=self._loop,
                args=(interval, task),
                daemon=True,
                name=getattr(task, "__name__", "periodic"),
            ).start()
        LOG.info("%s listening on topic %s as %s", self.binary, self.topic, self.host)

    def stop(self) -> None:
        self.stopping.set()
        if self._server is not None:
            self._server.stop()
            self._server.wait()

    def run(self) -> None:
        run_all([self])


def run_all(services: list[RPCService]) -> None:
    """Start every service, wait for SIGTERM or SIGINT, then stop them all."""
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    for svc in services:
        svc.start()
    stopping.wait()
    LOG.info("%s stopping", services[0].binary if services else "service")
    for svc in services:
        svc.stop()


def db_registration(binary: str, topic: str) -> tuple[Callable[[], Any], Callable[[Any], None]]:
    """Register and heartbeat straight in the database (scheduler, conductor)."""
    from stratus.db import services as db_services
    from stratus.db.session import transaction

    def register() -> int:
        with transaction() as session:
            return db_services.register(session, CONF.host, binary, topic).id

    def heartbeat(service_id: int) -> None:
        with transaction() as session:
            db_services.heartbeat(session, service_id)

    return register, heartbeat
