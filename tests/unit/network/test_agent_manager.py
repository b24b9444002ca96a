"""The network agent service's translation of the conductor's host state into the
data plane's desired state (pure data; the service itself runs in
tests/integration/test_server_networking.py)."""

from __future__ import annotations

from stratus.network.agent_manager import agent_state


def _port(port_id: str, mac: str, host: str, owner: str = "compute:nova") -> dict:
    return {
        "id": port_id,
        "mac_address": mac,
        "device_owner": owner,
        "device_id": "d",
        "binding_host_id": host,
        "admin_state_up": True,
        "status": "DOWN",
        "fixed_ips": [],
    }


def test_ports_carry_their_host_and_remote_vteps_their_macs() -> None:
    state = {
        "host": "c1",
        "vtep_address": "192.0.2.1",
        "networks": [
            {
                "id": "n1",
                "network_type": "vxlan",
                "segmentation_id": 7,
                "mtu": 1450,
                "subnets": [{"id": "s1", "enable_dhcp": True}],
                "ports": [
                    _port("p1", "fa:16:3e:00:00:01", "c1"),
                    _port("p2", "fa:16:3e:00:00:02", "c2"),
                    _port("p3", "fa:16:3e:00:00:03", "c2"),
                    _port("p4", "fa:16:3e:00:00:04", "c3"),
                    _port("dhcp", "fa:16:3e:00:00:05", "", "network:dhcp"),
                ],
                "vteps": {"c2": "192.0.2.2", "c3": None},
            }
        ],
    }
    desired = agent_state(state, dhcp=False)
    assert desired["host"] == "c1" and desired["vtep_ip"] == "192.0.2.1"
    (network,) = desired["networks"]
    assert [p["host"] for p in network["ports"]] == ["c1", "c2", "c2", "c3", None]
    # c3 has not reported a VTEP yet: no entry for it
    assert network["remote_vteps"] == [
        {"ip": "192.0.2.2", "macs": ["fa:16:3e:00:00:02", "fa:16:3e:00:00:03"]}
    ]
    assert network["dhcp"] is False
    assert agent_state(state, dhcp=True)["networks"][0]["dhcp"] is True


def test_dhcp_only_for_networks_with_a_dhcp_subnet() -> None:
    network = {
        "id": "n2",
        "network_type": "flat",
        "subnets": [{"id": "s", "enable_dhcp": False}],
        "ports": [],
        "vteps": {},
    }
    state = {"host": "h", "vtep_address": None, "networks": [network]}
    assert agent_state(state, dhcp=True)["networks"][0]["dhcp"] is False
