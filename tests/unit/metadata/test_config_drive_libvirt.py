"""The libvirt driver's config drive, against libvirt's in-memory ``test:///default``
hypervisor (it validates the domain XML against libvirt's schema); the guest that
reads the drive is in tests/integration/test_config_drive.py."""

from __future__ import annotations

import base64
import io
import xml.etree.ElementTree as ET
from pathlib import Path

import pycdlib
import pytest

pytest.importorskip("libvirt")

from stratus.compute.virt.libvirt import LibvirtDriver  # noqa: E402
from tests.unit.compute.test_virt_libvirt_driver import (  # noqa: E402, F401
    _instance,
    _xml,
    base_qcow2,
    driver,
    make_conf,
)


def _read(path: Path, name: str) -> bytes:
    iso = pycdlib.PyCdlib()
    iso.open(str(path))
    try:
        out = io.BytesIO()
        iso.get_file_from_iso_fp(out, rr_path=name)
        return out.getvalue()
    finally:
        iso.close()


def test_spawn_attaches_a_config_drive_and_destroy_removes_it(
    driver: LibvirtDriver,  # noqa: F811
    base_qcow2: Path,  # noqa: F811
) -> None:
    inst = _instance(
        config_drive=True,
        key_name="k",
        key_data="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBpwWJKV6bOkgbfbCZ2vvBv8yhnM0X/vnz4bTHp8ZgRy",
        user_data=base64.b64encode(b"#!/bin/sh\necho hi\n").decode(),
    )
    driver.spawn(inst, {"disk_format": "qcow2"}, {"disk": str(base_qcow2)})
    inst_dir = driver.instance_dir(inst)
    drive = inst_dir / "disk.config"
    assert b'"uuid": "%s"' % inst["uuid"].encode() in _read(
        drive, "/openstack/latest/meta_data.json"
    )
    assert _read(drive, "/openstack/latest/user_data") == b"#!/bin/sh\necho hi\n"
    cdroms = [d for d in _xml(driver, inst).findall("devices/disk") if d.get("device") == "cdrom"]
    assert len(cdroms) == 1
    cdrom = cdroms[0]
    assert cdrom.find("source").get("file") == str(drive)
    assert cdrom.find("readonly") is not None
    assert cdrom.find("target").get("bus") == "scsi"
    driver.destroy(inst, cleanup=True)
    assert not inst_dir.exists()


def test_no_config_drive_unless_asked(
    driver: LibvirtDriver,  # noqa: F811
    base_qcow2: Path,  # noqa: F811
) -> None:
    inst = _instance()
    driver.spawn(inst, {"disk_format": "qcow2"}, {"disk": str(base_qcow2)})
    assert not (driver.instance_dir(inst) / "disk.config").exists()
    devices = ET.fromstring(
        driver.render_domain_xml(inst, {}, disk_path="/d", disk_format="raw", console_log="/c")
    ).find("devices")
    assert all(d.get("device") != "cdrom" for d in devices.findall("disk"))
    assert devices.find("controller[@type='scsi']") is None


def test_dhcp_domain_reaches_the_drive(tmp_path: Path, base_qcow2: Path) -> None:  # noqa: F811
    d = LibvirtDriver(make_conf(tmp_path, metadata__dhcp_domain="example.test"))
    d.init_host()
    inst = _instance(config_drive=True)
    try:
        d.spawn(inst, {"disk_format": "qcow2"}, {"disk": str(base_qcow2)})
        text = _read(d.instance_dir(inst) / "disk.config", "/openstack/latest/meta_data.json")
        assert b'"hostname": "guest-one.example.test"' in text
    finally:
        d.destroy(inst, cleanup=True)
        d.close()
