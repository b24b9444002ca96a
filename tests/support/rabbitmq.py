"""A private, throw-away RabbitMQ broker for tests.

``RabbitMQServer`` runs Debian's RabbitMQ as its own Erlang node
(``stratus-test-<port>@localhost``) with everything in a temporary directory:
Mnesia and log directories, configuration, enabled-plugins file (no plugins),
``HOME`` with a private ``.erlang.cookie``. AMQP and Erlang distribution listen
on 127.0.0.1 only, on free ports, so a system broker on 5672 is never touched.

The node gets a private ``epmd`` on a free port (``ERL_EPMD_PORT``), started
and stopped with the broker, so a stale or foreign epmd on 4369 cannot break
it and nothing is left running afterwards.

The ``stratus`` user (random password, all permissions on vhost ``/``) is
created by the broker itself as its default user while it boots, before the
AMQP listener opens; ``rabbitmqctl`` (``ctl()``, ``add_user()``) is available
for anything else.

    with RabbitMQServer() as broker:
        transport = oslo_messaging.get_rpc_transport(
            messaging_conf(), url=broker.transport_url
        )
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import string
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import kombu

from tests.support.ports import LOOPBACK, free_port, free_ports, port_is_open
from tests.support.processes import PrivateServer, StartupError, kill_group, tail, wait_for

RABBITMQ_BIN = Path("/usr/lib/rabbitmq/bin")

# Environment variables of the caller that would leak into the private node.
_STRIPPED_PREFIXES = ("RABBITMQ_", "ERL_", "ERLANG_")
_STRIPPED_NAMES = ("NOTIFY_SOCKET", "HOME", "detached")


def _script(name: str) -> str | None:
    # Debian's /usr/sbin wrappers switch to the rabbitmq user (and its HOME and
    # cookie) when run as root; the real scripts live in /usr/lib/rabbitmq/bin.
    path = RABBITMQ_BIN / name
    if path.is_file():
        return str(path)
    return shutil.which(name)


_APP_DEPS = re.compile(r"\{(?:included_)?applications,\s*\[(.*?)\]\}", re.S)


def _server_apps(plugins: Path) -> dict[str, Path]:
    """The applications in ``plugins`` that the broker itself needs (no plugins).

    Maps each name to its versioned directory, following the ``applications``
    and ``included_applications`` lists of the ``.app`` files from ``rabbit``.
    """
    found: dict[str, tuple[Path, list[str]]] = {}
    for app_dir in plugins.iterdir():
        if not app_dir.is_dir():
            continue
        name = app_dir.name.rsplit("-", 1)[0]
        app_file = app_dir / "ebin" / f"{name}.app"
        if not app_file.is_file():
            continue
        deps: list[str] = []
        for group in _APP_DEPS.findall(app_file.read_text(errors="replace")):
            deps.extend(d.strip() for d in group.split(",") if d.strip())
        found[name] = (app_dir, deps)
    needed: dict[str, Path] = {}
    stack = ["rabbit", "rabbitmq_prelaunch"]
    while stack:
        name = stack.pop()
        if name in needed or name not in found:
            continue
        needed[name] = found[name][0]
        stack.extend(found[name][1])
    if "rabbit" not in needed or "rabbit_common" not in needed:
        raise FileNotFoundError(f"no rabbit application under {plugins}")
    return needed


def make_slim_home(target: Path) -> Path:
    """Build a RabbitMQ home in ``target`` holding only the broker's own applications.

    The start script puts every directory of ``$RABBITMQ_HOME/plugins`` (71 in
    Debian's package) on the code path, and the broker loads every module of
    every loaded application twice while booting to find its boot steps and
    feature flags. A home with copies of the three start scripts and links to
    the ~20 applications the broker needs starts about a second sooner.
    Returns the path of the copied ``rabbitmq-server`` script.
    """
    stock = _script("rabbitmq-server")
    if stock is None:
        raise FileNotFoundError("rabbitmq-server")
    sbin = Path(stock).resolve().parent
    home = sbin.parent
    apps = _server_apps(home / "plugins")
    (target / "sbin").mkdir(parents=True)
    (target / "plugins").mkdir()
    for script in ("rabbitmq-server", "rabbitmq-env", "rabbitmq-defaults"):
        shutil.copy2(sbin / script, target / "sbin" / script)
    for app_dir in apps.values():
        (target / "plugins" / app_dir.name).symlink_to(app_dir)
    return target / "sbin" / "rabbitmq-server"


def rabbitmq_available() -> bool:
    """True when RabbitMQ and epmd are installed (for skip conditions)."""
    return bool(_script("rabbitmq-server") and _script("rabbitmqctl") and shutil.which("epmd"))


def _erlang_binary(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'<<"{escaped}">>'


class RabbitMQServer(PrivateServer):
    """A RabbitMQ node in a temporary directory, AMQP on a free 127.0.0.1 port."""

    kind = "RabbitMQ"
    port_in_use = "eaddrinuse"
    host = LOOPBACK
    user = "stratus"

    def __init__(
        self,
        *,
        password: str | None = None,
        startup_timeout: float = 60.0,
        base_dir: str | os.PathLike[str] | None = None,
        slim: bool = True,
    ) -> None:
        super().__init__(startup_timeout=startup_timeout, base_dir=base_dir)
        self.password: str = password or secrets.token_hex(12)
        self.slim = slim
        self.plugins_dir: Path | None = None
        self.port: int = 0
        self.dist_port: int = 0
        self.epmd_port: int = 0
        self.nodename: str = ""
        self.epmd: subprocess.Popen[bytes] | None = None
        self._server = ""
        self._epmd = ""

    # -- paths and environment -------------------------------------------

    @property
    def log_file(self) -> Path:
        return self._path("log") / f"{self.nodename}.log"

    def log_files(self) -> list[Path]:
        return [self._path("server.out"), self.log_file]

    @property
    def transport_url(self) -> str:
        """oslo.messaging URL: ``rabbit://stratus:<pw>@127.0.0.1:<port>/``."""
        return f"rabbit://{self.user}:{self.password}@{self.host}:{self.port}/"

    @property
    def amqp_url(self) -> str:
        """kombu/py-amqp URL for the default vhost."""
        return f"amqp://{self.user}:{self.password}@{self.host}:{self.port}//"

    def environment(self) -> dict[str, str]:
        """Environment for ``rabbitmq-server`` and ``rabbitmqctl`` of this node."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(_STRIPPED_PREFIXES) and k not in _STRIPPED_NAMES
        }
        base = self._path("")
        env.update(
            {
                "HOME": str(base),
                "LC_ALL": "C.UTF-8",
                "LANG": "C.UTF-8",
                "ERL_EPMD_PORT": str(self.epmd_port),
                "ERL_EPMD_ADDRESS": self.host,
                "RABBITMQ_CONF_ENV_FILE": str(self._path("rabbitmq-env.conf")),
                "RABBITMQ_NODENAME": self.nodename,
                "RABBITMQ_NODE_IP_ADDRESS": self.host,
                "RABBITMQ_NODE_PORT": str(self.port),
                "RABBITMQ_DIST_PORT": str(self.dist_port),
                "RABBITMQ_MNESIA_BASE": str(self._path("mnesia")),
                "RABBITMQ_LOG_BASE": str(self._path("log")),
                "RABBITMQ_CONFIG_FILE": str(self._path("rabbitmq.config")),
                "RABBITMQ_ADVANCED_CONFIG_FILE": str(self._path("advanced.config")),
                "RABBITMQ_ENABLED_PLUGINS_FILE": str(self._path("enabled_plugins")),
                "RABBITMQ_PLUGINS_EXPAND_DIR": str(self._path("plugins-expand")),
                **({"RABBITMQ_PLUGINS_DIR": str(self.plugins_dir)} if self.plugins_dir else {}),
                "RABBITMQ_PID_FILE": str(self._path("rabbitmq.pid")),
                # Unbound schedulers share the CPUs with the rest of the test run.
                "RABBITMQ_SCHEDULER_BIND_TYPE": "u",
                "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": (
                    "-kernel inet_dist_use_interface {127,0,0,1}"
                ),
            }
        )
        return env

    def _write_config(self) -> None:
        """rabbitmq.config, which names the AMQP port (so it is written per launch)."""
        user = _erlang_binary(self.user)
        password = _erlang_binary(self.password)
        self._path("rabbitmq.config").write_text(
            "[\n"
            " {rabbit, [\n"
            f'   {{tcp_listeners, [{{"{self.host}", {self.port}}}]}},\n'
            "   {ssl_listeners, []},\n"
            f"   {{default_user, {user}}},\n"
            f"   {{default_pass, {password}}},\n"
            '   {default_permissions, [<<".*">>, <<".*">>, <<".*">>]},\n'
            "   {default_user_tags, [administrator]},\n"
            "   {loopback_users, []},\n"
            "   {disk_free_limit, 1000000},\n"
            "   {log, [{console, [{enabled, false}]},\n"
            "          {file, [{level, info}]}]}\n"
            " ]}\n"
            "].\n"
        )

    # -- lifecycle ------------------------------------------------------------

    def _setup(self) -> None:
        server = _script("rabbitmq-server")
        epmd = shutil.which("epmd")
        if server is None or epmd is None:
            raise StartupError("RabbitMQ is not installed (apt install rabbitmq-server)")
        self._server, self._epmd = server, epmd
        base = self._path("")
        for sub in ("mnesia", "log", "plugins-expand"):
            (base / sub).mkdir()
        self._path("rabbitmq-env.conf").write_text("")
        self._path("enabled_plugins").write_text("[].\n")
        self._path("advanced.config").write_text("[].\n")
        cookie = self._path(".erlang.cookie")
        cookie.write_text("".join(secrets.choice(string.ascii_uppercase) for _ in range(32)))
        cookie.chmod(0o400)
        self.plugins_dir = None
        if self.slim:
            try:
                self._server = str(make_slim_home(self._path("home")))
                self.plugins_dir = self._path("home") / "plugins"
            except OSError:
                # Unexpected package layout: the stock script works, only slower.
                shutil.rmtree(self._path("home"), ignore_errors=True)

    def _launch(self) -> None:
        self.port, self.dist_port, self.epmd_port = free_ports(3)
        self.nodename = f"stratus-test-{self.port}@localhost"
        self._write_config()
        env = self.environment()
        self._start_epmd(env)
        self.process = self._popen([self._server], "server.out", env)

    def _start_epmd(self, env: dict[str, str]) -> None:
        self.epmd = self._popen(
            [self._epmd, "-port", str(self.epmd_port), "-address", self.host], "epmd.log", env
        )
        wait_for(
            lambda: port_is_open(self.epmd_port, self.host),
            10.0,
            0.02,
            f"epmd on port {self.epmd_port}",
            alive=lambda: self.epmd is not None and self.epmd.poll() is None,
            details=lambda: tail(self._path("epmd.log")),
        )

    def _description(self) -> str:
        return f"RabbitMQ AMQP on {self.host}:{self.port}"

    def _ready(self) -> bool:
        if self.process is not None and self.port_in_use in self.log_tail(60):
            # Some other process owns the port; do not wait for the node to give up.
            kill_group(self.process)
            return False
        # A plain TCP probe first: cheap while the node is still booting.
        if not port_is_open(self.port, self.host):
            return False
        with kombu.Connection(self.amqp_url, connect_timeout=2) as conn:
            # One attempt; kombu's connect() would sleep 2 s between retries.
            conn.ensure_connection(max_retries=0, reraise_as_library_errors=False)
            conn.channel().close()
        return True

    def _terminate(self, graceful: bool, timeout: float) -> None:
        """The node as every server (SIGTERM makes the start script shut it down
        cleanly, as ``rabbitmqctl stop`` would, without booting another Erlang VM
        for it), then its epmd."""
        super()._terminate(graceful, timeout)
        if self.epmd is not None:
            kill_group(self.epmd)
            self.epmd = None

    def ctl(self, *args: str, timeout: float = 60.0) -> str:
        """Run ``rabbitmqctl -n <node> <args>`` against this node and return its output."""
        ctl = _script("rabbitmqctl")
        if ctl is None:
            raise StartupError("rabbitmqctl is not installed")
        env = self.environment()
        # rabbitmqctl is an Erlang node too: give it a free distribution port
        # instead of the shared default range 35672-35682.
        port = str(free_port())
        env["RABBITMQ_CTL_DIST_PORT_MIN"] = port
        env["RABBITMQ_CTL_DIST_PORT_MAX"] = port
        result = subprocess.run(
            [ctl, "-n", self.nodename, *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            env=env,
            cwd=self.base_dir,
            timeout=timeout,
            check=False,
        )
        out = result.stdout.decode(errors="replace")
        if result.returncode != 0:
            err = result.stderr.decode(errors="replace")
            raise RuntimeError(
                f"rabbitmqctl {' '.join(args)} failed with status {result.returncode}: "
                f"{err.strip() or out.strip()}"
            )
        return out

    def add_user(
        self, name: str, password: str, vhost: str = "/", tags: Sequence[str] = ()
    ) -> None:
        """Create a user with all permissions on ``vhost``."""
        self.ctl("add_user", name, password)
        self.ctl("set_permissions", "-p", vhost, name, ".*", ".*", ".*")
        if tags:
            self.ctl("set_user_tags", name, *tags)

    def __repr__(self) -> str:
        return f"<RabbitMQServer {self.nodename or 'not started'} running={self.running}>"


def messaging_conf() -> Any:
    """A fresh, parsed ``oslo_config.cfg.ConfigOpts`` that oslo.messaging can use.

    oslo.messaging registers its tracing and metrics options only on the
    global ``cfg.CONF``, yet reads them from the ``conf`` it is given on every
    call and cast (``NoSuchOptError: no such option oslo_messaging_tracing``
    otherwise). Register them here, as oslo.messaging's own ``ConfFixture``
    does, so tests can keep their configuration private.
    """
    import importlib

    from oslo_config import cfg

    conf = cfg.ConfigOpts()
    conf(args=[], project="stratus-tests", default_config_files=[], default_config_dirs=[])
    for module, name in (
        ("oslo_messaging._tracing.client", "oslo_messaging_tracing"),
        ("oslo_messaging._metrics.client", "oslo_messaging_metrics"),
    ):
        try:
            opts = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            continue
        conf.register_opts(opts, group=name)
    return conf


def start_rabbitmq(**kwargs: Any) -> RabbitMQServer:
    """Start a ``RabbitMQServer`` (keyword arguments as for the class) and return it."""
    return RabbitMQServer(**kwargs).start()
