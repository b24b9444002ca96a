"""stratus-compute's privileged operations (stratus.compute.privileged).

In-process (as a root service calls them) and through a real privsep daemon
started by ``privsep-helper`` from ``[stratus_sys_admin] helper_command``, as the
deployment starts it (there through sudo; here the tests are root already).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from oslo_config import cfg

from stratus import conf as stratus_conf
from stratus.compute import privileged
from stratus.privsep import sys_admin_pctxt

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="privileged operations need root")


@pytest.fixture
def instances(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "state" / "instances"
    (path / "inst").mkdir(parents=True)
    cfg.CONF.set_override("instances_path", str(path), group="compute")
    yield path
    cfg.CONF.clear_override("instances_path", group="compute")


@pytest.fixture
def in_process() -> Iterator[None]:
    sys_admin_pctxt.set_client_mode(False)
    yield
    sys_admin_pctxt.set_client_mode(True)


def root_only(path: Path, text: str) -> Path:
    path.write_text(text)
    os.chown(path, 0, 0)
    path.chmod(0o600)
    return path


def test_the_daemon_reads_stratus_conf_defaults() -> None:
    """The daemon cannot register stratus.conf's options; its own copies of the
    two it reads must keep their defaults."""
    conf = cfg.ConfigOpts()
    stratus_conf.register_opts(conf)
    conf(args=[], default_config_files=[])
    mine = cfg.ConfigOpts()
    for group, opts in privileged.DAEMON_OPTS.items():
        mine.register_opts(opts, group=group)
    mine(args=[], default_config_files=[])
    assert mine.state_path == conf.state_path
    assert mine.compute.instances_path == conf.compute.instances_path


def test_paths_outside_instances_are_refused(instances: Path, in_process: None) -> None:
    outside = instances.parent / "stratus.sqlite"
    outside.write_text("hashes")
    escape = instances / "inst" / "escape"
    escape.symlink_to(outside)
    with pytest.raises(privileged.PathOutsideInstances):
        privileged.read_tail(str(outside), 10)
    with pytest.raises(privileged.PathOutsideInstances):
        privileged.read_tail(str(escape), 10)  # a symlink out is followed, then refused
    with pytest.raises(privileged.PathOutsideInstances):
        privileged.remove_tree(str(instances))  # instances_path itself stays
    with pytest.raises(privileged.PathOutsideInstances):
        privileged.remove_tree(str(instances / ".." / ".."))
    with pytest.raises(privileged.PathOutsideInstances):
        privileged.adopt_dir(str(instances.parent), 1, 1)
    assert outside.read_text() == "hashes" and instances.is_dir()


def test_in_process_operations(instances: Path, in_process: None) -> None:
    log = root_only(instances / "inst" / "console.log", "boot\n" * 10 + "login:")
    assert privileged.read_tail(str(log), 6) == b"login:"
    assert privileged.adopt_dir(str(instances), 65534, 65534) is True
    assert (instances.stat().st_uid, instances.stat().st_gid) == (65534, 65534)
    assert privileged.adopt_dir(str(instances), 65534, 65534) is False
    with pytest.raises(NotADirectoryError):
        privileged.adopt_dir(str(log), 65534, 65534)
    base = instances / "inst" / "base"
    base.write_bytes(b"image")
    os.chown(base, 65534, 65534)  # as libvirt leaves a backing file: QEMU's
    os.utime(base, (1, 1))
    privileged.touch(str(base))
    assert base.stat().st_mtime > 1
    with pytest.raises(privileged.PathOutsideInstances):
        privileged.touch("/etc/passwd")
    privileged.remove_tree(str(instances / "inst"))
    assert not (instances / "inst").exists()
    privileged.remove_tree(str(instances / "inst"))  # already gone: nothing to do


def test_through_the_privsep_daemon(instances: Path, tmp_path: Path) -> None:
    """privsep-helper, started from helper_command, parses the config file
    itself and applies the same bounds."""
    conf_file = tmp_path / "stratus.conf"
    conf_file.write_text(f"[DEFAULT]\nstate_path = {instances.parent}\n")
    helper = Path(sys.executable).parent / "privsep-helper"
    cfg.CONF.set_override(
        "helper_command", f"{helper} --config-file {conf_file}", group="stratus_sys_admin"
    )
    log = root_only(instances / "inst" / "console.log", "login:")
    try:
        assert privileged.read_tail(str(log), 100) == b"login:"
        assert sys_admin_pctxt.channel is not None  # it went through the daemon
        with pytest.raises(privileged.PathOutsideInstances):
            privileged.read_tail("/etc/shadow", 100)
        privileged.remove_tree(str(instances / "inst"))
        assert not (instances / "inst").exists()
    finally:
        sys_admin_pctxt.stop()
        cfg.CONF.clear_override("helper_command", group="stratus_sys_admin")
