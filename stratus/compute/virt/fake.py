"""An in-memory compute driver: no guests, instant, for tests and scale runs.

Each ``FakeDriver`` is one pretend hypervisor with its own host name and
sizes, so one process can host many fake compute nodes. Power actions follow
the same rules as the libvirt driver (pausing a stopped instance is refused,
and so on) and the console log carries the same ready marker a real test guest
prints, so tests written against the fake read like tests against libvirt.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from oslo_config import cfg

from stratus.compute import states
from stratus.compute.virt.driver import (
    ComputeDriver,
    ImageMeta,
    ImagePaths,
    InjectedFault,
    Instance,
    InstanceExists,
    InstanceNotFound,
    InvalidPowerState,
    SpawnFailed,
    diagnostics,
    instance_hostname,
    instance_name,
    tail_lines,
)

FAKE_HYPERVISOR_VERSION = 1000


@dataclass
class FakeGuest:
    """What the fake hypervisor remembers about one instance."""

    uuid: str
    name: str
    vcpus: int
    memory_mb: int
    root_gb: int
    state: int = states.RUNNING
    console: list[str] = field(default_factory=list)
    boots: int = 0


class FakeDriver(ComputeDriver):
    """One fake compute node."""

    driver_name = "fake"

    def __init__(
        self,
        hostname: str = "fake-host",
        *,
        vcpus: int = 16,
        memory_mb: int = 32768,
        local_gb: int = 1024,
        arch: str = "x86_64",
        fault_inject_spawn: bool = False,
    ) -> None:
        self.hostname = hostname
        self.vcpus = vcpus
        self.memory_mb = memory_mb
        self.local_gb = local_gb
        self.arch = arch
        #: Make every spawn fail (like ``[compute] fault_inject_spawn``); may be
        #: flipped by tests at any time.
        self.fault_inject_spawn = fault_inject_spawn
        self._guests: dict[str, FakeGuest] = {}
        self._lock = threading.Lock()
        self.initialized = False

    @classmethod
    def from_conf(cls, conf: cfg.ConfigOpts, hostname: str | None = None) -> FakeDriver:
        """A fake node sized by ``[compute] fake_*``, named ``hostname`` or ``[DEFAULT] host``."""
        return cls(
            hostname or conf.host,
            vcpus=conf.compute.fake_vcpus,
            memory_mb=conf.compute.fake_memory_mb,
            local_gb=conf.compute.fake_local_gb,
            fault_inject_spawn=conf.compute.fault_inject_spawn,
        )

    # --- host ---------------------------------------------------------------

    def init_host(self, host: str | None = None) -> None:
        self.initialized = True

    def get_host_info(self) -> dict[str, Any]:
        with self._lock:
            guests = list(self._guests.values())
        return {
            "vcpus": self.vcpus,
            "memory_mb": self.memory_mb,
            "local_gb": self.local_gb,
            "vcpus_used": sum(g.vcpus for g in guests),
            "memory_mb_used": sum(g.memory_mb for g in guests),
            "local_gb_used": sum(g.root_gb for g in guests),
            "running_vms": sum(1 for g in guests if g.state == states.RUNNING),
            "cpu_info": {
                "arch": self.arch,
                "model": "fake",
                "vendor": "Stratus",
                "topology": {"sockets": 1, "cores": self.vcpus, "threads": 1},
                "features": [],
            },
            "hypervisor_type": "fake",
            "hypervisor_version": FAKE_HYPERVISOR_VERSION,
            "hypervisor_hostname": self.hostname,
            "arch": self.arch,
        }

    def list_instances(self) -> dict[str, int]:
        with self._lock:
            return {uuid: g.state for uuid, g in self._guests.items()}

    # --- lifecycle ----------------------------------------------------------

    def spawn(self, instance: Instance, image_meta: ImageMeta, image_paths: ImagePaths) -> None:
        uuid = instance["uuid"]
        if self.fault_inject_spawn:
            raise InjectedFault(uuid)
        if instance.get("kernel_id") and "kernel" not in image_paths:
            raise SpawnFailed(uuid, "the kernel image is missing from image_paths", retryable=False)
        if instance.get("config_drive"):
            # Another host's driver may build it: the conductor tries the next one.
            raise SpawnFailed(
                uuid, "a config drive was requested but the fake compute driver cannot build one"
            )
        guest = FakeGuest(
            uuid=uuid,
            name=instance_name(instance),
            vcpus=int(instance.get("vcpus") or 1),
            memory_mb=int(instance.get("memory_mb") or 0),
            root_gb=int(instance.get("root_gb") or 0),
        )
        with self._lock:
            if uuid in self._guests:
                raise InstanceExists(uuid)
            self._guests[uuid] = guest
            self._boot(guest, instance_hostname(instance))

    def destroy(self, instance: Instance, cleanup: bool = True) -> None:
        with self._lock:
            self._guests.pop(instance["uuid"], None)

    def reboot(self, instance: Instance, hard: bool = False) -> None:
        with self._lock:
            guest = self._get(instance)
            if not hard and guest.state == states.RUNNING:
                guest.console.append("STRATUS-GUEST-POWEROFF acpi power button")
            self._boot(guest, instance_hostname(instance))

    def power_off(self, instance: Instance, timeout: float = 0) -> None:
        with self._lock:
            guest = self._get(instance)
            if guest.state == states.POWER_SUSPENDED:
                raise InvalidPowerState(guest.uuid, "power off", guest.state)
            guest.state = states.SHUTDOWN

    def power_on(self, instance: Instance) -> None:
        with self._lock:
            guest = self._get(instance)
            if guest.state == states.RUNNING:
                return
            if guest.state == states.POWER_PAUSED:
                raise InvalidPowerState(guest.uuid, "power on", guest.state)
            if guest.state == states.POWER_SUSPENDED:
                guest.state = states.RUNNING
                return
            self._boot(guest, instance_hostname(instance))

    def pause(self, instance: Instance) -> None:
        self._transition(instance, "pause", {states.RUNNING}, states.POWER_PAUSED)

    def unpause(self, instance: Instance) -> None:
        self._transition(instance, "unpause", {states.POWER_PAUSED}, states.RUNNING)

    def suspend(self, instance: Instance) -> None:
        self._transition(
            instance, "suspend", {states.RUNNING, states.POWER_PAUSED}, states.POWER_SUSPENDED
        )

    def resume(self, instance: Instance) -> None:
        self._transition(instance, "resume", {states.POWER_SUSPENDED}, states.RUNNING)

    def attach_interface(self, instance: Instance, vif: dict[str, Any]) -> None:
        self._get(instance)

    def detach_interface(self, instance: Instance, vif: dict[str, Any]) -> None:
        self._get(instance)

    def get_console_output(self, instance: Instance, length: int | None = None) -> str:
        with self._lock:
            guest = self._get(instance)
            text = "".join(line + "\n" for line in guest.console)
        return tail_lines(text, length)

    def get_diagnostics(self, instance: Instance) -> dict[str, Any]:
        with self._lock:
            guest = self._get(instance)
            running = guest.state == states.RUNNING
            return diagnostics(
                state=guest.state,
                driver="fake",
                hypervisor="fake",
                memory_max_mb=guest.memory_mb,
                memory_used_mb=guest.memory_mb if running else 0,
                cpu_details=[{"id": i, "time": 0, "utilisation": None} for i in range(guest.vcpus)],
                nic_details=[],
                disk_details=[
                    {
                        "name": "vda",
                        "read_bytes": 0,
                        "read_requests": 0,
                        "write_bytes": 0,
                        "write_requests": 0,
                        "errors_count": 0,
                    }
                ],
            )

    def get_power_state(self, instance: Instance) -> int:
        with self._lock:
            guest = self._guests.get(instance["uuid"])
            return guest.state if guest else states.NOSTATE

    # --- helpers ------------------------------------------------------------

    def _get(self, instance: Instance) -> FakeGuest:
        guest = self._guests.get(instance["uuid"])
        if guest is None:
            raise InstanceNotFound(instance["uuid"])
        return guest

    def _transition(self, instance: Instance, action: str, allowed: set[int], target: int) -> None:
        with self._lock:
            guest = self._get(instance)
            if guest.state not in allowed:
                raise InvalidPowerState(guest.uuid, action, guest.state)
            guest.state = target

    def _boot(self, guest: FakeGuest, hostname: str) -> None:
        guest.boots += 1
        guest.state = states.RUNNING
        guest.console.extend(
            [
                f"[    0.000000] fake boot #{guest.boots} of {guest.name} at {time.time():.3f}",
                f"STRATUS-GUEST-HOSTNAME {hostname}",
                f"STRATUS-GUEST-READY {guest.uuid}",
            ]
        )
