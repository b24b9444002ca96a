"""The metadata service through the network's metadata proxy, end to end: stratus-api,
-scheduler, -conductor, a stratus-compute on libvirt (QEMU TCG guests booting the
tiny image), a stratus-network-agent serving DHCP with the metadata proxy in the
network's DHCP namespace, and stratus-metadata, over a real RabbitMQ and SQLite,
on a real bridge, VXLAN device and namespaces.

Two guests, no config drive: they take the classless route to 169.254.169.254
from DHCP and print the identity they read from the service. The second one has
a key pair (its fingerprint on the console is ``ssh-keygen -l``'s) and user data
that asks the proxy for the metadata with the first guest's instance header: the
proxy refuses it (403). A client namespace on the bridge, holding the address of
a port that belongs to no instance, forges the guest's identity headers and gets
a 404 without the guest's data; the service itself refuses a request signed with
another secret. Nothing listens on 169.254.169.254 in the host's namespace.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import random
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from stratus.network.linux import metadata_proxy, names
from tests.support.cloud import Cloud
from tests.support.processes import wait_for

pytestmark = pytest.mark.slow

SFX = uuid.uuid4().hex[:6]
HOST = f"mdproxy-{SFX}"
FLAVOR_ID = f"mdproxy-{SFX}"
CLIENT_NS = f"mdproxy-{SFX}-cli"
CLIENT_DEV = f"mdp{SFX}"
CIDR = "10.78.0.0/24"
SECRET = uuid.uuid4().hex
VNI = random.randrange(100_000, 16_000_000)


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    if check and done.returncode:
        raise AssertionError(f"{' '.join(argv)} failed: {done.stderr or done.stdout}")
    return done


def virsh(*args: str) -> str:
    return subprocess.run(
        ["virsh", "-c", "qemu:///system", *args], capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture(scope="module")
def cloud(rabbitmq, tiny_images: Path, libvirtd: None) -> Iterator[Cloud]:
    cloud = Cloud(
        rabbitmq.transport_url, extra_conf={"network": {"vni_ranges": f"{VNI}:{VNI + 5}"}}
    )
    cloud.start()
    try:
        url = cloud.add_metadata(SECRET)
        network_conf = {"local_ip": "127.0.0.1", "state_path": cloud.workdir / HOST / "network"}
        cloud.add_compute(HOST, extra={"network": network_conf})
        cloud.add_network_agent(
            HOST,
            {**network_conf, "dhcp_agent": "true"},
            extra={"metadata": {"metadata_url": url, "shared_secret": SECRET}},
        )
        cloud.metadata_url = url  # type: ignore[attr-defined]
        cloud.openstack(
            "flavor", "create", "--id", FLAVOR_ID, "--ram", "128", "--disk", "1",
            "--vcpus", "1", FLAVOR_ID,
        )  # fmt: skip
        cloud.openstack(
            "image", "create", "--disk-format", "qcow2", "--container-format", "bare",
            "--file", str(tiny_images / "tiny.qcow2"), f"tiny-{SFX}",
        )  # fmt: skip
        yield cloud
    finally:
        with contextlib.suppress(Exception):
            remove_all(cloud)
        cloud.stop()
        for domain in virsh("list", "--all", "--uuid").split():
            if str(cloud.workdir) in virsh("dumpxml", domain):
                virsh("destroy", domain)
                virsh("undefine", domain, "--nvram")
        sh("ip", "netns", "delete", CLIENT_NS, check=False)
        sh("ip", "link", "delete", CLIENT_DEV, check=False)


def remove_all(cloud: Cloud) -> None:
    """Delete the servers, ports and networks; the agent then removes the DHCP
    namespaces, and with them the metadata proxies (checked)."""
    with cloud.client() as admin:
        networks = admin.get("/networking/v2.0/networks").json()["networks"]
    cloud.remove_networks(range(VNI, VNI + 6))
    for network in networks:
        wait_for(
            lambda n=network: names.dhcp_namespace(n["id"]) not in sh("ip", "netns").stdout,
            30,
            description=f"the DHCP namespace of {network['id']} removed",
        )


@pytest.fixture(scope="module")
def net(cloud: Cloud) -> dict:
    network = cloud.openstack_json("network", "create", f"mdproxy-{SFX}")
    cloud.openstack_json(
        "subnet", "create", "--network", network["id"], "--subnet-range", CIDR,
        f"mdproxy-{SFX}-v4",
    )  # fmt: skip
    return network


def console(cloud: Cloud, server_id: str) -> str:
    path = cloud.workdir / HOST / "instances" / server_id / "console.log"
    return path.read_text(errors="replace") if path.exists() else ""


def metadata_line(cloud: Cloud, server_id: str, timeout: float = 180) -> str:
    def found() -> str | None:
        for line in console(cloud, server_id).splitlines():
            if line.startswith("STRATUS-GUEST-METADATA "):
                return line.strip()
        return None

    return wait_for(
        found,
        timeout,
        interval=0.5,
        description=f"STRATUS-GUEST-METADATA on {server_id}",
        details=lambda: console(cloud, server_id)[-2000:],
    )


@pytest.fixture(scope="module")
def guest(cloud: Cloud, net: dict) -> dict:
    return cloud.openstack_json(
        "server", "create", "--flavor", FLAVOR_ID, "--image", f"tiny-{SFX}",
        "--network", net["id"], f"mdp-{SFX}",
        timeout=120,
    )  # fmt: skip


FORGED_MARK = "MDPROXY-FORGED"


@pytest.fixture(scope="module")
def key_file(cloud: Cloud) -> Path:
    path = cloud.workdir / f"mdproxy-{SFX}-key"
    sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"mdproxy-{SFX}", "-f", str(path))
    cloud.openstack_json(
        "keypair", "create", "--public-key", f"{path}.pub", f"mdproxy-{SFX}"
    )  # fmt: skip
    return path


@pytest.fixture(scope="module")
def keyed_guest(cloud: Cloud, net: dict, guest: dict, key_file: Path) -> dict:
    """A guest with the key pair, whose user data claims to be ``guest`` (the
    answer's status line on the console after FORGED_MARK)."""
    script = cloud.workdir / f"mdproxy-{SFX}-userdata.sh"
    script.write_text(
        "#!/bin/sh\n"
        f"out=\"$(timeout 10 wget -q -O - --header 'X-Instance-ID: {guest['id']}' "
        f'http://{metadata_proxy.METADATA_ADDRESS}/openstack/latest/meta_data.json 2>&1)"\n'
        f"echo \"{FORGED_MARK} rc=$? $(echo \"$out\" | tr '\\n' ' ')\"\n"
    )
    return cloud.openstack_json(
        "server", "create", "--flavor", FLAVOR_ID, "--image", f"tiny-{SFX}",
        "--network", net["id"], "--key-name", f"mdproxy-{SFX}",
        "--user-data", str(script), f"mdp-{SFX}-k",
        timeout=120,
    )  # fmt: skip


def test_the_dhcp_namespace_alone_listens_on_the_metadata_address(net: dict) -> None:
    namespace = names.dhcp_namespace(net["id"])

    def listening() -> bool:
        inside = sh("ip", "netns", "exec", namespace, "ss", "-Htln", check=False).stdout
        return f"{metadata_proxy.METADATA_ADDRESS}:80 " in inside

    wait_for(listening, 30, interval=0.2, description="the proxy listening in " + namespace)
    assert metadata_proxy.METADATA_ADDRESS not in sh("ss", "-Htln").stdout
    assert metadata_proxy.METADATA_ADDRESS not in sh("ip", "-4", "addr").stdout


def test_guest_reads_its_metadata_through_the_proxy(
    cloud: Cloud, net: dict, guest: dict, keyed_guest: dict
) -> None:
    """(Both guests are created before the first one is waited for: they boot together.)"""
    line = metadata_line(cloud, guest["id"])
    assert line.startswith(f"STRATUS-GUEST-METADATA uuid={guest['id']} hostname=mdp-{SFX}")
    assert line.endswith(" source=metadata"), line


def test_guest_reads_its_key_and_cannot_claim_another_guest(
    cloud: Cloud, guest: dict, keyed_guest: dict, key_file: Path
) -> None:
    line = metadata_line(cloud, keyed_guest["id"])
    assert line == (
        f"STRATUS-GUEST-METADATA uuid={keyed_guest['id']} hostname=mdp-{SFX}-k.novalocal keys=1 "
        "source=metadata"
    ), line
    fingerprint = sh("ssh-keygen", "-l", "-f", f"{key_file}.pub").stdout.split()[1]
    shown = cloud.openstack_json("keypair", "show", f"mdproxy-{SFX}")["fingerprint"]
    wait_for(
        lambda: "STRATUS-GUEST-USERDATA rc=0" in console(cloud, keyed_guest["id"]),
        60,
        interval=0.5,
        description="the user data ran",
        details=lambda: console(cloud, keyed_guest["id"])[-2000:],
    )
    text = console(cloud, keyed_guest["id"])
    keys = [ln.strip() for ln in text.splitlines() if ln.startswith("STRATUS-GUEST-KEY ")]
    assert keys == [f"STRATUS-GUEST-KEY {fingerprint}"], text[-2000:]
    assert shown  # the API's own (MD5) form exists for the same key
    (forged,) = [ln for ln in text.splitlines() if ln.startswith(FORGED_MARK)]
    assert "403 Forbidden" in forged and " rc=0 " not in forged, forged
    assert guest["id"] not in text


def _client_get(path: str, headers: dict[str, str]) -> tuple[int, str]:
    """GET http://169.254.169.254<path> from the client namespace."""
    script = (
        "import json, sys, urllib.request, urllib.error\n"
        "r = urllib.request.Request(sys.argv[1], headers=json.loads(sys.argv[2]))\n"
        "try:\n"
        "    a = urllib.request.urlopen(r, timeout=10); print(a.status); print(a.read().decode())\n"
        "except urllib.error.HTTPError as e:\n"
        "    print(e.code); print(e.read().decode())\n"
    )
    done = sh(
        "ip", "netns", "exec", CLIENT_NS, sys.executable, "-c", script,
        f"http://{metadata_proxy.METADATA_ADDRESS}{path}", json.dumps(headers),
    )  # fmt: skip
    status, _, body = done.stdout.partition("\n")
    return int(status), body


def test_forged_identity_never_reads_another_guests_metadata(
    cloud: Cloud, net: dict, guest: dict
) -> None:
    metadata_line(cloud, guest["id"])  # the guest's own request went through
    client = cloud.openstack_json("port", "create", "--network", net["id"], f"mdp-{SFX}-cli")
    with cloud.client() as admin:
        (dhcp_port,) = admin.get(
            "/networking/v2.0/ports",
            params={"network_id": net["id"], "device_owner": "network:dhcp"},
        ).json()["ports"]
    dhcp_ip = dhcp_port["fixed_ips"][0]["ip_address"]
    sh("ip", "netns", "add", CLIENT_NS)
    sh("ip", "link", "add", CLIENT_DEV, "type", "veth", "peer", "name", "eth0", "netns", CLIENT_NS)
    sh("ip", "link", "set", CLIENT_DEV, "master", names.bridge_name(net["id"]), "up")
    sh("ip", "-n", CLIENT_NS, "link", "set", "eth0", "address", client["mac_address"], "up")
    sh("ip", "-n", CLIENT_NS, "addr", "add", f"{client['fixed_ips'][0]['ip_address']}/24",
       "dev", "eth0")  # fmt: skip
    sh("ip", "-n", CLIENT_NS, "route", "add", f"{metadata_proxy.METADATA_CIDR}", "via", dhcp_ip)
    forged = {
        "X-Instance-ID": guest["id"],
        "X-Instance-ID-Signature": hmac.new(
            b"guessed", guest["id"].encode(), hashlib.sha256
        ).hexdigest(),
        "X-Tenant-ID": guest.get("project_id") or "admin",
        "X-Forwarded-For": "10.78.0.99",
    }
    for path in ("/openstack/latest/meta_data.json", "/latest/meta-data/instance-id"):
        status, body = _client_get(path, forged)
        assert status == 404, body
        assert guest["id"] not in body
    # The service refuses a signature made with another secret, and accepts its own.
    with httpx.Client(base_url=cloud.metadata_url, timeout=10) as direct:  # type: ignore[attr-defined]
        refused = direct.get("/openstack/latest/meta_data.json", headers=forged)
        assert refused.status_code == 403
        assert guest["id"] not in refused.text
        signed = {
            "X-Instance-ID": guest["id"],
            "X-Instance-ID-Signature": metadata_proxy.sign(guest["id"], SECRET),
        }
        own = direct.get("/openstack/latest/meta_data.json", headers=signed)
        assert own.status_code == 200 and own.json()["uuid"] == guest["id"]


def test_config_drive_on_a_host_that_cannot_build_one_is_an_error(cloud: Cloud, net: dict) -> None:
    """A config drive requested on a host whose driver cannot build one (the fake
    driver, on a second compute host of this cloud, added last so that the guests
    above never land there) ends the build in ERROR with a fault naming the config
    drive, and releases the server's port."""
    fake_host = f"{HOST}-fake"
    cloud.add_compute(fake_host, driver="fake")
    server = cloud.openstack_json(
        "server", "create", "--flavor", FLAVOR_ID, "--image", f"tiny-{SFX}",
        "--network", net["id"], "--config-drive", "True",
        "--availability-zone", f"nova:{fake_host}", f"mdp-{SFX}-cd",
        timeout=120,
    )  # fmt: skip
    with cloud.client() as admin:

        def ended() -> dict | None:
            shown = admin.get(f"/compute/v2.1/servers/{server['id']}").json()["server"]
            return shown if shown["status"] in ("ERROR", "ACTIVE") else None

        shown = wait_for(ended, 60, description="the build ended")
        assert shown["status"] == "ERROR", shown
        assert "config drive" in shown["fault"]["message"], shown["fault"]
        assert shown["OS-EXT-SRV-ATTR:host"] in (None, fake_host)
        ports = admin.get("/networking/v2.0/ports", params={"device_id": server["id"]}).json()
        assert ports["ports"] == []
