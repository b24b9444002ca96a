"""Routers, floating IPs and port forwardings in the service layer
(stratus/network/routers.py through stratus/network/api.py) on a SQLite schema:
validation, what is refused and leaves nothing behind, placement on network hosts,
and the ``routers`` part of a host's state."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from stratus.conf import CONF
from stratus.db import session as db_session
from stratus.db.models import Base
from stratus.network import api
from stratus.network import exceptions as exc
from stratus.network import routers as l3
from tests.conftest import database_url


@dataclass
class Context:
    project_id: str = "p1"
    is_admin: bool = False


ADMIN = Context("admin-project", True)
MEMBER = Context("p1")
OTHER = Context("p2")


@pytest.fixture(autouse=True)
def database(tmp_path: Path) -> Iterator[None]:
    CONF.set_override("connection", f"sqlite:///{tmp_path}/network.db", "database")
    CONF.set_override("vni_ranges", ["10:30"], "network")
    db_session.reset()
    Base.metadata.create_all(db_session.get_engine())
    try:
        yield
    finally:
        db_session.reset()
        CONF.clear_override("vni_ranges", "network")
        CONF.clear_override("connection", "database")


def _net(context: Context, cidr: str, gateway: str | None = "", **values) -> tuple[dict, dict]:
    network = api.create_network(context, {"name": "n", **values})
    body = {"network_id": network["id"], "ip_version": 4, "cidr": cidr, "enable_dhcp": False}
    if gateway != "":
        body["gateway_ip"] = gateway
    return network, api.create_subnet(context, body)


@pytest.fixture
def world() -> dict:
    """An external network 203.0.113.0/24 and a member's tenant network 10.0.0.0/24."""
    ext, ext_subnet = _net(ADMIN, "203.0.113.0/24", **{"router:external": True})
    net, subnet = _net(MEMBER, "10.0.0.0/24")
    return {"ext": ext, "ext_subnet": ext_subnet, "net": net, "subnet": subnet}


def _ports(owner: str) -> list[dict]:
    return [p for p in api.list_ports(ADMIN) if p["device_owner"] == owner]


def test_router_gateway_interfaces_and_routes(world: dict) -> None:
    router = l3.create_router(
        MEMBER, {"name": "r1", "external_gateway_info": {"network_id": world["ext"]["id"]}}
    )
    info = router["external_gateway_info"]
    assert info["network_id"] == world["ext"]["id"] and info["enable_snat"] is True
    assert info["external_fixed_ips"][0]["subnet_id"] == world["ext_subnet"]["id"]
    added = l3.add_router_interface(MEMBER, router["id"], {"subnet_id": world["subnet"]["id"]})
    assert added["subnet_ids"] == [world["subnet"]["id"]] and added["id"] == router["id"]
    port = api.get_port(MEMBER, added["port_id"])
    assert port["fixed_ips"][0]["ip_address"] == "10.0.0.1"
    assert port["device_owner"] == "network:router_interface"
    assert port["device_id"] == router["id"] and port["port_security_enabled"] is False
    assert port["security_groups"] == []
    gateway = _ports("network:router_gateway")[0]
    assert gateway["device_id"] == router["id"] and gateway["port_security_enabled"] is False
    # ext-gw-mode: SNAT off keeps the gateway port and its address
    snat_off = {"network_id": world["ext"]["id"], "enable_snat": False}
    changed = l3.update_router(ADMIN, router["id"], {"external_gateway_info": snat_off})
    assert changed["external_gateway_info"]["enable_snat"] is False
    assert changed["external_gateway_info"]["external_fixed_ips"] == info["external_fixed_ips"]
    assert _ports("network:router_gateway")[0]["id"] == gateway["id"]

    routes = [{"destination": "10.1.0.0/24", "nexthop": "10.0.0.5"}]
    assert l3.update_router(MEMBER, router["id"], {"routes": routes})["routes"] == routes
    for bad, reason in (
        ([{"destination": "10.1.0.0/24", "nexthop": "192.0.2.5"}], "not connected"),
        ([{"destination": "10.1.0.0/24", "nexthop": "10.0.0.1"}], "used by router"),
        ([{"destination": "nonsense", "nexthop": "10.0.0.5"}], "routes"),
        ([{"destination": "10.1.0.0/24"}], "routes"),
    ):
        with pytest.raises(exc.InvalidInput, match=reason):
            l3.update_router(MEMBER, router["id"], {"routes": bad})
    assert l3.get_router(MEMBER, router["id"])["routes"] == routes
    # the route's nexthop keeps its interface; the router keeps its interfaces
    with pytest.raises(exc.Conflict) as raised:
        l3.remove_router_interface(MEMBER, router["id"], {"subnet_id": world["subnet"]["id"]})
    assert raised.value.neutron_type == "RouterInterfaceInUseByRoute"
    l3.update_router(MEMBER, router["id"], {"routes": []})
    with pytest.raises(exc.Conflict) as raised:
        l3.delete_router(MEMBER, router["id"])
    assert raised.value.neutron_type == "RouterInUse"
    # ports and subnets a router uses cannot go
    with pytest.raises(exc.Conflict) as raised:
        api.delete_port(MEMBER, added["port_id"])
    assert raised.value.neutron_type == "L3PortInUse"
    with pytest.raises(exc.Conflict) as raised:
        api.delete_subnet(MEMBER, world["subnet"]["id"])
    assert raised.value.neutron_type == "SubnetInUse"

    l3.remove_router_interface(MEMBER, router["id"], {"subnet_id": world["subnet"]["id"]})
    with pytest.raises(exc.NotFound) as raised:
        l3.remove_router_interface(MEMBER, router["id"], {"subnet_id": world["subnet"]["id"]})
    assert raised.value.neutron_type == "RouterInterfaceNotFoundForSubnet"
    l3.delete_router(MEMBER, router["id"])
    assert _ports("network:router_gateway") == [] and _ports("network:router_interface") == []
    with pytest.raises(exc.NotFound) as raised:
        l3.get_router(MEMBER, router["id"])
    assert raised.value.neutron_type == "RouterNotFound"


def test_bad_interfaces_leave_nothing(world: dict) -> None:
    router = l3.create_router(MEMBER, {"name": "r"})
    l3.add_router_interface(MEMBER, router["id"], {"subnet_id": world["subnet"]["id"]})
    _nogw, no_gateway = _net(MEMBER, "10.5.0.0/24", gateway=None)
    _over, overlapping = _net(MEMBER, "10.0.0.0/16")
    before = len(api.list_ports(ADMIN))
    for body, reason in (
        ({"subnet_id": world["subnet"]["id"]}, "already has a port on subnet"),
        ({"subnet_id": no_gateway["id"]}, "must have a gateway IP"),
        ({"subnet_id": overlapping["id"]}, "overlaps with cidr"),
        ({}, "Either subnet_id or port_id"),
        ({"subnet_id": world["subnet"]["id"], "port_id": "x"}, "Either subnet_id or port_id"),
    ):
        with pytest.raises(exc.InvalidInput, match=reason) as raised:
            l3.add_router_interface(MEMBER, router["id"], body)
        assert raised.value.neutron_type == "BadRequest"
    assert len(api.list_ports(ADMIN)) == before
    # another router cannot take the subnet's gateway address
    other = l3.create_router(MEMBER, {"name": "r2"})
    with pytest.raises(exc.Conflict) as raised:
        l3.add_router_interface(MEMBER, other["id"], {"subnet_id": world["subnet"]["id"]})
    assert raised.value.neutron_type == "IpAddressAlreadyAllocated"
    # a port given to a router: by port_id, then it is the router's
    port = api.create_port(MEMBER, {"network_id": overlapping["network_id"]})
    added = l3.add_router_interface(MEMBER, other["id"], {"port_id": port["id"]})
    assert api.get_port(MEMBER, added["port_id"])["device_owner"] == "network:router_interface"
    # a gateway on a network that is not external
    with pytest.raises(exc.InvalidInput, match="not a valid external network"):
        l3.update_router(
            MEMBER, router["id"], {"external_gateway_info": {"network_id": world["net"]["id"]}}
        )
    with pytest.raises(exc.NotFound):
        l3.get_router(OTHER, router["id"])


def test_floating_ips(world: dict) -> None:
    router = l3.create_router(
        MEMBER, {"name": "r", "external_gateway_info": {"network_id": world["ext"]["id"]}}
    )
    server = api.create_port(MEMBER, {"network_id": world["net"]["id"]})
    fixed = server["fixed_ips"][0]["ip_address"]
    fip = l3.create_floatingip(MEMBER, {"floating_network_id": world["ext"]["id"]})
    assert fip["status"] == "DOWN" and fip["router_id"] is None and fip["port_id"] is None
    # no router joins the port's subnet to the external network yet
    with pytest.raises(exc.NotFound) as raised:
        l3.update_floatingip(MEMBER, fip["id"], {"port_id": server["id"]})
    assert raised.value.neutron_type == "ExternalGatewayForFloatingIPNotFound"
    assert l3.get_floatingip(MEMBER, fip["id"])["port_id"] is None
    l3.add_router_interface(MEMBER, router["id"], {"subnet_id": world["subnet"]["id"]})
    fip = l3.update_floatingip(MEMBER, fip["id"], {"port_id": server["id"]})
    assert fip["status"] == "ACTIVE" and fip["router_id"] == router["id"]
    assert fip["fixed_ip_address"] == fixed and fip["port_details"]["mac_address"]
    # one fixed address, one floating IP of a network
    second = l3.create_floatingip(MEMBER, {"floating_network_id": world["ext"]["id"]})
    assert second["floating_ip_address"] != fip["floating_ip_address"]
    with pytest.raises(exc.Conflict) as raised:
        l3.update_floatingip(MEMBER, second["id"], {"port_id": server["id"]})
    assert raised.value.neutron_type == "FloatingIPPortAlreadyAssociated"
    with pytest.raises(exc.InvalidInput, match="does not have fixed ip"):
        l3.update_floatingip(
            MEMBER, second["id"], {"port_id": server["id"], "fixed_ip_address": "10.0.0.99"}
        )
    with pytest.raises(exc.InvalidInput, match="not a valid external network"):
        l3.create_floatingip(MEMBER, {"floating_network_id": world["net"]["id"]})
    with pytest.raises(exc.Conflict) as raised:
        l3.delete_router(MEMBER, router["id"])
    assert raised.value.neutron_type == "RouterInUse"
    with pytest.raises(exc.Conflict) as raised:
        l3.update_router(MEMBER, router["id"], {"external_gateway_info": None})
    assert raised.value.neutron_type == "RouterExternalGatewayInUseByFloatingIp"
    with pytest.raises(exc.Conflict) as raised:
        api.update_network(ADMIN, world["ext"]["id"], {"router:external": False})
    assert raised.value.neutron_type == "ExternalNetworkInUse"
    assert l3.floating_addresses([server["id"]]) == {
        server["id"]: [(fixed, fip["floating_ip_address"])]
    }

    # the data plane's view: the router on the one network host
    state = api.host_state("net-1", dhcp=True)
    (placed,) = state["routers"]
    assert placed["id"] == router["id"] and placed["gateway"]["enable_snat"] is True
    assert placed["gateway"]["fixed_ips"][0]["cidr"] == "203.0.113.0/24"
    assert placed["gateway"]["fixed_ips"][0]["gateway_ip"] == "203.0.113.1"
    assert placed["interfaces"][0]["fixed_ips"] == [
        {"subnet_id": world["subnet"]["id"], "ip_address": "10.0.0.1", "cidr": "10.0.0.0/24"}
    ]
    assert placed["interfaces"][0]["bridge_name"] == api.bridge_name(world["net"]["id"])
    assert placed["floating_ips"] == [
        {
            "id": fip["id"],
            "floating_ip_address": fip["floating_ip_address"],
            "fixed_ip_address": fixed,
        }
    ]
    assert {n["id"] for n in state["networks"]} >= {world["ext"]["id"], world["net"]["id"]}
    assert api.host_state("compute-1")["routers"] == []
    assert api.host_state("net-2", dhcp=True)["routers"] == []  # net-1 keeps it

    # moving, releasing; a deleted server port takes its association along
    l3.update_floatingip(MEMBER, fip["id"], {"port_id": None})
    moved = l3.update_floatingip(MEMBER, second["id"], {"port_id": server["id"]})
    assert moved["fixed_ip_address"] == fixed
    api.delete_port(MEMBER, server["id"])
    gone = l3.get_floatingip(MEMBER, second["id"])
    assert gone["port_id"] is None and gone["status"] == "DOWN" and gone["router_id"] is None
    address = fip["floating_ip_address"]
    l3.delete_floatingip(MEMBER, fip["id"])
    again = l3.create_floatingip(
        ADMIN, {"floating_network_id": world["ext"]["id"], "floating_ip_address": address}
    )
    assert again["floating_ip_address"] == address


def test_tags_of_routers_and_floating_ips(world: dict) -> None:
    router = l3.create_router(MEMBER, {"tags": ["b", "a"]})
    assert router["tags"] == ["a", "b"]
    assert api.set_tags(MEMBER, "routers", router["id"], add="c") == ["a", "b", "c"]
    fip = l3.create_floatingip(MEMBER, {"floating_network_id": world["ext"]["id"]})
    assert api.set_tags(MEMBER, "floatingips", fip["id"], ["x"]) == ["x"]
    assert l3.get_floatingip(MEMBER, fip["id"])["tags"] == ["x"]
    with pytest.raises(exc.NotFound):
        api.get_tags(OTHER, "routers", router["id"])


def test_router_and_floating_ip_quotas(world: dict) -> None:
    api.update_quotas("p1", {"router": 1, "floatingip": 1})
    l3.create_router(MEMBER, {})
    with pytest.raises(exc.OverQuota):
        l3.create_router(MEMBER, {})
    l3.create_floatingip(MEMBER, {"floating_network_id": world["ext"]["id"]})
    with pytest.raises(exc.OverQuota):
        l3.create_floatingip(MEMBER, {"floating_network_id": world["ext"]["id"]})
    details = api.quota_details("p1")
    assert details["router"]["used"] == 1 and details["floatingip"]["used"] == 1
    assert api.default_quotas()["router"] == 10 and api.default_quotas()["floatingip"] == 50
    assert len(l3.list_floatingips(MEMBER)) == 1 and l3.list_floatingips(OTHER) == []


def test_port_forwardings(world: dict) -> None:
    router = l3.create_router(
        MEMBER, {"name": "r", "external_gateway_info": {"network_id": world["ext"]["id"]}}
    )
    l3.add_router_interface(MEMBER, router["id"], {"subnet_id": world["subnet"]["id"]})
    server = api.create_port(MEMBER, {"network_id": world["net"]["id"]})
    fixed = server["fixed_ips"][0]["ip_address"]
    fip = l3.create_floatingip(MEMBER, {"floating_network_id": world["ext"]["id"]})
    values = {
        "internal_port_id": server["id"],
        "internal_ip_address": fixed,
        "internal_port": 22,
        "external_port": 2222,
        "protocol": "tcp",
    }
    pf = l3.create_port_forwarding(MEMBER, fip["id"], values)
    assert pf["external_port"] == 2222 and l3.get_floatingip(MEMBER, fip["id"])["router_id"]
    with pytest.raises(exc.InvalidInput, match="duplicate"):
        l3.create_port_forwarding(MEMBER, fip["id"], {**values, "internal_port": 23})
    with pytest.raises(exc.InvalidInput, match="protocol"):
        l3.create_port_forwarding(MEMBER, fip["id"], {**values, "protocol": "icmp"})
    with pytest.raises(exc.InvalidInput, match="external_port"):
        l3.create_port_forwarding(MEMBER, fip["id"], {**values, "external_port": 70000})
    (placed,) = api.host_state("net-1", dhcp=True)["routers"]
    assert placed["port_forwardings"] == [
        {
            "id": pf["id"],
            "floating_ip_address": fip["floating_ip_address"],
            "protocol": "tcp",
            "external_port": 2222,
            "internal_ip_address": fixed,
            "internal_port": 22,
        }
    ]
    l3.delete_port_forwarding(MEMBER, fip["id"], pf["id"])
    assert l3.list_port_forwardings(MEMBER, fip["id"]) == []


def test_routes_shape() -> None:
    assert l3.validate_routes_shape(
        [{"destination": "10.1.0.9/24", "nexthop": "10.0.0.5"}] * 2
    ) == [{"destination": "10.1.0.0/24", "nexthop": "10.0.0.5"}]
    with pytest.raises(exc.InvalidInput) as raised:
        l3.validate_routes_shape(
            [{"destination": f"10.9.{i}.0/24", "nexthop": "1.1.1.1"} for i in range(31)]
        )
    assert raised.value.neutron_type == "RoutesExhausted"
    with pytest.raises(exc.InvalidInput, match="IP versions"):
        l3.validate_routes_shape([{"destination": "fd00::/64", "nexthop": "10.0.0.5"}])


@pytest.mark.parametrize("backend", ["sqlite", "mariadb"])
def test_concurrent_floating_ips_get_distinct_addresses(
    backend: str, request: pytest.FixtureRequest
) -> None:
    """Eleven creations at once on nine free addresses: nine distinct addresses and
    two ``IpAddressGenerationFailure``; two associations of one fixed address at
    once: one wins (the database's unique constraints decide)."""
    url = database_url(backend, request, "stratus_l3_unit")
    if url is not None:
        CONF.set_override("connection", url, "database")
        db_session.reset()
        Base.metadata.create_all(db_session.get_engine())
    ext = api.create_network(ADMIN, {"name": "ext", "router:external": True})
    pools = [{"start": "198.51.100.10", "end": "198.51.100.19"}]
    api.create_subnet(
        ADMIN,
        {"network_id": ext["id"], "ip_version": 4, "cidr": "198.51.100.0/24",
         "enable_dhcp": False, "allocation_pools": pools},
    )  # fmt: skip

    net, subnet = _net(ADMIN, "10.0.0.0/24")
    router = l3.create_router(ADMIN, {"external_gateway_info": {"network_id": ext["id"]}})
    l3.add_router_interface(ADMIN, router["id"], {"subnet_id": subnet["id"]})
    port = api.create_port(ADMIN, {"network_id": net["id"]})

    def create(_: int) -> str:
        try:
            return l3.create_floatingip(ADMIN, {"floating_network_id": ext["id"]})[
                "floating_ip_address"
            ]
        except exc.IpAddressGenerationFailure:
            return "none"

    with ThreadPoolExecutor(11) as pool:  # the router's gateway holds one address
        results = list(pool.map(create, range(11)))
    assert results.count("none") == 2 and len(set(results)) == 10, results

    fips = l3.list_floatingips(ADMIN)[:2]

    def associate(fip: dict) -> str:
        try:
            l3.update_floatingip(ADMIN, fip["id"], {"port_id": port["id"]})
            return "won"
        except exc.Conflict as error:
            return error.neutron_type

    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(pool.map(associate, fips))
    assert outcomes == ["FloatingIPPortAlreadyAssociated", "won"]
    assert len(l3.floating_addresses([port["id"]])[port["id"]]) == 1
