"""The config drive end to end: stratus-api, -scheduler, -conductor and a
stratus-compute on libvirt (a QEMU TCG guest booting the tiny image) over a real
RabbitMQ and SQLite. One guest, with no network at all (``--nic none``), proves
that the drive reached it: it prints the server's uuid and host name, the SHA256
fingerprint of its key pair's public key and the output and exit code of its user
data script. Bad user data is refused by the API before anything is recorded."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from tests.support.cloud import Cloud

pytestmark = pytest.mark.slow

SFX = uuid.uuid4().hex[:6]
HOST = f"metadata-{SFX}"
FLAVOR_ID = f"metadata-{SFX}"
MARKER = f"STRATUS-TEST-USERDATA-{SFX}"


def virsh(*args: str) -> str:
    return subprocess.run(
        ["virsh", "-c", "qemu:///system", *args], capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture(scope="module")
def cloud(rabbitmq, tiny_images: Path, libvirtd: None) -> Iterator[Cloud]:
    cloud = Cloud(rabbitmq.transport_url)
    cloud.start()
    cloud.add_compute(HOST)
    cloud.openstack(
        "flavor", "create", "--id", FLAVOR_ID, "--ram", "128", "--disk", "1", "--vcpus", "1",
        FLAVOR_ID,
    )  # fmt: skip
    cloud.openstack(
        "image", "create", "--disk-format", "qcow2", "--container-format", "bare", "--public",
        "--file", str(tiny_images / "tiny.qcow2"), "tiny",
    )  # fmt: skip
    try:
        yield cloud
    finally:
        with contextlib.suppress(Exception), cloud.client() as admin:
            for server in admin.get("/compute/v2.1/servers").json()["servers"]:
                admin.delete(f"/compute/v2.1/servers/{server['id']}")
            deadline = time.monotonic() + 60
            while admin.get("/compute/v2.1/servers").json()["servers"]:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.5)
        cloud.stop()
        for domain in virsh("list", "--all", "--uuid").split():
            if str(cloud.workdir) in virsh("dumpxml", domain):
                virsh("destroy", domain)
                virsh("undefine", domain, "--nvram")


def console(cloud: Cloud, server_id: str) -> str:
    path = cloud.workdir / HOST / "instances" / server_id / "console.log"
    return path.read_text(errors="replace") if path.exists() else ""


def wait_for_line(cloud: Cloud, server_id: str, prefix: str, timeout: float = 180) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in console(cloud, server_id).splitlines():
            if line.startswith(prefix):
                return line.strip()
        time.sleep(0.5)
    raise AssertionError(
        f"no {prefix!r} line on the console of {server_id} after {timeout:.0f}s:\n"
        + console(cloud, server_id)[-3000:]
    )


def sha256_fingerprint(public_key: str) -> str:
    """What ``ssh-keygen -l`` prints for an OpenSSH public key, computed here."""
    blob = base64.b64decode(public_key.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def md5_fingerprint(public_key: str) -> str:
    digest = hashlib.md5(base64.b64decode(public_key.split()[1])).hexdigest()  # noqa: S324
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def test_config_drive_guest(cloud: Cloud, tmp_path: Path) -> None:
    public = (
        ed25519.Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    (tmp_path / "key.pub").write_text(f"{public} test@{SFX}\n")
    (tmp_path / "script.sh").write_text(f"#!/bin/sh\necho {MARKER}\nexit 0\n")
    keypair = cloud.openstack_json(
        "keypair", "create", "--public-key", str(tmp_path / "key.pub"), f"metadata-{SFX}"
    )
    shown = cloud.openstack_json("keypair", "show", f"metadata-{SFX}")
    # The key pair Stratus holds is the key made here (Nova's MD5 fingerprint) ...
    assert keypair["fingerprint"] == shown["fingerprint"] == md5_fingerprint(public)
    server = cloud.openstack_json(
        "--os-compute-api-version", "2.90",
        "server", "create", "--flavor", FLAVOR_ID, "--image", "tiny", "--nic", "none",
        "--key-name", f"metadata-{SFX}", "--config-drive", "True",
        "--user-data", str(tmp_path / "script.sh"), "--hostname", f"cd-{SFX}",
        f"metadata-{SFX}",
    )  # fmt: skip
    server_id = server["id"]
    line = wait_for_line(cloud, server_id, "STRATUS-GUEST-METADATA ")
    assert line == (
        f"STRATUS-GUEST-METADATA uuid={server_id} hostname=cd-{SFX}.novalocal keys=1 "
        "source=configdrive"
    )
    # ... and the guest got exactly that key: ssh-keygen's SHA256 form of it.
    assert wait_for_line(cloud, server_id, "STRATUS-GUEST-KEY ") == (
        f"STRATUS-GUEST-KEY {sha256_fingerprint(public)}"
    )
    assert wait_for_line(cloud, server_id, "STRATUS-GUEST-USERDATA ") == (
        "STRATUS-GUEST-USERDATA rc=0"
    )
    out = console(cloud, server_id)
    assert MARKER in out
    assert out.index(MARKER) < out.index("STRATUS-GUEST-USERDATA rc=0")
    assert out.count("STRATUS-GUEST-READY ") == 1  # the image's own lines are unchanged

    with cloud.client(microversion="2.3") as admin:
        body = admin.get(f"/compute/v2.1/servers/{server_id}").json()["server"]
    assert body["config_drive"] == "True"
    assert (
        base64.b64decode(body["OS-EXT-SRV-ATTR:user_data"]) == (tmp_path / "script.sh").read_bytes()
    )
    drive = cloud.workdir / HOST / "instances" / server_id / "disk.config"
    assert drive.exists()
    defined = (drive.parent / "libvirt.xml").read_text()
    assert f"<source file='{drive}'/>" in defined and "device='cdrom'" in defined

    cloud.openstack("server", "delete", "--wait", server_id)
    assert not drive.parent.exists()


@pytest.mark.parametrize(
    ("user_data", "problem"),
    [
        (base64.b64encode(b"x" * 49152).decode(), "at most 65535"),
        ("this is not base64!", "base64"),
    ],
)
def test_bad_user_data_is_refused(cloud: Cloud, user_data: str, problem: str) -> None:
    with cloud.client() as admin:
        before = admin.get("/compute/v2.1/servers", params={"all_tenants": 1}).json()
        response = admin.post(
            "/compute/v2.1/servers",
            content=json.dumps(
                {
                    "server": {
                        "name": f"bad-{SFX}",
                        "flavorRef": FLAVOR_ID,
                        "imageRef": "x",
                        "user_data": user_data,
                    }
                }
            ),
            headers={"Content-Type": "application/json"},
        )
        after = admin.get("/compute/v2.1/servers", params={"all_tenants": 1}).json()
    assert response.status_code == 400, response.text
    message = response.json()["badRequest"]["message"]
    assert "server.user_data" in message and problem in message, message
    assert after == before
