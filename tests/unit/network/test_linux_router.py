"""The router renderers: veth pairs and their addresses, routes, the NAT table,
and the guard of the router's nft entry point."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from stratus.network.agent_manager import agent_state
from stratus.network.linux import names, privileged
from stratus.network.linux import router as rt

GW_PORT = "6a0b1c2d-0000-4000-8000-000000000001"
IF_A = "7b1c2d3e-0000-4000-8000-000000000002"
IF_B = "8c2d3e4f-0000-4000-8000-000000000003"
QG = "qg-6a0b1c2d-00"


def router(**extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "r1",
        "admin_state_up": True,
        "gateway": {
            "port_id": GW_PORT,
            "mac_address": "FA:16:3E:00:00:01",
            "network_id": "ext",
            "bridge_name": "brqext",
            "mtu": 1500,
            "fixed_ips": [
                {"subnet_id": "s-ext", "ip_address": "203.0.113.10", "cidr": "203.0.113.0/24",
                 "gateway_ip": "203.0.113.1"},
                {"subnet_id": "s-ext6", "ip_address": "2001:db8::10", "cidr": "2001:db8::/64",
                 "gateway_ip": "2001:db8::1"},
            ],
            "enable_snat": True,
        },
        "interfaces": [
            {"port_id": IF_A, "mac_address": "fa:16:3e:00:00:02", "network_id": "a",
             "bridge_name": "brqa", "mtu": 1450,
             "fixed_ips": [{"subnet_id": "s-a", "ip_address": "10.0.0.1", "cidr": "10.0.0.0/24"}]},
            {"port_id": IF_B, "mac_address": "fa:16:3e:00:00:03", "network_id": "b",
             "bridge_name": "brqb", "mtu": 1450,
             "fixed_ips": [{"subnet_id": "s-b", "ip_address": "10.1.0.1", "cidr": "10.1.0.0/24"}]},
        ],
        "routes": [{"destination": "10.2.0.0/24", "nexthop": "10.0.0.5"},
                   {"destination": "2001:db8:2::/64", "nexthop": "2001:db8::5"}],
        "floating_ips": [],
        "port_forwardings": [],
    }  # fmt: skip
    base.update(extra)
    return base


FIP = {"id": "f1", "floating_ip_address": "203.0.113.20", "fixed_ip_address": "10.0.0.5"}
PF = {
    "id": "p1",
    "floating_ip_address": "203.0.113.21",
    "protocol": "tcp",
    "external_port": 2222,
    "internal_ip_address": "10.0.0.6",
    "internal_port": 22,
}


def rules(r: dict[str, Any]) -> list[str]:
    return [line for line in rt.nat_script(r).splitlines() if " rule " in line]


def test_ports_gateway_first_with_floating_addresses_as_host_routes() -> None:
    gw, a, b = rt.ports(router(floating_ips=[FIP], port_forwardings=[PF]))
    assert (gw.device, gw.tap, gw.bridge, gw.mac) == (
        QG,
        names.tap_name(GW_PORT),
        "brqext",
        "fa:16:3e:00:00:01",
    )
    assert gw.addresses == (
        "203.0.113.10/24",
        "2001:db8::10/64",
        "203.0.113.20/32",
        "203.0.113.21/32",
    )
    assert (a.device, a.mtu, a.addresses) == ("qr-7b1c2d3e-00", 1450, ("10.0.0.1/24",))
    assert b.device == names.router_device_name(IF_B) and len(b.device) <= names.IFNAMSIZ


def test_routes_default_via_the_external_gateway_then_static_ipv4() -> None:
    assert rt.routes(router()) == [["0.0.0.0/0", "203.0.113.1"], ["10.2.0.0/24", "10.0.0.5"]]
    no_gw_ip = router()
    for fixed in no_gw_ip["gateway"]["fixed_ips"]:
        fixed["gateway_ip"] = None
    assert rt.routes(no_gw_ip) == [["10.2.0.0/24", "10.0.0.5"]]
    assert rt.routes(router(gateway=None, routes=[])) == []


def test_snat_of_internal_subnets_only_through_the_gateway() -> None:
    script = rt.nat_script(router())
    lines = script.splitlines()
    # replaced whole, in one transaction
    assert lines[:3] == [
        "add table ip stratus-router",
        "delete table ip stratus-router",
        "add table ip stratus-router",
    ]
    assert rules(router()) == [
        f'add rule ip stratus-router postrouting oifname "{QG}" '
        "ip saddr { 10.0.0.0/24, 10.1.0.0/24 } snat to 203.0.113.10"
    ]
    privileged.check_router_nft_script(script)  # what the entry point accepts
    off = router()
    off["gateway"]["enable_snat"] = False
    assert rules(off) == []


def test_floating_ips_and_port_forwardings() -> None:
    t = "add rule ip stratus-router"
    assert rules(router(floating_ips=[FIP], port_forwardings=[PF])) == [
        f"{t} prerouting ip daddr 203.0.113.21 tcp dport 2222 dnat to 10.0.0.6:22",
        f"{t} prerouting ip daddr 203.0.113.20 dnat to 10.0.0.5",
        f'{t} postrouting oifname "{QG}" ip saddr 10.0.0.5 snat to 203.0.113.20',
        f'{t} postrouting oifname "{QG}" ip saddr {{ 10.0.0.0/24, 10.1.0.0/24 }}'
        " snat to 203.0.113.10",
    ]
    # rendering is deterministic: the same state, in any order, the same script
    shuffled = router(floating_ips=[FIP, {**FIP, "floating_ip_address": "203.0.113.9"}])
    reordered = copy.deepcopy(shuffled)
    reordered["floating_ips"].reverse()
    assert rt.nat_script(shuffled) == rt.nat_script(reordered)
    with pytest.raises(ValueError, match="protocol"):
        rt.nat_script(router(port_forwardings=[{**PF, "protocol": "icmp; flush ruleset"}]))


def test_floating_targets_change_only_with_their_mapping() -> None:
    one = rt.floating_targets(router(floating_ips=[FIP], port_forwardings=[PF]))
    assert one == {"203.0.113.20": ["10.0.0.5"], "203.0.113.21": ["tcp/2222>10.0.0.6:22"]}
    moved = rt.floating_targets(router(floating_ips=[{**FIP, "fixed_ip_address": "10.0.0.7"}]))
    assert moved == {"203.0.113.20": ["10.0.0.7"]}


def test_an_administratively_down_router_is_not_wanted() -> None:
    assert rt.wanted(router()) and not rt.wanted(router(admin_state_up=False))


@pytest.mark.parametrize(
    "script",
    [
        "add table inet stratus\n",
        "add table ip filter\n",
        "flush ruleset\n",
        "add rule ip stratus-router postrouting accept; flush ruleset\n",
        "add rule ip stratus-router postrouting \\\n accept\n",
    ],
)
def test_the_router_entry_point_refuses_other_tables(script: str) -> None:
    with pytest.raises(ValueError):
        privileged.check_router_nft_script(script)


def test_router_entry_points_act_only_in_router_namespaces() -> None:
    with pytest.raises(ValueError):
        privileged._router_namespace("qdhcp-x")
    with pytest.raises(ValueError):
        privileged._router_namespace("qrouter-../x")
    assert privileged._router_namespace(names.router_namespace("r1")) == "qrouter-r1"


def test_the_agent_state_carries_the_hosts_routers() -> None:
    state = {"host": "n1", "networks": [], "routers": [router()]}
    assert agent_state(state, dhcp=True)["routers"] == [router()]
    assert agent_state({"host": "c1", "networks": []}, dhcp=False)["routers"] == []
