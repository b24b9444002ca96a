"""Pure rules of the compute resources: integer parsing, flavor bodies, the quota
fields of each microversion and the usage arithmetic."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
from pydantic import ValidationError

from stratus.api.compute import common
from stratus.api.compute.flavors import FlavorCreate
from stratus.api.compute.quotas import quota_class_fields, quota_set_fields
from stratus.api.errors import BadRequest
from stratus.api.microversion import APIVersion
from stratus.db import usage as db_usage


def test_parse_int_range_and_names() -> None:
    assert common.parse_int("minRam", "9223372036854775807") == 2**63 - 1
    assert common.parse_int("minRam", None) is None
    assert common.parse_int("limit", " 5 ", minimum=0) == 5
    for raw in ("9223372036854775808", "-9223372036854775809", "1e3", "ten", ""):
        with pytest.raises(BadRequest, match="'minRam'"):
            common.parse_int("minRam", raw)
    with pytest.raises(BadRequest, match="'limit'"):
        common.parse_int("limit", "-1", minimum=0)
    assert common.parse_int("limit", "9" * 30, minimum=0, maximum=None) == int("9" * 30)


def test_db_id() -> None:
    assert common.db_id("42") == 42
    assert common.db_id("9223372036854775808") is None
    assert common.db_id("abc") is None
    with pytest.raises(BadRequest, match="'id'"):
        common.db_id("abc", "id")


def test_strict_bool() -> None:
    assert common.strict_bool("Yes") is True and common.strict_bool(False) is False
    for bad in (1, 0, None, "maybe"):
        with pytest.raises(ValueError):
            common.strict_bool(bad)


BASE = {"name": "f", "ram": 64, "vcpus": 1, "disk": 0}


@pytest.mark.parametrize(
    ("given", "expected"), [(7, "7"), ("x.y_z-1", "x.y_z-1"), (None, None), (1.5, "1.5")]
)
def test_flavor_id_forms(given: object, expected: str | None) -> None:
    assert FlavorCreate.model_validate({**BASE, "id": given}).id == expected


@pytest.mark.parametrize(
    ("field", "value"),
    [("ram", True), ("vcpus", False), ("disk", -1), ("ram", 0), ("ram", "1.5"), ("id", False)],
)
def test_flavor_refusals(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as caught:
        FlavorCreate.model_validate({**BASE, field: value})
    assert caught.value.errors()[0]["loc"][0] == field


def test_flavor_digit_strings_and_swap() -> None:
    flavor = FlavorCreate.model_validate({**BASE, "ram": "512", "swap": ""})
    assert (flavor.ram, flavor.swap) == (512, 0)


def test_quota_fields_per_microversion() -> None:
    v = APIVersion.parse
    assert "floating_ips" in quota_set_fields(v("2.35"))
    assert "floating_ips" not in quota_set_fields(v("2.36"))
    assert "injected_files" in quota_set_fields(v("2.56"))
    assert "injected_file_path_bytes" not in quota_set_fields(v("2.57"))
    assert "server_groups" not in quota_class_fields(v("2.49"))
    assert "fixed_ips" in quota_class_fields(v("2.49"))
    assert {"server_groups", "injected_files"} <= set(quota_class_fields(v("2.50")))
    assert "fixed_ips" not in quota_class_fields(v("2.50"))
    assert "injected_files" not in quota_class_fields(v("2.57"))


T0 = dt.datetime(2026, 1, 1)


def _at(hours: float) -> dt.datetime:
    return T0 + dt.timedelta(hours=hours)


@pytest.mark.parametrize(
    ("launched", "terminated", "hours"),
    [
        (None, None, 0.0),  # never launched
        (_at(-5), None, 10.0),  # running through the whole period
        (_at(2), None, 8.0),  # launched within it
        (_at(2), _at(5), 3.0),  # both within it
        (_at(-5), _at(-1), 0.0),  # ended before it
        (_at(11), None, 0.0),  # launched after it
        (_at(-5), _at(4), 4.0),
    ],
)
def test_hours_for(launched, terminated, hours: float) -> None:
    assert db_usage.hours_for(launched, terminated, T0, _at(10)) == pytest.approx(hours)


def test_report_totals() -> None:
    def server(project: str, launched: float, terminated: float | None) -> SimpleNamespace:
        return SimpleNamespace(
            uuid=f"u-{launched}",
            display_name="s",
            project_id=project,
            flavor={"name": "small"},
            vcpus=2,
            memory_mb=512,
            root_gb=3,
            ephemeral_gb=1,
            launched_at=_at(launched),
            terminated_at=None if terminated is None else _at(terminated),
            vm_state="active",
        )

    rows = [server("p1", 0, None), server("p1", 5, 7), server("p2", 9, None)]
    totals = db_usage.report(rows, T0, _at(10), now=_at(20))
    assert list(totals) == ["p1", "p2"]
    p1 = totals["p1"]
    assert p1.total_hours == pytest.approx(12.0)
    assert p1.total_vcpus_usage == pytest.approx(24.0)
    assert p1.total_memory_mb_usage == pytest.approx(12 * 512)
    assert p1.total_local_gb_usage == pytest.approx(48.0)
    ended = p1.servers[1]
    assert (ended.state, ended.uptime) == ("terminated", 2 * 3600)
    assert p1.servers[0].uptime == 20 * 3600
