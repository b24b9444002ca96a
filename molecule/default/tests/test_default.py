"""The all-in-one cloud in one container: services, ports, the declared server,
the guest's console, and the modes of the files that hold secrets."""

from __future__ import annotations

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
    read_config,
    wait_for,
)

HOST = "aio"
testinfra_hosts = [f"podman://{HOST}"]

UNITS = [
    "rabbitmq-server",
    "mariadb",
    "virtlogd",
    "libvirtd",
    "stratus-api",
    "stratus-scheduler",
    "stratus-conductor",
    "stratus-compute",
    "stratus-network-agent",
    "stratus-metadata",
]


@pytest.mark.parametrize("unit", UNITS)
def test_unit_is_active_and_enabled(host, unit):
    service = host.service(unit)
    assert service.is_running, host.run(f"systemctl status --no-pager {unit}").stdout
    assert service.is_enabled


@pytest.mark.parametrize(
    "address",
    [
        # broker and database on loopback, as in inventories/aio
        "tcp://127.0.0.1:5672",
        "tcp://127.0.0.1:3306",
        # the API where the Ansible controller (outside the container) reaches it
        "tcp://0.0.0.0:8774",
    ],
)
def test_port_is_listening(host, address):
    assert host.socket(address).is_listening


def test_database_is_mariadb(host):
    connection = read_config(host)["database"]["connection"]
    assert connection.startswith("mysql+pymysql://stratus:")


def test_compute_service_is_up():
    assert compute_services()[HOST]["State"] == "up"


@pytest.mark.parametrize("name", sorted(declared_servers()))
def test_declared_server_is_active_on_the_compute(servers, name):
    server = servers[name]
    assert server["status"] == "ACTIVE", server.get("fault")
    assert server["OS-EXT-SRV-ATTR:host"] == HOST
    assert server["flavor"]["name"] == declared_servers()[name]["server_flavor"]


@pytest.mark.parametrize("name", sorted(declared_servers()))
def test_guest_console_says_ready(host, servers, name):
    server_id = servers[name]["id"]
    log = host.file(f"{INSTANCES_PATH}/{server_id}/console.log")
    wait_for(
        f"{GUEST_READY} in the console of {name}",
        lambda: log.exists and f"{GUEST_READY} {server_id}" in log.content_string,
        timeout=60,
    )


@pytest.mark.parametrize("name", sorted(declared_servers()))
def test_guest_leased_its_address_and_answers_its_dhcp_namespace(host, servers, name):
    """The declared server's address on the default network is the one the guest
    leased by DHCP (its console says so), and the network's DHCP namespace, the only
    place from which the guest is reached, gets its ping answered once the default
    security group lets ICMP in."""
    server = servers[name]
    networks = declared_servers()[name]["server_networks"]
    # The fixed address (a floating one, server_floating_ip, is listed after it).
    address = server["addresses"][networks[0]["network"]][0]
    log = host.file(f"{INSTANCES_PATH}/{server['id']}/console.log")
    lease = f"STRATUS-GUEST-IP eth0 {address}/"
    wait_for(
        f"{lease} in the console of {name}",
        lambda: log.exists and lease in log.content_string,
        timeout=120,
    )
    namespaces = host.run("ip netns list").stdout.split()
    (dhcp,) = [ns for ns in namespaces if ns.startswith("qdhcp-")]
    allow_ping(server["project_id"])
    wait_for(
        f"{name} to answer ping from {dhcp}",
        lambda: host.run(f"ip netns exec {dhcp} ping -c 1 -W 2 {address}").rc == 0,
        timeout=30,
    )


@pytest.mark.parametrize(
    "name", sorted(n for n, v in declared_servers().items() if v.get("server_floating_ip"))
)
def test_floating_ip_answers_from_the_external_network(host, servers, name):
    """A server declaring server_floating_ip got one from the external network through
    the router; the external network's stand-in uplink namespace, its only outside
    world, pings the guest through it (the ICMP rule of the test above)."""
    fixed, floating = server_addresses = servers[name]["addresses"]["private"]
    assert floating.startswith("203.0.113."), server_addresses
    allow_ping(servers[name]["project_id"])
    wait_for(
        f"{name} to answer ping at {floating} from stratus-external",
        lambda: host.run(f"ip netns exec stratus-external ping -c 1 -W 2 {floating}").rc == 0,
        timeout=30,
    )


def test_config_is_root_owned_and_not_world_readable(host):
    conf = host.file(CONFIG_FILE)
    assert conf.user == "root"
    assert conf.group == "stratus"
    assert conf.mode & 0o027 == 0, oct(conf.mode)  # 0640 or stricter
    directory = host.file(CONFIG_FILE.rsplit("/", 1)[0])
    assert directory.mode & 0o007 == 0, oct(directory.mode)


def test_clouds_yaml_is_private(host):
    clouds = host.file(CONTROLLER_CLOUDS_YAML)
    assert clouds.user == "root"
    assert clouds.mode == 0o600, oct(clouds.mode)


def test_database_password_is_only_in_the_database_section(host):
    """An all-in-one host is a controller too, so its one stratus.conf carries the
    database credentials (the compute-only check is in the multinode scenario);
    they are in [database] and nowhere else: not in the other sections, the
    units, clouds.yaml, the logs or the command lines."""
    assert_secret_confined(host, credential("mariadb-password"), {("database", "connection")})


def test_metadata_secret_is_only_where_the_service_and_proxies_read_it(host):
    """The aio is controller and network host: stratus-metadata checks, and the
    network agent's proxies sign with, [metadata] shared_secret, the secret the
    roles generated once; it is nowhere else (units, logs, command lines)."""
    secret = credential("metadata-secret")
    assert read_config(host)["metadata"]["shared_secret"] == secret
    assert_secret_confined(host, secret, {("metadata", "shared_secret")})


def test_compute_runs_as_stratus_in_the_libvirt_and_kvm_groups(host):
    pid = host.check_output("systemctl show -p MainPID --value stratus-compute")
    assert host.check_output(f"ps -o user= -p {pid}") == "stratus"
    assert {"libvirt", "kvm"} <= set(host.check_output("id -nG stratus").split())


def test_instances_are_not_world_listable(host):
    instances = host.file(INSTANCES_PATH)
    assert (instances.user, instances.mode) == ("stratus", 0o711)
    state = host.file(INSTANCES_PATH.rsplit("/", 1)[0])
    assert (state.user, state.mode) == ("stratus", 0o750)


def test_broker_has_no_guest_and_keeps_erlang_distribution_on_loopback(host):
    users = host.check_output("rabbitmqctl -q list_users").split()
    assert "stratus" in users and "guest" not in users
    for line in host.check_output("ss -Hltn").splitlines():
        address, _, port = line.split()[3].rpartition(":")
        if port in ("4369", "25672", "5672"):
            assert address.strip("[]") in ("127.0.0.1", "::1"), line
