"""The nftables renderer of security groups: the structure of what it renders
for ports and groups, and the incremental transactions between two rulesets."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from stratus.network.linux import firewall as fw
from stratus.network.linux import names, privileged

HOST = "compute-1"
rule = fw.rule


def default_group(group: str, members: list[str]) -> dict[str, Any]:
    return {
        "rules": [
            rule("egress", "IPv4"),
            rule("egress", "IPv6"),
            rule("ingress", "IPv4", remote_group_id=group),
            rule("ingress", "IPv6", remote_group_id=group),
        ],
        "members": {"IPv4": members, "IPv6": []},
    }


def port(port_id: str, ip: str, mac: str, groups: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "id": port_id,
        "mac_address": mac,
        "fixed_ips": [{"subnet_id": "s", "ip_address": ip}],
        "device_owner": "compute:nova",
        "binding_host_id": HOST,
        "port_security_enabled": True,
        "security_groups": groups,
        "allowed_address_pairs": [],
        **extra,
    }


def state(ports: list[dict[str, Any]], groups: dict[str, Any]) -> dict[str, Any]:
    return {"host": HOST, "networks": [{"id": "net", "ports": ports}], "security_groups": groups}


def rendered(st: dict[str, Any]) -> fw.Ruleset:
    return fw.render(fw.host_ports(st, HOST), st.get("security_groups") or {})


@pytest.fixture
def two_groups() -> dict[str, Any]:
    return state(
        [
            port("port-a", "10.0.0.11", "fa:16:3e:00:00:11", ["sg-a"]),
            port("port-b", "10.0.0.12", "fa:16:3e:00:00:12", ["sg-a"]),
            port("port-c", "10.0.0.13", "fa:16:3e:00:00:13", ["sg-b"]),
        ],
        {
            "sg-a": default_group("sg-a", ["10.0.0.11", "10.0.0.12"]),
            "sg-b": default_group("sg-b", ["10.0.0.13"]),
        },
    )


def test_each_secured_port_gets_its_chains_sets_and_dispatch(two_groups: dict[str, Any]) -> None:
    rs = rendered(two_groups)
    for pid in ("port-a", "port-b", "port-c"):
        tap = f'"{names.tap_name(pid)}"'
        assert rs.chains[(fw.INET, f"eg-{pid}")][-1] == "drop"
        assert rs.chains[(fw.INET, f"in-{pid}")][-1] == "drop"
        egress = int(rs.maps[(fw.BRIDGE, "egress-marks")][tap], 16)
        ingress = int(rs.maps[(fw.BRIDGE, "ingress-marks")][tap], 16)
        assert egress & ~fw.HASH_MASK == fw.EGRESS_MARK
        assert ingress & ~fw.HASH_MASK == fw.INGRESS_MARK
        assert egress & fw.HASH_MASK == ingress & fw.HASH_MASK
        assert rs.maps[(fw.INET, "egress")][hex(egress)] == f"jump eg-{pid}"
        assert rs.maps[(fw.INET, "ingress")][hex(ingress)] == f"jump in-{pid}"
        assert tap in rs.maps[(fw.BRIDGE, "secured")]
    marks = rs.maps[(fw.INET, "egress")]
    assert len(marks) == 3, "one distinct mark per port"


def test_default_group_uses_member_sets(two_groups: dict[str, Any]) -> None:
    rs = rendered(two_groups)
    assert rs.chains[(fw.INET, "in-port-a")] == ("jump sg-in-sg-a", "drop")
    assert rs.chains[(fw.INET, "in-port-c")] == ("jump sg-in-sg-b", "drop")
    ingress = rs.chains[(fw.INET, "sg-in-sg-a")]
    assert "meta nfproto ipv4 ip saddr @g4-sg-a accept" in ingress
    assert "meta nfproto ipv6 ip6 saddr @g6-sg-a accept" in ingress
    assert not any("@g4-sg-b" in r for r in ingress), "group B's set is not a's business"
    assert rs.sets[(fw.INET, "g4-sg-a")].elements == {"10.0.0.11/32", "10.0.0.12/32"}
    assert rs.sets[(fw.INET, "g4-sg-b")].elements == {"10.0.0.13/32"}
    assert rs.sets[(fw.INET, "g6-sg-a")].elements == frozenset()
    assert rs.chains[(fw.INET, "eg-port-a")] == ("jump sg-eg-sg-a", "drop")
    egress = rs.chains[(fw.INET, "sg-eg-sg-a")]
    assert egress == ("meta nfproto ipv4 accept", "meta nfproto ipv6 accept")
    # one chain per group and direction, shared by the group's ports
    assert {name for _, name in rs.chains if name.startswith("sg-")} == {
        "sg-eg-sg-a", "sg-in-sg-a", "sg-eg-sg-b", "sg-in-sg-b"}  # fmt: skip
    # stateful: the base chains accept established traffic and drop invalid
    # packets of secured ports before dispatching to the port's chain
    lines = fw.BASE.splitlines()
    for chain, vmap in (("prerouting", "egress"), ("forward", "ingress")):
        rules = [line.split(f"inet stratus {chain} ", 1)[1] for line in lines
                 if line.startswith(f"add rule inet stratus {chain} ")]  # fmt: skip
        assert rules[0].startswith("meta mark and 0xf0000000 != "), "only secured ports' frames"
        assert rules[-1] == f"meta mark vmap @{vmap}"
        assert "ct state established,related accept" in rules
        assert rules.index("ct state invalid drop") < len(rules) - 1


def test_anti_spoofing_sets_and_allowed_pairs() -> None:
    pairs = [
        {"ip_address": "10.0.9.0/24", "mac_address": "FA:16:3E:AA:AA:AA"},
        {"ip_address": "10.0.0.50"},
        {"ip_address": "2001:db8::5", "mac_address": "fa:16:3e:aa:aa:aa"},
    ]
    st = state([port("p", "10.0.0.11", "fa:16:3e:00:00:11", [], allowed_address_pairs=pairs)], {})
    rs = rendered(st)
    tap = f'"{names.tap_name("p")}"'
    assert set(rs.maps[(fw.BRIDGE, "addrs4")]) == {
        f"{tap} . fa:16:3e:00:00:11 . 10.0.0.11/32",
        f"{tap} . fa:16:3e:00:00:11 . 10.0.0.50/32",
        f"{tap} . fa:16:3e:aa:aa:aa . 10.0.9.0/24",
    }
    assert set(rs.maps[(fw.BRIDGE, "addrs6")]) == {
        f"{tap} . fa:16:3e:00:00:11 . fe80::f816:3eff:fe00:11/128",
        f"{tap} . fa:16:3e:aa:aa:aa . fe80::f816:3eff:feaa:aaaa/128",
        f"{tap} . fa:16:3e:aa:aa:aa . 2001:db8::5/128",
    }
    assert set(rs.maps[(fw.BRIDGE, "macs")]) == {
        f"{tap} . fa:16:3e:00:00:11",
        f"{tap} . fa:16:3e:aa:aa:aa",
    }
    chain = fw.ANTISPOOF
    assert chain[0] == "iifname . ether saddr != @macs drop"
    assert any("iifname . arp saddr ether . arp saddr ip != @addrs4 drop" in r for r in chain)
    assert any("iifname . ether saddr . ip saddr != @addrs4 drop" in r for r in chain)
    assert any("iifname . ether saddr . ip6 saddr != @addrs6 drop" in r for r in chain)
    dhcp = next(i for i, r in enumerate(chain) if "ip saddr 0.0.0.0" in r)
    assert dhcp < next(i for i, r in enumerate(chain) if "ip saddr != @addrs4 drop" in r)
    assert chain[-1] == "meta protocol != { ip, ip6 } drop", "non-IP ethertypes dropped"
    assert "add rule bridge stratus prerouting iifname @secured jump antispoof" in fw.BASE
    # no groups: nothing accepted beyond what the base chains let through
    assert rs.chains[(fw.INET, "in-p")] == ("drop",)
    assert rs.chains[(fw.INET, "eg-p")] == ("drop",)


def test_ports_without_port_security_or_elsewhere_get_nothing() -> None:
    groups = {"sg": default_group("sg", [])}
    legacy = port("p1", "10.0.0.1", "fa:16:3e:00:00:01", ["sg"])
    del legacy["port_security_enabled"]  # today's state: no such key
    off = port("p2", "10.0.0.2", "fa:16:3e:00:00:02", ["sg"], port_security_enabled=False)
    other_host = port("p3", "10.0.0.3", "fa:16:3e:00:00:03", ["sg"], binding_host_id="x")
    dhcp = port("p4", "10.0.0.4", "fa:16:3e:00:00:04", ["sg"], device_owner="network:dhcp")
    rs = rendered(state([legacy, off, other_host, dhcp], groups))
    assert rs.empty() and rs.maps == {}
    assert fw.full_script(rs).count("delete table") == 2
    assert rendered({"networks": []}).empty()
    assert [p["id"] for p in fw.host_ports(state([legacy, dhcp], groups), HOST)] == ["p1"]


def test_protocols_ports_and_prefixes() -> None:
    rules = [
        rule(protocol="tcp", port_range_min=22, port_range_max=22, remote_ip_prefix="10.1.0.0/16"),
        rule(protocol="tcp", port_range_min=22, port_range_max=22, remote_ip_prefix="10.0.0.0/8"),
        rule(protocol="tcp", port_range_min=22, port_range_max=22, remote_ip_prefix="192.0.2.0/24"),
        rule(protocol="udp", port_range_min=1000, port_range_max=2000),
        rule(protocol="icmp", port_range_min=8, port_range_max=0),
        rule("ingress", "IPv6", protocol="icmp", port_range_min=128),
        rule("ingress", "IPv4", protocol="icmpv6"),
        rule(protocol="132", port_range_min=5),
        rule(protocol="47"),
        rule("egress", "IPv4", protocol="tcp", remote_ip_prefix="0.0.0.0/0"),
        rule("egress", "IPv6", protocol="any", remote_ip_prefix="2001:db8::/32"),
        rule("ingress", "IPv4", protocol="tcp", remote_ip_prefix="2001:db8::/32"),
    ]
    st = state(
        [port("p", "10.0.0.11", "fa:16:3e:00:00:11", ["sg"])],
        {"sg": {"rules": rules, "members": {}}},
    )
    rs = rendered(st)
    assert rs.chains[(fw.INET, "in-p")] == ("jump sg-in-sg", "drop")
    ingress = set(rs.chains[(fw.INET, "sg-in-sg")])
    # prefixes of otherwise equal rules share one set, overlapping ones merged
    ssh = "meta nfproto ipv4 meta l4proto tcp th dport 22"
    assert f"{ssh} ip saddr {{ 10.0.0.0/8, 192.0.2.0/24 }} accept" in ingress
    assert "meta nfproto ipv4 meta l4proto udp th dport 1000-2000 accept" in ingress
    assert "meta nfproto ipv4 icmp type 8 icmp code 0 accept" in ingress
    assert "meta nfproto ipv6 icmpv6 type 128 accept" in ingress
    assert "meta nfproto ipv4 meta l4proto 132 th dport 5 accept" in ingress
    assert "meta nfproto ipv4 meta l4proto 47 accept" in ingress
    assert not any("icmpv6" in r and "ipv4" in r for r in ingress), "icmpv6 on IPv4: no rule"
    assert not any("2001:db8" in r for r in ingress), "an IPv6 prefix on an IPv4 rule: no rule"
    egress = set(rs.chains[(fw.INET, "sg-eg-sg")])
    assert "meta nfproto ipv4 meta l4proto tcp accept" in egress
    assert "meta nfproto ipv6 ip6 daddr { 2001:db8::/32 } accept" in egress
    assert rs.sets == {}, "no unused group set"


def test_marks_are_stable_and_unique(monkeypatch: pytest.MonkeyPatch) -> None:
    ids = [f"port-{i}" for i in range(2000)]
    first = fw.marks(ids)
    assert len(set(first.values())) == len(ids)
    assert fw.marks(reversed(ids)) == first
    assert all(v > 0 and v & ~fw.HASH_MASK == 0 for v in first.values())
    # The low 16 bits, which the host's own rules test (podman's 0x2000,
    # kube-proxy's 0x4000 and 0x8000), are never set.
    assert all(v & 0xFFFF == 0 for v in first.values())

    class Same:
        def __init__(self, _: bytes) -> None:
            pass

        def hexdigest(self) -> str:
            return "00000005" + "0" * 56

    monkeypatch.setattr(fw.hashlib, "sha256", Same)
    assert fw.marks(["b", "a", "c"]) == {"a": 5 << 16, "b": 6 << 16, "c": 7 << 16}


def _statements(script: str) -> list[str]:
    return [line for line in script.splitlines() if line]


def test_a_rule_change_touches_only_the_chain_of_the_group(two_groups: dict[str, Any]) -> None:
    old = rendered(two_groups)
    new_state = copy.deepcopy(two_groups)
    new_state["security_groups"]["sg-b"]["rules"].append(
        rule(protocol="tcp", port_range_min=80, port_range_max=80)
    )
    script = fw.diff_script(old, rendered(new_state))
    lines = _statements(script)
    assert lines[0] == "flush chain inet stratus sg-in-sg-b"
    assert {line.split()[4] for line in lines} == {"sg-in-sg-b"}, "not one port's chain"
    assert "meta l4proto tcp th dport 80 accept" in script
    assert fw.diff_script(old, rendered(two_groups)) == ""


def test_a_membership_change_touches_only_the_set(two_groups: dict[str, Any]) -> None:
    old = rendered(two_groups)
    new_state = copy.deepcopy(two_groups)
    new_state["security_groups"]["sg-a"]["members"]["IPv4"] = ["10.0.0.11", "10.0.0.40"]
    assert _statements(fw.diff_script(old, rendered(new_state))) == [
        "delete element inet stratus g4-sg-a { 10.0.0.12/32 }",
        "add element inet stratus g4-sg-a { 10.0.0.40/32 }",
    ]


def test_ports_come_and_go(two_groups: dict[str, Any]) -> None:
    old = rendered(two_groups)
    new_state = copy.deepcopy(two_groups)
    ports = new_state["networks"][0]["ports"]
    ports[:] = [p for p in ports if p["id"] != "port-c"]
    lines = _statements(fw.diff_script(old, rendered(new_state)))
    tap = f'"{names.tap_name("port-c")}"'
    assert f"delete element bridge stratus secured {{ {tap} }}" in lines
    assert f"delete element bridge stratus macs {{ {tap} . fa:16:3e:00:00:13 }}" in lines
    deletes = [line for line in lines if line.startswith("delete chain")]
    assert {line.split()[-1] for line in deletes} == {
        "eg-port-c", "in-port-c", "sg-eg-sg-b", "sg-in-sg-b"}  # fmt: skip
    set_deletes = {line.split()[-1] for line in lines if line.startswith("delete set")}
    assert set_deletes == {"g4-sg-b", "g6-sg-b"}
    # references go before the objects they reference
    first_delete = min(i for i, line in enumerate(lines) if line.startswith("delete chain"))
    assert all(i < first_delete for i, line in enumerate(lines) if "delete element" in line)
    assert not any("port-a" in line or "sg-a" in line for line in lines)
    # a chain is emptied (its jumps gone) before any chain is deleted
    flushes = [i for i, line in enumerate(lines) if line.startswith("flush chain")]
    assert max(flushes) < first_delete
    # and back: the new port's objects exist before the dispatch names them
    back = _statements(fw.diff_script(rendered(new_state), old))
    add_chain = back.index("add chain inet stratus eg-port-c")
    assert back.index("add chain inet stratus sg-in-sg-b") < back.index(
        "add rule inet stratus in-port-c jump sg-in-sg-b"
    ), "a chain exists before a jump names it"
    dispatch = next(i for i, line in enumerate(back) if "add element inet stratus egress" in line)
    assert add_chain < dispatch
    assert "add set inet stratus g4-sg-b" in "\n".join(back)


def test_the_last_port_removes_the_tables(two_groups: dict[str, Any]) -> None:
    old = rendered(two_groups)
    script = fw.diff_script(old, fw.Ruleset())
    assert _statements(script) == [
        "add table bridge stratus",
        "delete table bridge stratus",
        "add table inet stratus",
        "delete table inet stratus",
    ]


def test_firewall_replaces_first_then_sends_differences(two_groups: dict[str, Any]) -> None:
    sent: list[str] = []
    firewall = fw.Firewall("ns", run=lambda script, netns: sent.append(script))
    rs = rendered(two_groups)
    assert firewall.apply(rs)
    assert sent[0].startswith("add table bridge stratus\ndelete table bridge stratus\n")
    assert not firewall.apply(rendered(two_groups))
    assert len(sent) == 1

    def failing(script: str, netns: str | None) -> None:
        raise RuntimeError("nft -f: boom")

    firewall._run = failing
    changed = copy.deepcopy(two_groups)
    changed["security_groups"]["sg-a"]["members"]["IPv4"] = []
    with pytest.raises(RuntimeError):
        firewall.apply(rendered(changed))
    assert firewall.applied is None, "after a failure the next apply replaces the tables"
    firewall._run = lambda script, netns: sent.append(script)
    firewall.apply(rendered(changed))
    assert "delete table inet stratus" in sent[-1]


def test_each_network_gets_its_own_conntrack_zone() -> None:
    st = {
        "networks": [
            {"id": "net-1", "ports": [port("p1", "10.0.0.5", "fa:16:3e:00:00:01", [])]},
            {"id": "net-2", "ports": [port("p2", "10.0.0.5", "fa:16:3e:00:00:02", [])]},
            {"id": "net-3", "ports": [port("p3", "10.0.0.5", "fa:16:3e:00:00:03", [],
                                           port_security_enabled=False)]},
        ]
    }  # fmt: skip
    zones = rendered(st).maps[(fw.INET, "zones")]
    assert set(zones) == {f'"{names.bridge_name("net-1")}"', f'"{names.bridge_name("net-2")}"'}
    assert len(set(zones.values())) == 2 and all(0 < int(z) <= 0xFFFF for z in zones.values())
    assert "add rule inet stratus zone ct zone set iifname map @zones" in fw.BASE
    assert "hook prerouting priority raw" in fw.BASE, "the zone is set before conntrack"


def test_the_agent_state_carries_the_groups_to_the_renderer() -> None:
    """The conductor's host state, through the agent manager's conversion."""
    from stratus.network.agent_manager import agent_state

    groups = {"sg": default_group("sg", ["10.0.0.5"])}
    host_state = {
        "host": HOST,
        "networks": [{"id": "net", "subnets": [], "ports": [
            port("p", "10.0.0.5", "fa:16:3e:00:00:05", ["sg"])]}],
        "security_groups": groups,
    }  # fmt: skip
    st = agent_state(host_state, dhcp=False)
    assert st["security_groups"] == groups
    assert (
        rendered(st).chains[(fw.INET, "sg-in-sg")][0] == "meta nfproto ipv4 ip saddr @g4-sg accept"
    )
    del host_state["security_groups"]  # no group data: a secured port accepts nothing
    chains = rendered(agent_state(host_state, dhcp=False)).chains
    assert chains[(fw.INET, "sg-in-sg")] == () and chains[(fw.INET, "in-p")][-1] == "drop"


@pytest.mark.parametrize(
    "script",
    [
        "flush ruleset\n",
        "add rule inet filter input accept\n",
        "delete table ip stratus\n",
        "add table bridge stratus\nadd table inet nat\n",
        "add table inet stratus; flush ruleset\n",
        "add chain inet stratus x { type filter hook input priority 0; }; flush ruleset\n",
        "add table inet stratus \\\n",
    ],
)
def test_nft_apply_refuses_other_tables(script: str) -> None:
    """The privileged entry point, called in process (it refuses before running nft)."""
    from stratus.privsep import sys_admin_pctxt

    sys_admin_pctxt.set_client_mode(False)
    try:
        with pytest.raises(ValueError, match="not a command on the stratus tables"):
            privileged.nft_apply(script, "no-such-namespace")
    finally:
        sys_admin_pctxt.set_client_mode(True)


def test_every_rendered_command_passes_the_entry_point_guard(two_groups: dict[str, Any]) -> None:
    old = rendered(two_groups)
    changed = copy.deepcopy(two_groups)
    changed["networks"][0]["ports"].pop()
    for script in (fw.full_script(old), fw.diff_script(old, rendered(changed)),
                   fw.full_script(fw.Ruleset())):  # fmt: skip
        assert script
        privileged.check_nft_script(script)
