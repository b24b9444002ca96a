import json

import numpy as np
import pytest

from stratus.scheduler import HostTable
from stratus.scheduler.filters.json_filter import QueryError, evaluate, host_passes, parse_query

from .factories import host, passing, spec

RECORDS = [
    host(
        "a",
        memory_mb=8192,
        memory_mb_used=0,
        capabilities={"gpu": 2, "tier": "gold"},
        cpu_info={"vendor": "Intel"},
        host_ip="10.0.0.1",
    ),
    host(
        "b",
        memory_mb=4096,
        memory_mb_used=1024,
        capabilities={"gpu": 0, "tier": "silver"},
        cpu_info={"vendor": "AMD"},
        host_ip="10.0.0.2",
    ),
    host("c", memory_mb=2048, memory_mb_used=2048, hypervisor_type="KVM"),
]


def run(query: object) -> list[str]:
    text = query if isinstance(query, str) else json.dumps(query)
    return passing("JsonFilter", RECORDS, spec(scheduler_hints={"query": text}))


def by_host(query: list) -> list[str]:
    """The same query, evaluated host by host."""
    table = HostTable(RECORDS)
    return [r.host for i, r in enumerate(RECORDS) if host_passes(query, table.host_state(i))]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ([">=", "$free_ram_mb", 3072], ["a", "b"]),
        ([">=", "$free_ram_mb", 3073], ["a"]),
        (["<", "$free_ram_mb", 1], ["c"]),
        (["<=", "$free_ram_mb", 0], ["c"]),
        (["=", "$hypervisor_type", "QEMU"], ["a", "b"]),
        ([">", "$total_usable_ram_mb", 2048, 4096], ["a"]),
        (["in", "$host", "a", "c"], ["a", "c"]),
        (["in", "$free_ram_mb", 3072, 0], ["b", "c"]),
        (["not", ["=", "$host", "a"]], ["b", "c"]),
        (["not", ["=", "$host", "a"], ["=", "$host", "b"]], ["a", "b", "c"]),
        (["or", ["=", "$host", "a"], ["=", "$host", "c"]], ["a", "c"]),
        (["and", [">", "$free_ram_mb", 0], ["=", "$cpu_info.vendor", "AMD"]], ["b"]),
        (["=", "$capabilities.tier", "gold"], ["a"]),
        ([">=", "$stats.gpu", 1], ["a"]),
        # a variable the host lacks drops out: one argument left, so false
        (["=", "$capabilities.tier"], []),
        ([">=", "$capabilities.gpu", 0], ["a", "b"]),
        (["=", "$no_such_variable", 1], []),
        (["=", "$host_ip", "10.0.0.2"], ["b"]),
        # a number and a string are never equal, and cannot be ordered
        (["=", "$free_ram_mb", "8192"], []),
        (["<", "$host", 5], []),
        # quirk kept from Nova: a list result inside "and" is truthy
        (["and", ["not", ["=", "$host", "a"]]], ["a", "b", "c"]),
        ([], ["a", "b", "c"]),
        (["and"], ["a", "b", "c"]),
        (["or"], []),
        (["=", 1, 1], ["a", "b", "c"]),
        (["=", "$vcpus_total", 8.0], ["a", "b", "c"]),
        (["=", "$hypervisor_version", 8002000], ["a", "b", "c"]),
    ],
)
def test_queries(query: list, expected: list[str]) -> None:
    assert run(query) == expected
    assert by_host(query) == expected


def test_fallback_when_a_variable_has_mixed_kinds() -> None:
    records = [host("a", capabilities={"x": 1}), host("b", capabilities={"x": "1"}), host("c")]
    query = ["=", "$capabilities.x", 1]
    table = HostTable(records)
    assert evaluate(query, table).tolist() == [True, False, False]


def test_dead_rows_never_pass_the_fallback() -> None:
    table = HostTable([host("a", capabilities={"x": 1}), host("b", capabilities={"x": "1"})])
    table.remove_host("a")
    assert not evaluate(["=", "$capabilities.x", 1], table)[0]


@pytest.mark.parametrize("text", ["not json", '{"a": 1}', '["bogus", 1]', '["and", ["?"]]'])
def test_unreadable_queries_pass_no_host(text: str) -> None:
    assert run(text) == []
    with pytest.raises(QueryError):
        parse_query(text)


def test_query_hint_may_arrive_wrapped_in_a_list() -> None:
    hints = {"query": ['[">=", "$free_ram_mb", 8192]']}
    assert passing("JsonFilter", RECORDS, spec(scheduler_hints=hints)) == ["a"]


def test_columnwise_result_is_a_full_mask() -> None:
    table = HostTable(RECORDS)
    result = evaluate(["=", 1, 1], table)
    assert isinstance(result, np.ndarray) and result.tolist() == [True, True, True]
