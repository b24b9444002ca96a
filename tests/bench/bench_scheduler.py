"""Scheduler benchmark: decisions per second and latency, vectorised vs host-by-host.

Run: ``python tests/bench/bench_scheduler.py [--sizes 1000,10000,100000] [--quick]``

Each decision is one ``select_destinations`` call for one instance with two
alternates. The cluster is realistic rather than adversarial: a few hardware
classes, three availability zones, SSD/GPU/private aggregates; requests draw from
a small catalogue of flavors and images, as in a real cloud. Each placement is
released after it is timed, so every decision sees the same cluster. The
host-by-host implementation (the test suite's reference) gets far fewer runs.
Single-threaded: numpy does not thread elementwise work. "dec/s" and the
latencies are wall clock; "cpu dec/s" counts this process's CPU time only, which
stays meaningful when the machine is busy with other work.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from stratus.scheduler import (  # noqa: E402
    Aggregate,
    FilterScheduler,
    Flavor,
    HostRecord,
    HostTable,
    InstanceGroup,
    NoValidHost,
    RequestSpec,
    SchedulerConfig,
)
from stratus.scheduler.filters import ALL_FILTERS  # noqa: E402
from tests.unit.scheduler.reference import ReferenceScheduler  # noqa: E402

HARDWARE = [(16, 65536, 500), (32, 262144, 2000), (64, 524288, 4000)]
ZONES = [Aggregate(f"zone-{z}", {"availability_zone": z}, id=z) for z in ("az1", "az2", "az3")]
SSD = Aggregate("ssd", {"ssd": "true"}, id="ssd")
PRIVATE = Aggregate("private", {"filter_tenant_id": "proj-private"}, id="private")
FLAVORS = [
    Flavor(1, 1024, 10, name="tiny"),
    Flavor(2, 4096, 20, name="small"),
    Flavor(4, 8192, 40, name="medium"),
    Flavor(8, 16384, 80, name="large"),
    Flavor(16, 65536, 160, name="xlarge"),
    Flavor(4, 8192, 40, extra_specs={"capabilities:cpu_info:vendor": "Intel"}, name="intel"),
    Flavor(4, 8192, 40, extra_specs={"aggregate_instance_extra_specs:ssd": "true"}, name="ssd"),
    Flavor(8, 32768, 80, extra_specs={"capabilities:gpu": ">= 1"}, name="gpu"),
]
IMAGES = [
    ("img-cirros", {}),
    ("img-debian", {"hw_architecture": "x86_64"}),
    ("img-qemu", {"img_hv_type": "qemu", "img_hv_requested_version": ">=6.0"}),
]
QUERIES = [
    '[">=", "$free_ram_mb", 16384]',
    '["and", ["<", "$num_io_ops", 4], [">=", "$free_disk_mb", 102400]]',
    '[">=", "$capabilities.gpu", 1]',
    '["not", ["=", "$cpu_info.vendor", "AMD"]]',
]


def build_records(count: int, seed: int = 7) -> list[HostRecord]:
    rng = random.Random(seed)
    records = []
    for i in range(count):
        vcpus, memory, disk = rng.choice(HARDWARE)
        used = rng.random() * 0.8
        aggregates = [ZONES[i % 3]]
        if rng.random() < 0.3:
            aggregates.append(SSD)
        if rng.random() < 0.05:
            aggregates.append(PRIVATE)
        records.append(
            HostRecord(
                host=f"compute-{i:06d}",
                vcpus=vcpus,
                vcpus_used=int(vcpus * 4 * used),
                memory_mb=memory,
                memory_mb_used=int(memory * used),
                local_gb=disk,
                local_gb_used=int(disk * used),
                service_up=rng.random() > 0.01,
                service_disabled=rng.random() < 0.01,
                aggregates=aggregates,
                hypervisor_type="QEMU",
                hypervisor_version=8002000,
                arch="x86_64",
                cpu_info={"vendor": rng.choice(["Intel", "AMD"]), "arch": "x86_64"},
                capabilities={"gpu": rng.randint(1, 4)} if rng.random() < 0.1 else {},
                num_io_ops=rng.randint(0, 6),
                host_ip=f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}",
                instances={f"vm-{i}-{k}": "proj-a" for k in range(rng.randint(0, 4))},
                failed_builds=1 if rng.random() < 0.005 else 0,
            )
        )
    return records


def build_requests(
    count: int, records: list[HostRecord], every_filter: bool, seed: int = 11
) -> list[RequestSpec]:
    rng = random.Random(seed)
    requests = []
    for n in range(count):
        image_id, properties = rng.choice(IMAGES)
        hints: dict[str, object] = {}
        group = None
        ignore: list[str] = []
        if every_filter:
            roll = rng.random()
            if roll < 0.3:
                hints["query"] = rng.choice(QUERIES)
            elif roll < 0.4:
                members = [next(iter(r.instances)) for r in rng.sample(records, 8) if r.instances]
                group = InstanceGroup(policy="anti-affinity", members=members)
            elif roll < 0.5:
                picks = [r for r in rng.sample(records, 4) if r.instances]
                hints["different_host"] = [next(iter(r.instances)) for r in picks]
            elif roll < 0.55:
                hints["build_near_host_ip"] = records[rng.randrange(len(records))].host_ip
                hints["cidr"] = "/16"
            if rng.random() < 0.05:
                ignore = [rng.choice(records).host]
        requests.append(
            RequestSpec(
                flavor=rng.choice(FLAVORS),
                image_id=image_id,
                image_properties=properties,
                project_id=rng.choice(["proj-a", "proj-b", "proj-private"]),
                availability_zone=rng.choice([None, "az1", "az2", "az3"]),
                scheduler_hints=hints,
                instance_group=group,
                ignore_hosts=ignore,
                instance_uuids=[f"new-{n}"],
            )
        )
    return requests


@dataclass
class Result:
    hosts: int
    filters: str
    engine: str
    decisions: int
    per_second: float
    p50_ms: float
    p99_ms: float
    cpu_per_second: float
    failures: int


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def run_fast(
    records: list[HostRecord],
    config: SchedulerConfig,
    requests: list[RequestSpec],
    budget_s: float,
    label: str,
) -> tuple[Result, float]:
    started = time.perf_counter()
    table = HostTable(records, config)
    build_s = time.perf_counter() - started
    scheduler = FilterScheduler(config, rng=random.Random(1))
    for request in requests[:20]:  # warm the per-shape caches
        try:
            for per in scheduler.select_destinations(table, request, 2):
                table.release(
                    table.index_of(per[0].host), request.flavor, request.instance_uuids[0]
                )
        except NoValidHost:
            pass
    samples, failures = [], 0
    deadline = time.perf_counter() + budget_s
    cpu_started = time.process_time()
    for request in requests:
        begin = time.perf_counter_ns()
        try:
            chosen = scheduler.select_destinations(table, request, 2)
        except NoValidHost:
            chosen = None
        samples.append((time.perf_counter_ns() - begin) / 1e6)
        if chosen is None:
            failures += 1
        else:
            row = table.index_of(chosen[0][0].host)
            table.release(row, request.flavor, request.instance_uuids[0])
        if time.perf_counter() > deadline:
            break
    cpu_s = time.process_time() - cpu_started
    return _result(len(records), label, "vectorised", samples, failures, cpu_s), build_s


def run_reference(
    records: list[HostRecord],
    config: SchedulerConfig,
    requests: list[RequestSpec],
    runs: int,
    label: str,
) -> Result:
    reference = ReferenceScheduler(config)
    hosts = reference.build(records)
    by_name = {h.host: h for h in hosts}
    samples, failures = [], 0
    cpu_started = time.process_time()
    for request in requests[:runs]:
        begin = time.perf_counter_ns()
        try:
            chosen = reference.select_destinations(hosts, request, 2)
        except NoValidHost:
            chosen = None
        samples.append((time.perf_counter_ns() - begin) / 1e6)
        if chosen is None:
            failures += 1
        else:
            # undo the placement so every decision sees the same cluster
            h = by_name[chosen[0][0][0]]
            f = request.flavor
            h.free_ram_mb += f.memory_mb
            h.free_disk_mb += (f.root_gb + f.ephemeral_gb) * 1024
            h.vcpus_used -= f.vcpus
            h.num_instances -= 1
            h.num_io_ops -= 1
            h.instances.pop(request.instance_uuids[0], None)
    cpu_s = time.process_time() - cpu_started
    return _result(len(records), label, "per-host", samples, failures, cpu_s)


def _result(
    hosts: int, label: str, engine: str, samples: list[float], failures: int, cpu_s: float
) -> Result:
    total_s = sum(samples) / 1000
    return Result(
        hosts=hosts,
        filters=label,
        engine=engine,
        decisions=len(samples),
        per_second=len(samples) / total_s if total_s else 0.0,
        p50_ms=statistics.median(samples),
        p99_ms=_percentile(samples, 0.99),
        cpu_per_second=len(samples) / cpu_s if cpu_s else 0.0,
        failures=failures,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--quick", action="store_true", help="fewer decisions per cell")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    scenarios = {
        "default": SchedulerConfig(),
        "all": SchedulerConfig(enabled_filters=tuple(ALL_FILTERS)),
    }
    fast_budget = 1.0 if args.quick else 4.0
    reference_runs = {1000: 40, 10000: 6, 100000: 2}

    results: list[Result] = []
    started = time.perf_counter()
    for size in sizes:
        t0 = time.perf_counter()
        records = build_records(size)
        print(f"# {size:,} hosts: records built in {time.perf_counter() - t0:.1f}s", flush=True)
        for label, config in scenarios.items():
            requests = build_requests(5000, records, every_filter=label == "all")
            fast, build_s = run_fast(records, config, requests, fast_budget, label)
            print(f"#   table built in {build_s:.2f}s", flush=True)
            results.append(fast)
            runs = reference_runs.get(size, 2)
            if args.quick:
                runs = max(1, runs // 2)
            results.append(run_reference(records, config, requests, runs, label))
            print(f"#   {label}: done", flush=True)

    header = (
        f"{'hosts':>8}  {'filters':<8} {'engine':<10} {'decisions':>9} {'dec/s':>10} "
        f"{'p50 ms':>9} {'p99 ms':>9} {'cpu dec/s':>10} {'no host':>7}"
    )
    print()
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r.hosts:>8,}  {r.filters:<8} {r.engine:<10} {r.decisions:>9} "
            f"{r.per_second:>10,.1f} {r.p50_ms:>9.3f} {r.p99_ms:>9.3f} "
            f"{r.cpu_per_second:>10,.1f} {r.failures:>7}"
        )
    print(f"\ntotal {time.perf_counter() - started:.0f}s")
    target = [
        r
        for r in results
        if r.hosts == 10000 and r.filters == "default" and r.engine == "vectorised"
    ]
    if target:
        r = target[0]
        met = r.per_second >= 2000 and r.p99_ms < 5
        print(
            f"target at 10,000 hosts (>= 2,000 decisions/s, p99 < 5 ms): "
            f"{r.per_second:,.0f}/s, p99 {r.p99_ms:.2f} ms -> {'met' if met else 'NOT met'}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps([r.__dict__ for r in results], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
