"""Make sure libvirtd and virtlogd run on a host that may not have systemd.

The build and CI machines have no systemd as PID 1, so the daemons that the
Debian packages would normally start through socket activation must be started
by hand. ``ensure_libvirtd()`` is idempotent: it returns at once when the
connection URI already answers, and otherwise starts whichever daemon is missing
and waits until the URI answers.

Usable as a script too: ``python tests/support/libvirtd.py [uri]``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

DEFAULT_URI = "qemu:///system"

# Pid files the daemons write when started as root with -d.
_PIDFILES = {
    "virtlogd": Path("/run/virtlogd.pid"),
    "libvirtd": Path("/run/libvirtd.pid"),
}


class LibvirtdUnavailable(RuntimeError):
    """libvirtd could not be started or does not answer."""


def _alive(pidfile: Path) -> bool:
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A stale pid file may name a pid reused by another program.
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return False
    return comm == pidfile.stem


def _answers(uri: str) -> bool:
    try:
        import libvirt
    except ImportError:  # fall back to virsh when the binding is missing
        virsh = shutil.which("virsh")
        if virsh is None:
            return False
        result = subprocess.run(
            [virsh, "-c", uri, "version"], capture_output=True, timeout=30, check=False
        )
        return result.returncode == 0

    def _quiet(_ctx: object, _err: object) -> None:
        return None

    libvirt.registerErrorHandler(_quiet, None)
    try:
        conn = libvirt.open(uri)
    except libvirt.libvirtError:
        return False
    try:
        conn.getVersion()
        return True
    except libvirt.libvirtError:
        return False
    finally:
        conn.close()


def _start(daemon: str) -> None:
    binary = shutil.which(daemon) or f"/usr/sbin/{daemon}"
    if not os.path.exists(binary):
        raise LibvirtdUnavailable(
            f"{daemon} is not installed; install libvirt-daemon-system (and qemu-system-x86)"
        )
    result = subprocess.run([binary, "-d"], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise LibvirtdUnavailable(f"{daemon} -d failed: {result.stderr.strip()}")


KVM_DEVICE = Path("/dev/kvm")


def kvm_device_for_group_kvm(device: Path = KVM_DEVICE) -> bool:
    """Give ``/dev/kvm`` to group kvm, mode 0660, as Debian's udev rule does; True if
    it changed. Without udev it stays root-only, and libvirtd, which checks KVM as the
    ``libvirt-qemu`` user, then finds its cached QEMU capabilities stale and probes
    QEMU again on every connection (seconds each, far more under load)."""
    import grp

    try:
        st = device.stat()
        gid = grp.getgrnam("kvm").gr_gid
    except (OSError, KeyError):
        return False
    if st.st_gid == gid and st.st_mode & 0o777 == 0o660:
        return False
    os.chown(device, -1, gid)
    os.chmod(device, 0o660)
    return True


def ensure_libvirtd(uri: str = DEFAULT_URI, timeout: float = 30.0) -> None:
    """Start virtlogd and libvirtd if needed and wait until ``uri`` answers."""
    if os.geteuid() == 0:
        kvm_device_for_group_kvm()
    if _answers(uri):
        return
    if os.geteuid() != 0:
        raise LibvirtdUnavailable(f"{uri} does not answer and only root can start libvirtd")
    for daemon in ("virtlogd", "libvirtd"):
        if not _alive(_PIDFILES[daemon]):
            _start(daemon)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _answers(uri):
            return
        time.sleep(0.2)
    raise LibvirtdUnavailable(f"libvirtd started but {uri} did not answer within {timeout:.0f}s")


if __name__ == "__main__":
    ensure_libvirtd(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_URI)
    print("libvirtd is running")
