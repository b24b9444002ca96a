"""Run services as real child processes in tests, and wait for them to be ready.

``ServiceProcess`` starts a console entry point (``stratus-api``,
``stratus-scheduler`` ...) or any command with its own environment and
arguments, sends stdout and stderr to a log file, and stops the process (and
everything it started) with SIGTERM, then SIGKILL.

``PrivateServer`` is the life cycle that the MariaDB and RabbitMQ fixtures
share: a server process with everything in its own temporary directory, started
on free ports (again on others when one was taken meanwhile), waited for until it
answers, stopped with its whole session, its directory removed.

The helpers under them: ``wait_for`` polls a predicate, ``tail`` reads the end of
a log file, ``tie_to_test_process`` ties a child's life to the test process,
``kill_group`` ends what is left of a child's session.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Container, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar

T = TypeVar("T")


class StartupError(RuntimeError):
    """A server or service did not come up; the message carries its log's tail."""


class _Stoppable(Protocol):
    def stop(self) -> Any: ...


_live: dict[int, _Stoppable] = {}
_live_lock = threading.Lock()


def register_for_exit(obj: _Stoppable) -> None:
    """Stop ``obj`` when the interpreter exits, if nobody stopped it before."""
    with _live_lock:
        _live[id(obj)] = obj


def unregister_for_exit(obj: _Stoppable) -> None:
    with _live_lock:
        _live.pop(id(obj), None)


@atexit.register
def _stop_everything() -> None:
    with _live_lock:
        objs = list(_live.values())
        _live.clear()
    for obj in reversed(objs):
        with contextlib.suppress(Exception):
            obj.stop()


def tie_to_test_process(argv: Sequence[str]) -> list[str]:
    """``argv`` prefixed so that the child gets SIGTERM if the test process dies.

    Uses util-linux ``setpriv --pdeathsig`` rather than a ``preexec_fn``, which
    is not safe with threads and trips eventlet's fork warning once
    oslo.messaging is imported. Linux sends the signal when the *thread* that
    started the child exits, so only children started from the main thread are
    tied; the others rely on ``stop()`` and the exit hook.
    """
    argv = [str(a) for a in argv]
    if not sys.platform.startswith("linux"):
        return argv
    if threading.current_thread() is not threading.main_thread():
        return argv
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return argv
    return [setpriv, "--pdeathsig", "TERM", "--", *argv]


def tail(path: str | os.PathLike[str], lines: int = 40) -> str:
    """The last ``lines`` lines of a text file ('' if it does not exist)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 256 * 1024))
            data = f.read()
    except OSError:
        return ""
    text = data.decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def wait_for(
    predicate: Callable[[], T],
    timeout: float,
    interval: float = 0.1,
    description: str = "condition",
    alive: Callable[[], bool] | None = None,
    details: Callable[[], str] | None = None,
) -> T:
    """Call ``predicate`` until it returns a truthy value, and return that value.

    Exceptions raised by the predicate count as "not yet". If ``alive`` is
    given and returns False, give up at once instead of waiting out the
    timeout. On failure raise ``StartupError`` naming ``description``, the last
    exception seen and ``details()`` (typically a log tail).
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            result = predicate()
        except Exception as exc:
            last_error = exc
        else:
            if result:
                return result
        if alive is not None and not alive():
            reason = "the process exited"
            break
        if time.monotonic() >= deadline:
            reason = f"timed out after {timeout:.1f} s"
            break
        time.sleep(interval)
    message = f"waiting for {description}: {reason}"
    if last_error is not None:
        message += f"; last error: {last_error!r}"
    if details is not None:
        extra = details()
        if extra:
            message += f"\n--- log tail ---\n{extra}"
    raise StartupError(message)


# Never through a proxy from the environment: the services listen on loopback.
_direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_status(url: str, timeout: float = 2.0) -> int:
    """GET ``url`` and return the HTTP status (error statuses included)."""
    request = urllib.request.Request(url, method="GET")
    try:
        with _direct.open(request, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def wait_for_http(
    url: str,
    timeout: float = 30.0,
    status: Container[int] | None = None,
    alive: Callable[[], bool] | None = None,
    details: Callable[[], str] | None = None,
) -> int:
    """Wait until ``url`` answers over HTTP and return the status code.

    Without ``status`` any answer below 500 counts (an API that answers 401
    without a token is up); otherwise the status must be in ``status``.
    """

    def answered() -> int | None:
        code = http_status(url)
        ok = code < 500 if status is None else code in status
        if not ok:
            raise RuntimeError(f"HTTP {code}")
        return code

    return wait_for(answered, timeout, 0.1, f"HTTP {url}", alive, details)


def entry_point_command(name: str) -> list[str]:
    """The command that runs the console script ``name`` of an installed package.

    Prefers the script next to the running interpreter (the virtualenv's
    ``bin/``), then one on PATH, and falls back to loading the entry point with
    the running interpreter, which works even when scripts were not installed.
    """
    candidate = Path(sys.executable).parent / name
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return [str(candidate)]
    found = shutil.which(name)
    if found:
        return [found]
    loader = (
        "import sys\n"
        "from importlib.metadata import entry_points\n"
        f"(ep,) = entry_points(group='console_scripts', name={name!r})\n"
        f"sys.argv[0] = {name!r}\n"
        "sys.exit(ep.load()())\n"
    )
    return [sys.executable, "-c", loader]


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL whatever is left of ``proc``'s session and reap ``proc``."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        if proc.poll() is None:
            proc.kill()
    proc.wait()


class PrivateServer:
    """A server run as a child process, with everything in a temporary directory.

    ``start()`` makes the directory (``base_dir``, in ``tempfile.gettempdir()`` or
    the ``base_dir`` given), calls ``_setup()`` once, then ``_launch()``, which
    picks free ports and starts ``process`` (through ``_popen``), and waits until
    ``_ready()`` is true. When the server fails to start because another process
    took one of its ports in between (``port_in_use`` in ``log_tail()``), the
    launch is tried again on new ports; the logs of the failed attempt are set
    aside first, so they are not read as the new attempt's. Any failure stops
    everything and removes the directory; ``StartupError`` carries the log tail.

    ``stop()`` sends SIGTERM, waits, then SIGKILLs what is left of the session
    and removes the directory; ``kill()`` does it at once. Both are idempotent,
    and the exit hook stops a server that a test run left behind.

    Subclasses set ``kind`` (the name in messages and directory names) and
    ``port_in_use``, and implement ``_setup``, ``_launch``, ``_ready``,
    ``_description`` and ``log_files``.
    """

    kind = "server"
    # What the server logs when its port is taken.
    port_in_use = "Address already in use"
    # Seconds between two readiness checks.
    ready_interval = 0.1

    def __init__(
        self,
        *,
        startup_timeout: float = 60.0,
        base_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.startup_timeout = startup_timeout
        self._base_dir = base_dir
        self.base_dir: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.start_seconds: float | None = None

    # -- for subclasses ---------------------------------------------------------

    def _setup(self) -> None:
        """Prepare ``base_dir`` (data directories, fixed files); once per start."""

    def _launch(self) -> None:
        """Pick ports and start ``process``; again on new ports after a clash."""
        raise NotImplementedError

    def _ready(self) -> bool:
        """True once the server answers (exceptions count as not yet)."""
        raise NotImplementedError

    def _description(self) -> str:
        """What ``start()`` waits for, for its error message."""
        return f"{self.kind} to be ready"

    def _attempts(self) -> int:
        """How many launches a port clash may take."""
        return 3

    def log_files(self) -> list[Path]:
        """The server's logs, read by ``log_tail()``."""
        return []

    def _path(self, name: str) -> Path:
        if self.base_dir is None:
            raise RuntimeError(f"{self.kind} is not started")
        return self.base_dir / name

    def _make_base_dir(self) -> Path:
        parent = self._base_dir if self._base_dir is not None else tempfile.gettempdir()
        return Path(tempfile.mkdtemp(prefix=f"stratus-{self.kind.lower()}-", dir=parent))

    def _popen(
        self, argv: Sequence[str], log_name: str, env: Mapping[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` in ``base_dir``, in its own session, tied to the test process,
        with stdout and stderr appended to ``base_dir/log_name``."""
        with open(self._path(log_name), "ab") as out:
            return subprocess.Popen(
                tie_to_test_process(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=None if env is None else dict(env),
                cwd=self.base_dir,
                start_new_session=True,
            )

    # -- life cycle ---------------------------------------------------------------

    def start(self) -> Self:
        """Start the server and wait until it answers; returns ``self``."""
        if self.process is not None:
            raise RuntimeError(f"{self.kind} is already started")
        began = time.monotonic()
        self.base_dir = self._make_base_dir()
        register_for_exit(self)
        try:
            self._setup()
            attempts = self._attempts()
            for attempt in range(attempts):
                self._set_logs_aside(attempt)
                self._launch()
                try:
                    wait_for(
                        self._ready,
                        self.startup_timeout,
                        self.ready_interval,
                        self._description(),
                        alive=lambda: self.running,
                        details=self.log_tail,
                    )
                    break
                except StartupError:
                    clash = self.port_in_use in self.log_tail(60)
                    self._terminate(graceful=False, timeout=0)
                    if not clash or attempt == attempts - 1:
                        raise
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - began
        return self

    def _set_logs_aside(self, attempt: int) -> None:
        if attempt == 0:
            return
        for path in self.log_files():
            if path.exists():
                path.rename(path.with_name(f"{path.name}.attempt-{attempt}"))

    def _terminate(self, graceful: bool, timeout: float) -> None:
        """End ``process`` (SIGTERM first when ``graceful``) and what is left of its session."""
        proc = self.process
        if proc is None:
            return
        if graceful and proc.poll() is None:
            proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout)
        kill_group(proc)
        self.process = None

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM the server (SIGKILL after ``timeout`` s) and remove its directory."""
        self._shutdown(graceful=True, timeout=timeout)

    def kill(self) -> None:
        """SIGKILL the server (a crash, and the fastest way to get rid of it), clean up."""
        self._shutdown(graceful=False, timeout=0)

    def _shutdown(self, graceful: bool, timeout: float) -> None:
        unregister_for_exit(self)
        self._terminate(graceful, timeout)
        if self.base_dir is not None:
            shutil.rmtree(self.base_dir, ignore_errors=True)
            self.base_dir = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def __enter__(self) -> Self:
        if self.process is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def log_tail(self, lines: int = 40) -> str:
        """The end of each of the server's logs, under its name."""
        if self.base_dir is None:
            return ""
        parts = []
        for path in self.log_files():
            text = tail(path, lines)
            if text:
                parts.append(f"[{path.name}]\n{text}")
        return "\n".join(parts)


_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


class ServiceProcess:
    """A service run as a real child process, logging to a file.

    ``command`` is a program and its fixed arguments; ``args`` are appended.
    ``env`` is merged over the test process' environment (or used alone with
    ``inherit_env=False``). stdout and stderr both go to ``log_path``, in
    ``log_dir`` or in a temporary directory owned by this object.

    The process runs in its own session, so ``stop()`` and ``kill()`` reach
    every process it started.
    """

    def __init__(
        self,
        command: str | Sequence[str],
        args: Sequence[str] = (),
        *,
        env: Mapping[str, str] | None = None,
        inherit_env: bool = True,
        cwd: str | os.PathLike[str] | None = None,
        name: str | None = None,
        log_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        base = [command] if isinstance(command, str) else list(command)
        if not base:
            raise ValueError("command must not be empty")
        self.argv: list[str] = [str(a) for a in [*base, *args]]
        self.name: str = name or Path(base[0]).name
        environ = dict(os.environ) if inherit_env else {}
        environ.setdefault("PYTHONUNBUFFERED", "1")
        if env:
            environ.update(env)
        self.env: dict[str, str] = environ
        self.cwd = cwd
        self._own_log_dir = log_dir is None
        self._log_dir_arg = log_dir
        self.log_dir: Path | None = None
        self.log_path: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None

    @classmethod
    def entry_point(cls, name: str, args: Sequence[str] = (), **kwargs: Any) -> ServiceProcess:
        """A ``ServiceProcess`` for the console script ``name`` (e.g. ``stratus-api``)."""
        kwargs.setdefault("name", name)
        return cls(entry_point_command(name), args, **kwargs)

    # -- lifecycle ------------------------------------------------------

    def start(self) -> ServiceProcess:
        """Start the process; after it ended, start it again (the log is appended to)."""
        if self.running:
            raise RuntimeError(f"{self.name} is already running")
        if self.log_dir is None or not self.log_dir.is_dir():
            if self._log_dir_arg is None:
                safe = _SAFE_NAME.sub("-", self.name)
                self.log_dir = Path(tempfile.mkdtemp(prefix=f"stratus-{safe}-"))
            else:
                self.log_dir = Path(self._log_dir_arg)
                self.log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.log_dir / f"{_SAFE_NAME.sub('-', self.name)}.log"
        with open(self.log_path, "ab") as log:
            if self.process is not None:
                log.write(f"--- restarting {self.name} ---\n".encode())
                log.flush()
            self.process = subprocess.Popen(
                tie_to_test_process(self.argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
            )
        register_for_exit(self)
        return self

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError(f"{self.name} is not started")
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        return None if self.process is None else self.process.poll()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _signal_group(self, sig: int) -> None:
        assert self.process is not None
        try:
            os.killpg(self.process.pid, sig)
        except ProcessLookupError:
            pass
        except PermissionError:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(sig)

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM the process group, SIGKILL it after ``timeout`` s; return the exit code."""
        if self.process is None:
            return None
        unregister_for_exit(self)
        if self.process.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.process.wait()
        # Children left in the group after the leader exited.
        self._signal_group(signal.SIGKILL)
        return self.process.returncode

    def restart(self, timeout: float = 10.0) -> ServiceProcess:
        """``stop()`` then ``start()`` with the same command, environment and log."""
        self.stop(timeout)
        return self.start()

    def kill(self) -> int | None:
        """SIGKILL the process group at once (a crash, not a shutdown)."""
        if self.process is None:
            return None
        unregister_for_exit(self)
        self._signal_group(signal.SIGKILL)
        self.process.wait()
        return self.process.returncode

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the process only (not its group)."""
        if self.process is None:
            raise RuntimeError(f"{self.name} is not started")
        self.process.send_signal(sig)

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the process to exit by itself and return its exit code."""
        if self.process is None:
            raise RuntimeError(f"{self.name} is not started")
        return self.process.wait(timeout)

    def cleanup(self) -> None:
        """Stop the process and remove the log directory if this object made it."""
        self.stop()
        if self._own_log_dir and self.log_dir is not None:
            shutil.rmtree(self.log_dir, ignore_errors=True)

    def __enter__(self) -> ServiceProcess:
        if not self.running:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Keep the log when the block failed, so it can be read afterwards.
        if exc_type is None:
            self.cleanup()
        else:
            self.stop()

    # -- logs and readiness ----------------------------------------------

    def read_log(self) -> str:
        if self.log_path is None:
            return ""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        """The end of the log, prefixed with the exit status when the process ended."""
        if self.log_path is None:
            return ""
        text = tail(self.log_path, lines)
        code = self.returncode
        if code is not None:
            text = f"[{self.name} exited with status {code}]\n{text}"
        return text

    def wait_for(
        self,
        predicate: Callable[[], T],
        timeout: float = 30.0,
        interval: float = 0.1,
        description: str | None = None,
    ) -> T:
        """``wait_for`` that fails at once, with the log tail, if the process dies."""
        return wait_for(
            predicate,
            timeout,
            interval,
            description or f"{self.name} to be ready",
            alive=lambda: self.running,
            details=self.log_tail,
        )

    def wait_for_http(
        self, url: str, timeout: float = 30.0, status: Container[int] | None = None
    ) -> int:
        """Wait until ``url`` answers (see ``wait_for_http``); fail early if the process dies."""
        return wait_for_http(
            url, timeout, status, alive=lambda: self.running, details=self.log_tail
        )

    def wait_for_log(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        """Wait until the log contains a match for the regular expression ``pattern``."""
        regex = re.compile(pattern)
        return self.wait_for(
            lambda: regex.search(self.read_log()), timeout, 0.1, f"{self.name} to log {pattern!r}"
        )

    def __repr__(self) -> str:
        state = "not started" if self.process is None else f"pid={self.process.pid}"
        return f"<ServiceProcess {self.name} {state}>"
