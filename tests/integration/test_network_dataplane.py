"""The network data plane on real kernel objects: bridges, VXLAN devices and their
forwarding entries, network namespaces, veth pairs, dnsmasq, and QEMU (TCG)
guests of the tiny image that take their addresses by DHCP.

Privileged calls cross a real oslo.privsep daemon, forked by the test process
(root) with the context's capabilities only (see stratus.network.linux.privileged).
Every test names its objects uniquely (``dataplane`` and a random suffix, or the
random network ids from which bridge names derive), runs the agent with its own
host name and state directory, and removes what it made; tenant addresses live
only in namespaces the tests create or in the agent's DHCP namespaces.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from oslo_privsep import priv_context

from stratus.network.agent import AgentConfig, NetworkAgent
from stratus.network.linux import names, privileged
from stratus.privsep import sys_admin_pctxt

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (netlink, namespaces)")

REPO = Path(__file__).resolve().parents[2]
BUSYBOX = shutil.which("busybox") or "/usr/bin/busybox"


# --- helpers -------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def privsep_daemon() -> Iterator[None]:
    """The privsep daemon, forked (the test runs as root: no sudo needed)."""
    started = sys_admin_pctxt.channel is None
    if started:
        sys_admin_pctxt.start(priv_context.Method.FORK)
    yield
    if started:
        sys_admin_pctxt.stop()


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed: {done.stderr or done.stdout}")
    return done


def in_ns(ns: str, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return sh("ip", "netns", "exec", ns, *argv, check=check)


def pings(ns: str, address: str, count: int = 2) -> bool:
    return (
        in_ns(ns, BUSYBOX, "ping", "-c", str(count), "-W", "2", address, check=False).returncode
        == 0
    )


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.5)


def links(netns: str | None = None) -> dict[str, dict[str, Any]]:
    return {link["name"]: link for link in privileged.list_links(netns)}


def mac() -> str:
    return "fa:16:3e:" + ":".join(f"{random.randrange(256):02x}" for _ in range(3))


def ns_addresses(ns: str, dev: str) -> set[str]:
    out = json.loads(sh("ip", "-n", ns, "-j", "addr", "show", "dev", dev).stdout)
    return {f"{a['local']}/{a['prefixlen']}" for a in out[0]["addr_info"] if a["family"] == "inet"}


def client_namespace(
    ns: str, bridge_dev: str, bridge: str, port_mac: str, cidr: str | None, netns: str | None = None
) -> None:
    """A test client: a namespace with a veth into ``bridge`` (in ``netns``)."""
    privileged.ensure_namespace(ns)
    host = ["ip", "-n", netns] if netns else ["ip"]
    sh(*host, "link", "add", bridge_dev, "type", "veth", "peer", "name", "eth0", "netns", ns)
    sh(*host, "link", "set", bridge_dev, "master", bridge, "up")
    sh("ip", "-n", ns, "link", "set", "eth0", "address", port_mac, "up")
    if cidr:
        sh("ip", "-n", ns, "addr", "add", cidr, "dev", "eth0")


LEASE_SCRIPT = """#!/bin/sh
[ "$1" = bound ] && echo "ip=$ip|mask=$mask|router=$router|dns=$dns|staticroutes=$staticroutes"
exit 0
"""


def dhcp_lease(ns: str) -> dict[str, str] | None:
    """What busybox udhcpc gets on the client's eth0 (None: no offer): address,
    prefix, router, DNS servers and classless static routes (option 121)."""
    fd, script = tempfile.mkstemp(prefix="stratus-dataplane-", suffix=".sh", dir="/var/tmp")
    try:
        with os.fdopen(fd, "w") as f:  # closed before it runs (ETXTBSY)
            f.write(LEASE_SCRIPT)
        os.chmod(script, 0o755)
        done = in_ns(ns, BUSYBOX, "udhcpc", "-i", "eth0", "-n", "-q", "-f", "-t", "3", "-T", "1",
                     "-O", "staticroutes", "-s", script, check=False)  # fmt: skip
    finally:
        os.unlink(script)
    found = re.search(r"^ip=.*$", done.stdout, re.M)
    if not found:
        return None
    return dict(item.split("=", 1) for item in found.group(0).split("|"))


def state_dir() -> Path:
    path = Path(tempfile.mkdtemp(prefix="stratus-dataplane-", dir="/var/tmp"))
    path.chmod(0o755)
    return path


def subnet(subnet_id: str, cidr: str, gateway: str | None) -> dict[str, Any]:
    return {
        "id": subnet_id,
        "cidr": cidr,
        "ip_version": 4,
        "gateway_ip": gateway,
        "dns_nameservers": [],
        "host_routes": [],
        "enable_dhcp": True,
        "ipv6_address_mode": None,
        "ipv6_ra_mode": None,
    }


def port(
    port_id: str, port_mac: str, subnet_id: str, ip: str, owner: str, host: str
) -> dict[str, Any]:
    return {
        "id": port_id,
        "mac_address": port_mac,
        "fixed_ips": [{"subnet_id": subnet_id, "ip_address": ip}],
        "device_owner": owner,
        "host": host,
    }


def port_id(net_id: str, ip: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{net_id}/{ip}"))


def network(
    net_id: str,
    kind: str,
    *,
    physnet: str | None = None,
    vni: int | None = None,
    cidr: str = "10.200.0.0/24",
    ports: list[tuple[str, str, str]] = (),  # type: ignore[assignment]
    dhcp: bool = True,
    remote_vteps: list[dict[str, Any]] | None = None,
    host: str = "",
) -> dict[str, Any]:
    """A network of the desired state; ``ports`` are (mac, ip, device_owner)."""
    sub_id = f"sub-{net_id}"
    prefix = cidr.rsplit(".", 1)[0]
    return {
        "id": net_id,
        "mtu": 1450 if kind == "vxlan" else 1500,
        "network_type": kind,
        "physical_network": physnet,
        "segmentation_id": vni,
        "dhcp": dhcp,
        "subnets": [subnet(sub_id, cidr, f"{prefix}.1")],
        "ports": [
            port(port_id(net_id, ip), port_mac, sub_id, ip, owner, host)
            for port_mac, ip, owner in ports
        ],
        "remote_vteps": remote_vteps or [],
    }  # fmt: skip


def cleanup(agent: NetworkAgent, namespaces: list[str], root_links: list[str]) -> None:
    """Leave nothing behind even when a test failed half-way."""
    try:
        agent.reconcile({"host": agent.host, "vtep_ip": None, "networks": []})
    finally:
        dhcp_root = Path(agent.config.state_path, "dhcp")
        for pid_file in dhcp_root.glob("*/pid"):
            privileged.stop_dnsmasq(str(pid_file))
        for net_dir in dhcp_root.glob("*"):
            privileged.delete_namespace(names.dhcp_namespace(net_dir.name))
        for ns in namespaces:
            privileged.delete_namespace(ns)
        for link in root_links:
            privileged.delete_link(link)
        shutil.rmtree(agent.config.state_path, ignore_errors=True)


def host_with_physnet(host: str, host_ns: str) -> NetworkAgent:
    """A "host" namespace whose physical network ``physnet-dp`` is a veth
    (``phys0``), and an agent for it with its own state directory."""
    privileged.ensure_namespace(host_ns)
    sh("ip", "-n", host_ns, "link", "add", "phys0", "type", "veth", "peer", "name", "phys0-wire")
    config = AgentConfig(
        state_path=str(state_dir()), physical_interface_mappings={"physnet-dp": "phys0"}
    )
    return NetworkAgent(host, config, netns=host_ns)


def dnsmasq_pid(agent: NetworkAgent, net_id: str) -> int | None:
    return privileged.process_running(str(Path(agent.config.state_path, "dhcp", net_id, "pid")))


# --- (1) reconcile: create, update, remove ---------------------------------------


def test_agent_reconciles_vxlan_and_flat_networks_and_removes_what_was_dropped() -> None:
    """One vxlan and one flat network on a "host" namespace (so no VXLAN socket or
    bridge of the test lands in the machine's root namespace; the agent's code
    path is the same with ``netns=None``). The flat network's physical interface
    is a veth the test creates."""
    sfx = uuid.uuid4().hex[:6]
    host_ns, client = f"dataplane-{sfx}-host", f"dataplane-{sfx}-cli"
    host = f"dataplane-{sfx}"
    flat_id, vx_id = str(uuid.uuid4()), str(uuid.uuid4())
    vni = random.randint(100_000, 16_000_000)
    remote_mac, vm_mac, new_mac = mac(), mac(), mac()
    agent = host_with_physnet(host, host_ns)

    def state(vxlan: bool = True, vm_port: bool = True, new_port: bool = False) -> dict[str, Any]:
        flat_ports = [("fa:16:3e:00:00:02", "10.201.0.2", "network:dhcp")]
        if vm_port:
            flat_ports.append((vm_mac, "10.201.0.10", "compute:nova"))
        if new_port:
            flat_ports.append((new_mac, "10.201.0.11", "compute:nova"))
        nets = [network(flat_id, "flat", physnet="physnet-dp", cidr="10.201.0.0/24",
                        ports=flat_ports, host=host)]  # fmt: skip
        nets[0]["subnets"][0]["dns_nameservers"] = ["192.0.2.53", "192.0.2.54"]
        nets[0]["subnets"][0]["host_routes"] = [
            {"destination": "172.31.0.0/16", "nexthop": "10.201.0.254"}
        ]
        if vxlan:
            nets.append(network(
                vx_id, "vxlan", vni=vni, cidr="10.202.0.0/24", host=host,
                ports=[("fa:16:3e:00:01:02", "10.202.0.2", "network:dhcp")],
                remote_vteps=[{"ip": "192.0.2.2", "macs": [remote_mac]},
                              {"ip": "192.0.2.1", "macs": ["fa:16:3e:ff:ff:ff"]}],
            ))  # fmt: skip
            # a DHCPv6 stateful subnet beside the IPv4 one (dnsmasq with RA)
            v6 = subnet(f"sub6-{vx_id}", "2001:db8:202::/64", "2001:db8:202::1")
            v6.update(ip_version=6, ipv6_address_mode="dhcpv6-stateful",
                      ipv6_ra_mode="dhcpv6-stateful")  # fmt: skip
            nets[-1]["subnets"].append(v6)
            nets[-1]["ports"][0]["fixed_ips"].append(
                {"subnet_id": v6["id"], "ip_address": "2001:db8:202::2"}
            )
        return {"host": host, "vtep_ip": "192.0.2.1", "networks": nets}

    flat_br, vx_br, vx_dev = (
        names.bridge_name(flat_id),
        names.bridge_name(vx_id),
        names.vxlan_name(vni),
    )
    flat_ns, vx_ns = names.dhcp_namespace(flat_id), names.dhcp_namespace(vx_id)
    try:
        result = agent.reconcile(state())
        assert result.errors == {}
        assert {flat_br, vx_br, vx_dev, flat_ns, vx_ns} <= set(result.created)

        have = links(host_ns)
        assert have[flat_br]["kind"] == have[vx_br]["kind"] == "bridge"
        assert have[flat_br]["alias"] == names.owner_alias(host, flat_id)
        assert (have[flat_br]["mtu"], have[vx_br]["mtu"]) == (1500, 1450)
        assert have[vx_dev]["vxlan"] == {
            "vni": vni,
            "local": "192.0.2.1",
            "port": 4789,
            "dev": None,
        }
        assert have[vx_dev]["master"] == vx_br and have[vx_dev]["mtu"] == 1450
        assert have["phys0"]["master"] == flat_br
        # l2population: one flooding entry per remote VTEP, one entry per remote
        # MAC; none for this host's own VTEP
        assert sorted(map(tuple, privileged.fdb_entries(vx_dev, host_ns))) == sorted(
            [("00:00:00:00:00:00", "192.0.2.2"), (remote_mac, "192.0.2.2")]
        )
        dhcp_dev = names.ns_device_name(port_id(flat_id, "10.201.0.2"))
        assert ns_addresses(flat_ns, dhcp_dev) == {"10.201.0.2/24"}
        vx_dhcp_dev = names.ns_device_name(port_id(vx_id, "10.202.0.2"))
        v6_addrs = json.loads(
            sh("ip", "-n", vx_ns, "-j", "-6", "addr", "show", "dev", vx_dhcp_dev).stdout
        )
        assert "2001:db8:202::2" in {a["local"] for a in v6_addrs[0]["addr_info"]}
        vx_cmdline = Path(f"/proc/{dnsmasq_pid(agent, vx_id)}/cmdline").read_bytes().split(b"\0")
        assert (
            b"--dhcp-range=set:subnet-sub6-" + vx_id.encode() + b",2001:db8:202::,static,64,86400s"
            in vx_cmdline
        )
        pid = dnsmasq_pid(agent, flat_id)
        assert pid and dnsmasq_pid(agent, vx_id)
        assert sh("ip", "netns", "identify", str(pid)).stdout.strip() == flat_ns

        # idempotent
        again = agent.reconcile(state())
        assert (again.created, again.removed, again.reloaded, again.errors) == ([], [], [], {})

        # dnsmasq hands the port its address by MAC, and nothing to unknown MACs
        client_namespace(client, "cli0", flat_br, vm_mac, None, netns=host_ns)
        assert dhcp_lease(client) == {
            "ip": "10.201.0.10",
            "mask": "24",
            "router": "10.201.0.1",
            "dns": "192.0.2.53 192.0.2.54",
            "staticroutes": "172.31.0.0/16 10.201.0.254 0.0.0.0/0 10.201.0.1",
        }
        sh("ip", "-n", client, "link", "set", "eth0", "address", mac())
        assert dhcp_lease(client) is None

        # a new port: hostsfile rewritten, dnsmasq reloaded by SIGHUP, not restarted
        result = agent.reconcile(state(new_port=True))
        assert result.reloaded == [f"dnsmasq:{flat_id}"] and result.created == []
        assert dnsmasq_pid(agent, flat_id) == pid
        sh("ip", "-n", client, "link", "set", "eth0", "address", new_mac)
        assert (dhcp_lease(client) or {}).get("ip") == "10.201.0.11"

        # objects this agent does not own stay
        sh("ip", "-n", host_ns, "link", "add", "brqforeign01", "type", "bridge")
        sh("ip", "-n", host_ns, "link", "add", "brqforeign02", "type", "bridge")
        sh("ip", "-n", host_ns, "link", "set", "brqforeign02", "alias", f"stratus:other-{sfx}:x")

        # reduced state: the vxlan network and one port are gone. Without pruning
        # (the agent service's unlocked first pass) the reconcile only lists them.
        reduced = state(vxlan=False, vm_port=False, new_port=True)
        listed = agent.reconcile(reduced, prune=False)
        assert listed.removed == [] and listed.errors == {}
        assert listed.stale == [vx_dev, vx_br, f"dhcp:{vx_id}"]
        assert {vx_br, vx_dev} <= set(links(host_ns))
        assert vx_ns in privileged.list_namespaces()
        result = agent.reconcile(reduced)
        assert result.stale == []
        assert result.errors == {}
        assert {vx_br, vx_dev, vx_ns, f"dnsmasq:{vx_id}"} <= set(result.removed)
        have = links(host_ns)
        assert vx_br not in have and vx_dev not in have and flat_br in have
        assert vx_ns not in privileged.list_namespaces()
        assert not Path(agent.config.state_path, "dhcp", vx_id).exists()
        hosts = Path(agent.config.state_path, "dhcp", flat_id, "host").read_text()
        assert "10.201.0.10" not in hosts and "10.201.0.11" in hosts
        assert {"brqforeign01", "brqforeign02"} <= set(have)

        # nothing left: only the foreign bridges and the physical interface, released
        result = agent.reconcile({"host": host, "vtep_ip": "192.0.2.1", "networks": []})
        have = links(host_ns)
        assert not [
            n for n, link in have.items() if (link["alias"] or "").startswith(f"stratus:{host}:")
        ]
        assert have["phys0"]["master"] is None
        assert flat_ns not in privileged.list_namespaces()
        assert list(Path(agent.config.state_path, "dhcp").iterdir()) == []
        assert dnsmasq_pid(agent, flat_id) is None and not _pid_alive(pid)
    finally:
        cleanup(agent, [client, host_ns], [])


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"dnsmasq") is True


def test_vlan_fails_clearly_without_8021q_and_the_rest_is_set_up() -> None:
    """This kernel has no 802.1Q: a vlan network is reported, not half-made, and
    the other networks of the state still come up. (The vlan path itself runs
    only where the kernel has VLAN support.)"""
    if privileged.kernel_has_vlan():
        pytest.skip("this kernel has 802.1Q; the vlan error path is for kernels without it")
    sfx = uuid.uuid4().hex[:6]
    host_ns, host = f"dataplane-{sfx}-host", f"dataplane-{sfx}"
    vlan_id, flat_id = str(uuid.uuid4()), str(uuid.uuid4())
    agent = host_with_physnet(host, host_ns)
    try:
        result = agent.reconcile({"host": host, "vtep_ip": None, "networks": [
            network(vlan_id, "vlan", physnet="physnet-dp", vni=100, dhcp=False),
            network(flat_id, "flat", physnet="physnet-dp", dhcp=False),
        ]})  # fmt: skip
        assert "802.1Q" in result.errors[vlan_id]
        assert list(result.errors) == [vlan_id]
        have = links(host_ns)
        assert names.bridge_name(vlan_id) not in have and names.vlan_name(100) not in have
        assert have["phys0"]["master"] == names.bridge_name(flat_id)
    finally:
        cleanup(agent, [host_ns], [])


# --- (3) VXLAN between two "hosts" ----------------------------------------------


def test_vxlan_joins_two_hosts_only_with_forwarding_entries() -> None:
    """Two network namespaces stand for two hosts, joined by a veth pair as the
    underlay (192.0.2.1 and 192.0.2.2 are their VTEP addresses). Each runs its
    own agent (``netns=``), so each has its own bridge, VXLAN device, VXLAN UDP
    socket and routing table, and a client namespace plugged into its bridge.

    How faithful: the encapsulation, the forwarding database and the bridges are
    the kernel's own, exactly as on two machines; what differs is that both
    "hosts" share one kernel and the underlay is a single wire instead of a
    routed network (no MTU or reordering effects beyond a veth's)."""
    sfx = uuid.uuid4().hex[:6]
    hosts = {side: f"dataplane-{sfx}-{side}" for side in "ab"}
    clients = {side: f"dataplane-{sfx}-cli{side}" for side in "ab"}
    vtep = {"a": "192.0.2.1", "b": "192.0.2.2"}
    ip = {"a": "10.203.0.10", "b": "10.203.0.11"}
    macs = {"a": mac(), "b": mac()}
    net_id, vni = str(uuid.uuid4()), random.randint(100_000, 16_000_000)
    agents = {
        side: NetworkAgent(hosts[side], AgentConfig(state_path=str(state_dir())), netns=hosts[side])
        for side in "ab"
    }
    for side in "ab":
        privileged.ensure_namespace(hosts[side])
    sh("ip", "-n", hosts["a"], "link", "add", "under0", "type", "veth",
       "peer", "name", "under0", "netns", hosts["b"])  # fmt: skip
    for side in "ab":
        sh("ip", "-n", hosts[side], "addr", "add", f"{vtep[side]}/24", "dev", "under0")
        sh("ip", "-n", hosts[side], "link", "set", "under0", "up")

    def state(side: str, with_fdb: bool) -> dict[str, Any]:
        other = "b" if side == "a" else "a"
        remote = [{"ip": vtep[other], "macs": [macs[other]]}] if with_fdb else []
        net = network(net_id, "vxlan", vni=vni, cidr="10.203.0.0/24", dhcp=False,
                      host=hosts[side], remote_vteps=remote,
                      ports=[(macs[s], ip[s], "compute:nova") for s in "ab"])  # fmt: skip
        return {"host": hosts[side], "vtep_ip": vtep[side], "networks": [net]}

    bridge, dev = names.bridge_name(net_id), names.vxlan_name(vni)
    try:
        for side in "ab":
            assert agents[side].reconcile(state(side, with_fdb=False)).errors == {}
            client_namespace(clients[side], "cli0", bridge, macs[side], f"{ip[side]}/24",
                             netns=hosts[side])  # fmt: skip
        assert not privileged.fdb_entries(dev, hosts["a"])
        assert not pings(clients["a"], ip["b"], count=1)

        for side in "ab":
            assert agents[side].reconcile(state(side, with_fdb=True)).errors == {}
        assert sorted(map(tuple, privileged.fdb_entries(dev, hosts["a"]))) == sorted(
            [("00:00:00:00:00:00", vtep["b"]), (macs["b"], vtep["b"])]
        )
        assert pings(clients["a"], ip["b"]) and pings(clients["b"], ip["a"])

        # host a loses its entries (b left the network): the tunnel is closed again
        assert agents["a"].reconcile(state("a", with_fdb=False)).errors == {}
        assert not privileged.fdb_entries(dev, hosts["a"])
        sh("ip", "-n", clients["b"], "neigh", "flush", "all")
        assert not pings(clients["b"], ip["a"], count=1)
    finally:
        for side in "ab":
            cleanup(agents[side], [clients[side], hosts[side]], [])


# --- (2) QEMU guests take their addresses from dnsmasq ---------------------------

DOMAIN_XML = """<domain type='qemu'>
  <name>{name}</name>
  <uuid>{uuid}</uuid>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{kernel}</kernel>
    <initrd>{initrd}</initrd>
    <cmdline>console=ttyS0,115200 stratus.uuid={uuid} panic=10</cmdline>
  </os>
  <features><acpi/></features>
  <on_reboot>destroy</on_reboot>
  <devices>
    <interface type='bridge'>
      <source bridge='{bridge}'/>
      <mac address='{mac}'/>
      <model type='virtio'/>
      <mtu size='1500'/>
    </interface>
    <serial type='pty'><log file='{console}' append='on'/></serial>
    <console type='pty'/>
  </devices>
</domain>
"""


@pytest.fixture(scope="module")
def tiny_kernel() -> Path:
    """The tiny image's kernel and initramfs (built if needed)."""
    cache = REPO / "tests/images/cache"
    subprocess.run(
        [str(REPO / "tests/images/build-tiny-image"), str(cache)], check=True, timeout=600
    )
    return cache


def test_guests_get_their_port_addresses_and_networks_stay_apart(
    libvirtd: None, tiny_kernel: Path
) -> None:
    """Two flat networks with the same CIDR on bridges in the root namespace
    (their "physical" interfaces are veths the test creates; nothing reaches the
    uplink), one tiny QEMU guest on each, booted directly with libvirt. Each
    guest prints the address dnsmasq leased to its port's MAC; a client
    namespace on network A (another port's address) pings guest A and talks to
    its echo service, and cannot reach guest B at its address on network B,
    which B's own DHCP namespace can. Then guest A gets a second NIC on network
    B, hot-plugged, and takes that port's address too."""
    libvirt = pytest.importorskip("libvirt")
    sfx = uuid.uuid4().hex[:4]
    host = f"dataplane-{sfx}"
    client = f"dataplane-{sfx}-cli"
    phys = {side: f"dataplane{sfx}{side}" for side in "ab"}
    nets = {side: str(uuid.uuid4()) for side in "ab"}
    guest_ip = {"a": "10.204.0.10", "b": "10.204.0.11"}
    guest_mac = {side: mac() for side in "ab"}
    client_mac = mac()
    workdir = state_dir()
    agent = NetworkAgent(
        host,
        AgentConfig(
            state_path=str(workdir / "network"),
            physical_interface_mappings={f"physnet-{side}": phys[side] for side in "ab"},
        ),
    )
    for side in "ab":
        sh("ip", "link", "add", phys[side], "type", "veth", "peer", "name", f"{phys[side]}w")
    state = {"host": host, "vtep_ip": None, "networks": [
        network(nets[side], "flat", physnet=f"physnet-{side}", cidr="10.204.0.0/24", host=host,
                ports=[("fa:16:3e:00:00:02", "10.204.0.2", "network:dhcp"),
                       (guest_mac[side], guest_ip[side], "compute:nova"),
                       (client_mac, "10.204.0.20", "compute:nova")])
        for side in "ab"
    ]}  # fmt: skip
    hot_mac = mac()
    state["networks"][1]["ports"].append(
        port(port_id(nets["b"], "10.204.0.12"), hot_mac, f"sub-{nets['b']}", "10.204.0.12",
             "compute:nova", host)
    )  # fmt: skip
    conn = libvirt.open("qemu:///system")
    domains = []
    try:
        assert agent.reconcile(state).errors == {}
        shutil.copy(tiny_kernel / "tiny.vmlinuz", workdir / "vmlinuz")
        shutil.copy(tiny_kernel / "tiny.initrd", workdir / "initrd")
        for side in "ab":
            guest_uuid = str(uuid.uuid4())
            xml = DOMAIN_XML.format(
                name=f"dataplane-{sfx}-guest-{side}", uuid=guest_uuid,
                kernel=workdir / "vmlinuz", initrd=workdir / "initrd",
                bridge=names.bridge_name(nets[side]), mac=guest_mac[side],
                console=workdir / f"console-{side}.log",
            )  # fmt: skip
            domains.append(conn.createXML(xml, 0))
        client_namespace(client, f"dataplane{sfx}c", names.bridge_name(nets["a"]), client_mac,
                         "10.204.0.20/24")  # fmt: skip

        def console(side: str) -> str:
            path = workdir / f"console-{side}.log"
            return path.read_text(errors="replace") if path.exists() else ""

        for side in "ab":
            marker = f"STRATUS-GUEST-IP eth0 {guest_ip[side]}/24"
            try:
                wait_for(
                    lambda s=side, m=marker: m in console(s), 180, f"{marker!r} on guest {side}"
                )
            except AssertionError as exc:
                raise AssertionError(f"{exc}; console:\n{console(side)[-2000:]}") from None
            assert "STRATUS-GUEST-READY" in console(side)

        assert pings(client, guest_ip["a"], count=3)
        echo = in_ns(client, sys.executable, "-c", (
            "import socket; s = socket.create_connection(('10.204.0.10', 7), timeout=10); "
            "s.sendall(b'stratus-dataplane\\n'); print(s.recv(100).decode().strip())"
        ))  # fmt: skip
        assert echo.stdout.strip() == "stratus-dataplane"

        # guest b: reachable on its own network, not from network a
        assert pings(names.dhcp_namespace(nets["b"]), guest_ip["b"])
        assert not pings(client, guest_ip["b"], count=2)

        # hot-plug: a NIC on network b appears in guest a and takes its address
        domains[0].attachDeviceFlags(
            f"<interface type='bridge'><source bridge='{names.bridge_name(nets['b'])}'/>"
            f"<mac address='{hot_mac}'/><model type='virtio'/></interface>",
            libvirt.VIR_DOMAIN_AFFECT_LIVE,
        )
        marker = "STRATUS-GUEST-IP eth1 10.204.0.12/24"
        # (the lease is the proof of traffic both ways on b; a ping would be
        # answered through eth0, on the same CIDR of network a)
        wait_for(lambda: marker in console("a"), 120, f"{marker!r} on guest a")
    finally:
        for domain in domains:
            with contextlib.suppress(libvirt.libvirtError):
                domain.destroy()
        conn.close()
        cleanup(agent, [client], [phys["a"], phys["b"]])
        shutil.rmtree(workdir, ignore_errors=True)
