"""stratus_router against the real Networking API in process (``stratus_api``):
create with a gateway and an interface, no change on a second run, check mode,
diff, interfaces added and removed to match, static routes after the interfaces,
the API's 4xx naming the field, delete with the interfaces."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.modules.conftest import InProcessAPI

EXT, NET = "ut-rtr-ext", "ut-rtr-net"
SUB_A, SUB_B = "ut-rtr-a", "ut-rtr-b"


def post(api: InProcessAPI, collection: str, key: str, body: dict[str, Any]) -> dict[str, Any]:
    response = api.client.post(f"/networking/v2.0/{collection}", json={key: body})
    assert response.status_code == 201, response.text
    return response.json()[key]


@pytest.fixture(scope="module")
def nets(stratus_api: InProcessAPI) -> dict[str, dict[str, Any]]:
    ext = post(stratus_api, "networks", "network", {"name": EXT, "router:external": True})
    net = post(stratus_api, "networks", "network", {"name": NET})
    subnet = {"ip_version": 4}
    return {
        EXT: ext,
        "ext-v4": post(
            stratus_api,
            "subnets",
            "subnet",
            dict(subnet, name="ut-rtr-ext-v4", network_id=ext["id"], cidr="203.0.113.0/28"),
        ),
        SUB_A: post(
            stratus_api,
            "subnets",
            "subnet",
            dict(subnet, name=SUB_A, network_id=net["id"], cidr="10.7.0.0/28"),
        ),
        SUB_B: post(
            stratus_api,
            "subnets",
            "subnet",
            dict(subnet, name=SUB_B, network_id=net["id"], cidr="10.7.1.0/28"),
        ),
    }


def interface_subnets(api: InProcessAPI, router_id: str) -> list[str]:
    ports = api.client.get("/networking/v2.0/ports", params={"device_id": router_id}).json()
    return sorted(
        ip["subnet_id"]
        for port in ports["ports"]
        if port["device_owner"] == "network:router_interface"
        for ip in port["fixed_ips"]
    )


def test_router_lifecycle(run, stratus_api: InProcessAPI, nets: dict) -> None:  # noqa: ANN001
    args = {"name": "ut-router", "external_gateway": {"network": EXT}, "interfaces": [SUB_A]}
    planned = run("stratus_router", args, stratus_api, check_mode=True)
    assert planned["changed"] and planned["router"]["id"] is None
    assert planned["diff"]["after"]["interfaces"] == [nets[SUB_A]["id"]]
    assert planned["diff"]["after"]["external_gateway_info"] == {"network_id": nets[EXT]["id"]}
    assert stratus_api.writes() == []

    created = run("stratus_router", args, stratus_api)
    router = created["router"]
    assert created["changed"] and router["external_gateway_info"]["network_id"] == nets[EXT]["id"]
    assert router["external_gateway_info"]["enable_snat"] is True
    assert [(i["subnet_id"], i["ip_address"]) for i in router["interfaces"]] == [
        (nets[SUB_A]["id"], "10.7.0.1")
    ]
    assert interface_subnets(stratus_api, router["id"]) == [nets[SUB_A]["id"]]

    writes = len(stratus_api.writes())
    again = run("stratus_router", args, stratus_api)
    assert not again["changed"] and again["router"]["id"] == router["id"]
    assert again["diff"]["before"] == again["diff"]["after"]
    assert len(stratus_api.writes()) == writes

    routes = [{"destination": "10.9.0.0/24", "nexthop": "10.7.1.5"}]
    changed = dict(args, interfaces=[SUB_A, {"subnet": SUB_B}], routes=routes)
    checked = run("stratus_router", changed, stratus_api, check_mode=True)
    assert checked["changed"] and checked["diff"]["before"]["routes"] == []
    assert checked["diff"]["after"]["routes"] == routes
    assert checked["diff"]["after"]["interfaces"] == sorted(nets[s]["id"] for s in (SUB_A, SUB_B))
    assert len(stratus_api.writes()) == writes

    # The route's nexthop is in the subnet being added: the interface goes in first.
    updated = run("stratus_router", changed, stratus_api)
    assert updated["changed"] and updated["router"]["routes"] == routes
    assert interface_subnets(stratus_api, router["id"]) == sorted(
        nets[s]["id"] for s in (SUB_A, SUB_B)
    )
    assert not run("stratus_router", changed, stratus_api)["changed"]

    # Routes go before the interface their nexthop needs.
    fewer = dict(args, interfaces=[SUB_A], routes=[])
    assert run("stratus_router", fewer, stratus_api)["changed"]
    assert interface_subnets(stratus_api, router["id"]) == [nets[SUB_A]["id"]]
    shown = stratus_api.client.get(f"/networking/v2.0/routers/{router['id']}").json()["router"]
    assert shown["routes"] == []

    # No gateway: an empty external_gateway removes it.
    ungated = run("stratus_router", dict(fewer, external_gateway={}), stratus_api)
    assert ungated["changed"] and ungated["router"]["external_gateway_info"] is None

    gone = run("stratus_router", {"name": "ut-router", "state": "absent"}, stratus_api)
    assert gone["changed"] and gone["router"] is None
    assert stratus_api.client.get(f"/networking/v2.0/routers/{router['id']}").status_code == 404
    assert interface_subnets(stratus_api, router["id"]) == []
    assert not run("stratus_router", {"name": "ut-router", "state": "absent"}, stratus_api)[
        "changed"
    ]


def test_bad_input_names_the_field(run, stratus_api: InProcessAPI, nets: dict) -> None:  # noqa: ANN001
    bad_gateway = {"name": "ut-bad", "external_gateway": {"network": NET}}
    result = run("stratus_router", bad_gateway, stratus_api)
    assert result["failed"] and "is not a valid external network" in result["msg"]
    assert "Creating router 'ut-bad' failed (HTTP 400)" in result["msg"]
    listed = stratus_api.client.get("/networking/v2.0/routers", params={"name": "ut-bad"})
    assert listed.json()["routers"] == []

    result = run("stratus_router", {"name": "ut-bad", "interfaces": ["ut-nope"]}, stratus_api)
    assert result["msg"] == "interfaces[0]: unknown subnet 'ut-nope'."
    both = {"name": "ut-bad", "interfaces": [{"subnet": SUB_A, "port": "x"}]}
    result = run("stratus_router", both, stratus_api)
    assert result["msg"].startswith("interfaces[0] must be a subnet, or a dictionary")

    far = {
        "name": "ut-bad-routes",
        "routes": [{"destination": "10.9.0.0/24", "nexthop": "10.8.0.1"}],
    }
    result = run("stratus_router", far, stratus_api)
    assert result["failed"] and "routes" in result["msg"] and "HTTP 400" in result["msg"]
    assert run("stratus_router", {"name": "ut-bad-routes", "state": "absent"}, stratus_api)[
        "changed"
    ]
