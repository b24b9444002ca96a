"""stratus_subnet against the real Networking API in process (``stratus_api``):
create, no change on a second run (however the addresses are written), check
mode, diff, update in place, what cannot change, the API's 400 passed through, a
network declared but not made yet in check mode, delete."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.modules.conftest import InProcessAPI

NET = "ut-subnet-net"


@pytest.fixture(scope="module")
def network(stratus_api: InProcessAPI) -> dict[str, Any]:
    made = stratus_api.client.post("/networking/v2.0/networks", json={"network": {"name": NET}})
    return made.json()["network"]


def show(api: InProcessAPI, subnet_id: str) -> dict[str, Any]:
    return api.client.get(f"/networking/v2.0/subnets/{subnet_id}").json()["subnet"]


def test_subnet_lifecycle(run, stratus_api: InProcessAPI, network: dict) -> None:  # noqa: ANN001
    args = {
        "name": "ut-v4",
        "network": NET,
        "cidr": "10.9.0.0/24",
        "allocation_pools": [{"start": "10.9.0.10", "end": "10.9.0.99"}],
        "dns_nameservers": ["192.0.2.53"],
        "host_routes": [{"destination": "10.10.0.0/16", "nexthop": "10.9.0.254"}],
    }
    planned = run("stratus_subnet", args, stratus_api, check_mode=True)
    assert planned["changed"] and planned["subnet"]["id"] is None
    assert planned["subnet"]["ip_version"] == 4 and planned["subnet"]["network_id"] == network["id"]
    assert stratus_api.writes() == []

    created = run("stratus_subnet", args, stratus_api)
    subnet = created["subnet"]
    assert created["changed"] and subnet["gateway_ip"] == "10.9.0.1"
    assert subnet["network_id"] == network["id"] and subnet["enable_dhcp"] is True
    assert created["diff"]["after"]["allocation_pools"] == args["allocation_pools"]

    writes = len(stratus_api.writes())
    # The same subnet written otherwise (host bits in the CIDR) is no change.
    again = run("stratus_subnet", dict(args, cidr="10.9.0.7/24"), stratus_api)
    assert not again["changed"] and again["subnet"]["id"] == subnet["id"]
    assert len(stratus_api.writes()) == writes

    changes = dict(args, dns_nameservers=["192.0.2.54", "192.0.2.53"], no_gateway=True)
    checked = run("stratus_subnet", changes, stratus_api, check_mode=True)
    assert checked["changed"] and checked["subnet"]["gateway_ip"] is None
    assert checked["diff"]["before"]["gateway_ip"] == "10.9.0.1"
    assert checked["diff"]["after"]["dns_nameservers"] == ["192.0.2.54", "192.0.2.53"]
    assert show(stratus_api, subnet["id"])["gateway_ip"] == "10.9.0.1"

    updated = run("stratus_subnet", changes, stratus_api)
    assert updated["changed"]
    current = show(stratus_api, subnet["id"])
    assert current["gateway_ip"] is None
    assert current["dns_nameservers"] == ["192.0.2.54", "192.0.2.53"]
    assert not run("stratus_subnet", changes, stratus_api)["changed"]

    fixed = run("stratus_subnet", dict(args, cidr="10.19.0.0/24"), stratus_api)
    assert fixed["failed"] and "cidr ('10.9.0.0/24' -> '10.19.0.0/24')" in fixed["msg"]
    assert fixed["subnet"]["id"] == subnet["id"] and "cidr" in fixed["differences"]

    gone = run("stratus_subnet", {"name": "ut-v4", "network": NET, "state": "absent"}, stratus_api)
    assert gone["changed"] and gone["subnet"] is None
    assert stratus_api.client.get(f"/networking/v2.0/subnets/{subnet['id']}").status_code == 404
    assert not run(
        "stratus_subnet", {"name": "ut-v4", "network": NET, "state": "absent"}, stratus_api
    )["changed"]


def test_bad_input_names_the_field(run, stratus_api: InProcessAPI, network: dict) -> None:  # noqa: ANN001
    args = {"name": "ut-bad", "network": NET, "cidr": "10.8.0.0/24", "gateway_ip": "10.7.0.1"}
    result = run("stratus_subnet", args, stratus_api)
    assert result["failed"] and "Invalid input for gateway_ip" in result["msg"]
    result = run("stratus_subnet", dict(args, cidr="10.8.0.0/33"), stratus_api)
    assert result["failed"] and "cidr" in result["msg"]
    result = run("stratus_subnet", {"name": "ut-bad", "network": NET}, stratus_api)
    assert result["msg"] == "Subnet 'ut-bad' does not exist; creating it needs: cidr."
    listed = stratus_api.client.get("/networking/v2.0/subnets", params={"name": "ut-bad"})
    assert listed.json()["subnets"] == []


def test_network_not_made_yet(run, stratus_api: InProcessAPI) -> None:  # noqa: ANN001
    args = {"name": "ut-later", "network": "ut-nowhere", "cidr": "10.6.0.0/24"}
    planned = run("stratus_subnet", args, stratus_api, check_mode=True)
    assert planned["changed"] and planned["subnet"]["network_id"] is None
    result = run("stratus_subnet", args, stratus_api)
    assert result["msg"] == "Unknown network 'ut-nowhere': no network has this name or id."
