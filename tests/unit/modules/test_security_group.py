"""stratus_security_group against the real Networking API in process
(``stratus_api``): create, no change on a second run, check mode, diff, update in
place, what cannot change, the API's 4xx passed through, delete."""

from __future__ import annotations

from typing import Any

from tests.unit.modules.conftest import InProcessAPI


def show(api: InProcessAPI, group_id: str) -> dict[str, Any]:
    return api.client.get(f"/networking/v2.0/security-groups/{group_id}").json()["security_group"]


def test_security_group_lifecycle(run, stratus_api: InProcessAPI) -> None:  # noqa: ANN001
    args = {"name": "ut-sg", "description": "web"}
    planned = run("stratus_security_group", args, stratus_api, check_mode=True)
    assert planned["changed"] and planned["security_group"]["id"] is None
    assert planned["diff"] == {"before": {}, "after": {"name": "ut-sg", "description": "web"}}
    assert stratus_api.writes() == []

    created = run("stratus_security_group", args, stratus_api)
    group = created["security_group"]
    assert created["changed"] and group["description"] == "web"
    assert group["project_id"] == InProcessAPI.PROJECT
    assert {r["direction"] for r in group["security_group_rules"]} == {"egress"}

    writes = len(stratus_api.writes())
    again = run("stratus_security_group", args, stratus_api)
    assert not again["changed"] and again["security_group"]["id"] == group["id"]
    by_id = run("stratus_security_group", dict(args, name=group["id"]), stratus_api)
    assert not by_id["changed"] and by_id["security_group"]["name"] == "ut-sg"
    assert len(stratus_api.writes()) == writes

    changed = dict(args, description="web and ssh")
    checked = run("stratus_security_group", changed, stratus_api, check_mode=True)
    assert checked["changed"] and checked["diff"]["before"]["description"] == "web"
    assert checked["diff"]["after"]["description"] == "web and ssh"
    assert show(stratus_api, group["id"])["description"] == "web"
    assert run("stratus_security_group", changed, stratus_api)["changed"]
    assert show(stratus_api, group["id"])["description"] == "web and ssh"
    assert not run("stratus_security_group", changed, stratus_api)["changed"]

    fixed = run("stratus_security_group", dict(changed, stateful=False), stratus_api)
    assert fixed["failed"] and "stateful (True -> False)" in fixed["msg"]
    assert fixed["differences"] == {"stateful": {"before": True, "after": False}}

    gone = run("stratus_security_group", {"name": "ut-sg", "state": "absent"}, stratus_api)
    assert gone["changed"] and gone["security_group"] is None
    assert (
        stratus_api.client.get(f"/networking/v2.0/security-groups/{group['id']}").status_code == 404
    )
    again = run("stratus_security_group", {"name": "ut-sg", "state": "absent"}, stratus_api)
    assert not again["changed"]


def test_bad_input_names_the_field(run, stratus_api: InProcessAPI) -> None:  # noqa: ANN001
    result = run(
        "stratus_security_group", {"name": "ut-bad", "description": "x" * 300}, stratus_api
    )
    assert result["failed"] and "description" in result["msg"]
    assert "Creating security group 'ut-bad' failed (HTTP 400)" in result["msg"]
    listed = stratus_api.client.get("/networking/v2.0/security-groups", params={"name": "ut-bad"})
    assert listed.json()["security_groups"] == []
