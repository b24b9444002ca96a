"""Boot latency and throughput: API request to ACTIVE.

1. QEMU (TCG) with a cached image: p50 and p95 over 20 boots, one at a time.
2. The fake driver, 100 compute nodes in one stratus-compute process: p50 and p95
   over 20 boots, then boots per second with 16 concurrent clients.

Run with ``make bench-boot`` (``--fake-only`` skips the QEMU part; ``--mariadb`` runs
the fake part on a private MariaDB instead of SQLite). Prints figures; it is not a
pass/fail test.
"""

from __future__ import annotations

import datetime
import statistics
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.bench.common import ApiClient, Booter, percentile, prepare  # noqa: E402
from tests.support.cloud import Cloud  # noqa: E402
from tests.support.libvirtd import ensure_libvirtd  # noqa: E402
from tests.support.mariadb import MariaDBServer  # noqa: E402
from tests.support.rabbitmq import RabbitMQServer  # noqa: E402

SERIAL_BOOTS = 20
FAKE_NODES = 100
CLIENTS = 16
CONCURRENT_BOOTS = 400


class Watcher(threading.Thread):
    """Learns which servers became ACTIVE or ERROR by listing, every ``interval``
    seconds, the servers in those statuses that changed since its previous look
    (``changes-since``): one request for all the clients, as a dashboard or an
    orchestrator watches its servers, instead of one per client and server. The
    clients run a closed loop (the next boot once this one is ACTIVE), so the time
    it takes to notice is part of every boot; 50 ms looks cost the API no more than
    100 ms looks with a twice as long overlap did, since each returns fewer rows."""

    def __init__(self, booter: Booter, overlap: float, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.client = ApiClient(booter.cloud.url, booter.token)
        self.interval, self.overlap = interval, datetime.timedelta(seconds=overlap)
        self.statuses: dict[str, str] = {}
        self.changed = threading.Condition()
        self.stopping = threading.Event()

    def run(self) -> None:
        since = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=5)
        while not self.stopping.is_set():
            # Overlap the windows: a change is stamped before its transaction
            # commits, so a look can miss one stamped just before it.
            now = datetime.datetime.now(datetime.UTC)
            # One request for both statuses: in this closed loop the time a client
            # takes to notice its server is part of its boot, and two requests per
            # look took longer than one detailed listing.
            query = urllib.parse.urlencode(
                [("changes-since", since.isoformat()), ("status", "ACTIVE"), ("status", "ERROR")]
            )
            servers = self.client.request("GET", f"/servers/detail?{query}")[1]["servers"]
            with self.changed:
                self.statuses.update((server["id"], server["status"]) for server in servers)
                self.changed.notify_all()
            since = now - self.overlap
            time.sleep(self.interval)

    def wait(self, server_id: str, timeout: float = 120) -> str:
        with self.changed:
            if not self.changed.wait_for(lambda: server_id in self.statuses, timeout):
                raise TimeoutError(f"server {server_id} not ACTIVE after {timeout} s")
            return self.statuses[server_id]


def serial(booter: Booter, label: str) -> dict:
    server_id, _ = booter.boot("warm-up")  # fills the image cache
    booter.delete(server_id)
    latencies = []
    for index in range(SERIAL_BOOTS):
        server_id, seconds = booter.boot(f"{label}-{index}")
        latencies.append(seconds)
        booter.delete(server_id)
    return {"p50": statistics.median(latencies), "p95": percentile(latencies, 0.95)}


def cpu_seconds(cloud: Cloud) -> dict[str, float]:
    """CPU time (user + system) so far of each process of ``cloud`` by role, of the
    broker and the private MariaDB server, and of this benchmark's own clients."""
    roles = {"stratus-api": "api", "stratus-conductor": "conductor"}
    roles |= {"stratus-scheduler": "scheduler", "stratus-compute": "compute"}
    totals: dict[str, float] = {}
    for process in psutil.process_iter(["cmdline", "cpu_times"]):
        cmdline = " ".join(process.info["cmdline"] or ())
        role = None
        if process.pid == psutil.Process().pid:
            role = "bench clients"
        elif "beam.smp" in cmdline and "stratus-rabbitmq-" in cmdline:
            role = "rabbitmq"
        elif "mariadbd" in cmdline and "stratus-mariadb-" in cmdline:
            role = "mariadb"
        elif str(cloud.workdir) in cmdline:
            role = next((name for binary, name in roles.items() if binary in cmdline), None)
        if role and process.info["cpu_times"]:
            times = process.info["cpu_times"]
            totals[role] = totals.get(role, 0.0) + times.user + times.system
    return totals


def concurrent(booter: Booter, overlap: float) -> dict:
    """CONCURRENT_BOOTS boots by CLIENTS clients, each booting one server after the
    other. A client learns that its server is ACTIVE from one shared Watcher: were
    each to poll its own server every P seconds, the run could not go faster than
    CLIENTS / P boots per second (32/s at 16 clients and 500 ms) whatever the cloud
    does, and polling faster would make the polling the load being measured."""
    watcher = Watcher(booter, overlap)
    watcher.start()
    cpu_before = cpu_seconds(booter.cloud)
    started = time.perf_counter()
    try:
        with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
            results = list(
                pool.map(
                    lambda i: booter.boot(f"load-{i}", watcher=watcher), range(CONCURRENT_BOOTS)
                )
            )
    finally:
        watcher.stopping.set()
    elapsed = time.perf_counter() - started
    cpu_after = cpu_seconds(booter.cloud)
    latencies = [seconds for _, seconds in results]
    return {
        "boots_per_s": CONCURRENT_BOOTS / elapsed,
        "p50": statistics.median(latencies),
        "p95": percentile(latencies, 0.95),
        "cpu_ms_per_boot": {
            role: (cpu_after[role] - cpu_before.get(role, 0.0)) * 1000 / CONCURRENT_BOOTS
            for role in cpu_after
        },
    }


def main() -> None:
    import subprocess

    only_fake = "--fake-only" in sys.argv
    mariadb = MariaDBServer().start() if "--mariadb" in sys.argv else None
    fake_db = mariadb.create_database("stratus_bench") if mariadb else None
    # How far back each look of the watcher reaches: SQLite keeps microseconds,
    # MariaDB's DATETIME whole seconds.
    overlap = 1.5 if mariadb else 0.5
    subprocess.run([str(ROOT / "tests/images/build-tiny-image")], check=True)
    ensure_libvirtd()
    rabbit = RabbitMQServer()
    rabbit.start()
    rows = []
    try:
        if not only_fake:
            cloud = Cloud(
                rabbit.transport_url,
                extra_conf={"DEFAULT": {"report_interval": 5, "service_down_time": 60}},
            )
            cloud.start()
            try:
                cloud.add_compute("qemu1")
                rows.append(("QEMU TCG, cached image, serial", serial(prepare(cloud, 1), "qemu")))
            finally:
                cloud.stop()
        cloud = Cloud(
            rabbit.transport_url,
            fake_db,
            extra_conf={
                "DEFAULT": {"report_interval": 10, "service_down_time": 120},
                "scheduler": {"host_refresh_interval": 5.0},
            },
        )
        cloud.start()
        try:
            fleet = cloud._spawn(
                "compute-fleet",
                "stratus-compute",
                cloud.compute_conf(
                    "fake",
                    "fake",
                    {
                        # The fleet runs the periodic tasks at their defaults, not at
                        # the short intervals that the functional tests use.
                        "compute": {
                            "fake_node_count": FAKE_NODES,
                            "sync_power_state_interval": 10,
                            "resource_update_interval": 60,
                        },
                        "DEFAULT": {"report_interval": 10},
                    },
                ),
            )
            fleet.wait_for(
                lambda: len(cloud.openstack_json("hypervisor", "list")) == FAKE_NODES,
                timeout=300,
                interval=2,
                description=f"{FAKE_NODES} fake nodes registered",
            )
            booter = prepare(cloud, 1)
            rows.append((f"fake driver, {FAKE_NODES} nodes, serial", serial(booter, "fake")))
            label = f"fake driver, {FAKE_NODES} nodes, {CLIENTS} clients"
            rows.append((label, concurrent(booter, overlap)))
        finally:
            cloud.stop()
    finally:
        rabbit.stop()
        if mariadb:
            mariadb.stop()
    database = "MariaDB" if mariadb else "SQLite"
    print(
        f"\nAPI request to ACTIVE ({database} for the fake runs, 1 API worker; "
        f"{SERIAL_BOOTS} serial boots, "
        f"{CONCURRENT_BOOTS} concurrent)"
    )
    print(f"{'case':45} {'p50 ms':>9} {'p95 ms':>9} {'boots/s':>9}")
    for name, result in rows:
        rate = f"{result['boots_per_s']:9.1f}" if "boots_per_s" in result else f"{'':>9}"
        print(f"{name:45} {result['p50'] * 1000:9.0f} {result['p95'] * 1000:9.0f} {rate}")
    for name, result in rows:
        if "cpu_ms_per_boot" in result:
            print(f"\nCPU ms per boot by process ({name}; {psutil.cpu_count()} cores)")
            for role, ms in sorted(result["cpu_ms_per_boot"].items(), key=lambda r: -r[1]):
                print(f"  {role:20} {ms:7.1f}")
            print(f"  {'total':20} {sum(result['cpu_ms_per_boot'].values()):7.1f}")


if __name__ == "__main__":
    main()
