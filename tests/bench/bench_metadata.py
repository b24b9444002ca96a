"""Metadata benchmark: requests per second through the metadata proxy, and latency.

A real ``stratus-metadata`` on SQLite holding one instance, and the network
agent's metadata proxy (``python -m stratus.network.linux.metadata_proxy``)
listening on 169.254.169.254:80 inside a namespace of its own, as in a DHCP
namespace. A client namespace, joined to it by a veth pair, holds the instance's
fixed address and routes 169.254.169.254 through the proxy's side. wrk runs in
the client namespace with CONCURRENCY connections for DURATION, asking for
``openstack/latest/meta_data.json`` (the proxy looks the address up, signs, and
forwards to the service over keep-alive connections): once over keep-alive
connections, once with a new connection per request (as busybox wget and
cloud-init's first requests do). Prints requests/s, p50 and p99 against the
target of 1,000 requests/s with p99 under 20 ms.

Run with ``make bench-metadata`` (root, wrk). Prints figures; it is not a
pass/fail test. Everything it makes is named after the branch (``mdbench``) and
removed at the end; no address is added to the root namespace.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from pyroute2 import netns  # noqa: E402

from stratus.db.models import Instance  # noqa: E402
from stratus.network.linux import metadata_proxy  # noqa: E402
from tests.bench import bench_api  # noqa: E402
from tests.support.cloud import Cloud  # noqa: E402
from tests.support.db import session_for  # noqa: E402
from tests.support.processes import wait_for  # noqa: E402

CONCURRENCY = bench_api.CONCURRENCY
SFX = uuid.uuid4().hex[:6]
PROXY_NS = f"mdbench-{SFX}-p"
CLIENT_NS = f"mdbench-{SFX}-c"
PROXY_IP, CLIENT_IP = "10.251.0.1", "10.251.0.2"
SECRET = uuid.uuid4().hex
PATH = "/openstack/latest/meta_data.json"
TARGET_RPS, TARGET_P99_MS = 1000, 20.0


def sh(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, text=True)


@contextlib.contextmanager
def namespaces() -> Iterator[None]:
    """The proxy's and the client's namespaces, joined by a veth pair."""
    try:
        for ns in (PROXY_NS, CLIENT_NS):
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", PROXY_NS, "link", "add", "eth0", "type", "veth",
           "peer", "name", "eth0", "netns", CLIENT_NS)  # fmt: skip
        sh("ip", "-n", PROXY_NS, "addr", "add", f"{PROXY_IP}/24", "dev", "eth0")
        sh("ip", "-n", PROXY_NS, "addr", "add", metadata_proxy.METADATA_CIDR, "dev", "eth0")
        sh("ip", "-n", CLIENT_NS, "addr", "add", f"{CLIENT_IP}/24", "dev", "eth0")
        for ns in (PROXY_NS, CLIENT_NS):
            sh("ip", "-n", ns, "link", "set", "eth0", "up")
        sh("ip", "-n", CLIENT_NS, "route", "add", metadata_proxy.METADATA_CIDR, "via", PROXY_IP)
        yield
    finally:
        for ns in (PROXY_NS, CLIENT_NS):
            subprocess.run(["ip", "netns", "delete", ns], capture_output=True, check=False)


@contextlib.contextmanager
def inside(namespace: str) -> Iterator[None]:
    """This thread (and what it starts) in ``namespace``, then back."""
    netns.pushns(namespace)
    try:
        yield
    finally:
        netns.popns()


def add_instance(cloud: Cloud) -> str:
    with session_for(cloud.db_url) as session:
        instance = Instance(
            project_id="mdbench", user_id="mdbench", display_name="mdbench",
            hostname="mdbench", vm_state="active", flavor={"name": "mdbench"},
            vcpus=1, memory_mb=128, root_gb=1,
            key_name="mdbench", key_data="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB mdbench",
        )  # fmt: skip
        session.add(instance)
        session.flush()
        return instance.uuid


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of ``pid`` and its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk_seconds() -> float:
    value = str(bench_api.DURATION)
    return float(value[:-1]) * (60 if value.endswith("m") else 1)


def measured(label: str, pids: dict[str, int], run: Callable[[], dict]) -> tuple[str, dict]:
    """``run``'s wrk figures, with the CPU milliseconds per request each of ``pids``
    spent (what the proxy and the service cost, whatever else shares the cores)."""
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    row = run()
    requests = max(1.0, row["rps"] * wrk_seconds())
    row["cpu"] = {
        name: (cpu_seconds(pid) - before[name]) * 1000 / requests for name, pid in pids.items()
    }
    return label, row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", default=bench_api.DURATION, help="wrk -d (e.g. 10s)")
    parser.add_argument(
        "--connections", type=int, default=CONCURRENCY,
        help="wrk -c: fewer connections trade rate for latency",
    )  # fmt: skip
    args = parser.parse_args()
    bench_api.DURATION = args.duration
    bench_api.CONCURRENCY = args.connections
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")
    cloud = Cloud("rabbit://unused:unused@127.0.0.1:1//")  # no service here uses RabbitMQ
    proxy = None
    try:
        cloud.write_conf()
        cloud.manage("db", "sync")
        url = cloud.add_metadata(SECRET)
        service = cloud.services["stratus-metadata"].process
        assert service is not None
        instance_uuid = add_instance(cloud)
        config = cloud.workdir / metadata_proxy.CONFIG_NAME
        config.write_text(
            json.dumps(
                {
                    "metadata_url": url,
                    "shared_secret": SECRET,
                    "instances": {
                        CLIENT_IP: {"instance_id": instance_uuid, "project_id": "mdbench"}
                    },
                }  # fmt: skip
            )
        )
        load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
        with namespaces():
            proxy = subprocess.Popen(
                [sys.executable, "-m", metadata_proxy.MODULE, f"--netns={PROXY_NS}",
                 f"--config={config}", f"--pid-file={cloud.workdir / 'proxy.pid'}",
                 "--foreground"],
                cwd=ROOT,
            )  # fmt: skip
            target = f"http://{metadata_proxy.METADATA_ADDRESS}{PATH}"
            wait_for(
                lambda: f"{metadata_proxy.METADATA_ADDRESS}:80 " in subprocess.run(
                    ["ip", "netns", "exec", PROXY_NS, "ss", "-Htln"],
                    capture_output=True, text=True, check=False,
                ).stdout,
                30,
                description="the proxy listening",
            )  # fmt: skip
            with inside(CLIENT_NS):
                check = subprocess.run(
                    ["wget", "-q", "-O", "-", target],
                    capture_output=True, text=True, timeout=60, check=True,
                )  # fmt: skip
                assert json.loads(check.stdout)["uuid"] == instance_uuid, check.stdout
                pids = {"proxy": proxy.pid, "service": service.pid}
                rows = [
                    measured("keep-alive connections", pids, lambda: bench_api.wrk(target)),
                    measured("a new connection per request", pids,
                             lambda: bench_api.wrk(target, headers={"Connection": "close"})),
                ]  # fmt: skip
            signed = {
                metadata_proxy.INSTANCE_HEADER: instance_uuid,
                metadata_proxy.SIGNATURE_HEADER: metadata_proxy.sign(instance_uuid, SECRET),
            }
            rows.append(
                measured("stratus-metadata alone", pids,
                         lambda: bench_api.wrk(url + PATH, headers=signed))
            )  # fmt: skip
        print(
            f"\nGET {PATH} through the metadata proxy, {bench_api.CONCURRENCY} clients, "
            f"{args.duration} each (target: {TARGET_RPS} requests/s, p99 < {TARGET_P99_MS:g} ms)"
        )
        print(
            f"{'':30} {'req/s':>7} {'p50':>9} {'p99':>9} {'errors':>6}"
            "  CPU ms/request: proxy, service"
        )
        for label, row in rows:
            print(
                f"{label:30} {row['rps']:7.0f} {row['p50']:>9} {row['p99']:>9} {row['errors']:6}"
                f"  {row['cpu']['proxy']:.3f}, {row['cpu']['service']:.3f}"
            )
        print(f"load average before: {load}")
    finally:
        if proxy is not None:
            proxy.terminate()
            proxy.wait(10)
        cloud.stop()
        shutil.rmtree(cloud.workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
