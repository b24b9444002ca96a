"""Security groups through the Networking API v2.0 and the compute API: the real
``openstack`` CLI where users use it, raw HTTP for error shapes and listing, on a
real cloud (stratus-api with three workers, -scheduler, -conductor over a real
RabbitMQ, SQLite) with one compute host on the in-memory fake driver (guests are
not what these tests look at: the ports the conductor makes for them are). The
concurrent first use of a project's default group runs on MariaDB too.
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
from tests.support.cloud import Cloud, ControlPlane

API = "/networking/v2.0"
SFX = uuid.uuid4().hex[:6]
HOST = f"secgroups-{SFX}"
VNIS = range(3000, 3100)
CONF = {"api": {"workers": 3}, "network": {"vni_ranges": f"{VNIS.start}:{VNIS.stop - 1}"}}


@pytest.fixture(scope="module")
def cloud(rabbitmq: Any) -> Iterator[Cloud]:
    """A control plane, a fake-driver compute whose servers' vxlan networks get real
    bridges (VTEP 127.0.0.1, no peer), and the host's network agent, which removes
    them when the networks go (at teardown)."""
    made = Cloud(rabbitmq.transport_url, extra_conf=CONF)
    made.start()
    made.add_compute(HOST, driver="fake", extra={"network": {"local_ip": "127.0.0.1"}})
    made.add_network_agent(HOST, {"local_ip": "127.0.0.1"})
    yield made
    made.remove_networks(VNIS)
    made.stop()


def _people(cloud: ControlPlane, members: tuple[str, ...]) -> dict[str, str]:
    """A project per member (``m1`` in ``p-m1``), raw HTTP (fast)."""
    ids: dict[str, str] = {}
    with cloud.client() as admin:
        roles = {r["name"]: r["id"] for r in admin.get("/identity/v3/roles").json()["roles"]}
        for user in members:
            project = admin.post("/identity/v3/projects", json={"project": {"name": f"p-{user}"}})
            ids[f"p-{user}"] = project.json()["project"]["id"]
            body = {"user": {"name": user, "password": f"{user}-pw"}}
            ids[user] = admin.post("/identity/v3/users", json=body).json()["user"]["id"]
            admin.put(
                f"/identity/v3/projects/{ids[f'p-{user}']}/users/{ids[user]}"
                f"/roles/{roles['member']}"
            ).raise_for_status()
    return ids


@pytest.fixture(scope="module")
def people(cloud: Cloud) -> dict[str, str]:
    return _people(cloud, ("m1", "m2", "m3"))


@pytest.fixture(scope="module")
def clients(cloud: Cloud, people: dict[str, str]) -> Iterator[dict[str, httpx.Client]]:
    made = {"admin": cloud.client()}
    for user in ("m1", "m2"):
        made[user] = cloud.client(cloud.token(user, f"{user}-pw", f"p-{user}"))
    yield made
    for client in made.values():
        client.close()


def cli(cloud: ControlPlane, user: str, *args: str) -> Any:
    return cloud.openstack_json(*args, user=user, password=f"{user}-pw", project=f"p-{user}")


def cli_fails(cloud: ControlPlane, user: str, *args: str) -> str:
    done = cloud.openstack(
        *args, user=user, password=f"{user}-pw", project=f"p-{user}", check=False
    )
    assert done.returncode != 0, done.stdout
    return done.stderr


def rule_body(group_id: str, **values: Any) -> dict[str, Any]:
    return {
        "security_group_rule": {"security_group_id": group_id, "direction": "ingress", **values}
    }


def concurrent_first_use(cloud: ControlPlane, user: str, project: str) -> None:
    """Eight first requests of a new project at once make exactly one default group."""
    token = cloud.token(user, f"{user}-pw", project)

    def first(_: int) -> int:
        with cloud.client(token) as client:
            return client.get(f"{API}/security-groups").status_code

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(first, range(8))) == {200}
    with cloud.client(token) as client:
        groups = client.get(f"{API}/security-groups").json()["security_groups"]
    assert [g["name"] for g in groups] == ["default"]


def test_default_group_and_its_rules(cloud: Cloud, people: dict[str, str]) -> None:
    groups = cli(cloud, "m1", "security", "group", "list")
    assert [g["Name"] for g in groups] == ["default"]
    default = groups[0]["ID"]
    rules = cli(cloud, "m1", "security", "group", "rule", "list", "default", "--long")
    seen = sorted(
        (r["Direction"], r["Ethertype"], r["IP Protocol"], r["Remote Security Group"])
        for r in rules
    )
    assert seen == [
        ("egress", "IPv4", None, None),
        ("egress", "IPv6", None, None),
        ("ingress", "IPv4", None, default),
        ("ingress", "IPv6", None, default),
    ]
    with cloud.client(cloud.token("m1", "m1-pw", "p-m1")) as m1:
        message = neutron_error(
            m1.delete(f"{API}/security-groups/{default}"), 409, "SecurityGroupCannotRemoveDefault"
        )
        assert "default security group" in message
        again = m1.post(f"{API}/security-groups", json={"security_group": {"name": "default"}})
        neutron_error(again, 409, "SecurityGroupDefaultAlreadyExists")
        renamed = m1.put(f"{API}/security-groups/{default}", json={"security_group": {"name": "x"}})
        neutron_error(renamed, 409, "SecurityGroupCannotUpdateDefault")


def test_concurrent_first_use_makes_one_default_group(cloud: Cloud, people: dict[str, str]) -> None:
    concurrent_first_use(cloud, "m3", "p-m3")


def test_group_and_rule_crud_through_the_cli(
    cloud: Cloud, clients: dict[str, httpx.Client]
) -> None:
    m1 = clients["m1"]
    web = cli(cloud, "m1", "security", "group", "create", "--description", "web tier", "web")
    assert web["name"] == "web" and web["description"] == "web tier" and web["stateful"]
    # A new group allows all egress, as Neutron's do.
    assert sorted(r["ethertype"] for r in web["rules"] if r["direction"] == "egress") == [
        "IPv4",
        "IPv6",
    ]
    ssh = cli(
        cloud, "m1", "security", "group", "rule", "create", "--protocol", "tcp",
        "--dst-port", "22", "--remote-ip", "192.0.2.0/24", "web",
    )  # fmt: skip
    assert (ssh["protocol"], ssh["port_range_min"], ssh["port_range_max"]) == ("tcp", 22, 22)
    assert ssh["remote_ip_prefix"] == "192.0.2.0/24" and ssh["direction"] == "ingress"
    ping = m1.post(
        f"{API}/security-group-rules",
        json=rule_body(web["id"], protocol="icmp", port_range_min=8, port_range_max=0),
    ).json()["security_group_rule"]
    assert (ping["protocol"], ping["port_range_min"], ping["port_range_max"]) == ("icmp", 8, 0)
    renamed = m1.put(
        f"{API}/security-groups/{web['id']}", json={"security_group": {"name": "web2"}}
    )
    assert renamed.json()["security_group"]["name"] == "web2"
    shown = m1.get(f"{API}/security-groups/{web['id']}").json()["security_group"]
    assert len(shown["security_group_rules"]) == 4
    # Listing through the generic filters, sorting, paging and fields.
    found = m1.get(
        f"{API}/security-group-rules",
        params={"security_group_id": web["id"], "protocol": "tcp", "fields": ["id", "protocol"]},
    ).json()["security_group_rules"]
    assert found == [{"id": ssh["id"], "protocol": "tcp"}]
    page = m1.get(
        f"{API}/security-groups", params={"sort_key": "name", "sort_dir": "asc", "limit": 1}
    ).json()
    assert [g["name"] for g in page["security_groups"]] == ["default"]
    assert page["security_groups_links"][0]["rel"] == "next"
    neutron_error(m1.get(f"{API}/security-groups", params={"bogus": "1"}), 400)
    # Another project sees none of it.
    assert clients["m2"].get(f"{API}/security-groups/{web['id']}").status_code == 404
    assert clients["m2"].get(f"{API}/security-group-rules/{ssh['id']}").status_code == 404
    cloud.openstack(
        "security", "group", "rule", "delete", ssh["id"], user="m1", password="m1-pw",
        project="p-m1",
    )  # fmt: skip
    assert m1.get(f"{API}/security-group-rules/{ssh['id']}").status_code == 404
    cloud.openstack(
        "security", "group", "delete", "web2", user="m1", password="m1-pw", project="p-m1"
    )
    assert m1.get(f"{API}/security-groups/{web['id']}").status_code == 404
    left = m1.get(f"{API}/security-group-rules", params={"security_group_id": web["id"]})
    assert left.json()["security_group_rules"] == []


def test_bad_rules_name_the_field_and_make_nothing(clients: dict[str, httpx.Client]) -> None:
    m1 = clients["m1"]
    group = m1.post(f"{API}/security-groups", json={"security_group": {"name": "bad"}})
    assert group.status_code == 201, group.text
    gid = group.json()["security_group"]["id"]
    other = m1.post(f"{API}/security-groups", json={"security_group": {"name": "peer"}})
    peer = other.json()["security_group"]["id"]

    def rule(**values: Any) -> httpx.Response:
        return m1.post(f"{API}/security-group-rules", json=rule_body(gid, **values))

    def count() -> int:
        params = {"security_group_id": gid}
        return len(
            m1.get(f"{API}/security-group-rules", params=params).json()["security_group_rules"]
        )

    before = count()
    icmp, tcp = {"protocol": "icmp"}, {"protocol": "tcp"}
    no_direction = {"security_group_rule": {"security_group_id": gid}}
    cases = [
        (rule(**icmp, port_range_min=256), "SecurityGroupInvalidIcmpValue", "port_range_min"),
        (rule(**icmp, port_range_min=8, port_range_max=300), None, "port_range_max"),
        (rule(**icmp, port_range_max=0), "SecurityGroupMissingIcmpType", "port_range_min"),
        (rule(protocol="bogus"), "SecurityGroupRuleInvalidProtocol", "protocol"),
        (rule(protocol="256"), "SecurityGroupRuleInvalidProtocol", "protocol"),
        (
            rule(remote_ip_prefix="10.0.0.0/8", remote_group_id=peer),
            "SecurityGroupRemoteGroupAndRemoteIpPrefix",
            "remote_ip_prefix",
        ),
        (
            rule(**tcp, port_range_min=90, port_range_max=80),
            "SecurityGroupInvalidPortRange",
            "port_range_min",
        ),
        (rule(**tcp, port_range_min=1, port_range_max=70000), None, "port_range_max"),
        (rule(port_range_min=22, port_range_max=22), None, "protocol"),
        (rule(protocol="gre", port_range_min=1, port_range_max=2), None, "port_range_min"),
        (
            rule(remote_ip_prefix="fd00::/64"),
            "SecurityGroupRuleParameterConflict",
            "remote_ip_prefix",
        ),
        (rule(remote_ip_prefix="10.0.0.300/8"), None, "remote_ip_prefix"),
        (rule(ethertype="IPv5"), "SecurityGroupRuleInvalidEtherType", "ethertype"),
        (rule(protocol="icmpv6"), "SecurityGroupEthertypeConflictWithProtocol", "protocol"),
        (m1.post(f"{API}/security-group-rules", json=no_direction), None, "direction"),
    ]
    for response, kind, field in cases:
        assert field in neutron_error(response, 400, kind), response.text
    assert count() == before
    made = rule(protocol="tcp", port_range_min=80, port_range_max=80)
    assert made.status_code == 201, made.text
    message = neutron_error(
        rule(protocol="6", port_range_min=80, port_range_max=80), 409, "SecurityGroupRuleExists"
    )
    assert made.json()["security_group_rule"]["id"] in message
    # Concurrent equal rules: one is made, the others are told it exists.
    with ThreadPoolExecutor(4) as pool:
        codes = sorted(
            pool.map(lambda _: rule(protocol="udp", ethertype="IPv6").status_code, range(4))
        )
    assert codes == [201, 409, 409, 409]
    remote = rule(protocol="tcp", port_range_min=5000, port_range_max=5001, remote_group_id=peer)
    assert remote.status_code == 201, remote.text
    # Deleting the remote group takes the rules that name it along.
    assert m1.delete(f"{API}/security-groups/{peer}").status_code == 204
    gone = m1.get(f"{API}/security-group-rules/{remote.json()['security_group_rule']['id']}")
    assert gone.status_code == 404


def test_quotas(clients: dict[str, httpx.Client], people: dict[str, str]) -> None:
    admin, m2 = clients["admin"], clients["m2"]
    project = people["p-m2"]
    answer = admin.put(
        f"{API}/quotas/{project}", json={"quota": {"security_group": 2, "security_group_rule": 8}}
    )
    assert answer.status_code == 200, answer.text
    first = m2.post(f"{API}/security-groups", json={"security_group": {"name": "q1"}})
    assert first.status_code == 201  # default (made on first use) + q1 = 2
    neutron_error(
        m2.post(f"{API}/security-groups", json={"security_group": {"name": "q2"}}), 409, "OverQuota"
    )
    gid = first.json()["security_group"]["id"]
    # default 4 + q1 2 = 6 rules; two more fit, the third does not.
    for port in (1, 2):
        body = rule_body(gid, protocol="tcp", port_range_min=port, port_range_max=port)
        assert m2.post(f"{API}/security-group-rules", json=body).status_code == 201
    body = rule_body(gid, protocol="tcp", port_range_min=3, port_range_max=3)
    neutron_error(m2.post(f"{API}/security-group-rules", json=body), 409, "OverQuota")
    details = admin.get(f"{API}/quotas/{project}/details.json").json()["quota"]
    assert details["security_group"] == {"limit": 2, "used": 2, "reserved": 0}
    assert details["security_group_rule"]["used"] == 8
    assert admin.delete(f"{API}/quotas/{project}").status_code == 204


def network_with_subnet(client: httpx.Client, name: str, cidr: str) -> str:
    body = {"network": {"name": name}}
    network = client.post(f"{API}/networks", json=body).json()["network"]
    body = {"subnet": {"network_id": network["id"], "ip_version": 4, "cidr": cidr}}
    assert client.post(f"{API}/subnets", json=body).status_code == 201
    return network["id"]


def new_group(client: httpx.Client, name: str) -> dict[str, Any]:
    made = client.post(f"{API}/security-groups", json={"security_group": {"name": name}})
    assert made.status_code == 201, made.text
    return made.json()["security_group"]


def test_ports_carry_groups_and_address_pairs(
    cloud: Cloud, clients: dict[str, httpx.Client]
) -> None:
    m1 = clients["m1"]
    net_id = network_with_subnet(m1, "sgnet", "10.81.0.0/24")
    app = new_group(m1, "app")
    default = m1.get(f"{API}/security-groups", params={"name": "default"}).json()
    default_id = default["security_groups"][0]["id"]
    plain = m1.post(f"{API}/ports", json={"port": {"network_id": net_id}}).json()["port"]
    assert plain["security_groups"] == [default_id]
    grouped = cli(
        cloud, "m1", "port", "create", "--network", "sgnet", "--security-group", "app",
        "--allowed-address", "ip-address=10.81.0.200", "grouped",
    )  # fmt: skip
    assert grouped["security_group_ids"] == [app["id"]]
    assert grouped["allowed_address_pairs"] == [
        {"ip_address": "10.81.0.200", "mac_address": grouped["mac_address"]}
    ]
    body = {"port": {"network_id": net_id, "port_security_enabled": False}}
    open_port = m1.post(f"{API}/ports", json=body).json()["port"]
    assert open_port["security_groups"] == []
    # No groups without port security: on create 400, on disabling a grouped port 409.
    neutron_error(
        m1.post(
            f"{API}/ports",
            json={"port": {"network_id": net_id, "port_security_enabled": False,
                           "security_groups": [app["id"]]}},
        ),
        400,
        "PortSecurityAndIPRequiredForSecurityGroups",
    )  # fmt: skip
    neutron_error(
        m1.put(f"{API}/ports/{plain['id']}", json={"port": {"port_security_enabled": False}}),
        409,
        "PortSecurityPortHasSecurityGroup",
    )
    neutron_error(
        m1.put(
            f"{API}/ports/{open_port['id']}",
            json={"port": {"allowed_address_pairs": [{"ip_address": "10.81.0.9"}]}},
        ),
        409,
        "AddressPairAndPortSecurityRequired",
    )
    neutron_error(
        m1.post(f"{API}/ports", json={"port": {"network_id": net_id, "security_groups": ["nope"]}}),
        404,
        "SecurityGroupNotFound",
    )
    cloud.openstack(
        "port", "set", "--no-security-group", "--disable-port-security", plain["id"],
        user="m1", password="m1-pw", project="p-m1",
    )  # fmt: skip
    plain_now = m1.get(f"{API}/ports/{plain['id']}").json()["port"]
    assert plain_now["security_groups"] == [] and plain_now["port_security_enabled"] is False
    # A group in use cannot go.
    neutron_error(m1.delete(f"{API}/security-groups/{app['id']}"), 409, "SecurityGroupInUse")
    for port in (plain, grouped, open_port):
        assert m1.delete(f"{API}/ports/{port['id']}").status_code == 204
    assert m1.delete(f"{API}/security-groups/{app['id']}").status_code == 204


def _wait_for_ports(client: httpx.Client, server_id: str) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        ports = client.get(f"{API}/ports", params={"device_id": server_id}).json()["ports"]
        if ports:
            return ports
        time.sleep(0.2)
    raise AssertionError(f"server {server_id} got no port")


def test_servers_with_security_groups(cloud: Cloud, clients: dict[str, httpx.Client]) -> None:
    admin, m1 = clients["admin"], clients["m1"]
    flavor = f"sg-{SFX}"
    made = admin.post(
        "/compute/v2.1/flavors",
        json={"flavor": {"name": flavor, "ram": 64, "disk": 1, "vcpus": 1}},
    )
    assert made.status_code == 200, made.text
    image = admin.post(
        "/image/v2/images",
        json={"name": f"sg-{SFX}", "disk_format": "raw", "container_format": "bare",
              "visibility": "public"},
    ).json()  # fmt: skip
    admin.put(
        f"/image/v2/images/{image['id']}/file",
        content=b"\0" * 1024,
        headers={"Content-Type": "application/octet-stream"},
    ).raise_for_status()
    net_id = network_with_subnet(m1, "srvnet", "10.82.0.0/24")
    web, db = new_group(m1, "srv-web"), new_group(m1, "srv-db")
    # An unknown group is a 400 naming it, before anything is recorded.
    servers_before = m1.get("/compute/v2.1/servers").json()["servers"]
    body = {
        "server": {
            "name": "nope",
            "flavorRef": made.json()["flavor"]["id"],
            "imageRef": image["id"],
            "networks": [{"uuid": net_id}],
            "security_groups": [{"name": "srv-web"}, {"name": "no-such-group"}],
        }
    }
    refused = m1.post("/compute/v2.1/servers", json=body)
    assert refused.status_code == 400 and "no-such-group" in refused.text, refused.text
    assert m1.get("/compute/v2.1/servers").json()["servers"] == servers_before
    server = cli(
        cloud, "m1", "server", "create", "--flavor", flavor, "--image", image["id"],
        "--network", "srvnet", "--security-group", "srv-web", "--security-group", web["id"],
        "sgserver",
    )  # fmt: skip
    assert server["security_groups"] == [{"name": "srv-web"}], server["security_groups"]
    ports = _wait_for_ports(m1, server["id"])
    assert [p["security_groups"] for p in ports] == [[web["id"]]]
    cloud.openstack(
        "server", "add", "security", "group", "sgserver", "srv-db",
        user="m1", password="m1-pw", project="p-m1",
    )  # fmt: skip
    listed = m1.get(f"/compute/v2.1/servers/{server['id']}/os-security-groups").json()
    assert sorted(g["name"] for g in listed["security_groups"]) == ["srv-db", "srv-web"]
    cloud.openstack(
        "server", "remove", "security", "group", "sgserver", "srv-web",
        user="m1", password="m1-pw", project="p-m1",
    )  # fmt: skip
    port = m1.get(f"{API}/ports/{ports[0]['id']}").json()["port"]
    assert port["security_groups"] == [db["id"]]
    shown = m1.get(f"/compute/v2.1/servers/{server['id']}").json()["server"]
    assert shown["security_groups"] == [{"name": "srv-db"}]
    again = m1.post(
        f"/compute/v2.1/servers/{server['id']}/action",
        json={"removeSecurityGroup": {"name": "srv-web"}},
    )
    assert again.status_code == 400, again.text
    unknown = m1.post(
        f"/compute/v2.1/servers/{server['id']}/action", json={"addSecurityGroup": {"name": "nah"}}
    )
    assert unknown.status_code == 404, unknown.text
    last = m1.post(
        f"/compute/v2.1/servers/{server['id']}/action",
        json={"removeSecurityGroup": {"name": db["id"]}},
    )
    assert last.status_code == 202, last.text
    assert m1.get(f"{API}/ports/{ports[0]['id']}").json()["port"]["security_groups"] == []
    bare = m1.get(f"/compute/v2.1/servers/{server['id']}").json()["server"]
    assert bare["security_groups"] == []
    assert m1.delete(f"/compute/v2.1/servers/{server['id']}").status_code == 204


def test_concurrent_first_use_on_mariadb(mariadb: Any, request: pytest.FixtureRequest) -> None:
    plane = ControlPlane(mariadb.create_database(f"stratus_sg_{SFX}"), extra_conf=CONF)
    plane.start()
    try:
        _people(plane, ("mm",))
        concurrent_first_use(plane, "mm", "p-mm")
    finally:
        plane.stop()
