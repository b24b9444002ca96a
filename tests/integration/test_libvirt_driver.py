"""The libvirt driver with real libvirtd and QEMU (TCG) guests booting the tiny image.

Needs root, libvirt-daemon-system, qemu-system-x86 and qemu-utils; libvirtd and
virtlogd are started if they are not running (tests/support/libvirtd.py), and
the tiny image is built if needed (tests/images/build-tiny-image).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from oslo_config import cfg

from stratus import conf as stratus_conf
from stratus.compute import states
from stratus.compute.image_cache import ImageCache

libvirt = pytest.importorskip("libvirt")

from stratus.compute.virt.libvirt import LibvirtDriver  # noqa: E402
from tests.support.libvirtd import ensure_libvirtd  # noqa: E402

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run libvirtd"),
    pytest.mark.skipif(
        shutil.which("qemu-system-x86_64") is None or shutil.which("qemu-img") is None,
        reason="needs qemu-system-x86 and qemu-utils",
    ),
]

URI = "qemu:///system"
REPO = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO / "tests" / "images" / "build-tiny-image"
IMAGE_DIR = REPO / "tests" / "images" / "cache"
MARKER = "STRATUS-GUEST-READY"
BOOT_TIMEOUT = 90.0


@pytest.fixture(scope="module")
def tiny_image() -> Path:
    subprocess.run([str(BUILD_SCRIPT), str(IMAGE_DIR)], check=True, timeout=600)
    return IMAGE_DIR


@pytest.fixture(scope="module")
def state_path() -> Iterator[Path]:
    # QEMU runs as libvirt-qemu: every directory on the path must be searchable.
    path = Path(tempfile.mkdtemp(prefix="stratus-libvirt-", dir="/var/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def driver(state_path: Path) -> Iterator[LibvirtDriver]:
    ensure_libvirtd(URI)
    conf = cfg.ConfigOpts()
    stratus_conf.register_opts(conf)
    conf([], default_config_files=[])
    conf.set_override("state_path", str(state_path))
    conf.set_override("virt_type", "qemu", "libvirt")
    conf.set_override("connection_uri", URI, "libvirt")
    conf.set_override("soft_reboot_timeout", 60, "libvirt")
    d = LibvirtDriver(conf)
    d.init_host()
    yield d
    for uuid_ in list(d.list_instances()):
        d.destroy({"uuid": uuid_})
    d.close()


def _checksums(image_dir: Path) -> dict[str, str]:
    sums = {}
    for line in (image_dir / "MD5SUMS").read_text().splitlines():
        digest, name = line.split()
        sums[name] = digest
    return sums


@pytest.fixture(scope="module")
def image_cache(driver: LibvirtDriver, tiny_image: Path) -> ImageCache:
    """The image cache, fetching "images" named after the files of the tiny image."""

    def fetch(image_id: str, dest: str) -> None:
        shutil.copyfile(tiny_image / image_id, dest)

    return ImageCache(driver.base_dir, fetch)


def _cached(cache: ImageCache, tiny_image: Path, name: str, disk_format: str) -> str:
    container = disk_format if disk_format in ("aki", "ari", "ami") else "bare"
    return cache.get(
        name,
        disk_format=disk_format,
        container_format=container,
        checksum=_checksums(tiny_image)[name],
    ).path


def _instance(**extra: object) -> dict[str, object]:
    u = str(uuid.uuid4())
    return {
        "uuid": u,
        "name": f"instance-{u[:8]}",
        "vcpus": 1,
        "memory_mb": 128,
        "root_gb": 1,
        "hostname": f"tiny-{u[:4]}",
        **extra,
    }


def virsh_domstate(inst: dict[str, object]) -> str:
    result = subprocess.run(
        ["virsh", "-c", URI, "domstate", "--reason", str(inst["uuid"])],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip() if result.returncode == 0 else f"error: {result.stderr.strip()}"


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> float:
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.1)
    return time.monotonic() - start


def markers(driver: LibvirtDriver, inst: dict[str, object]) -> int:
    return len(re.findall(rf"{MARKER} {inst['uuid']}", driver.get_console_output(inst)))


def wait_markers(driver: LibvirtDriver, inst: dict[str, object], count: int) -> float:
    try:
        return wait_for(
            lambda: markers(driver, inst) >= count,
            BOOT_TIMEOUT,
            f"{count} x '{MARKER}' on console",
        )
    except AssertionError as exc:
        tail = driver.get_console_output(inst, length=15)
        raise AssertionError(
            f"{exc}; domstate {virsh_domstate(inst)!r}; console tail:\n{tail}"
        ) from None


def test_whole_disk_guest_lifecycle(
    driver: LibvirtDriver,
    image_cache: ImageCache,
    tiny_image: Path,
    record_property: Callable[[str, object], None],
) -> None:
    base = _cached(image_cache, tiny_image, "tiny.qcow2", "qcow2")
    inst = _instance(image_ref="tiny.qcow2")
    inst_dir = driver.instance_dir(inst)

    start = time.monotonic()
    driver.spawn(inst, {"id": "tiny.qcow2", "disk_format": "qcow2"}, {"disk": base})
    spawned = time.monotonic() - start
    boot = wait_markers(driver, inst, 1)
    record_property("spawn_seconds", round(spawned, 2))
    record_property("spawn_to_marker_seconds", round(spawned + boot, 2))
    print(f"\nwhole-disk: spawn {spawned:.2f}s, spawn-to-marker {spawned + boot:.2f}s")

    assert virsh_domstate(inst).startswith("running")
    assert driver.get_power_state(inst) == states.RUNNING
    assert driver.list_instances()[inst["uuid"]] == states.RUNNING
    assert f"STRATUS-GUEST-HOSTNAME {inst['hostname']}" in driver.get_console_output(inst)
    tail = driver.get_console_output(inst, length=10)
    assert MARKER in tail and len(tail.splitlines()) <= 10
    assert {p.name for p in inst_dir.iterdir()} >= {"disk", "disk.info", "libvirt.xml"}

    # hard reboot: a new boot, the console log keeps the earlier one
    driver.reboot(inst, hard=True)
    assert virsh_domstate(inst).startswith("running")
    wait_markers(driver, inst, 2)

    # soft reboot: ACPI power button, the guest powers off, the driver starts it again
    start = time.monotonic()
    driver.reboot(inst, hard=False)
    soft = time.monotonic() - start
    assert virsh_domstate(inst).startswith("running")
    assert "STRATUS-GUEST-POWEROFF" in driver.get_console_output(inst)
    wait_markers(driver, inst, 3)
    print(f"soft reboot (ACPI shutdown + start): {soft:.2f}s")

    # clean power off, then on
    driver.power_off(inst, timeout=30)
    assert virsh_domstate(inst).startswith("shut off")
    assert driver.get_power_state(inst) == states.SHUTDOWN
    driver.power_on(inst)
    assert virsh_domstate(inst).startswith("running")
    wait_markers(driver, inst, 4)

    # pause / unpause
    driver.pause(inst)
    assert virsh_domstate(inst).startswith("paused")
    assert driver.get_power_state(inst) == states.POWER_PAUSED
    driver.unpause(inst)
    assert virsh_domstate(inst).startswith("running")

    # suspend (managed save) / resume: the guest continues, it does not boot again
    driver.suspend(inst)
    assert virsh_domstate(inst) == "shut off (saved)"
    assert driver.get_power_state(inst) == states.POWER_SUSPENDED
    driver.resume(inst)
    assert virsh_domstate(inst).startswith("running")
    assert driver.get_power_state(inst) == states.RUNNING
    time.sleep(2)
    assert markers(driver, inst) == 4

    # hard power off
    driver.power_off(inst)
    assert virsh_domstate(inst).startswith("shut off")

    driver.destroy(inst, cleanup=True)
    assert virsh_domstate(inst).startswith("error")
    assert not inst_dir.exists()
    assert inst["uuid"] not in driver.list_instances()
    assert os.path.exists(base)  # the cached base stays for the next instance


def test_ami_style_boot(
    driver: LibvirtDriver,
    image_cache: ImageCache,
    tiny_image: Path,
    record_property: Callable[[str, object], None],
) -> None:
    paths = {
        "disk": _cached(image_cache, tiny_image, "tiny-ami.img", "ami"),
        "kernel": _cached(image_cache, tiny_image, "tiny.vmlinuz", "aki"),
        "ramdisk": _cached(image_cache, tiny_image, "tiny.initrd", "ari"),
    }
    inst = _instance(image_ref="tiny-ami.img", kernel_id="tiny.vmlinuz", ramdisk_id="tiny.initrd")
    start = time.monotonic()
    driver.spawn(
        inst,
        {"id": "tiny-ami.img", "disk_format": "ami", "container_format": "ami"},
        paths,
    )
    wait_markers(driver, inst, 1)
    total = time.monotonic() - start
    record_property("ami_spawn_to_marker_seconds", round(total, 2))
    print(f"\nami-style: spawn-to-marker {total:.2f}s")
    assert virsh_domstate(inst).startswith("running")
    assert "root=/dev/vda" in driver.get_console_output(inst)  # the kernel logs its cmdline
    driver.destroy(inst)
    assert virsh_domstate(inst).startswith("error")
    assert not driver.instance_dir(inst).exists()


def test_raw_images_type_and_two_instances_share_a_base(
    driver: LibvirtDriver, image_cache: ImageCache, tiny_image: Path
) -> None:
    base = _cached(image_cache, tiny_image, "tiny.qcow2", "qcow2")
    first, second = _instance(), _instance()
    driver.conf.set_override("images_type", "raw", "libvirt")
    try:
        driver.spawn(first, {"disk_format": "qcow2"}, {"disk": base})
    finally:
        driver.conf.clear_override("images_type", "libvirt")
    driver.spawn(second, {"disk_format": "qcow2"}, {"disk": base})
    try:
        wait_markers(driver, first, 1)
        wait_markers(driver, second, 1)
        assert '"raw"' in (driver.instance_dir(first) / "disk.info").read_text()
        assert '"qcow2"' in (driver.instance_dir(second) / "disk.info").read_text()
    finally:
        driver.destroy(first)
        driver.destroy(second)


def test_soft_reboot_falls_back_to_hard(
    driver: LibvirtDriver, image_cache: ImageCache, tiny_image: Path
) -> None:
    """A guest that ignores the power button (here: still in its firmware) is reset."""
    base = _cached(image_cache, tiny_image, "tiny.qcow2", "qcow2")
    inst = _instance()
    driver.spawn(inst, {"disk_format": "qcow2"}, {"disk": base})
    driver.conf.set_override("soft_reboot_timeout", 1, "libvirt")
    try:
        start = time.monotonic()
        driver.reboot(inst, hard=False)
        elapsed = time.monotonic() - start
    finally:
        driver.conf.clear_override("soft_reboot_timeout", "libvirt")
    try:
        assert elapsed >= 1.0
        assert virsh_domstate(inst).startswith("running")
        wait_markers(driver, inst, 1)
        assert "STRATUS-GUEST-POWEROFF" not in driver.get_console_output(inst)
    finally:
        driver.destroy(inst)
