"""The incremental renderer: parts whose inputs did not change are reused as
they are, and the difference it computes from the changed parts alone is the
one a comparison of the whole rulesets gives."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from stratus.network.linux import firewall as fw
from tests.unit.network.test_firewall import default_group, port, rendered, rule, state


@pytest.fixture
def base() -> dict[str, Any]:
    ports = [
        port(f"port-{i}", f"10.0.0.{10 + i}", f"fa:16:3e:00:00:{i:02x}", [f"sg-{i % 3}", "all"])
        for i in range(9)
    ]
    groups = {f"sg-{g}": default_group(f"sg-{g}", [f"10.0.0.{10 + i}" for i in range(g, 9, 3)])
              for g in range(3)}  # fmt: skip
    groups["all"] = {
        "rules": [rule(protocol="tcp", port_range_min=22, remote_ip_prefix="192.0.2.0/24")],
        "members": {"IPv4": [f"10.0.0.{10 + i}" for i in range(9)], "IPv6": []},
    }
    return state(ports, groups)


def _whole_diff(old: fw.Ruleset, new: fw.Ruleset) -> str:
    """The difference of every chain, set and element of both rulesets."""
    return fw._diff(fw._flatten(old.parts.values()), fw._flatten(new.parts.values()))


def _ports(st: dict[str, Any]) -> list[dict[str, Any]]:
    ports: list[dict[str, Any]] = st["networks"][0]["ports"]
    return ports


def _groups(st: dict[str, Any]) -> dict[str, Any]:
    groups: dict[str, Any] = st["security_groups"]
    return groups


CHANGES: dict[str, Callable[[dict[str, Any]], None]] = {
    "rule added": lambda st: _groups(st)["sg-1"]["rules"].append(rule(protocol="icmp")),
    "rule removed": lambda st: _groups(st)["all"]["rules"].clear(),
    "member added": lambda st: _groups(st)["sg-2"]["members"]["IPv4"].append("10.9.9.9"),
    "port removed": lambda st: _ports(st).pop(4),
    "port added": lambda st: _ports(st).append(
        port("port-new", "10.0.0.99", "fa:16:3e:00:01:99", ["sg-new"])
    ),
    "port changes group": lambda st: _ports(st)[0].update(security_groups=["sg-2"]),
    "port changes address": lambda st: _ports(st)[1].update(
        fixed_ips=[{"subnet_id": "s", "ip_address": "10.0.0.77"}]
    ),
    "port security off": lambda st: _ports(st)[2].update(port_security_enabled=False),
    "allowed pair": lambda st: _ports(st)[3].update(
        allowed_address_pairs=[{"ip_address": "10.5.0.0/24", "mac_address": "fa:16:3e:aa:bb:cc"}]
    ),
    "last group of a remote set gone": lambda st: [
        p.update(security_groups=["all"]) for p in _ports(st) if "sg-0" in p["security_groups"]
    ],
}


def test_an_unchanged_state_renders_the_same_parts(base: dict[str, Any]) -> None:
    old = rendered(base)
    again = rendered(copy.deepcopy(base))  # equal input, other objects (as from the RPC)
    assert again.parts.keys() == old.parts.keys()
    assert all(again.parts[key] is part for key, part in old.parts.items())
    assert fw.diff_script(old, again) == ""


def test_a_rule_change_renders_only_its_group_anew(base: dict[str, Any]) -> None:
    old = rendered(base)
    CHANGES["rule added"](base)
    new = rendered(base)
    assert [key for key, part in new.parts.items() if old.parts.get(key) is not part] == [
        ("group", "sg-1")
    ]


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_the_difference_of_the_changed_parts_is_the_whole_difference(
    base: dict[str, Any], change: str
) -> None:
    old = rendered(base)
    new_state = copy.deepcopy(base)
    CHANGES[change](new_state)
    new = rendered(new_state)
    script = fw.diff_script(old, new)
    assert script, "the change must show"
    assert script == _whole_diff(old, new)
    assert fw.diff_script(new, old) == _whole_diff(new, old)
    # Renders that share no cached part give the same transaction.
    for cached in (fw._port_part, fw._group_part, fw._set_part, fw._zones_part):
        cached.cache_clear()
    assert fw.diff_script(old, rendered(new_state)) == script


def test_the_merged_views_are_those_of_the_parts(base: dict[str, Any]) -> None:
    rs = rendered(base)
    assert rs.rule_count() == sum(len(rules) for rules in rs.chains.values())
    assert set(rs.maps) == set(fw.MAPS)
    owners = [key for part in rs.parts.values() for key, _ in part.chains]
    assert len(owners) == len(set(owners)) == len(rs.chains), "one part per chain"
    elements = [(key, e) for part in rs.parts.values() for key, e, _ in part.elements]
    assert len(elements) == len(set(elements)), "one part per element"


def test_a_port_whose_tap_is_taken_gets_nothing(base: dict[str, Any]) -> None:
    """Taps are the port id's first 11 characters: a second port with the same
    would share the first one's elements (and its device cannot exist)."""
    _ports(base).append(port("twin-000000-a", "10.0.1.1", "fa:16:3e:00:02:01", ["sg-1"]))
    old = rendered(base)
    assert ("port", "twin-000000-a") in old.parts
    _ports(base).append(port("twin-000000-b", "10.0.1.2", "fa:16:3e:00:02:02", ["sg-1"]))
    new = rendered(base)
    assert ("port", "twin-000000-b") not in new.parts
    assert fw.diff_script(old, new) == ""
