"""stratus-compute: builds and runs instances on this host through a virt driver.

Everything it reads or writes about instances, services and nodes goes through
the conductor: a compute node has no database credentials.
"""

from __future__ import annotations

import collections
import logging
import os
import shutil
import threading
import traceback
import urllib.request
from collections.abc import Callable
from typing import Any

import oslo_messaging as messaging

from stratus.compute import states
from stratus.compute.image_cache import ImageCache
from stratus.compute.virt.driver import ComputeDriver, InstanceNotFound
from stratus.conf import CONF
from stratus.rpc.conductor_rpcapi import ConductorAPI

LOG = logging.getLogger(__name__)

# The driver call that carries out each state-machine action.
DRIVER_CALLS: dict[str, Callable[[ComputeDriver, dict], None]] = {
    "reboot": lambda driver, inst: driver.reboot(inst, hard=False),
    "reboot_hard": lambda driver, inst: driver.reboot(inst, hard=True),
    "stop": lambda driver, inst: driver.power_off(inst, CONF.compute.shutdown_timeout),
    "start": lambda driver, inst: driver.power_on(inst),
    "pause": lambda driver, inst: driver.pause(inst),
    "unpause": lambda driver, inst: driver.unpause(inst),
    "suspend": lambda driver, inst: driver.suspend(inst),
    "resume": lambda driver, inst: driver.resume(inst),
}


class ComputeManager:
    # The interface version of stratus.rpc.compute_rpcapi.ComputeAPI that this serves.
    target = messaging.Target(version="1.3")

    def __init__(
        self, driver: ComputeDriver, conductor: ConductorAPI | None = None, host: str | None = None
    ) -> None:
        self.host = host or CONF.host
        self.driver = driver
        self.conductor = conductor or ConductorAPI()
        self.service_id: int | None = None
        base = os.path.join(CONF.compute.instances_path, CONF.compute.image_cache_subdirectory_name)
        self.image_cache = ImageCache(base, self._download)
        self._locks: dict[str, threading.Lock] = collections.defaultdict(threading.Lock)
        self._locks_guard = threading.Lock()
        self._fetch_context = threading.local()
        self._network_agent: Any = None

    def _ctxt(self) -> dict[str, Any]:
        return {"request_id": "", "host": self.host}

    def _lock(self, uuid: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks[uuid]

    # --- service life ---------------------------------------------------------------------

    def register(self) -> int:
        self.driver.init_host(self.host)
        self.service_id = self.conductor.service_register(
            self._ctxt(),
            host=self.host,
            binary="stratus-compute",
            topic="compute",
        )
        self.update_available_resource()
        self.reconcile()
        return self.service_id

    def heartbeat(self, service_id: int) -> None:
        self.conductor.service_heartbeat(self._ctxt(), service_id=service_id)

    def update_available_resource(self) -> None:
        info = self.driver.get_host_info()
        node = {
            key: info.get(key)
            for key in (
                "vcpus",
                "memory_mb",
                "local_gb",
                "hypervisor_type",
                "hypervisor_version",
                "cpu_info",
                "arch",
            )
        }
        node.update(host=self.host, hypervisor_hostname=self.host, host_ip=CONF.compute.my_ip)
        # The physical networks this host reaches (PhysicalNetworkFilter).
        physnets = sorted(
            item.partition(":")[0].strip()
            for item in CONF.network.physical_interface_mappings
            if item.partition(":")[2]
        )
        if physnets:
            node["capabilities"] = {
                **(info.get("capabilities") or {}),
                "physical_networks": physnets,
            }
        self.conductor.compute_node_update(self._ctxt(), service_id=self.service_id, node=node)

    def _instances(self) -> list[dict]:
        return self.conductor.instances_on_host(self._ctxt(), host=self.host)

    def reconcile(self) -> None:
        """Make libvirt's view and the database's agree after a (re)start."""
        known = {i["uuid"]: i for i in self._instances()}
        for uuid in self.driver.list_instances():
            if uuid not in known:
                LOG.warning("destroying guest %s: no live instance owns it", uuid)
                self.driver.destroy({"uuid": uuid}, cleanup=True)
        for uuid, instance in known.items():
            task = instance["task_state"]
            if task == states.DELETING:
                self.terminate_instance(self._ctxt(), uuid)
            elif task in (states.SPAWNING, states.SCHEDULING):
                self.driver.destroy(instance, cleanup=True)
                self._update(uuid, {"vm_state": states.ERROR, "task_state": None})
                self.conductor.instance_fault(
                    self._ctxt(),
                    instance_uuid=uuid,
                    code=500,
                    message="The compute service restarted while the instance was being built.",
                    details="",
                    host=self.host,
                )
            elif task is not None:
                self._update(uuid, {"task_state": None})
        self.sync_power_states()

    def sync_power_states(self) -> None:
        """Record each guest's power state; a guest that died becomes SHUTOFF."""
        for instance in self._instances():
            if instance["task_state"] is not None:
                continue
            uuid = instance["uuid"]
            # Under the instance's lock no action or build is half done, and the
            # expected states discard a decision made on a stale listing.
            with self._lock(uuid):
                power = self.driver.get_power_state(instance)
                values: dict[str, Any] = {}
                if power != instance["power_state"]:
                    values["power_state"] = power
                if states.stopped_unexpectedly(instance["vm_state"], None, power):
                    values["vm_state"] = states.STOPPED
                if values:
                    LOG.info("power state sync for %s: %s", uuid, values)
                    self._update(
                        uuid,
                        values,
                        expected_task_state=None,
                        expected_vm_state=instance["vm_state"],
                    )

    def cleanup_image_cache(self) -> None:
        in_use = {
            image
            for inst in self._instances()
            for image in (inst["image_ref"], inst["kernel_id"], inst["ramdisk_id"])
            if image
        }
        removed = self.image_cache.cleanup(in_use, CONF.compute.image_cache_max_age)
        if removed:
            LOG.info("removed unused base images: %s", ", ".join(removed))

    def periodic_tasks(self) -> list[tuple[float, Callable[[], None]]]:
        return [
            (CONF.compute.resource_update_interval, self.update_available_resource),
            (CONF.compute.sync_power_state_interval, self.sync_power_states),
            (CONF.compute.image_cache_manager_interval, self.cleanup_image_cache),
        ]

    # --- helpers ----------------------------------------------------------------------------

    def _update(
        self,
        uuid: str,
        values: dict,
        ctxt: dict | None = None,
        event: dict | None = None,
        **expected: Any,
    ) -> bool:
        """Change the instance if it is in the ``expected`` states; True if it was.
        ``event`` (see ``_event_record``) is recorded with the change."""
        return self.conductor.instance_update(
            ctxt or self._ctxt(),
            instance_uuid=uuid,
            values=values,
            event=event,
            **expected,
        )

    def _event_record(
        self, event: str, result: str | None = None, details: str | None = None
    ) -> dict[str, Any]:
        """Starts ``event`` of an instance action, or finishes it with ``result``."""
        return {"event": event, "host": self.host, "result": result, "details": details}

    def _event(
        self,
        ctxt: dict,
        uuid: str,
        event: str,
        result: str | None = None,
        details: str | None = None,
    ) -> None:
        self.conductor.action_event(
            ctxt, instance_uuid=uuid, **self._event_record(event, result, details)
        )

    def _download(self, image_id: str, dest: str) -> None:
        url = f"{self._fetch_context.image_url.rstrip('/')}/v2/images/{image_id}/file"
        request = urllib.request.Request(
            url, headers={"X-Auth-Token": self._fetch_context.token or ""}
        )
        with (
            urllib.request.urlopen(request, timeout=CONF.rpc.call_timeout) as response,
            open(dest, "wb") as out,
        ):
            shutil.copyfileobj(response, out, 1024 * 1024)

    def _fetch_images(self, ctxt: dict, instance: dict, image_url: str | None) -> dict:
        self._fetch_context.token = ctxt.get("auth_token")
        self._fetch_context.image_url = image_url or ""
        paths = {}
        for role, meta in instance["images"].items():
            cached = self.image_cache.get(
                meta["id"],
                disk_format=meta["disk_format"],
                container_format=meta["container_format"],
                checksum=meta.get("checksum"),
                hash_algo=meta.get("os_hash_algo"),
                hash_value=meta.get("os_hash_value"),
            )
            paths[role] = cached.path
        return paths

    # --- RPC: builds and deletes -----------------------------------------------------------------

    def build_and_run_instance(
        self,
        ctxt: dict,
        instance: dict,
        alternates: list[dict],
        attempt: int,
        image_url: str | None,
        admin_pass: str | None = None,
    ) -> None:
        """Build ``instance``; ``admin_pass`` (never stored) joins the instance the
        driver sees, whose config drive carries it."""
        uuid = instance["uuid"]
        if admin_pass:
            instance = {**instance, "admin_pass": admin_pass}
        # The conductor opened the build event when it handed the build over. A server
        # deleted meanwhile is spawned and taken down again: the state change below
        # finds it gone. (Asking first would cost every build a round trip.)
        with self._lock(uuid):
            try:
                paths = self._fetch_images(ctxt, instance, image_url)
                self._plug_networks(instance.get("network_info") or [])
                self.driver.spawn(instance, instance["images"]["disk"], paths)
            except Exception as exc:
                LOG.warning("build of %s failed on %s: %s", uuid, self.host, exc)
                self.driver.destroy(instance, cleanup=True)
                self._event(ctxt, uuid, states.BUILD_EVENT, "Error", str(exc))
                self.conductor.build_failed(
                    ctxt,
                    instance_uuid=uuid,
                    host=self.host,
                    alternates=alternates,
                    attempt=attempt,
                    message=str(exc),
                    details=traceback.format_exc(),
                    admin_pass=admin_pass,
                )
                return
            if instance.get("network_info"):
                self.conductor.ports_plugged(
                    ctxt, port_ids=[v["port_id"] for v in instance["network_info"]], status="ACTIVE"
                )
            if not self._update(
                uuid,
                {
                    "vm_state": states.ACTIVE,
                    "task_state": None,
                    "power_state": self.driver.get_power_state(instance),
                    "launched_at": True,
                },
                ctxt,
                self._event_record(states.BUILD_EVENT, "Success"),
                expected_task_state=states.SPAWNING,
            ):
                # Deleted while it was spawning: take the guest down again.
                self.driver.destroy(instance, cleanup=True)
                self.conductor.instance_destroyed(ctxt, instance_uuid=uuid)
                self._event(ctxt, uuid, states.BUILD_EVENT, "Error", "deleted while spawning")

    def _plug_networks(self, vifs: list[dict]) -> None:
        """Make sure each VIF's network has its bridge (and VXLAN device or physical
        interface) on this host before the guest's taps are attached to it: one
        netlink call per network through the data plane library, not a round trip to
        the host's network agent (which fills the VXLAN forwarding entries and
        removes the bridge once no port of the network is bound here)."""
        if not vifs:
            return
        from stratus.network.agent import AgentConfig, NetworkAgent
        from stratus.network.agent_manager import data_plane_lock

        if self._network_agent is None:
            self._network_agent = NetworkAgent(self.host, AgentConfig.from_conf(CONF))
        networks = {
            vif["network_id"]: {
                "id": vif["network_id"],
                "network_type": vif["network_type"],
                "physical_network": vif["physical_network"],
                "segmentation_id": vif["segmentation_id"],
                "mtu": vif["mtu"],
            }
            for vif in vifs
        }
        # Under the host's data-plane lock: see data_plane_lock.
        with data_plane_lock(self._network_agent.config):
            for network in networks.values():
                self._network_agent.plug_network(network)

    def terminate_instance(self, ctxt: dict, instance_uuid: str) -> None:
        with self._lock(instance_uuid):
            instance = self.conductor.instance_get(ctxt, instance_uuid=instance_uuid)
            self._event(ctxt, instance_uuid, states.TERMINATE_EVENT)
            self.driver.destroy(instance or {"uuid": instance_uuid}, cleanup=True)
            self.conductor.instance_destroyed(ctxt, instance_uuid=instance_uuid)

    # --- RPC: power actions and the console -------------------------------------------------

    def run_action(self, ctxt: dict, instance_uuid: str, action: str) -> None:
        transition = states.TRANSITIONS[action]
        event = f"compute_{action}_instance"
        with self._lock(instance_uuid):
            instance = self.conductor.instance_get(ctxt, instance_uuid=instance_uuid)
            if instance is None or instance["task_state"] != transition.task:
                return
            self._event(ctxt, instance_uuid, event)
            try:
                DRIVER_CALLS[action](self.driver, instance)
            except Exception as exc:
                LOG.warning("%s of %s failed: %s", action, instance_uuid, exc)
                self.conductor.instance_fault(
                    ctxt,
                    instance_uuid=instance_uuid,
                    code=500,
                    message=f"{action} failed: {exc}",
                    details=traceback.format_exc(),
                    host=self.host,
                )
                self._update(
                    instance_uuid,
                    {"task_state": None, "power_state": self.driver.get_power_state(instance)},
                    ctxt,
                    self._event_record(event, "Error", str(exc)),
                    expected_task_state=transition.task,
                )
                return
            self._update(
                instance_uuid,
                {
                    "vm_state": transition.result,
                    "task_state": None,
                    "power_state": self.driver.get_power_state(instance),
                },
                ctxt,
                self._event_record(event, "Success"),
                expected_task_state=transition.task,
            )

    # --- RPC: interfaces --------------------------------------------------------------------

    def attach_interface(self, ctxt: dict, instance_uuid: str, vif: dict) -> None:
        with self._lock(instance_uuid):
            instance = self.conductor.instance_get(ctxt, instance_uuid=instance_uuid)
            if instance is None:
                raise ValueError(f"instance {instance_uuid} is gone")
            self._plug_networks([vif])
            self.driver.attach_interface(instance, vif)
        self.conductor.ports_plugged(ctxt, port_ids=[vif["port_id"]], status="ACTIVE")

    def detach_interface(self, ctxt: dict, instance_uuid: str, vif: dict) -> None:
        with self._lock(instance_uuid):
            instance = self.conductor.instance_get(ctxt, instance_uuid=instance_uuid)
            if instance is not None:
                self.driver.detach_interface(instance, vif)

    def get_console_output(self, ctxt: dict, instance_uuid: str, length: int | None) -> str:
        return self.driver.get_console_output({"uuid": instance_uuid}, length)

    def get_diagnostics(self, ctxt: dict, instance_uuid: str) -> dict | None:
        """The guest's diagnostics; None if the hypervisor has no such guest."""
        try:
            return self.driver.get_diagnostics({"uuid": instance_uuid})
        except InstanceNotFound:
            return None
