"""Security group rules' validation (pure), and the service layer on a SQLite schema:
default groups, ports' groups, and the groups' part of a host's desired state."""

from __future__ import annotations

from typing import Any

import pytest

from stratus.network import api
from stratus.network import exceptions as exc
from stratus.network import security_groups as sg
from tests.unit.network.test_network_service import (  # noqa: F401 - the schema fixture
    MEMBER,
    OTHER,
    database,
    network_with_subnet,
)

MAC = "fa:16:3e:00:00:01"


def rule(**values: Any) -> dict[str, Any]:
    return sg.validate_rule({"direction": "ingress", **values})


@pytest.mark.parametrize(
    ("values", "kind", "field"),
    [
        (
            {"protocol": "icmp", "port_range_min": 256},
            "SecurityGroupInvalidIcmpValue",
            "port_range_min",
        ),
        (
            {"protocol": "icmp", "port_range_min": 0, "port_range_max": 256},
            "SecurityGroupInvalidIcmpValue",
            "port_range_max",
        ),
        (
            {"protocol": "icmp", "port_range_max": 3},
            "SecurityGroupMissingIcmpType",
            "port_range_min",
        ),
        (
            {"protocol": "tcp", "port_range_min": 90, "port_range_max": 80},
            "SecurityGroupInvalidPortRange",
            "port_range_min",
        ),
        (
            {"protocol": "tcp", "port_range_min": 80},
            "SecurityGroupInvalidPortRange",
            "port_range_min",
        ),
        (
            {"protocol": "udp", "port_range_min": 0, "port_range_max": 5},
            "SecurityGroupInvalidPortValue",
            "port_range_min",
        ),
        (
            {"protocol": "tcp", "port_range_min": 1, "port_range_max": 65536},
            "SecurityGroupInvalidPortValue",
            "port_range_max",
        ),
        (
            {"protocol": "tcp", "port_range_min": "x", "port_range_max": 1},
            "InvalidInput",
            "port_range_min",
        ),
        (
            {"port_range_min": 1, "port_range_max": 1},
            "SecurityGroupProtocolRequiredWithPorts",
            "protocol",
        ),
        (
            {"protocol": "47", "port_range_min": 1, "port_range_max": 1},
            "SecurityGroupInvalidProtocolForPort",
            "port_range_min",
        ),
        ({"protocol": "bogus"}, "SecurityGroupRuleInvalidProtocol", "protocol"),
        ({"protocol": 256}, "SecurityGroupRuleInvalidProtocol", "protocol"),
        ({"protocol": "-1"}, "SecurityGroupRuleInvalidProtocol", "protocol"),
        ({"protocol": "icmpv6"}, "SecurityGroupEthertypeConflictWithProtocol", "protocol"),
        (
            {"remote_ip_prefix": "10.0.0.0/8", "remote_group_id": "g"},
            "SecurityGroupRemoteGroupAndRemoteIpPrefix",
            "remote_ip_prefix",
        ),
        (
            {"remote_ip_prefix": "fd00::/8"},
            "SecurityGroupRuleParameterConflict",
            "remote_ip_prefix",
        ),
        ({"remote_ip_prefix": "10.0.0.0/40"}, "InvalidInput", "remote_ip_prefix"),
        ({"ethertype": "ipx"}, "SecurityGroupRuleInvalidEtherType", "ethertype"),
        ({"direction": "sideways"}, "InvalidInput", "direction"),
    ],
)
def test_bad_rules_are_refused_naming_the_field(values: dict, kind: str, field: str) -> None:
    with pytest.raises(exc.InvalidInput) as raised:
        rule(**values)
    assert raised.value.neutron_type == kind
    assert field in raised.value.message


@pytest.mark.parametrize(
    ("protocol", "low", "high", "phrase"),
    [
        ("tcp", -16, 80, "Invalid value for port -16"),
        ("tcp", 80, 79, "port_range_min must be <= port_range_max"),
        ("tcp", 80, 65536, "Invalid value for port 65536"),
        ("tcp", None, 6, "port_range_min must be <= port_range_max"),
        ("icmp", 1, 256, "Invalid value for ICMP code"),
        ("icmp", None, 6, "ICMP type (port-range-min) is missing"),
        ("icmp", 300, 1, "Invalid value for ICMP type"),
    ],
)
def test_bad_port_ranges_say_what_clients_match(
    protocol: str, low: int | None, high: int | None, phrase: str
) -> None:
    """The messages carry Networking's own phrases, which clients (and the conformance
    suite) look for in the error text."""
    with pytest.raises(exc.InvalidInput) as raised:
        rule(protocol=protocol, port_range_min=low, port_range_max=high)
    assert phrase in raised.value.message


def test_rules_are_normalised() -> None:
    any_rule = rule(protocol="any", ethertype="ipv6")
    assert (any_rule["protocol"], any_rule["ethertype"]) == (None, "IPv6")
    assert rule(protocol="TCP", port_range_min=22, port_range_max=22)["protocol"] == "tcp"
    assert rule(protocol=6)["protocol"] == "6"
    assert rule(protocol="icmp", port_range_min=8)["port_range_max"] is None
    assert rule(remote_ip_prefix="10.0.0.5")["remote_ip_prefix"] == "10.0.0.5/32"
    assert sg.dataplane_protocol("6", "IPv4") == "tcp"
    assert sg.dataplane_protocol("icmp", "IPv6") == "icmpv6"
    assert sg.dataplane_protocol("ipv6-icmp", "IPv6") == "icmpv6"
    assert sg.dataplane_protocol("99", "IPv4") == "99"
    assert sg.dataplane_protocol(None, "IPv4") is None
    # Spellings of one rule are one rule; another remote is another rule.
    tcp = sg.fingerprint(rule(protocol="tcp", port_range_min=80, port_range_max=80))
    assert tcp == sg.fingerprint(rule(protocol="6", port_range_min=80, port_range_max=80))
    anywhere = sg.fingerprint(rule(remote_ip_prefix="0.0.0.0/0"))
    assert anywhere == sg.fingerprint(rule())
    assert sg.fingerprint(rule(remote_ip_prefix="10.0.0.0/8")) != anywhere


def test_default_group_is_made_once_per_project() -> None:
    first = api.ensure_default_security_group(MEMBER.project_id)
    assert api.ensure_default_security_group(MEMBER.project_id) == first
    groups = api.list_security_groups(MEMBER)
    assert [g["id"] for g in groups] == [first]
    rules = {
        (r["direction"], r["ethertype"], r["remote_group_id"])
        for r in groups[0]["security_group_rules"]
    }
    assert rules == {
        ("egress", "IPv4", None),
        ("egress", "IPv6", None),
        ("ingress", "IPv4", first),
        ("ingress", "IPv6", first),
    }  # fmt: skip
    assert all(r["belongs_to_default_sg"] for r in groups[0]["security_group_rules"])
    assert api.list_security_groups(OTHER)[0]["id"] != first


def test_host_state_carries_ports_groups_and_members() -> None:
    network, _subnet = network_with_subnet(cidr="10.0.0.0/28")
    web = api.create_security_group(MEMBER, {"name": "web"})
    peers = api.create_security_group(MEMBER, {"name": "peers"})
    ssh = api.create_security_group_rule(
        MEMBER,
        {"security_group_id": web["id"], "direction": "ingress", "protocol": "6",
         "port_range_min": 22, "port_range_max": 22, "remote_group_id": peers["id"]},
    )  # fmt: skip
    here = api.create_port(
        MEMBER,
        {"network_id": network["id"], "binding:host_id": "h1", "security_groups": [web["id"]],
         "allowed_address_pairs": [{"ip_address": "10.0.0.12/32"}]},
    )  # fmt: skip
    there = api.create_port(
        MEMBER,
        {"network_id": network["id"], "binding:host_id": "h2", "security_groups": [peers["id"]],
         "allowed_address_pairs": [{"ip_address": "10.0.1.0/24", "mac_address": MAC}]},
    )  # fmt: skip
    state = api.host_state("h1")
    ports = {p["id"]: p for n in state["networks"] for p in n["ports"]}
    assert ports[here["id"]]["security_groups"] == [web["id"]]
    assert ports[here["id"]]["port_security_enabled"] is True
    assert ports[here["id"]]["allowed_address_pairs"] == [
        {"ip_address": "10.0.0.12", "mac_address": here["mac_address"]}
    ]
    # The groups of h1's ports, and the remote groups of their rules, no others.
    assert set(state["security_groups"]) == {web["id"], peers["id"]}
    rules = {r["id"]: r for r in state["security_groups"][web["id"]]["rules"]}
    assert rules[ssh["id"]] == {
        "id": ssh["id"], "direction": "ingress", "ethertype": "IPv4", "protocol": "tcp",
        "port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": None,
        "remote_group_id": peers["id"],
    }  # fmt: skip
    egress = [r for r in rules.values() if r["direction"] == "egress"]
    assert [r["remote_ip_prefix"] for r in egress] == [None, None]
    peer_address = there["fixed_ips"][0]["ip_address"]
    assert state["security_groups"][peers["id"]]["members"] == {
        "IPv4": sorted([peer_address, "10.0.1.0/24"]),
        "IPv6": [],
    }
    own = here["fixed_ips"][0]["ip_address"]
    assert state["security_groups"][web["id"]]["members"]["IPv4"] == sorted([own, "10.0.0.12"])
    # Membership follows the port: leaving the group leaves the members.
    api.update_port(MEMBER, there["id"], {"security_groups": []})
    assert api.host_state("h1")["security_groups"][peers["id"]]["members"]["IPv4"] == []
    # A host with no port in any group has none.
    assert api.host_state("h3")["security_groups"] == {}


def test_ports_without_port_security_have_no_groups_or_pairs() -> None:
    network, _subnet = network_with_subnet(cidr="10.0.0.0/28")
    with pytest.raises(exc.InvalidInput) as raised:
        api.create_port(
            MEMBER,
            {"network_id": network["id"], "port_security_enabled": False,
             "security_groups": [api.ensure_default_security_group(MEMBER.project_id)]},
        )  # fmt: skip
    assert raised.value.neutron_type == "PortSecurityAndIPRequiredForSecurityGroups"
    port = api.create_port(MEMBER, {"network_id": network["id"]})
    assert port["security_groups"] == [api.ensure_default_security_group(MEMBER.project_id)]
    with pytest.raises(exc.Conflict) as conflict:
        api.update_port(MEMBER, port["id"], {"port_security_enabled": False})
    assert conflict.value.neutron_type == "PortSecurityPortHasSecurityGroup"
    off = api.update_port(
        MEMBER, port["id"], {"port_security_enabled": False, "security_groups": []}
    )
    assert off["security_groups"] == [] and off["port_security_enabled"] is False
    pairs = [{"ip_address": "10.0.0.9"}, {"ip_address": "10.0.0.9"}]
    with pytest.raises(exc.InvalidInput) as duplicate:
        api.update_port(
            MEMBER, port["id"], {"port_security_enabled": True, "allowed_address_pairs": pairs}
        )
    assert duplicate.value.neutron_type == "DuplicateAddressPairInRequest"
    # Ports of the network itself (DHCP, routers) get no default group.
    router = api.create_port(
        MEMBER, {"network_id": network["id"], "device_owner": "network:router_interface"}
    )
    assert router["security_groups"] == []
