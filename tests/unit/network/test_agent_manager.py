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


class _Conductor:
    """Answers network_host_state with the next of ``states``, noting whether the
    host's data-plane lock was held at the time (a test double of the conductor's
    RPC client: the protocol under test is the agent service's own)."""

    def __init__(self, states: list[dict], config) -> None:
        self.states = list(states)
        self.config = config
        self.locked: list[bool] = []

    def network_host_state(self, ctxt: dict, host: str, dhcp: bool) -> dict:
        self.locked.append(_lock_held(self.config))
        return self.states.pop(0)


class _Agent:
    """Records the reconciles; reports ``stale`` for unpruned rounds (a test double
    of the data plane, which tests/integration/test_network_dataplane.py runs for real)."""

    def __init__(self, stale: list[str]) -> None:
        self.stale = stale
        self.calls: list[tuple[str, bool]] = []

    def reconcile(self, state: dict, prune: bool = True):
        from stratus.network.agent import ReconcileResult

        self.calls.append((state["networks"][0]["id"] if state["networks"] else "", prune))
        return ReconcileResult(stale=[] if prune else list(self.stale))


def _lock_held(config) -> bool:
    import fcntl
    import os

    path = os.path.join(config.state_path, "data-plane.lock")
    if not os.path.exists(path):
        return False
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def _manager(tmp_path, states: list[dict], stale: list[str]):
    from stratus.network.agent import AgentConfig
    from stratus.network.agent_manager import NetworkAgentManager

    config = AgentConfig(state_path=str(tmp_path))
    conductor = _Conductor(states, config)
    manager = NetworkAgentManager("h1", config, dhcp=False, conductor=conductor)
    manager.agent = _Agent(stale)
    return manager, conductor


def _state(network_id: str) -> dict:
    network = {"id": network_id, "subnets": [], "ports": [], "vteps": {}}
    return {"host": "h1", "vtep_address": None, "networks": [network]}


def test_a_round_with_nothing_stale_never_takes_the_lock(tmp_path) -> None:
    """Creating needs no lock: the compute plugging a guest never waits for it."""
    manager, conductor = _manager(tmp_path, [_state("n1")], stale=[])
    manager.sync()
    assert manager.agent.calls == [("n1", False)]
    assert conductor.locked == [False]


def test_removal_refetches_under_the_lock(tmp_path) -> None:
    """What the unlocked round found stale is removed only after a fetch made under
    the data-plane lock (so a port bound meanwhile keeps its bridge)."""
    manager, conductor = _manager(tmp_path, [_state("old"), _state("new")], stale=["brqx"])
    manager.sync()
    assert manager.agent.calls == [("old", False), ("new", True)]
    assert conductor.locked == [False, True]
