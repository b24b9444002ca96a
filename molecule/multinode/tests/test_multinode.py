"""A controller and two compute nodes: services, the compute nodes' config,
placement (anti-affinity, same_host, the playbook's plan), the vxlan tenant
network across the three machines, and a compute node going down."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest
from conftest import (
    CONFIG_FILE,
    CONTROLLER_CLOUDS_YAML,
    GUEST_READY,
    INSTANCES_PATH,
    allow_ping,
    assert_secret_confined,
    compute_services,
    credential,
    declared_servers,
    group,
    machine,
    openstack,
    read_config,
    wait_for,
)

CONTROLLER = "controller"
COMPUTES = ["compute1", "compute2"]

CONTROL_UNITS = [
    "rabbitmq-server",
    "mariadb",
    "stratus-api",
    "stratus-scheduler",
    "stratus-conductor",
    "stratus-metadata",
]
COMPUTE_UNITS = ["virtlogd", "libvirtd", "stratus-compute", "stratus-network-agent"]
# The tenant network of every declared server (inventory/group_vars).
NETWORK = "private"


def host_of(server: dict) -> str:
    return server["OS-EXT-SRV-ATTR:host"]


def test_inventory_matches_the_scenario():
    assert group("control") == [CONTROLLER]
    assert group("compute") == COMPUTES


@pytest.mark.parametrize("unit", CONTROL_UNITS)
def test_control_unit_is_active(unit):
    service = machine(CONTROLLER).service(unit)
    assert service.is_running and service.is_enabled


@pytest.mark.parametrize("name", COMPUTES)
@pytest.mark.parametrize("unit", COMPUTE_UNITS)
def test_compute_unit_is_active(name, unit):
    service = machine(name).service(unit)
    assert service.is_running and service.is_enabled


def test_controller_serves_dhcp():
    """The controller is the network host: its agent runs with DHCP on, the compute
    nodes' agents without."""
    controller = machine(CONTROLLER)
    service = controller.service("stratus-network-agent")
    assert service.is_running and service.is_enabled
    assert read_config(controller)["network"]["dhcp_agent"] == "true"
    for name in COMPUTES:
        assert read_config(machine(name))["network"]["dhcp_agent"] == "false"


@pytest.mark.parametrize("name", COMPUTES)
def test_compute_node_runs_no_control_service(name):
    for unit in CONTROL_UNITS:
        assert not machine(name).service(unit).is_running, unit


@pytest.mark.parametrize("port", [3306, 8774])
def test_controller_listens_for_the_other_machines(port):
    assert machine(CONTROLLER).socket(f"tcp://0.0.0.0:{port}").is_listening


def listening_addresses(host, port):
    """Addresses with a TCP socket listening on ``port`` (`ss -Hltn`)."""
    found = set()
    for line in host.check_output("ss -Hltn").splitlines():
        address, _, found_port = line.split()[3].rpartition(":")
        if found_port == str(port):
            found.add(address.strip("[]").split("%")[0])
    return found


def test_broker_listens_on_the_management_address_and_loopback_only():
    """AMQP on the address the compute nodes reach the controller by (the
    rabbitmq role's default: the default route's address) and on loopback; the
    Erlang distribution (epmd, the node's port) on loopback only; no wildcard."""
    controller = machine(CONTROLLER)
    own = set(controller.check_output("hostname -I").split())
    amqp = listening_addresses(controller, 5672)
    assert "127.0.0.1" in amqp and len(amqp) == 2, amqp
    assert (amqp - {"127.0.0.1"}) <= own, (amqp, own)
    for port in (4369, 25672):
        addresses = listening_addresses(controller, port)
        assert addresses and addresses <= {"127.0.0.1", "::1"}, (port, addresses)


def test_metadata_service_listens_on_the_management_address():
    """stratus-metadata on the controller's own address (where the proxies of the
    network host reach it, [metadata] metadata_url), port 8775, and nowhere else."""
    controller = machine(CONTROLLER)
    own = set(controller.check_output("hostname -I").split())
    addresses = listening_addresses(controller, 8775)
    assert addresses and addresses <= own, (addresses, own)
    config = read_config(controller)["metadata"]
    assert config["metadata_url"] == f"http://{CONTROLLER}:8775"


def test_metadata_secret_is_on_the_controller_alone():
    """The controller (metadata service and, as the network host, its proxies) has
    the generated secret in [metadata] shared_secret only; the compute nodes, which
    run no proxy, do not have it at all."""
    secret = credential("metadata-secret")
    controller = machine(CONTROLLER)
    assert read_config(controller)["metadata"]["shared_secret"] == secret
    assert_secret_confined(controller, secret, {("metadata", "shared_secret")})
    for name in COMPUTES:
        assert not read_config(machine(name)).has_section("metadata")
        assert_secret_confined(machine(name), secret, allowed=set())


def test_broker_has_no_guest_user():
    users = machine(CONTROLLER).check_output("rabbitmqctl -q list_users").split()
    assert "stratus" in users and "guest" not in users


@pytest.mark.parametrize("name", COMPUTES)
def test_compute_runs_as_stratus(name):
    host = machine(name)
    pid = host.check_output("systemctl show -p MainPID --value stratus-compute")
    assert host.check_output(f"ps -o user= -p {pid}") == "stratus"
    groups = host.check_output("id -nG stratus").split()
    assert {"libvirt", "kvm"} <= set(groups)


@pytest.mark.parametrize("name", COMPUTES)
def test_compute_config_has_no_database_credentials(name):
    host = machine(name)
    config = read_config(host)
    assert not config.has_section("database")
    assert_secret_confined(host, credential("mariadb-password"), allowed=set())
    # ... and it does reach the broker on the controller.
    assert f"@{CONTROLLER}:5672/" in config["DEFAULT"]["transport_url"]


@pytest.mark.parametrize("name", [CONTROLLER, *COMPUTES])
def test_config_file_mode(name):
    conf = machine(name).file(CONFIG_FILE)
    assert (conf.user, conf.group) == ("root", "stratus")
    assert conf.mode & 0o027 == 0, oct(conf.mode)


def test_controller_clouds_yaml_is_private():
    clouds = machine(CONTROLLER).file(CONTROLLER_CLOUDS_YAML)
    assert clouds.user == "root"
    assert clouds.mode == 0o600, oct(clouds.mode)


def test_both_computes_are_up():
    services = compute_services()
    assert {name: services[name]["State"] for name in COMPUTES} == dict.fromkeys(COMPUTES, "up")


@pytest.mark.parametrize("name", sorted(declared_servers()))
def test_declared_server_is_active(servers, name):
    server = servers[name]
    assert server["status"] == "ACTIVE", server.get("fault")
    assert host_of(server) in COMPUTES


@pytest.mark.parametrize("name", sorted(declared_servers()))
def test_guest_console_says_ready(servers, name):
    server = servers[name]
    log = machine(host_of(server)).file(f"{INSTANCES_PATH}/{server['id']}/console.log")
    wait_for(
        f"{GUEST_READY} in the console of {name}",
        lambda: log.exists and f"{GUEST_READY} {server['id']}" in log.content_string,
        timeout=60,
    )


def test_anti_affinity_pair_is_on_different_computes(servers):
    members = [name for name, v in declared_servers().items() if v.get("server_group") == "web"]
    assert len(members) == 2
    assert host_of(servers[members[0]]) != host_of(servers[members[1]])


def test_same_host_server_is_beside_its_target(servers):
    hinted = {
        name: v["server_hints"]["same_host"]
        for name, v in declared_servers().items()
        if "same_host" in v.get("server_hints", {})
    }
    assert hinted
    for name, target in hinted.items():
        assert host_of(servers[name]) == host_of(servers[target])


def test_playbook_plan_matches_the_placement(servers):
    plan = json.loads(
        (Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "placement-plan.json").read_text()
    )
    assert sorted(plan) == sorted(declared_servers())
    assert plan == {name: host_of(servers[name]) for name in plan}


def address_of(server: dict) -> str:
    (address,) = server["addresses"][NETWORK]
    return address


@pytest.mark.parametrize("name", sorted(declared_servers()))
def test_guest_leased_its_address_by_dhcp(servers, name):
    """The address the cloud gave the server is the one the guest got from the
    controller's dnsmasq, across the vxlan network (the guest prints its lease)."""
    server = servers[name]
    log = machine(host_of(server)).file(f"{INSTANCES_PATH}/{server['id']}/console.log")
    lease = f"STRATUS-GUEST-IP eth0 {address_of(server)}/24"
    wait_for(
        f"{lease} in the console of {name}",
        lambda: log.exists and lease in log.content_string,
        timeout=120,
    )


def in_netns(host, namespace: str, command: str):
    return host.run(f"ip netns exec {namespace} {command}")


ECHO = (
    'python3 -c "import socket, sys; s = socket.create_connection((sys.argv[1], 7), '
    "timeout=10); s.sendall(b'stratus-vxlan\\\\n'); print(s.recv(64).decode().strip())\""
)


def test_guests_reach_each_other_across_hosts(servers):
    """The two anti-affine servers sit on different compute nodes, joined only by the
    vxlan network. A client namespace on web-1's compute node, plugged into the
    network's bridge with an address the cloud reserved for it (a port bound to that
    node, so that the other nodes learn its MAC; a member of the servers' default
    security group, which lets it in), pings both guests and talks to the
    echo service of the guest on the other node; the controller's DHCP namespace
    reaches both guests too. Everything stays inside the containers' namespaces."""
    near, far = servers["web-1"], servers["web-2"]
    assert host_of(near) != host_of(far)
    network = openstack("network", "show", NETWORK)
    assert network["provider:network_type"] == "vxlan"
    node = machine(host_of(near))
    namespace = f"vxtest-{uuid.uuid4().hex[:6]}"
    port = openstack(
        "port", "create", "--network", NETWORK, "--host", host_of(near), f"client-{namespace}"
    )
    bridge = f"brq{network['id'][:11]}"
    client = port["fixed_ips"][0]["ip_address"]
    try:
        for command in (
            f"ip netns add {namespace}",
            f"ip link add {namespace}-h type veth peer name eth0 netns {namespace}",
            f"ip link set {namespace}-h master {bridge} up",
            f"ip -n {namespace} link set eth0 address {port['mac_address']} up",
            f"ip -n {namespace} addr add {client}/24 dev eth0",
        ):
            node.run_expect([0], command)
        for target in (near, far):
            wait_for(
                f"{target['name']} to answer ping from {namespace}",
                lambda t=target: (
                    in_netns(node, namespace, f"ping -c 1 -W 2 {address_of(t)}").rc == 0
                ),
                timeout=60,
            )
        echo = in_netns(node, namespace, f"{ECHO} {address_of(far)}")
        assert echo.stdout.strip() == "stratus-vxlan", echo.stderr
        # The DHCP namespace is no member of the servers' default security group.
        dhcp = f"qdhcp-{network['id']}"
        controller = machine(CONTROLLER)
        allow_ping(near["project_id"])
        for target in (near, far):
            wait_for(
                f"{target['name']} to answer ping from the controller's {dhcp}",
                lambda t=target: (
                    in_netns(controller, dhcp, f"ping -c 1 -W 2 {address_of(t)}").rc == 0
                ),
                timeout=30,
            )
    finally:
        node.run(f"ip netns del {namespace}")
        openstack("port", "delete", port["id"], check=False, parse=False)


# Last: changes the cloud (and puts it back).
def test_new_server_avoids_a_compute_that_is_down():
    compute2 = machine("compute2")
    name = f"failover-{uuid.uuid4().hex[:8]}"
    compute2.run_expect([0], "systemctl stop stratus-compute")
    try:
        wait_for(
            "compute2 to be down",
            lambda: compute_services()["compute2"]["State"] == "down",
            timeout=90,
        )
        assert compute_services()["compute1"]["State"] == "up"
        openstack("server", "create", "--flavor", "m1.tiny", "--image", "tiny", name)
        server = wait_for(
            f"{name} to leave BUILD",
            lambda: (s := openstack("server", "show", name))["status"] != "BUILD" and s,
            timeout=180,
        )
        assert server["status"] == "ACTIVE", server.get("fault")
        assert host_of(server) == "compute1"
    finally:
        openstack("server", "delete", "--wait", name, check=False, parse=False)
        compute2.run_expect([0], "systemctl start stratus-compute")
    wait_for(
        "compute2 to be up again",
        lambda: compute_services()["compute2"]["State"] == "up",
        timeout=90,
    )
