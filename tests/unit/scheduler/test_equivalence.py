"""The vectorised engine against the plain host-by-host reference, on random clusters."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from stratus.scheduler import FilterScheduler, HostTable, NoValidHost, SchedulerConfig

from .randomized import random_cluster, random_config, random_host, random_request
from .reference import ReferenceScheduler, RefHost

DYNAMIC = {
    "free_ram": "free_ram_mb",
    "free_disk_mb": "free_disk_mb",
    "vcpus_used": "vcpus_used",
    "num_instances": "num_instances",
    "num_io_ops": "num_io_ops",
}


def _assert_same_state(table: HostTable, hosts: list[RefHost]) -> None:
    for h in hosts:
        row = table.index_of(h.host)
        assert row is not None
        for column, attribute in DYNAMIC.items():
            assert getattr(table, column)[row] == getattr(h, attribute), (h.host, column)
        assert table.instances(row) == h.instances


def _one_request(
    scheduler: FilterScheduler,
    reference: ReferenceScheduler,
    table: HostTable,
    hosts: list[RefHost],
    rng: random.Random,
) -> None:
    records = [h.record for h in hosts]
    request = random_request(rng, records)

    rows, results = scheduler.filter_hosts(table, request)
    passing, expected_results = reference.filter_hosts(hosts, request)
    assert results == expected_results
    assert sorted(table.names[rows].tolist()) == sorted(h.host for h in passing)

    weights = scheduler.weigh_hosts(table, request, rows)
    ranked_rows, ranked_weights = scheduler.rank_hosts(table, rows, weights)
    expected = reference.weigh_hosts(passing, request)
    assert table.names[ranked_rows].tolist() == [h.host for h, _ in expected]
    assert ranked_weights.tolist() == [w for _, w in expected]

    alternates = rng.randint(0, 3)
    try:
        chosen = scheduler.select_destinations(table, request, alternates)
    except NoValidHost as failure:
        with pytest.raises(NoValidHost) as expected_failure:
            reference.select_destinations(hosts, request, alternates)
        assert failure.message == expected_failure.value.message
        assert failure.results == expected_failure.value.results
    else:
        wanted = reference.select_destinations(hosts, request, alternates)
        assert [[(s.host, s.weight) for s in per] for per in chosen] == wanted
    _assert_same_state(table, hosts)


@pytest.mark.parametrize("seed", range(60))
def test_engine_matches_reference(seed: int) -> None:
    rng = random.Random(seed)
    cfg = SchedulerConfig.from_dict(random_config(rng))
    records = random_cluster(rng, rng.randint(1, 40))
    table = HostTable(records, cfg)
    scheduler = FilterScheduler(cfg)
    reference = ReferenceScheduler(cfg)
    hosts = reference.build(records)
    for step in range(12):
        _one_request(scheduler, reference, table, hosts, rng)
        if step % 4 == 3 and hosts:
            # the loader refreshes, adds and removes hosts between requests
            victim = rng.randrange(len(hosts))
            fresh = random_host(rng, hosts[victim].host, [], [])
            table.update_host(fresh)
            hosts[victim] = RefHost(fresh, cfg)
            added = random_host(rng, f"n{seed}-{step}", [], [])
            table.update_host(added)
            hosts.append(RefHost(added, cfg))
            if len(hosts) > 2:
                gone = hosts.pop(rng.randrange(len(hosts)))
                table.remove_host(gone.host)
    assert len(table) == len(hosts)
    assert np.count_nonzero(table.live) == len(hosts)


_VARIABLES = [
    "$free_ram_mb", "$free_disk_mb", "$vcpus_used", "$vcpus_total", "$num_io_ops",
    "$num_instances", "$failed_builds", "$host", "$nodename", "$host_ip", "$hypervisor_type",
    "$hypervisor_version", "$arch", "$cpu_info.vendor", "$capabilities.gpu",
    "$capabilities.tier", "$capabilities.mixed", "$stats.numa", "$total_usable_disk_gb",
    "$cpu_allocation_ratio", "$nosuch", "$free_ram_mb.x", "$cpu_info", "",
]  # fmt: skip
_CONSTANTS = [0, 1, 2, 3, 1024, 4096, 2.5, True, False, None, "QEMU", "gold", "h1", "Intel",
              "x86_64", "10.0.1.5", {"a": 1}]  # fmt: skip
_OPERATORS = ["=", "<", ">", "<=", ">=", "in", "not", "or", "and"]


def _random_query(rng: random.Random, depth: int) -> list:
    if rng.random() < 0.05:
        return []
    query: list = [rng.choice(_OPERATORS)]
    for _ in range(rng.randint(0, 4)):
        roll = rng.random()
        if depth > 0 and roll < 0.35:
            query.append(_random_query(rng, depth - 1))
        elif roll < 0.7:
            query.append(rng.choice(_VARIABLES))
        else:
            query.append(rng.choice(_CONSTANTS))
    return query


@pytest.mark.parametrize("seed", range(20))
def test_json_queries_match_reference(seed: int) -> None:
    from stratus.scheduler.filters.json_filter import evaluate

    from .reference import json_filter

    rng = random.Random(1000 + seed)
    cfg = SchedulerConfig()
    records = random_cluster(rng, rng.randint(1, 25))
    table = HostTable(records, cfg)
    hosts = ReferenceScheduler(cfg).build(records)
    for _ in range(60):
        query = _random_query(rng, 3)
        request = random_request(rng, records)
        request.scheduler_hints = {"query": json.dumps(query)}
        got = evaluate(query, table)
        expected = [json_filter(h, request, cfg, 0) for h in hosts]
        assert got.tolist() == expected, query
