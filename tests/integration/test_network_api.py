"""The Networking API v2.0 against a real stratus-api with three worker processes,
on SQLite and on MariaDB: the real ``openstack`` CLI for networks, subnets, ports
and quotas, raw HTTP for what the CLI does not expose (error shapes, listing
parameters), and 200 concurrent port creations on one /24."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import netaddr
import pytest

from tests.conftest import database_url
from tests.support.cloud import ControlPlane

API = "/networking/v2.0"
NETWORK_CONF = {
    "api": {"workers": 3},
    "network": {
        "physical_network_mappings": "physnet-netapi:veth-netapi",
        "network_vlan_ranges": "physnet-netapi:100:199",
        "vni_ranges": "1000:1999",
    },
}


@pytest.fixture(scope="module")
def cloud(db_backend: str, request: pytest.FixtureRequest) -> Iterator[ControlPlane]:
    cp = ControlPlane(database_url(db_backend, request, "stratus_netapi"), extra_conf=NETWORK_CONF)
    cp.start()
    yield cp
    cp.stop()


@pytest.fixture(scope="module")
def people(cloud: ControlPlane) -> dict[str, str]:
    """Projects p1 and p2 with a member each, and a reader in p1."""
    ids = {}
    for project in ("p1", "p2"):
        ids[project] = cloud.openstack_json("project", "create", project)["id"]
    for user, project, role in (
        ("m1", "p1", "member"),
        ("m2", "p2", "member"),
        ("r1", "p1", "reader"),
    ):
        ids[user] = cloud.openstack_json("user", "create", "--password", f"{user}-pw", user)["id"]
        cloud.openstack("role", "add", "--project", project, "--user", user, role)
    return ids


@pytest.fixture(scope="module")
def clients(cloud: ControlPlane, people: dict[str, str]) -> Iterator[dict[str, httpx.Client]]:
    made = {"admin": cloud.client()}
    for user, project in (("m1", "p1"), ("m2", "p2"), ("r1", "p1")):
        made[user] = cloud.client(cloud.token(user, f"{user}-pw", project))
    yield made
    for client in made.values():
        client.close()


def as_user(cloud: ControlPlane, user: str, project: str, *args: str) -> Any:
    return cloud.openstack_json(*args, user=user, password=f"{user}-pw", project=project)


def neutron_error(response: httpx.Response, status: int, kind: str | None = None) -> str:
    assert response.status_code == status, response.text
    error = response.json()["NeutronError"]
    assert set(error) == {"type", "message", "detail"}
    if kind is not None:
        assert error["type"] == kind, error
    return error["message"]


def counts(client: httpx.Client) -> tuple[int, int, int]:
    return tuple(len(client.get(f"{API}/{c}").json()[c]) for c in ("networks", "subnets", "ports"))


def test_catalog_and_discovery(cloud: ControlPlane) -> None:
    catalog = cloud.openstack_json("catalog", "list")
    network = next(c for c in catalog if c["Type"] == "network")
    assert network["Name"] == "stratus-network"
    versions = httpx.get(f"{cloud.url}/networking").json()["versions"]
    assert versions[0]["id"] == "v2.0" and versions[0]["status"] == "CURRENT"
    aliases = {e["Alias"] for e in cloud.openstack_json("extension", "list", "--network")}
    assert {"provider", "external-net", "binding", "quotas", "network-ip-availability"} <= aliases
    assert "router" in aliases and "qos" not in aliases


def test_member_network_subnet_port_through_the_cli(cloud: ControlPlane, people) -> None:
    net = as_user(cloud, "m1", "p1", "network", "create", "clinet")
    assert net["status"] == "ACTIVE" and net["project_id"] == people["p1"]
    assert net["mtu"] == 1450 and net["shared"] is False
    # A member does not see the provider attributes (the CLI shows them as None).
    assert net["provider:network_type"] is None and net["provider:segmentation_id"] is None
    admin_view = cloud.openstack_json("network", "show", net["id"])
    assert admin_view["provider:network_type"] == "vxlan"
    assert 1000 <= admin_view["provider:segmentation_id"] <= 1999
    subnet = as_user(
        cloud, "m1", "p1", "subnet", "create", "--network", "clinet",
        "--subnet-range", "10.20.0.0/24", "--dns-nameserver", "192.0.2.53", "clisub",
    )  # fmt: skip
    assert subnet["gateway_ip"] == "10.20.0.1" and subnet["enable_dhcp"] is True
    assert subnet["allocation_pools"] == [{"start": "10.20.0.2", "end": "10.20.0.254"}]
    # The DHCP port took the first free address; the gateway is nobody's.
    ports = as_user(cloud, "m1", "p1", "port", "list", "--network", "clinet", "--long")
    assert len(ports) == 1 and ports[0]["Device Owner"] == "network:dhcp"
    assert "10.20.0.2" in str(ports[0]["Fixed IP Addresses"])
    port = as_user(cloud, "m1", "p1", "port", "create", "--network", "clinet", "cliport")
    addresses = [ip["ip_address"] for ip in port["fixed_ips"]]
    assert len(addresses) == 1 and addresses[0] not in ("10.20.0.1", "10.20.0.2")
    assert port["status"] == "DOWN" and port["mac_address"].startswith("fa:16:3e:")
    fixed = as_user(
        cloud, "m1", "p1", "port", "create", "--network", "clinet",
        "--fixed-ip", "subnet=clisub,ip-address=10.20.0.77", "--mac-address", "fa:16:3e:aa:bb:cc",
        "fixedport",
    )  # fmt: skip
    assert fixed["fixed_ips"][0]["ip_address"] == "10.20.0.77"
    assert fixed["mac_address"] == "fa:16:3e:aa:bb:cc"
    found = as_user(cloud, "m1", "p1", "port", "list", "--fixed-ip", "ip-address=10.20.0.77")
    assert [p["ID"] for p in found] == [fixed["id"]]
    # The reader sees, the other project does not.
    assert as_user(cloud, "r1", "p1", "network", "show", "clinet")["id"] == net["id"]
    other = cloud.openstack(
        "network", "show", net["id"], user="m2", password="m2-pw", project="p2", check=False
    )
    assert other.returncode != 0
    # In use: the network and the subnet refuse to go; the ports go, then they do.
    busy = cloud.openstack(
        "network", "delete", "clinet", user="m1", password="m1-pw", project="p1", check=False
    )
    assert busy.returncode != 0 and "in use" in busy.stderr
    as_user_run = dict(user="m1", password="m1-pw", project="p1")
    cloud.openstack("port", "delete", "cliport", "fixedport", **as_user_run)
    cloud.openstack("network", "delete", "clinet", **as_user_run)
    assert as_user(cloud, "m1", "p1", "port", "list") == []


def test_fixed_ip_rules_and_release(cloud: ControlPlane, clients) -> None:
    m1 = clients["m1"]
    net = m1.post(f"{API}/networks", json={"network": {"name": "ipnet"}}).json()["network"]
    sub = m1.post(
        f"{API}/subnets",
        json={"subnet": {"network_id": net["id"], "ip_version": 4, "cidr": "10.30.0.0/28"}},
    ).json()["subnet"]

    def port(**fixed: str) -> httpx.Response:
        body = {"network_id": net["id"], "fixed_ips": [{"subnet_id": sub["id"], **fixed}]}
        return m1.post(f"{API}/ports", json={"port": body})

    first = port(ip_address="10.30.0.5")
    assert first.status_code == 201, first.text
    neutron_error(port(ip_address="10.30.0.5"), 409, "IpAddressAlreadyAllocated")
    neutron_error(port(ip_address="10.30.0.1"), 409, "IpAddressAlreadyAllocated")  # gateway
    neutron_error(port(ip_address="10.30.0.2"), 409, "IpAddressAlreadyAllocated")  # DHCP
    assert "fixed_ips" in neutron_error(port(ip_address="10.99.0.5"), 400, "InvalidInput")
    assert "fixed_ips" in neutron_error(port(ip_address="10.30.0.15"), 400)  # broadcast
    neutron_error(
        m1.post(
            f"{API}/ports",
            json={"port": {"network_id": net["id"], "fixed_ips": [{"subnet_id": "nope"}]}},
        ),
        404,
        "SubnetNotFound",
    )
    neutron_error(
        m1.post(f"{API}/ports", json={"port": {"network_id": "nope"}}), 404, "NetworkNotFound"
    )
    assert m1.delete(f"{API}/ports/{first.json()['port']['id']}").status_code == 204
    again = port(ip_address="10.30.0.5")
    assert again.status_code == 201, again.text
    neutron_error(m1.delete(f"{API}/subnets/{sub['id']}"), 409, "SubnetInUse")
    neutron_error(m1.delete(f"{API}/networks/{net['id']}"), 409, "NetworkInUse")
    assert m1.delete(f"{API}/ports/{again.json()['port']['id']}").status_code == 204
    assert m1.delete(f"{API}/subnets/{sub['id']}").status_code == 204
    dhcp = m1.get(f"{API}/ports", params={"network_id": net["id"]}).json()["ports"]
    assert dhcp == []  # the DHCP port went with the last DHCP subnet
    assert m1.delete(f"{API}/networks/{net['id']}").status_code == 204


def test_bad_input_names_the_field_and_creates_nothing(cloud: ControlPlane, clients) -> None:
    admin, m1 = clients["admin"], clients["m1"]
    net = m1.post(f"{API}/networks", json={"network": {"name": "badnet"}}).json()["network"]
    ok = m1.post(
        f"{API}/subnets",
        json={"subnet": {"network_id": net["id"], "ip_version": 4, "cidr": "10.40.0.0/24"}},
    )
    assert ok.status_code == 201
    before = counts(admin)

    def subnet(**extra: Any) -> httpx.Response:
        body = {"network_id": net["id"], "ip_version": 4, "cidr": "10.41.0.0/24", **extra}
        return m1.post(f"{API}/subnets", json={"subnet": body})

    cases = [
        (subnet(cidr="10.40.0.128/25"), "cidr"),  # overlaps
        (subnet(cidr="10.41.0.0/33"), "cidr"),
        (subnet(cidr="not-a-cidr"), "cidr"),
        (subnet(cidr="10.41.0.5/24"), "cidr"),  # host bits
        (subnet(gateway_ip="10.42.0.1"), "gateway_ip"),
        (
            subnet(allocation_pools=[{"start": "10.41.0.10", "end": "10.41.1.5"}]),
            "allocation_pools",
        ),
        (
            subnet(
                allocation_pools=[
                    {"start": "10.41.0.10", "end": "10.41.0.20"},
                    {"start": "10.41.0.15", "end": "10.41.0.30"},
                ]
            ),
            "allocation_pools",
        ),
        (subnet(allocation_pools=[{"start": "10.41.0.1", "end": "10.41.0.9"}]), "allocation_pools"),
        (subnet(ip_version=5), "ip_version"),
        (subnet(dns_nameservers=["bogus"]), "dns_nameservers"),
        (subnet(bogus=1), "bogus"),
        (
            admin.post(
                f"{API}/networks",
                json={
                    "network": {
                        "provider:network_type": "vlan",
                        "provider:physical_network": "physnet-netapi",
                        "provider:segmentation_id": 4095,
                    }
                },
            ),
            "provider:segmentation_id",
        ),
        (
            admin.post(
                f"{API}/networks",
                json={
                    "network": {
                        "provider:network_type": "flat",
                        "provider:physical_network": "physnet-unknown",
                    }
                },
            ),
            "provider:physical_network",
        ),
        (
            admin.post(f"{API}/networks", json={"network": {"provider:network_type": "gre"}}),
            "provider:network_type",
        ),
        (m1.post(f"{API}/networks", json={"network": {"mtu": 9000}}), "mtu"),
        (
            m1.post(f"{API}/networks", json={"network": {"admin_state_up": "maybe"}}),
            "admin_state_up",
        ),
        (m1.post(f"{API}/networks", json={"net": {}}), "network"),
    ]
    for response, field in cases:
        message = neutron_error(response, 400)
        assert field in message, (field, message)
    neutron_error(
        m1.post(
            f"{API}/subnets",
            json={"subnet": {"network_id": "nope", "ip_version": 4, "cidr": "10.9.0.0/24"}},
        ),
        404,
        "NetworkNotFound",
    )
    assert counts(admin) == before


def test_bulk_create_is_all_or_nothing(cloud: ControlPlane, clients) -> None:
    """``{"networks": [...]}`` (and subnets, ports) makes every item or, when one is bad,
    none: the error names the bad field and the items made before it go again."""
    m1 = clients["m1"]
    before = counts(m1)
    made = m1.post(f"{API}/networks", json={"networks": [{"name": "bulk-a"}, {"name": "bulk-b"}]})
    assert made.status_code == 201, made.text
    networks = made.json()["networks"]
    assert [n["name"] for n in networks] == ["bulk-a", "bulk-b"]
    subnets = [
        {"network_id": n["id"], "ip_version": 4, "cidr": f"10.61.{i}.0/24"}
        for i, n in enumerate(networks)
    ]
    made = m1.post(f"{API}/subnets", json={"subnets": subnets})
    assert made.status_code == 201, made.text
    assert [s["cidr"] for s in made.json()["subnets"]] == ["10.61.0.0/24", "10.61.1.0/24"]
    ports = [{"network_id": n["id"], "name": "bulk-port"} for n in networks]
    made = m1.post(f"{API}/ports", json={"ports": ports})
    assert made.status_code == 201, made.text
    assert {p["network_id"] for p in made.json()["ports"]} == {n["id"] for n in networks}
    after = counts(m1)

    bad = [{"network_id": networks[0]["id"]}, {"network_id": networks[1]["id"], "mtu": "x"}]
    assert "mtu" in neutron_error(m1.post(f"{API}/ports", json={"ports": bad}), 400)
    bad_nets = [{"name": "bulk-c"}, {"name": "bulk-d", "admin_state_up": "maybe"}]
    message = neutron_error(m1.post(f"{API}/networks", json={"networks": bad_nets}), 400)
    assert "admin_state_up" in message
    assert neutron_error(m1.post(f"{API}/networks", json={"networks": []}), 400)
    assert counts(m1) == after
    assert after == (before[0] + 2, before[1] + 2, before[2] + 4)  # with 2 DHCP ports
    for network in networks:
        for port in m1.get(f"{API}/ports", params={"network_id": network["id"]}).json()["ports"]:
            if port["device_owner"] != "network:dhcp":
                m1.delete(f"{API}/ports/{port['id']}")
        assert m1.delete(f"{API}/networks/{network['id']}").status_code == 204


def test_provider_attributes_are_admin_only(cloud: ControlPlane, clients) -> None:
    admin, m1, m2 = clients["admin"], clients["m1"], clients["m2"]
    forbidden = m1.post(f"{API}/networks", json={"network": {"provider:network_type": "vxlan"}})
    neutron_error(forbidden, 403, "PolicyNotAuthorized")
    neutron_error(m1.post(f"{API}/networks", json={"network": {"shared": True}}), 403)
    flat = admin.post(
        f"{API}/networks",
        json={
            "network": {
                "name": "flatnet",
                "shared": True,
                "provider:network_type": "flat",
                "provider:physical_network": "physnet-netapi",
            }
        },
    )
    assert flat.status_code == 201, flat.text
    flat_body = flat.json()["network"]
    assert flat_body["provider:segmentation_id"] is None and flat_body["mtu"] == 1500
    neutron_error(
        admin.post(
            f"{API}/networks",
            json={
                "network": {
                    "provider:network_type": "flat",
                    "provider:physical_network": "physnet-netapi",
                }
            },
        ),
        409,
        "FlatNetworkInUse",
    )
    vlan = {
        "provider:network_type": "vlan",
        "provider:physical_network": "physnet-netapi",
        "provider:segmentation_id": 150,
    }
    assert admin.post(f"{API}/networks", json={"network": vlan}).status_code == 201
    neutron_error(admin.post(f"{API}/networks", json={"network": vlan}), 409, "SegmentationIdInUse")
    auto = admin.post(
        f"{API}/networks",
        json={
            "network": {
                "provider:network_type": "vlan",
                "provider:physical_network": "physnet-netapi",
            }
        },
    ).json()["network"]
    assert 100 <= auto["provider:segmentation_id"] <= 199
    # The shared network is visible to every project, without provider attributes.
    seen = m2.get(f"{API}/networks/{flat_body['id']}").json()["network"]
    assert seen["shared"] is True and "provider:network_type" not in seen
    listed = m2.get(f"{API}/networks", params={"shared": "true"}).json()["networks"]
    assert flat_body["id"] in {n["id"] for n in listed}
    # ... and a member of another project may put a port on it, but not change it.
    port = m2.post(f"{API}/ports", json={"port": {"network_id": flat_body["id"]}})
    assert port.status_code == 201, port.text
    assert "binding:host_id" not in port.json()["port"]
    neutron_error(m2.put(f"{API}/networks/{flat_body['id']}", json={"network": {"name": "x"}}), 403)
    neutron_error(
        m2.post(
            f"{API}/ports",
            json={"port": {"network_id": flat_body["id"], "binding:host_id": "h1"}},
        ),
        403,
    )
    bound = admin.put(
        f"{API}/ports/{port.json()['port']['id']}", json={"port": {"binding:host_id": "netapi-h1"}}
    ).json()["port"]
    assert bound["binding:vif_type"] == "bridge" and bound["binding:host_id"] == "netapi-h1"
    assert bound["binding:vif_details"]["bridge_name"].startswith("brq")


def test_listing_fields_filters_sorting_paging(cloud: ControlPlane, clients) -> None:
    m1 = clients["m1"]
    names = [f"page-{n}" for n in range(5)]
    made = [
        m1.post(
            f"{API}/networks", json={"network": {"name": name, "admin_state_up": n % 2 == 0}}
        ).json()["network"]["id"]
        for n, name in enumerate(names)
    ]
    got = m1.get(f"{API}/networks", params=[("name", "page-1"), ("name", "page-3")]).json()
    assert sorted(n["name"] for n in got["networks"]) == ["page-1", "page-3"]
    down = m1.get(f"{API}/networks", params={"admin_state_up": "False"}).json()["networks"]
    assert {n["name"] for n in down} == {"page-1", "page-3"}
    only = m1.get(f"{API}/networks", params=[("fields", "id"), ("fields", "name")]).json()
    assert all(set(n) == {"id", "name"} for n in only["networks"])
    neutron_error(m1.get(f"{API}/networks", params={"colour": "blue"}), 400)
    params = [("sort_key", "name"), ("sort_dir", "desc"), ("limit", "2")]
    seen, url, pages = [], f"{API}/networks", 0
    query: Any = params + [("name", n) for n in names]
    while url:
        body = m1.get(url, params=query).json()
        seen += [n["name"] for n in body["networks"]]
        pages += 1
        nxt = [link["href"] for link in body.get("networks_links", []) if link["rel"] == "next"]
        url, query = (nxt[0].replace(cloud.url, ""), None) if nxt else ("", None)
        assert pages < 10
    assert seen == sorted(names, reverse=True) and pages == 3
    for network_id in made:
        assert m1.delete(f"{API}/networks/{network_id}").status_code == 204


def test_ipv6_slaac_addresses_come_from_the_mac(cloud: ControlPlane, clients) -> None:
    m1 = clients["m1"]
    net = m1.post(f"{API}/networks", json={"network": {"name": "v6net"}}).json()["network"]
    v4 = m1.post(
        f"{API}/subnets",
        json={"subnet": {"network_id": net["id"], "ip_version": 4, "cidr": "10.60.0.0/24"}},
    )
    v6 = m1.post(
        f"{API}/subnets",
        json={
            "subnet": {
                "network_id": net["id"],
                "ip_version": 6,
                "cidr": "2001:db8:60::/64",
                "ipv6_address_mode": "slaac",
                "ipv6_ra_mode": "slaac",
            }
        },
    )
    assert v4.status_code == v6.status_code == 201, (v4.text, v6.text)
    port = m1.post(f"{API}/ports", json={"port": {"network_id": net["id"]}}).json()["port"]
    by_subnet = {ip["subnet_id"]: ip["ip_address"] for ip in port["fixed_ips"]}
    expected = str(
        netaddr.EUI(port["mac_address"]).ipv6(netaddr.IPNetwork("2001:db8:60::/64").first)
    )
    assert by_subnet[v6.json()["subnet"]["id"]] == expected
    assert netaddr.IPAddress(by_subnet[v4.json()["subnet"]["id"]]) in netaddr.IPNetwork(
        "10.60.0.0/24"
    )


def test_quotas(cloud: ControlPlane, clients, people) -> None:
    admin, m2 = clients["admin"], clients["m2"]
    cloud.openstack("quota", "set", "--networks", "2", "p2")
    shown = admin.get(f"{API}/quotas/{people['p2']}").json()["quota"]
    assert shown["network"] == 2 and shown["subnet"] == 100 and shown["port"] == 500
    assert admin.get(f"{API}/quotas/{people['p2']}/default").json()["quota"]["network"] == 100
    used = len(
        [n for n in m2.get(f"{API}/networks").json()["networks"] if n["project_id"] == people["p2"]]
    )
    for _ in range(2 - used):
        assert m2.post(f"{API}/networks", json={"network": {}}).status_code == 201
    neutron_error(m2.post(f"{API}/networks", json={"network": {}}), 409, "OverQuota")
    details = m2.get(f"{API}/quotas/{people['p2']}/details.json").json()["quota"]
    assert details["network"] == {"limit": 2, "used": 2, "reserved": 0}
    neutron_error(m2.put(f"{API}/quotas/{people['p2']}", json={"quota": {"network": 9}}), 403)
    neutron_error(m2.get(f"{API}/quotas/{people['p1']}"), 403)
    assert admin.delete(f"{API}/quotas/{people['p2']}").status_code == 204
    assert admin.get(f"{API}/quotas/{people['p2']}").json()["quota"]["network"] == 100


def test_concurrent_ports_never_share_an_address(cloud: ControlPlane, clients, people) -> None:
    """200 port creations at once against three API workers on one /24; then a
    full /29 answers 409 IpAddressGenerationFailure and leaves no port behind."""
    admin = clients["admin"]
    token = admin.headers["X-Auth-Token"]
    net = admin.post(f"{API}/networks", json={"network": {"name": "busy"}}).json()["network"]
    admin.post(
        f"{API}/subnets",
        json={"subnet": {"network_id": net["id"], "ip_version": 4, "cidr": "10.70.0.0/24"}},
    ).json()["subnet"]

    def create(_: int) -> httpx.Response:
        with httpx.Client(base_url=cloud.url, headers={"X-Auth-Token": token}, timeout=120) as c:
            return c.post(f"{API}/ports", json={"port": {"network_id": net["id"]}})

    with ThreadPoolExecutor(max_workers=24) as pool:
        responses = list(pool.map(create, range(200)))
    assert [r.status_code for r in responses] == [201] * 200, {
        r.text for r in responses if r.status_code != 201
    }
    addresses = [r.json()["port"]["fixed_ips"][0]["ip_address"] for r in responses]
    assert len(set(addresses)) == 200
    assert "10.70.0.1" not in addresses and "10.70.0.2" not in addresses  # gateway, DHCP
    availability = admin.get(f"{API}/network-ip-availabilities/{net['id']}").json()
    assert availability["network_ip_availability"]["used_ips"] == 201
    assert availability["network_ip_availability"]["total_ips"] == 253
    neutron_error(clients["m1"].get(f"{API}/network-ip-availabilities"), 403)

    small = admin.post(f"{API}/networks", json={"network": {"name": "small"}}).json()["network"]
    admin.post(
        f"{API}/subnets",
        json={"subnet": {"network_id": small["id"], "ip_version": 4, "cidr": "10.71.0.0/29"}},
    )  # 6 usable: gateway, DHCP and 4 for ports

    def create_small(_: int) -> httpx.Response:
        with httpx.Client(base_url=cloud.url, headers={"X-Auth-Token": token}, timeout=120) as c:
            return c.post(f"{API}/ports", json={"port": {"network_id": small["id"]}})

    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(create_small, range(10)))
    assert sorted(r.status_code for r in results) == [201] * 4 + [409] * 6
    for failed in (r for r in results if r.status_code == 409):
        neutron_error(failed, 409, "IpAddressGenerationFailure")
    ports = admin.get(f"{API}/ports", params={"network_id": small["id"]}).json()["ports"]
    assert len(ports) == 5  # four ports and the DHCP port: nothing half-made


def test_tags_through_the_cli_and_filters(cloud: ControlPlane, clients) -> None:
    m1, m2 = clients["m1"], clients["m2"]
    run = dict(user="m1", password="m1-pw", project="p1")
    net = cloud.openstack_json(
        "network", "create", "--tag", "blue", "--tag", "red", "tagnet", **run
    )
    assert sorted(net["tags"]) == ["blue", "red"]
    cloud.openstack("network", "set", "--tag", "green", "tagnet", **run)
    cloud.openstack("network", "unset", "--tag", "red", "tagnet", **run)
    shown = cloud.openstack_json("network", "show", "tagnet", **run)
    assert sorted(shown["tags"]) == ["blue", "green"]
    listed = cloud.openstack_json("network", "list", "--tags", "blue,green", **run)
    assert [n["ID"] for n in listed] == [net["id"]]
    assert cloud.openstack_json("network", "list", "--any-tags", "red", **run) == []
    assert m1.get(f"{API}/networks/{net['id']}/tags/blue").status_code == 204
    neutron_error(m1.get(f"{API}/networks/{net['id']}/tags/red"), 404)
    neutron_error(m1.put(f"{API}/networks/{net['id']}/tags", json={"tags": ["a,b"]}), 400)
    neutron_error(m2.put(f"{API}/networks/{net['id']}/tags/x"), 404, "NetworkNotFound")
    assert m1.delete(f"{API}/networks/{net['id']}/tags").status_code == 204
    assert m1.get(f"{API}/networks/{net['id']}").json()["network"]["tags"] == []
    assert m1.delete(f"{API}/networks/{net['id']}").status_code == 204


def test_reader_and_malformed_requests(cloud: ControlPlane, clients) -> None:
    r1, m1 = clients["r1"], clients["m1"]
    net = m1.post(f"{API}/networks", json={"network": {"name": "readable"}}).json()["network"]
    assert r1.get(f"{API}/networks/{net['id']}").status_code == 200
    neutron_error(r1.post(f"{API}/networks", json={"network": {}}), 403, "PolicyNotAuthorized")
    neutron_error(r1.delete(f"{API}/networks/{net['id']}"), 403, "PolicyNotAuthorized")
    bad_json = m1.post(
        f"{API}/networks", content=b"{bad", headers={"Content-Type": "application/json"}
    )
    neutron_error(bad_json, 400)
    neutron_error(m1.get(f"{API}/qos/policies"), 404)  # an extension Stratus lacks
    neutron_error(httpx.get(f"{cloud.url}{API}/networks"), 401)
    assert m1.delete(f"{API}/networks/{net['id']}").status_code == 204


def test_quota_holds_under_concurrent_creates(cloud: ControlPlane, clients, people) -> None:
    """30 port creations at once in a project allowed 10 ports: exactly 10 made."""
    admin, m2 = clients["admin"], clients["m2"]
    token = m2.headers["X-Auth-Token"]
    net = m2.post(f"{API}/networks", json={"network": {"name": "quota-race"}}).json()["network"]
    assert net["project_id"] == people["p2"]
    held = len(m2.get(f"{API}/ports").json()["ports"])
    admin.put(f"{API}/quotas/{people['p2']}", json={"quota": {"port": held + 10}})

    def create(_: int) -> httpx.Response:
        with httpx.Client(base_url=cloud.url, headers={"X-Auth-Token": token}, timeout=120) as c:
            return c.post(f"{API}/ports", json={"port": {"network_id": net["id"]}})

    with ThreadPoolExecutor(max_workers=15) as pool:
        results = list(pool.map(create, range(30)))
    assert sorted(r.status_code for r in results) == [201] * 10 + [409] * 20
    for failed in (r for r in results if r.status_code == 409):
        neutron_error(failed, 409, "OverQuota")
    assert len(m2.get(f"{API}/ports").json()["ports"]) == held + 10
    admin.delete(f"{API}/quotas/{people['p2']}")
