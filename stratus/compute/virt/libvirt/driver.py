"""The libvirt compute driver: KVM or QEMU (TCG) guests through libvirt-python.

Every instance gets ``<instances_path>/<uuid>/`` holding

``disk``
    the root disk: a qcow2 overlay on the cached base image
    (``[libvirt] images_type = qcow2``) or a full raw copy (``raw``/``flat``);
``disk.info``
    JSON ``{"<disk path>": "<format>"}``;
``kernel``, ``ramdisk``
    for AMI-style boots, copies of the aki/ari images;
``libvirt.xml``
    the domain definition rendered from ``templates/domain.xml.j2``;
``console.log``
    the serial console, written by virtlogd.

Domains carry a ``<metadata>`` element in the Stratus namespace naming the
compute node (its host and ``instances_path``); ``list_instances`` only reports
the domains of this node, so several nodes can share one libvirtd, and domains
that are not Stratus's are never touched.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import shutil
import subprocess
import threading
import time
import uuid as uuidlib
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import jinja2
import libvirt
from oslo_config import cfg

from stratus.compute import privileged, states
from stratus.compute.virt.driver import (
    INSTANCE_DIR_MODE,
    ComputeDriver,
    ImageMeta,
    ImagePaths,
    InjectedFault,
    Instance,
    InstanceExists,
    InstanceNotFound,
    InvalidPowerState,
    SpawnFailed,
    VirtError,
    diagnostics,
    instance_hostname,
    instance_name,
    tail_lines,
)
from stratus.compute.virt.libvirt import virt_type as virt_type_mod
from stratus.image.inspect import ImageContentError, detect_format, inspect_image
from stratus.metadata import base as metadata_base
from stratus.metadata import configdrive
from stratus.network.linux import names

LOG = logging.getLogger(__name__)

METADATA_NS = "urn:stratus:libvirt:instance:1"
METADATA_PREFIX = "stratus"
DEFAULT_URI = "qemu:///system"
GiB = 1024**3
#: At most this much of the end of console.log is read (like Nova's limit).
MAX_CONSOLE_BYTES = 100 * 1024
DEFAULT_CMDLINE = "root=/dev/vda console=tty0 console=ttyS0"
#: How often a clean shutdown presses the ACPI power button again.
SHUTDOWN_RETRY_INTERVAL = 5.0
_POLL = 0.2

_LIBVIRT_STATES = {
    libvirt.VIR_DOMAIN_NOSTATE: states.NOSTATE,
    libvirt.VIR_DOMAIN_RUNNING: states.RUNNING,
    libvirt.VIR_DOMAIN_BLOCKED: states.RUNNING,
    libvirt.VIR_DOMAIN_PAUSED: states.POWER_PAUSED,
    libvirt.VIR_DOMAIN_SHUTDOWN: states.SHUTDOWN,
    libvirt.VIR_DOMAIN_SHUTOFF: states.SHUTDOWN,
    libvirt.VIR_DOMAIN_CRASHED: states.CRASHED,
    libvirt.VIR_DOMAIN_PMSUSPENDED: states.POWER_SUSPENDED,
}


def _quiet_libvirt(_ctx: object, _err: object) -> None:
    """Keep libvirt from printing every error on stderr; they are raised anyway."""


libvirt.registerErrorHandler(_quiet_libvirt, None)


def _package_version() -> str:
    try:
        return metadata.version("stratus")
    except metadata.PackageNotFoundError:
        return "0"


def _template_env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(Path(__file__).parent / "templates")),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )


def _checked_uuid(instance: Instance) -> str:
    """The instance UUID in canonical form; refuses anything else (it names a directory)."""
    raw = str(instance["uuid"])
    try:
        canonical = str(uuidlib.UUID(raw))
    except ValueError:
        raise VirtError(f"instance uuid {raw!r} is not a UUID") from None
    if canonical != raw.lower():
        raise VirtError(f"instance uuid {raw!r} is not in canonical form")
    return canonical


class LibvirtDriver(ComputeDriver):
    """Compute driver for libvirt's QEMU driver (and its test driver in unit tests)."""

    driver_name = "libvirt"

    def __init__(self, conf: cfg.ConfigOpts | None = None, *, uri: str | None = None) -> None:
        if conf is None:
            from stratus.conf import CONF

            conf = CONF
        self.conf = conf
        self._uri = uri
        self._conn: libvirt.virConnect | None = None
        self._conn_lock = threading.Lock()
        self._virt_type: virt_type_mod.Decision | None = None
        self._env = _template_env()
        self._version = _package_version()

    # --- configuration ------------------------------------------------------

    @property
    def uri(self) -> str:
        """The libvirt URI: ``connection_uri`` or the one for virt_type."""
        return self._uri or self.conf.libvirt.connection_uri or DEFAULT_URI

    @property
    def instances_path(self) -> Path:
        return Path(self.conf.compute.instances_path)

    @property
    def base_dir(self) -> Path:
        """Where the image cache keeps base images."""
        return self.instances_path / self.conf.compute.image_cache_subdirectory_name

    def instance_dir(self, instance: Instance) -> Path:
        return self.instances_path / _checked_uuid(instance)

    @property
    def virt_type(self) -> str:
        """``kvm`` or ``qemu``: ``[libvirt] virt_type`` with ``auto`` resolved."""
        return self.virt_type_decision.virt_type

    @property
    def virt_type_decision(self) -> virt_type_mod.Decision:
        if self._virt_type is None:
            requested = self.conf.libvirt.virt_type
            if requested == virt_type_mod.AUTO and not self.uri.startswith("qemu"):
                self._virt_type = virt_type_mod.Decision(
                    virt_type_mod.QEMU, f"no KVM probe for {self.uri}"
                )
            else:
                self._virt_type = virt_type_mod.resolve_virt_type(
                    requested,
                    timeout=self.conf.libvirt.kvm_probe_timeout,
                    cache_file=Path(self.conf.state_path) / "virt_type_probe.json",
                )
        return self._virt_type

    # --- connection -----------------------------------------------------------

    def _connect(self) -> libvirt.virConnect:
        with self._conn_lock:
            if self._conn is not None:
                try:
                    if self._conn.isAlive():
                        return self._conn
                except libvirt.libvirtError:
                    pass
                with contextlib.suppress(libvirt.libvirtError):
                    self._conn.close()
                self._conn = None
            try:
                self._conn = libvirt.open(self.uri)
            except libvirt.libvirtError as exc:
                raise VirtError(f"cannot connect to libvirt at {self.uri}: {exc}") from exc
            return self._conn

    def close(self) -> None:
        """Close the libvirt connection (it is reopened on demand)."""
        with self._conn_lock:
            if self._conn is not None:
                with contextlib.suppress(libvirt.libvirtError):
                    self._conn.close()
                self._conn = None

    def _lookup(self, instance: Instance) -> libvirt.virDomain:
        uuid = _checked_uuid(instance)
        try:
            return self._connect().lookupByUUIDString(uuid)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                raise InstanceNotFound(uuid) from None
            raise VirtError(f"cannot look up instance {uuid}: {exc}") from exc

    def _find(self, instance: Instance) -> libvirt.virDomain | None:
        try:
            return self._lookup(instance)
        except InstanceNotFound:
            return None

    @contextlib.contextmanager
    def _translate(self, instance: Instance, action: str, dom: libvirt.virDomain) -> Iterator[None]:
        """Turn libvirt errors into the driver's exceptions."""
        try:
            yield
        except libvirt.libvirtError as exc:
            code = exc.get_error_code()
            if code == libvirt.VIR_ERR_NO_DOMAIN:
                raise InstanceNotFound(instance["uuid"]) from None
            if code == libvirt.VIR_ERR_OPERATION_INVALID:
                raise InvalidPowerState(
                    instance["uuid"], action, self._domain_power_state(dom)
                ) from exc
            raise VirtError(f"cannot {action} instance {instance['uuid']}: {exc}") from exc

    # --- host -----------------------------------------------------------------

    def init_host(self, host: str | None = None) -> None:
        conn = self._connect()
        for path in (self.instances_path, self.base_dir):
            path.mkdir(parents=True, exist_ok=True)
            os.chmod(path, INSTANCE_DIR_MODE)
        decision = self.virt_type_decision
        LOG.info(
            "libvirt driver on %s (%s %s): virt_type %s (%s)",
            self.uri,
            conn.getType(),
            conn.getVersion(),
            decision.virt_type,
            decision.reason,
        )
        if self.uri.startswith("qemu") and shutil.which("qemu-img") is None:
            LOG.warning("qemu-img is not installed; instances cannot be built")

    def get_host_info(self) -> dict[str, Any]:
        conn = self._connect()
        _model, memory_mb, cpus, _mhz, _nodes, sockets, cores, threads = conn.getInfo()
        caps = ET.fromstring(conn.getCapabilities())
        cpu = caps.find("host/cpu")
        arch = (cpu.findtext("arch") if cpu is not None else None) or os.uname().machine
        topology = cpu.find("topology") if cpu is not None else None
        if topology is not None:
            sockets = int(topology.get("sockets", sockets))
            cores = int(topology.get("cores", cores))
            threads = int(topology.get("threads", threads))
        cpu_info = {
            "arch": arch,
            "model": cpu.findtext("model") if cpu is not None else None,
            "vendor": cpu.findtext("vendor") if cpu is not None else None,
            "topology": {"sockets": sockets, "cores": cores, "threads": threads},
            "features": sorted(
                f.get("name", "") for f in (cpu.findall("feature") if cpu is not None else [])
            ),
        }
        self.instances_path.mkdir(parents=True, exist_ok=True)
        st = os.statvfs(self.instances_path)
        local_gb = st.f_blocks * st.f_frsize // GiB
        free_gb = st.f_bavail * st.f_frsize // GiB
        try:
            free_mb = conn.getFreeMemory() // (1024 * 1024)
        except libvirt.libvirtError:
            free_mb = memory_mb
        vcpus_used = 0
        running = 0
        for dom in self._our_domains(conn):
            with contextlib.suppress(libvirt.libvirtError):
                state, _max_mem, _mem, nr_vcpus, _cpu_time = dom.info()
                if dom.isActive():
                    vcpus_used += nr_vcpus
                if state in (libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_BLOCKED):
                    running += 1
        return {
            "vcpus": cpus,
            "memory_mb": memory_mb,
            "local_gb": local_gb,
            "vcpus_used": vcpus_used,
            "memory_mb_used": max(memory_mb - free_mb, 0),
            "local_gb_used": max(local_gb - free_gb, 0),
            "running_vms": running,
            "cpu_info": cpu_info,
            "hypervisor_type": conn.getType(),
            "hypervisor_version": int(conn.getVersion()),
            "hypervisor_hostname": conn.getHostname(),
            "arch": arch,
            "virt_type": self.virt_type,
        }

    def _our_domains(self, conn: libvirt.virConnect) -> list[libvirt.virDomain]:
        """Domains of this compute node.

        Several compute nodes may share one libvirtd (test clouds do): a domain
        belongs to the node whose ``instances_path`` its metadata names.
        """
        ours = []
        mine = str(self.instances_path)
        for dom in conn.listAllDomains(0):
            try:
                text = dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, METADATA_NS, 0)
                # libvirt hands the element back without its namespace.
                root = ET.fromstring(text)
                node = root.find("node")
                if node is None:
                    node = root.find(f"{{{METADATA_NS}}}node")
            except (libvirt.libvirtError, ET.ParseError):
                continue
            if node is not None and node.get("instances_path") == mine:
                ours.append(dom)
        return ours

    def list_instances(self) -> dict[str, int]:
        result = {}
        for dom in self._our_domains(self._connect()):
            with contextlib.suppress(libvirt.libvirtError):
                result[dom.UUIDString()] = self._domain_power_state(dom)
        return result

    def instance_exists(self, instance: Instance) -> bool:
        return self._find(instance) is not None

    # --- domain XML -----------------------------------------------------------

    def render_domain_xml(
        self,
        instance: Instance,
        image_meta: ImageMeta,
        *,
        disk_path: str,
        disk_format: str,
        console_log: str,
        kernel: str | None = None,
        ramdisk: str | None = None,
        arch: str | None = None,
        config_drive: str | None = None,
    ) -> str:
        """The domain XML for ``instance`` (pure: touches neither libvirt nor files);
        ``config_drive`` is the path of its config drive, attached as a read-only
        cdrom on virtio-scsi (any machine type and architecture has that bus)."""
        properties = dict(image_meta.get("properties") or {})
        cpu_mode = self.conf.libvirt.cpu_mode
        if cpu_mode is None:
            cpu_mode = "host-model" if self.virt_type == virt_type_mod.KVM else None
        elif cpu_mode == "none":
            cpu_mode = None
        return self._env.get_template("domain.xml.j2").render(
            virt_type=self.virt_type,
            name=instance_name(instance),
            uuid=_checked_uuid(instance),
            hostname=instance_hostname(instance),
            version=self._version,
            metadata_ns=METADATA_NS,
            node_host=self.conf.host,
            instances_path=str(self.instances_path),
            vcpus=int(instance.get("vcpus") or 1),
            memory_mb=int(instance.get("memory_mb") or 512),
            root_gb=int(instance.get("root_gb") or 0),
            image_ref=instance.get("image_ref") or image_meta.get("id") or "",
            kernel_id=instance.get("kernel_id") or "",
            ramdisk_id=instance.get("ramdisk_id") or "",
            arch=arch or os.uname().machine,
            machine=properties.get("hw_machine_type"),
            kernel=kernel,
            ramdisk=ramdisk,
            cmdline=properties.get("os_command_line") or DEFAULT_CMDLINE,
            cpu_mode=cpu_mode,
            disk_path=disk_path,
            disk_format=disk_format,
            console_log=console_log,
            vnc_enabled=self.conf.libvirt.vnc_enabled,
            vnc_listen=self.conf.libvirt.vnc_listen,
            interfaces=[_interface(vif) for vif in instance.get("network_info") or []],
            config_drive=config_drive,
        )

    def render_interface_xml(self, vif: dict[str, Any]) -> str:
        """The ``<interface>`` of one VIF (the same template the domain XML uses)."""
        return self._env.get_template("interface.xml.j2").render(vif=_interface(vif))

    def _change_interface(self, instance: Instance, vif: dict[str, Any], attach: bool) -> None:
        dom = self._lookup(instance)
        flags = libvirt.VIR_DOMAIN_AFFECT_CONFIG
        if dom.isActive():
            flags |= libvirt.VIR_DOMAIN_AFFECT_LIVE
        xml = self.render_interface_xml(vif)
        action = "attach interface" if attach else "detach interface"
        with self._translate(instance, action, dom):
            if attach:
                dom.attachDeviceFlags(xml, flags)
            else:
                dom.detachDeviceFlags(xml, flags)
        # A hard reboot redefines the guest from libvirt.xml: keep it current.
        path = self.instance_dir(instance) / "libvirt.xml"
        if path.exists():
            path.write_text(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
        LOG.info("%s %s of instance %s", action, vif["port_id"], instance["uuid"])

    def attach_interface(self, instance: Instance, vif: dict[str, Any]) -> None:
        self._change_interface(instance, vif, attach=True)

    def detach_interface(self, instance: Instance, vif: dict[str, Any]) -> None:
        self._change_interface(instance, vif, attach=False)

    def _host_arch(self, conn: libvirt.virConnect) -> str:
        caps = ET.fromstring(conn.getCapabilities())
        return caps.findtext("host/cpu/arch") or os.uname().machine

    # --- spawn ----------------------------------------------------------------

    def spawn(self, instance: Instance, image_meta: ImageMeta, image_paths: ImagePaths) -> None:
        uuid = _checked_uuid(instance)
        if self.conf.compute.fault_inject_spawn:
            raise InjectedFault(uuid)
        try:
            conn = self._connect()
            exists = self._find(instance) is not None
        except VirtError as exc:
            raise SpawnFailed(uuid, str(exc)) from exc
        if exists:
            raise InstanceExists(uuid)
        inst_dir = self.instance_dir(instance)
        try:
            self._build(conn, instance, image_meta, image_paths, inst_dir)
        except SpawnFailed:
            self._cleanup_failed_spawn(instance)
            raise
        except ImageContentError as exc:
            self._cleanup_failed_spawn(instance)
            raise SpawnFailed(uuid, str(exc), retryable=False) from exc
        except (libvirt.libvirtError, OSError, subprocess.CalledProcessError, VirtError) as exc:
            self._cleanup_failed_spawn(instance)
            detail = exc.stderr.strip() if isinstance(exc, subprocess.CalledProcessError) else exc
            raise SpawnFailed(uuid, str(detail or exc)) from exc

    def _cleanup_failed_spawn(self, instance: Instance) -> None:
        try:
            self.destroy(instance, cleanup=True)
        except VirtError as exc:
            LOG.warning("cleanup after the failed spawn of %s failed: %s", instance["uuid"], exc)

    def _build(
        self,
        conn: libvirt.virConnect,
        instance: Instance,
        image_meta: ImageMeta,
        image_paths: ImagePaths,
        inst_dir: Path,
    ) -> None:
        uuid = instance["uuid"]
        if image_meta.get("disk_format") in ("iso", "aki", "ari"):
            raise SpawnFailed(
                uuid,
                f"cannot boot from a {image_meta['disk_format']} image; use a whole-disk "
                f"(raw, qcow2) or ami image",
                retryable=False,
            )
        base = image_paths.get("disk")
        if not base:
            raise SpawnFailed(uuid, "image_paths has no 'disk' (root image)", retryable=False)
        kernel_src = ramdisk_src = None
        if instance.get("kernel_id"):
            kernel_src = image_paths.get("kernel")
            if not kernel_src:
                raise SpawnFailed(
                    uuid, f"kernel image {instance['kernel_id']} was not fetched", retryable=False
                )
        if instance.get("ramdisk_id"):
            ramdisk_src = image_paths.get("ramdisk")
            if not ramdisk_src:
                raise SpawnFailed(
                    uuid,
                    f"ramdisk image {instance['ramdisk_id']} was not fetched",
                    retryable=False,
                )

        inst_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(inst_dir, INSTANCE_DIR_MODE)
        disk_path, disk_format = self._create_root_disk(instance, base, inst_dir)
        (inst_dir / "disk.info").write_text(json.dumps({str(disk_path): disk_format}) + "\n")
        kernel = ramdisk = None
        if kernel_src:
            kernel = inst_dir / "kernel"
            shutil.copyfile(kernel_src, kernel)
            os.chmod(kernel, 0o640)  # libvirt gives it to QEMU (dynamic_ownership)
        if ramdisk_src:
            ramdisk = inst_dir / "ramdisk"
            shutil.copyfile(ramdisk_src, ramdisk)
            os.chmod(ramdisk, 0o640)
        config_drive = self._create_config_drive(instance, inst_dir)
        console_log = inst_dir / "console.log"
        console_log.touch()
        xml = self.render_domain_xml(
            instance,
            image_meta,
            disk_path=str(disk_path),
            disk_format=disk_format,
            console_log=str(console_log),
            kernel=str(kernel) if kernel else None,
            ramdisk=str(ramdisk) if ramdisk else None,
            arch=self._host_arch(conn),
            config_drive=str(config_drive) if config_drive else None,
        )
        (inst_dir / "libvirt.xml").write_text(xml)
        dom = conn.defineXMLFlags(xml, libvirt.VIR_DOMAIN_DEFINE_VALIDATE)
        dom.create()
        LOG.info("spawned instance %s as %s (%s)", uuid, dom.name(), self.virt_type)

    def _create_config_drive(self, instance: Instance, inst_dir: Path) -> Path | None:
        """The instance's config drive (``disk.config`` in its directory, removed with
        it) when it asked for one; None if not."""
        if not instance.get("config_drive"):
            return None
        path = inst_dir / "disk.config"
        files = metadata_base.config_drive_files(
            instance, dhcp_domain=self.conf.metadata.dhcp_domain
        )
        try:
            configdrive.make_iso(files, path)
        except configdrive.ConfigDriveError as exc:
            raise SpawnFailed(instance["uuid"], str(exc), retryable=False) from exc
        os.chmod(path, 0o640)  # libvirt gives it to QEMU (dynamic_ownership)
        LOG.info("made the config drive of instance %s", instance["uuid"])
        return path

    def _create_root_disk(self, instance: Instance, base: str, inst_dir: Path) -> tuple[Path, str]:
        uuid = instance["uuid"]
        detected = detect_format(base)
        if detected == "qcow2":
            base_format = "qcow2"
        elif detected in ("raw", "iso"):
            base_format = "raw"
        else:
            raise SpawnFailed(
                uuid,
                f"base image {base} is {detected}; the image cache must convert it to raw",
                retryable=False,
            )
        info = inspect_image(base, base_format)  # refuses backing files, data files ...
        virtual_size = info.virtual_size or os.path.getsize(base)
        root_gb = int(instance.get("root_gb") or 0)
        size = root_gb * GiB if root_gb else virtual_size
        if size < virtual_size:
            raise SpawnFailed(
                uuid,
                f"the flavor's root disk ({root_gb} GiB) is smaller than the image's virtual "
                f"size ({virtual_size} bytes)",
                retryable=False,
            )
        disk = inst_dir / "disk"
        if self.conf.libvirt.images_type == "qcow2":
            _qemu_img(
                "create", "-q", "-f", "qcow2", "-F", base_format,
                "-b", os.path.abspath(base), str(disk), str(size),
            )  # fmt: skip
            return disk, "qcow2"
        _qemu_img("convert", "-q", "-f", base_format, "-O", "raw", base, str(disk))
        if os.path.getsize(disk) < size:
            os.truncate(disk, size)
        return disk, "raw"

    # --- destroy --------------------------------------------------------------

    def destroy(self, instance: Instance, cleanup: bool = True) -> None:
        dom = self._find(instance)
        if dom is not None:
            with self._translate(instance, "destroy", dom):
                self._hard_stop(dom)
                self._undefine(dom)
        if cleanup:
            inst_dir = self.instance_dir(instance)
            try:
                try:
                    shutil.rmtree(inst_dir)
                except PermissionError:  # root's files (virtlogd's, or an older root compute's)
                    privileged.remove_tree(str(inst_dir))
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise VirtError(f"cannot remove {inst_dir}: {exc}") from exc

    def _undefine(self, dom: libvirt.virDomain) -> None:
        """Undefine with the richest flag set the hypervisor driver accepts."""
        flag_sets = (
            libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
            | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
            | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM,
            libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
            | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA,
            0,
        )
        for flags in flag_sets:
            try:
                dom.undefineFlags(flags)
                return
            except libvirt.libvirtError as exc:
                code = exc.get_error_code()
                if code == libvirt.VIR_ERR_NO_DOMAIN:
                    return
                if flags == 0 or code not in (
                    libvirt.VIR_ERR_NO_SUPPORT,
                    libvirt.VIR_ERR_INVALID_ARG,
                ):
                    raise

    def _hard_stop(self, dom: libvirt.virDomain) -> None:
        """Power the domain off now; a few retries when QEMU is slow to die."""
        for attempt in range(3):
            try:
                if dom.isActive():
                    dom.destroy()
                return
            except libvirt.libvirtError as exc:
                if exc.get_error_code() == libvirt.VIR_ERR_OPERATION_INVALID:
                    return  # not running any more
                if attempt == 2 or exc.get_error_code() != libvirt.VIR_ERR_SYSTEM_ERROR:
                    raise
                time.sleep(1)

    # --- power ----------------------------------------------------------------

    def _domain_power_state(self, dom: libvirt.virDomain) -> int:
        try:
            state, _reason = dom.state(0)
            if state == libvirt.VIR_DOMAIN_SHUTOFF and dom.hasManagedSaveImage(0):
                return states.POWER_SUSPENDED
        except libvirt.libvirtError:
            return states.NOSTATE
        return _LIBVIRT_STATES.get(state, states.NOSTATE)

    def get_power_state(self, instance: Instance) -> int:
        dom = self._find(instance)
        if dom is None:
            return states.NOSTATE
        return self._domain_power_state(dom)

    def _wait_inactive(self, dom: libvirt.virDomain, timeout: float) -> bool:
        """Press the ACPI power button (again every few seconds) until the guest is off."""
        deadline = time.monotonic() + timeout
        next_press = 0.0
        while True:
            try:
                if not dom.isActive():
                    return True
            except libvirt.libvirtError:
                return False
            now = time.monotonic()
            if now >= deadline:
                return False
            if now >= next_press:
                self._press_power_button(dom)
                next_press = now + SHUTDOWN_RETRY_INTERVAL
            time.sleep(min(_POLL, max(deadline - now, 0)))

    @staticmethod
    def _press_power_button(dom: libvirt.virDomain) -> None:
        try:
            dom.shutdownFlags(libvirt.VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN)
        except libvirt.libvirtError as exc:
            code = exc.get_error_code()
            if code in (libvirt.VIR_ERR_NO_SUPPORT, libvirt.VIR_ERR_INVALID_ARG):
                dom.shutdown()  # a driver without the flag picks its own method
            elif code != libvirt.VIR_ERR_OPERATION_INVALID:
                raise

    def _clean_shutdown(self, dom: libvirt.virDomain, timeout: float) -> bool:
        if timeout <= 0:
            return False
        if self._domain_power_state(dom) != states.RUNNING:
            return False
        return self._wait_inactive(dom, timeout)

    def reboot(self, instance: Instance, hard: bool = False) -> None:
        dom = self._lookup(instance)
        with self._translate(instance, "reboot", dom):
            timeout = self.conf.libvirt.soft_reboot_timeout
            running = self._domain_power_state(dom) == states.RUNNING
            if not hard and running and timeout > 0:
                if self._wait_inactive(dom, timeout):
                    dom.create()
                    LOG.info("soft rebooted instance %s", instance["uuid"])
                    return
                LOG.warning(
                    "instance %s did not shut down within %ss of the ACPI power button; "
                    "rebooting it hard",
                    instance["uuid"],
                    timeout,
                )
            self._hard_reboot(instance, dom)

    def _hard_reboot(self, instance: Instance, dom: libvirt.virDomain) -> None:
        self._hard_stop(dom)
        if dom.hasManagedSaveImage(0):
            dom.managedSaveRemove(0)
        xml_path = self.instance_dir(instance) / "libvirt.xml"
        if xml_path.exists():
            dom = self._connect().defineXML(xml_path.read_text())
        dom.create()
        LOG.info("hard rebooted instance %s", instance["uuid"])

    def power_off(self, instance: Instance, timeout: float = 0) -> None:
        dom = self._lookup(instance)
        with self._translate(instance, "power off", dom):
            if not dom.isActive():
                return
            if self._clean_shutdown(dom, timeout):
                return
            self._hard_stop(dom)

    def power_on(self, instance: Instance) -> None:
        dom = self._lookup(instance)
        with self._translate(instance, "power on", dom):
            if dom.isActive():
                return
            dom.create()

    def pause(self, instance: Instance) -> None:
        dom = self._lookup(instance)
        with self._translate(instance, "pause", dom):
            self._require(instance, dom, "pause", {states.RUNNING})
            dom.suspend()

    def unpause(self, instance: Instance) -> None:
        dom = self._lookup(instance)
        with self._translate(instance, "unpause", dom):
            self._require(instance, dom, "unpause", {states.POWER_PAUSED})
            dom.resume()

    def suspend(self, instance: Instance) -> None:
        dom = self._lookup(instance)
        with self._translate(instance, "suspend", dom):
            self._require(instance, dom, "suspend", {states.RUNNING, states.POWER_PAUSED})
            dom.managedSave(libvirt.VIR_DOMAIN_SAVE_RUNNING)

    def resume(self, instance: Instance) -> None:
        dom = self._lookup(instance)
        with self._translate(instance, "resume", dom):
            self._require(instance, dom, "resume", {states.POWER_SUSPENDED})
            dom.create()

    def _require(
        self, instance: Instance, dom: libvirt.virDomain, action: str, allowed: set[int]
    ) -> None:
        state = self._domain_power_state(dom)
        if state not in allowed:
            raise InvalidPowerState(instance["uuid"], action, state)

    # --- diagnostics -------------------------------------------------------------

    def get_diagnostics(self, instance: Instance) -> dict[str, Any]:
        dom = self._lookup(instance)
        with self._translate(instance, "read diagnostics of", dom):
            _state, max_kib, used_kib, _vcpus, _cpu_time = dom.info()
            active = bool(dom.isActive())
            tree = ET.fromstring(dom.XMLDesc(0))
            cpus: list[dict[str, Any]] = []
            if active:
                with contextlib.suppress(libvirt.libvirtError):
                    cpus = [
                        {"id": number, "time": cpu_time, "utilisation": None}
                        for number, _vstate, cpu_time, _pcpu in dom.vcpus()[0]
                    ]
            disks = []
            for target in tree.findall("./devices/disk/target"):
                name = target.get("dev", "")
                stats: tuple[int | None, ...] = (None,) * 5
                if active:
                    with contextlib.suppress(libvirt.libvirtError):
                        stats = tuple(dom.blockStats(name))
                disks.append(
                    {
                        "name": name,
                        "read_requests": stats[0],
                        "read_bytes": stats[1],
                        "write_requests": stats[2],
                        "write_bytes": stats[3],
                        "errors_count": stats[4],
                    }
                )
            nics = []
            for interface in tree.findall("./devices/interface"):
                mac = interface.find("mac")
                target = interface.find("target")
                counters: tuple[int | None, ...] = (None,) * 8
                if active and target is not None:
                    with contextlib.suppress(libvirt.libvirtError):
                        counters = tuple(dom.interfaceStats(target.get("dev")))
                nics.append(
                    {
                        "mac_address": mac.get("address") if mac is not None else None,
                        "rx_octets": counters[0],
                        "rx_packets": counters[1],
                        "rx_errors": counters[2],
                        "rx_drop": counters[3],
                        "tx_octets": counters[4],
                        "tx_packets": counters[5],
                        "tx_errors": counters[6],
                        "tx_drop": counters[7],
                        "rx_rate": None,
                        "tx_rate": None,
                    }
                )
            return diagnostics(
                state=self._domain_power_state(dom),
                driver="libvirt",
                hypervisor=self.virt_type,
                memory_max_mb=max_kib // 1024,
                memory_used_mb=used_kib // 1024 if active else 0,
                cpu_details=cpus,
                nic_details=nics,
                disk_details=disks,
            )

    # --- console ----------------------------------------------------------------

    def get_console_output(self, instance: Instance, length: int | None = None) -> str:
        path = self.instance_dir(instance) / "console.log"
        try:
            with open(path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                f.seek(max(size - MAX_CONSOLE_BYTES, 0))
                data = f.read(MAX_CONSOLE_BYTES)
        except FileNotFoundError:
            if self._find(instance) is None:
                raise InstanceNotFound(instance["uuid"]) from None
            return ""
        except PermissionError:  # virtlogd (root) re-created it after a rotation
            data = privileged.read_tail(str(path), MAX_CONSOLE_BYTES)
        return tail_lines(data.decode("utf-8", errors="replace"), length)


def _interface(vif: dict[str, Any]) -> dict[str, Any]:
    return {
        "mac": vif["mac_address"],
        "bridge": vif["bridge"],
        "tap": names.tap_name(vif["port_id"]),
        "mtu": int(vif.get("mtu") or 1500),
    }


def _qemu_img(*args: str) -> None:
    binary = shutil.which("qemu-img")
    if binary is None:
        raise VirtError("qemu-img is not installed (Debian package qemu-utils)")
    try:
        subprocess.run([binary, *args], check=True, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired as exc:
        raise VirtError(f"qemu-img {args[0]} timed out") from exc
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            raise VirtError("qemu-img is not installed (Debian package qemu-utils)") from exc
        raise
