"""A running server's interfaces (``os-interface``): list, attach and detach.

Attaching creates (or takes over) a port, binds it to the server's host, asks the
compute to plug it into the guest (libvirt hot-plug) and adds the VIF to the
server's network info cache; detaching unplugs it, releases the port (deleting it
when Stratus created it) and drops the VIF from the cache.
"""

from __future__ import annotations

import functools
from typing import Any

import sqlalchemy as sa

from stratus import exception
from stratus.compute import networks, states
from stratus.compute.api import Context, rpc_context
from stratus.db import instances as db_instances
from stratus.db.models import Instance
from stratus.db.session import transaction
from stratus.network import exceptions as net_exc
from stratus.network import service as network_service
from stratus.rpc.compute_rpcapi import ComputeAPI

# Nova lets interfaces change on servers in these states.
ATTACHABLE = frozenset({states.ACTIVE, states.STOPPED, states.PAUSED})


def attachment_view(vif: dict[str, Any], status: str) -> dict[str, Any]:
    """An ``interfaceAttachment`` body."""
    return {
        "port_id": vif["port_id"],
        "net_id": vif["network_id"],
        "mac_addr": vif["mac_address"],
        "port_state": status,
        "fixed_ips": [
            {"subnet_id": ip["subnet_id"], "ip_address": ip["ip_address"]}
            for ip in vif["fixed_ips"]
        ],
    }


class InterfaceAPI:
    @functools.cached_property
    def compute_rpcapi(self) -> ComputeAPI:
        return ComputeAPI()

    def _status(self, context: Context, port_id: str) -> str:
        try:
            return network_service.get_port(networks.ServiceContext(context.project_id), port_id)[
                "status"
            ]
        except net_exc.NotFound:
            return "DOWN"

    def list(self, context: Context, instance: Instance) -> list[dict[str, Any]]:
        return [
            attachment_view(vif, self._status(context, vif["port_id"]))
            for vif in instance.network_info or []
        ]

    def get(self, context: Context, instance: Instance, port_id: str) -> dict[str, Any]:
        for vif in instance.network_info or []:
            if vif["port_id"] == port_id:
                return attachment_view(vif, self._status(context, port_id))
        raise exception.NotFound(f"Port {port_id} is not attached to instance {instance.uuid}.")

    def _check_state(self, instance: Instance) -> None:
        if instance.vm_state not in ATTACHABLE or instance.task_state or not instance.host:
            raise exception.Conflict(
                f"Cannot change the interfaces of instance {instance.uuid} while it is in "
                f"vm_state {instance.vm_state}, task_state {instance.task_state}."
            )

    def _save(self, uuid: str, change: Any) -> None:
        with transaction() as session:
            current = db_instances.get(session, uuid)
            if current is None:
                raise exception.InstanceNotFound(uuid)
            vifs = change(list(current.network_info or []))
            session.execute(
                sa.update(Instance).where(Instance.uuid == uuid).values(network_info=vifs)
            )

    def attach(
        self,
        context: Context,
        instance: Instance,
        network_id: str | None,
        port_id: str | None,
        fixed_ip: str | None,
    ) -> dict[str, Any]:
        self._check_state(instance)
        if port_id:
            entry: dict[str, Any] = {"port": port_id}
        elif network_id:
            entry = {"uuid": network_id, **({"fixed_ip": fixed_ip} if fixed_ip else {})}
        else:
            raise exception.Invalid("interfaceAttachment needs 'net_id' or 'port_id'.")
        requests = networks.resolve(context, [entry], 1)
        (vif,) = networks.allocate(
            instance.uuid, instance.project_id, instance.availability_zone, requests, instance.host
        )
        try:
            self.compute_rpcapi.attach_interface(
                rpc_context(context), instance.host, instance_uuid=instance.uuid, vif=vif
            )
        except Exception as exc:
            networks.release(instance.project_id, [vif])
            raise exception.Conflict(
                f"Failed to attach a network interface to instance {instance.uuid}: {exc}"
            ) from None
        self._save(instance.uuid, lambda vifs: [*vifs, vif])
        return attachment_view(vif, "ACTIVE")

    def detach(self, context: Context, instance: Instance, port_id: str) -> None:
        self._check_state(instance)
        vif = next((v for v in instance.network_info or [] if v["port_id"] == port_id), None)
        if vif is None:
            raise exception.NotFound(f"Port {port_id} is not attached to instance {instance.uuid}.")
        self.compute_rpcapi.detach_interface(
            rpc_context(context), instance.host, instance_uuid=instance.uuid, vif=vif
        )
        self._save(instance.uuid, lambda vifs: [v for v in vifs if v["port_id"] != port_id])
        networks.release(instance.project_id, [vif])
