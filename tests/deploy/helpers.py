"""Running the deployment's commands from tests: make, ansible-playbook, openstack."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(os.environ.get("VENV", ROOT / ".venv")).resolve() / "bin"
AIO = ROOT / "inventories" / "aio"
CLOUD = "stratus-admin"

ENV = {
    **os.environ,
    "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
    "ANSIBLE_NOCOLOR": "1",
    "ANSIBLE_FORCE_COLOR": "0",
    "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}",
}
ENV.pop("OS_CLOUD", None)


@dataclass
class Result:
    """A finished command: its combined output and how long it took."""

    args: list[str]
    returncode: int
    output: str
    seconds: float

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.output.splitlines()[-lines:])


def run(args: list[str], check: bool = True, timeout: float = 1800) -> Result:
    start = time.monotonic()
    proc = subprocess.run(
        args,
        cwd=ROOT,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
    )
    result = Result(args, proc.returncode, proc.stdout, time.monotonic() - start)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} exited {proc.returncode} after {result.seconds:.0f} s:\n"
            + result.tail()
        )
    return result


def playbook(name: str, *args: str, inventories: tuple[Path, ...] = (), check: bool = True):
    """ansible-playbook playbooks/<name> on the aio inventory (plus ``inventories``)."""
    sources: list[str] = ["-i", str(AIO)]
    for extra in inventories:
        sources += ["-i", str(extra)]
    return run(
        [str(VENV_BIN / "ansible-playbook"), *sources, f"playbooks/{name}", *args], check=check
    )


_RECAP = re.compile(r"^(\S+)\s+:\s+((?:\w+=\d+\s*)+)$")


def recap(output: str) -> dict[str, dict[str, int]]:
    """The PLAY RECAP counters per host: {"aio": {"ok": 38, "changed": 0, ...}}."""
    counters: dict[str, dict[str, int]] = {}
    seen = False
    for line in output.splitlines():
        if line.startswith("PLAY RECAP"):
            seen = True
            continue
        match = _RECAP.match(line.strip()) if seen else None
        if match:
            counters[match.group(1)] = {
                key: int(value)
                for key, value in (pair.split("=") for pair in match.group(2).split())
            }
    assert counters, f"no PLAY RECAP in the output:\n{output[-3000:]}"
    return counters


def changed(output: str) -> int:
    return sum(host["changed"] for host in recap(output).values())


def failed(output: str) -> int:
    return sum(host["failed"] + host["unreachable"] for host in recap(output).values())


def openstack(*args: str, project: str | None = None, check: bool = True) -> Any:
    """`openstack --os-cloud stratus-admin ... -f json`, parsed (None for no output)."""
    cmd = [str(VENV_BIN / "openstack"), "--os-cloud", CLOUD]
    if project:
        cmd += ["--os-project-name", project]
    result = run([*cmd, *args], check=check)
    if not check and result.returncode != 0:
        return None
    text = result.output.strip()
    return json.loads(text) if text.startswith(("{", "[")) else text


def servers() -> dict[str, dict[str, Any]]:
    """The admin project's servers by name."""
    return {s["Name"]: s for s in openstack("server", "list", "-f", "json")}


def wait_for(predicate, timeout: float, what: str, interval: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)
