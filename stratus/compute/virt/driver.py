"""The interface every compute virtualisation driver implements.

An *instance* is a plain mapping handed in by the compute manager; drivers read
these keys and never touch a database:

``uuid``
    the instance UUID; also the libvirt domain UUID and the SMBIOS serial.
``name``
    the hypervisor-side name (``instance-0000002a``); defaults to
    ``instance-<uuid>`` when absent.
``vcpus``, ``memory_mb``, ``root_gb``
    the flavor's sizes; ``root_gb == 0`` means "the image's own size".
``image_ref``
    the image the root disk comes from.
``kernel_id``, ``ramdisk_id``
    for AMI-style images: the kernel (aki) and ramdisk (ari) images to boot
    directly; empty for whole-disk images.
``hostname`` / ``display_name``
    the guest's host name (``hostname`` wins).

``image_meta`` is the root image's metadata as the Image API returns it
(``id``, ``disk_format``, ``container_format``, ``properties`` ...).
``image_paths`` maps ``"disk"`` (and for AMI-style boots ``"kernel"`` and
``"ramdisk"``) to local files, normally base files of the image cache.

Power states are the integers of ``stratus.compute.states`` (``RUNNING``, ...).
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Any

from stratus.compute import states

Instance = Mapping[str, Any]
ImageMeta = Mapping[str, Any]
ImagePaths = Mapping[str, str]

#: instances_path, the image cache and each instance directory: QEMU (its own
#: user) may pass through to the files libvirt hands it; nobody else may list
#: them. Files follow the service's umask (0640).
INSTANCE_DIR_MODE = 0o711

__all__ = [
    "INSTANCE_DIR_MODE",
    "ComputeDriver",
    "ImageMeta",
    "ImagePaths",
    "Instance",
    "InjectedFault",
    "InstanceExists",
    "InstanceNotFound",
    "InvalidPowerState",
    "SpawnFailed",
    "VirtError",
    "diagnostics",
    "instance_hostname",
    "instance_name",
    "tail_lines",
]


class VirtError(Exception):
    """Base class of the errors a driver raises."""


class InstanceNotFound(VirtError):
    """The hypervisor has no such instance."""

    def __init__(self, uuid: str) -> None:
        super().__init__(f"instance {uuid} is not known to the hypervisor")
        self.uuid = uuid


class InstanceExists(VirtError):
    """Spawn was asked for an instance the hypervisor already has."""

    def __init__(self, uuid: str) -> None:
        super().__init__(f"instance {uuid} already exists on this hypervisor")
        self.uuid = uuid


class InvalidPowerState(VirtError):
    """The action is not possible in the instance's current power state."""

    def __init__(self, uuid: str, action: str, state: int) -> None:
        name = states.power_state_name(state)
        super().__init__(f"cannot {action} instance {uuid} while it is {name}")
        self.uuid = uuid
        self.action = action
        self.state = state


class SpawnFailed(VirtError):
    """Building the instance failed.

    ``retryable`` tells the conductor whether another host may succeed (a
    hypervisor failure) or not (the image does not fit the flavor, a bad image).
    The driver has already removed whatever it created for the instance.
    """

    def __init__(self, uuid: str, reason: str, *, retryable: bool = True) -> None:
        super().__init__(f"failed to spawn instance {uuid}: {reason}")
        self.uuid = uuid
        self.reason = reason
        self.retryable = retryable


class InjectedFault(SpawnFailed):
    """Spawn failed on purpose because ``[compute] fault_inject_spawn`` is set."""

    def __init__(self, uuid: str) -> None:
        super().__init__(
            uuid, "fault injected by [compute] fault_inject_spawn (testing only)", retryable=True
        )


def instance_name(instance: Instance) -> str:
    """The hypervisor-side name of an instance: from its UUID, never its display name,
    which other servers on the host (or other clouds sharing its libvirtd) may share."""
    return f"instance-{instance['uuid']}"


def instance_hostname(instance: Instance) -> str:
    """The guest host name: ``hostname``, else ``display_name``, else the name."""
    return str(instance.get("hostname") or instance.get("display_name") or instance_name(instance))


class ComputeDriver(abc.ABC):
    """What the compute manager needs from a hypervisor."""

    #: Short name of the driver (``"libvirt"``, ``"fake"``).
    driver_name: str = ""

    @abc.abstractmethod
    def init_host(self, host: str | None = None) -> None:
        """Prepare the host once at service start (connect, create directories)."""

    @abc.abstractmethod
    def get_host_info(self) -> dict[str, Any]:
        """Resources and identity of this node.

        Keys: ``vcpus``, ``memory_mb``, ``local_gb`` (size of the filesystem
        holding the instances), ``vcpus_used``, ``memory_mb_used``,
        ``local_gb_used``, ``running_vms``, ``cpu_info`` (dict: ``arch``,
        ``model``, ``vendor``, ``topology`` {sockets, cores, threads},
        ``features``), ``hypervisor_type``, ``hypervisor_version`` (int),
        ``hypervisor_hostname``, ``arch``.
        """

    @abc.abstractmethod
    def list_instances(self) -> dict[str, int]:
        """Every instance this driver manages on the node: ``{uuid: power_state}``."""

    def instance_exists(self, instance: Instance) -> bool:
        """True if the hypervisor knows the instance."""
        return instance["uuid"] in self.list_instances()

    @abc.abstractmethod
    def spawn(self, instance: Instance, image_meta: ImageMeta, image_paths: ImagePaths) -> None:
        """Create the instance's disks and definition and start it.

        Returns once the guest is running (not once it has booted). Raises
        ``SpawnFailed`` (``InjectedFault`` under ``fault_inject_spawn``) after
        removing what it created, or ``InstanceExists``.
        """

    def attach_interface(self, instance: Instance, vif: dict[str, Any]) -> None:
        """Plug one VIF (an entry of the instance's network info) into the guest,
        live when it runs, and into its definition."""
        raise NotImplementedError

    def detach_interface(self, instance: Instance, vif: dict[str, Any]) -> None:
        """Unplug one VIF from the guest and its definition."""
        raise NotImplementedError

    @abc.abstractmethod
    def destroy(self, instance: Instance, cleanup: bool = True) -> None:
        """Stop the instance at once and undefine it; with ``cleanup`` remove its files.

        Destroying an instance the hypervisor does not know is not an error.
        """

    @abc.abstractmethod
    def reboot(self, instance: Instance, hard: bool = False) -> None:
        """Reboot. Soft: ACPI shutdown, start again; after ``[libvirt]
        soft_reboot_timeout`` (or if the guest is not running) a hard reboot:
        power cycle, discarding any suspended state."""

    @abc.abstractmethod
    def power_off(self, instance: Instance, timeout: float = 0) -> None:
        """Stop the guest: ACPI shutdown for up to ``timeout`` seconds, then power off."""

    @abc.abstractmethod
    def power_on(self, instance: Instance) -> None:
        """Start a stopped guest (no-op if it runs)."""

    @abc.abstractmethod
    def pause(self, instance: Instance) -> None:
        """Freeze the guest's vCPUs in memory."""

    @abc.abstractmethod
    def unpause(self, instance: Instance) -> None:
        """Let a paused guest run again."""

    @abc.abstractmethod
    def suspend(self, instance: Instance) -> None:
        """Save the guest's memory to disk and stop it (libvirt managed save)."""

    @abc.abstractmethod
    def resume(self, instance: Instance) -> None:
        """Restore a suspended guest and let it run."""

    @abc.abstractmethod
    def get_console_output(self, instance: Instance, length: int | None = None) -> str:
        """The serial console log; with ``length``, only its last ``length`` lines."""

    @abc.abstractmethod
    def get_diagnostics(self, instance: Instance) -> dict[str, Any]:
        """Nova's standard diagnostics (microversion 2.48): ``state`` (a power state
        name), ``driver``, ``hypervisor``, ``hypervisor_os``, ``uptime`` (None: the
        caller knows the launch time), ``config_drive``, ``num_cpus``, ``num_nics``,
        ``num_disks``, ``memory_details`` {maximum, used} in MiB, ``cpu_details``
        [{id, time (ns), utilisation}], ``nic_details`` [{mac_address, rx_octets, ...}]
        and ``disk_details`` [{name, read_bytes, read_requests, write_bytes,
        write_requests, errors_count}]. InstanceNotFound if the hypervisor has none."""

    @abc.abstractmethod
    def get_power_state(self, instance: Instance) -> int:
        """The instance's power state; ``NOSTATE`` if the hypervisor does not know it."""


def diagnostics(
    *,
    state: int,
    driver: str,
    hypervisor: str | None,
    memory_max_mb: int | None,
    memory_used_mb: int | None,
    cpu_details: list[dict[str, Any]],
    nic_details: list[dict[str, Any]],
    disk_details: list[dict[str, Any]],
    config_drive: bool = False,
) -> dict[str, Any]:
    """A diagnostics body in Nova's standard form (see ``get_diagnostics``)."""
    return {
        "state": states.power_state_name(state),
        "driver": driver,
        "hypervisor": hypervisor,
        "hypervisor_os": "linux",
        "uptime": None,
        "config_drive": config_drive,
        "num_cpus": len(cpu_details),
        "num_nics": len(nic_details),
        "num_disks": len(disk_details),
        "memory_details": {"maximum": memory_max_mb, "used": memory_used_mb},
        "cpu_details": cpu_details,
        "nic_details": nic_details,
        "disk_details": disk_details,
    }


def tail_lines(text: str, length: int | None) -> str:
    """The last ``length`` lines of ``text`` (all of it when ``length`` is None), as
    Nova counts them: split at ``\n`` only (a guest's ``\r`` or form feed is no line),
    so a log that ends with a newline ends with an empty last line."""
    if length is None:
        return text
    if length <= 0:
        return ""
    return "\n".join(text.split("\n")[-length:])
