"""stratus_port against the real Networking API in process (``stratus_api``):
create with a chosen address, no change on a second run, check mode, diff, update
in place (address, device), what cannot change, the API's 4xx passed through,
delete."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.modules.conftest import InProcessAPI

NET = "ut-port-net"
SUBNET = "ut-port-v4"


@pytest.fixture(scope="module")
def subnet(stratus_api: InProcessAPI) -> dict[str, Any]:
    network = stratus_api.client.post(
        "/networking/v2.0/networks", json={"network": {"name": NET}}
    ).json()["network"]
    body = {"name": SUBNET, "network_id": network["id"], "cidr": "10.5.0.0/28", "ip_version": 4}
    return stratus_api.client.post("/networking/v2.0/subnets", json={"subnet": body}).json()[
        "subnet"
    ]


def show(api: InProcessAPI, port_id: str) -> dict[str, Any]:
    return api.client.get(f"/networking/v2.0/ports/{port_id}").json()["port"]


def test_port_lifecycle(run, stratus_api: InProcessAPI, subnet: dict) -> None:  # noqa: ANN001
    args = {
        "name": "ut-port",
        "network": NET,
        "fixed_ips": [{"subnet": SUBNET, "ip_address": "10.5.0.9"}],
        "mac_address": "fa:16:3e:00:00:09",
    }
    planned = run("stratus_port", args, stratus_api, check_mode=True)
    assert planned["changed"] and planned["port"]["id"] is None
    assert planned["port"]["fixed_ips"] == [{"subnet_id": subnet["id"], "ip_address": "10.5.0.9"}]
    assert stratus_api.writes() == []

    created = run("stratus_port", args, stratus_api)
    port = created["port"]
    assert created["changed"] and port["network_id"] == subnet["network_id"]
    assert port["fixed_ips"] == [{"subnet_id": subnet["id"], "ip_address": "10.5.0.9"}]
    assert port["mac_address"] == "fa:16:3e:00:00:09" and port["status"] == "DOWN"

    writes = len(stratus_api.writes())
    again = run("stratus_port", dict(args, mac_address="FA:16:3E:00:00:09"), stratus_api)
    assert not again["changed"] and again["port"]["id"] == port["id"]
    # An entry naming only the subnet matches the address the port has there.
    assert not run("stratus_port", dict(args, fixed_ips=[{"subnet": SUBNET}]), stratus_api)[
        "changed"
    ]
    assert len(stratus_api.writes()) == writes

    changes = dict(args, fixed_ips=[{"ip_address": "10.5.0.11"}], device_owner="ut:owner")
    checked = run("stratus_port", changes, stratus_api, check_mode=True)
    assert checked["changed"] and checked["port"]["device_owner"] == "ut:owner"
    assert checked["diff"]["before"]["fixed_ips"][0]["ip_address"] == "10.5.0.9"
    assert checked["diff"]["after"]["fixed_ips"] == [{"ip_address": "10.5.0.11"}]
    assert show(stratus_api, port["id"])["device_owner"] == ""

    updated = run("stratus_port", changes, stratus_api)
    assert updated["changed"]
    current = show(stratus_api, port["id"])
    assert [ip["ip_address"] for ip in current["fixed_ips"]] == ["10.5.0.11"]
    assert current["device_owner"] == "ut:owner"
    assert not run("stratus_port", changes, stratus_api)["changed"]

    fixed = run("stratus_port", dict(changes, mac_address="fa:16:3e:00:00:0a"), stratus_api)
    assert fixed["failed"] and "mac_address ('fa:16:3e:00:00:09' -> " in fixed["msg"]

    gone = run("stratus_port", {"name": "ut-port", "state": "absent"}, stratus_api)
    assert gone["changed"] and gone["port"] is None
    assert stratus_api.client.get(f"/networking/v2.0/ports/{port['id']}").status_code == 404
    assert not run("stratus_port", {"name": "ut-port", "state": "absent"}, stratus_api)["changed"]


def test_bad_input_names_the_field(run, stratus_api: InProcessAPI, subnet: dict) -> None:  # noqa: ANN001
    outside = {"name": "ut-bad", "network": NET, "fixed_ips": [{"ip_address": "10.6.0.9"}]}
    result = run("stratus_port", outside, stratus_api)
    assert result["failed"] and "fixed_ips" in result["msg"]
    assert "Creating port 'ut-bad' failed (HTTP 400)" in result["msg"]
    unknown = dict(outside, fixed_ips=[{"subnet": "ut-nope"}])
    result = run("stratus_port", unknown, stratus_api)
    assert result["msg"].startswith("fixed_ips[0]: unknown subnet 'ut-nope'")
    result = run("stratus_port", {"name": "ut-bad"}, stratus_api)
    assert result["msg"] == "Port 'ut-bad' does not exist; creating it needs: network."
    listed = stratus_api.client.get("/networking/v2.0/ports", params={"name": "ut-bad"})
    assert listed.json()["ports"] == []
