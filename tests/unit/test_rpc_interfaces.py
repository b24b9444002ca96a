"""The RPC interfaces: one named client method per remote call, matched by the
service's manager, and a version check that makes a mixed-version cloud fail clearly.

The last test runs a real RabbitMQ broker (the session's ``rabbitmq`` fixture) and a
real ComputeManager over the fake virt driver behind a real oslo.messaging server.
"""

from __future__ import annotations

import inspect
import uuid

import oslo_messaging as messaging
import pytest

from stratus import rpc
from stratus.compute.manager import ComputeManager
from stratus.compute.virt.fake import FakeDriver
from stratus.conductor.manager import ConductorManager
from stratus.conf import CONF
from stratus.network.agent_manager import NetworkAgentManager
from stratus.rpc.compute_rpcapi import ComputeAPI
from stratus.rpc.conductor_rpcapi import ConductorAPI
from stratus.rpc.network_agent_rpcapi import NetworkAgentAPI
from stratus.rpc.scheduler_rpcapi import SchedulerAPI
from stratus.scheduler.manager import SchedulerManager

PAIRS = [
    (ComputeAPI, ComputeManager),
    (ConductorAPI, ConductorManager),
    (SchedulerAPI, SchedulerManager),
    (NetworkAgentAPI, NetworkAgentManager),
]


def _remote_methods(api: type) -> list[str]:
    return [
        name
        for name, member in vars(api).items()
        if inspect.isfunction(member) and not name.startswith("_")
    ]


@pytest.mark.parametrize(("api", "manager"), PAIRS, ids=lambda c: c.__name__)
def test_manager_serves_the_version_and_every_call_of_its_client(api: type, manager: type) -> None:
    assert manager.target.version == api.VERSION, (
        f"{manager.__name__} serves {manager.target.version}, {api.__name__} speaks {api.VERSION}"
    )
    assert api.__doc__ and f"* {api.VERSION} -" in api.__doc__, "the history names VERSION"
    methods = _remote_methods(api)
    assert methods
    for name in methods:
        served = getattr(manager, name, None)
        assert served is not None, f"{manager.__name__} has no {name}"
        client_params = list(inspect.signature(getattr(api, name)).parameters)
        server_params = list(inspect.signature(served).parameters)
        # A compute client routes by ``host`` and sends every other argument.
        routing = ("host",) if api is ComputeAPI else ()
        client_params = [p for p in client_params if p != "self" and p not in routing]
        server_params = [p for p in server_params if p != "self"]
        assert client_params == server_params, f"{api.__name__}.{name}"


def test_each_call_names_its_remote_method() -> None:
    """A client method sends the call of its own name (no copy-paste slips)."""
    import ast

    for api, _manager in PAIRS:
        for name in _remote_methods(api):
            tree = ast.parse(inspect.cleandoc("\n" + inspect.getsource(getattr(api, name))))
            sent = [
                node.args[1].value
                for node in ast.walk(tree)
                if isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("_call", "_cast")
            ]
            assert sent == [name], f"{api.__name__}.{name} sends {sent}"


@pytest.fixture
def bus(rabbitmq, monkeypatch):
    """Stratus' clients and servers on the test broker."""
    transport = messaging.get_rpc_transport(CONF, url=rabbitmq.transport_url)
    monkeypatch.setattr(rpc, "transport", lambda: transport)
    yield
    transport.cleanup()


def _serve(manager: object, host: str) -> messaging.RPCServer:
    server = rpc.server("compute", [manager], host=host)
    server.start()
    return server


def test_versions_match_over_a_real_broker(bus, tmp_path) -> None:
    CONF.set_override("instances_path", str(tmp_path), group="compute")
    host = f"rpc-test-{uuid.uuid4().hex[:8]}"
    driver = FakeDriver(host)
    instance = {"uuid": str(uuid.uuid4()), "vcpus": 1, "memory_mb": 64, "root_gb": 1}
    driver.spawn(instance, {}, {})
    manager = ComputeManager(driver, host=host)
    server = _serve(manager, host)
    try:
        output = ComputeAPI(timeout=20).get_console_output({}, host, instance["uuid"], 5)
        assert isinstance(output, str)
    finally:
        server.stop()
        server.wait()
        CONF.clear_override("instances_path", group="compute")


def test_an_older_service_refuses_a_newer_call_clearly(bus, tmp_path) -> None:
    """A compute service that serves an older interface answers UnsupportedVersion;
    the caller does not get a wrong answer or a timeout."""
    CONF.set_override("instances_path", str(tmp_path), group="compute")
    host = f"rpc-old-{uuid.uuid4().hex[:8]}"
    manager = ComputeManager(FakeDriver(host), host=host)
    manager.target = messaging.Target(version="0.9")
    server = _serve(manager, host)
    try:
        with pytest.raises(messaging.RemoteError) as caught:
            ComputeAPI(timeout=20).get_console_output({}, host, str(uuid.uuid4()), 5)
        assert caught.value.exc_type == "UnsupportedVersion"
    finally:
        server.stop()
        server.wait()
        CONF.clear_override("instances_path", group="compute")
