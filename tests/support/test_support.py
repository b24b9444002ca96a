"""Self-tests of the test fixtures: real MariaDB, real RabbitMQ, real processes."""

from __future__ import annotations

import os
import queue
import signal
import socket
import stat
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kombu
import pytest
import sqlalchemy as sa

from tests.support.mariadb import MariaDBServer, mariadb_available
from tests.support.ports import free_port, free_ports, port_is_open
from tests.support.processes import (
    PrivateServer,
    ServiceProcess,
    StartupError,
    entry_point_command,
    wait_for,
)
from tests.support.rabbitmq import RabbitMQServer, messaging_conf, rabbitmq_available

needs_mariadb = pytest.mark.skipif(not mariadb_available(), reason="mariadb-server not installed")
needs_rabbitmq = pytest.mark.skipif(
    not rabbitmq_available(), reason="rabbitmq-server not installed"
)


# -- ports ---------------------------------------------------------------------


def test_free_ports_are_distinct_and_bindable() -> None:
    ports = free_ports(5)
    assert len(set(ports)) == 5
    assert all(1024 <= p <= 65535 for p in ports)
    assert not port_is_open(free_port())


# -- MariaDB -------------------------------------------------------------------


@pytest.fixture(scope="module")
def mariadb() -> Iterator[MariaDBServer]:
    with MariaDBServer() as server:
        yield server


@pytest.mark.mariadb
@needs_mariadb
def test_mariadb_table_round_trip(mariadb: MariaDBServer) -> None:
    url = mariadb.create_database("selftest_rt")
    assert url.startswith(f"mysql+pymysql://root:{mariadb.password}@127.0.0.1:{mariadb.port}/")
    assert url.endswith("/selftest_rt?charset=utf8mb4")
    assert mariadb.port != 3306

    engine = sa.create_engine(url)
    meta = sa.MetaData()
    things = sa.Table(
        "things",
        meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
    )
    try:
        meta.create_all(engine)
        with engine.begin() as conn:
            conn.execute(things.insert(), [{"name": "alpha"}, {"name": "βeta ☁"}])
        with engine.connect() as conn:
            names = conn.execute(sa.select(things.c.name).order_by(things.c.id)).scalars().all()
            version = conn.execute(sa.text("SELECT VERSION()")).scalar_one()
        assert names == ["alpha", "βeta ☁"]
        assert "MariaDB" in version
    finally:
        engine.dispose()


@pytest.mark.mariadb
@needs_mariadb
def test_mariadb_databases_are_independent(mariadb: MariaDBServer) -> None:
    engines = {
        name: sa.create_engine(mariadb.create_database(name))
        for name in ("selftest_a", "selftest_b")
    }
    try:
        with engines["selftest_a"].begin() as conn:
            conn.execute(sa.text("CREATE TABLE t (v INT)"))
            conn.execute(sa.text("INSERT INTO t VALUES (1)"))
        with engines["selftest_b"].begin() as conn:
            assert sa.inspect(conn).get_table_names() == []
            conn.execute(sa.text("CREATE TABLE t (v INT)"))
            conn.execute(sa.text("INSERT INTO t VALUES (2), (3)"))
        with engines["selftest_a"].connect() as conn:
            assert conn.execute(sa.text("SELECT v FROM t")).scalars().all() == [1]
        # Re-creating a database empties it.
        with sa.create_engine(mariadb.create_database("selftest_a")).connect() as conn:
            assert sa.inspect(conn).get_table_names() == []
        assert {"selftest_a", "selftest_b"} <= set(mariadb.databases())
    finally:
        for engine in engines.values():
            engine.dispose()


@pytest.mark.mariadb
@needs_mariadb
def test_mariadb_stop_removes_everything() -> None:
    server = MariaDBServer().start()
    base, port, proc = server.base_dir, server.port, server.process
    assert base is not None and proc is not None
    assert (base / "data" / "mysql").is_dir()
    assert server.start_seconds is not None and server.start_seconds < 30
    server.stop()
    assert proc.poll() is not None
    assert not base.exists()
    assert not port_is_open(port)
    server.stop()  # idempotent


@pytest.mark.mariadb
@needs_mariadb
def test_mariadb_startup_failure_shows_error_log() -> None:
    server = MariaDBServer(extra_args=("--no-such-option-for-selftest",), startup_timeout=20)
    with pytest.raises(StartupError, match="no-such-option-for-selftest"):
        server.start()
    assert server.base_dir is None and server.process is None


@pytest.mark.mariadb
@needs_mariadb
def test_mariadb_retries_when_its_port_is_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    import tests.support.mariadb as mariadb_module

    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        ports = iter([taken])
        monkeypatch.setattr(mariadb_module, "free_port", lambda: next(ports, None) or free_port())
        with MariaDBServer(startup_timeout=30) as server:
            assert server.port != taken
            assert server.execute("SELECT 1") == [(1,)]


# -- RabbitMQ ------------------------------------------------------------------


@pytest.fixture(scope="module")
def rabbit() -> Iterator[RabbitMQServer]:
    with RabbitMQServer() as broker:
        yield broker


@pytest.fixture
def transport(rabbit: RabbitMQServer) -> Iterator[Any]:
    import oslo_messaging

    transport = oslo_messaging.get_rpc_transport(messaging_conf(), url=rabbit.transport_url)
    try:
        yield transport
    finally:
        transport.cleanup()


class _Endpoint:
    def __init__(self) -> None:
        self.casts: queue.Queue[tuple[str, str]] = queue.Queue()

    def echo(self, ctxt: dict[str, Any], value: Any) -> dict[str, Any]:
        return {"value": value, "thread": threading.current_thread().name, "ctxt": ctxt}

    def record(self, ctxt: dict[str, Any], value: str) -> None:
        self.casts.put((value, threading.current_thread().name))


@needs_rabbitmq
def test_rabbitmq_urls_and_isolation(rabbit: RabbitMQServer) -> None:
    assert rabbit.transport_url == (f"rabbit://stratus:{rabbit.password}@127.0.0.1:{rabbit.port}/")
    assert rabbit.port != 5672
    assert rabbit.nodename == f"stratus-test-{rabbit.port}@localhost"
    assert rabbit.start_seconds is not None and rabbit.start_seconds < 30
    with kombu.Connection(rabbit.amqp_url, connect_timeout=5) as conn:
        conn.ensure_connection(max_retries=0)
        assert conn.connected


@needs_rabbitmq
def test_oslo_messaging_call_and_cast(rabbit: RabbitMQServer, transport: Any) -> None:
    import oslo_messaging

    endpoint = _Endpoint()
    target = oslo_messaging.Target(topic="stratus-selftest", server="host-1")
    # Threading is oslo.messaging's only executor now (passing executor= is deprecated).
    server = oslo_messaging.get_rpc_server(transport, target, [endpoint])
    server.start()
    try:
        client = oslo_messaging.get_rpc_client(
            transport, oslo_messaging.Target(topic="stratus-selftest"), timeout=20
        )
        reply = client.call({"request_id": "req-1"}, "echo", value={"n": [1, 2, 3]})
        assert reply["value"] == {"n": [1, 2, 3]}
        assert reply["ctxt"]["request_id"] == "req-1"
        # The threading executor ran it on a worker thread, not in the caller.
        assert reply["thread"] != threading.current_thread().name

        client.prepare(server="host-1").cast({}, "record", value="hello")
        value, _thread = endpoint.casts.get(timeout=20)
        assert value == "hello"
    finally:
        server.stop()
        server.wait()


@needs_rabbitmq
def test_rabbitmqctl_add_user(rabbit: RabbitMQServer) -> None:
    rabbit.add_user("selftest", "selftest-pw")
    assert "selftest" in rabbit.ctl("list_users")
    url = f"amqp://selftest:selftest-pw@127.0.0.1:{rabbit.port}//"
    with kombu.Connection(url, connect_timeout=5) as conn:
        conn.ensure_connection(max_retries=0)
        conn.channel().close()


@needs_rabbitmq
def test_rabbitmq_stop_removes_everything() -> None:
    broker = RabbitMQServer().start()
    base, port, proc, epmd = broker.base_dir, broker.port, broker.process, broker.epmd
    assert base is not None and proc is not None and epmd is not None
    epmd_port = broker.epmd_port
    broker.stop()
    assert proc.poll() is not None and epmd.poll() is not None
    assert not base.exists()
    assert not port_is_open(port)
    assert not port_is_open(epmd_port)
    broker.stop()  # idempotent


# -- the shared life cycle of private servers ----------------------------------

_TCP_SERVER = textwrap.dedent(
    """
    import socket, sys, time
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", int(sys.argv[1])))
    except OSError as exc:
        print(exc, flush=True)
        sys.exit(1)
    s.listen()
    print("listening", flush=True)
    time.sleep(600)
    """
)


class _TcpServer(PrivateServer):
    """A minimal PrivateServer: a listening socket in a Python process."""

    kind = "TcpServer"

    def __init__(self, ports: list[int]) -> None:
        super().__init__(startup_timeout=20)
        self.ports = ports
        self.port = 0
        self.setups = 0

    def _setup(self) -> None:
        self.setups += 1
        self._path("data").write_text("state")

    def _launch(self) -> None:
        self.port = self.ports.pop(0)
        self.process = self._popen([sys.executable, "-c", _TCP_SERVER, str(self.port)], "out")

    def _ready(self) -> bool:
        # Our own process answering, not whoever else listens on the port.
        return "listening" in self._path("out").read_text() and port_is_open(self.port)

    def log_files(self) -> list[Path]:
        return [self._path("out")]


def test_private_server_relaunches_on_a_new_port_when_its_port_is_taken() -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        server = _TcpServer([taken, free_port()])
        with server:
            base = server.base_dir
            assert base is not None and server.running and server.port != taken
            assert server.setups == 1  # the directory was prepared once
            # The failed attempt's log was set aside, not read as the new one's.
            assert "Address already in use" in (base / "out.attempt-1").read_text()
            assert server.log_tail() == "[out]\nlistening"
            proc = server.process
        assert proc is not None and proc.poll() is not None
        assert not base.exists() and server.base_dir is None
        server.stop()  # idempotent


def test_private_server_gives_up_on_other_failures_and_cleans_up() -> None:
    server = _TcpServer([free_port()])
    server._launch = lambda: setattr(  # type: ignore[method-assign]
        server,
        "process",
        server._popen([sys.executable, "-c", "print('no config'); raise SystemExit(3)"], "out"),
    )
    with pytest.raises(StartupError, match="no config"):
        server.start()
    assert server.base_dir is None and server.process is None


# -- processes -----------------------------------------------------------------

_HTTP_SERVER = textwrap.dedent(
    """
    import http.server, sys
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/" else 404)
            self.end_headers()
            self.wfile.write(b"ok")
    print("serving", flush=True)
    http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
    """
)


def test_service_process_http_and_stop(tmp_path: Path) -> None:
    port = free_port()
    proc = ServiceProcess(
        [sys.executable, "-c", _HTTP_SERVER], [str(port)], name="http", log_dir=tmp_path
    )
    with proc:
        assert proc.wait_for_http(f"http://127.0.0.1:{port}/", timeout=20) == 200
        assert proc.wait_for_http(f"http://127.0.0.1:{port}/x", timeout=5, status={404}) == 404
        assert proc.wait_for_log(r"^serving", timeout=5)
        assert proc.running
    assert proc.returncode == -signal.SIGTERM
    assert not port_is_open(port)
    # The log dir was given by the caller: it stays.
    assert "serving" in (tmp_path / "http.log").read_text()


def test_service_process_early_exit_reports_log() -> None:
    proc = ServiceProcess(
        [
            sys.executable,
            "-c",
            "import sys; print('bad config: no [database] section'); sys.exit(3)",
        ]
    ).start()
    try:
        began = time.monotonic()
        with pytest.raises(StartupError, match="bad config: no \\[database\\] section") as info:
            proc.wait_for_http(f"http://127.0.0.1:{free_port()}/", timeout=30)
        assert "exited with status 3" in str(info.value)
        assert time.monotonic() - began < 10  # did not wait out the timeout
    finally:
        proc.cleanup()
    assert proc.log_dir is not None and not proc.log_dir.exists()


def test_service_process_stop_escalates_to_sigkill() -> None:
    script = (
        "import signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('ready', flush=True)\n"
        "time.sleep(600)\n"
    )
    proc = ServiceProcess([sys.executable, "-c", script], name="stubborn").start()
    try:
        proc.wait_for_log("ready", timeout=20)
        assert proc.stop(timeout=0.5) == -signal.SIGKILL
    finally:
        proc.cleanup()


def test_service_process_kill_and_env() -> None:
    script = "import os, time; print('X=' + os.environ['X'], flush=True); time.sleep(600)"
    proc = ServiceProcess([sys.executable, "-c", script], env={"X": "42"}).start()
    try:
        proc.wait_for_log("X=42", timeout=20)
        assert proc.kill() == -signal.SIGKILL
        assert not proc.running
        first_pid = proc.pid
        proc.start()  # a restart appends to the same log
        proc.wait_for(lambda: proc.read_log().count("X=42") == 2, timeout=20)
        assert proc.pid != first_pid and proc.running
        assert proc.restart(timeout=5).running
    finally:
        proc.cleanup()


def test_entry_point_process() -> None:
    assert entry_point_command("pytest")[0].endswith("pytest")
    proc = ServiceProcess.entry_point("pytest", ["--version"]).start()
    try:
        assert proc.wait(timeout=60) == 0
        assert "pytest" in proc.read_log()
    finally:
        proc.cleanup()


def test_wait_for_returns_value_and_times_out() -> None:
    calls = iter([None, 0, "done"])
    assert wait_for(lambda: next(calls), timeout=5, interval=0.01) == "done"
    with pytest.raises(StartupError, match="never: timed out"):
        wait_for(lambda: 1 / 0, timeout=0.2, interval=0.05, description="never")


@pytest.mark.skipif(os.geteuid() != 0, reason="changes a device node's group: root only")
def test_kvm_device_given_to_group_kvm(tmp_path: Path) -> None:
    """On a real character device node (made with mknod), as udev's rule would."""
    import grp

    from tests.support.libvirtd import kvm_device_for_group_kvm

    try:
        kvm_gid = grp.getgrnam("kvm").gr_gid
    except KeyError:
        pytest.skip("no kvm group")
    device = tmp_path / "kvm"
    os.mknod(device, 0o600 | stat.S_IFCHR, os.makedev(10, 232))
    assert kvm_device_for_group_kvm(device) is True
    st = device.stat()
    assert (st.st_gid, st.st_mode & 0o777) == (kvm_gid, 0o660)
    assert kvm_device_for_group_kvm(device) is False
    assert kvm_device_for_group_kvm(tmp_path / "absent") is False
