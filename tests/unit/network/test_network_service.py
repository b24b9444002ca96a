"""The Networking service layer (stratus/network/api.py) on a SQLite schema:
segments, the DHCP port, address release, and the data plane's view of a host."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from stratus.conf import CONF
from stratus.db import session as db_session
from stratus.db.models import Base
from stratus.network import api
from stratus.network import exceptions as exc


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
    CONF.set_override("vni_ranges", ["10:12"], "network")
    CONF.set_override("physical_network_mappings", ["physnet1:eth1"], "network")
    CONF.set_override("network_vlan_ranges", ["physnet1:100:101"], "network")
    db_session.reset()
    Base.metadata.create_all(db_session.get_engine())
    try:
        yield
    finally:
        db_session.reset()
        for name in ("vni_ranges", "physical_network_mappings", "network_vlan_ranges"):
            CONF.clear_override(name, "network")
        CONF.clear_override("connection", "database")


def network_with_subnet(context: Context = MEMBER, cidr: str = "10.0.0.0/29", **values) -> tuple:
    network = api.create_network(context, {"name": "n", **values})
    subnet = api.create_subnet(
        context, {"network_id": network["id"], "ip_version": 4, "cidr": cidr}
    )
    return network, subnet


def test_vxlan_ids_come_from_the_range_until_it_is_used_up() -> None:
    vnis = {api.create_network(MEMBER, {})["provider:segmentation_id"] for _ in range(3)}
    assert vnis == {10, 11, 12}
    with pytest.raises(exc.Conflict) as raised:
        api.create_network(MEMBER, {})
    assert raised.value.neutron_type == "NoNetworkAvailable"


def test_vlan_and_flat_segments() -> None:
    vlan = {"provider:network_type": "vlan", "provider:physical_network": "physnet1"}
    ids = {api.create_network(ADMIN, vlan)["provider:segmentation_id"] for _ in range(2)}
    assert ids == {100, 101}
    explicit = api.create_network(ADMIN, {**vlan, "provider:segmentation_id": 4094})
    assert explicit["mtu"] == 1500
    with pytest.raises(exc.InvalidInput, match="provider:segmentation_id"):
        api.create_network(ADMIN, {**vlan, "provider:segmentation_id": 0})
    flat = {"provider:network_type": "flat", "provider:physical_network": "physnet1"}
    assert api.create_network(ADMIN, flat)["provider:segmentation_id"] is None
    with pytest.raises(exc.Conflict):
        api.create_network(ADMIN, flat)
    with pytest.raises(exc.InvalidInput, match="provider:physical_network"):
        api.create_network(ADMIN, {**flat, "provider:physical_network": "physnet9"})


def test_dhcp_port_takes_the_first_address_and_follows_enable_dhcp() -> None:
    network, subnet = network_with_subnet()
    ports = api.list_ports(MEMBER)
    assert [(p["device_owner"], p["fixed_ips"][0]["ip_address"]) for p in ports] == [
        ("network:dhcp", "10.0.0.2")
    ]
    api.update_subnet(MEMBER, subnet["id"], {"enable_dhcp": False})
    assert api.list_ports(MEMBER) == []
    api.update_subnet(MEMBER, subnet["id"], {"enable_dhcp": True})
    assert len(api.list_ports(MEMBER)) == 1


def test_full_subnet_and_release() -> None:
    network, subnet = network_with_subnet()  # /29: gateway, DHCP, 4 more
    ports = [api.create_port(MEMBER, {"network_id": network["id"]}) for _ in range(4)]
    taken = {p["fixed_ips"][0]["ip_address"] for p in ports}
    assert taken == {"10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"}
    with pytest.raises(exc.IpAddressGenerationFailure):
        api.create_port(MEMBER, {"network_id": network["id"]})
    assert len(api.list_ports(MEMBER)) == 5
    api.delete_port(MEMBER, ports[0]["id"])
    again = api.create_port(MEMBER, {"network_id": network["id"]})
    assert again["fixed_ips"][0]["ip_address"] == ports[0]["fixed_ips"][0]["ip_address"]


def test_update_port_fixed_ips_replaces_addresses() -> None:
    network, subnet = network_with_subnet(cidr="10.1.0.0/24")
    port = api.create_port(MEMBER, {"network_id": network["id"]})
    changed = api.update_port(
        MEMBER,
        port["id"],
        {"fixed_ips": [{"subnet_id": subnet["id"], "ip_address": "10.1.0.50"}]},
    )
    assert [ip["ip_address"] for ip in changed["fixed_ips"]] == ["10.1.0.50"]
    with pytest.raises(exc.IpAddressAlreadyAllocated):
        api.create_port(
            MEMBER, {"network_id": network["id"], "fixed_ips": [{"ip_address": "10.1.0.50"}]}
        )
    freed = api.create_port(
        MEMBER,
        {
            "network_id": network["id"],
            "fixed_ips": [{"ip_address": port["fixed_ips"][0]["ip_address"]}],
        },
    )
    assert freed["fixed_ips"] == port["fixed_ips"]


def test_visibility_of_private_and_shared_networks() -> None:
    private, _ = network_with_subnet(MEMBER)
    with pytest.raises(exc.NotFound):
        api.get_network(OTHER, private["id"])
    with pytest.raises(exc.NotFound):
        api.create_port(OTHER, {"network_id": private["id"]})
    shared = api.create_network(ADMIN, {"shared": True})
    assert {n["id"] for n in api.list_networks(OTHER)} == {shared["id"]}
    assert {n["id"] for n in api.list_networks(ADMIN)} == {private["id"], shared["id"]}


def test_quota_is_enforced_and_reported() -> None:
    api.update_quotas("p1", {"network": 1, "check_limit": False})
    api.create_network(MEMBER, {})
    with pytest.raises(exc.OverQuota):
        api.create_network(MEMBER, {})
    assert api.quota_details("p1")["network"] == {"limit": 1, "used": 1, "reserved": 0}
    with pytest.raises(exc.InvalidInput):
        api.update_quotas("p1", {"network": 0, "check_limit": True})
    with pytest.raises(exc.InvalidInput):
        api.update_quotas("p1", {"loadbalancer": 3})


def test_host_state_for_compute_and_dhcp_hosts() -> None:
    network, subnet = network_with_subnet(cidr="10.2.0.0/24")
    flat = api.create_network(
        ADMIN, {"provider:network_type": "flat", "provider:physical_network": "physnet1"}
    )
    api.create_subnet(ADMIN, {"network_id": flat["id"], "ip_version": 4, "cidr": "10.3.0.0/24"})
    here = api.create_port(ADMIN, {"network_id": network["id"], "binding:host_id": "cmp1"})
    there = api.create_port(ADMIN, {"network_id": network["id"], "binding:host_id": "cmp2"})
    api.report_host("cmp1", "192.0.2.1")
    api.report_host("cmp2", "192.0.2.2")

    state = api.host_state("cmp1")
    assert state["host"] == "cmp1" and state["vtep_address"] == "192.0.2.1"
    assert [n["id"] for n in state["networks"]] == [network["id"]]
    (mine,) = state["networks"]
    assert mine["network_type"] == "vxlan" and mine["segmentation_id"] in (10, 11, 12)
    assert mine["bridge_name"] == f"brq{network['id'][:11]}" and len(mine["bridge_name"]) <= 15
    assert mine["vteps"] == {"cmp2": "192.0.2.2"}
    assert mine["subnets"][0]["cidr"] == "10.2.0.0/24"
    assert mine["subnets"][0]["allocation_pools"] == subnet["allocation_pools"]
    by_id = {p["id"]: p for p in mine["ports"]}
    assert set(by_id) == {here["id"], there["id"], *(p["id"] for p in api.list_ports(MEMBER))}
    assert by_id[there["id"]]["binding_host_id"] == "cmp2"
    assert by_id[here["id"]]["fixed_ips"] == here["fixed_ips"]

    dhcp = api.host_state("net1", dhcp=True)
    assert {n["id"] for n in dhcp["networks"]} == {network["id"], flat["id"]}
    flat_state = next(n for n in dhcp["networks"] if n["id"] == flat["id"])
    assert flat_state["physical_network"] == "physnet1" and flat_state["segmentation_id"] is None
    assert flat_state["vteps"] == {}
    assert [p["device_owner"] for p in flat_state["ports"]] == ["network:dhcp"]

    api.set_port_status(here["id"], "ACTIVE")
    assert api.get_port(ADMIN, here["id"])["status"] == "ACTIVE"
    assert api.bind_port(here["id"], "cmp3")["status"] == "DOWN"
    assert api.host_state("cmp1")["networks"] == []


def test_tags() -> None:
    network = api.create_network(MEMBER, {"tags": ["b", "a", "b"]})
    assert network["tags"] == ["a", "b"]
    assert api.set_tags(MEMBER, "networks", network["id"], add="c") == ["a", "b", "c"]
    assert api.set_tags(MEMBER, "networks", network["id"], remove="a") == ["b", "c"]
    with pytest.raises(exc.NotFound):
        api.set_tags(MEMBER, "networks", network["id"], remove="a")
    with pytest.raises(exc.InvalidInput):
        api.set_tags(MEMBER, "networks", network["id"], ["x,y"])
    with pytest.raises(exc.NotFound):
        api.get_tags(OTHER, "networks", network["id"])


def test_a_network_used_by_other_projects_stays_shared() -> None:
    shared = api.create_network(ADMIN, {"shared": True})
    api.create_port(OTHER, {"network_id": shared["id"]})
    with pytest.raises(exc.Conflict) as raised:
        api.update_network(ADMIN, shared["id"], {"shared": False})
    assert raised.value.neutron_type == "InvalidSharedSetting"
    with pytest.raises(exc.Conflict) as raised:
        api.delete_network(ADMIN, shared["id"])
    assert raised.value.neutron_type == "NetworkInUse"


@pytest.mark.parametrize("mode", ["slaac", "dhcpv6-stateless"])
def test_an_auto_address_subnet_goes_with_its_addresses_but_not_its_ports(mode: str) -> None:
    """Networking's rule: a SLAAC or stateless subnet's addresses are the subnet's, so
    deleting it takes them off the ports; the ports stay and still hold the network.
    A subnet with addresses of its own allocation stays while a port holds one."""
    network, v4 = network_with_subnet()
    v6 = api.create_subnet(
        MEMBER,
        {
            "network_id": network["id"],
            "ip_version": 6,
            "cidr": "2001:db8:1::/64",
            "ipv6_ra_mode": mode,
            "ipv6_address_mode": mode,
        },
    )
    port = api.create_port(MEMBER, {"network_id": network["id"]})
    assert {ip["subnet_id"] for ip in port["fixed_ips"]} == {v4["id"], v6["id"]}
    with pytest.raises(exc.Conflict) as raised:
        api.delete_subnet(MEMBER, v4["id"])
    assert raised.value.neutron_type == "SubnetInUse"

    api.delete_subnet(MEMBER, v6["id"])
    after = api.get_port(MEMBER, port["id"])
    assert [ip["subnet_id"] for ip in after["fixed_ips"]] == [v4["id"]]
    assert after["revision_number"] > port["revision_number"]
    assert [s["id"] for s in api.list_subnets(MEMBER)] == [v4["id"]]
    with pytest.raises(exc.Conflict, match="still in use on the network"):
        api.delete_network(MEMBER, network["id"])
