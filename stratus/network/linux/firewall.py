"""Security groups as nftables rules: a pure renderer, its diff, and the applier.

The renderer turns this host's bound ports and the security groups of the
desired state (see :mod:`stratus.network.agent`) into a :class:`Ruleset`: plain
data naming every per-port chain, named set and dispatch-map element. The
applier keeps the last ruleset it applied and sends only the difference, as one
``nft -f`` transaction, so a rule change on a host with a thousand ports touches
only the chains and sets that changed. The ruleset is made of parts (one per
port, group and remote-group set), each cached by its inputs: a reconcile
renders anew only the parts whose inputs changed, and the diff looks only at
the parts that are not the very objects it applied last time.

Two tables named ``stratus``:

* ``bridge stratus`` sees frames on the bridge ports (taps) by name. Its
  ``prerouting`` base chain sends frames of secured ports through the shared
  ``antispoof`` chain, which looks the frame up in sets keyed by interface
  name: ``macs`` (*tap . MAC*: the port's and its allowed pairs'), ``addrs4``
  and ``addrs6`` (*tap . MAC . address or prefix*: fixed IPs, allowed pairs, the
  IPv6 link-local address of each MAC). ARP must carry such a sender; IPv4 may
  also be a DHCP discovery from 0.0.0.0, IPv6 a DAD probe from ::; every other
  ethertype is dropped. Then the frame gets the port's egress mark. Its
  ``forward`` chain drops non-IP, non-ARP frames to secured ports and marks
  the frame with the out port's ingress mark.
* ``inet stratus`` holds the stateful rules: bridged IP traffic reaches it
  through br_netfilter (``net.bridge.bridge-nf-call-ip[6]tables``), where the
  bridge port's name is no longer visible, hence the marks. ``prerouting``
  handles frames with an egress mark: DHCP and neighbour discovery, conntrack
  (established and related accepted, invalid dropped), then a verdict map from
  the mark to the port's chain ``eg-<port>``; ``forward`` does the same for
  ingress marks and ``in-<port>``. A port's chain jumps to the chain of each of
  its groups (``sg-eg-<group>``, ``sg-in-<group>``: the group's rules, shared by
  the ports in it, so that a rule change rewrites one chain however many ports
  use the group) and ends in a drop. Remote groups are named sets ``g4-<group>`` /
  ``g6-<group>`` shared by every port whose rules name them; remote prefixes of
  otherwise equal rules share one anonymous set. A ``raw`` prerouting chain
  puts each network's traffic in a conntrack zone of its own (keyed by its
  bridge), so that tenants with the same addresses never share a connection.

Why not one bridge-family table: conntrack in the bridge family needs
``nf_conntrack_bridge``, which not every kernel has (``ct state`` fails with
"Protocol error" without it); br_netfilter's conntrack works everywhere.

Marks: ``EGRESS_MARK | h << 16`` and ``INGRESS_MARK | h << 16`` where ``h`` is
12 bits of a hash of the port id (collisions are resolved in port id order, so
up to 4095 secured ports per host), so marks are stable across agent restarts.
The low 16 bits stay clear: br_netfilter shows bridged packets, marks and all,
to the host's own IP rules, and those test low bits (podman's masquerade rule
0x2000, kube-proxy's 0x4000): a port's mark must never look like theirs.
Ports whose ``port_security_enabled`` is false (or missing) get no chain, set
element or mark: their traffic passes.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import netaddr

from stratus.network.linux import names, privileged

LOG = logging.getLogger(__name__)

TABLE = privileged.NFT_TABLE
BRIDGE = "bridge"
INET = "inet"
EGRESS_MARK = 0x10000000
INGRESS_MARK = 0x20000000
HASH_MASK = 0x0FFF0000
MARK_SHIFT = 16
ZONE_MASK = 0xFFFF
# Protocols whose rules may carry a destination port range (names and numbers).
PORT_PROTOCOLS = {"tcp": 6, "udp": 17, "dccp": 33, "sctp": 132, "udplite": 136}
ICMP_NAMES = {"icmp", "icmpv6", "ipv6-icmp", "1", "58"}
ANY_PROTOCOLS = {None, "", "any"}

_POLICY = "policy accept;"
MARK_KIND = 0xF0000000
EGRESS_HEAD = (
    "meta nfproto ipv4 udp sport 68 udp dport 67 accept",
    "meta nfproto ipv6 udp sport 546 udp dport 547 accept",
    "meta nfproto ipv4 udp sport 67 udp dport 68 drop",
    "icmpv6 type nd-router-advert drop",
    "icmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert,"
    " mld-listener-report, mld2-listener-report } accept",
    "ct state established,related accept",
    "ct state invalid drop",
)
INGRESS_HEAD = (
    "ct state established,related accept",
    "meta nfproto ipv4 udp sport 67 udp dport 68 accept",
    "meta nfproto ipv6 udp sport 547 udp dport 546 accept",
    "icmpv6 type { nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert,"
    " mld-listener-query, nd-redirect } accept",
    "ct state invalid drop",
)
ANTISPOOF = (
    "iifname . ether saddr != @macs drop",
    "meta protocol arp iifname . arp saddr ether . arp saddr ip != @addrs4 drop",
    "meta protocol arp accept",
    "meta protocol ip ip saddr 0.0.0.0 ip daddr 255.255.255.255 udp sport 68 udp dport 67 return",
    "meta protocol ip iifname . ether saddr . ip saddr != @addrs4 drop",
    "meta protocol ip6 ip6 saddr :: icmpv6 type { nd-neighbor-solicit, mld2-listener-report }"
    " return",
    "meta protocol ip6 iifname . ether saddr . ip6 saddr != @addrs6 drop",
    "meta protocol != { ip, ip6 } drop",
)


def _base() -> str:
    b, i, t = BRIDGE, INET, TABLE
    lines = [
        f"add table {b} {t}",
        f"add set {b} {t} secured {{ type ifname; }}",
        f"add set {b} {t} macs {{ type ifname . ether_addr; }}",
        f"add set {b} {t} addrs4 {{ type ifname . ether_addr . ipv4_addr; flags interval; }}",
        f"add set {b} {t} addrs6 {{ type ifname . ether_addr . ipv6_addr; flags interval; }}",
        f"add map {b} {t} egress-marks {{ type ifname : mark; }}",
        f"add map {b} {t} ingress-marks {{ type ifname : mark; }}",
        f"add chain {b} {t} antispoof",
        *(f"add rule {b} {t} antispoof {rule}" for rule in ANTISPOOF),
        f"add chain {b} {t} prerouting {{ type filter hook prerouting priority -300; {_POLICY} }}",
        f"add rule {b} {t} prerouting iifname @secured jump antispoof",
        f"add rule {b} {t} prerouting meta mark set iifname map @egress-marks",
        f"add chain {b} {t} forward {{ type filter hook forward priority -300; {_POLICY} }}",
        f"add rule {b} {t} forward oifname @secured meta protocol != {{ ip, ip6, arp }} drop",
        f"add rule {b} {t} forward meta mark set oifname map @ingress-marks",
        f"add table {i} {t}",
        f"add map {i} {t} egress {{ type mark : verdict; }}",
        f"add map {i} {t} ingress {{ type mark : verdict; }}",
        f"add map {i} {t} zones {{ typeof iifname : ct zone; }}",
        f"add chain {i} {t} zone {{ type filter hook prerouting priority raw; {_POLICY} }}",
        f"add rule {i} {t} zone ct zone set iifname map @zones",
    ]
    for chain, hook, kind, head, vmap in (
        ("prerouting", "prerouting", EGRESS_MARK, EGRESS_HEAD, "egress"),
        ("forward", "forward", INGRESS_MARK, INGRESS_HEAD, "ingress"),
    ):
        lines.append(
            f"add chain {i} {t} {chain} {{ type filter hook {hook} priority 0; {_POLICY} }}"
        )
        lines.append(f"add rule {i} {t} {chain} meta mark and {MARK_KIND:#x} != {kind:#x} accept")
        lines += [f"add rule {i} {t} {chain} {rule}" for rule in head]
        lines.append(f"add rule {i} {t} {chain} meta mark vmap @{vmap}")
    return "\n".join(lines) + "\n"


# The static part: tables, base and shared chains, the sets and maps whose
# elements come from the ruleset.
BASE = _base()
# (family, name) of the sets and maps of BASE, keyed by the port's tap or mark
MAPS = (
    (BRIDGE, "secured"),
    (BRIDGE, "macs"),
    (BRIDGE, "addrs4"),
    (BRIDGE, "addrs6"),
    (BRIDGE, "egress-marks"),
    (BRIDGE, "ingress-marks"),
    (INET, "egress"),
    (INET, "ingress"),
    (INET, "zones"),
)


@dataclass(frozen=True)
class NftSet:
    """A named set: its type, flags and elements (as nft writes them)."""

    type: str
    flags: str = "interval"
    elements: frozenset[str] = frozenset()


Key = tuple[str, str]


@dataclass(frozen=True)
class Part:
    """What one port, one group, one remote-group set or the zones contribute
    to a ruleset: chains (their rules, in order), named sets, elements of the
    sets and maps of :data:`BASE` (``(map key, element, value)``, a set's value
    ""), and the remote groups (``(group id, IP version)``) its rules name.
    Every chain, set and element belongs to one part of a ruleset."""

    chains: tuple[tuple[Key, tuple[str, ...]], ...] = ()
    sets: tuple[tuple[Key, NftSet], ...] = ()
    elements: tuple[tuple[Key, str, str], ...] = ()
    uses: frozenset[tuple[str, int]] = frozenset()


@dataclass(frozen=True)
class _Flat:
    """Parts merged: chains and sets by ``(family, name)``, the maps of
    :data:`BASE` as {element: value}."""

    chains: dict[Key, tuple[str, ...]]
    sets: dict[Key, NftSet]
    maps: dict[Key, dict[str, str]]


def _flatten(parts: Iterable[Part], all_maps: bool = False) -> _Flat:
    chains: dict[Key, tuple[str, ...]] = {}
    sets: dict[Key, NftSet] = {}
    maps: dict[Key, dict[str, str]] = {key: {} for key in MAPS} if all_maps else {}
    for part in parts:
        chains.update(part.chains)
        sets.update(part.sets)
        for key, element, value in part.elements:
            maps.setdefault(key, {})[element] = value
    return _Flat(chains, sets, maps)


@dataclass
class Ruleset:
    """Everything of the two tables that depends on the ports and groups, as
    parts keyed by what they stand for (``("port", id)``, ``("group", id)``,
    ``("set", id, version)``, ``("zones",)``). The renderer caches parts by
    their inputs, so a part that did not change is the same object in the next
    ruleset and :func:`diff_script` skips it without looking inside.

    The merged views: ``chains`` (port and group chains) map ``(family, name)``
    to their rules (nft rule statements, in order); ``sets`` (per remote group)
    to their definition; ``maps`` (the sets and maps of :data:`BASE`, all of
    them unless the ruleset is empty) to {element key: value} (a set's
    elements have the value "").
    """

    parts: dict[tuple[str, ...], Part] = field(default_factory=dict)

    def empty(self) -> bool:
        return not self.parts

    @functools.cached_property
    def _flat(self) -> _Flat:
        return _flatten(self.parts.values(), all_maps=not self.empty())

    @property
    def chains(self) -> dict[Key, tuple[str, ...]]:
        return self._flat.chains

    @property
    def sets(self) -> dict[Key, NftSet]:
        return self._flat.sets

    @property
    def maps(self) -> dict[Key, dict[str, str]]:
        return self._flat.maps

    def rule_count(self) -> int:
        return sum(len(rules) for part in self.parts.values() for _, rules in part.chains)


# --- from the desired state ------------------------------------------------------

RULE_FIELDS = ("protocol", "port_range_min", "port_range_max", "remote_ip_prefix",
               "remote_group_id")  # fmt: skip


def rule(direction: str = "ingress", ethertype: str = "IPv4", **fields: Any) -> dict[str, Any]:
    """One security group rule in the shape the renderer reads, the fields not
    given None (for states built by hand: tests, benchmarks)."""
    unknown = set(fields) - {"id", *RULE_FIELDS}
    if unknown:
        raise TypeError(f"not a rule field: {sorted(unknown)}")
    return {"id": fields.pop("id", None), "direction": direction, "ethertype": ethertype,
            **dict.fromkeys(RULE_FIELDS), **fields}  # fmt: skip


def host_ports(state: dict[str, Any], host: str) -> list[dict[str, Any]]:
    """The ports bound to ``host`` that carry a guest (not ``network:*`` ports),
    each with its ``tap`` name and ``network_id``; every network of the state."""
    out = []
    for network in state.get("networks", []):
        for port in network.get("ports", []):
            bound = port.get("binding_host_id") or port.get("host")
            if bound != host or str(port.get("device_owner") or "").startswith("network:"):
                continue
            out.append({**port, "tap": names.tap_name(port["id"]), "network_id": network["id"]})
    return sorted(out, key=lambda p: p["id"])


def _addresses(port: dict[str, Any]) -> tuple[str, ...]:
    return tuple(
        item["ip_address"] if isinstance(item, dict) else str(item)
        for item in port.get("fixed_ips", [])
    )


def marks(port_ids: Iterable[str]) -> dict[str, int]:
    """Port id -> its mark hash (12 bits, in bits 16 to 27: see the module's
    docstring), unique among ``port_ids``."""
    return dict(_marks(tuple(sorted(set(port_ids)))))


@functools.lru_cache(maxsize=64)
def _marks(port_ids: tuple[str, ...]) -> dict[str, int]:
    """:func:`marks` of sorted, distinct ids; cached (do not change the result):
    a host's ports seldom change between two reconciles."""
    hashes = _unique_hashes(port_ids, HASH_MASK >> MARK_SHIFT)
    return {port_id: value << MARK_SHIFT for port_id, value in hashes.items()}


def zones(network_ids: Iterable[str]) -> dict[str, int]:
    """Network id -> its conntrack zone (16 bits), unique among ``network_ids``."""
    return _unique_hashes(network_ids, ZONE_MASK)


@functools.lru_cache(maxsize=65536)
def _hash(key: str) -> int:
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16)


def _unique_hashes(keys: Iterable[str], mask: int) -> dict[str, int]:
    """Key -> a non-zero hash of it under ``mask``, unique among ``keys``
    (collisions move to the next free value, in key order)."""
    taken: set[int] = set()
    out = {}
    for key in sorted(set(keys)):
        value = _hash(key) & mask
        while value in taken or value == 0:
            value = (value + 1) & mask
        taken.add(value)
        out[key] = value
    return out


# --- rendering ------------------------------------------------------------------


def _merge(cidrs: Iterable[str], version: int) -> list[str]:
    return list(_merged(tuple(str(c) for c in cidrs), version))


@functools.lru_cache(maxsize=4096)
def _merged(cidrs: tuple[str, ...], version: int) -> tuple[str, ...]:
    """The ``version`` networks of ``cidrs``, merged (interval sets refuse
    overlapping elements); unparsable ones are skipped. Cached: most inputs
    repeat (the same members, the same prefixes in many groups)."""
    nets = []
    for cidr in cidrs:
        try:
            net = netaddr.IPNetwork(cidr)
        except (netaddr.AddrFormatError, ValueError, TypeError):
            LOG.warning("ignoring address %r", cidr)
            continue
        if net.version == version:
            nets.append(net)
    return tuple(str(net) for net in netaddr.cidr_merge(nets))


def _port_key(port: dict[str, Any]) -> tuple[Any, ...]:
    pairs = port.get("allowed_address_pairs")
    if pairs:
        pairs = tuple((str(p["ip_address"]), str(p.get("mac_address") or "")) for p in pairs)
    return (port["tap"], str(port["mac_address"]), _addresses(port), pairs or ())


def _port_elements(
    tap: str, port_mac: str, addresses: tuple[str, ...], pairs: tuple[tuple[str, str], ...]
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """The anti-spoofing elements of one port: ``tap . mac`` for ``macs``, and
    ``tap . mac . cidr`` for ``addrs4``/``addrs6``: the port's MAC with its fixed
    addresses, each allowed pair with its MAC (else the port's), and the IPv6
    link-local address of every such MAC."""
    mac = port_mac.lower()
    by_mac: dict[str, list[str]] = defaultdict(list)
    by_mac[mac].extend(addresses)
    for address, pair_mac in pairs:
        by_mac[(pair_mac or mac).lower()].append(address)
    macs = tuple(f'"{tap}" . {each}' for each in sorted(by_mac))
    v4: list[str] = []
    v6: list[str] = []
    for each_mac, cidrs in sorted(by_mac.items()):
        v4 += [f'"{tap}" . {each_mac} . {cidr}' for cidr in _merge(cidrs, 4)]
        link_local = str(netaddr.EUI(each_mac).ipv6_link_local())
        v6 += [f'"{tap}" . {each_mac} . {cidr}' for cidr in _merge([*cidrs, link_local], 6)]
    return macs, tuple(v4), tuple(v6)


def group_set(group_id: str, version: int) -> str:
    """The named set of a remote group's member addresses of one IP version."""
    return f"g{version}-{group_id}"


def group_chain(group_id: str, direction: str) -> str:
    """The chain of a group's rules of one direction (accepts; returns otherwise)."""
    return f"sg-{'eg' if direction == 'egress' else 'in'}-{group_id}"


def _match(rule: dict[str, Any], version: int) -> str | None:
    """The protocol/port part of one security group rule; None if it cannot
    match packets of ``version`` (an ICMP type on the other family)."""
    parts = [f"meta nfproto ipv{version}"]
    proto = rule.get("protocol")
    proto = None if proto in ANY_PROTOCOLS else str(proto).lower()
    low, high = rule.get("port_range_min"), rule.get("port_range_max")
    if proto is None:
        return parts[0]
    if proto in ICMP_NAMES:
        icmp = "icmp" if version == 4 else "icmpv6"
        if proto in ("icmpv6", "ipv6-icmp", "58") and version == 4:
            return None
        if low is None:
            parts.append(f"meta l4proto {'icmp' if version == 4 else 'ipv6-icmp'}")
        else:
            parts.append(f"{icmp} type {int(low)}")
            if high is not None:
                parts.append(f"{icmp} code {int(high)}")
        return " ".join(parts)
    number = PORT_PROTOCOLS.get(proto)
    parts.append(f"meta l4proto {proto if number else int(proto)}")
    if low is not None and (number or int(proto) in PORT_PROTOCOLS.values()):
        high = low if high is None else high
        parts.append(f"th dport {int(low)}" if low == high else f"th dport {int(low)}-{int(high)}")
    return " ".join(parts)


def _rules(
    rules: Iterable[dict[str, Any]], direction: str, used_groups: set[tuple[str, int]]
) -> list[str]:
    """nft statements (accept) for one port's rules of ``direction``; the remote
    groups they use are added to ``used_groups``."""
    side = "saddr" if direction == "ingress" else "daddr"
    prefixes: dict[tuple[str, int], list[str]] = defaultdict(list)  # "" = any address
    out = set()
    for rule in rules:
        if rule.get("direction") != direction:
            continue
        version = 6 if rule.get("ethertype") == "IPv6" else 4
        try:
            match = _match(rule, version)
        except (TypeError, ValueError):
            LOG.warning("ignoring security group rule %s", rule.get("id"))
            continue
        if match is None:
            continue
        family = "ip" if version == 4 else "ip6"
        if rule.get("remote_group_id"):
            name = group_set(rule["remote_group_id"], version)
            used_groups.add((rule["remote_group_id"], version))
            out.add(f"{match} {family} {side} @{name} accept")
        elif rule.get("remote_ip_prefix"):
            prefixes[(match, version)].append(rule["remote_ip_prefix"])
        else:
            prefixes[(match, version)].append("")
    for (match, version), cidrs in prefixes.items():
        if "" in cidrs:
            out.add(f"{match} accept")
            continue
        merged = _merge(cidrs, version)
        if not merged:
            continue
        if merged[0] in ("0.0.0.0/0", "::/0"):
            out.add(f"{match} accept")
            continue
        family = "ip" if version == 4 else "ip6"
        out.add(f"{match} {family} {side} {{ {', '.join(merged)} }} accept")
    return sorted(out)


@functools.lru_cache(maxsize=4096)
def _port_chains(groups: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The egress and ingress chains of a port in ``groups``: a jump to each
    group's chain, then drop."""
    return (
        (*(f"jump {group_chain(g, 'egress')}" for g in groups), "drop"),
        (*(f"jump {group_chain(g, 'ingress')}" for g in groups), "drop"),
    )


# A rule's fields that its statements depend on (and its id, for the log).
RULE_KEY = ("id", "direction", "ethertype", *RULE_FIELDS)


def _rules_key(group: dict[str, Any] | None) -> tuple[tuple[Any, ...], ...]:
    """A group's rules as hashable values of :data:`RULE_KEY`, in order."""
    return tuple(tuple(map(r.get, RULE_KEY)) for r in (group or {}).get("rules") or [])


# The parts, each cached by its inputs: a reconcile renders anew only the
# ports, groups and sets whose inputs changed; the others are the same objects
# as in the last ruleset, which diff_script skips by identity. The sizes hold a
# host's parts (up to 4095 secured ports) with room for their last versions.


@functools.lru_cache(maxsize=4096)
def _group_part(group_id: str, rules: tuple[tuple[Any, ...], ...]) -> Part:
    """A group's two chains (from :func:`_rules_key`) and the remote groups
    they name."""
    as_dicts = [dict(zip(RULE_KEY, values, strict=True)) for values in rules]
    used: set[tuple[str, int]] = set()
    chains = tuple(
        ((INET, group_chain(group_id, direction)), tuple(_rules(as_dicts, direction, used)))
        for direction in ("egress", "ingress")
    )
    return Part(chains=chains, uses=frozenset(used))


@functools.lru_cache(maxsize=8192)
def _port_part(
    port_id: str,
    key: tuple[str, str, tuple[str, ...], tuple[tuple[str, str], ...]],
    groups: tuple[str, ...],
    mark: int,
) -> Part:
    """A port's chains (from its groups) and elements: anti-spoofing (from
    :func:`_port_key`) and dispatch (from its mark)."""
    tap = f'"{key[0]}"'
    macs, v4, v6 = _port_elements(*key)
    egress, ingress = _port_chains(groups)
    egress_mark, ingress_mark = hex(EGRESS_MARK | mark), hex(INGRESS_MARK | mark)
    return Part(
        chains=(((INET, f"eg-{port_id}"), egress), ((INET, f"in-{port_id}"), ingress)),
        elements=(
            ((BRIDGE, "secured"), tap, ""),
            *(((BRIDGE, "macs"), each, "") for each in macs),
            *(((BRIDGE, "addrs4"), each, "") for each in v4),
            *(((BRIDGE, "addrs6"), each, "") for each in v6),
            ((BRIDGE, "egress-marks"), tap, egress_mark),
            ((BRIDGE, "ingress-marks"), tap, ingress_mark),
            ((INET, "egress"), egress_mark, f"jump eg-{port_id}"),
            ((INET, "ingress"), ingress_mark, f"jump in-{port_id}"),
        ),
    )


@functools.lru_cache(maxsize=1024)
def _set_part(group_id: str, version: int, members: tuple[str, ...]) -> Part:
    """A remote group's set of member addresses of one IP version."""
    kind = "ipv4_addr" if version == 4 else "ipv6_addr"
    elements = frozenset(_merge(members, version))
    return Part(sets=(((INET, group_set(group_id, version)), NftSet(kind, elements=elements)),))


@functools.lru_cache(maxsize=64)
def _zones_part(network_ids: tuple[str, ...]) -> Part:
    """The conntrack zone of each network's bridge."""
    return Part(
        elements=tuple(
            ((INET, "zones"), f'"{names.bridge_name(network_id)}"', str(zone))
            for network_id, zone in zones(network_ids).items()
        )
    )


def render(ports: list[dict[str, Any]], security_groups: dict[str, Any]) -> Ruleset:
    """The ruleset of ``ports`` (from :func:`host_ports`) under ``security_groups``
    (group id -> {"rules": [...], "members": {"IPv4": [...], "IPv6": [...]}}).

    A port whose tap name is an earlier port's (their ids share the first 11
    characters: its device cannot exist next to the other's) is left out, with a
    warning: every element of the ruleset belongs to one port."""
    secured = []
    taps: set[str] = set()
    for port in ports:
        if not port.get("port_security_enabled"):
            continue
        if port["tap"] in taps:
            LOG.warning("port %s: tap %s is another port's; no rules", port["id"], port["tap"])
            continue
        taps.add(port["tap"])
        secured.append(port)
    if not secured:
        return Ruleset()
    port_marks = _marks(tuple(sorted({p["id"] for p in secured})))
    parts: dict[tuple[str, ...], Part] = {}
    used_groups: set[tuple[str, int]] = set()
    for port in secured:
        groups = tuple(sorted(set(port.get("security_groups") or [])))
        for group_id in groups:
            if ("group", group_id) not in parts:
                part = _group_part(group_id, _rules_key(security_groups.get(group_id)))
                parts[("group", group_id)] = part
                used_groups |= part.uses
        pid = port["id"]
        parts[("port", pid)] = _port_part(pid, _port_key(port), groups, port_marks[pid])
    networks = {p["network_id"] for p in secured if p.get("network_id")}
    parts[("zones",)] = _zones_part(tuple(sorted(networks)))
    for group_id, version in sorted(used_groups):
        members = (security_groups.get(group_id) or {}).get("members") or {}
        parts[("set", group_id, str(version))] = _set_part(
            group_id, version, tuple(members.get(f"IPv{version}") or ())
        )
    return Ruleset(parts)


# --- scripts -----------------------------------------------------------------------


def _elements(items: Iterable[str]) -> str:
    return "{ " + ", ".join(sorted(items)) + " }"


def _map_elements(items: dict[str, str]) -> str:
    return "{ " + ", ".join(f"{k} : {v}" if v else k for k, v in sorted(items.items())) + " }"


def _add_set(key: tuple[str, str], nft_set: NftSet) -> list[str]:
    family, name = key
    flags = f" flags {nft_set.flags};" if nft_set.flags else ""
    lines = [f"add set {family} {TABLE} {name} {{ type {nft_set.type};{flags} }}"]
    if nft_set.elements:
        lines.append(f"add element {family} {TABLE} {name} {_elements(nft_set.elements)}")
    return lines


def _add_rules(key: tuple[str, str], rules: tuple[str, ...]) -> list[str]:
    family, name = key
    return [f"add rule {family} {TABLE} {name} {rule}" for rule in rules]


def full_script(ruleset: Ruleset) -> str:
    """Replace both tables with ``ruleset`` (remove them when it is empty)."""
    lines = [
        f"add table {BRIDGE} {TABLE}",
        f"delete table {BRIDGE} {TABLE}",
        f"add table {INET} {TABLE}",
        f"delete table {INET} {TABLE}",
    ]
    if ruleset.empty():
        return "\n".join(lines) + "\n"
    lines.append(BASE.rstrip("\n"))
    for key, nft_set in sorted(ruleset.sets.items()):
        lines += _add_set(key, nft_set)
    lines += [f"add chain {family} {TABLE} {name}" for family, name in sorted(ruleset.chains)]
    for key, rules in sorted(ruleset.chains.items()):
        lines += _add_rules(key, rules)
    for (family, name), items in sorted(ruleset.maps.items()):
        if items:
            lines.append(f"add element {family} {TABLE} {name} {_map_elements(items)}")
    return "\n".join(lines) + "\n"


def diff_script(old: Ruleset, new: Ruleset) -> str:
    """One transaction that turns ``old`` (applied) into ``new``; "" if equal.

    Only the parts that are not the same object in both are compared (each
    chain, set and element belongs to one part, so the others cannot differ).
    Order: new and changed sets, new chains (empty), new and changed chains'
    rules (a changed chain is flushed and refilled), dispatch elements, then the
    chains (flushed first: they may jump to each other) and sets no longer used."""
    if old.empty() or new.empty():
        return "" if old.empty() and new.empty() else full_script(new)
    changed = [key for key, part in new.parts.items() if old.parts.get(key) is not part]
    affected = changed + [key for key in old.parts if key not in new.parts]
    if not affected:
        return ""
    return _diff(
        _flatten(old.parts[key] for key in affected if key in old.parts),
        _flatten(new.parts[key] for key in changed),
    )


def _diff(old: _Flat, new: _Flat) -> str:
    """:func:`diff_script` of the merged affected parts."""
    lines: list[str] = []
    for key, nft_set in sorted(new.sets.items()):
        family, name = key
        before = old.sets.get(key)
        if before is None:  # a set's name says its type: a known name has the same type
            lines += _add_set(key, nft_set)
            continue
        gone, added = before.elements - nft_set.elements, nft_set.elements - before.elements
        if gone:
            lines.append(f"delete element {family} {TABLE} {name} {_elements(gone)}")
        if added:
            lines.append(f"add element {family} {TABLE} {name} {_elements(added)}")
    for key in sorted(set(new.chains) - set(old.chains)):  # before any jump names them
        lines.append(f"add chain {key[0]} {TABLE} {key[1]}")
    for key, rules in sorted(new.chains.items()):
        before_rules = old.chains.get(key)
        if before_rules == rules:
            continue
        if before_rules is not None:
            lines.append(f"flush chain {key[0]} {TABLE} {key[1]}")
        lines += _add_rules(key, rules)
    for key in MAPS:
        family, name = key
        before_items, items = old.maps.get(key, {}), new.maps.get(key, {})
        gone = {k for k, v in before_items.items() if items.get(k) != v}
        added = {k: v for k, v in items.items() if before_items.get(k) != v}
        if gone:
            lines.append(f"delete element {family} {TABLE} {name} {_elements(gone)}")
        if added:
            lines.append(f"add element {family} {TABLE} {name} {_map_elements(added)}")
    for key in sorted(set(old.chains) - set(new.chains)):
        lines.append(f"flush chain {key[0]} {TABLE} {key[1]}")
    for key in sorted(set(old.chains) - set(new.chains)):
        lines.append(f"delete chain {key[0]} {TABLE} {key[1]}")
    for key in sorted(set(old.sets) - set(new.sets)):
        lines.append(f"delete set {key[0]} {TABLE} {key[1]}")
    return "\n".join(lines) + "\n" if lines else ""


# --- applying ------------------------------------------------------------------------


class Firewall:
    """Applies rulesets to one network namespace (None: the caller's own),
    remembering the last one applied. The first apply of a process replaces the
    tables whole (stale chains of ports gone while the agent was down go with
    them); later ones send only the difference. A failed transaction changes
    nothing (nft applies all or nothing) and makes the next apply a full one."""

    def __init__(
        self, netns: str | None = None, run: Callable[[str, str | None], None] | None = None
    ) -> None:
        self.netns = netns
        self._run = run
        self.applied: Ruleset | None = None
        self._prepared = False

    def _nft(self, script: str, ruleset: Ruleset) -> None:
        if self._run is not None:
            self._run(script, self.netns)
            return
        if not self._prepared and not ruleset.empty():
            privileged.enable_bridge_netfilter(self.netns)
            self._prepared = True
        privileged.nft_apply(script, self.netns)

    def _tables_exist(self) -> bool:
        if self._run is not None:
            return True
        return any(privileged.nft_list_table(f, TABLE, self.netns) for f in (BRIDGE, INET))

    def apply(self, ruleset: Ruleset) -> bool:
        """Make the tables match ``ruleset``; True if anything was sent."""
        if self.applied is None:
            if ruleset.empty() and not self._tables_exist():
                self.applied = ruleset  # nothing to remove (nor nft needed)
                return False
            script = full_script(ruleset)
        else:
            script = diff_script(self.applied, ruleset)
        if not script:
            return False
        try:
            self._nft(script, ruleset)
        except Exception:
            self.applied = None
            raise
        self.applied = ruleset
        return True
