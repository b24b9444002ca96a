"""Routers on real kernel objects and real traffic: ``qrouter`` namespaces, veth
pairs into the networks' bridges, routes, and NAT by nftables.

A test "host" namespace holds the bridges the network agent makes for three
VXLAN networks (no remote VTEP: nothing leaves the host namespace): an external
one and two tenant ones. Small "guest" namespaces sit on the tenant bridges
(veth pairs with the ports' MACs and addresses, default route via the router
interface) and a "client" namespace on the external bridge holds the external
subnet's gateway address, as an upstream router would. The agent's reconcile
builds the router through the forked privsep daemon. Nothing is created in the
root namespace; every object is named with ``l3dp`` and a random suffix (or the
random router and network ids) and removed at the end. One agent and one router
for the module; the tests run in file order and each leaves the state as it
found it unless it says otherwise.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from oslo_privsep import priv_context
from pyroute2 import Conntrack

from stratus.network.agent import AgentConfig, NetworkAgent
from stratus.network.linux import names, privileged, router
from stratus.privsep import sys_admin_pctxt
from tests.integration.test_firewall import BUSYBOX, sh

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("nft") is None, reason="needs root and nft (nftables)"
)

SUFFIX = uuid.uuid4().hex[:6]
HOST = f"l3dp-host-{SUFFIX}"
CLIENT = f"l3dp-cli-{SUFFIX}"
ECHO_PORT = 7777
EXT_CIDR, EXT_GW, ROUTER_GW = "203.0.113.0/24", "203.0.113.1", "203.0.113.10"
FIP, PF_FIP = "203.0.113.20", "203.0.113.21"
BEHIND_G1 = "10.93.0.1"  # an address behind guest g1 (a static route's target)
# guest -> (network, ip, mac)
GUESTS = {
    "g1": ("a", "10.91.0.11", "fa:16:3e:91:00:11"),
    "g2": ("a", "10.91.0.12", "fa:16:3e:91:00:12"),
    "g3": ("b", "10.92.0.13", "fa:16:3e:92:00:13"),
}
# tenant network -> (cidr, router interface address)
TENANTS = {"a": ("10.91.0.0/24", "10.91.0.1"), "b": ("10.92.0.0/24", "10.92.0.1")}
# Answers each connection with "<name> <peer address>": who answered, and whom it saw.
LISTENER = (
    "import socket,sys\n"
    "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    "s.bind(('0.0.0.0', int(sys.argv[1]))); s.listen(16)\n"
    "print('ready', flush=True)\n"
    "while True:\n"
    "    c, peer = s.accept(); c.sendall(f'{sys.argv[2]} {peer[0]}'.encode()); c.close()\n"
)


def guest_ns(name: str) -> str:
    return f"l3dp-{name}-{SUFFIX}"


def talk(ns: str, address: str, port: int = ECHO_PORT, expect: bool = True) -> str | None:
    """What the listener at ``address`` answers a connection from ``ns`` ("<name>
    <peer>"), None if nothing answers (``expect``: wait longer, it should)."""
    timeout = 3 if expect else 1
    code = (
        "import socket,sys\n"
        "try:\n"
        f"    c = socket.create_connection(({address!r}, {port}), timeout={timeout})\n"
        "    print(c.recv(64).decode())\n"
        "except OSError:\n"
        "    sys.exit(1)\n"
    )
    done = sh("ip", "netns", "exec", ns, sys.executable, "-c", code, check=False)
    return done.stdout.strip() if done.returncode == 0 else None


def pings(ns: str, address: str, expect: bool = True) -> bool:
    argv = ["ip", "netns", "exec", ns, BUSYBOX, "ping", "-c", "1", "-W", "3" if expect else "1"]
    return sh(*argv, address, check=False).returncode == 0


def uid(what: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"l3dp-{SUFFIX}/{what}"))


class Cloud:
    """The desired state of the test host (one router) and the agent that applies it."""

    def __init__(self, agent: NetworkAgent) -> None:
        self.agent = agent
        self.net = {"ext": uid("net-ext"), "a": uid("net-a"), "b": uid("net-b")}
        self.vni = {name: 700_000 + i * 7 + int(SUFFIX, 16) % 7 for i, name in enumerate(self.net)}
        self.router_id = uid("router")
        self.namespace = names.router_namespace(self.router_id)
        self.gateway_port = uid("port-gw")
        self.routes: list[dict[str, str]] = [
            {"destination": "10.93.0.0/24", "nexthop": "10.91.0.11"}
        ]
        self.floating_ips: list[dict[str, str]] = []
        self.port_forwardings: list[dict[str, Any]] = []
        self.enable_snat = True
        self.with_router = True
        self.attached = list(TENANTS)

    def bridge(self, net: str) -> str:
        return names.bridge_name(self.net[net])

    def network(self, net: str) -> dict[str, Any]:
        cidr, gateway = (EXT_CIDR, EXT_GW) if net == "ext" else TENANTS[net]
        return {
            "id": self.net[net],
            "mtu": 1450,
            "network_type": "vxlan",
            "physical_network": None,
            "segmentation_id": self.vni[net],
            "dhcp": False,
            "subnets": [{"id": uid(f"sub-{net}"), "cidr": cidr, "ip_version": 4,
                         "gateway_ip": gateway, "enable_dhcp": False}],
            "ports": [],
            "remote_vteps": [],
        }  # fmt: skip

    def router(self) -> dict[str, Any]:
        def port(net: str, port_id: str, ip: str, **extra: Any) -> dict[str, Any]:
            cidr = EXT_CIDR if net == "ext" else TENANTS[net][0]
            return {
                "port_id": port_id,
                "mac_address": "fa:16:3e:" + ":".join(port_id[i : i + 2] for i in (0, 2, 4)),
                "network_id": self.net[net],
                "bridge_name": self.bridge(net),
                "mtu": 1450,
                "fixed_ips": [{"subnet_id": uid(f"sub-{net}"), "ip_address": ip, "cidr": cidr,
                               **extra}],
            }  # fmt: skip

        gateway = port("ext", self.gateway_port, ROUTER_GW, gateway_ip=EXT_GW)
        return {
            "id": self.router_id,
            "admin_state_up": True,
            "gateway": {**gateway, "enable_snat": self.enable_snat},
            "interfaces": [
                port(net, uid(f"port-r-{net}"), TENANTS[net][1]) for net in self.attached
            ],
            "routes": self.routes,
            "floating_ips": self.floating_ips,
            "port_forwardings": self.port_forwardings,
        }

    def state(self) -> dict[str, Any]:
        return {
            "host": HOST,
            "vtep_ip": "192.0.2.1",
            "networks": [self.network(net) for net in self.net],
            "routers": [self.router()] if self.with_router else [],
        }

    def reconcile(self, agent: NetworkAgent | None = None, **kwargs: Any) -> Any:
        result = (agent or self.agent).reconcile(copy.deepcopy(self.state()), **kwargs)
        assert not result.errors, result.errors
        return result

    def reconcile_timed(self) -> float:
        """Reconcile; the seconds its routers' part took (the networks' bridges
        and segments, unchanged here, are the rest)."""
        spent: list[float] = []
        routers = self.agent.routers.reconcile

        def timed(*args: Any, **kwargs: Any) -> list[str]:
            started = time.monotonic()
            try:
                return routers(*args, **kwargs)
            finally:
                spent.append(time.monotonic() - started)

        self.agent.routers.reconcile = timed  # type: ignore[method-assign]
        try:
            self.reconcile()
        finally:
            del self.agent.routers.reconcile
        return spent[0]

    def associate(self, guest: str | None) -> None:
        ip = GUESTS[guest][1] if guest else None
        self.floating_ips = (
            [{"id": uid("fip"), "floating_ip_address": FIP, "fixed_ip_address": ip}] if ip else []
        )


@pytest.fixture(scope="module")
def cloud() -> Iterator[Cloud]:
    started = sys_admin_pctxt.channel is None
    if started:
        sys_admin_pctxt.start(priv_context.Method.FORK)
    state_path = tempfile.mkdtemp(prefix="stratus-l3dp-", dir="/var/tmp")
    namespaces = [HOST, CLIENT, *(guest_ns(g) for g in GUESTS)]
    listeners: list[subprocess.Popen[str]] = []
    c = Cloud(NetworkAgent(HOST, AgentConfig(state_path=state_path), netns=HOST))
    try:
        for ns in namespaces:
            privileged.ensure_namespace(ns)
        c.reconcile()
        for name, (net, ip, mac) in GUESTS.items():
            privileged.plug_namespace_port(
                guest_ns(name), "eth0", names.tap_name(uid(name)), c.bridge(net), mac, 1450,
                [f"{ip}/24"], HOST,
            )  # fmt: skip
            sh("ip", "-n", guest_ns(name), "route", "add", "default", "via", TENANTS[net][1])
        sh("ip", "-n", guest_ns("g1"), "addr", "add", f"{BEHIND_G1}/32", "dev", "lo")
        privileged.plug_namespace_port(
            CLIENT, "eth0", names.tap_name(uid("client")), c.bridge("ext"), "fa:16:3e:ee:00:01",
            1450, [f"{EXT_GW}/24"], HOST,
        )  # fmt: skip
        for ns, name in [(guest_ns(g), g) for g in GUESTS] + [(CLIENT, "client")]:
            listeners.append(
                subprocess.Popen(
                    [
                        "ip",
                        "netns",
                        "exec",
                        ns,
                        sys.executable,
                        "-c",
                        LISTENER,
                        str(ECHO_PORT),
                        name,
                    ],
                    stdout=subprocess.PIPE,
                    text=True,
                )  # fmt: skip
            )
        for proc in listeners:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        yield c
    finally:
        for proc in listeners:
            proc.kill()
            proc.wait()
        try:
            c.agent.reconcile({"host": HOST, "networks": [], "routers": []})
        finally:
            privileged.delete_namespace(c.namespace)
            for ns in namespaces:
                privileged.delete_namespace(ns)
            shutil.rmtree(state_path, ignore_errors=True)
            if started:
                sys_admin_pctxt.stop()


def ns_addresses(ns: str, dev: str) -> set[str]:
    out = json.loads(sh("ip", "-n", ns, "-j", "addr", "show", "dev", dev).stdout)
    return {f"{a['local']}/{a['prefixlen']}" for a in out[0]["addr_info"] if a["family"] == "inet"}


def ns_routes(ns: str) -> set[tuple[str, str | None]]:
    out = json.loads(sh("ip", "-n", ns, "-j", "-4", "route", "show").stdout)
    return {(r["dst"], r.get("gateway")) for r in out}


def tracked(ns: str, address: str) -> int:
    """How many connections the namespace's conntrack holds with ``address`` in them."""
    with Conntrack(netns=ns, flags=0) as ct:
        return sum(
            address in (e.tuple_orig.saddr, e.tuple_orig.daddr, e.tuple_reply.saddr)
            for e in ct.dump_entries()
        )


def neighbour_mac(ns: str, address: str) -> str | None:
    out = json.loads(sh("ip", "-n", ns, "-j", "neigh", "show", address).stdout)
    return out[0].get("lladdr") if out else None


def root_addresses() -> str:
    return sh("ip", "-j", "addr", "show").stdout


# --- the tests ------------------------------------------------------------------------


def test_router_namespace_ports_routes_and_idempotence(cloud: Cloud) -> None:
    ns = cloud.namespace
    qg = names.router_device_name(cloud.gateway_port, gateway=True)
    qr_a = names.router_device_name(uid("port-r-a"))
    assert ns in privileged.list_namespaces()
    assert ns_addresses(ns, qg) == {f"{ROUTER_GW}/24"}
    assert ns_addresses(ns, qr_a) == {"10.91.0.1/24"}
    host = {link["name"]: link for link in privileged.list_links(HOST)}
    assert host[names.tap_name(cloud.gateway_port)]["master"] == cloud.bridge("ext")
    assert host[names.tap_name(uid("port-r-b"))]["master"] == cloud.bridge("b")
    assert host[names.tap_name(uid("port-r-b"))]["mtu"] == 1450
    assert ("default", EXT_GW) in ns_routes(ns)
    assert ("10.93.0.0/24", "10.91.0.11") in ns_routes(ns)
    assert (
        sh("ip", "netns", "exec", ns, "sysctl", "-n", "net.ipv4.ip_forward").stdout.strip() == "1"
    )
    assert privileged.nft_list_table("ip", router.TABLE, ns) is not None
    # the host's root namespace got no address of the router's
    assert ROUTER_GW not in root_addresses() and "10.91.0.1" not in root_addresses()

    again = cloud.reconcile()
    assert (again.created, again.removed, again.reloaded) == ([], [], [])


def test_snat_and_routing_between_subnets(cloud: Cloud) -> None:
    # out through the gateway: the client sees the router's gateway address
    assert talk(guest_ns("g1"), EXT_GW) == f"client {ROUTER_GW}"
    # between internal subnets: routed, no NAT
    assert talk(guest_ns("g3"), GUESTS["g1"][1]) == f"g1 {GUESTS['g3'][1]}"
    # a static route: 10.93.0.0/24 via g1
    assert talk(guest_ns("g3"), BEHIND_G1) == f"g1 {GUESTS['g3'][1]}"
    # SNAT off: the guest's own address goes out, and the client cannot answer it
    cloud.enable_snat = False
    try:
        assert cloud.reconcile().reloaded == [f"{cloud.namespace}:nat"]
        assert talk(guest_ns("g1"), EXT_GW, expect=False) is None
    finally:
        cloud.enable_snat = True
        cloud.reconcile()
    assert talk(guest_ns("g1"), EXT_GW) == f"client {ROUTER_GW}"


def test_floating_ip_reaches_moves_and_goes(cloud: Cloud) -> None:
    qg = names.router_device_name(cloud.gateway_port, gateway=True)
    assert talk(CLIENT, FIP, expect=False) is None
    # a neighbour that remembers another MAC for the address (it was elsewhere)
    sh("ip", "-n", CLIENT, "neigh", "replace", FIP, "lladdr", "02:00:00:00:00:99",
       "dev", "eth0", "nud", "stale")  # fmt: skip
    cloud.associate("g1")
    cloud.reconcile()
    assert f"{FIP}/32" in ns_addresses(cloud.namespace, qg)
    # the gratuitous ARP taught it the router's MAC
    assert neighbour_mac(CLIENT, FIP) == cloud.router()["gateway"]["mac_address"]
    # DNAT: the client reaches g1, which sees the client's own address
    assert talk(CLIENT, FIP) == f"g1 {EXT_GW}"
    assert pings(CLIENT, FIP)
    # SNAT: g1's own connections leave from its floating IP
    assert talk(guest_ns("g1"), EXT_GW) == f"client {FIP}"
    # g2, without one, still leaves from the gateway address
    assert talk(guest_ns("g2"), EXT_GW) == f"client {ROUTER_GW}"

    # moved to g2: effective within a second of the change, and the connections
    # tracked with the old mapping are forgotten
    assert tracked(cloud.namespace, FIP) > 0
    cloud.associate("g2")
    applied = cloud.reconcile_timed()
    # the first connection after the reconcile reaches g2
    assert talk(CLIENT, FIP) == f"g2 {EXT_GW}"
    assert applied < 1.0, f"the move took {applied:.2f} s"
    assert tracked(cloud.namespace, FIP) == 1  # only the new connection
    assert talk(guest_ns("g2"), EXT_GW) == f"client {FIP}"
    assert talk(guest_ns("g1"), EXT_GW) == f"client {ROUTER_GW}"

    # disassociated (and released): unreachable, no longer answered for
    cloud.associate(None)
    cloud.reconcile()
    assert f"{FIP}/32" not in ns_addresses(cloud.namespace, qg)
    assert talk(CLIENT, FIP, expect=False) is None
    assert not pings(CLIENT, FIP, expect=False)
    assert talk(guest_ns("g2"), EXT_GW) == f"client {ROUTER_GW}"


def test_port_forwarding(cloud: Cloud) -> None:
    cloud.port_forwardings = [
        {"id": uid("pf"), "floating_ip_address": PF_FIP, "protocol": "tcp",
         "external_port": 2222, "internal_ip_address": GUESTS["g2"][1],
         "internal_port": ECHO_PORT},
    ]  # fmt: skip
    try:
        cloud.reconcile()
        assert talk(CLIENT, PF_FIP, 2222) == f"g2 {EXT_GW}"
        assert talk(CLIENT, PF_FIP, ECHO_PORT, expect=False) is None  # only the forwarded port
    finally:
        cloud.port_forwardings = []
        cloud.reconcile()
    assert talk(CLIENT, PF_FIP, 2222, expect=False) is None


def test_a_bad_route_is_reported_and_the_rest_stands(cloud: Cloud) -> None:
    cloud.routes.append({"destination": "10.94.0.0/24", "nexthop": "10.99.0.1"})  # off-link
    try:
        result = cloud.agent.reconcile(cloud.state())
        assert set(result.errors) == {f"router:{cloud.router_id}:routes"}
        assert "10.94.0.0/24 via 10.99.0.1" in result.errors[f"router:{cloud.router_id}:routes"]
        assert ("10.93.0.0/24", "10.91.0.11") in ns_routes(cloud.namespace)
        assert talk(guest_ns("g1"), EXT_GW) == f"client {ROUTER_GW}"
    finally:
        cloud.routes.pop()
        cloud.reconcile()


def test_restart_reconciles_without_duplicates(cloud: Cloud) -> None:
    cloud.associate("g1")
    cloud.reconcile()
    restarted = NetworkAgent(HOST, cloud.agent.config, netns=HOST)
    result = cloud.reconcile(restarted)
    assert (result.created, result.removed, result.reloaded) == ([], [], [])
    qg = names.router_device_name(cloud.gateway_port, gateway=True)
    assert ns_addresses(cloud.namespace, qg) == {f"{ROUTER_GW}/24", f"{FIP}/32"}
    rules = privileged.nft_list_table("ip", router.TABLE, cloud.namespace)
    assert rules is not None
    dnat = [item for item in rules["nftables"] if "rule" in item and "dnat" in json.dumps(item)]
    assert len(dnat) == 1
    assert talk(CLIENT, FIP) == f"g1 {EXT_GW}"
    cloud.agent = restarted


def test_a_removed_interface_goes_with_its_veth_pair(cloud: Cloud) -> None:
    qr_b = names.router_device_name(uid("port-r-b"))
    cloud.attached = ["a"]
    try:
        listed = cloud.reconcile(prune=False)
        assert f"router-port:{cloud.router_id}:{qr_b}" in listed.stale
        assert qr_b in privileged.router_devices(cloud.namespace)["links"]
        pruned = cloud.reconcile()
        assert f"{cloud.namespace}:{qr_b}" in pruned.removed
        assert qr_b not in privileged.router_devices(cloud.namespace)["links"]
        assert names.tap_name(uid("port-r-b")) not in links_of(HOST)
        assert talk(guest_ns("g3"), GUESTS["g1"][1], expect=False) is None
        # NAT no longer names the subnet
        assert "10.92.0.0/24" not in json.dumps(
            privileged.nft_list_table("ip", router.TABLE, cloud.namespace)
        )
    finally:
        cloud.attached = list(TENANTS)
        cloud.reconcile()
    assert talk(guest_ns("g3"), GUESTS["g1"][1]) == f"g1 {GUESTS['g3'][1]}"


def links_of(netns: str) -> set[str]:
    return {link["name"] for link in privileged.list_links(netns)}


def test_removal(cloud: Cloud) -> None:
    """Last: the router leaves the state; a reconcile without prune only lists it,
    one with prune removes its namespace, veth pairs and state."""
    cloud.with_router = False
    result = cloud.reconcile(prune=False)
    assert f"router:{cloud.router_id}" in result.stale
    assert cloud.namespace in privileged.list_namespaces()
    result = cloud.reconcile()
    assert cloud.namespace in result.removed
    assert cloud.namespace not in privileged.list_namespaces()
    host = links_of(HOST)
    assert names.tap_name(cloud.gateway_port) not in host
    assert names.tap_name(uid("port-r-a")) not in host
    assert not Path(cloud.agent.config.state_path, "router", cloud.router_id).exists()
    assert talk(guest_ns("g1"), EXT_GW, expect=False) is None
