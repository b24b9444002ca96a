"""Routers and floating IPs through the Networking API v2.0 and the compute API: the
real ``openstack`` CLI where users use it, raw HTTP for error shapes and races, on
a real cloud (stratus-api with three workers, -scheduler, -conductor over a real
RabbitMQ, SQLite) with one compute host on the in-memory fake driver and its
network agent (no DHCP role, so routers stay unplaced and no router namespace is
made: the data plane is not what these tests look at). Concurrent floating IP
creation on MariaDB is in tests/unit/network/test_routers.py (no cloud needed).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.integration.test_network_api import neutron_error
from tests.integration.test_security_groups_api import _people, _wait_for_ports, cli
from tests.support.cloud import Cloud, ControlPlane

API = "/networking/v2.0"
SFX = uuid.uuid4().hex[:6]
HOST = f"l3api-{SFX}"
VNIS = range(3100, 3200)
CONF = {"api": {"workers": 3}, "network": {"vni_ranges": f"{VNIS.start}:{VNIS.stop - 1}"}}


@pytest.fixture(scope="module")
def cloud(rabbitmq: Any) -> Iterator[Cloud]:
    """A control plane, a fake-driver compute whose servers' vxlan networks get real
    bridges (VTEP 127.0.0.1, no peer), and the host's network agent, which removes
    them when the networks go (at teardown, after the routers and floating IPs)."""
    made = Cloud(rabbitmq.transport_url, extra_conf=CONF)
    made.start()
    made.add_compute(HOST, driver="fake", extra={"network": {"local_ip": "127.0.0.1"}})
    made.add_network_agent(HOST, {"local_ip": "127.0.0.1"})
    yield made
    with made.client() as admin:
        _remove_routers(admin)
    made.remove_networks(VNIS)
    made.stop()


def _remove_routers(admin: httpx.Client) -> None:
    for fip in admin.get(f"{API}/floatingips").json()["floatingips"]:
        admin.delete(f"{API}/floatingips/{fip['id']}")
    for router in admin.get(f"{API}/routers").json()["routers"]:
        ports = admin.get(f"{API}/ports", params={"device_id": router["id"]}).json()["ports"]
        for port in ports:
            if port["device_owner"] == "network:router_interface":
                body = {"port_id": port["id"]}
                admin.put(f"{API}/routers/{router['id']}/remove_router_interface", json=body)
        admin.put(f"{API}/routers/{router['id']}", json={"router": {"routes": []}})
        assert admin.delete(f"{API}/routers/{router['id']}").status_code == 204


@pytest.fixture(scope="module")
def people(cloud: Cloud) -> dict[str, str]:
    return _people(cloud, ("m1", "m2"))


@pytest.fixture(scope="module")
def clients(cloud: Cloud, people: dict[str, str]) -> Iterator[dict[str, httpx.Client]]:
    made = {"admin": cloud.client()}
    for user in ("m1", "m2"):
        made[user] = cloud.client(cloud.token(user, f"{user}-pw", f"p-{user}"))
    yield made
    for client in made.values():
        client.close()


def _subnet(client: httpx.Client, network_id: str, cidr: str, **values: Any) -> dict[str, Any]:
    body = {"network_id": network_id, "ip_version": 4, "cidr": cidr, "enable_dhcp": False}
    made = client.post(f"{API}/subnets", json={"subnet": {**body, **values}})
    assert made.status_code == 201, made.text
    return made.json()["subnet"]


def _network(client: httpx.Client, name: str, **values: Any) -> dict[str, Any]:
    made = client.post(f"{API}/networks", json={"network": {"name": name, **values}})
    assert made.status_code == 201, made.text
    return made.json()["network"]


@pytest.fixture(scope="module")
def external(clients: dict[str, httpx.Client]) -> dict[str, Any]:
    """The admin's external network 203.0.113.0/24 (pool .10 to .60)."""
    network = _network(clients["admin"], f"ext-{SFX}", **{"router:external": True})
    pools = [{"start": "203.0.113.10", "end": "203.0.113.60"}]
    subnet = _subnet(clients["admin"], network["id"], "203.0.113.0/24", allocation_pools=pools)
    return {"network": network, "subnet": subnet}


def test_extensions_and_quotas(cloud: Cloud, people: dict[str, str]) -> None:
    with cloud.client() as admin:
        aliases = {e["alias"] for e in admin.get(f"{API}/extensions").json()["extensions"]}
        assert {"router", "ext-gw-mode", "extraroute", "fip-port-details"} <= aliases
        quota = admin.get(f"{API}/quotas/{people['p-m1']}").json()["quota"]
    assert quota["router"] == 10 and quota["floatingip"] == 50


def test_router_through_the_cli_and_its_errors(
    cloud: Cloud, clients: dict[str, httpx.Client], external: dict[str, Any]
) -> None:
    m1 = clients["m1"]
    net = _network(m1, "l3net")
    subnet = _subnet(m1, net["id"], "10.90.0.0/24")
    router = cli(cloud, "m1", "router", "create", "r1")
    assert router["external_gateway_info"] is None and router["status"] == "ACTIVE"
    cloud.openstack(
        "router", "set", "--external-gateway", external["network"]["id"], "r1",
        user="m1", password="m1-pw", project="p-m1",
    )  # fmt: skip
    cloud.openstack(
        "router", "add", "subnet", "r1", subnet["id"], user="m1", password="m1-pw", project="p-m1"
    )
    shown = m1.get(f"{API}/routers/{router['id']}").json()["router"]
    gateway = shown["external_gateway_info"]
    assert gateway["network_id"] == external["network"]["id"] and gateway["enable_snat"] is True
    assert gateway["external_fixed_ips"][0]["subnet_id"] == external["subnet"]["id"]
    ports = m1.get(f"{API}/ports", params={"device_id": router["id"]}).json()["ports"]
    interface = next(p for p in ports if p["device_owner"] == "network:router_interface")
    assert interface["fixed_ips"] == [{"subnet_id": subnet["id"], "ip_address": "10.90.0.1"}]
    assert interface["port_security_enabled"] is False and interface["security_groups"] == []
    route = {"destination": "10.91.0.0/24", "nexthop": "10.90.0.5"}
    changed = m1.put(f"{API}/routers/{router['id']}", json={"router": {"routes": [route]}})
    assert changed.json()["router"]["routes"] == [route]

    # Bad input: 4xx in Neutron's shape naming the problem, nothing made.
    before = len(clients["admin"].get(f"{API}/ports").json()["ports"])
    add = f"{API}/routers/{router['id']}/add_router_interface"
    message = neutron_error(m1.put(add, json={"subnet_id": subnet["id"]}), 400, "BadRequest")
    assert "already has a port on subnet" in message
    wide = _subnet(m1, _network(m1, "l3wide")["id"], "10.90.0.0/16")
    message = neutron_error(m1.put(add, json={"subnet_id": wide["id"]}), 400, "BadRequest")
    assert "overlaps" in message and wide["id"] in message
    bare = _subnet(m1, _network(m1, "l3bare")["id"], "10.92.0.0/24", gateway_ip=None)
    message = neutron_error(m1.put(add, json={"subnet_id": bare["id"]}), 400, "BadRequest")
    assert "gateway IP" in message
    assert len(clients["admin"].get(f"{API}/ports").json()["ports"]) == before
    bad_route = {"router": {"routes": [{"destination": "10.93.0.0/24", "nexthop": "192.0.2.9"}]}}
    message = neutron_error(m1.put(f"{API}/routers/{router['id']}", json=bad_route), 400)
    assert "nexthop is not connected with router" in message
    not_external = {"router": {"external_gateway_info": {"network_id": net["id"]}}}
    message = neutron_error(m1.put(f"{API}/routers/{router['id']}", json=not_external), 400)
    assert "not a valid external network" in message
    snat = {"router": {"external_gateway_info": {"network_id": net["id"], "enable_snat": False}}}
    neutron_error(m1.put(f"{API}/routers/{router['id']}", json=snat), 403, "PolicyNotAuthorized")
    # In use: the router, its subnet and its ports.
    neutron_error(m1.delete(f"{API}/routers/{router['id']}"), 409, "RouterInUse")
    neutron_error(m1.delete(f"{API}/subnets/{subnet['id']}"), 409, "SubnetInUse")
    neutron_error(m1.delete(f"{API}/ports/{interface['id']}"), 409, "L3PortInUse")
    remove = f"{API}/routers/{router['id']}/remove_router_interface"
    neutron_error(m1.put(remove, json={"subnet_id": subnet["id"]}), 409)  # the route's nexthop
    neutron_error(clients["m2"].get(f"{API}/routers/{router['id']}"), 404, "RouterNotFound")

    m1.put(f"{API}/routers/{router['id']}", json={"router": {"routes": []}}).raise_for_status()
    cloud.openstack(
        "router", "remove", "subnet", "r1", subnet["id"],
        user="m1", password="m1-pw", project="p-m1",
    )  # fmt: skip
    neutron_error(m1.put(remove, json={"subnet_id": subnet["id"]}), 404)
    assert m1.delete(f"{API}/routers/{router['id']}").status_code == 204
    left = clients["admin"].get(f"{API}/ports", params={"device_id": router["id"]}).json()
    assert left["ports"] == []


def _boot(clients: dict[str, httpx.Client], network_id: str) -> dict[str, Any]:
    """A server of m1's on the fake driver (raw HTTP: the CLI adds nothing here)."""
    admin = clients["admin"]
    flavor = f"l3-{SFX}"
    flavor_id = admin.post(
        "/compute/v2.1/flavors",
        json={"flavor": {"name": flavor, "ram": 64, "disk": 1, "vcpus": 1}},
    ).json()["flavor"]["id"]
    image = admin.post(
        "/image/v2/images",
        json={"name": f"l3-{SFX}", "disk_format": "raw", "container_format": "bare",
              "visibility": "public"},
    ).json()  # fmt: skip
    admin.put(
        f"/image/v2/images/{image['id']}/file",
        content=b"\0" * 1024,
        headers={"Content-Type": "application/octet-stream"},
    ).raise_for_status()
    body = {"server": {"name": "l3server", "flavorRef": flavor_id, "imageRef": image["id"],
                       "networks": [{"uuid": network_id}]}}  # fmt: skip
    made = clients["m1"].post("/compute/v2.1/servers", json=body)
    assert made.status_code == 202, made.text
    server_id = made.json()["server"]["id"]
    deadline = time.monotonic() + 60
    while (server := clients["m1"].get(f"/compute/v2.1/servers/{server_id}").json()["server"])[
        "status"
    ] != "ACTIVE":
        assert server["status"] == "BUILD" and time.monotonic() < deadline, server
        time.sleep(0.2)
    return server


def _addresses(client: httpx.Client, server_id: str) -> list[tuple[str, str]]:
    server = client.get(f"/compute/v2.1/servers/{server_id}").json()["server"]
    return [(a["addr"], a["OS-EXT-IPS:type"]) for a in server["addresses"]["fipnet"]]


def test_floating_ip_through_the_cli_and_server_addresses(
    cloud: Cloud, clients: dict[str, httpx.Client], external: dict[str, Any]
) -> None:
    m1 = clients["m1"]
    net = _network(m1, "fipnet")
    subnet = _subnet(m1, net["id"], "10.94.0.0/24")
    lonely = _network(m1, "fiplonely")
    _subnet(m1, lonely["id"], "10.95.0.0/24")
    router = m1.post(
        f"{API}/routers",
        json={"router": {"name": "fiprouter",
                         "external_gateway_info": {"network_id": external["network"]["id"]}}},
    ).json()["router"]  # fmt: skip
    m1.put(
        f"{API}/routers/{router['id']}/add_router_interface", json={"subnet_id": subnet["id"]}
    ).raise_for_status()
    server = _boot(clients, net["id"])
    (port,) = _wait_for_ports(m1, server["id"])
    fixed = port["fixed_ips"][0]["ip_address"]

    fip = cli(
        cloud, "m1", "floating", "ip", "create", "--port", port["id"], external["network"]["id"]
    )
    address = fip["floating_ip_address"]
    assert fip["status"] == "ACTIVE" and fip["router_id"] == router["id"]
    assert fip["fixed_ip_address"] == fixed
    assert _addresses(m1, server["id"]) == [(fixed, "fixed"), (address, "floating")]
    # One fixed address, one floating IP: of two associations at once, one wins.
    others = [
        m1.post(
            f"{API}/floatingips",
            json={"floatingip": {"floating_network_id": external["network"]["id"]}},
        ).json()["floatingip"]
        for _ in range(2)
    ]
    cloud.openstack(
        "floating", "ip", "unset", "--port", address, user="m1", password="m1-pw", project="p-m1"
    )
    assert _addresses(m1, server["id"]) == [(fixed, "fixed")]
    assert m1.get(f"{API}/floatingips/{fip['id']}").json()["floatingip"]["status"] == "DOWN"

    def associate(other: dict[str, Any]) -> int:
        with cloud.client(m1.headers["X-Auth-Token"]) as client:
            body = {"floatingip": {"port_id": port["id"]}}
            return client.put(f"{API}/floatingips/{other['id']}", json=body).status_code

    with ThreadPoolExecutor(2) as pool:
        assert sorted(pool.map(associate, others)) == [200, 409]
    held = [
        f for f in m1.get(f"{API}/floatingips").json()["floatingips"] if f["port_id"] == port["id"]
    ]
    assert len(held) == 1
    # Move: disassociate the winner, associate the first one again through the CLI.
    m1.put(f"{API}/floatingips/{held[0]['id']}", json={"floatingip": {"port_id": None}})
    cloud.openstack(
        "floating", "ip", "set", "--port", port["id"], address,
        user="m1", password="m1-pw", project="p-m1",
    )  # fmt: skip
    assert _addresses(m1, server["id"]) == [(fixed, "fixed"), (address, "floating")]

    # No router joins the port's network to the external network: 404 as Neutron.
    stray = m1.post(f"{API}/ports", json={"port": {"network_id": lonely["id"]}}).json()["port"]
    body = {"floatingip": {"floating_network_id": external["network"]["id"],
                           "port_id": stray["id"]}}  # fmt: skip
    count = len(m1.get(f"{API}/floatingips").json()["floatingips"])
    message = neutron_error(
        m1.post(f"{API}/floatingips", json=body), 404, "ExternalGatewayForFloatingIPNotFound"
    )
    assert stray["id"] in message
    assert len(m1.get(f"{API}/floatingips").json()["floatingips"]) == count
    body = {"floatingip": {"floating_network_id": net["id"]}}
    assert "not a valid external network" in neutron_error(
        m1.post(f"{API}/floatingips", json=body), 400
    )
    # The gateway and interface that a floating IP uses stay.
    clear = {"router": {"external_gateway_info": None}}
    neutron_error(
        m1.put(f"{API}/routers/{router['id']}", json=clear),
        409,
        "RouterExternalGatewayInUseByFloatingIp",
    )

    # Port forwardings of another floating IP to the server's port 22.
    spare = m1.post(
        f"{API}/floatingips",
        json={"floatingip": {"floating_network_id": external["network"]["id"]}},
    ).json()["floatingip"]
    forwardings = f"{API}/floatingips/{spare['id']}/port_forwardings"
    forwarding = {"internal_port_id": port["id"], "internal_ip_address": fixed,
                  "internal_port": 22, "external_port": 2222, "protocol": "tcp"}  # fmt: skip
    made = m1.post(forwardings, json={"port_forwarding": forwarding})
    assert made.status_code == 201, made.text
    listed = m1.get(forwardings).json()["port_forwardings"]
    assert [(f["external_port"], f["internal_port"]) for f in listed] == [(2222, 22)]
    bad = {"port_forwarding": {**forwarding, "external_port": 2223, "protocol": "icmp"}}
    assert "protocol" in neutron_error(m1.post(forwardings, json=bad), 400)
    shown = m1.get(f"{API}/floatingips/{spare['id']}").json()["floatingip"]
    assert shown["router_id"] == router["id"] and len(shown["port_forwardings"]) == 1
    pf_id = made.json()["port_forwarding"]["id"]
    assert m1.delete(f"{forwardings}/{pf_id}").status_code == 204

    # Release: the address goes back to the pool (the admin may ask for it by name).
    cloud.openstack(
        "floating", "ip", "delete", address, user="m1", password="m1-pw", project="p-m1"
    )
    assert _addresses(m1, server["id"]) == [(fixed, "fixed")]
    again = clients["admin"].post(
        f"{API}/floatingips",
        json={"floatingip": {"floating_network_id": external["network"]["id"],
                             "floating_ip_address": address}},
    )  # fmt: skip
    assert again.status_code == 201, again.text
    clients["admin"].delete(f"{API}/floatingips/{again.json()['floatingip']['id']}")
    assert m1.delete(f"/compute/v2.1/servers/{server['id']}").status_code == 204


def concurrent_creations(plane: ControlPlane, client: httpx.Client, network_id: str) -> None:
    """Twelve floating IPs at once on a pool of ten: ten distinct addresses, two 409s."""
    token = client.headers["X-Auth-Token"]

    def create(_: int) -> tuple[int, str | None]:
        with plane.client(token) as own:
            body = {"floatingip": {"floating_network_id": network_id}}
            made = own.post(f"{API}/floatingips", json=body)
            return made.status_code, made.json().get("floatingip", {}).get("floating_ip_address")

    with ThreadPoolExecutor(12) as pool:
        results = list(pool.map(create, range(12)))
    made = [address for status, address in results if status == 201]
    assert sorted(status for status, _ in results) == [201] * 10 + [409] * 2, results
    assert len(set(made)) == 10


def _small_external(client: httpx.Client, name: str) -> str:
    network = _network(client, name, **{"router:external": True})
    pools = [{"start": "198.51.100.10", "end": "198.51.100.19"}]
    _subnet(client, network["id"], "198.51.100.0/24", allocation_pools=pools)
    return network["id"]


def test_concurrent_floating_ip_creation(cloud: Cloud, clients: dict[str, httpx.Client]) -> None:
    admin = clients["admin"]
    network_id = _small_external(admin, f"small-{SFX}")
    concurrent_creations(cloud, admin, network_id)
    for fip in admin.get(f"{API}/floatingips").json()["floatingips"]:
        if fip["floating_network_id"] == network_id:
            assert admin.delete(f"{API}/floatingips/{fip['id']}").status_code == 204
