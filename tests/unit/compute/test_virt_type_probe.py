"""virt_type = auto: the KVM boot probe and its caches."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from stratus.compute.virt.libvirt import virt_type as vt


def test_probe_boot_sector_shape() -> None:
    sector = vt.probe_boot_sector()
    assert len(sector) == 512
    assert sector.endswith(b"\x55\xaa")
    assert vt.PROBE_MARKER in sector


def test_explicit_virt_types_need_no_probe() -> None:
    assert vt.resolve_virt_type("kvm").virt_type == "kvm"
    assert vt.resolve_virt_type("qemu").virt_type == "qemu"
    with pytest.raises(ValueError):
        vt.resolve_virt_type("xen")


@pytest.mark.skipif(vt.find_emulator() is None, reason="needs qemu-system-x86_64")
def test_probe_guest_runs_under_tcg() -> None:
    result = vt.run_probe(vt.find_emulator(), "tcg", timeout=20)
    assert result.ok, result.reason
    assert result.seconds < 20


def test_probe_reports_a_missing_emulator() -> None:
    result = vt.run_probe("/nonexistent/qemu-system-x86_64", "tcg", timeout=1)
    assert not result.ok
    assert "cannot run" in result.reason


@pytest.mark.skipif(shutil.which("true") is None, reason="needs true(1)")
def test_probe_rejects_an_emulator_that_prints_nothing() -> None:
    result = vt.run_probe(shutil.which("true"), "kvm", timeout=5)
    assert not result.ok
    assert "exit status 0" in result.reason


def test_auto_uses_the_cache_file(tmp_path: Path) -> None:
    cache = tmp_path / "probe.json"
    emulator = shutil.which("true")  # a stable file for the cache key
    key = vt._cache_key(emulator)
    cache.write_text(json.dumps({"key": key, "virt_type": "kvm", "reason": "cached earlier"}))
    vt.clear_cache()
    try:
        decision = vt.resolve_virt_type("auto", cache_file=cache, emulator=emulator)
        assert (decision.virt_type, decision.reason) == ("kvm", "cached earlier")
        # The in-process cache answers even once the file is gone.
        cache.unlink()
        assert vt.resolve_virt_type("auto", cache_file=cache, emulator=emulator).virt_type == "kvm"
    finally:
        vt.clear_cache()


def test_stale_cache_file_is_ignored(tmp_path: Path) -> None:
    cache = tmp_path / "probe.json"
    cache.write_text(json.dumps({"key": "another-boot", "virt_type": "kvm", "reason": "old"}))
    assert vt._read_cache_file(cache, vt._cache_key(None)) is None
    cache.write_text("not json")
    assert vt._read_cache_file(cache, vt._cache_key(None)) is None


@pytest.mark.slow
@pytest.mark.skipif(vt.find_emulator() is None, reason="needs qemu-system-x86_64")
def test_auto_probe_on_this_host(tmp_path: Path) -> None:
    """On the build machines /dev/kvm exists but KVM guests stall: auto must pick qemu."""
    vt.clear_cache()
    try:
        decision = vt.resolve_virt_type("auto", timeout=5, cache_file=tmp_path / "p.json")
    finally:
        vt.clear_cache()
    assert decision.virt_type in ("kvm", "qemu")
    saved = json.loads((tmp_path / "p.json").read_text())
    assert saved["virt_type"] == decision.virt_type
    if decision.virt_type == "kvm":
        assert decision.kvm_seconds is not None and decision.kvm_seconds < 5
