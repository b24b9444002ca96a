"""Floating IPs end to end, with real parts at every hop: stratus-api, -scheduler,
-conductor, a stratus-compute on libvirt (one QEMU TCG guest of the tiny image,
whose TCP echo service listens on port 7) and a stratus-network-agent that carries
the router (DHCP role), over a real RabbitMQ and SQLite, on real bridges, a
``qrouter`` namespace with nftables NAT, and the security groups' nftables.

One cloud and one guest for the module. The compute host and the network host
are one (the all-in-one layout, VTEP 127.0.0.1: VXLAN devices exist but carry
nothing off the machine). The external network is a bridge with no uplink; the
test reaches it only from a client namespace attached to it, which holds the
external subnet's gateway address (as an upstream router would). The guest's
user data (config drive) connects to the client every second, so the client
sees what source address the guest's traffic leaves with. Tenant and floating
addresses live only in the guest, the router's and DHCP namespaces and the
client namespace; the VNI range is the module's own.
"""

from __future__ import annotations

import contextlib
import random
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stratus.network.linux import names
from tests.integration.test_routers_api import _remove_routers
from tests.integration.test_server_networking import sh, virsh, wait_for
from tests.support.cloud import Cloud

pytestmark = pytest.mark.slow

API = "/networking/v2.0"
SFX = uuid.uuid4().hex[:6]
HOST = f"l3dp-{SFX}"
CLIENT_NS = f"l3dp-{SFX}-cli"
CLIENT_DEV = f"l3c{SFX}"
FLAVOR_ID = f"l3dp-{SFX}"
EXT_CIDR, EXT_GW = "198.51.100.0/24", "198.51.100.1"
TENANT_CIDR = "10.87.0.0/24"
BUSYBOX = shutil.which("busybox") or "/usr/bin/busybox"
VNI = random.randrange(100_000, 16_000_000)
ECHO, SNAT_PORT = 7, 7700
USER_DATA = f"""#!/bin/sh
( while true; do echo snat | timeout 2 nc {EXT_GW} {SNAT_PORT} >/dev/null 2>&1; sleep 1; done ) \
    </dev/null >/dev/null 2>&1 &
"""
# The client's listener: appends each connection's peer address to a file.
RECORDER = (
    "import socket,sys\n"
    "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    "s.bind(('0.0.0.0', int(sys.argv[1]))); s.listen(16)\n"
    "print('ready', flush=True)\n"
    "while True:\n"
    "    c, peer = s.accept(); c.close()\n"
    "    with open(sys.argv[2], 'a') as f: f.write(peer[0] + '\\n')\n"
)
# Probes FIP:7 until it is open (the echo comes back) or closed (no answer);
# prints the seconds that took.
PROBE = (
    "import socket,sys,time\n"
    "addr, want, limit = sys.argv[1], sys.argv[2], float(sys.argv[3])\n"
    "start = time.monotonic()\n"
    "while time.monotonic() - start < limit:\n"
    "    try:\n"
    "        c = socket.create_connection((addr, 7), timeout=0.25)\n"
    "        c.sendall(b'fip\\n'); c.settimeout(1); ok = c.recv(8) == b'fip\\n'; c.close()\n"
    "    except OSError:\n"
    "        ok = False\n"
    "    if ok == (want == 'open'):\n"
    "        print(f'{time.monotonic() - start:.3f}'); sys.exit(0)\n"
    "    time.sleep(0.02)\n"
    "sys.exit(1)\n"
)


def probe(address: str, want: str, limit: float) -> float | None:
    """Seconds until ``address``'s echo port is ``want`` ("open"/"closed") as seen
    from the client, None if it was not within ``limit``."""
    argv = ["ip", "netns", "exec", CLIENT_NS, sys.executable, "-c", PROBE, address, want]
    done = subprocess.run([*argv, str(limit)], capture_output=True, text=True, timeout=limit + 30)
    return float(done.stdout) if done.returncode == 0 else None


def guarded(port_id: str) -> bool:
    """Whether the guest's port has its ingress chain in the host's ``inet stratus``
    table. The table lives in the machine's root namespace, where the agents of
    other clouds running at the same time (other test modules on a shared machine)
    would replace it: the tests say so rather than blame the data plane."""
    done = sh("nft", "list", "chain", "inet", "stratus", f"in-{port_id}", check=False)
    return done.returncode == 0


def pings(address: str, expect: bool) -> bool:
    argv = ["ip", "netns", "exec", CLIENT_NS, BUSYBOX, "ping", "-c", "1"]
    return sh(*argv, "-W", "3" if expect else "1", address, check=False).returncode == 0


class Setup:
    """What the module made: the cloud and its objects."""

    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud
        self.ext: dict[str, Any] = {}
        self.router: dict[str, Any] = {}
        self.server: dict[str, Any] = {}
        self.port: dict[str, Any] = {}
        self.fip: dict[str, Any] = {}
        self.peers = cloud.workdir / "snat-peers"

    def seen(self) -> list[str]:
        return self.peers.read_text().split() if self.peers.exists() else []


@pytest.fixture(scope="module")
def setup(rabbitmq, tiny_images: Path, libvirtd: None, tmp_path_factory) -> Iterator[Setup]:
    cloud = Cloud(
        rabbitmq.transport_url, extra_conf={"network": {"vni_ranges": f"{VNI}:{VNI + 9}"}}
    )
    cloud.start()
    network_conf = {"local_ip": "127.0.0.1", "state_path": cloud.workdir / HOST / "network"}
    cloud.add_compute(HOST, extra={"network": network_conf})
    cloud.add_network_agent(HOST, {**network_conf, "dhcp_agent": "true"})
    s = Setup(cloud)
    recorder: subprocess.Popen[str] | None = None
    try:
        cloud.openstack(
            "flavor", "create", "--id", FLAVOR_ID, "--ram", "128", "--disk", "1", "--vcpus",
            "1", FLAVOR_ID,
        )  # fmt: skip
        cloud.openstack(
            "image", "create", "--disk-format", "qcow2", "--container-format", "bare",
            "--public", "--file", str(tiny_images / "tiny.qcow2"), "tiny",
        )  # fmt: skip
        s.ext = cloud.openstack_json("network", "create", "--external", f"l3dp-{SFX}-ext")
        cloud.openstack(
            "subnet", "create", "--network", s.ext["id"], "--subnet-range", EXT_CIDR,
            "--gateway", EXT_GW, "--no-dhcp", "--allocation-pool",
            "start=198.51.100.10,end=198.51.100.50", f"l3dp-{SFX}-ext-v4",
        )  # fmt: skip
        net = cloud.openstack_json("network", "create", f"l3dp-{SFX}")
        subnet = cloud.openstack_json(
            "subnet", "create", "--network", net["id"], "--subnet-range", TENANT_CIDR,
            f"l3dp-{SFX}-v4",
        )  # fmt: skip
        s.router = cloud.openstack_json("router", "create", f"l3dp-{SFX}")
        cloud.openstack("router", "set", "--external-gateway", s.ext["id"], s.router["id"])
        cloud.openstack("router", "add", "subnet", s.router["id"], subnet["id"])
        s.router = cloud.openstack_json("router", "show", s.router["id"])
        namespace = names.router_namespace(s.router["id"])
        wait_for(
            lambda: namespace in sh("ip", "netns", "list").stdout, 30, "the router's namespace"
        )
        # the client: on the external bridge, with the external subnet's gateway address
        sh("ip", "netns", "add", CLIENT_NS)
        sh("ip", "link", "add", CLIENT_DEV, "type", "veth", "peer", "name", "eth0", "netns",
           CLIENT_NS)  # fmt: skip
        sh("ip", "link", "set", CLIENT_DEV, "master", names.bridge_name(s.ext["id"]), "up")
        sh("ip", "-n", CLIENT_NS, "link", "set", "eth0", "up")
        sh("ip", "-n", CLIENT_NS, "addr", "add", f"{EXT_GW}/24", "dev", "eth0")
        recorder = subprocess.Popen(
            ["ip", "netns", "exec", CLIENT_NS, sys.executable, "-c", RECORDER, str(SNAT_PORT),
             str(s.peers)],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert recorder.stdout is not None and recorder.stdout.readline().strip() == "ready"
        script = tmp_path_factory.mktemp("l3dp") / "user-data.sh"
        script.write_text(USER_DATA)
        s.server = cloud.openstack_json(
            "server", "create", "--flavor", FLAVOR_ID, "--image", "tiny", "--network",
            net["id"], "--config-drive", "True", "--user-data", str(script), "--wait",
            f"l3dp-{SFX}", timeout=300,
        )  # fmt: skip
        (port,) = cloud.openstack_json("port", "list", "--device-id", s.server["id"])
        s.port = cloud.openstack_json("port", "show", port["ID"])
        yield s
    finally:
        if recorder is not None:
            recorder.kill()
            recorder.wait()
        with contextlib.suppress(Exception), cloud.client() as admin:
            _remove_routers(admin)
        with contextlib.suppress(Exception):
            cloud.remove_networks(range(VNI, VNI + 10))
        cloud.stop()
        for domain in virsh("list", "--all", "--uuid").split():
            if str(cloud.workdir) in virsh("dumpxml", domain):
                virsh("destroy", domain)
                virsh("undefine", domain, "--nvram")
        sh("ip", "netns", "delete", CLIENT_NS, check=False)
        if s.router:
            sh("ip", "netns", "delete", names.router_namespace(s.router["id"]), check=False)


def gateway_address(s: Setup) -> str:
    (fixed,) = s.router["external_gateway_info"]["external_fixed_ips"]
    return fixed["ip_address"]


def test_snat_the_client_sees_the_router_gateway_address(setup: Setup) -> None:
    """Before the guest has a floating IP, its connections leave from the router's
    gateway address."""
    wait_for(setup.seen, 240, "the guest's first connection to the client")
    assert set(setup.seen()) == {gateway_address(setup)}


def test_floating_ip_reachable_only_as_the_security_group_allows(setup: Setup) -> None:
    cloud = setup.cloud
    setup.fip = cloud.openstack_json("floating", "ip", "create", setup.ext["id"])
    address = setup.fip["floating_ip_address"]
    cloud.openstack("server", "add", "floating", "ip", setup.server["id"], address)
    namespace = names.router_namespace(setup.router["id"])
    wait_for(
        lambda: address in sh("ip", "-n", namespace, "addr").stdout, 30, "the FIP on the router"
    )
    # the default group: nothing from outside the group reaches the guest
    assert guarded(setup.port["id"]), "the guest's firewall chain is gone (another agent?)"
    assert probe(address, "open", 2) is None
    assert not pings(address, expect=False)
    (group,) = setup.port["security_group_ids"]
    tcp = cloud.openstack_json(
        "security", "group", "rule", "create", "--protocol", "tcp", "--dst-port", str(ECHO),
        group,
    )  # fmt: skip
    opened = probe(address, "open", 10)
    assert opened is not None, "the echo port stayed closed"
    assert not pings(address, expect=False)  # TCP only
    cloud.openstack("security", "group", "rule", "create", "--protocol", "icmp", group)
    wait_for(lambda: pings(address, expect=True), 10, "ping through the floating IP")
    # the guest's own traffic now leaves from its floating IP
    before = len(setup.seen())
    wait_for(lambda: address in setup.seen()[before:], 30, "a connection from the FIP")
    # deleting the rule blocks again within a second
    with cloud.client() as admin:
        assert admin.delete(f"{API}/security-group-rules/{tcp['id']}").status_code == 204
        closed = probe(address, "closed", 10)
    assert closed is not None and closed < 1.0, f"closed after {closed} s"
    print(f"\nFIP echo port: open {opened:.2f} s after the rule, closed {closed:.2f} s after")


def test_released_floating_ip_is_unreachable(setup: Setup) -> None:
    address = setup.fip["floating_ip_address"]
    setup.cloud.openstack("floating", "ip", "delete", setup.fip["id"])
    namespace = names.router_namespace(setup.router["id"])
    wait_for(lambda: address not in sh("ip", "-n", namespace, "addr").stdout, 30, "the FIP removed")
    assert not pings(address, expect=False)
    before = len(setup.seen())
    wait_for(lambda: len(setup.seen()) > before + 1, 30, "more connections from the guest")
    assert setup.seen()[-1] == gateway_address(setup)
