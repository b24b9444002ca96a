"""The Makefile's help, its targets' prerequisites and the CI entry point."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


def _test_rule() -> tuple[list[str], list[str]]:
    """``make test``'s prerequisites and its recipe lines."""
    lines = _logical_lines()
    start = next(i for i, line in enumerate(lines) if line.startswith("test:"))
    deps = lines[start].split(":", 1)[1].split("##")[0].split()
    recipe = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip())
    return deps, recipe


def test_make_test_runs_prereqs_then_every_tier() -> None:
    deps, recipe = _test_rule()
    assert deps[0] == "test-prereqs"
    assert {"lint", "test-unit"} <= set(deps)
    lanes = next(line for line in recipe if "scripts/lanes" in line)
    run = {target for lane in lanes.split()[2:] for target in lane.split("=")[1].split(",")}
    assert run == {"test-integration", "test-ansible", "test-tempest", "molecule"}
    assert recipe[-1].endswith("test-deploy"), "the deployment tier runs last, alone"


def _lanes(tmp_path: Path, makefile: str, *lanes: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "Makefile").write_text(makefile)
    return subprocess.run(
        [str(ROOT / "scripts" / "lanes"), *lanes],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "MAKE": "make", "MAKEFLAGS": ""},
    )


_LANES_MAKEFILE = """\
ok1:
\t@echo one
ok2:
\t@sleep 0.3; echo two
bad:
\t@echo broken; false
never:
\t@echo never
"""


def test_lanes_run_side_by_side_and_report_each_target(tmp_path: Path) -> None:
    done = _lanes(tmp_path, _LANES_MAKEFILE, "a=ok1,ok2", "b=ok2")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert "[a] one" in lines and "[a] two" in lines and "[b] two" in lines
    assert any(re.fullmatch(r"\[a\] ==> ok2: passed in \d+ s", line) for line in lines)


def test_a_failing_lane_fails_the_run_and_stops_only_itself(tmp_path: Path) -> None:
    done = _lanes(tmp_path, _LANES_MAKEFILE, "a=bad,never", "b=ok2")
    assert done.returncode != 0
    assert "[a] broken" in done.stdout and "[a] ==> bad: FAILED" in done.stdout
    assert "never" not in done.stdout
    assert "[b] ==> ok2: passed" in done.stdout


def test_ci_runs_make_test_and_installs_nothing_itself() -> None:
    script = (ROOT / ".ci" / "run").read_text()
    commands = [
        line.strip() for line in script.splitlines() if line.strip() and not line.startswith("#")
    ]
    assert commands == ["set -euo pipefail", 'cd "$(dirname "$0")/.."', "make test"]


# scripts/prereqs' install path with stand-ins for dpkg-query and apt-get: a unit
# test must not install or remove Debian packages on the machine that runs it.
_DPKG_QUERY = """#!/bin/sh
# Installed: every package named in $INSTALLED; the others are unknown to dpkg.
shift 2
for p in "$@"; do
    case " $INSTALLED " in
        *" $p "*) echo "ii  $p" ;;
        *) echo "dpkg-query: no packages found matching $p" >&2 ;;
    esac
done
"""
_APT_GET = """#!/bin/sh
echo "$*" >>"$APT_LOG"
"""


@pytest.fixture
def stand_ins() -> Iterator[dict[str, str]]:
    # Not in tmp_path (0700): the stand-ins also serve a run as nobody.
    bin_dir = Path(tempfile.mkdtemp(prefix="stratus-prereqs-"))
    bin_dir.chmod(0o755)
    for name, text in (("dpkg-query", _DPKG_QUERY), ("apt-get", _APT_GET)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    yield {"PATH": f"{bin_dir}:/usr/bin:/bin", "APT_LOG": str(bin_dir / "apt.log")}
    shutil.rmtree(bin_dir)


def _prereqs(env: dict[str, str], *args: str, prefix: tuple[str, ...] = ()) -> Any:
    return subprocess.run(
        [*prefix, str(PREREQS), *args], capture_output=True, text=True, env=env, check=False
    )


@pytest.mark.skipif(os.geteuid() != 0, reason="installs as root only")
def test_prereqs_installs_only_what_is_missing(stand_ins: dict[str, str]) -> None:
    log = Path(stand_ins["APT_LOG"])
    venv = _packages("venv")
    everything = " ".join(sorted(venv))
    done = _prereqs({**stand_ins, "INSTALLED": everything}, "venv")
    assert done.returncode == 0, done.stderr
    assert not log.exists(), "apt-get ran although nothing was missing"

    installed = " ".join(sorted(venv - {"libvirt-dev", "pkg-config"}))
    done = _prereqs({**stand_ins, "INSTALLED": installed}, "venv")
    # The stand-in apt-get installs nothing, so the script says what is still missing.
    assert done.returncode == 1
    assert "still missing after apt-get install: pkg-config libvirt-dev" in done.stderr
    calls = log.read_text().splitlines()
    assert calls[0].endswith(" update")
    assert calls[1].endswith(" install -y --no-install-recommends pkg-config libvirt-dev")
    assert len(calls) == 2


def test_prereqs_as_a_user_names_what_is_missing(stand_ins: dict[str, str]) -> None:
    prefix: tuple[str, ...] = ()
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        assert setpriv, "setpriv (util-linux) is missing"
        prefix = (setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--")
    done = _prereqs({**stand_ins, "INSTALLED": ""}, "image", prefix=prefix)
    assert done.returncode == 1
    assert "missing Debian packages: qemu-utils" in done.stderr
    assert not Path(stand_ins["APT_LOG"]).exists()
