"""A private, throw-away MariaDB server for tests.

``MariaDBServer`` initialises a data directory with ``mariadb-install-db`` in a
temporary directory and runs Debian's ``mariadbd`` on it, bound to 127.0.0.1 on
a free port, with its own socket, pid file and error log in that directory.
No option file is read (``--no-defaults``), so a system MariaDB on port 3306
and its configuration are never touched. Start-up takes well under a second.

    with MariaDBServer() as server:
        url = server.create_database("stratus")
        engine = sqlalchemy.create_engine(url)
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pymysql

from tests.support.ports import LOOPBACK, free_port
from tests.support.processes import PrivateServer, StartupError, tail

_PORT_IN_USE = "Address already in use"
_DB_NAME = re.compile(r"^[A-Za-z0-9_]{1,64}$")

# A unix socket path must fit in sun_path (108 bytes).
_MAX_SOCKET_PATH = 100


def find_mariadbd() -> str | None:
    """Path of the MariaDB server binary, or None when it is not installed."""
    for name in ("mariadbd", "mysqld"):
        path = shutil.which(name, path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin"]))
        if path:
            return path
    return None


def find_install_db() -> str | None:
    for name in ("mariadb-install-db", "mysql_install_db"):
        path = shutil.which(name, path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/bin"]))
        if path:
            return path
    return None


def mariadb_available() -> bool:
    """True when the MariaDB server package is installed (for skip conditions)."""
    return find_mariadbd() is not None and find_install_db() is not None


def _sql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class MariaDBServer(PrivateServer):
    """A MariaDB server in a temporary directory on a free 127.0.0.1 port.

    ``root`` has the random password ``password`` for TCP connections from
    127.0.0.1 (and for the unix socket). Use ``create_database`` to get a
    SQLAlchemy URL for a fresh database.
    """

    kind = "MariaDB"
    port_in_use = _PORT_IN_USE
    ready_interval = 0.05
    host = LOOPBACK
    user = "root"

    def __init__(
        self,
        *,
        port: int | None = None,
        password: str | None = None,
        startup_timeout: float = 60.0,
        extra_args: tuple[str, ...] = (),
        base_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        super().__init__(startup_timeout=startup_timeout, base_dir=base_dir)
        self._requested_port = port
        self.port: int = port or 0
        self.password: str = password or secrets.token_hex(12)
        self.extra_args = extra_args
        self._mariadbd = ""

    # -- paths ------------------------------------------------------------

    @property
    def datadir(self) -> Path:
        return self._path("data")

    @property
    def socket_path(self) -> Path:
        return self._path("mysqld.sock")

    @property
    def pid_file(self) -> Path:
        return self._path("mysqld.pid")

    @property
    def error_log(self) -> Path:
        return self._path("error.log")

    def log_files(self) -> list[Path]:
        return [self._path("mariadbd.out"), self.error_log]

    # -- lifecycle ----------------------------------------------------------

    def _make_base_dir(self) -> Path:
        path = super()._make_base_dir()
        if len(str(path / "mysqld.sock")) > _MAX_SOCKET_PATH:
            shutil.rmtree(path, ignore_errors=True)
            path = Path(tempfile.mkdtemp(prefix="stratus-mariadb-", dir="/tmp"))
        return path

    def _server_options(self) -> list[str]:
        return [
            f"--datadir={self.datadir}",
            "--user=root",
            f"--tmpdir={self.base_dir}",
            "--skip-name-resolve",
            "--innodb-buffer-pool-size=32M",
            "--innodb-log-file-size=16M",
            "--innodb-flush-log-at-trx-commit=2",
            "--innodb-doublewrite=0",
            # Throw-away data: skip the ~1000 fdatasync() calls of creating the
            # system tables, which take seconds when the disk is busy.
            "--debug-no-sync",
            "--innodb-flush-method=nosync",
            # Native AIO needs io_setup() slots that are scarce in containers.
            "--innodb-use-native-aio=0",
            "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_general_ci",
            "--skip-log-bin",
            "--skip-ssl",
            "--max-connections=500",
        ]

    def _setup(self) -> None:
        mariadbd = find_mariadbd()
        if mariadbd is None:
            raise StartupError("mariadbd is not installed (apt install mariadb-server)")
        self._mariadbd = mariadbd
        self._install_db()
        self._write_init_file()

    def _install_db(self) -> None:
        install_db = find_install_db()
        if install_db is None:
            raise StartupError("mariadb-install-db is not installed (apt install mariadb-server)")
        log = self._path("install-db.log")
        with open(log, "wb") as out:
            result = subprocess.run(
                [
                    install_db,
                    "--no-defaults",
                    "--auth-root-authentication-method=normal",
                    "--skip-test-db",
                    *self._server_options(),
                ],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.base_dir,
                timeout=self.startup_timeout,
                check=False,
            )
        if result.returncode != 0:
            raise StartupError(
                f"mariadb-install-db failed with status {result.returncode}\n"
                f"--- install log ---\n{tail(log)}"
            )

    def _write_init_file(self) -> None:
        pw = _sql_string(self.password)
        init = self._path("init.sql")
        init.write_text(
            f"CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY {pw};\n"
            f"ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY {pw};\n"
            "GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;\n"
            f"ALTER USER 'root'@'localhost' IDENTIFIED BY {pw};\n"
        )
        init.chmod(0o600)

    def _attempts(self) -> int:
        return 1 if self._requested_port else 3

    def _launch(self) -> None:
        self.port = self._requested_port or free_port()
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        self.process = self._popen(
            [
                self._mariadbd,
                "--no-defaults",
                *self._server_options(),
                f"--port={self.port}",
                f"--bind-address={self.host}",
                f"--socket={self.socket_path}",
                f"--pid-file={self.pid_file}",
                f"--log-error={self.error_log}",
                f"--init-file={self._path('init.sql')}",
                *self.extra_args,
            ],
            "mariadbd.out",
        )

    def _description(self) -> str:
        return f"MariaDB on {self.host}:{self.port}"

    def _ready(self) -> bool:
        if not self.running:
            return False  # exited: wait_for reports it with the log
        if _PORT_IN_USE in tail(self.error_log, 20):
            return False  # about to exit; do not talk to whoever owns the port
        # Bounded reads too: something else listening on the port must not hang us.
        conn = self.connect(connect_timeout=2, read_timeout=2)
        conn.close()
        return True

    # -- use ----------------------------------------------------------------

    def connect(
        self,
        database: str | None = None,
        connect_timeout: float = 10,
        read_timeout: float | None = None,
    ) -> pymysql.connections.Connection:
        """A new PyMySQL connection as root over TCP (autocommit on)."""
        return pymysql.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            database=database,
            charset="utf8mb4",
            autocommit=True,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            write_timeout=read_timeout,
        )

    def execute(self, sql: str, database: str | None = None) -> list[tuple]:
        """Run one statement as root and return its rows."""
        conn = self.connect(database)
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
                return list(cur.fetchall())
        finally:
            conn.close()

    def url(self, database: str = "") -> str:
        """SQLAlchemy URL for ``database`` on this server (it need not exist yet)."""
        return (
            f"mysql+pymysql://{self.user}:{self.password}@{self.host}:{self.port}/"
            f"{database}?charset=utf8mb4"
        )

    def create_database(self, name: str) -> str:
        """Create (or re-create, empty) database ``name`` and return its SQLAlchemy URL."""
        if not _DB_NAME.match(name):
            raise ValueError(f"invalid database name {name!r}: use letters, digits and _")
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
                cur.execute(
                    f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"
                )
        finally:
            conn.close()
        return self.url(name)

    def drop_database(self, name: str) -> None:
        if not _DB_NAME.match(name):
            raise ValueError(f"invalid database name {name!r}")
        self.execute(f"DROP DATABASE IF EXISTS `{name}`")

    def databases(self) -> list[str]:
        return [row[0] for row in self.execute("SHOW DATABASES")]

    def __repr__(self) -> str:
        return f"<MariaDBServer {self.host}:{self.port} running={self.running}>"


def start_mariadb(**kwargs: Any) -> MariaDBServer:
    """Start a ``MariaDBServer`` (keyword arguments as for the class) and return it."""
    return MariaDBServer(**kwargs).start()
