"""The ports that Stratus creates for a server never outlive it: not when the
server is deleted while the conductor is still creating them, not when its build
fails after they were made.

One cloud for the module: stratus-api, -scheduler and -conductor over a real
RabbitMQ and SQLite, a network agent, and one stratus-compute on the fake driver
with ``[compute] fault_inject_spawn`` set, so that every spawn fails after the
ports were created and bound (the fake driver stands in for libvirt because a
QEMU guest that reliably fails to start has no other cheap trigger, and the
failure is what these tests are about). The network is a vxlan one without DHCP,
its VTEP 127.0.0.1, its VNI range the module's own; no tenant address anywhere.
"""

from __future__ import annotations

import contextlib
import random
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from stratus.network.linux import names
from tests.support.cloud import Cloud
from tests.support.processes import wait_for

pytestmark = pytest.mark.slow

SFX = uuid.uuid4().hex[:6]
HOST = f"netbench-{SFX}"
FLAVOR_ID = f"netbench-{SFX}"
VNI = random.randrange(100_000, 16_000_000)
# Ports the racing server asks for: their creation one after the other is the
# window in which its delete lands.
RACE_PORTS = 40


@pytest.fixture(scope="module")
def cloud(rabbitmq, tiny_images: Path) -> Iterator[Cloud]:
    cloud = Cloud(
        rabbitmq.transport_url,
        extra_conf={"network": {"vni_ranges": f"{VNI}:{VNI + 4}"}},
    )
    cloud.start()
    network_conf = {"local_ip": "127.0.0.1", "state_path": cloud.workdir / HOST / "network"}
    try:
        cloud.add_compute(
            HOST, "fake", {"network": network_conf, "compute": {"fault_inject_spawn": "true"}}
        )
        cloud.add_network_agent(HOST, network_conf)
        with cloud.client() as admin:
            flavor = {"id": FLAVOR_ID, "name": FLAVOR_ID, "ram": 128, "disk": 1, "vcpus": 1}
            admin.post("/compute/v2.1/flavors", json={"flavor": flavor}).raise_for_status()
            image = admin.post(
                "/image/v2/images",
                json={
                    "name": f"netbench-{SFX}",
                    "disk_format": "qcow2",
                    "container_format": "bare",
                },
            ).json()
            admin.put(
                f"/image/v2/images/{image['id']}/file",
                content=(tiny_images / "tiny.qcow2").read_bytes(),
                headers={"Content-Type": "application/octet-stream"},
            ).raise_for_status()
        yield cloud
    finally:
        with contextlib.suppress(Exception):
            remove_all(cloud)
        cloud.stop()


@pytest.fixture(scope="module")
def network(cloud: Cloud) -> dict:
    with cloud.client() as admin:
        created = admin.post("/networking/v2.0/networks", json={"network": {"name": HOST}})
        network = created.json()["network"]
        subnet = {"network_id": network["id"], "ip_version": 4, "cidr": "10.79.4.0/24"}
        subnet |= {"enable_dhcp": False, "name": f"{HOST}-v4"}
        admin.post("/networking/v2.0/subnets", json={"subnet": subnet}).raise_for_status()
    return network


def remove_all(cloud: Cloud) -> None:
    """Delete the servers, ports and networks, and wait until the network agent
    removed the bridges that the compute service made for the builds."""
    with cloud.client() as admin:
        for server in admin.get("/compute/v2.1/servers").json()["servers"]:
            admin.delete(f"/compute/v2.1/servers/{server['id']}")
        wait_for(
            lambda: not admin.get("/compute/v2.1/servers").json()["servers"],
            60,
            description="servers gone",
        )
        for port in admin.get("/networking/v2.0/ports").json()["ports"]:
            admin.delete(f"/networking/v2.0/ports/{port['id']}")
        for network in admin.get("/networking/v2.0/networks").json()["networks"]:
            admin.delete(f"/networking/v2.0/networks/{network['id']}")
            bridge = Path(f"/sys/class/net/{names.bridge_name(network['id'])}")
            wait_for(
                lambda b=bridge: not b.exists(), 30, description="the network's bridge removed"
            )


def ports_of(admin, server_id: str) -> list[dict]:
    response = admin.get("/networking/v2.0/ports", params={"device_id": server_id})
    return response.json()["ports"]


def boot(admin, name: str, networks: list[dict]) -> str:
    image = admin.get("/image/v2/images", params={"name": f"netbench-{SFX}"}).json()
    response = admin.post(
        "/compute/v2.1/servers",
        json={
            "server": {
                "name": name,
                "imageRef": image["images"][0]["id"],
                "flavorRef": FLAVOR_ID,
                "networks": networks,
            }
        },
    )
    assert response.status_code == 202, response.text
    return response.json()["server"]["id"]


def test_a_server_deleted_while_its_ports_are_created_leaves_none(
    cloud: Cloud, network: dict
) -> None:
    """The server asks for RACE_PORTS ports; its delete is sent as soon as the
    first exists, while the conductor is still creating the others, before it
    records them in the instance's network info cache (which a delete reads). No
    fault is injected into the race: the timing is the real one. The spawn fault
    only keeps a build that was handed over anyway from cleaning up after itself.

    Tried until one attempt lands in the window, as the conductor's log shows (it
    abandons the build), and at most 5 times; every attempt must leave no port."""
    with cloud.client(microversion="2.100") as admin:
        hit = any(race_once(cloud, admin, network, attempt) for attempt in range(5))
    assert hit, "no attempt deleted the server while its ports were being created"


def race_once(cloud: Cloud, admin, network: dict, attempt: int) -> bool:
    """One server deleted once its first port exists; whether the conductor was
    still creating its ports then. Asserts that none of them is left."""
    log = cloud.services["stratus-conductor"].read_log
    server_id = boot(admin, f"netbench-{SFX}-race{attempt}", [{"uuid": network["id"]}] * RACE_PORTS)
    wait_for(lambda: ports_of(admin, server_id), 60, description="the first port of the server")
    assert admin.delete(f"/compute/v2.1/servers/{server_id}").status_code == 204
    wait_for(
        lambda: admin.get(f"/compute/v2.1/servers/{server_id}").status_code == 404,
        60,
        description="the server deleted",
    )
    # The conductor goes on creating ports after the delete: wait until it is
    # done with them (it abandons the build, or hands it over, or fails it).
    outcomes = (f"build of {server_id} abandoned", f"build of {server_id}: attempt 1")
    wait_for(
        lambda: any(o in log() for o in outcomes),
        60,
        description="the conductor done with the ports",
    )
    wait_for(lambda: not ports_of(admin, server_id), 30, description="no port of the server left")
    time.sleep(1)  # and none comes back
    assert ports_of(admin, server_id) == []
    return outcomes[0] in log()


def test_a_build_failing_after_its_ports_were_made_releases_them(
    cloud: Cloud, network: dict
) -> None:
    """Every spawn fails, so the build ends with no host left to try after the
    conductor created one port and took over the user's: the server is ERROR
    with no addresses, the port Stratus made is deleted, the user's is detached
    and kept, and deleting the server finds nothing more to release."""
    with cloud.client(microversion="2.100") as admin:
        given = admin.post(
            "/networking/v2.0/ports",
            json={"port": {"network_id": network["id"], "name": f"netbench-{SFX}-given"}},
        ).json()["port"]
        server_id = boot(
            admin,
            f"netbench-{SFX}-fails",
            [{"uuid": network["id"]}, {"port": given["id"]}],
        )
        wait_for(
            lambda: (
                admin.get(f"/compute/v2.1/servers/{server_id}").json()["server"]["status"]
                == "ERROR"
            ),
            60,
            description="the build failed",
        )
        server = admin.get(f"/compute/v2.1/servers/{server_id}").json()["server"]
        assert "failed" in server["fault"]["message"], server["fault"]
        assert server["addresses"] == {}
        assert ports_of(admin, server_id) == []
        kept = admin.get(f"/networking/v2.0/ports/{given['id']}").json()["port"]
        assert (kept["device_id"], kept["device_owner"], kept["binding:host_id"]) == ("", "", "")
        assert kept["fixed_ips"] == given["fixed_ips"]
        ports = admin.get("/networking/v2.0/ports", params={"network_id": network["id"]})
        assert [p["id"] for p in ports.json()["ports"]] == [given["id"]]

        assert admin.delete(f"/compute/v2.1/servers/{server_id}").status_code == 204
        wait_for(
            lambda: admin.get(f"/compute/v2.1/servers/{server_id}").status_code == 404,
            60,
            description="the server deleted",
        )
        assert admin.get(f"/networking/v2.0/ports/{given['id']}").status_code == 200
        admin.delete(f"/networking/v2.0/ports/{given['id']}")
