"""Routers in network namespaces: pure renderers from the desired state, and the
driver that makes a host's ``qrouter-<id>`` namespaces match them.

A router of the desired state (``routers`` of :mod:`stratus.network.agent`)::

    {"id", "admin_state_up",
     "gateway": None | {"port_id", "mac_address", "network_id", "bridge_name", "mtu",
                        "fixed_ips": [{"subnet_id", "ip_address", "cidr", "gateway_ip"}],
                        "enable_snat"},
     "interfaces": [{"port_id", "mac_address", "network_id", "bridge_name", "mtu",
                     "fixed_ips": [{"subnet_id", "ip_address", "cidr"}]}],
     "routes": [{"destination", "nexthop"}],
     "floating_ips": [{"id", "floating_ip_address", "fixed_ip_address"}],
     "port_forwardings": [{"id", "floating_ip_address", "protocol", "external_port",
                           "internal_ip_address", "internal_port"}]}

Each router port is a veth pair: its bridge end (:func:`names.tap_name`) in the
network's bridge, its other end (``qr-…`` for an interface, ``qg-…`` for the
gateway) in the router's namespace with the port's MAC and addresses. The
gateway device also carries every floating address as a /32, so that the router
answers ARP for them; a floating address that is new or moved is announced by
gratuitous ARP. The namespace forwards IPv4; its routes are a default route via
the external subnet's gateway and the router's static routes.

NAT is one nftables table, ``ip stratus-router``, rendered whole per router and
replaced in one transaction when it changed: in ``prerouting`` port forwardings
(DNAT of protocol and port) and floating IPs (DNAT to the fixed address); in
``postrouting``, for traffic leaving through the gateway only, floating IPs
(SNAT of the fixed address) and, with ``enable_snat``, the internal subnets
(SNAT to the gateway's address). Traffic between internal subnets is routed
untouched. Connections tracked for a floating IP whose mapping changed are
forgotten, so that they cannot keep the old one.

The namespace holds only the router's own devices: nothing it does can reach the
host's root namespace or its uplink.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import netaddr

from stratus.network.linux import names, privileged

if TYPE_CHECKING:
    from stratus.network.agent import ReconcileResult

LOG = logging.getLogger(__name__)

TABLE = privileged.ROUTER_NFT_TABLE
FAMILY = "ip"
DEFAULT_MTU = 1500
NAT_FILE = "nat.nft"
FLOATING_FILE = "floating.json"


# --- pure: from the desired state ------------------------------------------------


@dataclass(frozen=True)
class RouterPort:
    """One veth pair of a router: ``device`` in its namespace, ``tap`` in ``bridge``."""

    port_id: str
    device: str
    tap: str
    bridge: str
    mac: str
    mtu: int
    addresses: tuple[str, ...]


def _ipv4_fixed(port: dict[str, Any]) -> list[dict[str, Any]]:
    fixed = port.get("fixed_ips") or []
    return [f for f in fixed if netaddr.IPAddress(f["ip_address"]).version == 4]


def _with_prefix(fixed: dict[str, Any]) -> str:
    return f"{netaddr.IPAddress(fixed['ip_address'])}/{netaddr.IPNetwork(fixed['cidr']).prefixlen}"


def floating_addresses(router: dict[str, Any]) -> list[str]:
    """The floating addresses the router answers for: associated floating IPs and
    those of port forwardings."""
    found = {str(f["floating_ip_address"]) for f in router.get("floating_ips") or []}
    found |= {str(p["floating_ip_address"]) for p in router.get("port_forwardings") or []}
    return sorted(found, key=netaddr.IPAddress)


def ports(router: dict[str, Any]) -> list[RouterPort]:
    """The router's veth pairs: the gateway's (with the floating addresses as /32)
    first, then the interfaces'."""
    out = []
    gateway = router.get("gateway")
    items = [(gateway, True)] if gateway else []
    items += [(port, False) for port in router.get("interfaces") or []]
    for port, is_gateway in items:
        addresses = [_with_prefix(f) for f in port.get("fixed_ips") or []]
        if is_gateway:
            own = {a.split("/")[0] for a in addresses}
            addresses += [f"{a}/32" for a in floating_addresses(router) if a not in own]
        out.append(
            RouterPort(
                port_id=port["port_id"],
                device=names.router_device_name(port["port_id"], gateway=is_gateway),
                tap=names.tap_name(port["port_id"]),
                bridge=port["bridge_name"],
                mac=str(port["mac_address"]).lower(),
                mtu=int(port.get("mtu") or DEFAULT_MTU),
                addresses=tuple(addresses),
            )
        )
    return out


def routes(router: dict[str, Any]) -> list[list[str]]:
    """[destination, next hop] of the router's namespace: the default route via the
    first external subnet gateway, then the static routes (IPv4)."""
    out = []
    gateway = router.get("gateway")
    hops = [f["gateway_ip"] for f in _ipv4_fixed(gateway or {}) if f.get("gateway_ip")]
    if hops:
        out.append(["0.0.0.0/0", str(netaddr.IPAddress(hops[0]))])
    for route in router.get("routes") or []:
        dst = netaddr.IPNetwork(route["destination"])
        if dst.version == 4:
            out.append([str(dst.cidr), str(netaddr.IPAddress(route["nexthop"]))])
    return out


def floating_targets(router: dict[str, Any]) -> dict[str, list[str]]:
    """Floating address -> what it is translated to (its fixed address and port
    forwardings): two routers' states differ for an address exactly when the
    connections tracked for it may carry a stale mapping."""
    targets: dict[str, list[str]] = {}
    for fip in router.get("floating_ips") or []:
        targets.setdefault(str(fip["floating_ip_address"]), []).append(str(fip["fixed_ip_address"]))
    for pf in router.get("port_forwardings") or []:
        targets.setdefault(str(pf["floating_ip_address"]), []).append(
            f"{pf['protocol']}/{pf['external_port']}>"
            f"{pf['internal_ip_address']}:{pf['internal_port']}"
        )
    return {address: sorted(items) for address, items in sorted(targets.items())}


def nat_rules(router: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The rule statements of the ``prerouting`` and ``postrouting`` NAT chains."""
    pre: list[str] = []
    post: list[str] = []
    gateway = router.get("gateway")
    for pf in sorted(
        router.get("port_forwardings") or [],
        key=lambda p: (p["floating_ip_address"], p["protocol"], int(p["external_port"])),
    ):
        proto = str(pf["protocol"]).lower()
        if proto not in ("tcp", "udp"):
            raise ValueError(f"port forwarding {pf.get('id')}: protocol {proto!r}")
        pre.append(
            f"ip daddr {netaddr.IPAddress(pf['floating_ip_address'])} {proto} dport "
            f"{int(pf['external_port'])} dnat to "
            f"{netaddr.IPAddress(pf['internal_ip_address'])}:{int(pf['internal_port'])}"
        )
    fips = sorted(
        router.get("floating_ips") or [],
        key=lambda f: netaddr.IPAddress(f["floating_ip_address"]),
    )
    for fip in fips:
        floating = netaddr.IPAddress(fip["floating_ip_address"])
        fixed = netaddr.IPAddress(fip["fixed_ip_address"])
        pre.append(f"ip daddr {floating} dnat to {fixed}")
    if not gateway:
        return pre, post
    qg = names.router_device_name(gateway["port_id"], gateway=True)
    for fip in fips:
        floating = netaddr.IPAddress(fip["floating_ip_address"])
        fixed = netaddr.IPAddress(fip["fixed_ip_address"])
        post.append(f'oifname "{qg}" ip saddr {fixed} snat to {floating}')
    external = _ipv4_fixed(gateway)
    internal = sorted(
        {
            str(netaddr.IPNetwork(f["cidr"]).cidr)
            for port in router.get("interfaces") or []
            for f in _ipv4_fixed(port)
        },
        key=netaddr.IPNetwork,
    )
    if gateway.get("enable_snat", True) and external and internal:
        address = netaddr.IPAddress(external[0]["ip_address"])
        post.append(f'oifname "{qg}" ip saddr {{ {", ".join(internal)} }} snat to {address}')
    return pre, post


def nat_script(router: dict[str, Any]) -> str:
    """The router's whole table as one ``nft -f`` transaction that replaces it."""
    t = f"{FAMILY} {TABLE}"
    pre, post = nat_rules(router)
    nat = "type nat hook {} priority {}; policy accept;"
    lines = [
        f"add table {t}",
        f"delete table {t}",
        f"add table {t}",
        f"add chain {t} prerouting {{ {nat.format('prerouting', 'dstnat')} }}",
        f"add chain {t} postrouting {{ {nat.format('postrouting', 'srcnat')} }}",
        *(f"add rule {t} prerouting {rule}" for rule in pre),
        *(f"add rule {t} postrouting {rule}" for rule in post),
    ]
    return "\n".join(lines) + "\n"


def wanted(router: dict[str, Any]) -> bool:
    """Whether the router gets a namespace here (an administratively down router
    routes nothing)."""
    return bool(router.get("admin_state_up", True))


# --- the driver ------------------------------------------------------------------


class Routers:
    """Makes a host's router namespaces match the desired state.

    ``netns``: the namespace that stands for the host (its bridges); ``state_path``:
    the directory under which each router this driver owns has a directory (what
    the prune looks at: namespaces of others are never touched)."""

    def __init__(self, netns: str | None, state_path: str) -> None:
        self.netns = netns
        self.state_path = state_path
        self._applied: dict[str, str] = {}

    def owned(self) -> set[str]:
        try:
            return set(os.listdir(self.state_path))
        except FileNotFoundError:
            return set()

    def reconcile(
        self, routers: list[dict[str, Any]], result: ReconcileResult, prune: bool
    ) -> list[str]:
        """Create and update every wanted router; remove (``prune``) or list (the
        return value) the routers and router ports that the state no longer names."""
        want = {r["id"]: r for r in routers if wanted(r)}
        stale: list[str] = []
        host_links = {}
        if want:
            host_links = {link["name"]: link for link in privileged.list_links(self.netns)}
        for router_id, router in sorted(want.items()):
            try:
                stale += self._router(router, host_links, result, prune)
            except Exception as exc:  # one router's failure must not stop the others
                LOG.error("router %s: %s", router_id, exc)
                result.errors[f"router:{router_id}"] = str(exc)
        gone = sorted(self.owned() - set(want))
        if prune:
            for router_id in gone:
                self.remove(router_id, result)
        else:
            stale += [f"router:{router_id}" for router_id in gone]
        return stale

    def _router(
        self,
        router: dict[str, Any],
        host_links: dict[str, dict[str, Any]],
        result: ReconcileResult,
        prune: bool,
    ) -> list[str]:
        router_id = router["id"]
        namespace = names.router_namespace(router_id)
        directory = os.path.join(self.state_path, router_id)
        os.makedirs(directory, exist_ok=True)
        created = privileged.ensure_namespace(namespace)
        if created:
            result.created.append(namespace)
            self._applied.pop(router_id, None)
        if created or router_id not in self._applied:
            privileged.router_forwarding(namespace)
        wanted_ports = ports(router)
        inside = privileged.router_devices(namespace)
        present = inside["links"]
        for port in wanted_ports:
            if _plugged(port, present.get(port.device), host_links.get(port.tap)):
                continue
            if port.device not in present and port.tap in host_links:
                privileged.delete_link(port.tap, self.netns)  # half a pair, from before
            privileged.plug_namespace_port(
                namespace,
                port.device,
                port.tap,
                port.bridge,
                port.mac,
                port.mtu,
                list(port.addresses),
                self.netns,
            )
            if port.device not in present:
                result.created.append(f"{namespace}:{port.device}")
        stale = sorted(
            name
            for name in set(present) - {p.device for p in wanted_ports}
            if name.startswith((names.ROUTER_INTERFACE_PREFIX, names.ROUTER_GATEWAY_PREFIX))
        )
        if prune:
            for name in stale:
                if privileged.delete_link(name, namespace):
                    result.removed.append(f"{namespace}:{name}")
            stale = []
        want_routes = routes(router)
        failed = []
        if sorted(map(tuple, inside["routes"])) != sorted(map(tuple, want_routes)):
            failed = privileged.router_routes(namespace, want_routes)
        if failed:
            result.errors[f"router:{router_id}:routes"] = "; ".join(failed)
        self._nat(router, directory, namespace, created, result)
        return [f"router-port:{router_id}:{name}" for name in stale]

    def _nat(
        self,
        router: dict[str, Any],
        directory: str,
        namespace: str,
        created: bool,
        result: ReconcileResult,
    ) -> None:
        router_id = router["id"]
        script = nat_script(router)
        nat_file = os.path.join(directory, NAT_FILE)
        floating_file = os.path.join(directory, FLOATING_FILE)
        targets = floating_targets(router)
        before = _read_json(floating_file)
        changed = sorted(a for a in set(targets) | set(before) if targets.get(a) != before.get(a))
        applied = self._applied.get(router_id)
        if (
            applied is None
            and not created
            and _read(nat_file) == script
            and privileged.nft_list_table(FAMILY, TABLE, namespace) is not None
        ):  # a restarted agent: the table it wrote is there, as it wrote it
            applied = self._applied[router_id] = script
        if applied != script:
            self._applied.pop(router_id, None)
            privileged.router_nft_apply(namespace, script)
            _write(nat_file, script)
            self._applied[router_id] = script
            result.reloaded.append(f"{namespace}:nat")
        if changed:
            privileged.router_forget_connections(namespace, changed)
        _write(floating_file, json.dumps(targets, sort_keys=True))
        gateway = router.get("gateway")
        # addresses new to this router (one that stays keeps the gateway's MAC)
        announce = [a for a in floating_addresses(router) if created or a not in before]
        if gateway and announce:
            device = names.router_device_name(gateway["port_id"], gateway=True)
            privileged.router_announce(namespace, device, announce)

    def remove(self, router_id: str, result: ReconcileResult) -> None:
        """Remove a router: its devices (their bridge ends go with them), its
        namespace (tables and routes go with it) and its directory."""
        namespace = names.router_namespace(router_id)
        if namespace in privileged.list_namespaces():
            for link in privileged.list_links(namespace):
                if link["name"].startswith(
                    (names.ROUTER_INTERFACE_PREFIX, names.ROUTER_GATEWAY_PREFIX)
                ):
                    privileged.delete_link(link["name"], namespace)
            if privileged.delete_namespace(namespace):
                result.removed.append(namespace)
        self._applied.pop(router_id, None)
        shutil.rmtree(os.path.join(self.state_path, router_id), ignore_errors=True)


def _plugged(
    port: RouterPort, inside: dict[str, Any] | None, outside: dict[str, Any] | None
) -> bool:
    """Whether a router port's veth pair is as it should be (both ends, the bridge,
    the MAC, MTU and addresses): then it needs no call."""
    return (
        inside is not None
        and outside is not None
        and outside.get("master") == port.bridge
        and outside.get("mtu") == inside.get("mtu") == port.mtu
        and outside.get("up") is True
        and inside.get("up") is True
        and str(inside.get("mac")).lower() == port.mac
        and sorted(inside.get("addresses") or []) == sorted(port.addresses)
    )


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return None


def _read_json(path: str) -> dict[str, Any]:
    text = _read(path)
    try:
        return json.loads(text) if text else {}
    except ValueError:
        return {}


def _write(path: str, content: str) -> None:
    if _read(path) == content:
        return
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(content)
    os.replace(tmp, path)
