"""The servers the inventory declares, and the placement plan's input and report."""

from __future__ import annotations

from typing import Any

import pytest

from stratus.deploy.resources import (
    declared_networks,
    declared_routers,
    declared_servers,
    floating_ip_network,
    plan_input,
    plan_report,
    resolve_hints,
)

EXISTING = [
    {"name": "web-1", "id": "id-web-1", "host": "cmp1"},
    {"name": "old", "id": "id-old", "host": "cmp2"},
    {"name": "stray", "id": "id-stray", "host": "cmp3"},
]


def test_declared_servers_in_host_order_with_defaults() -> None:
    hostvars: dict[str, dict[str, Any]] = {
        "web-2": {"server_flavor": "small", "server_image": "tiny", "server_group": "spread",
                  "server_hints": {"same_host": "web-1"}, "server_az": "nova:cmp1",
                  "server_metadata": {"a": "b"}, "server_state": "stopped",
                  "server_networks": [{"network": "private"}], "server_floating_ip": True},
        "web-1": {"server_name": "www", "server_flavor": "small", "server_image": "tiny",
                  "server_host": "cmp2", "server_description": "first"},
    }  # fmt: skip
    assert declared_servers(["web-2", "web-1"], hostvars) == [
        {"name": "www", "flavor": "small", "image": "tiny", "group": None,
         "scheduler_hints": {}, "availability_zone": None, "host": "cmp2", "metadata": None,
         "description": "first", "state": "present", "networks": None, "floating_ip": False},
        {"name": "web-2", "flavor": "small", "image": "tiny", "group": "spread",
         "scheduler_hints": {"same_host": "web-1"}, "availability_zone": "nova:cmp1",
         "host": None, "metadata": {"a": "b"}, "description": None, "state": "stopped",
         "networks": [{"network": "private"}], "floating_ip": True},
    ]  # fmt: skip


def _server(name: str, **fields: Any) -> dict[str, Any]:
    server = {"name": name, "flavor": "small", "image": "tiny", "group": None,
              "scheduler_hints": {}, "availability_zone": None, "host": None,
              "metadata": None, "description": None, "state": "present"}  # fmt: skip
    server.update(fields)
    return server


SERVERS = [
    _server("web-1"),
    _server("web-2", host="cmp9", scheduler_hints={"different_host": ["web-1"]}),
    _server("old", state="absent"),
    _server("gone", state="absent"),
]


def test_plan_input_skips_absent_servers_and_pins_existing_ones() -> None:
    assert plan_input(SERVERS, EXISTING) == [
        {"name": "web-1", "flavor": "small", "image": "tiny", "group": None,
         "scheduler_hints": {}, "availability_zone": None, "host": "cmp1"},
        {"name": "web-2", "flavor": "small", "image": "tiny", "group": None,
         "scheduler_hints": {"different_host": ["web-1"]}, "availability_zone": None,
         "host": "cmp9"},
    ]  # fmt: skip


def test_plan_report_without_prune() -> None:
    plan = {"web-1": "cmp1", "web-2": "cmp4"}
    report = plan_report(plan, SERVERS, EXISTING)
    assert report == {"web-1": "cmp1 (exists)", "web-2": "cmp4 (new)", "old": "cmp2 (delete)"}
    assert list(report) == ["web-1", "web-2", "old"]


def test_plan_report_with_prune_names_undeclared_servers() -> None:
    report = plan_report({"web-1": "cmp1"}, SERVERS, EXISTING, prune=True)
    assert report == {
        "web-1": "cmp1 (exists)",
        "old": "cmp2 (delete)",
        "stray": "cmp3 (delete, not in the inventory)",
    }


def test_resolve_hints_turns_server_names_into_ids() -> None:
    ids = {"web-1": "id-web-1", "db": "id-db"}
    hints = {"same_host": "web-1", "different_host": ["db", "unknown"], "query": "web-1"}
    assert resolve_hints(hints, ids) == {
        "same_host": ["id-web-1"],
        "different_host": ["id-db", "unknown"],
        "query": "web-1",
    }
    assert resolve_hints({}, ids) == {}
    assert resolve_hints(None, ids) == {}


def test_declared_networks_fill_in_states_and_subnets() -> None:
    declared = [
        {"name": "private", "subnets": [{"name": "v4", "cidr": "10.0.0.0/24"},
                                        {"name": "old", "cidr": "10.1.0.0/24", "state": "absent"}]},
        {"name": "gone", "state": "absent"},
    ]  # fmt: skip
    assert declared_networks(declared) == [
        {"name": "private", "state": "present", "subnets": [
            {"name": "v4", "cidr": "10.0.0.0/24", "state": "present"},
            {"name": "old", "cidr": "10.1.0.0/24", "state": "absent"}]},
        {"name": "gone", "state": "absent", "subnets": []},
    ]  # fmt: skip
    assert declared_networks(None) == []


@pytest.mark.parametrize(
    ("declared", "named"),
    [
        ([{"subnets": []}], "without a name"),
        ([{"name": "a"}, {"name": "a"}], "network a is declared twice"),
        ([{"name": "a", "state": "stopped"}], "network a: state must be present or absent"),
        ([{"name": "a", "subnets": [{"cidr": "10.0.0.0/24"}]}], "network a: each subnet"),
        ([{"name": "a", "subnets": [{"name": "s"}, {"name": "s"}]}], "network a: each subnet"),
        ([{"name": "a", "subnets": [{"name": "s", "state": "on"}]}], "subnet s: state must"),
    ],
)
def test_declared_networks_name_what_is_wrong(declared: list, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        declared_networks(declared)


def test_declared_routers_fill_in_states() -> None:
    declared = [{"name": "r1", "external_gateway": {"network": "public"}, "interfaces": ["v4"]},
                {"name": "r2", "state": "absent"}]  # fmt: skip
    assert declared_routers(declared) == [
        {"name": "r1", "external_gateway": {"network": "public"}, "interfaces": ["v4"],
         "state": "present"},
        {"name": "r2", "state": "absent"},
    ]  # fmt: skip
    assert declared_routers(None) == []


@pytest.mark.parametrize(
    ("declared", "named"),
    [
        ([{"interfaces": []}], "stratus_routers: a router without a name"),
        ([{"name": "r"}, {"name": "r"}], "router r is declared twice"),
        ([{"name": "r", "state": "up"}], "stratus_routers: router r: state must be present"),
    ],
)
def test_declared_routers_name_what_is_wrong(declared: list, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        declared_routers(declared)


@pytest.mark.parametrize(
    ("wanted", "network"),
    [(False, None), (None, None), (True, "public"), ("other-ext", "other-ext")],
)
def test_floating_ip_network(wanted: Any, network: str | None) -> None:
    assert floating_ip_network({"name": "s", "floating_ip": wanted}, "public") == network


@pytest.mark.parametrize(
    ("wanted", "default", "named"),
    [
        (True, None, "server s: server_floating_ip is true but no stratus_floating_network"),
        (3, "public", "server s: server_floating_ip must be true, false or"),
        ("", "public", "server s: server_floating_ip must be"),
    ],
)
def test_floating_ip_network_names_what_is_wrong(
    wanted: Any, default: str | None, named: str
) -> None:
    with pytest.raises(ValueError, match=named):
        floating_ip_network({"name": "s", "floating_ip": wanted}, default)
