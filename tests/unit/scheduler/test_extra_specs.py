import pytest

from stratus.scheduler import extra_specs
from stratus.scheduler.extra_specs import matches, parse


@pytest.mark.parametrize(
    ("value", "requirement", "expected"),
    [
        # "=" means "at least" for numbers
        ("4", "= 4", True),
        ("5", "= 4", True),
        ("3", "= 4", False),
        ("4.0", ">= 4", True),
        ("3.9", ">= 4", False),
        ("4", "<= 4", True),
        ("4.1", "<= 4", False),
        ("4", "== 4.0", True),
        ("5", "== 4", False),
        ("5", "!= 4", True),
        ("4", "!= 4", False),
        # numeric operators on non-numbers never match
        ("abc", ">= 4", False),
        ("4", "== four", False),
        # string operators
        ("QEMU", "s== QEMU", True),
        ("qemu", "s== QEMU", False),
        ("KVM", "s!= QEMU", True),
        ("b", "s> a", True),
        ("a", "s> a", False),
        ("a", "s>= a", True),
        ("a", "s< b", True),
        ("b", "s< b", False),
        ("b", "s<= b", True),
        # substring membership
        ("['sse', 'avx2']", "<in> avx2", True),
        ("['sse']", "<in> avx2", False),
        ("['sse', 'avx2', 'aes']", "<all-in> aes avx2", True),
        ("['sse', 'avx2']", "<all-in> aes avx2", False),
        # alternatives
        ("kvm", "<or> kvm <or> qemu", True),
        ("qemu", "<or> kvm <or> qemu", True),
        ("xen", "<or> kvm <or> qemu", False),
        ("kvm", "<or> kvm", True),
        # no operator: the whole string must equal
        ("true", "true", True),
        ("True", "true", False),
        ("a b", "a b", True),
        # operator without operand
        ("4", ">=", False),
        ("x", "<in>", False),
        ("x", "<or>", False),
    ],
)
def test_operators(value: str, requirement: str, expected: bool) -> None:
    assert matches(value, requirement) is expected


def test_missing_value_never_matches_an_operator() -> None:
    assert not matches(None, ">= 1")
    assert not matches(None, "<or> a <or> b")
    assert not matches(None, "x")


def test_parse_is_cached_and_structured() -> None:
    first = parse("<or> a <or> b <or> c")
    assert first is parse("<or> a <or> b <or> c")
    assert first.op == "<or>"
    assert first.operands == ("a", "b", "c")
    assert parse("ssd").op is None


def test_split_scope() -> None:
    assert extra_specs.split_scope("capabilities:cpu_info:arch") == [
        "capabilities",
        "cpu_info",
        "arch",
    ]
    assert extra_specs.split_scope("aggregate_instance_extra_specs:a:b", 1) == [
        "aggregate_instance_extra_specs",
        "a:b",
    ]
