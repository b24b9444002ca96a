"""stratus_flavor: what changes in place, what is immutable, what the diff says.

The pure decisions are tested directly; the module runs use ``FakeAPI`` (a faked
HTTP layer, at this tier only) to see which requests would be sent.
"""

from __future__ import annotations

from typing import Any

from tests.unit.modules.conftest import FakeAPI, load

flavor = load("stratus_flavor")

API_FLAVOR = {
    "id": "42",
    "name": "m1.small",
    "vcpus": 1,
    "ram": 512,
    "disk": 1,
    "swap": "",
    "OS-FLV-EXT-DATA:ephemeral": 0,
    "OS-FLV-DISABLED:disabled": False,
    "os-flavor-access:is_public": True,
    "rxtx_factor": 1.0,
    "description": "small",
    "extra_specs": {"hw:cpu_policy": "shared", "old": "x"},
}


def params(**values: Any) -> dict[str, Any]:
    base = dict.fromkeys(flavor.FlavorModule.argument_spec)
    base.update(extra_specs_mode="replace", state="present", recreate=False)
    base.update(values)
    return base


def current() -> dict[str, Any]:
    from ansible.module_utils.stratus_module import normalize_flavor

    return normalize_flavor(API_FLAVOR)


def test_only_given_immutable_fields_are_compared() -> None:
    assert flavor.differences(current(), params(name="m1.small")) == {}
    assert flavor.differences(current(), params(name="m1.small", vcpus=1, ram=512, swap=0)) == {}
    found = flavor.differences(current(), params(name="m1.small", ram=1024, is_public=False))
    assert found == {
        "ram": {"before": 512, "after": 1024},
        "is_public": {"before": True, "after": False},
    }
    # found by id under another name: the name cannot change in place either
    assert flavor.differences(current(), params(id="42", name="m1.tiny")) == {
        "name": {"before": "m1.small", "after": "m1.tiny"}
    }


def test_extra_specs_replace_and_merge() -> None:
    wanted = {"hw:cpu_policy": "dedicated", "hw:numa_nodes": 1, "flag": True}
    replaced = flavor.predict(current(), params(name="m1.small", extra_specs=wanted), None)
    assert replaced["extra_specs"] == {
        "hw:cpu_policy": "dedicated",
        "hw:numa_nodes": "1",
        "flag": "true",
    }
    merged = flavor.predict(
        current(), params(name="m1.small", extra_specs=wanted, extra_specs_mode="merge"), None
    )
    assert merged["extra_specs"]["old"] == "x"
    assert flavor.spec_changes(current()["extra_specs"], replaced["extra_specs"]) == (
        {"hw:cpu_policy": "dedicated", "hw:numa_nodes": "1", "flag": "true"},
        ["old"],
    )


def test_a_new_flavor_is_predicted_with_defaults() -> None:
    after = flavor.predict(None, params(name="n", vcpus=2, ram=256, projects=["p"]), ["p-id"])
    assert after["disk"] == after["ephemeral"] == after["swap"] == 0
    assert after["is_public"] is True and after["projects"] == []  # public: no access list
    private = flavor.predict(None, params(name="n", vcpus=2, ram=256, is_public=False), ["p"])
    assert private["projects"] == ["p"] and private["id"] is None


def _api(**routes: Any) -> FakeAPI:
    table = {
        ("GET", "/flavors/detail"): {"flavors": [API_FLAVOR]},
        ("GET", "/flavors/42"): {"flavor": API_FLAVOR},
    }
    table.update({tuple(k.split(" ", 1)): v for k, v in routes.items()})
    return FakeAPI(table)


def test_check_mode_predicts_the_update_and_sends_nothing(run) -> None:  # noqa: ANN001
    api = _api()
    result = run(
        "stratus_flavor",
        {"name": "m1.small", "description": "new", "extra_specs": {"a": "b"}},
        api,
        check_mode=True,
    )
    assert result["changed"] is True
    assert api.writes() == []
    assert result["flavor"]["description"] == "new"
    assert result["flavor"]["extra_specs"] == {"a": "b"}
    assert result["diff"]["before"]["extra_specs"] == {"hw:cpu_policy": "shared", "old": "x"}
    assert result["diff"]["after"]["extra_specs"] == {"a": "b"}


def test_in_place_update_sends_description_and_specs(run) -> None:  # noqa: ANN001
    api = _api()
    run(
        "stratus_flavor",
        {"name": "m1.small", "description": "new", "extra_specs": {"hw:cpu_policy": "shared"}},
        api,
    )
    assert api.writes() == [
        ("PUT", "/flavors/42", {"flavor": {"description": "new"}}),
        ("DELETE", "/flavors/42/os-extra_specs/old", None),
    ]


def test_immutable_difference_fails_listing_the_fields(run) -> None:  # noqa: ANN001
    api = _api()
    result = run("stratus_flavor", {"name": "m1.small", "ram": 1024, "vcpus": 2}, api)
    assert result["failed"] and api.writes() == []
    assert "cannot be changed in place: ram (512 -> 1024), vcpus (1 -> 2)" in result["msg"]
    assert "recreate: true" in result["msg"]
    assert result["differences"]["ram"] == {"before": 512, "after": 1024}


def test_recreate_keeps_the_id(run) -> None:  # noqa: ANN001
    created = dict(API_FLAVOR, ram=1024, extra_specs={})
    api = _api(**{"POST /flavors": {"flavor": created}})
    result = run("stratus_flavor", {"name": "m1.small", "ram": 1024, "recreate": True}, api)
    assert result["recreated"] is True and result["changed"] is True
    delete, create = api.writes()[:2]
    assert delete == ("DELETE", "/flavors/42", None)
    assert create[0:2] == ("POST", "/flavors")
    assert create[2]["flavor"]["id"] == "42" and create[2]["flavor"]["ram"] == 1024
    # the other settings are carried over to the new flavor
    assert create[2]["flavor"]["description"] == "small"
    assert ("POST", "/flavors/42/os-extra_specs", {"extra_specs": API_FLAVOR["extra_specs"]}) in (
        api.writes()
    )


def test_creating_needs_ram_and_vcpus(run) -> None:  # noqa: ANN001
    api = FakeAPI({("GET", "/flavors/detail"): {"flavors": []}})
    result = run("stratus_flavor", {"name": "new", "vcpus": 1}, api)
    assert result["failed"]
    assert result["msg"] == "Flavor 'new' does not exist; creating it needs: ram."


def test_absent_twice(run) -> None:  # noqa: ANN001
    api = _api(**{"DELETE /flavors/42": None})
    assert run("stratus_flavor", {"name": "m1.small", "state": "absent"}, api)["changed"]
    gone = FakeAPI({("GET", "/flavors/detail"): {"flavors": []}})
    result = run("stratus_flavor", {"name": "m1.small", "state": "absent"}, gone)
    assert result["changed"] is False and result["flavor"] is None
