"""stratus-conductor: orchestrates builds and reschedules, and is the database proxy
that compute nodes call (they hold no database credentials)."""

from __future__ import annotations

import datetime as dt
import logging
import time
import traceback
from typing import Any

import oslo_messaging as messaging
import sqlalchemy as sa

from stratus.compute import networks, states
from stratus.conf import CONF
from stratus.db import identity as db_identity
from stratus.db import images as db_images
from stratus.db import instances as db_instances
from stratus.db import server_groups as db_server_groups
from stratus.db import services as db_services
from stratus.db.models import (
    ComputeNode,
    Image,
    Instance,
    utcnow,
)
from stratus.db.session import transaction
from stratus.network import api as network_api
from stratus.network import service as network_service
from stratus.rpc.compute_rpcapi import ComputeAPI
from stratus.rpc.conductor_rpcapi import ANY
from stratus.rpc.scheduler_rpcapi import SchedulerAPI
from stratus.scheduler import claims

LOG = logging.getLogger(__name__)

SCHEDULE_EVENT = "conductor_schedule_and_build_instances"
# How long the conductor trusts the image endpoint it read from the catalog.
IMAGE_URL_TTL = 60.0


def instance_dict(instance: Instance | sa.Row) -> dict[str, Any]:
    """The plain view of an instance that compute nodes work with."""
    spec = instance.request_spec or {}
    return {
        "uuid": instance.uuid,
        "name": instance.display_name,
        "display_name": instance.display_name,
        "hostname": instance.hostname,
        "project_id": instance.project_id,
        "user_id": instance.user_id,
        "host": instance.host,
        "node": instance.node,
        "vm_state": instance.vm_state,
        "task_state": instance.task_state,
        "power_state": instance.power_state,
        "vcpus": instance.vcpus,
        "memory_mb": instance.memory_mb,
        "root_gb": instance.root_gb,
        "ephemeral_gb": instance.ephemeral_gb,
        "flavor": instance.flavor,
        "image_ref": instance.image_ref,
        "kernel_id": instance.kernel_id,
        "ramdisk_id": instance.ramdisk_id,
        "image": spec.get("image", {}),
        "key_data": instance.key_data,
        "user_data": spec.get("user_data"),
        "deleted": instance.deleted,
        "request_id": spec.get("request_id"),
        "availability_zone": instance.availability_zone,
        "network_info": instance.network_info or [],
        # The instance metadata (stratus.metadata.base) is made of these too.
        "key_name": instance.key_name,
        "launch_index": instance.launch_index,
        "reservation_id": instance.reservation_id,
        "metadata": spec.get("metadata") or {},
        "security_groups": spec.get("security_groups") or [],
        "config_drive": bool(spec.get("config_drive")),
    }


def _images_to_fetch(session, instance: Instance | sa.Row) -> dict[str, dict[str, Any]]:
    """The images a compute node fetches to boot ``instance``, by role: the disk image
    as the API resolved it at create time, and the kernel and ramdisk it names."""
    images = {"disk": instance.request_spec["image"]}
    for role, image_id in (("kernel", instance.kernel_id), ("ramdisk", instance.ramdisk_id)):
        image = session.get(Image, image_id) if image_id else None
        if image_id:
            images[role] = db_images.boot_meta(image) if image else {"id": image_id}
    return images


def _image_url(session) -> str | None:
    for service in db_identity.catalog(session):
        if service.type == "image":
            urls = {e.interface: e.url for e in service.endpoints if e.enabled}
            return urls.get("internal") or urls.get("public") or urls.get("admin")
    return None


def _record_event(
    session,
    ctxt: dict,
    instance_uuid: str,
    event: str,
    host: str,
    result: str | None = None,
    details: str | None = None,
) -> None:
    """Start ``event`` of the request's action, or finish it with ``result``."""
    request_id = ctxt.get("request_id", "")
    if result is None:
        db_instances.start_event(session, instance_uuid, request_id, event, host)
    else:
        db_instances.finish_event(
            session, instance_uuid, request_id, event, result, details=details
        )


class ConductorManager:
    # The interface version of stratus.rpc.conductor_rpcapi.ConductorAPI that this serves.
    target = messaging.Target(version="1.2")

    def __init__(self) -> None:
        self.scheduler = SchedulerAPI()
        self.compute = ComputeAPI()
        self._cached_image_url: tuple[str | None, float] = (None, 0.0)

    # --- builds -------------------------------------------------------------------------

    def build_instances(
        self, ctxt: dict, instance_uuids: list[str], spec: dict, admin_pass: str | None = None
    ) -> None:
        """Schedule the instances the API recorded with request spec ``spec`` and hand
        each to its host (with ``admin_pass``, which is never stored). Instances
        deleted meanwhile are scheduled too: handing them over fails on their state
        and gives their claim back."""
        scheduled_at = utcnow()
        request_spec = {
            "flavor": spec["flavor"],
            "image_id": spec["image"]["id"],
            "image_properties": spec["image"].get("properties", {}),
            "project_id": spec["project_id"],
            "user_id": spec["user_id"],
            "availability_zone": spec.get("availability_zone"),
            "scheduler_hints": spec.get("scheduler_hints", {}),
            "force_hosts": spec.get("force_hosts", []),
            "is_admin": "admin" in ctxt.get("roles", []),
            "instance_group": None,
            "physical_networks": sorted(
                {
                    n["physical_network"]
                    for n in spec.get("networks") or []
                    if n.get("physical_network")
                }
            ),
        }
        if request_spec["scheduler_hints"].get("group"):
            with transaction() as session:
                request_spec["instance_group"] = db_server_groups.scheduler_view_for_instance(
                    session, instance_uuids[0]
                )
        try:
            answer = self.scheduler.select_destinations(ctxt, request_spec, instance_uuids, True)
        except messaging.MessagingTimeout:
            answer = {
                "error": "No valid host was found: the scheduler did not answer in "
                f"{CONF.rpc.call_timeout} s."
            }
        if "error" in answer:
            for uuid in instance_uuids:
                self._fail(ctxt, uuid, answer["error"], "", scheduled_at)
            return
        for uuid, selections in zip(instance_uuids, answer["selections"], strict=True):
            self._hand_to_compute(
                ctxt, uuid, selections[0], selections[1:], 1, scheduled_at, admin_pass
            )

    def image_url(self) -> str | None:
        """The image endpoint compute nodes download from, read from the catalog at
        most every IMAGE_URL_TTL seconds rather than once per build."""
        url, expires = self._cached_image_url
        if time.monotonic() >= expires:
            with transaction() as session:
                url = _image_url(session)
            self._cached_image_url = (url, time.monotonic() + IMAGE_URL_TTL)
        return url

    def _hand_to_compute(
        self,
        ctxt: dict,
        uuid: str,
        selection: dict,
        alternates: list[dict],
        attempt: int,
        scheduled_at: dt.datetime | None,
        admin_pass: str | None = None,
    ) -> None:
        """Record the instance on the chosen host, open its build event and cast the
        build there; ``scheduled_at`` (the first attempt) records the scheduling event."""
        with transaction() as session:
            if not db_instances.change(
                session,
                uuid,
                {
                    "host": selection["host"],
                    "node": selection["nodename"],
                    "task_state": states.SPAWNING,
                },
                expected_task_state=[states.SCHEDULING, states.SPAWNING],
            ):
                # Deleted while it was being scheduled: give the claim back.
                claims.release(session, uuid)
                return
            instance = db_instances.row(session, uuid)
            request_id = ctxt.get("request_id", "")
            if scheduled_at:
                db_instances.record_event(
                    session, uuid, request_id, SCHEDULE_EVENT, CONF.host, scheduled_at, "Success"
                )
            # The compute node finishes it, with its state change.
            db_instances.start_event(
                session, uuid, request_id, states.BUILD_EVENT, selection["host"]
            )
            payload = instance_dict(instance)
            payload["images"] = _images_to_fetch(session, instance)
            requests = (instance.request_spec or {}).get("networks") or []
        try:
            vifs = self._bind_ports(payload, requests, selection["host"], attempt)
        except Exception as exc:
            self._fail(
                ctxt,
                uuid,
                f"Build of instance {uuid} failed: its ports could not be set up on "
                f"{selection['host']}: {exc}",
                traceback.format_exc(),
            )
            return
        if vifs is None:
            self._abandon(ctxt, uuid, "deleted while its ports were being created")
            return
        payload["network_info"] = vifs
        LOG.info(
            "[%s] build of %s: attempt %d on host %s (alternates: %s)",
            ctxt.get("request_id", ""),
            uuid,
            attempt,
            selection["host"],
            ", ".join(a["host"] for a in alternates) or "none",
        )
        self.compute.build_and_run_instance(
            ctxt,
            selection["host"],
            instance=payload,
            alternates=alternates,
            attempt=attempt,
            image_url=self.image_url(),
            admin_pass=admin_pass,
        )

    def _bind_ports(
        self, instance: dict[str, Any], requests: list[dict], host: str, attempt: int
    ) -> list[dict] | None:
        """The instance's VIFs bound to ``host``: its ports created on the first
        attempt, rebound on a reschedule; recorded in its network info cache.

        None when the instance was deleted before its new ports were recorded: a
        delete releases the ports that the cache names, so those it could not see
        are deleted here. The cache is written only while no delete has started
        (both are single-row updates, so either the delete sees the ports or this
        build learns that it must remove them)."""
        vifs = instance["network_info"]
        if not requests and not vifs:
            return []
        if vifs:
            networks.bind(instance["project_id"], vifs, host)
            return vifs
        vifs = networks.allocate(
            instance["uuid"],
            instance["project_id"],
            instance.get("availability_zone"),
            requests,
            host,
        )
        with transaction() as session:
            recorded = session.execute(
                sa.update(Instance)
                .where(
                    Instance.uuid == instance["uuid"],
                    Instance.deleted.is_(False),
                    sa.or_(Instance.task_state.is_(None), Instance.task_state != states.DELETING),
                )
                .values(network_info=vifs)
            ).rowcount
        if not recorded:
            networks.release(instance["project_id"], vifs)
            return None
        return vifs

    def _abandon(self, ctxt: dict, uuid: str, reason: str) -> None:
        """Stop a build whose instance is being deleted: its build event ends in
        error and the delete finishes the rest."""
        with transaction() as session:
            _record_event(session, ctxt, uuid, states.BUILD_EVENT, CONF.host, "Error", reason)
        LOG.info("[%s] build of %s abandoned: %s", ctxt.get("request_id", ""), uuid, reason)

    def build_failed(
        self,
        ctxt: dict,
        instance_uuid: str,
        host: str,
        alternates: list[dict],
        attempt: int,
        message: str,
        details: str = "",
        admin_pass: str | None = None,
    ) -> None:
        """A compute could not build: move the claim to the next alternate (the build
        keeps its ``admin_pass``), or fail."""
        with transaction() as session:
            claims.release(session, instance_uuid)
            session.execute(
                sa.update(ComputeNode)
                .where(ComputeNode.host == host)
                .values(failed_builds=ComputeNode.failed_builds + 1)
            )
            instance = db_instances.get(session, instance_uuid)
            if instance is None:
                return
            resources = claims.Resources.of_flavor(instance.flavor)
            chosen = None
            if attempt < CONF.scheduler.max_attempts:
                while alternates and chosen is None:
                    candidate = alternates.pop(0)
                    if claims.claim(
                        session,
                        candidate["compute_node_uuid"],
                        instance_uuid,
                        resources,
                        candidate["limits"],
                    ):
                        chosen = candidate
        if chosen is None:
            self._fail(
                ctxt,
                instance_uuid,
                f"Build of instance {instance_uuid} failed on "
                f"{attempt} host(s); the last error was: {message}",
                details,
            )
            return
        LOG.info(
            "[%s] rescheduling %s from %s (attempt %d failed: %s) to %s",
            ctxt.get("request_id", ""),
            instance_uuid,
            host,
            attempt,
            message,
            chosen["host"],
        )
        self._hand_to_compute(
            ctxt, instance_uuid, chosen, alternates, attempt + 1, None, admin_pass
        )

    def _fail(
        self,
        ctxt: dict,
        uuid: str,
        message: str,
        details: str,
        scheduled_at: dt.datetime | None = None,
    ) -> None:
        """Put the instance in ERROR with a fault; ``scheduled_at`` records the failed
        scheduling event. Its network is released (as a failed build does in Nova):
        the ports Stratus created are deleted, the user's are detached, and the
        cache is emptied in the same transaction as the state change, so that a
        later delete has nothing left to release."""
        with transaction() as session:
            claims.release(session, uuid)
            try:
                instance = db_instances.update(
                    session, uuid, {"vm_state": states.ERROR, "task_state": None}
                )
            except db_instances.UnexpectedState:
                return
            vifs, project_id = (instance.network_info or [], instance.project_id)
            if vifs:
                db_instances.change(session, uuid, {"network_info": []})
            db_instances.add_fault(session, uuid, 500, message, details, CONF.host)
            if scheduled_at:
                db_instances.record_event(
                    session,
                    uuid,
                    ctxt.get("request_id", ""),
                    SCHEDULE_EVENT,
                    CONF.host,
                    scheduled_at,
                    "Error",
                    details=message,
                )
        networks.release(project_id, vifs)
        LOG.warning("instance %s failed: %s", uuid, message)

    # --- the database proxy for compute nodes ---------------------------------------------

    def service_register(self, ctxt: dict, host: str, binary: str, topic: str) -> int:
        with transaction() as session:
            return db_services.register(session, host, binary, topic).id

    def service_heartbeat(self, ctxt: dict, service_id: int) -> None:
        with transaction() as session:
            db_services.heartbeat(session, service_id)

    def compute_node_update(self, ctxt: dict, service_id: int, node: dict) -> str:
        """Create or update the node's totals and capabilities (never its usage)."""
        totals = {
            k: node[k]
            for k in (
                "vcpus",
                "memory_mb",
                "local_gb",
                "hypervisor_type",
                "hypervisor_version",
                "cpu_info",
                "arch",
                "host_ip",
                "capabilities",
                "disk_available_least",
            )
            if k in node
        }
        with transaction() as session:
            row = session.scalar(
                sa.select(ComputeNode).where(
                    ComputeNode.hypervisor_hostname == node["hypervisor_hostname"]
                )
            )
            if row is None:
                row = ComputeNode(
                    host=node["host"],
                    service_id=service_id,
                    hypervisor_hostname=node["hypervisor_hostname"],
                )
                session.add(row)
            row.service_id = service_id
            for key, value in totals.items():
                setattr(row, key, value)
            row.updated_at = utcnow()
            session.flush()
            return row.uuid

    def instance_get(self, ctxt: dict, instance_uuid: str) -> dict | None:
        with transaction() as session:
            instance = db_instances.get(session, instance_uuid, include_deleted=True)
            return instance_dict(instance) if instance else None

    def instances_on_host(self, ctxt: dict, host: str) -> list[dict]:
        with transaction() as session:
            return [instance_dict(i) for i in db_instances.on_host(session, host)]

    def instance_update(
        self,
        ctxt: dict,
        instance_uuid: str,
        values: dict,
        expected_task_state: Any = ANY,
        expected_vm_state: Any = ANY,
        event: dict | None = None,
    ) -> bool:
        """Apply a state change; False when the instance is gone or not in the expected
        states (``ANY`` means no expectation; None is a real value for task_state).
        ``event`` (the arguments of ``action_event``) is recorded in the same
        transaction when the change applies, which saves compute nodes a round trip."""
        allowed = {"vm_state", "task_state", "power_state", "launched_at"}
        unknown = set(values) - allowed
        if unknown:
            raise ValueError(f"compute may not change {sorted(unknown)}")
        if values.pop("launched_at", None):
            values["launched_at"] = utcnow()

        def expectation(value: Any) -> Any:
            return db_instances.UNSET if value == ANY else value

        with transaction() as session:
            applied = db_instances.change(
                session,
                instance_uuid,
                values,
                expected_task_state=expectation(expected_task_state),
                expected_vm_state=expectation(expected_vm_state),
            )
            if applied and event:
                _record_event(session, ctxt, instance_uuid, **event)
            return applied

    def instance_destroyed(self, ctxt: dict, instance_uuid: str) -> None:
        """The guest is gone: release its allocation and its ports, and mark the
        instance deleted."""
        with transaction() as session:
            instance = db_instances.get(session, instance_uuid, include_deleted=True)
            vifs = (instance.network_info or []) if instance else []
            project_id = instance.project_id if instance else ""
            claims.release(session, instance_uuid)
            db_instances.soft_delete(session, instance_uuid)
            db_server_groups.remove_members(session, [instance_uuid])
            db_instances.finish_event(
                session,
                instance_uuid,
                ctxt.get("request_id", ""),
                states.TERMINATE_EVENT,
                "Success",
            )
        networks.release(project_id, vifs)

    def action_event(
        self,
        ctxt: dict,
        instance_uuid: str,
        event: str,
        host: str,
        result: str | None = None,
        details: str | None = None,
    ) -> None:
        with transaction() as session:
            _record_event(session, ctxt, instance_uuid, event, host, result, details)

    def instance_fault(
        self, ctxt: dict, instance_uuid: str, code: int, message: str, details: str, host: str
    ) -> None:
        with transaction() as session:
            db_instances.add_fault(session, instance_uuid, code, message, details, host)

    # --- the network hosts' proxy ---------------------------------------------------------

    def network_host_report(
        self, ctxt: dict, host: str, vtep_address: str | None, physical_networks: list[str]
    ) -> None:
        network_api.report_host(host, vtep_address)
        LOG.info(
            "network host %s: VTEP %s, physical networks %s",
            host,
            vtep_address or "none",
            ", ".join(physical_networks) or "none",
        )

    def network_host_state(self, ctxt: dict, host: str, dhcp: bool) -> dict:
        """The host's desired state. A DHCP host takes the networks' unbound DHCP
        ports (binding them to itself), so that the other hosts of a vxlan network
        learn its VTEP and flood DHCP requests to it."""
        state = network_api.host_state(host, dhcp=dhcp)
        if not dhcp:
            return state
        unbound = [
            port["id"]
            for network in state["networks"]
            for port in network["ports"]
            if port["device_owner"] == network_api.DHCP_OWNER and not port["binding_host_id"]
        ]
        for port_id in unbound:
            network_service.bind_port(port_id, host)  # tells the other agents
        return network_api.host_state(host, dhcp=dhcp) if unbound else state

    def ports_plugged(self, ctxt: dict, port_ids: list[str], status: str) -> None:
        for port_id in port_ids:
            network_api.set_port_status(port_id, status)
