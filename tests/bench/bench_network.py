"""Network benchmark: ports per second, and what a network adds to a boot.

1. Port create/s and delete/s through the Networking API of a real control plane
   (``[api] workers`` API worker processes, SQLite, RabbitMQ, a network agent
   serving DHCP for the network), one client at a time and CLIENTS at once, on a
   /22 subnet of a vxlan tenant network.
2. API request to ACTIVE of QEMU (TCG) guests with a cached image, booted on that
   network (one port each) and with ``networks: "none"``, interleaved in one run
   (the order alternating each round), p50 and p95 of each and the difference of
   the p50s against the target: a network adds under 150 ms.

Run with ``make bench-network`` (``--ports N`` ports per pass, ``--rounds N`` boots of
each kind). Prints figures; it is not a pass/fail test. Everything it makes is
named after the branch (``netbench``) and removed at the end; the vxlan network's
VTEP is 127.0.0.1 and no tenant address reaches the root namespace.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import statistics
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from stratus.network.linux import names  # noqa: E402
from tests.bench.common import NETWORK, ApiClient, Booter, percentile, prepare  # noqa: E402
from tests.support.cloud import Cloud  # noqa: E402
from tests.support.libvirtd import ensure_libvirtd  # noqa: E402
from tests.support.rabbitmq import RabbitMQServer  # noqa: E402

SFX = uuid.uuid4().hex[:6]
HOST = f"netbench-{SFX}"
CIDR = "10.79.0.0/22"
API_WORKERS = 2
CLIENTS = 8
TARGET_MS = 150


def create_ports(client: ApiClient, network_id: str, count: int, name: str) -> list[str]:
    ids = []
    for index in range(count):
        _, body = client.request(
            "POST", "/ports", {"port": {"network_id": network_id, "name": f"{name}-{index}"}}
        )
        ids.append(body["port"]["id"])
    return ids


def delete_ports(client: ApiClient, port_ids: list[str]) -> None:
    for port_id in port_ids:
        client.request("DELETE", f"/ports/{port_id}")


def port_rates(cloud: Cloud, network_id: str, count: int, clients: int) -> dict[str, float]:
    """Ports created, then deleted, per second by ``clients`` clients sharing
    ``count`` ports, each client on its own keep-alive connection."""
    token = cloud.token()
    connections = [ApiClient(cloud.url, token, NETWORK) for _ in range(clients)]
    share = count // clients
    with ThreadPoolExecutor(max_workers=clients) as pool:
        started = time.perf_counter()
        made = list(
            pool.map(
                lambda i: create_ports(connections[i], network_id, share, f"{HOST}-c{i}"),
                range(clients),
            )
        )
        created = time.perf_counter() - started
        started = time.perf_counter()
        list(pool.map(lambda i: delete_ports(connections[i], made[i]), range(clients)))
        deleted = time.perf_counter() - started
    total = share * clients
    return {"create": total / created, "delete": total / deleted}


def boots(booter: Booter, network_id: str, rounds: int) -> dict[str, list[float]]:
    """``rounds`` boots on the network and as many without, interleaved, each
    server deleted before the next boot."""
    kinds = {"none": "none", "network": [{"uuid": network_id}]}
    server_id, _ = booter.boot(f"{HOST}-warm-up")  # fills the image cache
    booter.delete(server_id)
    server_id, _ = booter.boot(f"{HOST}-warm-up-net", networks=kinds["network"])
    booter.delete(server_id)
    timings: dict[str, list[float]] = {kind: [] for kind in kinds}
    for index in range(rounds):
        order = list(kinds) if index % 2 == 0 else list(reversed(kinds))
        for kind in order:
            server_id, seconds = booter.boot(f"{HOST}-{kind}-{index}", networks=kinds[kind])
            timings[kind].append(seconds)
            booter.delete(server_id)
    return timings


def clean_up(cloud: Cloud, network: dict) -> None:
    """Delete the servers and the network through the API and wait until the agents
    removed the network's bridge, VXLAN device and DHCP namespace."""
    client = ApiClient(cloud.url, cloud.token())
    for server in client.request("GET", "/servers")[1]["servers"]:
        client.request("DELETE", f"/servers/{server['id']}")
    deadline = time.monotonic() + 60
    while client.request("GET", "/servers")[1]["servers"] and time.monotonic() < deadline:
        time.sleep(0.2)
    if network:
        ApiClient(cloud.url, cloud.token(), NETWORK).request("DELETE", f"/networks/{network['id']}")
        while data_plane(cloud, network) and time.monotonic() < deadline:
            time.sleep(0.2)


def data_plane(cloud: Cloud, network: dict) -> list[list[str]]:
    """The commands that remove what is left of the network's data plane and of
    the guests of ``cloud``."""
    found = []
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    if network and names.dhcp_namespace(network["id"]) in namespaces:
        found.append(["ip", "netns", "delete", names.dhcp_namespace(network["id"])])
    devices = [names.bridge_name(network["id"])] if network else []
    if network.get("provider:segmentation_id"):
        devices.append(names.vxlan_name(network["provider:segmentation_id"]))
    for device in devices:
        if Path(f"/sys/class/net/{device}").exists():
            found.append(["ip", "link", "delete", device])
    return found


def remove_leftovers(cloud: Cloud, network: dict) -> None:
    for command in data_plane(cloud, network):
        print(f"removing a leftover: {' '.join(command)}", file=sys.stderr)
        subprocess.run(command, capture_output=True)
    virsh = ["virsh", "-c", "qemu:///system"]
    listed = subprocess.run([*virsh, "list", "--all", "--uuid"], capture_output=True, text=True)
    for domain in listed.stdout.split():
        xml = subprocess.run([*virsh, "dumpxml", domain], capture_output=True, text=True).stdout
        if str(cloud.workdir) in xml:
            subprocess.run([*virsh, "destroy", domain], capture_output=True)
            subprocess.run([*virsh, "undefine", domain, "--nvram"], capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ports", type=int, default=400, help="ports per pass")
    parser.add_argument("--rounds", type=int, default=15, help="boots of each kind")
    args = parser.parse_args()
    subprocess.run([str(ROOT / "tests/images/build-tiny-image")], check=True)
    ensure_libvirtd()
    rabbit = RabbitMQServer()
    rabbit.start()
    vni = random.randrange(100_000, 16_000_000)
    cloud = Cloud(
        rabbit.transport_url,
        extra_conf={
            "DEFAULT": {"report_interval": 5, "service_down_time": 60},
            "api": {"workers": API_WORKERS},
            "network": {"vni_ranges": f"{vni}:{vni + 4}"},
        },
    )
    network: dict = {}
    try:
        cloud.start()
        network_conf = {"local_ip": "127.0.0.1", "state_path": cloud.workdir / HOST / "network"}
        cloud.add_compute(HOST, extra={"network": network_conf})
        cloud.add_network_agent(HOST, {**network_conf, "dhcp_agent": "true"})
        booter = prepare(cloud, 1)
        net = ApiClient(cloud.url, booter.token, NETWORK)
        project_id = cloud.openstack_json("project", "show", "admin")["id"]
        net.request("PUT", f"/quotas/{project_id}", {"quota": {"port": -1}})
        network = net.request("POST", "/networks", {"network": {"name": HOST}})[1]["network"]
        subnet = {"network_id": network["id"], "ip_version": 4, "cidr": CIDR}
        net.request("POST", "/subnets", {"subnet": {**subnet, "name": f"{HOST}-v4"}})
        rates = {
            "sequential": port_rates(cloud, network["id"], args.ports, 1),
            f"{CLIENTS} clients": port_rates(cloud, network["id"], args.ports, CLIENTS),
        }
        timings = boots(booter, network["id"], args.rounds)
    finally:
        with contextlib.suppress(Exception):
            clean_up(cloud, network)
        cloud.stop()
        rabbit.stop()
        remove_leftovers(cloud, network)

    print(
        f"\nPorts through the Networking API ({API_WORKERS} API workers, SQLite; "
        f"{args.ports} ports per pass on {CIDR}, DHCP on)"
    )
    print(f"{'clients':20} {'create/s':>10} {'delete/s':>10}")
    for name, rate in rates.items():
        print(f"{name:20} {rate['create']:10.1f} {rate['delete']:10.1f}")
    print(
        f"\nAPI request to ACTIVE, QEMU TCG, cached image ({args.rounds} boots of each "
        "kind, interleaved)"
    )
    print(f"{'networks':20} {'p50 ms':>10} {'p95 ms':>10}")
    for kind, values in timings.items():
        label = "none" if kind == "none" else "vxlan + DHCP subnet"
        p50, p95 = statistics.median(values) * 1000, percentile(values, 0.95) * 1000
        print(f"{label:20} {p50:10.0f} {p95:10.0f}")
    added = (statistics.median(timings["network"]) - statistics.median(timings["none"])) * 1000
    verdict = "met" if added < TARGET_MS else "NOT met"
    print(f"\na network adds {added:.0f} ms to the p50 (target: under {TARGET_MS} ms: {verdict})")


if __name__ == "__main__":
    main()
