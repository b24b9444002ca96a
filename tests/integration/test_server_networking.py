"""Servers on networks end to end, with real parts at every hop: stratus-api,
-scheduler, -conductor, a stratus-compute on libvirt (QEMU TCG guests booting the
tiny image) and a stratus-network-agent serving DHCP, over a real RabbitMQ and
SQLite, on real Linux bridges, a VXLAN device, a DHCP namespace with dnsmasq, and
a test client namespace.

One cloud for the module. The compute host and the network agent are one host
(the all-in-one layout); its VTEP address is 127.0.0.1, so the vxlan network's
device exists but carries nothing off the machine. Tenant addresses live only in
the guests, the DHCP namespace and the test client namespace; the VNI range is
the module's own so that clouds of other tests never share a VXLAN device.
"""

from __future__ import annotations

import contextlib
import json
import random
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from stratus.network.linux import names
from tests.support.cloud import Cloud

pytestmark = pytest.mark.slow

SFX = uuid.uuid4().hex[:6]
HOST = f"netcompute-{SFX}"
CLIENT_NS = f"netcompute-{SFX}-cli"
CLIENT_DEV = f"ncc{SFX}"
FLAVOR_ID = f"netcompute-{SFX}"
CIDR = "10.77.0.0/24"
BUSYBOX = shutil.which("busybox") or "/usr/bin/busybox"
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


def wait_for(predicate: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def cloud(rabbitmq, tiny_images: Path, libvirtd: None) -> Iterator[Cloud]:
    cloud = Cloud(
        rabbitmq.transport_url,
        extra_conf={"network": {"vni_ranges": f"{VNI}:{VNI + 20}"}},
    )
    cloud.start()
    network_conf = {
        "local_ip": "127.0.0.1",
        "state_path": cloud.workdir / HOST / "network",
    }
    cloud.add_compute(HOST, extra={"network": network_conf})
    cloud.add_network_agent(HOST, {**network_conf, "dhcp_agent": "true"})
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
        with contextlib.suppress(Exception):
            remove_all(cloud)
        cloud.stop()
        for domain in virsh("list", "--all", "--uuid").split():
            if str(cloud.workdir) in virsh("dumpxml", domain):
                virsh("destroy", domain)
                virsh("undefine", domain, "--nvram")
        sh("ip", "netns", "delete", CLIENT_NS, check=False)


def remove_all(cloud: Cloud) -> None:
    """Delete what the tests made through the API and wait until the agent removed
    the networks' bridges and DHCP namespaces."""
    with cloud.client() as admin:
        for server in admin.get("/compute/v2.1/servers").json()["servers"]:
            admin.delete(f"/compute/v2.1/servers/{server['id']}")
        wait_for(
            lambda: not admin.get("/compute/v2.1/servers").json()["servers"], 60, "servers gone"
        )
        sh("ip", "netns", "delete", CLIENT_NS, check=False)
        networks = admin.get("/networking/v2.0/networks").json()["networks"]
        for port in admin.get("/networking/v2.0/ports").json()["ports"]:
            if port["device_owner"] != "network:dhcp":
                admin.delete(f"/networking/v2.0/ports/{port['id']}")
        for network in networks:
            admin.delete(f"/networking/v2.0/networks/{network['id']}")
    for network in networks:
        wait_for(
            lambda n=network: (
                not Path(f"/sys/class/net/{names.bridge_name(n['id'])}").exists()
                and names.dhcp_namespace(n["id"]) not in sh("ip", "netns", "list").stdout
            ),
            30,
            f"the data plane of network {network['id']} removed",
        )


def console(cloud: Cloud, server_id: str) -> str:
    path = cloud.workdir / HOST / "instances" / server_id / "console.log"
    return path.read_text(errors="replace") if path.exists() else ""


def guest_ip(cloud: Cloud, server_id: str, timeout: float = 180) -> str:
    """The address the guest printed as its DHCP lease on eth0."""
    found: list[str] = []

    def leased() -> bool:
        for line in console(cloud, server_id).splitlines():
            if line.startswith("STRATUS-GUEST-IP eth0 "):
                found.append(line.split()[2])
                return True
        return False

    try:
        wait_for(leased, timeout, f"a DHCP lease on {server_id}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; console:\n{console(cloud, server_id)[-2000:]}") from None
    return found[0]


def boot(cloud: Cloud, name: str, networks: object, expect: int = 202) -> dict:
    """POST /servers; returns the response body (the server when 202)."""
    with cloud.client(microversion="2.100") as admin:
        image_id = admin.get("/image/v2/images", params={"name": "tiny"}).json()["images"][0]["id"]
        response = admin.post(
            "/compute/v2.1/servers",
            json={
                "server": {
                    "name": name,
                    "imageRef": image_id,
                    "flavorRef": FLAVOR_ID,
                    "networks": networks,
                }
            },
        )
    assert response.status_code == expect, response.text
    return response.json()


def wait_active(cloud: Cloud, server_id: str, timeout: float = 120) -> dict:
    with cloud.client(microversion="2.100") as admin:
        deadline = time.monotonic() + timeout
        while True:
            server = admin.get(f"/compute/v2.1/servers/{server_id}").json()["server"]
            if server["status"] == "ACTIVE" and not server["OS-EXT-STS:task_state"]:
                return server
            assert server["status"] != "ERROR", server.get("fault")
            assert time.monotonic() < deadline, f"{server_id} is {server['status']}"
            time.sleep(0.05)


@pytest.fixture(scope="module")
def net(cloud: Cloud) -> dict:
    network = cloud.openstack_json("network", "create", f"netcompute-{SFX}")
    cloud.openstack_json(
        "subnet", "create", "--network", network["id"], "--subnet-range", CIDR,
        f"netcompute-{SFX}-v4",
    )  # fmt: skip
    return network


@pytest.fixture(scope="module")
def first(cloud: Cloud, net: dict) -> dict:
    """A server created with the CLI, --network N --wait."""
    return cloud.openstack_json(
        "server", "create", "--flavor", FLAVOR_ID, "--image", "tiny",
        "--network", net["id"], "--wait", f"netcompute-{SFX}-a",
        timeout=300,
    )  # fmt: skip


def test_server_on_a_network_shows_the_address_its_guest_leased(
    cloud: Cloud, net: dict, first: dict
) -> None:
    shown = cloud.openstack_json("server", "show", first["id"])
    addresses = shown["addresses"]
    assert list(addresses) == [net["name"]], addresses
    leased = guest_ip(cloud, first["id"])
    assert leased.endswith("/24")
    assert addresses[net["name"]] == [leased.split("/")[0]]
    with cloud.client(microversion="2.100") as admin:
        body = admin.get(f"/compute/v2.1/servers/{first['id']}").json()["server"]
    (entry,) = body["addresses"][net["name"]]
    ports = cloud.openstack_json("port", "list", "--device-id", first["id"], "--long")
    assert len(ports) == 1
    port = cloud.openstack_json("port", "show", ports[0]["ID"])
    assert entry == {
        "version": 4,
        "addr": leased.split("/")[0],
        "OS-EXT-IPS:type": "fixed",
        "OS-EXT-IPS-MAC:mac_addr": port["mac_address"],
    }
    assert port["device_owner"] == "compute:nova"
    assert port["binding_host_id"] == HOST
    assert port["status"] == "ACTIVE"
    # The domain plugs the port's tap into the network's bridge.
    xml = virsh("dumpxml", first["id"])
    assert f"<source bridge='{names.bridge_name(net['id'])}'/>" in xml
    assert f"<target dev='{names.tap_name(port['id'])}'/>" in xml
    # ?ip= filters on the cached addresses.
    listed = cloud.openstack_json("server", "list", "--ip", entry["addr"] + "$")
    assert [s["ID"] for s in listed] == [first["id"]]
    assert cloud.openstack_json("server", "list", "--ip", "^192\\.0\\.2\\.") == []


def test_nic_port_id_and_guests_reach_each_other(cloud: Cloud, net: dict, first: dict) -> None:
    """A second server on a port the user made; a client namespace on the bridge
    with a third port's address pings both guests and talks to one's echo service.
    Deleting the server keeps the user's port, unbound."""
    given = cloud.openstack_json("port", "create", "--network", net["id"], "given")
    done = cloud.openstack(
        "server", "create", "-f", "json", "--flavor", FLAVOR_ID, "--image", "tiny",
        "--nic", f"port-id={given['id']}", f"netcompute-{SFX}-b",
    )  # fmt: skip
    second = json.loads(done.stdout)
    wait_active(cloud, second["id"])
    address = given["fixed_ips"][0]["ip_address"]
    assert guest_ip(cloud, second["id"]) == f"{address}/24"
    client = cloud.openstack_json("port", "create", "--network", net["id"], "client")
    sh("ip", "netns", "add", CLIENT_NS)
    sh("ip", "link", "add", CLIENT_DEV, "type", "veth", "peer", "name", "eth0", "netns", CLIENT_NS)
    sh("ip", "link", "set", CLIENT_DEV, "master", names.bridge_name(net["id"]), "up")
    sh("ip", "-n", CLIENT_NS, "link", "set", "eth0", "address", client["mac_address"], "up")
    client_ip = client["fixed_ips"][0]["ip_address"]
    sh("ip", "-n", CLIENT_NS, "addr", "add", f"{client_ip}/24", "dev", "eth0")
    first_ip = guest_ip(cloud, first["id"]).split("/")[0]
    for target in (first_ip, address):
        ping = sh("ip", "netns", "exec", CLIENT_NS, BUSYBOX, "ping", "-c", "3", "-W", "3", target,
                  check=False)  # fmt: skip
        assert ping.returncode == 0, f"{target}: {ping.stdout}{ping.stderr}"
    echo = sh("ip", "netns", "exec", CLIENT_NS, sys.executable, "-c", (
        f"import socket; s = socket.create_connection(({address!r}, 7), timeout=10); "
        "s.sendall(b'stratus-netcompute\\n'); print(s.recv(100).decode().strip())"
    ))  # fmt: skip
    assert echo.stdout.strip() == "stratus-netcompute"

    cloud.openstack("server", "delete", "--wait", second["id"], timeout=120)
    kept = cloud.openstack_json("port", "show", given["id"])
    assert (kept["device_id"], kept["binding_host_id"]) == ("", "")
    assert kept["fixed_ips"][0]["ip_address"] == address


def test_deleting_a_server_removes_its_ports_and_dhcp_entries(cloud: Cloud, net: dict) -> None:
    server = boot(cloud, f"netcompute-{SFX}-c", [{"uuid": net["id"]}])["server"]
    wait_active(cloud, server["id"])
    (port,) = cloud.openstack_json("port", "list", "--device-id", server["id"])
    hosts = cloud.workdir / HOST / "network" / "dhcp" / net["id"] / "host"
    mac = port["MAC Address"].lower()
    wait_for(lambda: mac in hosts.read_text().lower(), 30, "the port's DHCP entry")
    cloud.openstack("server", "delete", "--wait", server["id"], timeout=120)
    assert cloud.openstack_json("port", "list", "--device-id", server["id"]) == []
    assert cloud.openstack("port", "show", port["ID"], check=False).returncode != 0
    wait_for(lambda: mac not in hosts.read_text().lower(), 30, "the DHCP entry removed")


def test_bad_network_requests_are_400_naming_them(cloud: Cloud, net: dict) -> None:
    with cloud.client() as admin:
        before = len(admin.get("/compute/v2.1/servers").json()["servers"])
        ports_before = len(admin.get("/networking/v2.0/ports").json()["ports"])
    unknown = str(uuid.uuid4())
    body = boot(cloud, "bad", [{"uuid": unknown}], expect=400)
    assert unknown in body["badRequest"]["message"], body
    body = boot(cloud, "bad", [{"port": unknown}], expect=400)
    assert unknown in body["badRequest"]["message"], body
    body = boot(cloud, "bad", [{"uuid": net["id"], "fixed_ip": "192.0.2.9"}], expect=400)
    assert "fixed_ip" in body["badRequest"]["message"], body
    cli = cloud.openstack(
        "server", "create", "--flavor", FLAVOR_ID, "--image", "tiny", "--network", unknown, "bad",
        check=False,
    )  # fmt: skip
    assert cli.returncode != 0
    other = cloud.openstack_json("network", "create", f"netcompute-{SFX}-other")
    try:
        body = boot(cloud, "bad", "auto", expect=400)
        assert "networks" in body["badRequest"]["message"], body
    finally:
        cloud.openstack("network", "delete", other["id"])
    with cloud.client() as admin:
        assert len(admin.get("/compute/v2.1/servers").json()["servers"]) == before
        assert len(admin.get("/networking/v2.0/ports").json()["ports"]) == ports_before


def test_add_network_and_remove_port_on_a_running_guest(cloud: Cloud, first: dict) -> None:
    """os-interface through the CLI: a NIC on a second network is hot-plugged into
    the running guest, which takes that port's address by DHCP; removing the port
    unplugs it and deletes the port Stratus made."""
    other = cloud.openstack_json("network", "create", f"netcompute-{SFX}-hot")
    cloud.openstack(
        "subnet", "create", "--network", other["id"], "--subnet-range", "10.78.0.0/24",
        f"netcompute-{SFX}-hot-v4",
    )  # fmt: skip
    cloud.openstack("server", "add", "network", first["id"], other["id"])
    ports = cloud.openstack_json(
        "port", "list", "--device-id", first["id"], "--network", other["id"]
    )
    assert len(ports) == 1, ports
    port = cloud.openstack_json("port", "show", ports[0]["ID"])
    address = port["fixed_ips"][0]["ip_address"]
    marker = f"STRATUS-GUEST-IP eth1 {address}/24"
    wait_for(lambda: marker in console(cloud, first["id"]), 120, f"{marker!r} on the guest")
    assert port["status"] == "ACTIVE"
    shown = cloud.openstack_json("server", "show", first["id"])["addresses"]
    assert shown[other["name"]] == [address]
    assert names.tap_name(port["id"]) in virsh("dumpxml", first["id"])

    cloud.openstack("server", "remove", "port", first["id"], port["id"])
    wait_for(
        lambda: names.tap_name(port["id"]) not in virsh("dumpxml", first["id"]),
        60,
        "the NIC unplugged",
    )
    assert other["name"] not in cloud.openstack_json("server", "show", first["id"])["addresses"]
    assert cloud.openstack("port", "show", port["id"], check=False).returncode != 0


def test_boot_latency_with_and_without_a_network(cloud: Cloud, net: dict) -> None:
    """API-to-ACTIVE of a guest with a cached image, without a network and on one
    (printed; the network's share is the port's creation, binding and plugging)."""
    timings: dict[str, list[float]] = {"none": [], "network": []}
    for round_ in range(3):
        for kind, networks in (("none", "none"), ("network", [{"uuid": net["id"]}])):
            started = time.monotonic()
            server = boot(cloud, f"netcompute-{SFX}-t{kind}{round_}", networks)["server"]
            wait_active(cloud, server["id"])
            timings[kind].append(time.monotonic() - started)
            cloud.openstack("server", "delete", "--wait", server["id"], timeout=120)
    median = {kind: statistics.median(values) for kind, values in timings.items()}
    print(
        f"\nAPI-to-ACTIVE (median of 3): no network {median['none'] * 1000:.0f} ms, on a "
        f"network {median['network'] * 1000:.0f} ms "
        f"(added {(median['network'] - median['none']) * 1000:.0f} ms)"
    )
    assert median["network"] < median["none"] + 5


def test_deleting_everything_removes_the_data_plane(cloud: Cloud, net: dict) -> None:
    """Last: with the servers, ports and networks deleted, the agent removes the
    bridge, the VXLAN device and the DHCP namespace with its dnsmasq."""
    vni = cloud.openstack_json("network", "show", net["id"])["provider:segmentation_id"]
    assert Path(f"/sys/class/net/{names.vxlan_name(vni)}").exists()
    remove_all(cloud)
    assert not Path(f"/sys/class/net/{names.vxlan_name(vni)}").exists()
    assert not (cloud.workdir / HOST / "network" / "dhcp" / net["id"]).exists()
