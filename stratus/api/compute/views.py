"""Response bodies of the Compute API, per microversion, from the database rows."""

from __future__ import annotations

import hashlib
from typing import Any

from fastapi import Request

from stratus.api.compute import common
from stratus.api.context import RequestContext
from stratus.compute import networks as compute_networks
from stratus.compute import states
from stratus.compute.api import ServerDetails
from stratus.compute.virt.driver import instance_name
from stratus.db.models import Instance, KeyPair, ServerGroup
from stratus.network import service as network_service


def metadata_view(instance: Instance) -> dict[str, str]:
    return {m.key: m.value for m in instance.metadata_items}


def host_id(instance: Instance) -> str:
    if not instance.host:
        return ""
    return hashlib.sha224(f"{instance.project_id}{instance.host}".encode()).hexdigest()


def addresses_view(instance: Instance) -> dict[str, list[dict[str, Any]]]:
    """A server's ``addresses``: the fixed addresses of its network info cache, each
    followed by the floating addresses associated with it (``OS-EXT-IPS:type``
    floating), as the Networking service has them now. Associations are read live
    (one indexed query per server) rather than copied into the cache: they change
    through the Networking API at any time, and a copy would have to be kept in
    step with every rewrite of the cache."""
    found = compute_networks.addresses(instance.network_info)
    vifs = instance.network_info or []
    floating = network_service.floating_addresses([v["port_id"] for v in vifs])
    for vif in vifs:
        entries = found[vif["network_name"] or vif["network_id"]]
        for fixed, address in floating.get(vif["port_id"], []):
            at = next(
                (
                    i + 1
                    for i, e in enumerate(entries)
                    if e["addr"] == fixed and e["OS-EXT-IPS-MAC:mac_addr"] == vif["mac_address"]
                ),
                len(entries),
            )
            entries.insert(
                at,
                {
                    "version": 4,
                    "addr": address,
                    "OS-EXT-IPS:type": "floating",
                    "OS-EXT-IPS-MAC:mac_addr": vif["mac_address"],
                },
            )
    return found


def _flavor_view(request: Request, context: RequestContext, flavor: dict) -> dict[str, Any]:
    if context.api_version >= "2.47":
        return {
            "vcpus": flavor["vcpus"],
            "ram": flavor["memory_mb"],
            "disk": flavor["root_gb"],
            "ephemeral": flavor.get("ephemeral_gb", 0),
            "swap": flavor.get("swap", 0),
            "original_name": flavor["name"],
            "extra_specs": flavor.get("extra_specs", {}),
        }
    return {
        "id": flavor["flavorid"],
        "links": common.links(request, "flavors", flavor["flavorid"])[1:],
    }


def _image_view(request: Request, context: RequestContext, instance: Instance) -> Any:
    if not instance.image_ref:
        return ""
    body: dict[str, Any] = {
        "id": instance.image_ref,
        "links": common.links(request, "images", instance.image_ref)[1:],
    }
    if context.api_version >= "2.98":
        body["properties"] = dict(instance.request_spec.get("image", {}).get("properties", {}))
    return body


def security_groups_view(instance: Instance) -> list[dict[str, str]]:
    """The names of the server's security groups: those it was created with
    (``default`` if none was named), as add/removeSecurityGroup changed them."""
    names = instance.request_spec.get("security_groups")
    if names is None:  # recorded before the spec carried them
        names = ["default"]
    return [{"name": name} for name in names]


def server_view(
    request: Request,
    context: RequestContext,
    instance: Instance,
    fault: Any = None,
    groups: list[str] | None = None,
    host_statuses: dict[str, str] | None = None,
    full: bool = True,
) -> dict[str, Any]:
    """A server as ``GET /servers/{id}`` shows it; with ``full=False`` the shorter body
    that ``PUT /servers/{id}`` answers with below microversion 2.75."""
    version = context.api_version
    status = states.status(instance.vm_state, instance.task_state)
    body: dict[str, Any] = {
        "id": instance.uuid,
        "name": instance.display_name,
        "status": status,
        "tenant_id": instance.project_id,
        "user_id": instance.user_id,
        "metadata": metadata_view(instance),
        "hostId": host_id(instance),
        "image": _image_view(request, context, instance),
        "flavor": _flavor_view(request, context, instance.flavor),
        "created": common.iso_z(instance.created_at),
        "updated": common.iso_z(instance.updated_at or instance.created_at),
        "addresses": addresses_view(instance),
        "accessIPv4": instance.access_ip_v4 or "",
        "accessIPv6": instance.access_ip_v6 or "",
        "links": common.links(request, "servers", instance.uuid),
        "OS-DCF:diskConfig": "MANUAL",
    }
    if full:
        body.update(
            {
                "OS-EXT-AZ:availability_zone": instance.availability_zone or "",
                "config_drive": "True" if instance.request_spec.get("config_drive") else "",
                "key_name": instance.key_name,
                "security_groups": security_groups_view(instance),
                "OS-SRV-USG:launched_at": common.iso(instance.launched_at),
                "OS-SRV-USG:terminated_at": common.iso(instance.terminated_at),
                "OS-EXT-STS:task_state": instance.task_state,
                "OS-EXT-STS:vm_state": instance.vm_state,
                "OS-EXT-STS:power_state": instance.power_state,
                "os-extended-volumes:volumes_attached": [],
            }
        )
    if status in ("ACTIVE", "BUILD"):
        body["progress"] = 100 if status == "ACTIVE" else 0
    if full and context.is_admin:
        body.update(
            {
                "OS-EXT-SRV-ATTR:host": instance.host,
                "OS-EXT-SRV-ATTR:instance_name": instance_name({"uuid": instance.uuid}),
                "OS-EXT-SRV-ATTR:hypervisor_hostname": instance.node,
            }
        )
        if version >= "2.3":
            body.update(
                {
                    "OS-EXT-SRV-ATTR:reservation_id": instance.reservation_id,
                    "OS-EXT-SRV-ATTR:launch_index": instance.launch_index,
                    "OS-EXT-SRV-ATTR:kernel_id": instance.kernel_id or "",
                    "OS-EXT-SRV-ATTR:ramdisk_id": instance.ramdisk_id or "",
                    "OS-EXT-SRV-ATTR:root_device_name": "/dev/vda",
                    "OS-EXT-SRV-ATTR:user_data": instance.request_spec.get("user_data"),
                }
            )
        if version >= "2.16":
            body["host_status"] = (host_statuses or {}).get(instance.host, "")
    if full and version >= "2.3" and (context.is_admin or version >= "2.90"):
        body["OS-EXT-SRV-ATTR:hostname"] = instance.hostname
    if version >= "2.9":
        body["locked"] = instance.locked
    if version >= "2.19":
        body["description"] = instance.display_description
    if version >= "2.26":
        body["tags"] = list(instance.request_spec.get("tags", []))
    if version >= "2.63":
        body["trusted_image_certificates"] = None
    if version >= "2.71" and groups is not None:
        body["server_groups"] = groups
    if version >= "2.73":
        body["locked_reason"] = instance.locked_reason
    if version >= "2.96":
        body["pinned_availability_zone"] = instance.request_spec.get("pinned_az")
    if version >= "2.100":
        body["scheduler_hints"] = instance.request_spec.get("scheduler_hints", {})
    if fault is not None and status in ("ERROR", "DELETED"):
        show_details = context.is_admin or fault.code != 500
        body["fault"] = {
            "code": fault.code,
            "created": common.iso_z(fault.created_at),
            "message": fault.message,
        }
        if show_details:
            body["fault"]["details"] = fault.details
    return body


def details_view(
    request: Request, context: RequestContext, details: ServerDetails, full: bool = True
) -> dict[str, Any]:
    """``server_view`` of what ``compute.API.show`` found."""
    return server_view(
        request,
        context,
        details.instance,
        details.fault,
        details.groups,
        details.host_statuses,
        full=full,
    )


def diagnostics_view(context: RequestContext, diagnostics: dict[str, Any]) -> dict[str, Any]:
    """Nova's standard diagnostics (from 2.48), or below it the flat form the libvirt
    driver gave: ``cpu0_time``, ``memory``, ``vda_read`` and so on."""
    if context.api_version >= "2.48":
        disks = [{k: v for k, v in d.items() if k != "name"} for d in diagnostics["disk_details"]]
        return {**diagnostics, "disk_details": disks}
    flat: dict[str, Any] = {}
    for cpu in diagnostics["cpu_details"]:
        flat[f"cpu{cpu['id']}_time"] = cpu["time"]
    flat["memory"] = (diagnostics["memory_details"]["maximum"] or 0) * 1024
    for disk in diagnostics["disk_details"]:
        name = disk.get("name", "")
        flat.update(
            {
                f"{name}_read": disk["read_bytes"],
                f"{name}_read_req": disk["read_requests"],
                f"{name}_write": disk["write_bytes"],
                f"{name}_write_req": disk["write_requests"],
                f"{name}_errors": disk["errors_count"],
            }
        )
    return flat


def summary_view(request: Request, instance: Instance) -> dict[str, Any]:
    return {
        "id": instance.uuid,
        "name": instance.display_name,
        "links": common.links(request, "servers", instance.uuid),
    }


def created_view(request: Request, instance: Instance, admin_pass: str | None) -> dict[str, Any]:
    """The body of a create's 202: the first server's id and links."""
    server: dict[str, Any] = {
        "id": instance.uuid,
        "links": common.links(request, "servers", instance.uuid),
        "OS-DCF:diskConfig": "MANUAL",
        "security_groups": security_groups_view(instance),
    }
    if admin_pass is not None:
        server["adminPass"] = admin_pass
    return server


def action_view(context: RequestContext, action: Any, events: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "action": action.action,
        "instance_uuid": action.instance_uuid,
        "message": action.message,
        "project_id": action.project_id,
        "request_id": action.request_id,
        "start_time": common.iso(action.start_time),
        "user_id": action.user_id,
    }
    if context.api_version >= "2.58":
        body["updated_at"] = common.iso(action.updated_at or action.start_time)
    if events:
        body["events"] = []
        for event in action.events:
            item: dict[str, Any] = {
                "event": event.event,
                "start_time": common.iso(event.start_time),
                "finish_time": common.iso(event.finish_time),
                "result": event.result,
            }
            if context.is_admin or context.api_version < "2.51":
                item["traceback"] = event.traceback
            if context.api_version >= "2.62":
                item["hostId"] = ""
                if context.is_admin:
                    item["host"] = event.host
            if context.api_version >= "2.84":
                item["details"] = event.details
            body["events"].append(item)
    return body


def keypair_view(context: RequestContext, key: KeyPair, detail: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": key.name,
        "public_key": key.public_key,
        "fingerprint": key.fingerprint,
    }
    if context.api_version >= "2.2":
        body["type"] = key.type
    if detail:
        body.update(
            {
                "user_id": key.user_id,
                "created_at": common.iso(key.created_at),
                "deleted": False,
                "deleted_at": None,
                "updated_at": None,
                "id": key.id,
            }
        )
    return body


def group_view(context: RequestContext, group: ServerGroup, members: list[str]) -> dict[str, Any]:
    body: dict[str, Any] = {"id": group.uuid, "name": group.name}
    if context.api_version >= "2.64":
        body["policy"] = group.policy
        body["rules"] = dict(group.rules or {})
    else:
        body["policies"] = [group.policy]
        body["metadata"] = {}
    body["members"] = members
    if context.api_version >= "2.13":
        body["project_id"] = group.project_id
        body["user_id"] = group.user_id
    return body
