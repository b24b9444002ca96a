"""Security groups enforced by nftables, on real kernel objects and real traffic.

A test "host" namespace holds a bridge that the network agent creates for a flat
network (its physical interface is a veth into an "outside" namespace: traffic
that is not a port of the host) and veth pairs whose host ends carry the names
of guest taps (names.tap_name); their other ends sit in small "guest"
namespaces with the ports' MACs and addresses. The agent's reconcile renders and
applies the rules in the host namespace through the forked privsep daemon.
Nothing is created in the root namespace; every object is named with
``nftfw`` and a random suffix and removed at the end.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from oslo_privsep import priv_context

from stratus.network.agent import AgentConfig, NetworkAgent
from stratus.network.linux import firewall, names, privileged
from stratus.privsep import sys_admin_pctxt

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("nft") is None, reason="needs root and nft (nftables)"
)

BUSYBOX = shutil.which("busybox") or "/usr/bin/busybox"
SUFFIX = uuid.uuid4().hex[:6]
HOST = f"nftfw-host-{SUFFIX}"
OUTSIDE = f"nftfw-out-{SUFFIX}"
EXT_DEV = f"nfx{SUFFIX}"
OUTSIDE_IP = "10.77.0.100"
OUTSIDE_IP6 = "fd77::100"
GROUP_A, GROUP_B = f"sg-a-{SUFFIX}", f"sg-b-{SUFFIX}"
ECHO_PORT = 7777
# guest -> (ip, mac, groups, port security)
GUESTS = {
    "a": ("10.77.0.11", "fa:16:3e:77:00:11", [GROUP_A], True),
    "b": ("10.77.0.12", "fa:16:3e:77:00:12", [GROUP_A], True),
    "c": ("10.77.0.13", "fa:16:3e:77:00:13", [GROUP_B], True),
    "u": ("10.77.0.14", "fa:16:3e:77:00:14", [GROUP_A], False),
}
LISTENER = (
    "import socket,sys\n"
    "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    "s.bind(('0.0.0.0', int(sys.argv[1]))); s.listen(16)\n"
    "print('ready', flush=True)\n"
    "while True:\n"
    "    c, _ = s.accept(); c.sendall(b'ok'); c.close()\n"
)


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed: {done.stderr or done.stdout}")
    return done


def guest_ns(name: str) -> str:
    return f"nftfw-{name}-{SUFFIX}"


def ip6(guest: str) -> str:
    """The guest's IPv6 fixed address (fd77:: and the last byte of its IPv4 one)."""
    return "fd77::" + GUESTS[guest][0].rsplit(".", 1)[1]


def add_ip6(ns: str, cidr: str) -> None:
    """An IPv6 address usable at once (no duplicate address detection wait)."""
    sh("ip", "-n", ns, "-6", "addr", "add", cidr, "dev", "eth0", "nodad")


def pings(ns: str, address: str, source: str | None = None, expect: bool = False) -> bool:
    """Whether one echo gets its reply. ``expect``: the caller expects it to, so
    wait longer (a loaded machine); a reply that must not come waits 1 s."""
    argv = ["ip", "netns", "exec", ns, BUSYBOX, "ping", "-c", "1", "-W", "3" if expect else "1"]
    argv += ["-I", source] if source else []
    return sh(*argv, address, check=False).returncode == 0


def connects(ns: str, address: str, port: int = ECHO_PORT, expect: bool = False) -> bool:
    """Whether a TCP connection gets the listener's answer (``expect`` as for pings)."""
    timeout = 3 if expect else 1
    code = (
        "import socket,sys\n"
        "try:\n"
        f"    c = socket.create_connection(({address!r}, {port}), timeout={timeout})\n"
        "    sys.exit(0 if c.recv(2) == b'ok' else 1)\n"
        "except OSError:\n"
        "    sys.exit(1)\n"
    )
    return sh("ip", "netns", "exec", ns, sys.executable, "-c", code, check=False).returncode == 0


class Cloud:
    """The desired state of the test host and the agent that applies it."""

    def __init__(self, agent: NetworkAgent, net_id: str) -> None:
        self.agent = agent
        self.net_id = net_id
        self.rules: dict[str, list[dict[str, Any]]] = {
            GROUP_A: default_rules(GROUP_A),
            GROUP_B: default_rules(GROUP_B),
        }
        self.security = {name: spec[3] for name, spec in GUESTS.items()}
        self.pairs: dict[str, list[dict[str, str]]] = {name: [] for name in GUESTS}

    def port_id(self, guest: str) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.net_id}/{guest}"))

    def state(self) -> dict[str, Any]:
        ports = []
        members: dict[str, list[str]] = {GROUP_A: [], GROUP_B: []}
        members6: dict[str, list[str]] = {GROUP_A: [], GROUP_B: []}
        for name, (ip, mac, groups, _) in GUESTS.items():
            ports.append(
                {
                    "id": self.port_id(name),
                    "mac_address": mac,
                    "fixed_ips": [
                        {"subnet_id": "s", "ip_address": ip},
                        {"subnet_id": "s6", "ip_address": ip6(name)},
                    ],
                    "device_owner": "compute:nova",
                    "binding_host_id": HOST,
                    "port_security_enabled": self.security[name],
                    "security_groups": groups,
                    "allowed_address_pairs": self.pairs[name],
                }
            )
            for group in groups:
                members[group].append(ip)
                members6[group].append(ip6(name))
        network = {
            "id": self.net_id,
            "mtu": 1500,
            "network_type": "flat",
            "physical_network": "physnet1",
            "segmentation_id": None,
            "dhcp": False,
            "subnets": [],
            "ports": ports,
        }
        groups = {
            group: {
                "rules": self.rules[group],
                "members": {"IPv4": members[group], "IPv6": members6[group]},
            }
            for group in (GROUP_A, GROUP_B)
        }
        return {"host": HOST, "networks": [network], "security_groups": groups}

    def reconcile(self) -> tuple[float, float]:
        """Apply the state; the seconds it took: the whole reconcile, and the
        security groups' part (render, diff and the nft transaction)."""
        firewall_time: list[float] = []
        apply = self.agent.firewall.apply

        def timed(ruleset: firewall.Ruleset) -> bool:
            started = time.monotonic()
            try:
                return apply(ruleset)
            finally:
                firewall_time.append(time.monotonic() - started)

        self.agent.firewall.apply = timed  # type: ignore[method-assign]
        try:
            started = time.monotonic()
            result = self.agent.reconcile(self.state())
            elapsed = time.monotonic() - started
        finally:
            del self.agent.firewall.apply
        assert not result.errors, result.errors
        return elapsed, firewall_time[0]


def default_rules(group: str) -> list[dict[str, Any]]:
    """A default group's: all egress, ingress from the group's members."""
    return [
        firewall.rule("egress", "IPv4"),
        firewall.rule("egress", "IPv6"),
        firewall.rule("ingress", "IPv4", remote_group_id=group),
        firewall.rule("ingress", "IPv6", remote_group_id=group),
    ]


@pytest.fixture(scope="module")
def cloud() -> Iterator[Cloud]:
    started = sys_admin_pctxt.channel is None
    if started:
        sys_admin_pctxt.start(priv_context.Method.FORK)
    state_path = tempfile.mkdtemp(prefix="stratus-nftfw-", dir="/var/tmp")
    namespaces = [HOST, OUTSIDE, *(guest_ns(g) for g in GUESTS)]
    listeners: list[subprocess.Popen[bytes]] = []
    try:
        for ns in namespaces:
            privileged.ensure_namespace(ns)
        sh("ip", "-n", HOST, "link", "add", EXT_DEV, "type", "veth", "peer", "name", "eth0",
           "netns", OUTSIDE)  # fmt: skip
        sh("ip", "-n", OUTSIDE, "addr", "add", f"{OUTSIDE_IP}/24", "dev", "eth0")
        sh("ip", "-n", OUTSIDE, "link", "set", "eth0", "up")
        add_ip6(OUTSIDE, f"{OUTSIDE_IP6}/64")
        config = AgentConfig(
            state_path=state_path, physical_interface_mappings={"physnet1": EXT_DEV}
        )
        agent = NetworkAgent(HOST, config, netns=HOST)
        c = Cloud(agent, str(uuid.uuid4()))
        c.reconcile()
        bridge = names.bridge_name(c.net_id)
        for name, (ip, mac, _, _) in GUESTS.items():
            tap = names.tap_name(c.port_id(name))
            privileged.plug_namespace_port(
                guest_ns(name), "eth0", tap, bridge, mac, 1500, [f"{ip}/24"], HOST
            )
            add_ip6(guest_ns(name), f"{ip6(name)}/64")
        for ns in (guest_ns("a"), guest_ns("c"), OUTSIDE):
            listeners.append(
                subprocess.Popen(
                    ["ip", "netns", "exec", ns, sys.executable, "-c", LISTENER, str(ECHO_PORT)],
                    stdout=subprocess.PIPE,
                    text=True,
                )
            )
        for proc in listeners:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        yield c
    finally:
        for proc in listeners:
            proc.kill()
            proc.wait()
        for ns in namespaces:
            privileged.delete_namespace(ns)
        shutil.rmtree(state_path, ignore_errors=True)
        if started:
            sys_admin_pctxt.stop()


def test_default_group(cloud: Cloud) -> None:
    a, b, c = guest_ns("a"), guest_ns("b"), guest_ns("c")
    ip_a, ip_c = GUESTS["a"][0], GUESTS["c"][0]
    assert pings(a, OUTSIDE_IP, expect=True), "egress (and its replies) must pass"
    assert connects(a, OUTSIDE_IP, expect=True), "egress TCP must pass"
    assert not pings(OUTSIDE, ip_a), "ingress from outside the group must be dropped"
    assert not connects(OUTSIDE, ip_a)
    assert pings(b, ip_a, expect=True), "a member of the same group must reach a"
    assert connects(b, ip_a, expect=True)
    # remote_group_id: c (group B) is not a member of A, and A is not of B
    assert not pings(c, ip_a)
    assert not connects(c, ip_a)
    assert not pings(a, ip_c)
    assert not connects(b, ip_c)


def test_rules_open_and_close_within_a_second(cloud: Cloud) -> None:
    ip_a, ip_c = GUESTS["a"][0], GUESTS["c"][0]
    tcp = firewall.rule("ingress", id="tcp", protocol="tcp", port_range_min=ECHO_PORT,
                        port_range_max=ECHO_PORT, remote_ip_prefix="10.77.0.0/24")  # fmt: skip
    icmp = firewall.rule("ingress", id="icmp", protocol="icmp")
    cloud.rules[GROUP_A].append(tcp)
    timings = [cloud.reconcile()]
    assert connects(OUTSIDE, ip_a, expect=True), "the tcp rule opens the port"
    assert not pings(OUTSIDE, ip_a), "ping stays blocked by a tcp rule"
    assert not connects(OUTSIDE, ip_c), "a rule of group A must not open a port of group B"
    cloud.rules[GROUP_A].append(icmp)
    timings.append(cloud.reconcile())
    assert pings(OUTSIDE, ip_a, expect=True), "the icmp rule opens ping"
    cloud.rules[GROUP_A] = [r for r in cloud.rules[GROUP_A] if r not in (tcp, icmp)]
    timings.append(cloud.reconcile())
    assert not connects(OUTSIDE, ip_a), "deleting the rule blocks the port again"
    assert not pings(OUTSIDE, ip_a)
    print("rule change: reconcile / nftables part: "
          + ", ".join(f"{t * 1000:.0f} / {f * 1000:.0f} ms" for t, f in timings))  # fmt: skip
    assert max(t for t, _ in timings) < 1.0, timings


def test_only_the_changed_chains_are_sent(cloud: Cloud) -> None:
    """An incremental reconcile rewrites the group's chain only (no port's chain)."""
    sent: list[str] = []
    real = cloud.agent.firewall
    before = real.applied
    assert before is not None and not before.empty()
    spy = firewall.Firewall(HOST, run=lambda script, netns: sent.append(script))
    spy.applied = before
    cloud.rules[GROUP_B].append(firewall.rule("ingress", protocol="udp", port_range_min=53))
    try:
        spy.apply(firewall.render(firewall.host_ports(cloud.state(), HOST),
                                  cloud.state()["security_groups"]))  # fmt: skip
    finally:
        cloud.rules[GROUP_B].pop()
    (script,) = sent
    touched = {line.split()[4] for line in script.splitlines() if line.startswith("flush chain")}
    assert touched == {f"sg-in-{GROUP_B}"}, script
    assert "add table" not in script


def test_anti_spoofing(cloud: Cloud) -> None:
    a = guest_ns("a")
    ip_b = GUESTS["b"][0]
    assert pings(a, OUTSIDE_IP, expect=True)
    sh("ip", "-n", a, "addr", "add", f"{ip_b}/32", "dev", "eth0")
    try:
        assert not pings(a, OUTSIDE_IP, source=ip_b), "a must not send as b's address"
    finally:
        sh("ip", "-n", a, "addr", "del", f"{ip_b}/32", "dev", "eth0")
    sh("ip", "-n", a, "link", "set", "eth0", "address", "fa:16:3e:77:00:99")
    sh("ip", "-n", OUTSIDE, "neigh", "flush", "all")
    try:
        assert not pings(a, OUTSIDE_IP), "a must not send with another MAC"
    finally:
        sh("ip", "-n", a, "link", "set", "eth0", "address", GUESTS["a"][1])
        sh("ip", "-n", OUTSIDE, "neigh", "flush", "all")
    assert pings(a, OUTSIDE_IP, expect=True), "with its own addresses a passes again"


def test_ipv6_neighbour_discovery_groups_and_spoofing(cloud: Cloud) -> None:
    a, b, c = guest_ns("a"), guest_ns("b"), guest_ns("c")
    assert pings(b, ip6("a"), expect=True), "a group member over IPv6 (after ND)"
    assert pings(a, OUTSIDE_IP6, expect=True), "IPv6 egress and its replies"
    assert not pings(c, ip6("a")), "not a member of a's group"
    assert not pings(OUTSIDE, ip6("a"))
    add_ip6(a, f"{ip6('b')}/128")
    try:
        assert not pings(a, OUTSIDE_IP6, source=ip6("b")), "a must not send as b over IPv6"
    finally:
        sh("ip", "-n", a, "-6", "addr", "del", f"{ip6('b')}/128", "dev", "eth0")


def test_allowed_address_pairs(cloud: Cloud) -> None:
    b, shared = guest_ns("b"), "10.77.0.50"
    sh("ip", "-n", b, "addr", "add", f"{shared}/32", "dev", "eth0")
    try:
        assert not pings(b, OUTSIDE_IP, source=shared), "not b's address (yet)"
        cloud.pairs["b"] = [{"ip_address": f"{shared}/32", "mac_address": GUESTS["b"][1]}]
        cloud.reconcile()
        assert pings(b, OUTSIDE_IP, source=shared, expect=True), "an allowed pair may send"
        cloud.pairs["b"] = []
        cloud.reconcile()
        assert not pings(b, OUTSIDE_IP, source=shared), "the pair removed: dropped again"
    finally:
        cloud.pairs["b"] = []
        sh("ip", "-n", b, "addr", "del", f"{shared}/32", "dev", "eth0")


def test_port_security_disabled_passes_everything(cloud: Cloud) -> None:
    u = guest_ns("u")
    ip_u = GUESTS["u"][0]
    assert pings(OUTSIDE, ip_u, expect=True), "no filtering on a port without port security"
    sh("ip", "-n", u, "addr", "add", "10.77.0.99/32", "dev", "eth0")
    try:
        assert pings(u, OUTSIDE_IP, source="10.77.0.99", expect=True), "no anti-spoofing either"
    finally:
        sh("ip", "-n", u, "addr", "del", "10.77.0.99/32", "dev", "eth0")
    cloud.security["a"] = False
    try:
        cloud.reconcile()
        assert pings(OUTSIDE, GUESTS["a"][0], expect=True), "turning port security off opens a"
        assert not pings(OUTSIDE, GUESTS["b"][0]), "b, in the same group, stays filtered"
    finally:
        cloud.security["a"] = True
        cloud.reconcile()
    assert not pings(OUTSIDE, GUESTS["a"][0])


def test_restart_removes_stale_chains_and_empty_tables(cloud: Cloud) -> None:
    fresh = NetworkAgent(HOST, cloud.agent.config, netns=HOST)
    state = cloud.state()
    state["networks"][0]["ports"] = [
        p for p in state["networks"][0]["ports"] if p["id"] == cloud.port_id("a")
    ]
    assert "firewall" in fresh.reconcile(state).reloaded
    table = privileged.nft_list_table("inet", "stratus", HOST)
    chains = {i["chain"]["name"] for i in table["nftables"] if "chain" in i}
    port_a = cloud.port_id("a")
    assert chains == {"zone", "prerouting", "forward", f"eg-{port_a}", f"in-{port_a}",
                      f"sg-eg-{GROUP_A}", f"sg-in-{GROUP_A}"}  # fmt: skip
    state["networks"][0]["ports"] = []
    fresh.reconcile(state)
    assert privileged.nft_list_table("inet", "stratus", HOST) is None
    assert privileged.nft_list_table("bridge", "stratus", HOST) is None
    cloud.agent.firewall.applied = None  # the module's agent replaces the tables next time
    cloud.reconcile()
    assert not pings(OUTSIDE, GUESTS["a"][0])
