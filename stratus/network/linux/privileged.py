"""Root-only operations of the data plane, as oslo.privsep entry points.

Each function here is small, takes and returns plain data (str, int, list,
dict: what privsep's msgpack channel carries) and runs in the privsep daemon of
:data:`stratus.privsep.sys_admin_pctxt`. Links, addresses and namespaces go
through pyroute2 (netlink); forwarding database entries through iproute2's
``bridge`` (pyroute2's ``fdb`` does not set ``NTF_SELF`` on VXLAN devices), and
dnsmasq is started with ``ip netns exec``. ``netns`` arguments name the network
namespace that stands for the host (None: the caller's own, as in production;
the two-host test runs one agent per namespace).

Running entry points
--------------------
In a service the first call starts the daemon through ``sudo privsep-helper``
(the ``[stratus_sys_admin] helper_command`` option overrides the command). A
process that is already root, such as a test, has two ways:

* the real daemon, forked without sudo: call
  ``sys_admin_pctxt.start(oslo_privsep.priv_context.Method.FORK)`` once before
  the first entry point (the daemon keeps only the context's capabilities;
  calls then cross the privsep channel as in production). The venv's
  ``privsep-helper`` with ``helper_command = <venv>/bin/privsep-helper`` works
  too (``--privsep_context stratus.privsep.sys_admin_pctxt`` is appended).
* in process: ``sys_admin_pctxt.set_client_mode(False)`` makes every entry point
  a plain function call (no channel, no capability drop). Pure unit tests may
  use it; the integration tests use the forked daemon.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import glob
import json
import os
import platform
import re
import signal
import socket
import struct
import subprocess
import sys
from typing import Any

from pyroute2 import Conntrack, IPRoute
from pyroute2 import netns as pyroute2_netns
from pyroute2.netlink.exceptions import NetlinkError

from stratus.privsep import sys_admin_pctxt

ETH_P_ARP = 0x0806
ETH_P_IP = 0x0800


class VlanUnsupported(RuntimeError):
    """The kernel has no 802.1Q (VLAN) support."""


def _ipr(netns: str | None) -> IPRoute:
    return IPRoute(netns=netns, flags=0) if netns else IPRoute()


def _add_link(ipr: IPRoute, **kwargs: Any) -> bool:
    """``ip link add``; False if a link of that name appeared meanwhile (the compute
    and the agent may make a network's devices at the same time)."""
    try:
        ipr.link("add", **kwargs)
    except NetlinkError as exc:
        if exc.code != errno.EEXIST:
            raise
        return False
    return True


def _index(ipr: IPRoute, name: str) -> int | None:
    found = ipr.link_lookup(ifname=name)
    return found[0] if found else None


def _ip_prefix(netns: str | None) -> list[str]:
    return ["ip", "netns", "exec", netns] if netns else []


def _run(argv: list[str]) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {done.stderr.strip() or done.returncode}")
    return done.stdout


@functools.cache
def kernel_has_vlan() -> bool:
    """Whether the running kernel has 802.1Q: loaded, built in, or loadable
    (looked up once per process)."""
    if os.path.exists("/proc/net/vlan"):
        return True
    release = platform.release()
    builtin = f"/lib/modules/{release}/modules.builtin"
    try:
        with open(builtin) as f:
            if any(line.rstrip().endswith("/8021q.ko") for line in f):
                return True
    except OSError:
        pass
    return bool(glob.glob(f"/lib/modules/{release}/kernel/net/8021q/8021q.ko*"))


# --- links -------------------------------------------------------------------


@sys_admin_pctxt.entrypoint
def list_links(netns: str | None = None) -> list[dict[str, Any]]:
    """Every link of the namespace: name, kind, alias, master, mtu, up, vxlan data."""
    out = []
    with _ipr(netns) as ipr:
        links = list(ipr.get_links())
        names = {link["index"]: link.get("IFLA_IFNAME") for link in links}
        for link in links:
            info = link.get("IFLA_LINKINFO")
            kind = info.get("IFLA_INFO_KIND") if info else None
            entry: dict[str, Any] = {
                "name": link.get("IFLA_IFNAME"),
                "kind": kind,
                "alias": link.get("IFLA_IFALIAS"),
                "master": names.get(link.get("IFLA_MASTER")),
                "mtu": link.get("IFLA_MTU"),
                "up": bool(link["flags"] & 1),
            }
            if kind == "vxlan":
                data = info.get("IFLA_INFO_DATA")
                entry["vxlan"] = {
                    "vni": data.get("IFLA_VXLAN_ID"),
                    "local": data.get("IFLA_VXLAN_LOCAL"),
                    "port": data.get("IFLA_VXLAN_PORT"),
                    "dev": names.get(data.get("IFLA_VXLAN_LINK")),
                }
            out.append(entry)
    return out


@sys_admin_pctxt.entrypoint
def ensure_bridge(name: str, mtu: int, alias: str, netns: str | None = None) -> bool:
    """Create the bridge if missing; set its MTU and alias; bring it up. True if created."""
    with _ipr(netns) as ipr:
        created = False
        if _index(ipr, name) is None:
            created = _add_link(ipr, ifname=name, kind="bridge")
        index = _index(ipr, name)
        ipr.link("set", index=index, mtu=mtu, ifalias=alias, state="up")
        return created


@sys_admin_pctxt.entrypoint
def ensure_vxlan(
    name: str,
    vni: int,
    local_ip: str,
    dev: str | None,
    port: int,
    mtu: int,
    bridge: str,
    alias: str,
    netns: str | None = None,
) -> bool:
    """The VXLAN device (no multicast group, no learning), in the bridge. True if (re)made."""
    with _ipr(netns) as ipr:
        want = {"vni": vni, "local": local_ip, "port": port, "dev": dev or None}
        made = False
        index = _index(ipr, name)
        if index is not None:
            (link,) = ipr.get_links(index)
            data = link.get("IFLA_LINKINFO").get("IFLA_INFO_DATA")
            lower = data.get("IFLA_VXLAN_LINK")
            have = {
                "vni": data.get("IFLA_VXLAN_ID"),
                "local": data.get("IFLA_VXLAN_LOCAL"),
                "port": data.get("IFLA_VXLAN_PORT"),
                "dev": ipr.get_links(lower)[0].get("IFLA_IFNAME") if lower else None,
            }
            if have != want:
                ipr.link("del", index=index)
                index = None
        if index is None:
            kwargs: dict[str, Any] = {
                "ifname": name,
                "kind": "vxlan",
                "vxlan_id": vni,
                "vxlan_local": local_ip,
                "vxlan_port": port,
                "vxlan_learning": 0,
            }
            if dev:
                lower_index = _index(ipr, dev)
                if lower_index is None:
                    raise RuntimeError(f"VXLAN lower device {dev} does not exist")
                kwargs["vxlan_link"] = lower_index
            made = _add_link(ipr, **kwargs)
            index = _index(ipr, name)
        ipr.link("set", index=index, mtu=mtu, ifalias=alias, master=_index(ipr, bridge), state="up")
        return made


@sys_admin_pctxt.entrypoint
def ensure_vlan(
    name: str,
    physical: str,
    vlan_id: int,
    mtu: int,
    bridge: str,
    alias: str,
    netns: str | None = None,
) -> bool:
    """A VLAN sub-interface of ``physical``, in the bridge. True if created."""
    if not kernel_has_vlan():
        raise VlanUnsupported("this kernel has no 802.1Q (VLAN) support")
    with _ipr(netns) as ipr:
        created = False
        if _index(ipr, name) is None:
            parent = _index(ipr, physical)
            if parent is None:
                raise RuntimeError(f"physical interface {physical} does not exist")
            created = _add_link(ipr, ifname=name, kind="vlan", link=parent, vlan_id=vlan_id)
        ipr.link(
            "set",
            index=_index(ipr, name),
            mtu=mtu,
            ifalias=alias,
            master=_index(ipr, bridge),
            state="up",
        )
        return created


@sys_admin_pctxt.entrypoint
def enslave(ifname: str, bridge: str, netns: str | None = None) -> None:
    """Put an existing interface (a flat network's physical one) in the bridge, up."""
    with _ipr(netns) as ipr:
        index = _index(ipr, ifname)
        if index is None:
            raise RuntimeError(f"interface {ifname} does not exist")
        ipr.link("set", index=index, master=_index(ipr, bridge), state="up")


@sys_admin_pctxt.entrypoint
def release(ifname: str, netns: str | None = None) -> None:
    """Take an interface out of its bridge (it stays, as a physical interface must)."""
    with _ipr(netns) as ipr:
        index = _index(ipr, ifname)
        if index is not None:
            ipr.link("set", index=index, master=0)


@sys_admin_pctxt.entrypoint
def delete_link(name: str, netns: str | None = None) -> bool:
    """Delete a link if it exists. True if it existed."""
    with _ipr(netns) as ipr:
        index = _index(ipr, name)
        if index is None:
            return False
        try:
            ipr.link("del", index=index)
        except NetlinkError as exc:
            if exc.code != errno.ENODEV:
                raise
            return False
        return True


# --- forwarding database (l2population) ---------------------------------------


@sys_admin_pctxt.entrypoint
def fdb_entries(dev: str, netns: str | None = None) -> list[list[str]]:
    """[mac, remote VTEP] of the device's remote entries (``bridge fdb show dev``)."""
    out = _run(_ip_prefix(netns) + ["bridge", "-j", "fdb", "show", "dev", dev])
    return sorted([e["mac"], e["dst"]] for e in json.loads(out or "[]") if e.get("dst"))


@sys_admin_pctxt.entrypoint
def fdb_add(dev: str, mac: str, dst: str, netns: str | None = None) -> None:
    """Flooding entries (all-zero MAC) are appended; a MAC's entry replaces the old one."""
    verb = "append" if mac == "00:00:00:00:00:00" else "replace"
    _run(_ip_prefix(netns) + ["bridge", "fdb", verb, mac, "dev", dev, "dst", dst])


@sys_admin_pctxt.entrypoint
def fdb_delete(dev: str, mac: str, dst: str, netns: str | None = None) -> None:
    _run(_ip_prefix(netns) + ["bridge", "fdb", "del", mac, "dev", dev, "dst", dst])


# --- namespaces and veth pairs -------------------------------------------------


@sys_admin_pctxt.entrypoint
def list_namespaces() -> list[str]:
    return sorted(pyroute2_netns.listnetns())


@sys_admin_pctxt.entrypoint
def ensure_namespace(name: str) -> bool:
    """Create the namespace (loopback up) if missing. True if created."""
    if name in pyroute2_netns.listnetns():
        return False
    pyroute2_netns.create(name)
    with IPRoute(netns=name, flags=0) as ipr:
        ipr.link("set", index=_index(ipr, "lo"), state="up")
    return True


@sys_admin_pctxt.entrypoint
def delete_namespace(name: str) -> bool:
    """Remove the namespace (its veth ends go with it). True if it existed."""
    if name not in pyroute2_netns.listnetns():
        return False
    pyroute2_netns.remove(name)
    return True


@sys_admin_pctxt.entrypoint
def plug_namespace_port(
    namespace: str,
    ns_dev: str,
    bridge_dev: str,
    bridge: str,
    mac: str,
    mtu: int,
    addresses: list[str],
    netns: str | None = None,
) -> None:
    """A veth pair from the bridge (in ``netns``) into ``namespace``, where the
    namespace end gets the MAC, MTU and exactly ``addresses`` (``a.b.c.d/len``)."""
    with _ipr(netns) as host:
        if _index(host, bridge_dev) is None:
            host.link("add", ifname=bridge_dev, kind="veth", peer=ns_dev)
            host.link("set", index=_index(host, ns_dev), net_ns_fd=namespace)
        host.link(
            "set",
            index=_index(host, bridge_dev),
            mtu=mtu,
            master=_index(host, bridge),
            state="up",
        )
    with IPRoute(netns=namespace, flags=0) as ns:
        index = _index(ns, ns_dev)
        if index is None:
            raise RuntimeError(f"{ns_dev} is not in namespace {namespace}")
        ns.link("set", index=index, address=mac, mtu=mtu, state="up")
        have = {
            f"{a.get('IFA_ADDRESS')}/{a['prefixlen']}"
            for a in ns.get_addr(index=index)
            if not (a["family"] == 10 and a.get("IFA_ADDRESS", "").startswith("fe80:"))
        }
        for cidr in sorted(have - set(addresses)):
            address, prefix = cidr.split("/")
            ns.addr("del", index=index, address=address, prefixlen=int(prefix))
        for cidr in sorted(set(addresses) - have):
            address, prefix = cidr.split("/")
            ns.addr("add", index=index, address=address, prefixlen=int(prefix))


# --- dnsmasq -----------------------------------------------------------------


def _cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode() for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def _is_dnsmasq(argv: list[str]) -> bool:
    return bool(argv) and os.path.basename(argv[0]) == "dnsmasq"


def process_running(pid_file: str) -> int | None:
    """The pid in ``pid_file`` if a dnsmasq still runs with that pid file."""
    try:
        with open(pid_file) as f:
            pid = int(f.read().strip())
    except (OSError, ValueError):
        return None
    argv = _cmdline(pid)
    return pid if _is_dnsmasq(argv) and f"--pid-file={pid_file}" in argv else None


@sys_admin_pctxt.entrypoint
def start_dnsmasq(namespace: str, argv: list[str], pid_file: str) -> int:
    """Start dnsmasq (it forks) inside ``namespace``; the daemon's pid.

    Only a dnsmasq command line (options only) is accepted: this entry point
    must not become a way to run any program as root."""
    argv = list(argv)
    if not _is_dnsmasq(argv) or not all(a.startswith("--") for a in argv[1:]):
        raise ValueError("start_dnsmasq runs dnsmasq with options only")
    if f"--pid-file={pid_file}" not in argv:
        raise ValueError("the command line must write the given pid file")
    _run(["ip", "netns", "exec", namespace, *argv])
    pid = process_running(pid_file)
    if pid is None:
        raise RuntimeError(f"dnsmasq did not start: no process for {pid_file}")
    return pid


@sys_admin_pctxt.entrypoint
def signal_dnsmasq(pid_file: str, signum: int) -> bool:
    """Signal the dnsmasq of ``pid_file`` (only a process started with it). True if sent."""
    pid = process_running(pid_file)
    if pid is None:
        return False
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        return False
    return True


def stop_dnsmasq(pid_file: str) -> bool:
    return signal_dnsmasq(pid_file, int(signal.SIGTERM))


# --- nftables (security groups) ------------------------------------------------


NFT_TABLE = "stratus"


def check_nft_script(script: str) -> None:
    """Refuse (ValueError) a script with a command that is not an add, delete or
    flush on the ``bridge``/``inet`` tables named ``stratus``: the entry point
    must not become a way to change any other table of the host. One command a
    line: a ``;`` outside braces (a second command) or a line continuation is
    refused too."""
    _check_nft_commands(script, ("bridge", "inet"), NFT_TABLE, "nft_apply")


def _check_nft_commands(script: str, families: tuple[str, ...], table: str, caller: str) -> None:
    """Refuse (ValueError) any line of ``script`` that is not one add, delete or
    flush command on ``table`` of one of ``families``."""
    for line in script.splitlines():
        words = line.split()
        if not words:
            continue
        outside = line
        while True:
            stripped = re.sub(r"\{[^{}]*\}", "", outside)
            if stripped == outside:
                break
            outside = stripped
        if (
            ";" in outside
            or "\\" in line
            or len(words) < 4
            or words[0] not in ("add", "delete", "flush")
            or words[2] not in families
            or words[3] != table
        ):
            raise ValueError(f"{caller}: not a command on the {table} tables: {line!r}")


@sys_admin_pctxt.entrypoint
def nft_apply(script: str, netns: str | None = None) -> None:
    """Run an nft script (``nft -f -``) in the namespace: one transaction, all or
    nothing (stratus.network.linux.firewall writes the scripts).

    Only commands on the ``stratus`` tables are accepted (:func:`check_nft_script`)."""
    check_nft_script(script)
    argv = _ip_prefix(netns) + ["nft", "-f", "-"]
    done = subprocess.run(argv, input=script, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"nft -f: {done.stderr.strip() or done.returncode}")


@sys_admin_pctxt.entrypoint
def nft_list_table(family: str, table: str, netns: str | None = None) -> dict[str, Any] | None:
    """``nft -j list table`` as parsed JSON; None if the table (or nft) does not exist."""
    argv = _ip_prefix(netns) + ["nft", "-j", "list", "table", family, table]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
    except FileNotFoundError:  # no nft (nor ip) here: no table either
        return None
    if done.returncode != 0:
        return None
    return json.loads(done.stdout)


@sys_admin_pctxt.entrypoint
def enable_bridge_netfilter(netns: str | None = None) -> None:
    """Pass bridged IPv4/IPv6 through the inet hooks (br_netfilter, per namespace),
    where connection tracking works on every kernel; loads the module if needed."""
    if not os.path.isdir("/proc/sys/net/bridge"):
        _run(["modprobe", "br_netfilter"])
    for key in ("bridge-nf-call-iptables", "bridge-nf-call-ip6tables"):
        _run(_ip_prefix(netns) + ["sysctl", "-q", "-w", f"net.bridge.{key}=1"])


# --- metadata proxy ------------------------------------------------------------

METADATA_PROXY_MODULE = "stratus.network.linux.metadata_proxy"


def metadata_proxy_running(pid_file: str) -> int | None:
    """The pid in ``pid_file`` if a metadata proxy still runs with that pid file."""
    try:
        with open(pid_file) as f:
            pid = int(f.read().strip())
    except (OSError, ValueError):
        return None
    argv = _cmdline(pid)
    return pid if METADATA_PROXY_MODULE in argv and f"--pid-file={pid_file}" in argv else None


@sys_admin_pctxt.entrypoint
def start_metadata_proxy(namespace: str, config: str, pid_file: str, user: str | None) -> int:
    """Start the metadata proxy (stratus.network.linux.metadata_proxy; it forks),
    listening inside ``namespace`` and forwarding from this one, reading
    ``config`` and dropping to ``user``; its pid.

    The command line is made here from the arguments: the entry point runs
    nothing but the proxy."""
    argv = [
        sys.executable,
        "-m",
        METADATA_PROXY_MODULE,
        f"--netns={namespace}",
        f"--config={config}",
        f"--pid-file={pid_file}",
    ]
    if user:
        argv.append(f"--user={user}")
    _run(argv)
    pid = metadata_proxy_running(pid_file)
    if pid is None:
        raise RuntimeError(f"the metadata proxy did not start: no process for {pid_file}")
    return pid


@sys_admin_pctxt.entrypoint
def stop_metadata_proxy(pid_file: str) -> bool:
    """SIGTERM to the metadata proxy of ``pid_file`` (only that one). True if sent."""
    pid = metadata_proxy_running(pid_file)
    if pid is None:
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    return True


# --- routers -----------------------------------------------------------------

ROUTER_NFT_TABLE = "stratus-router"
ROUTER_NAMESPACE_PREFIX = "qrouter-"
RTPROT_KERNEL = 2
RTPROT_STATIC = 4
MAIN_TABLE = 254


def _router_namespace(namespace: str) -> str:
    """``namespace`` if it is a router's: the router entry points act only there."""
    if not namespace.startswith(ROUTER_NAMESPACE_PREFIX) or "/" in namespace:
        raise ValueError(f"{namespace!r} is not a router namespace")
    return namespace


def check_router_nft_script(script: str) -> None:
    """Refuse (ValueError) a script with a command that is not an add, delete or
    flush on the ``ip stratus-router`` table (rules as for :func:`check_nft_script`)."""
    _check_nft_commands(script, ("ip",), ROUTER_NFT_TABLE, "router_nft_apply")


@sys_admin_pctxt.entrypoint
def router_forwarding(namespace: str) -> None:
    """Turn IPv4 forwarding on inside a router's namespace (and only there)."""
    _run(
        ["ip", "netns", "exec", _router_namespace(namespace)]
        + ["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"]
    )


@sys_admin_pctxt.entrypoint
def router_nft_apply(namespace: str, script: str) -> None:
    """Run an nft script (one transaction) in a router's namespace; only commands on
    its ``ip stratus-router`` table are accepted (:func:`check_router_nft_script`)."""
    check_router_nft_script(script)
    argv = ["ip", "netns", "exec", _router_namespace(namespace), "nft", "-f", "-"]
    done = subprocess.run(argv, input=script, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"nft -f: {done.stderr.strip() or done.returncode}")


def _route_key(route: Any) -> tuple[str, str | None]:
    return (f"{route.get('RTA_DST') or '0.0.0.0'}/{route['dst_len']}", route.get("RTA_GATEWAY"))


def _managed_routes(ipr: IPRoute) -> list[Any]:
    """The main table's IPv4 unicast routes that are not the kernel's (connected)."""
    return [
        route
        for route in ipr.get_routes(family=socket.AF_INET, table=MAIN_TABLE)
        if route["proto"] != RTPROT_KERNEL and route["type"] == 1
    ]


@sys_admin_pctxt.entrypoint
def router_devices(namespace: str) -> dict[str, Any]:
    """What a router's namespace holds, in one look: its links (name -> MAC, MTU,
    up, addresses as ``address/len`` without IPv6 link-local ones, as
    :func:`plug_namespace_port` sets them) and its IPv4 routes besides the
    connected ones ([destination, next hop])."""
    with IPRoute(netns=_router_namespace(namespace), flags=0) as ipr:
        addresses: dict[int, list[str]] = {}
        for addr in ipr.get_addr():
            if addr["family"] == socket.AF_INET6 and addr.get("IFA_ADDRESS", "").startswith(
                "fe80:"
            ):
                continue
            addresses.setdefault(addr["index"], []).append(
                f"{addr.get('IFA_ADDRESS')}/{addr['prefixlen']}"
            )
        links = {
            link.get("IFLA_IFNAME"): {
                "mac": link.get("IFLA_ADDRESS"),
                "mtu": link.get("IFLA_MTU"),
                "up": bool(link["flags"] & 1),
                "addresses": sorted(addresses.get(link["index"], [])),
            }
            for link in ipr.get_links()
        }
        routes = [list(_route_key(route)) for route in _managed_routes(ipr)]
    return {"links": links, "routes": sorted(routes, key=str)}


@sys_admin_pctxt.entrypoint
def router_routes(namespace: str, routes: list[list[str]]) -> list[str]:
    """Make the main table's IPv4 routes of a router's namespace, besides the
    connected ones, exactly ``routes`` ([destination CIDR, next hop]). Every route
    is tried; the ones the kernel refused (a next hop off every subnet), with why."""
    want: set[tuple[str, str | None]] = {(str(dst), str(via)) for dst, via in routes}
    failed = []
    with IPRoute(netns=_router_namespace(namespace), flags=0) as ipr:
        have = {_route_key(route) for route in _managed_routes(ipr)}
        for dst, via in sorted(have - want, key=str):
            ipr.route("del", dst=dst, gateway=via, table=MAIN_TABLE)
        for dst, via in sorted(want - have):
            try:
                ipr.route("replace", dst=dst, gateway=via, table=MAIN_TABLE, proto=RTPROT_STATIC)
            except NetlinkError as exc:
                failed.append(f"{dst} via {via}: {exc.args[-1] if exc.args else exc}")
    return failed


@sys_admin_pctxt.entrypoint
def router_announce(namespace: str, dev: str, addresses: list[str]) -> None:
    """Gratuitous ARP (a broadcast request for the address itself) for each address
    from ``dev`` of a router's namespace, so that neighbours learn at once which
    MAC now answers for an address that moved."""
    sock = pyroute2_netns.create_socket(
        _router_namespace(namespace), socket.AF_PACKET, socket.SOCK_RAW, 0, flags=0
    )
    with sock:
        sock.bind((dev, ETH_P_ARP))
        mac = sock.getsockname()[4][:6]
        for address in addresses:
            ip = socket.inet_aton(address)
            arp = struct.pack("!HHBBH", 1, ETH_P_IP, 6, 4, 1) + mac + ip + b"\0" * 6 + ip
            frame = b"\xff" * 6 + mac + struct.pack("!H", ETH_P_ARP) + arp
            sock.send(frame.ljust(60, b"\0"))


@sys_admin_pctxt.entrypoint
def router_forget_connections(namespace: str, addresses: list[str]) -> int:
    """Delete the tracked connections of a router's namespace that one of
    ``addresses`` took part in (a floating IP that moved or went: its NAT is fixed
    per connection, so old flows would keep their old mapping). How many."""
    wanted = set(addresses)
    deleted = 0
    with Conntrack(netns=_router_namespace(namespace), flags=0) as ct:
        for entry in list(ct.dump_entries()):
            ends = {
                entry.tuple_orig.saddr,
                entry.tuple_orig.daddr,
                entry.tuple_reply.saddr,
                entry.tuple_reply.daddr,
            }
            if ends & wanted:
                with contextlib.suppress(NetlinkError):
                    ct.delete(entry)
                    deleted += 1
    return deleted
