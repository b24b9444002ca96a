"""stratus_network against the real Networking API in process (``stratus_api``):
create, no change on a second run, check mode, diff, update in place, what cannot
change, the API's 400 passed through, delete."""

from __future__ import annotations

from typing import Any

from tests.unit.modules.conftest import InProcessAPI

NAME = "ut-net"


def show(api: InProcessAPI, network_id: str) -> dict[str, Any]:
    return api.client.get(f"/networking/v2.0/networks/{network_id}").json()["network"]


def test_network_lifecycle(run, stratus_api: InProcessAPI) -> None:  # noqa: ANN001
    args = {"name": NAME, "mtu": 1400, "port_security_enabled": False}
    planned = run("stratus_network", args, stratus_api, check_mode=True)
    assert planned["changed"] and planned["network"]["id"] is None
    assert stratus_api.writes() == []

    created = run("stratus_network", args, stratus_api)
    network = created["network"]
    assert created["changed"] and network["id"] and network["mtu"] == 1400
    assert network["provider:network_type"] == "vxlan"
    assert created["diff"]["before"] == {}
    assert created["diff"]["after"]["name"] == NAME and created["diff"]["after"]["mtu"] == 1400
    assert show(stratus_api, network["id"])["port_security_enabled"] is False

    writes = len(stratus_api.writes())
    again = run("stratus_network", args, stratus_api)
    assert not again["changed"] and again["network"]["id"] == network["id"]
    assert len(stratus_api.writes()) == writes

    changes = dict(args, admin_state_up=False, shared=True)
    checked = run("stratus_network", changes, stratus_api, check_mode=True)
    assert checked["changed"] and checked["network"]["admin_state_up"] is False
    assert checked["diff"]["before"]["shared"] is False and checked["diff"]["after"]["shared"]
    assert show(stratus_api, network["id"])["admin_state_up"] is True

    updated = run("stratus_network", changes, stratus_api)
    assert updated["changed"] and updated["network"]["shared"] is True
    current = show(stratus_api, network["id"])
    assert current["admin_state_up"] is False and current["shared"] is True
    assert not run("stratus_network", changes, stratus_api)["changed"]

    by_id = run("stratus_network", {"name": network["id"], "mtu": 1400}, stratus_api)
    assert not by_id["changed"] and by_id["network"]["name"] == NAME

    fixed = run("stratus_network", dict(args, network_type="flat"), stratus_api)
    assert fixed["failed"] and "provider:network_type ('vxlan' -> 'flat')" in fixed["msg"]
    assert fixed["differences"] == {"provider:network_type": {"before": "vxlan", "after": "flat"}}

    gone = run("stratus_network", {"name": NAME, "state": "absent"}, stratus_api)
    assert gone["changed"] and gone["network"] is None and gone["diff"]["after"] == {}
    assert stratus_api.client.get(f"/networking/v2.0/networks/{network['id']}").status_code == 404
    assert not run("stratus_network", {"name": NAME, "state": "absent"}, stratus_api)["changed"]


def test_bad_input_names_the_field(run, stratus_api: InProcessAPI) -> None:  # noqa: ANN001
    args = {"name": "ut-bad", "network_type": "flat", "physical_network": "physnet9"}
    result = run("stratus_network", args, stratus_api)
    assert result["failed"] and "provider:physical_network" in result["msg"]
    assert "Creating network 'ut-bad' failed (HTTP 400)" in result["msg"]
    vxlan = {"name": "ut-bad", "network_type": "vxlan", "segmentation_id": 0}
    result = run("stratus_network", vxlan, stratus_api)
    assert result["failed"] and "provider:segmentation_id" in result["msg"]
    listed = stratus_api.client.get("/networking/v2.0/networks", params={"name": "ut-bad"})
    assert listed.json()["networks"] == []
