"""stratus_security_group_rule against the real Networking API in process
(``stratus_api``): a rule is found by what it lets through (another spelling of
it is the same rule), added once, check mode, diff, the API's 4xx naming the
field, removed."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.modules.conftest import InProcessAPI

GROUP, REMOTE = "ut-rule-sg", "ut-rule-remote"


@pytest.fixture(scope="module")
def groups(stratus_api: InProcessAPI) -> dict[str, dict[str, Any]]:
    made = {}
    for name in (GROUP, REMOTE):
        made[name] = stratus_api.client.post(
            "/networking/v2.0/security-groups", json={"security_group": {"name": name}}
        ).json()["security_group"]
    return made


def rules(api: InProcessAPI, group_id: str) -> list[dict[str, Any]]:
    listed = api.client.get(
        "/networking/v2.0/security-group-rules", params={"security_group_id": group_id}
    )
    return [r for r in listed.json()["security_group_rules"] if r["direction"] == "ingress"]


def test_rule_lifecycle(run, stratus_api: InProcessAPI, groups: dict) -> None:  # noqa: ANN001
    group_id = groups[GROUP]["id"]
    ssh = {
        "security_group": GROUP,
        "protocol": "tcp",
        "port_range_min": 22,
        "port_range_max": 22,
        "remote_ip_prefix": "192.0.2.0/24",
        "description": "ssh",
    }
    planned = run("stratus_security_group_rule", ssh, stratus_api, check_mode=True)
    assert planned["changed"] and planned["security_group_rule"]["id"] is None
    assert planned["diff"]["before"] == {}
    assert planned["diff"]["after"]["port_range_min"] == 22
    assert planned["diff"]["after"]["security_group_id"] == group_id
    assert stratus_api.writes() == [] and rules(stratus_api, group_id) == []

    created = run("stratus_security_group_rule", ssh, stratus_api)
    rule = created["security_group_rule"]
    assert created["changed"] and rule["protocol"] == "tcp" and rule["description"] == "ssh"
    assert [r["id"] for r in rules(stratus_api, group_id)] == [rule["id"]]

    # The same rule spelt otherwise: protocol by number, the prefix with host bits.
    writes = len(stratus_api.writes())
    same = dict(ssh, protocol="6", remote_ip_prefix="192.0.2.7/24", description="other")
    again = run("stratus_security_group_rule", same, stratus_api)
    assert not again["changed"] and again["security_group_rule"]["id"] == rule["id"]
    assert again["diff"]["before"] == again["diff"]["after"]
    assert len(stratus_api.writes()) == writes

    # Another port is another rule, next to the first; any protocol from a group too.
    https = dict(ssh, port_range_min=443, port_range_max=443)
    assert run("stratus_security_group_rule", https, stratus_api)["changed"]
    members = {"security_group": GROUP, "remote_group": REMOTE, "protocol": "any"}
    added = run("stratus_security_group_rule", members, stratus_api)
    assert added["security_group_rule"]["remote_group_id"] == groups[REMOTE]["id"]
    members_again = {"security_group": group_id, "remote_group": REMOTE}
    assert not run("stratus_security_group_rule", members_again, stratus_api)["changed"]
    assert len(rules(stratus_api, group_id)) == 3

    checked = run("stratus_security_group_rule", dict(ssh, state="absent"), stratus_api, True)
    assert checked["changed"] and checked["diff"]["after"] == {}
    assert len(rules(stratus_api, group_id)) == 3
    gone = run("stratus_security_group_rule", dict(ssh, state="absent"), stratus_api)
    assert gone["changed"] and gone["security_group_rule"] is None
    assert rule["id"] not in [r["id"] for r in rules(stratus_api, group_id)]
    assert not run("stratus_security_group_rule", dict(ssh, state="absent"), stratus_api)["changed"]


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"protocol": "icmp", "port_range_min": 300}, "port_range_min"),
        ({"protocol": "bogus"}, "protocol"),
        ({"protocol": "tcp", "port_range_min": 90, "port_range_max": 80}, "port_range_min"),
        ({"remote_ip_prefix": "2001:db8::/64"}, "remote_ip_prefix"),
    ],
)
def test_bad_input_names_the_field(
    run, stratus_api: InProcessAPI, groups: dict, args, field
) -> None:  # noqa: ANN001
    before = rules(stratus_api, groups[REMOTE]["id"])
    result = run("stratus_security_group_rule", dict(args, security_group=REMOTE), stratus_api)
    assert result["failed"] and field in result["msg"]
    assert "Creating security group rule 'ingress IPv4" in result["msg"]
    assert "failed (HTTP 400)" in result["msg"]
    assert rules(stratus_api, groups[REMOTE]["id"]) == before


def test_unknown_group(run, stratus_api: InProcessAPI, groups: dict) -> None:  # noqa: ANN001
    result = run("stratus_security_group_rule", {"security_group": "ut-nope"}, stratus_api)
    assert result["msg"].startswith("Unknown security group 'ut-nope' (security_group)")
    absent = {"security_group": "ut-nope", "state": "absent"}
    assert not run("stratus_security_group_rule", absent, stratus_api)["changed"]
    planned = run("stratus_security_group_rule", {"security_group": "ut-nope"}, stratus_api, True)
    assert planned["changed"] and planned["security_group_rule"]["id"] is None
