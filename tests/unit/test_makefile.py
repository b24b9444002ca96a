"""The Makefile's help, its targets' prerequisites and the CI entry point."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAKEFILE = ROOT / "Makefile"
PREREQS = ROOT / "scripts" / "prereqs"


def _logical_lines() -> list[str]:
    """The Makefile's lines with backslash continuations joined."""
    return MAKEFILE.read_text().replace("\\\n", " ").splitlines()


def phony_targets() -> set[str]:
    targets: set[str] = set()
    for line in _logical_lines():
        if line.startswith(".PHONY:"):
            targets.update(line.split(":", 1)[1].split())
    return targets


def help_lines() -> dict[str, str]:
    """Target -> the text of the ``## `` comment on its line."""
    found: dict[str, str] = {}
    for line in _logical_lines():
        match = re.match(r"^([a-z][a-z0-9-]*):[^#=]*## (.+)$", line)
        if match:
            assert match.group(1) not in found, f"two help lines for {match.group(1)}"
            found[match.group(1)] = match.group(2).strip()
    return found


def make(*args: str) -> str:
    return subprocess.run(
        ["make", "--no-print-directory", "-s", "-C", str(ROOT), *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout


def test_every_phony_target_has_one_help_line_and_nothing_else_has_one() -> None:
    phony, helped = phony_targets(), help_lines()
    assert len(phony) > 20
    assert sorted(phony - set(helped)) == [], "targets without a `## ` help comment"
    assert sorted(set(helped) - phony) == [], "help lines of targets missing from .PHONY"


def test_make_help_prints_each_target_once_with_its_text() -> None:
    out = make("help").splitlines()
    listed = {}
    for line in out:
        match = re.match(r"^make (\S+)\s+(.+)$", line)
        assert match, f"unexpected help line {line!r}"
        assert match.group(1) not in listed
        listed[match.group(1)] = match.group(2)
    assert listed == help_lines()


def _needs_named_in_makefile() -> set[str]:
    return set(re.findall(r"^\t\$\(PREREQS\) (\S+)", MAKEFILE.read_text(), re.M))


def test_the_needs_the_makefile_names_exist() -> None:
    needs = _needs_named_in_makefile()
    assert {"venv", "unit", "integration", "test", "molecule", "deploy"} <= needs
    for need in needs:
        listed = subprocess.run(
            [str(PREREQS), "--list", need], capture_output=True, text=True, check=True
        ).stdout.split()
        assert listed, need


def _packages(*needs: str) -> set[str]:
    return set(
        subprocess.run(
            [str(PREREQS), "--list", *needs], capture_output=True, text=True, check=True
        ).stdout.split()
    )


def test_make_test_prereqs_cover_every_need() -> None:
    everything = _packages("test")
    for need in _needs_named_in_makefile() | {"aio"}:
        assert _packages(need) <= everything, need
    # What the tiers start privately, and what the venv's libvirt-python builds against.
    assert {"mariadb-server", "rabbitmq-server", "libvirt-dev", "podman", "wrk"} <= everything


def test_prereqs_rejects_an_unknown_need() -> None:
    done = subprocess.run(
        [str(PREREQS), "no-such-need"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 2
    assert "unknown need 'no-such-need'" in done.stderr
    assert "NEEDs:" in done.stderr


@pytest.mark.parametrize(
    ("target", "need"),
    [
        ("test-unit", "unit"),
        ("test-integration", "integration"),
        ("test-ansible", "ansible"),
        ("test-deploy", "deploy"),
        ("molecule-image", "molecule"),
        ("tiny-image", "image"),
        ("bench-boot", "bench"),
    ],
)
def test_targets_install_their_needs_first(target: str, need: str) -> None:
    commands = make("-n", target).splitlines()
    prereqs = [i for i, c in enumerate(commands) if c == f"scripts/prereqs {need}"]
    assert prereqs, f"make {target} does not run scripts/prereqs {need}:\n" + "\n".join(commands)
    tools = [i for i, c in enumerate(commands) if re.search(r"tests/|build-|molecule ", c)]
    assert tools and prereqs[0] < tools[0]


def test_make_test_runs_prereqs_then_every_tier() -> None:
    line = next(line for line in _logical_lines() if line.startswith("test:"))
    deps = line.split(":", 1)[1].split("##")[0].split()
    assert deps[0] == "test-prereqs"
    for tier in ("lint", "test-unit", "test-integration", "test-ansible", "test-deploy"):
        assert tier in deps
    assert "molecule" in deps


def test_ci_runs_make_test_and_installs_nothing_itself() -> None:
    script = (ROOT / ".ci" / "run").read_text()
    commands = [
        line.strip() for line in script.splitlines() if line.strip() and not line.startswith("#")
    ]
    assert commands == ["set -euo pipefail", 'cd "$(dirname "$0")/.."', "make test"]
