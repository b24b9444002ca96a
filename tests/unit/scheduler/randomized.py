"""Seeded random clusters and requests, shared by the equivalence test and the benchmark."""

from __future__ import annotations

import itertools
import json
import random
from typing import Any

from stratus.scheduler import Aggregate, Flavor, HostRecord, InstanceGroup, RequestSpec
from stratus.scheduler.filters import ALL_FILTERS
from stratus.scheduler.weighers import ALL_WEIGHERS

PROJECTS = ["p1", "p2", "p3"]
METADATA = [
    {"availability_zone": "az1"},
    {"availability_zone": "az2"},
    {"availability_zone": "az1,az3"},
    {"ssd": "true"},
    {"ssd": "false"},
    {"tier": "gold, silver"},
    {"gpu": "2"},
    {"cpu_allocation_ratio": "2.0"},
    {"cpu_allocation_ratio": "bad"},
    {"ram_allocation_ratio": "1.0"},
    {"ram_allocation_ratio": "2.5"},
    {"disk_allocation_ratio": "1.5"},
    {"max_instances_per_host": "3"},
    {"max_instances_per_host": "many"},
    {"filter_tenant_id": "p1"},
    {"filter_tenant_id": "p2,p3"},
    {"filter_tenant_id_extra": "p3"},
]
EXTRA_SPECS = [
    {"capabilities:hypervisor_type": "s== QEMU"},
    {"capabilities:cpu_info:vendor": "<or> Intel <or> AMD"},
    {"capabilities:gpu": ">= 1"},
    {"gpu": "2"},
    {"hw:cpu_policy": "dedicated"},
    {"aggregate_instance_extra_specs:ssd": "true"},
    {"ssd": "true"},
    {"tier": "<in> gold"},
    {"capabilities:numa:nodes": "= 2"},
    {"capabilities:cpu_info:features": "<all-in> sse avx"},
    {"capabilities:hypervisor_version": ">= 8000000"},
    {"hypervisor_type": "KVM"},
]
QUERIES = [
    [">=", "$free_ram_mb", 1024],
    ["and", [">=", "$free_ram_mb", 2048], ["<", "$num_io_ops", 5]],
    ["or", ["=", "$hypervisor_type", "QEMU"], ["in", "$arch", "aarch64", "i686"]],
    ["not", ["=", "$capabilities.tier", "gold"]],
    [">", "$capabilities.mixed", 0],
    ["=", "$cpu_info.vendor", "Intel"],
    ["<=", "$vcpus_used", "$vcpus_total"],
    ["in", "$host", "h1", "h3", "h5"],
    ["and", ["not", ["=", "$host", "h0"]]],
    ["=", "$host_ip"],
    [">=", "$free_disk_mb", 10240, 20480],
    ["bogus"],
    ["<", "$hypervisor_version", 8500000],
    ["or", ["<", "$host", 3], [">", "$total_usable_disk_gb", 60]],
    ["=", "$capabilities.gpu", 2],
    ["or", "$num_io_ops", ["not", "$failed_builds"]],
    ["and", "$capabilities.tier", "$vcpus_used"],
    ["not", "$hypervisor_type", "$num_instances"],
    ["in", ["not", "$num_io_ops"], True],
    ["and", "$num_io_ops", "$failed_builds"],
    ["not", "$failed_builds", "$num_io_ops"],
    ["and", [">", "$free_ram_mb", 0], "$num_instances"],
]
_new_uuids = itertools.count()


def random_aggregates(rng: random.Random) -> list[Aggregate]:
    aggregates = []
    for i in range(rng.randint(0, 7)):
        metadata: dict[str, str] = {}
        for choice in rng.sample(METADATA, rng.randint(1, 3)):
            metadata.update(choice)
        aggregates.append(Aggregate(f"agg{i}", metadata, id=i))
    return aggregates


def random_host(
    rng: random.Random, name: str, aggregates: list[Aggregate], instances: list[str]
) -> HostRecord:
    vcpus = rng.choice([0, 4, 8, 16, 32])
    memory = rng.choice([2048, 4096, 8192, 16384])
    disk = rng.choice([20, 50, 100, 500])
    capabilities: dict[str, Any] = {}
    if rng.random() < 0.5:
        capabilities["gpu"] = rng.randint(0, 3)
    if rng.random() < 0.5:
        capabilities["tier"] = rng.choice(["gold", "silver"])
    if rng.random() < 0.3:
        capabilities["numa"] = json.dumps({"nodes": rng.randint(1, 2)})
    if rng.random() < 0.3:
        capabilities["mixed"] = rng.choice([1, "1", 2.5])
    ip = rng.choice(
        [
            f"10.0.{rng.randint(0, 3)}.{rng.randint(1, 254)}",
            f"10.0.{rng.randint(0, 3)}.{rng.randint(1, 254)}",
            f"2001:db8::{rng.randint(1, 999)}",
            None,
            "not-an-ip",
        ]
    )
    supported = []
    if rng.random() < 0.3:
        supported = [("x86_64", "kvm", "hvm"), ("i686", "qemu", "hvm")]
    return HostRecord(
        host=name,
        nodename=f"{name}.node" if rng.random() < 0.2 else None,
        vcpus=vcpus,
        # coarse usage, so that requests often land exactly on a limit
        vcpus_used=rng.randint(0, vcpus * 3),
        memory_mb=memory,
        memory_mb_used=512 * rng.randint(0, memory * 3 // 1024),
        local_gb=disk,
        local_gb_used=10 * rng.randint(0, disk // 10),
        disk_available_least=rng.choice([None, None, rng.randint(0, disk)]),
        cpu_allocation_ratio=rng.choice([None, None, 0.0, 1.0, 4.0]),
        ram_allocation_ratio=rng.choice([None, None, 1.0, 2.0]),
        disk_allocation_ratio=rng.choice([None, None, 1.0, 1.2]),
        service_up=rng.random() < 0.9,
        service_disabled=rng.random() < 0.1,
        availability_zone=rng.choice([None, None, "az1", "az2"]),
        aggregates=rng.sample(aggregates, rng.randint(0, min(2, len(aggregates)))),
        hypervisor_type=rng.choice(["QEMU", "QEMU", "KVM", "xen", None]),
        hypervisor_version=rng.choice([0, 6002000, 8002001, 9000000]),
        cpu_info={
            "vendor": rng.choice(["Intel", "AMD", "Via"]),
            "features": rng.sample(["sse", "avx", "aes"], rng.randint(0, 3)),
        },
        arch=rng.choice(["x86_64", "x86_64", "aarch64", "i686", None]),
        supported_instances=supported,
        capabilities=capabilities,
        num_instances=rng.choice([None, rng.randint(0, 60)]),
        num_io_ops=rng.randint(0, 10),
        host_ip=ip,
        instances={u: rng.choice(PROJECTS) for u in instances},
        failed_builds=rng.choice([0, 0, 0, 1, 3]),
    )


def random_cluster(rng: random.Random, size: int) -> list[HostRecord]:
    aggregates = random_aggregates(rng)
    pool = [f"u{i}" for i in range(size * 2)]
    rng.shuffle(pool)
    records = []
    for i in range(size):
        take = rng.randint(0, 3)
        records.append(random_host(rng, f"h{i}", aggregates, pool[:take]))
        pool = pool[take:]
    return records


def random_config(rng: random.Random) -> dict[str, Any]:
    filters = list(ALL_FILTERS)
    rng.shuffle(filters)
    multipliers = [-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0]
    return {
        "enabled_filters": filters[: rng.randint(3, len(filters))],
        "weight_classes": rng.sample(list(ALL_WEIGHERS), rng.randint(1, len(ALL_WEIGHERS))),
        "ram_weight_multiplier": rng.choice(multipliers),
        "cpu_weight_multiplier": rng.choice(multipliers),
        "disk_weight_multiplier": rng.choice(multipliers),
        "io_ops_weight_multiplier": rng.choice(multipliers),
        "num_instances_weight_multiplier": rng.choice(multipliers),
        "soft_affinity_weight_multiplier": rng.choice([0.0, 1.0, 3.0]),
        "soft_anti_affinity_weight_multiplier": rng.choice([0.0, 1.0, 3.0]),
        "build_failure_weight_multiplier": rng.choice([0.0, 3.0, 1000000.0]),
        "max_io_ops_per_host": rng.choice([5, 8]),
        "max_instances_per_host": rng.choice([5, 50]),
        "isolated_images": rng.choice([[], ["img-iso"]]),
        "isolated_hosts": rng.choice([[], ["h1", "h2"]]),
        "restrict_isolated_hosts_to_isolated_images": rng.random() < 0.5,
        "cpu_allocation_ratio": rng.choice([1.0, 16.0]),
        "ram_allocation_ratio": rng.choice([1.0, 1.5]),
        "disk_allocation_ratio": rng.choice([1.0, 2.0]),
    }


def random_request(rng: random.Random, records: list[HostRecord]) -> RequestSpec:
    names = [r.host for r in records]
    known = [u for r in records for u in r.instances]
    extra: dict[str, str] = {}
    if rng.random() < 0.5:
        for choice in rng.sample(EXTRA_SPECS, rng.randint(1, 3)):
            extra.update(choice)
    image: dict[str, Any] = {}
    if rng.random() < 0.4:
        image["hw_architecture"] = rng.choice(["x86_64", "amd64", "aarch64", "i386"])
    if rng.random() < 0.3:
        image["img_hv_type"] = rng.choice(["qemu", "kvm", "xen"])
    if rng.random() < 0.2:
        image["hw_vm_mode"] = rng.choice(["hvm", "xen", "hv"])
    if rng.random() < 0.3:
        image["img_hv_requested_version"] = rng.choice([">=8.0", "<9", "garbage", ">6, <=8.2.1"])
    hints: dict[str, Any] = {}
    if known and rng.random() < 0.2:
        hints["same_host"] = rng.sample(known, min(len(known), rng.randint(1, 3)))
    if known and rng.random() < 0.2:
        hints["different_host"] = rng.sample(known, min(len(known), rng.randint(1, 3)))
    if rng.random() < 0.4:
        hints["query"] = json.dumps(rng.choice(QUERIES))
    if rng.random() < 0.2:
        hints["build_near_host_ip"] = rng.choice(["10.0.1.1", "10.0.2.77", "2001:db8::1", "x"])
        if rng.random() < 0.5:
            hints["cidr"] = rng.choice(["/16", "/24", "/30", "/64"])
    group = None
    if rng.random() < 0.4:
        members = rng.sample(known, min(len(known), rng.randint(0, 4)))
        group = InstanceGroup(
            policy=rng.choice(["affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity"]),
            rules={"max_server_per_host": rng.randint(1, 2)} if rng.random() < 0.5 else {},
            members=members,
            hosts=sorted({r.host for r in records for u in r.instances if u in members}),
        )
    count = rng.choice([1, 1, 1, 2, 3])
    force = rng.sample(names, min(len(names), 2)) if rng.random() < 0.05 else []
    return RequestSpec(
        flavor=Flavor(
            vcpus=rng.choice([1, 2, 4, 8, 16]),
            memory_mb=rng.choice([512, 1024, 2048, 4096, 8192]),
            root_gb=rng.choice([0, 1, 10, 20, 80]),
            ephemeral_gb=rng.choice([0, 0, 5]),
            swap=rng.choice([0, 0, 512, 2048]),
            extra_specs=extra,
        ),
        image_id=rng.choice(["img-iso", "img-1", None]),
        image_properties=image,
        project_id=rng.choice(PROJECTS),
        availability_zone=rng.choice([None, None, "az1", "az2", "az3", "nova"]),
        scheduler_hints=hints,
        force_hosts=force,
        is_admin=rng.random() < 0.5,
        num_instances=count,
        ignore_hosts=rng.sample(names, min(len(names), rng.randint(0, 2))),
        instance_group=group,
        instance_uuids=[f"new{next(_new_uuids)}" for _ in range(count)],
    )
