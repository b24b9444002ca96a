"""stratus_server: power-state paths, immutable fields, in-place updates, build faults.

The pure decisions are tested directly; the module runs use ``FakeAPI`` (a faked
HTTP layer, at this tier only).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.modules.conftest import FakeAPI, load

from ansible.module_utils.stratus_errors import StratusError  # isort: skip
from ansible.module_utils.stratus_module import normalize_server  # isort: skip

server = load("stratus_server")

SERVER_ID = "8d5c1f3e-2b4a-4c6d-9e8f-0a1b2c3d4e5f"
IMAGE_ID = "6f8e3c7a-9b1d-4e2f-8a3b-1c2d3e4f5a6b"
SMALL = {"id": "1", "name": "small", "vcpus": 1, "ram": 512, "disk": 1, "swap": 0}
BIG = {"id": "2", "name": "big", "vcpus": 2, "ram": 2048, "disk": 10, "swap": 0}


def api_server(**values: Any) -> dict[str, Any]:
    body = {
        "id": SERVER_ID,
        "name": "web",
        "status": "ACTIVE",
        "OS-EXT-STS:task_state": None,
        "OS-EXT-SRV-ATTR:host": "compute1",
        "OS-EXT-AZ:availability_zone": "nova",
        "flavor": {"original_name": "small", "vcpus": 1, "ram": 512, "disk": 1, "swap": 0},
        "image": {"id": IMAGE_ID},
        "metadata": {"role": "web"},
        "description": None,
        "key_name": None,
    }
    body.update(values)
    return body


@pytest.mark.parametrize(
    ("status", "target", "actions"),
    [
        ("ACTIVE", None, []),
        ("ACTIVE", "ACTIVE", []),
        ("ACTIVE", "SHUTOFF", ["stop"]),
        ("SHUTOFF", "ACTIVE", ["start"]),
        ("SHUTOFF", "PAUSED", ["start", "pause"]),
        ("PAUSED", "SHUTOFF", ["unpause", "stop"]),
        ("SUSPENDED", "PAUSED", ["resume", "pause"]),
        ("PAUSED", "SUSPENDED", ["unpause", "suspend"]),
    ],
)
def test_power_paths(status: str, target: str | None, actions: list[str]) -> None:
    assert server.power_actions(status, target) == actions


def test_no_path_out_of_error() -> None:
    with pytest.raises(StratusError, match="ERROR cannot be brought to SHUTOFF"):
        server.power_actions("ERROR", "SHUTOFF")


def test_immutable_fields() -> None:
    current = normalize_server(api_server())
    assert server.differences(current, {"host": "compute1"}, SMALL) == {}
    found = server.differences(
        current, {"host": "compute2", "availability_zone": "az2"}, BIG, False, "other"
    )
    assert found == {
        "flavor": {"before": "small", "after": "big"},
        "image": {"before": IMAGE_ID, "after": "other"},
        "host": {"before": "compute1", "after": "compute2"},
        "availability_zone": {"before": "nova", "after": "az2"},
    }
    resized_flavor = dict(SMALL, ram=1024)  # same name, other size
    assert server.differences(current, {}, resized_flavor)["flavor"] == {
        "before": "small (vcpus 1, ram 512, disk 1)",
        "after": "small (vcpus 1, ram 1024, disk 1)",
    }
    no_zone = normalize_server(api_server(**{"OS-EXT-AZ:availability_zone": ""}))
    assert server.differences(no_zone, {"availability_zone": "nova"}) == {}


def test_updates_are_metadata_and_description() -> None:
    current = normalize_server(api_server())
    assert server.updates(current, {"metadata": {"role": "web"}}) == {}
    assert server.updates(current, {"metadata": {"n": 1}, "description": "d"}) == {
        "metadata": {"n": "1"},
        "description": "d",
    }


def _api(*servers: dict[str, Any], **routes: Any) -> FakeAPI:
    table: dict[tuple[str, str], Any] = {
        ("GET", "/servers/detail"): {"servers": list(servers)},
        ("GET", "/flavors/small"): {"flavor": SMALL},
        ("GET", "/flavors/big"): {"flavor": BIG},
        ("GET", "/flavors/detail"): {"flavors": [SMALL, BIG]},
        ("GET", "/images"): {"images": [{"id": IMAGE_ID, "name": "tiny"}]},
        ("GET", f"/images/{IMAGE_ID}"): {"id": IMAGE_ID, "name": "tiny"},
    }
    for body in servers:
        table[("GET", f"/servers/{body['id']}")] = {"server": body}
    table.update({tuple(k.split(" ", 1)): v for k, v in routes.items()})
    return FakeAPI(table)


def test_other_flavor_fails_with_diff_and_advice(run) -> None:  # noqa: ANN001
    api = _api(api_server())
    result = run("stratus_server", {"name": "web", "flavor": "big", "image": "tiny"}, api)
    assert result["failed"] and api.writes() == []
    assert "flavor ('small' -> 'big')" in result["msg"]
    assert "Resize and rebuild are not available yet" in result["msg"]
    assert result["diff"]["before"]["flavor"] == "small"
    assert result["diff"]["after"]["flavor"] == "big"
    ignored = run(
        "stratus_server",
        {"name": "web", "flavor": "big", "ignore_immutable": True, "metadata": {}},
        api,
        check_mode=True,
    )
    assert ignored["changed"] and ignored["differences"]["flavor"]["after"] == "big"
    assert ignored["server"]["metadata"] == {} and api.writes() == []


def test_check_mode_stop_predicts_shutoff(run) -> None:  # noqa: ANN001
    api = _api(api_server())
    result = run("stratus_server", {"name": "web", "state": "stopped"}, api, check_mode=True)
    assert result["changed"] and api.writes() == []
    assert result["server"]["status"] == "SHUTOFF" and result["server"]["host"] == "compute1"
    assert result["diff"] == {
        "before": dict(result["diff"]["before"], status="ACTIVE"),
        "after": dict(result["diff"]["before"], status="SHUTOFF"),
    }


def test_rebooted_always_changes(run) -> None:  # noqa: ANN001
    api = _api(api_server())
    result = run("stratus_server", {"name": "web", "state": "rebooted", "wait": False}, api)
    assert result["changed"]
    assert api.writes() == [
        ("POST", f"/servers/{SERVER_ID}/action", {"reboot": {"type": "SOFT"}}),
    ]


def test_a_failed_build_is_reported_and_kept_unless_asked(run) -> None:  # noqa: ANN001
    failed = api_server(status="ERROR", fault={"code": 500, "message": "No valid host was found."})
    api = _api(failed)
    result = run("stratus_server", {"name": "web"}, api)
    assert result["failed"] and api.writes() == []
    assert "is in ERROR: No valid host was found." in result["msg"]
    assert "left in ERROR for inspection" in result["msg"]
    assert result["server"]["fault"]["message"] == "No valid host was found."
    result = run("stratus_server", {"name": "web", "delete_on_failure": True, "wait": False}, api)
    assert result["failed"] and "it was deleted (delete_on_failure: true)" in result["msg"]
    assert api.writes() == [("DELETE", f"/servers/{SERVER_ID}", None)]


def test_create_sends_host_as_zone_and_group_hint(run) -> None:  # noqa: ANN001
    group = {"id": "g-1", "name": "spread", "policy": "anti-affinity"}
    api = _api(
        **{
            "POST /servers": {"server": {"id": SERVER_ID}},
            "GET /os-server-groups": {"server_groups": [group]},
        }
    )
    api.routes[("GET", f"/servers/{SERVER_ID}")] = {"server": api_server(status="BUILD")}
    result = run(
        "stratus_server",
        {
            "name": "web",
            "flavor": "small",
            "image": "tiny",
            "host": "compute2",
            "server_group": "spread",
            "metadata": {"n": 1},
            "wait": False,
        },
        api,
    )
    assert result["changed"]
    (method, path, body), *_ = api.writes()
    assert (method, path) == ("POST", "/servers")
    assert body["server"]["availability_zone"] == ":compute2"
    assert body["server"]["networks"] == "none" and body["server"]["metadata"] == {"n": "1"}
    assert body["os:scheduler_hints"] == {"group": "g-1"}


def test_unknown_flavor_or_missing_image_fail_before_anything(run) -> None:  # noqa: ANN001
    api = _api()
    result = run("stratus_server", {"name": "web", "flavor": "nope", "image": "tiny"}, api)
    assert result["msg"] == "Unknown flavor 'nope': no flavor has this name or id."
    result = run("stratus_server", {"name": "web", "flavor": "small"}, api)
    assert result["msg"] == "Server 'web' does not exist; creating it needs: image."
    assert api.writes() == []


NET_ID = "3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
PORT_ID = "7e6d5c4b-3a29-4817-a6b5-c4d3e2f1a0b9"
ADDRESSES = {
    "net1": [
        {
            "addr": "10.0.0.12",
            "version": 4,
            "OS-EXT-IPS:type": "fixed",
            "OS-EXT-IPS-MAC:mac_addr": "fa:16:3e:12:34:56",
        }
    ]
}


def test_networks_are_resolved_to_ids_and_addresses_returned(run) -> None:  # noqa: ANN001
    def by_name(body: Any, query: Any) -> dict[str, Any]:
        networks = [{"id": NET_ID, "name": "net1"}]
        return {"networks": [n for n in networks if n["name"] == query.get("name")]}

    api = _api(
        **{
            "POST /servers": {"server": {"id": SERVER_ID}},
            "GET /networks": by_name,
            "GET /ports": {"ports": [{"id": PORT_ID, "name": "db-port"}]},
        }
    )
    api.routes[("GET", f"/servers/{SERVER_ID}")] = {"server": api_server(addresses=ADDRESSES)}
    networks = [
        {"network": "net1"},
        {"network": NET_ID, "fixed_ip": "10.0.0.20"},
        {"port": "db-port"},
    ]
    args = {"name": "web", "flavor": "small", "image": "tiny", "networks": networks}
    api.routes[("GET", f"/networks/{NET_ID}")] = {"network": {"id": NET_ID, "name": "net1"}}
    planned = run("stratus_server", args, api, check_mode=True)
    assert planned["changed"] and planned["server"]["addresses"] == {} and api.writes() == []
    result = run("stratus_server", args, api)
    assert result["changed"] and result["server"]["addresses"] == ADDRESSES
    (method, path, body), *_ = api.writes()
    assert (method, path) == ("POST", "/servers")
    assert body["server"]["networks"] == [
        {"uuid": NET_ID},
        {"uuid": NET_ID, "fixed_ip": "10.0.0.20"},
        {"port": PORT_ID},
    ]


@pytest.mark.parametrize(
    ("networks", "message"),
    [
        ("some", "networks must be 'none', 'auto' or a list of entries, not 'some'."),
        ([{"network": "a", "port": "b"}], "networks[0] needs exactly one of network and port"),
        ([{"subnet": "a"}], "networks[0] has unknown keys subnet"),
        ([{"port": "p", "fixed_ip": "10.0.0.2"}], "networks[0]: fixed_ip goes with network"),
        ([{"network": "nope"}], "networks[0]: unknown network 'nope'"),
    ],
)
def test_bad_networks_name_the_field(run, networks: Any, message: str) -> None:  # noqa: ANN001
    api = _api(**{"GET /networks": {"networks": []}})
    result = run(
        "stratus_server",
        {"name": "web", "flavor": "small", "image": "tiny", "networks": networks},
        api,
    )
    assert result["failed"] and result["msg"].startswith(message)
    assert api.writes() == []


def test_server_info_returns_addresses(run) -> None:  # noqa: ANN001
    api = _api(api_server(addresses=ADDRESSES), api_server(id="other", name="bare"))
    servers = run("stratus_server_info", {}, api)["servers"]
    assert [s["addresses"] for s in servers] == [ADDRESSES, {}]
