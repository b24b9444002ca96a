"""stratus_floating_ip against the real Networking API in process (``stratus_api``):
allocate and associate with a port, found again by its port and by its address
(no change), check mode, diff, moved to another port, the API's 4xx (a port
without a router to the external network), released."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.modules.conftest import InProcessAPI
from tests.unit.modules.test_router import post

EXT, NET, LONELY = "ut-fip-ext", "ut-fip-net", "ut-fip-lonely"


@pytest.fixture(scope="module")
def ports(stratus_api: InProcessAPI) -> dict[str, dict[str, Any]]:
    """An external network, a tenant network routed to it with two ports, and a
    network without a router with one port."""
    ext = post(stratus_api, "networks", "network", {"name": EXT, "router:external": True})
    made: dict[str, dict[str, Any]] = {EXT: ext}
    for name, cidr in ((EXT, "198.51.100.0/28"), (NET, "10.8.0.0/28"), (LONELY, "10.8.1.0/28")):
        network = ext if name == EXT else post(stratus_api, "networks", "network", {"name": name})
        made[f"{name}-v4"] = post(
            stratus_api,
            "subnets",
            "subnet",
            {"name": f"{name}-v4", "network_id": network["id"], "cidr": cidr, "ip_version": 4},
        )
        made[name] = network
    router = post(
        stratus_api,
        "routers",
        "router",
        {"name": "ut-fip-router", "external_gateway_info": {"network_id": ext["id"]}},
    )
    response = stratus_api.client.put(
        f"/networking/v2.0/routers/{router['id']}/add_router_interface",
        json={"subnet_id": made[f"{NET}-v4"]["id"]},
    )
    assert response.status_code == 200, response.text
    for name, network in (("ut-fip-p1", NET), ("ut-fip-p2", NET), ("ut-fip-p3", LONELY)):
        made[name] = post(
            stratus_api, "ports", "port", {"name": name, "network_id": made[network]["id"]}
        )
    return made


def fips(api: InProcessAPI, network: dict[str, Any]) -> list[dict[str, Any]]:
    """The floating IPs of ``network``."""
    query = {"floating_network_id": network["id"]}
    return api.client.get("/networking/v2.0/floatingips", params=query).json()["floatingips"]


def test_floating_ip_lifecycle(run, stratus_api: InProcessAPI, ports: dict) -> None:  # noqa: ANN001
    args = {"network": EXT, "port": "ut-fip-p1"}
    planned = run("stratus_floating_ip", args, stratus_api, check_mode=True)
    assert planned["changed"] and planned["floating_ip"]["id"] is None
    assert planned["diff"]["after"]["port_id"] == ports["ut-fip-p1"]["id"]
    assert stratus_api.writes() == [] and fips(stratus_api, ports[EXT]) == []

    created = run("stratus_floating_ip", args, stratus_api)
    fip = created["floating_ip"]
    p1_address = ports["ut-fip-p1"]["fixed_ips"][0]["ip_address"]
    assert created["changed"] and fip["port_id"] == ports["ut-fip-p1"]["id"]
    assert fip["fixed_ip_address"] == p1_address and fip["status"] == "ACTIVE"
    assert fip["floating_ip_address"].startswith("198.51.100.")

    writes = len(stratus_api.writes())
    again = run("stratus_floating_ip", args, stratus_api)
    assert not again["changed"] and again["floating_ip"]["id"] == fip["id"]
    address = fip["floating_ip_address"]
    by_address = {"floating_ip_address": address, "port": "ut-fip-p1", "fixed_address": p1_address}
    assert not run("stratus_floating_ip", by_address, stratus_api)["changed"]
    assert len(stratus_api.writes()) == writes

    moved = {"floating_ip_address": address, "port": "ut-fip-p2"}
    checked = run("stratus_floating_ip", moved, stratus_api, check_mode=True)
    assert checked["changed"] and checked["diff"]["before"]["port_id"] == ports["ut-fip-p1"]["id"]
    assert checked["diff"]["after"]["port_id"] == ports["ut-fip-p2"]["id"]
    assert len(stratus_api.writes()) == writes
    result = run("stratus_floating_ip", moved, stratus_api)
    assert result["changed"] and result["floating_ip"]["port_id"] == ports["ut-fip-p2"]["id"]
    assert (
        result["floating_ip"]["fixed_ip_address"]
        == ports["ut-fip-p2"]["fixed_ips"][0]["ip_address"]
    )
    assert not run("stratus_floating_ip", moved, stratus_api)["changed"]
    assert [f["id"] for f in fips(stratus_api, ports[EXT])] == [fip["id"]]

    other_network = dict(moved, network=NET)
    fixed = run("stratus_floating_ip", other_network, stratus_api)
    assert fixed["failed"] and "floating_network_id" in fixed["msg"]

    gone = run(
        "stratus_floating_ip", {"floating_ip_address": address, "state": "absent"}, stratus_api
    )
    assert gone["changed"] and gone["floating_ip"] is None and fips(stratus_api, ports[EXT]) == []
    assert not run(
        "stratus_floating_ip", {"floating_ip_address": address, "state": "absent"}, stratus_api
    )["changed"]


def test_bad_input(run, stratus_api: InProcessAPI, ports: dict) -> None:  # noqa: ANN001
    lonely = run("stratus_floating_ip", {"network": EXT, "port": "ut-fip-p3"}, stratus_api)
    assert lonely["failed"] and "is not reachable from subnet" in lonely["msg"]
    assert "Creating floating IP 'of port ut-fip-p3' failed (HTTP 404)" in lonely["msg"]
    assert fips(stratus_api, ports[EXT]) == []

    result = run("stratus_floating_ip", {"port": "ut-fip-p3"}, stratus_api)
    assert result["msg"] == (
        "Floating IP of port ut-fip-p3 does not exist; allocating it needs: network."
    )
    result = run("stratus_floating_ip", {"network": EXT, "port": "ut-nope"}, stratus_api)
    assert result["msg"] == "Unknown port 'ut-nope': no port has this name or id."
    result = run("stratus_floating_ip", {"network": EXT}, stratus_api)
    assert result["failed"] and "floating_ip_address" in result["msg"]
    wrong = {"network": EXT, "port": "ut-fip-p1", "fixed_address": "10.8.0.99"}
    result = run("stratus_floating_ip", wrong, stratus_api)
    assert result["failed"] and "does not have fixed ip 10.8.0.99" in result["msg"]
    assert fips(stratus_api, ports[EXT]) == []
