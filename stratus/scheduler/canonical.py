"""Canonical names of architectures, hypervisor types and VM modes.

Nova's ``Architecture``, ``HVType`` and ``VMMode`` canonicalisation: what hosts
report and what images ask for are compared in these spellings.
"""

from __future__ import annotations


def canonical_arch(name: str | None) -> str | None:
    if not name:
        return None
    name = str(name).lower()
    if name in ("i386", "i486", "i586", "x86_32"):
        return "i686"
    if name in ("amd64", "x64"):
        return "x86_64"
    return name


def canonical_hv_type(name: str | None) -> str | None:
    if not name:
        return None
    name = str(name).lower()
    return "xen" if name == "xapi" else name


def canonical_vm_mode(name: str | None) -> str | None:
    if not name:
        return None
    name = str(name).lower()
    if name == "pv":
        return "xen"
    if name in ("hv", "baremetal"):
        return "hvm"
    return name
