"""The network agent's metadata proxy on real kernel objects, without guests: a
DHCP namespace with dnsmasq and the proxy (started through a real forked privsep
daemon), a client namespace on the network's bridge that leases its address with
busybox udhcpc, and a recording HTTP server on the loopback standing in for
stratus-metadata (tests/integration/test_metadata_proxy.py runs the real one).

The agent's "host" is a namespace with a veth as its physical interface, so the
bridge is not in the machine's root namespace; the proxy forwards from the
privsep daemon's namespace, where the recording server listens.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from stratus.network.agent import AgentConfig, NetworkAgent
from stratus.network.linux import metadata_proxy, names, privileged
from tests.integration.test_network_dataplane import (  # noqa: F401 - a fixture
    cleanup,
    client_namespace,
    dhcp_lease,
    in_ns,
    mac,
    network,
    ns_addresses,
    privsep_daemon,
    sh,
    state_dir,
)
from tests.unit.network.test_metadata_proxy import upstream  # noqa: F401 - a fixture

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (netlink, namespaces)")

SECRET = "agent-test-secret"
VM_A = str(uuid.uuid4())
VM_B = str(uuid.uuid4())

GET = (
    "import json, sys, urllib.request, urllib.error\n"
    "r = urllib.request.Request(sys.argv[1], headers=json.loads(sys.argv[2]))\n"
    "try:\n"
    "    a = urllib.request.urlopen(r, timeout=5); print(a.status, a.read().decode())\n"
    "except urllib.error.HTTPError as e:\n"
    "    print(e.code, e.read().decode())\n"
)


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def get(ns: str, headers: dict[str, str]) -> tuple[int, str]:
    done = in_ns(ns, sys.executable, "-c", GET,
                 f"http://{metadata_proxy.METADATA_ADDRESS}/openstack/latest/meta_data.json",
                 json.dumps(headers))  # fmt: skip
    status, _, body = done.stdout.strip().partition(" ")
    return int(status), body


def test_agent_runs_a_proxy_that_knows_guests_by_address_only(upstream) -> None:  # noqa: F811
    up_url, recorder = upstream
    sfx = uuid.uuid4().hex[:6]
    host, host_ns, client = f"mdproxy-{sfx}", f"mdproxy-{sfx}-host", f"mdproxy-{sfx}-cli"
    net_id = str(uuid.uuid4())
    vm_mac = mac()
    privileged.ensure_namespace(host_ns)
    sh("ip", "-n", host_ns, "link", "add", "phys0", "type", "veth", "peer", "name", "phys0-w")
    config = AgentConfig(
        state_path=str(state_dir()),
        physical_interface_mappings={"physnet-md": "phys0"},
        metadata_url=up_url,
        metadata_secret=SECRET,
    )
    agent = NetworkAgent(host, config, netns=host_ns)
    files = Path(config.state_path, "dhcp", net_id)
    pid_file = str(files / metadata_proxy.PID_NAME)

    def state(device_id: str = VM_A, proxy: bool = True) -> dict[str, Any]:
        net = network(net_id, "flat", physnet="physnet-md", cidr="10.202.0.0/24", host=host,
                      ports=[("fa:16:3e:00:00:02", "10.202.0.2", "network:dhcp"),
                             (vm_mac, "10.202.0.10", "compute:nova"),
                             (mac(), "10.202.0.11", "")])  # fmt: skip
        for port in net["ports"]:
            port["device_id"] = device_id if port["device_owner"] == "compute:nova" else ""
            port["project_id"] = "proj-a"
        agent.config.metadata_url = up_url if proxy else None
        return {"host": host, "vtep_ip": None, "networks": [net]}

    try:
        result = agent.reconcile(state())
        assert not result.errors, result.errors
        assert f"metadata-proxy:{net_id}" in result.created
        namespace = names.dhcp_namespace(net_id)
        ns_dev = next(
            link["name"]
            for link in privileged.list_links(namespace)
            if link["name"].startswith(names.NS_DEVICE_PREFIX)
        )
        assert ns_addresses(namespace, ns_dev) == {"10.202.0.2/24", "169.254.169.254/32"}
        assert (files / metadata_proxy.CONFIG_NAME).stat().st_mode & 0o777 == 0o600
        first_pid = privileged.metadata_proxy_running(pid_file)
        assert first_pid

        # The guest's port's MAC leases its address and the route to the proxy.
        client_namespace(client, f"mdc{sfx}", names.bridge_name(net_id), vm_mac, None, host_ns)
        lease = dhcp_lease(client)
        assert lease is not None and lease["ip"] == "10.202.0.10"
        assert lease["staticroutes"].split() == [
            "169.254.169.254/32", "10.202.0.2", "0.0.0.0/0", "10.202.0.1",
        ]  # fmt: skip
        sh("ip", "-n", client, "addr", "add", "10.202.0.10/24", "dev", "eth0")
        sh("ip", "-n", client, "route", "add", "169.254.169.254/32", "via", "10.202.0.2")

        # A guest claiming an identity is refused; its X-Forwarded-For is replaced.
        count = len(recorder.seen)
        status, body = get(client, {"X-Instance-ID": VM_B, "X-Tenant-ID": "proj-b"})
        assert status == 403 and VM_B not in body and len(recorder.seen) == count
        status, body = get(client, {"X-Forwarded-For": "10.9.9.9"})
        assert (status, json.loads(body)) == (200, {"uuid": VM_A})
        seen = recorder.seen[-1]["headers"]
        assert seen["x-instance-id"] == VM_A and seen["x-tenant-id"] == "proj-a"
        assert seen["x-instance-id-signature"] == metadata_proxy.sign(VM_A, SECRET)
        assert seen["x-forwarded-for"] == "10.202.0.10"

        # The port now belongs to another instance: the same process answers for it.
        agent.reconcile(state(device_id=VM_B))
        assert json.loads(get(client, {})[1]) == {"uuid": VM_B}
        assert privileged.metadata_proxy_running(pid_file) == first_pid

        # An address that no instance port owns: 404, nothing forwarded.
        sh("ip", "-n", client, "addr", "del", "10.202.0.10/24", "dev", "eth0")
        sh("ip", "-n", client, "addr", "add", "10.202.0.11/24", "dev", "eth0")
        sh("ip", "-n", client, "route", "replace", "169.254.169.254/32", "via", "10.202.0.2")
        forwarded = len(recorder.seen)
        assert get(client, {"X-Instance-ID": VM_B})[0] == 404
        assert len(recorder.seen) == forwarded

        # A proxy that died is started again by the next reconcile.
        privileged.stop_metadata_proxy(pid_file)
        sh("sh", "-c", f"while kill -0 {first_pid} 2>/dev/null; do sleep 0.05; done")
        assert f"metadata-proxy:{net_id}" in agent.reconcile(state()).created
        assert privileged.metadata_proxy_running(pid_file) not in (None, first_pid)

        # No proxy configured: process, address, file and DHCP route go.
        result = agent.reconcile(state(proxy=False))
        assert f"metadata-proxy:{net_id}" in result.removed
        assert privileged.metadata_proxy_running(pid_file) is None
        assert ns_addresses(namespace, ns_dev) == {"10.202.0.2/24"}
        assert not (files / metadata_proxy.CONFIG_NAME).exists()
        assert "169.254.169.254" not in (files / "opts").read_text()

        # The network leaves: the proxy goes with the namespace.
        agent.reconcile(state())
        pid = privileged.metadata_proxy_running(pid_file)
        agent.reconcile({"host": host, "vtep_ip": None, "networks": []})
        assert pid and metadata_proxy.MODULE.encode() not in _cmdline(pid)
        assert namespace not in privileged.list_namespaces()
    finally:
        pid = privileged.metadata_proxy_running(pid_file)
        if pid:
            privileged.stop_metadata_proxy(pid_file)
        cleanup(agent, [client, host_ns], [])
