"""The vectorised engine against the plain host-by-host reference, on random clusters."""

from __future__ import annotations

import random

import numpy as np
import pytest

from stratus.scheduler import FilterScheduler, HostTable, NoValidHost, SchedulerConfig

from .randomized import random_cluster, random_config, random_host, random_request
from .reference import RefHost, ReferenceScheduler

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
