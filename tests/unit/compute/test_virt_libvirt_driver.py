"""The libvirt driver against libvirt's in-memory ``test:///default`` hypervisor.

The test driver accepts and validates real domain XML (``DEFINE_VALIDATE``
checks it against libvirt's schema) and implements the lifecycle calls, so
everything but the guest itself is exercised; disks are made with qemu-img.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from oslo_config import cfg

from stratus import conf as stratus_conf

libvirt = pytest.importorskip("libvirt")

from stratus.compute import states  # noqa: E402
from stratus.compute.virt.driver import (  # noqa: E402
    InjectedFault,
    InstanceExists,
    InstanceNotFound,
    InvalidPowerState,
    SpawnFailed,
    VirtError,
)
from stratus.compute.virt.libvirt import LibvirtDriver  # noqa: E402
from stratus.compute.virt.libvirt.driver import METADATA_NS  # noqa: E402

pytestmark = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="needs qemu-img")

TEST_URI = "test:///default"
GiB = 1024**3


def make_conf(tmp_path: Path, **overrides: object) -> cfg.ConfigOpts:
    conf = cfg.ConfigOpts()
    stratus_conf.register_opts(conf)
    conf([], default_config_files=[])
    conf.set_override("state_path", str(tmp_path / "state"))
    conf.set_override("connection_uri", TEST_URI, "libvirt")
    conf.set_override("virt_type", "qemu", "libvirt")
    conf.set_override("soft_reboot_timeout", 5, "libvirt")
    for key, value in overrides.items():
        group, _, name = key.rpartition("__")
        conf.set_override(name, value, group or None)
    return conf


def qemu_img(*args: str) -> str:
    return subprocess.run(["qemu-img", *args], check=True, capture_output=True, text=True).stdout


def image_info(path: Path) -> dict[str, object]:
    return json.loads(qemu_img("info", "--output=json", "-U", str(path)))


@pytest.fixture
def driver(tmp_path: Path) -> Iterator[LibvirtDriver]:
    d = LibvirtDriver(make_conf(tmp_path))
    d.init_host()
    yield d
    for uuid_ in list(d.list_instances()):
        d.destroy({"uuid": uuid_})
    d.close()


@pytest.fixture
def base_qcow2(tmp_path: Path) -> Path:
    path = tmp_path / "base.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", str(path), "64M")
    return path


@pytest.fixture
def base_raw(tmp_path: Path) -> Path:
    path = tmp_path / "base.raw"
    with open(path, "wb") as f:
        f.truncate(32 * 1024 * 1024)
    return path


def _instance(**extra: object) -> dict[str, object]:
    u = str(uuid.uuid4())
    return {
        "uuid": u,
        "name": f"instance-{u[:8]}",
        "vcpus": 1,
        "memory_mb": 128,
        "root_gb": 1,
        "image_ref": "image-1",
        "hostname": "guest-one",
        **extra,
    }


def _xml(driver: LibvirtDriver, inst: dict[str, object]) -> ET.Element:
    return ET.fromstring(driver._lookup(inst).XMLDesc(0))


# --- XML ----------------------------------------------------------------------


def test_rendered_xml_is_valid_for_libvirt(driver: LibvirtDriver, tmp_path: Path) -> None:
    inst = _instance(hostname="a<b&'c\"")
    xml = driver.render_domain_xml(
        inst,
        {"properties": {}},
        disk_path=str(tmp_path / "disk"),
        disk_format="qcow2",
        console_log=str(tmp_path / "console.log"),
    )
    conn = libvirt.open(TEST_URI)
    try:
        dom = conn.defineXMLFlags(xml, libvirt.VIR_DOMAIN_DEFINE_VALIDATE)
        try:
            root = ET.fromstring(dom.XMLDesc(0))
        finally:
            dom.undefine()
    finally:
        conn.close()
    assert root.get("type") == "qemu"
    assert root.findtext("uuid") == inst["uuid"]
    assert root.findtext("title") == "a<b&'c\""
    system = {e.get("name"): e.text for e in root.findall("sysinfo/system/entry")}
    assert system["serial"] == system["uuid"] == inst["uuid"]
    assert root.find("os/smbios").get("mode") == "sysinfo"
    assert root.findtext("os/type") == "hvm"
    assert root.find("os/boot").get("dev") == "hd"
    assert root.find("os/kernel") is None
    disk = root.find("devices/disk")
    assert disk.find("driver").get("type") == "qcow2"
    assert disk.find("target").get("bus") == "virtio"
    log = root.find("devices/serial/log")
    assert log.get("file") == str(tmp_path / "console.log")
    assert root.find("devices/graphics") is None
    assert root.find(f"metadata/{{{METADATA_NS}}}instance") is not None
    assert int(root.findtext("vcpu")) == 1


def test_xml_options_kernel_vnc_kvm(tmp_path: Path) -> None:
    conf = make_conf(
        tmp_path, libvirt__vnc_enabled=True, libvirt__virt_type="kvm", libvirt__vnc_listen="0.0.0.0"
    )
    driver = LibvirtDriver(conf)
    xml = driver.render_domain_xml(
        _instance(kernel_id="k", ramdisk_id="r", vcpus=2, memory_mb=256),
        {"properties": {"os_command_line": "console=ttyS0 quiet"}},
        disk_path="/d",
        disk_format="raw",
        console_log="/c",
        kernel="/k",
        ramdisk="/r",
    )
    root = ET.fromstring(xml)
    assert root.get("type") == "kvm"
    assert root.find("cpu").get("mode") == "host-model"
    assert root.findtext("os/kernel") == "/k"
    assert root.findtext("os/initrd") == "/r"
    assert root.findtext("os/cmdline") == "console=ttyS0 quiet"
    assert root.find("os/boot") is None
    assert root.find("devices/graphics").get("listen") == "0.0.0.0"
    assert root.findtext("memory") == "256"
    assert root.findtext("vcpu") == "2"


# --- spawn ----------------------------------------------------------------------


def test_spawn_qcow2_overlay(driver: LibvirtDriver, base_qcow2: Path) -> None:
    inst = _instance()
    driver.spawn(inst, {"disk_format": "qcow2"}, {"disk": str(base_qcow2)})
    inst_dir = driver.instance_dir(inst)
    assert sorted(p.name for p in inst_dir.iterdir()) == [
        "console.log",
        "disk",
        "disk.info",
        "libvirt.xml",
    ]
    assert json.loads((inst_dir / "disk.info").read_text()) == {str(inst_dir / "disk"): "qcow2"}
    info = image_info(inst_dir / "disk")
    assert info["format"] == "qcow2"
    assert info["backing-filename"] == str(base_qcow2)
    assert info["backing-filename-format"] == "qcow2"
    assert info["virtual-size"] == GiB
    assert driver.list_instances() == {inst["uuid"]: states.RUNNING}
    assert driver.get_power_state(inst) == states.RUNNING
    root = _xml(driver, inst)
    assert root.find("devices/disk/source").get("file") == str(inst_dir / "disk")
    assert ET.fromstring((inst_dir / "libvirt.xml").read_text()).findtext("uuid") == inst["uuid"]
    with pytest.raises(InstanceExists):
        driver.spawn(inst, {"disk_format": "qcow2"}, {"disk": str(base_qcow2)})


def test_spawn_root_gb_zero_uses_image_size(driver: LibvirtDriver, base_raw: Path) -> None:
    inst = _instance(root_gb=0)
    driver.spawn(inst, {"disk_format": "raw"}, {"disk": str(base_raw)})
    info = image_info(driver.instance_dir(inst) / "disk")
    assert info["virtual-size"] == 32 * 1024 * 1024
    assert info["backing-filename-format"] == "raw"


def test_spawn_flat_copy(tmp_path: Path, base_qcow2: Path) -> None:
    driver = LibvirtDriver(make_conf(tmp_path, libvirt__images_type="raw"))
    inst = _instance()
    try:
        driver.spawn(inst, {"disk_format": "qcow2"}, {"disk": str(base_qcow2)})
        disk = driver.instance_dir(inst) / "disk"
        info = image_info(disk)
        assert info["format"] == "raw"
        assert "backing-filename" not in info
        assert os.path.getsize(disk) == GiB
        assert _xml(driver, inst).find("devices/disk/driver").get("type") == "raw"
    finally:
        driver.destroy(inst)


def test_spawn_ami_style(driver: LibvirtDriver, base_raw: Path, tmp_path: Path) -> None:
    kernel = tmp_path / "vmlinuz"
    kernel.write_bytes(b"kernel")
    ramdisk = tmp_path / "initrd"
    ramdisk.write_bytes(b"ramdisk")
    inst = _instance(kernel_id="aki-1", ramdisk_id="ari-1")
    driver.spawn(
        inst,
        {"disk_format": "ami", "container_format": "ami"},
        {"disk": str(base_raw), "kernel": str(kernel), "ramdisk": str(ramdisk)},
    )
    inst_dir = driver.instance_dir(inst)
    assert (inst_dir / "kernel").read_bytes() == b"kernel"
    assert (inst_dir / "ramdisk").read_bytes() == b"ramdisk"
    root = _xml(driver, inst)
    assert root.findtext("os/kernel") == str(inst_dir / "kernel")
    assert root.findtext("os/initrd") == str(inst_dir / "ramdisk")
    assert "root=/dev/vda" in root.findtext("os/cmdline")


def _assert_nothing_left(driver: LibvirtDriver, inst: dict[str, object]) -> None:
    assert not driver.instance_exists(inst)
    assert not driver.instance_dir(inst).exists()


def test_spawn_missing_kernel_fails_cleanly(driver: LibvirtDriver, base_raw: Path) -> None:
    inst = _instance(kernel_id="aki-1")
    with pytest.raises(SpawnFailed) as err:
        driver.spawn(inst, {"disk_format": "ami"}, {"disk": str(base_raw)})
    assert not err.value.retryable
    _assert_nothing_left(driver, inst)


def test_spawn_image_larger_than_flavor(driver: LibvirtDriver, tmp_path: Path) -> None:
    big = tmp_path / "big.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", str(big), "2G")
    inst = _instance(root_gb=1)
    with pytest.raises(SpawnFailed, match="smaller than the image") as err:
        driver.spawn(inst, {"disk_format": "qcow2"}, {"disk": str(big)})
    assert not err.value.retryable
    _assert_nothing_left(driver, inst)


def test_spawn_refuses_base_with_backing_file(
    driver: LibvirtDriver, base_qcow2: Path, tmp_path: Path
) -> None:
    sneaky = tmp_path / "sneaky.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(base_qcow2), str(sneaky))
    inst = _instance()
    with pytest.raises(SpawnFailed, match="backing") as err:
        driver.spawn(inst, {"disk_format": "qcow2"}, {"disk": str(sneaky)})
    assert not err.value.retryable
    _assert_nothing_left(driver, inst)


def test_spawn_libvirt_failure_is_retryable(driver: LibvirtDriver, base_raw: Path) -> None:
    inst = _instance(memory_mb=-5)  # libvirt refuses the definition
    with pytest.raises(SpawnFailed) as err:
        driver.spawn(inst, {"disk_format": "raw"}, {"disk": str(base_raw)})
    assert err.value.retryable
    _assert_nothing_left(driver, inst)


def test_fault_injection(tmp_path: Path, base_raw: Path) -> None:
    driver = LibvirtDriver(make_conf(tmp_path, compute__fault_inject_spawn=True))
    inst = _instance()
    with pytest.raises(InjectedFault) as err:
        driver.spawn(inst, {"disk_format": "raw"}, {"disk": str(base_raw)})
    assert err.value.retryable
    _assert_nothing_left(driver, inst)


def test_uuid_must_be_canonical(driver: LibvirtDriver) -> None:
    with pytest.raises(VirtError):
        driver.instance_dir({"uuid": "../../etc"})


# --- power ----------------------------------------------------------------------


def test_power_actions(driver: LibvirtDriver, base_raw: Path) -> None:
    inst = _instance()
    driver.spawn(inst, {"disk_format": "raw"}, {"disk": str(base_raw)})
    state = driver.get_power_state

    driver.pause(inst)
    assert state(inst) == states.POWER_PAUSED
    with pytest.raises(InvalidPowerState):
        driver.pause(inst)
    driver.unpause(inst)
    assert state(inst) == states.RUNNING

    driver.suspend(inst)
    assert state(inst) == states.POWER_SUSPENDED
    assert driver.list_instances()[inst["uuid"]] == states.POWER_SUSPENDED
    with pytest.raises(InvalidPowerState):
        driver.unpause(inst)
    driver.resume(inst)
    assert state(inst) == states.RUNNING

    driver.power_off(inst, timeout=5)
    assert state(inst) == states.SHUTDOWN
    driver.power_off(inst)  # already off: no-op
    with pytest.raises(InvalidPowerState):
        driver.resume(inst)
    driver.power_on(inst)
    assert state(inst) == states.RUNNING
    driver.power_on(inst)  # already on: no-op

    driver.reboot(inst, hard=False)
    assert state(inst) == states.RUNNING
    driver.reboot(inst, hard=True)
    assert state(inst) == states.RUNNING

    driver.suspend(inst)
    driver.reboot(inst, hard=True)  # discards the saved state
    assert state(inst) == states.RUNNING
    assert not driver._lookup(inst).hasManagedSaveImage(0)


def test_unknown_instance(driver: LibvirtDriver) -> None:
    inst = _instance()
    assert driver.get_power_state(inst) == states.NOSTATE
    assert not driver.instance_exists(inst)
    for action in (driver.pause, driver.power_on, driver.suspend, driver.reboot):
        with pytest.raises(InstanceNotFound):
            action(inst)
    with pytest.raises(InstanceNotFound):
        driver.get_console_output(inst)
    driver.destroy(inst)  # not an error


def test_destroy_with_and_without_cleanup(driver: LibvirtDriver, base_raw: Path) -> None:
    inst = _instance()
    driver.spawn(inst, {"disk_format": "raw"}, {"disk": str(base_raw)})
    driver.suspend(inst)  # undefine must also drop the managed save image
    driver.destroy(inst, cleanup=False)
    assert not driver.instance_exists(inst)
    assert (driver.instance_dir(inst) / "disk").exists()
    driver.destroy(inst, cleanup=True)
    assert not driver.instance_dir(inst).exists()


def test_console_output_tail(driver: LibvirtDriver, base_raw: Path) -> None:
    inst = _instance()
    driver.spawn(inst, {"disk_format": "raw"}, {"disk": str(base_raw)})
    log = driver.instance_dir(inst) / "console.log"
    assert driver.get_console_output(inst) == ""
    log.write_bytes(b"".join(b"line %d\r\n" % i for i in range(1000)) + b"\xff tail")
    assert driver.get_console_output(inst, 2) == "line 999\r\n\ufffd tail"
    assert driver.get_console_output(inst).startswith("line 0\r\n")
    assert driver.get_console_output(inst, 0) == ""


def test_list_instances_ignores_foreign_domains(driver: LibvirtDriver) -> None:
    conn = libvirt.open(TEST_URI)
    try:
        names = [d.name() for d in conn.listAllDomains(0)]
    finally:
        conn.close()
    assert "test" in names  # the test driver's own domain
    assert driver.list_instances() == {}


def test_host_info(driver: LibvirtDriver) -> None:
    info = driver.get_host_info()
    for key in ("vcpus", "memory_mb", "local_gb", "hypervisor_version"):
        assert isinstance(info[key], int) and info[key] > 0, key
    assert info["hypervisor_type"] == "TEST"
    assert info["hypervisor_hostname"]
    assert info["arch"] == info["cpu_info"]["arch"]
    assert set(info["cpu_info"]["topology"]) == {"sockets", "cores", "threads"}
    assert info["virt_type"] == "qemu"


def test_auto_virt_type_without_probe_on_test_uri(tmp_path: Path) -> None:
    driver = LibvirtDriver(make_conf(tmp_path, libvirt__virt_type="auto"))
    assert driver.virt_type == "qemu"
    assert driver.uri == TEST_URI


def test_nodes_sharing_a_libvirtd_see_only_their_instances(tmp_path: Path, base_raw: Path) -> None:
    one = LibvirtDriver(make_conf(tmp_path / "one", host="node-one"))
    two = LibvirtDriver(make_conf(tmp_path / "two", host="node-two"))
    a, b = _instance(), _instance()
    one.spawn(a, {"disk_format": "raw"}, {"disk": str(base_raw)})
    two.spawn(b, {"disk_format": "raw"}, {"disk": str(base_raw)})
    try:
        assert list(one.list_instances()) == [a["uuid"]]
        assert list(two.list_instances()) == [b["uuid"]]
        node = _xml(one, a).find(f"metadata/{{{METADATA_NS}}}instance/{{{METADATA_NS}}}node")
        assert node.get("host") == "node-one"
        assert node.get("instances_path") == str(one.instances_path)
        assert one.get_host_info()["vcpus_used"] == 1
    finally:
        one.destroy(a)
        two.destroy(b)
