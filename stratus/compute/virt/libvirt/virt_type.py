"""Choosing between KVM and QEMU (TCG) for ``[libvirt] virt_type = auto``.

``/dev/kvm`` existing is not enough: on some hosts (nested virtualisation
without unrestricted guest support, for one) KVM guests stop with "emulation
failure" as soon as they leave real mode, or crawl. So the probe boots a
512-byte guest under ``qemu-system-x86_64 -accel kvm``: a boot sector that
switches to 32-bit protected mode, returns through an ``iret``, writes a marker
to COM1 and exits through QEMU's ``isa-debug-exit`` device. A working KVM host
does that in a fraction of a second; a probe that fails, reports a KVM internal
error or outlasts ``[libvirt] kvm_probe_timeout`` means TCG. The same guest is
timed under TCG, and KVM is refused when it is slower than that.

The answer is cached in the process and in a small JSON file keyed by the boot
ID and the emulator binary, so a host probes once per boot.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import platform
import selectors
import shutil
import struct
import subprocess
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

LOG = logging.getLogger(__name__)

KVM = "kvm"
QEMU = "qemu"
AUTO = "auto"

PROBE_MARKER = b"STRATUS-PROBE-OK"
#: ``out 0xf4, 0x21`` on isa-debug-exit makes QEMU exit with (0x21 << 1) | 1.
PROBE_EXIT_STATUS = 0x43
_KVM_FAILURE_TEXT = (b"KVM internal error", b"emulation failure", b"failed to initialize kvm")

_ORG = 0x7C00


def probe_boot_sector() -> bytes:
    """The probe guest: a 512-byte x86 boot sector (see the module docstring)."""
    labels: dict[str, int] = {}
    code = b""
    for _ in range(2):  # the second pass sees every label's address
        out = bytearray()

        def mark(label: str, out: bytearray = out) -> None:
            labels[label] = _ORG + len(out)

        def at(label: str) -> int:
            return labels.get(label, 0)

        out += b"\xfa\x31\xc0\x8e\xd8"  # cli; xor ax,ax; mov ds,ax
        out += b"\x0f\x01\x16" + struct.pack("<H", at("gdtr"))  # lgdt [gdtr]
        out += b"\x0f\x20\xc0\x66\x83\xc8\x01\x0f\x22\xc0"  # mov eax,cr0; or eax,1; mov cr0,eax
        out += b"\x66\xea" + struct.pack("<IH", at("pm32"), 8)  # jmp dword 0x08:pm32
        mark("pm32")  # 32-bit protected mode from here on
        out += b"\x66\xb8\x10\x00\x8e\xd8\x8e\xc0\x8e\xd0"  # mov ax,0x10; ds = es = ss = ax
        out += b"\xbc" + struct.pack("<I", _ORG)  # mov esp,0x7c00
        out += b"\x9c\x6a\x08\x68" + struct.pack("<I", at("after")) + b"\xcf"  # pushfd..iretd
        mark("after")
        out += b"\xbe" + struct.pack("<I", at("msg"))  # mov esi,msg
        out += b"\x66\xba\xf8\x03"  # mov dx,0x3f8
        out += b"\xac\x84\xc0\x74\x03\xee\xeb\xf8"  # 1: lodsb; test al,al; jz 2f; out dx,al; jmp 1b
        out += b"\xb0\x21\xe6\xf4\xf4\xeb\xfd"  # 2: mov al,0x21; out 0xf4,al; 3: hlt; jmp 3b
        while len(out) % 8:
            out += b"\x90"
        mark("gdt")  # null, flat 32-bit code (0x08), flat data (0x10)
        out += struct.pack("<QQQ", 0, 0x00CF9A000000FFFF, 0x00CF92000000FFFF)
        mark("gdtr")
        out += struct.pack("<HI", 23, at("gdt"))
        mark("msg")
        out += PROBE_MARKER + b"\r\n\x00"
        code = bytes(out)
    return code.ljust(510, b"\x00") + b"\x55\xaa"


@dataclass(frozen=True)
class ProbeResult:
    """Outcome of one probe run under one accelerator."""

    accel: str
    ok: bool
    seconds: float
    reason: str


def find_emulator() -> str | None:
    """The x86-64 system emulator libvirt would use, if installed."""
    for candidate in ("qemu-system-x86_64", "/usr/libexec/qemu-kvm"):
        path = shutil.which(candidate)
        if path:
            return path
    return None


def run_probe(emulator: str, accel: str, timeout: float) -> ProbeResult:
    """Boot the probe guest under ``accel`` (``kvm`` or ``tcg``) and report."""
    with tempfile.TemporaryDirectory(prefix="stratus-kvm-probe-") as tmp:
        image = Path(tmp) / "probe.img"
        image.write_bytes(probe_boot_sector())
        argv = [
            emulator,
            "-accel", accel,
            "-machine", "pc",
            "-no-user-config",
            "-nodefaults",
            "-display", "none",
            "-m", "16",
            "-serial", "stdio",
            "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
            "-drive", f"file={image},format=raw,if=ide",
        ]  # fmt: skip
        start = time.monotonic()
        try:
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
        except OSError as exc:
            return ProbeResult(accel, False, 0.0, f"cannot run {emulator}: {exc}")
        out, err, timed_out = _collect(proc, timeout)
        seconds = time.monotonic() - start
    if timed_out:
        return ProbeResult(accel, False, seconds, f"no result within {timeout:.1f}s")
    failure = next((text for text in _KVM_FAILURE_TEXT if text in err), None)
    if failure is not None:
        return ProbeResult(accel, False, seconds, f"guest stopped: {failure.decode()}")
    if PROBE_MARKER not in out or proc.returncode != PROBE_EXIT_STATUS:
        detail = err.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        return ProbeResult(
            accel, False, seconds, f"exit status {proc.returncode}: {detail[0][:200]}"
        )
    return ProbeResult(accel, True, seconds, "guest reached protected mode and reported")


def _collect(proc: subprocess.Popen[bytes], timeout: float) -> tuple[bytes, bytes, bool]:
    """Read stdout/stderr until exit, a KVM failure message or the deadline."""
    assert proc.stdout is not None and proc.stderr is not None
    buffers = {proc.stdout: bytearray(), proc.stderr: bytearray()}
    deadline = time.monotonic() + timeout
    timed_out = False
    with selectors.DefaultSelector() as sel:
        for stream in buffers:
            sel.register(stream, selectors.EVENT_READ)
        while sel.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            for key, _ in sel.select(remaining):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    sel.unregister(key.fileobj)
                    continue
                buffers[key.fileobj] += chunk  # type: ignore[index]
            if any(text in buffers[proc.stderr] for text in _KVM_FAILURE_TEXT):
                break
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    proc.stdout.close()
    proc.stderr.close()
    return bytes(buffers[proc.stdout]), bytes(buffers[proc.stderr]), timed_out


@dataclass(frozen=True)
class Decision:
    """The chosen virt_type and why."""

    virt_type: str
    reason: str
    kvm_seconds: float | None = None
    tcg_seconds: float | None = None


def probe_kvm(emulator: str | None = None, timeout: float = 5.0) -> Decision:
    """Decide whether KVM guests make progress on this host (no caching)."""
    if platform.machine() != "x86_64":
        usable = os.access("/dev/kvm", os.R_OK | os.W_OK)
        return Decision(KVM if usable else QEMU, "no probe for this architecture")
    if not os.path.exists("/dev/kvm"):
        return Decision(QEMU, "/dev/kvm does not exist")
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return Decision(QEMU, "/dev/kvm is not accessible")
    emulator = emulator or find_emulator()
    if emulator is None:
        return Decision(QEMU, "qemu-system-x86_64 is not installed")
    kvm = run_probe(emulator, "kvm", timeout)
    if not kvm.ok:
        return Decision(QEMU, f"KVM probe failed: {kvm.reason}", kvm_seconds=kvm.seconds)
    tcg = run_probe(emulator, "tcg", timeout)
    if tcg.ok and kvm.seconds > 2 * tcg.seconds + 1.0:
        return Decision(
            QEMU,
            f"KVM works but is slower than TCG ({kvm.seconds:.2f}s against {tcg.seconds:.2f}s)",
            kvm_seconds=kvm.seconds,
            tcg_seconds=tcg.seconds,
        )
    return Decision(
        KVM,
        f"KVM probe passed in {kvm.seconds:.2f}s",
        kvm_seconds=kvm.seconds,
        tcg_seconds=tcg.seconds if tcg.ok else None,
    )


_cache: dict[str, Decision] = {}
_cache_lock = threading.Lock()


def _cache_key(emulator: str | None) -> str:
    try:
        boot_id = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        boot_id = "unknown"
    mtime = 0
    if emulator:
        with contextlib.suppress(OSError):
            mtime = int(os.stat(emulator).st_mtime)
    return f"{boot_id}:{emulator}:{mtime}"


def resolve_virt_type(
    requested: str,
    *,
    timeout: float = 5.0,
    cache_file: str | os.PathLike[str] | None = None,
    emulator: str | None = None,
) -> Decision:
    """Turn ``[libvirt] virt_type`` into ``kvm`` or ``qemu``, probing for ``auto``."""
    if requested in (KVM, QEMU):
        return Decision(requested, "configured")
    if requested != AUTO:
        raise ValueError(f"unknown virt_type {requested!r}; use kvm, qemu or auto")
    emulator = emulator or find_emulator()
    key = _cache_key(emulator)
    with _cache_lock:
        if key in _cache:
            return _cache[key]
        decision = _read_cache_file(cache_file, key)
        if decision is None:
            decision = probe_kvm(emulator, timeout)
            LOG.info("virt_type auto: chose %s (%s)", decision.virt_type, decision.reason)
            _write_cache_file(cache_file, key, decision)
        _cache[key] = decision
        return decision


def clear_cache() -> None:
    """Forget the in-process answer (the file cache is left alone)."""
    with _cache_lock:
        _cache.clear()


def _read_cache_file(path: str | os.PathLike[str] | None, key: str) -> Decision | None:
    if path is None:
        return None
    try:
        data = json.loads(Path(path).read_text())
        if data.get("key") != key or data["virt_type"] not in (KVM, QEMU):
            return None
        return Decision(
            data["virt_type"], data["reason"], data.get("kvm_seconds"), data.get("tcg_seconds")
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_cache_file(path: str | os.PathLike[str] | None, key: str, decision: Decision) -> None:
    if path is None:
        return
    try:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}")
        tmp.write_text(json.dumps({"key": key, **asdict(decision)}))
        os.replace(tmp, target)
    except OSError as exc:
        LOG.warning("cannot cache the virt_type probe result in %s: %s", path, exc)
