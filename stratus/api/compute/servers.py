"""Servers: create, list, show, update, delete and the server actions."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import uuid
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.orm import lazyload, load_only

from stratus.api import policy
from stratus.api.compute import common
from stratus.api.context import RequestContext, get_context
from stratus.api.errors import BadRequest, Conflict, Forbidden, NotFound, OverQuota
from stratus.api.policy import authorize
from stratus.compute import states
from stratus.conf import CONF
from stratus.db import flavors as db_flavors
from stratus.db import images as db_images
from stratus.db import instances as db_instances
from stratus.db import quotas as db_quotas
from stratus.db import server_groups as db_server_groups
from stratus.db import services as db_services
from stratus.db.models import (
    Image,
    Instance,
    InstanceFault,
    InstanceMetadata,
    KeyPair,
    ServerGroup,
    Service,
)
from stratus.db.session import transaction
from stratus.scheduler import claims

router = APIRouter(prefix=common.PREFIX)

for _name, _check, _description in (
    ("compute:servers:create", policy.MEMBER_API, "Create servers in one's project."),
    ("compute:servers:list", policy.READER_API, "List and show servers."),
    ("compute:servers:update", policy.MEMBER_API, "Rename or describe a server."),
    ("compute:servers:delete", policy.MEMBER_API, "Delete a server."),
    (
        "compute:servers:action",
        policy.MEMBER_API,
        "Reboot, stop, start, pause, suspend, resume, lock and read the console.",
    ),
    ("compute:servers:all_tenants", policy.ADMIN_API, "List servers of every project."),
    ("compute:servers:host", policy.ADMIN_API, "Choose the host of a new server."),
    ("compute:servers:unlock_override", policy.ADMIN_API, "Unlock a server locked by admin."),
):
    policy.register(_name, _check, _description)

NAME_RE = re.compile(r"^(?! )[^\x00-\x1f\x7f]*(?<! )$")
MAX_CONSOLE_LENGTH = 10_000


def context_dict(context: RequestContext, token: str | None = None) -> dict[str, Any]:
    """What travels with an RPC message: who asked, and their token (to fetch images)."""
    return {
        "request_id": context.request_id,
        "user_id": context.user_id,
        "project_id": context.project_id,
        "roles": context.roles,
        "auth_token": token,
    }


# --- request bodies --------------------------------------------------------------------


class BlockDevice(BaseModel):
    model_config = ConfigDict(extra="allow")
    uuid: str | None = None
    boot_index: int | str | None = None
    source_type: str
    destination_type: str | None = None


class ServerCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(min_length=1, max_length=255)
    imageRef: str | None = None  # noqa: N815 - the API's field name
    flavorRef: str | int  # noqa: N815
    min_count: int = Field(default=1, ge=1)
    max_count: int | None = Field(default=None, ge=1)
    networks: str | list[dict[str, Any]] | None = None
    availability_zone: str | None = Field(default=None, min_length=1, max_length=255)
    metadata: dict[str, str] = Field(default_factory=dict)
    key_name: str | None = Field(default=None, min_length=1, max_length=255)
    block_device_mapping_v2: list[BlockDevice] = Field(default_factory=list)
    description: str | None = Field(default=None, max_length=255)
    user_data: str | None = None
    config_drive: bool | str | None = None
    security_groups: list[dict[str, str]] | None = None
    adminPass: str | None = None  # noqa: N815
    accessIPv4: str | None = None  # noqa: N815
    accessIPv6: str | None = None  # noqa: N815
    disk_config: str | None = Field(default=None, alias="OS-DCF:diskConfig")
    return_reservation_id: bool = False
    tags: list[str] | None = None
    hostname: str | None = Field(default=None, max_length=63)
    host: str | None = None
    hypervisor_hostname: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME_RE.match(value):
            raise ValueError("must not start or end with a space or hold control characters")
        return value

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, value: dict[str, str]) -> dict[str, str]:
        for key, item in value.items():
            if not 1 <= len(key) <= 255 or len(item) > 255:
                raise ValueError("keys must be 1 to 255 characters and values at most 255")
        return value

    @field_validator("user_data")
    @classmethod
    def _user_data(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                base64.b64decode(value, validate=True)
            except ValueError:
                raise ValueError("must be base64 encoded") from None
        return value


class ServerUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=255)
    accessIPv4: str | None = None  # noqa: N815
    accessIPv6: str | None = None  # noqa: N815
    disk_config: str | None = Field(default=None, alias="OS-DCF:diskConfig")


# --- views -----------------------------------------------------------------------------


def host_id(instance: Instance) -> str:
    if not instance.host:
        return ""
    return hashlib.sha224(f"{instance.project_id}{instance.host}".encode()).hexdigest()


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


def server_view(
    request: Request,
    context: RequestContext,
    instance: Instance,
    fault: Any = None,
    groups: list[str] | None = None,
    host_statuses: dict[str, str] | None = None,
) -> dict[str, Any]:
    version = context.api_version
    status = states.status(instance.vm_state, instance.task_state)
    body: dict[str, Any] = {
        "id": instance.uuid,
        "name": instance.display_name,
        "status": status,
        "tenant_id": instance.project_id,
        "user_id": instance.user_id,
        "metadata": {m.key: m.value for m in instance.metadata_items},
        "hostId": host_id(instance),
        "image": _image_view(request, context, instance),
        "flavor": _flavor_view(request, context, instance.flavor),
        "created": common.iso_z(instance.created_at),
        "updated": common.iso_z(instance.updated_at or instance.created_at),
        "addresses": {},
        "accessIPv4": "",
        "accessIPv6": "",
        "links": common.links(request, "servers", instance.uuid),
        "OS-DCF:diskConfig": "MANUAL",
        "OS-EXT-AZ:availability_zone": instance.availability_zone or "",
        "config_drive": "",
        "key_name": instance.key_name,
        "OS-SRV-USG:launched_at": common.iso(instance.launched_at),
        "OS-SRV-USG:terminated_at": common.iso(instance.terminated_at),
        "OS-EXT-STS:task_state": instance.task_state,
        "OS-EXT-STS:vm_state": instance.vm_state,
        "OS-EXT-STS:power_state": instance.power_state,
        "os-extended-volumes:volumes_attached": [],
    }
    if status in ("ACTIVE", "BUILD"):
        body["progress"] = 100 if status == "ACTIVE" else 0
    if context.is_admin:
        body.update(
            {
                "OS-EXT-SRV-ATTR:host": instance.host,
                "OS-EXT-SRV-ATTR:instance_name": f"instance-{instance.id:08x}",
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
    if version >= "2.3" and (context.is_admin or version >= "2.90"):
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


def _host_statuses(session, context: RequestContext, instances: list[Instance]) -> dict[str, str]:
    """Nova's ``host_status`` of the instances' hosts, for admins from 2.16 (one query
    for a whole list): UP, DOWN, MAINTENANCE (disabled) or UNKNOWN."""
    if not (context.is_admin and context.api_version >= "2.16"):
        return {}
    hosts = {i.host for i in instances if i.host}
    statuses = dict.fromkeys(hosts, "UNKNOWN")
    if hosts:
        services = session.scalars(
            sa.select(Service)
            .where(Service.host.in_(hosts), Service.binary == db_services.COMPUTE_BINARY)
            .order_by(Service.id.desc())
        )
        for service in services:  # the oldest service of a host is the one that counts
            if not db_services.is_up(service):
                statuses[service.host] = "DOWN"
            else:
                statuses[service.host] = "MAINTENANCE" if service.disabled else "UP"
    return statuses


def summary_view(request: Request, instance: Instance) -> dict[str, Any]:
    return {
        "id": instance.uuid,
        "name": instance.display_name,
        "links": common.links(request, "servers", instance.uuid),
    }


def _fault_shown(session, instance: Instance) -> InstanceFault | None:
    """The fault that a server view shows: the latest, of an ERROR or DELETED server."""
    if instance.vm_state not in (states.ERROR, states.DELETED):
        return None
    return db_instances.latest_fault(session, instance.uuid)


def _group_of(session, instance_uuid: str) -> list[str]:
    group = db_server_groups.group_for_instance(session, instance_uuid)
    return [group.uuid] if group else []


# --- lookups ---------------------------------------------------------------------------


def load_instance(
    session, context: RequestContext, server_id: str, rule: str = "compute:servers:list"
) -> Instance:
    instance = db_instances.get(session, server_id)
    if instance is None or (instance.project_id != context.project_id and not context.is_admin):
        raise NotFound(f"Instance {server_id} could not be found.")
    authorize(rule, context, {"project_id": instance.project_id})
    return instance


def _resolve_flavor(session, context: RequestContext, ref: str | int) -> dict[str, Any]:
    flavorid = str(ref).rstrip("/").rsplit("/", 1)[-1]
    flavor = db_flavors.get(session, flavorid)
    if flavor is None or not db_flavors.visible(flavor, context.project_id, context.is_admin):
        raise BadRequest(f"Flavor {flavorid} could not be found.")
    if flavor.disabled:
        raise BadRequest(f"Flavor {flavorid} is disabled.")
    return {
        "flavorid": flavor.flavorid,
        "name": flavor.name,
        "vcpus": flavor.vcpus,
        "memory_mb": flavor.memory_mb,
        "root_gb": flavor.root_gb,
        "ephemeral_gb": flavor.ephemeral_gb,
        "swap": flavor.swap,
        "extra_specs": {s.key: s.value for s in flavor.extra_specs},
    }


def _resolve_image(
    session, context: RequestContext, image_ref: str, flavor: dict[str, Any]
) -> dict[str, Any]:
    image_id = image_ref.rstrip("/").rsplit("/", 1)[-1]
    image = session.get(Image, image_id, options=[lazyload(Image.tags)])
    if image is None or not db_images.visible(image, context.project_id, context.is_admin):
        raise BadRequest(f"Image {image_id} could not be found.")
    if image.status != "active":
        raise BadRequest(f"Image {image_id} is not active (status {image.status}).")
    if flavor["memory_mb"] < image.min_ram:
        raise BadRequest(
            f"Flavor's memory is too small for requested image: the image "
            f"needs {image.min_ram} MiB."
        )
    if flavor["root_gb"] and flavor["root_gb"] * 1024**3 < (image.size or 0):
        raise BadRequest("Flavor's disk is too small for requested image.")
    if flavor["root_gb"] and flavor["root_gb"] < image.min_disk:
        raise BadRequest(
            f"Flavor's disk is too small for requested image: the image needs {image.min_disk} GiB."
        )
    return db_images.boot_meta(image)


def _boot_image_ref(data: ServerCreate) -> str:
    for device in data.block_device_mapping_v2:
        local = device.destination_type in (None, "local")
        boot = str(device.boot_index) in ("0", "None") if device.boot_index is not None else True
        if device.source_type == "image" and local and boot and device.uuid:
            return device.uuid
        if device.source_type in ("volume", "snapshot") or device.destination_type == "volume":
            raise BadRequest(
                "block_device_mapping_v2: only image-to-local block devices are "
                "supported (Stratus has no volume service)."
            )
        if device.source_type == "blank" and device.destination_type == "local":
            continue
    if data.imageRef:
        return data.imageRef
    raise BadRequest(
        "'imageRef' is required: give an image, or a block_device_mapping_v2 "
        "entry with source_type image and boot_index 0."
    )


def _hints(body: dict[str, Any]) -> dict[str, Any]:
    hints = body.get("os:scheduler_hints") or body.get("OS-SCH-HNT:scheduler_hints") or {}
    if not isinstance(hints, dict):
        raise BadRequest("'os:scheduler_hints' must be an object.")
    for key in ("same_host", "different_host"):
        if isinstance(hints.get(key), str):
            hints[key] = [hints[key]]
    if "query" in hints and not isinstance(hints["query"], str):
        hints["query"] = json.dumps(hints["query"])
    return hints


def _instance_quotas_limited(limits: dict[str, int]) -> bool:
    """Whether any of the instances, cores and RAM quotas is limited (not -1): only
    then is the project's usage worth counting."""
    return any(limits[r] >= 0 for r in ("instances", "cores", "ram"))


def _check_quota(
    session,
    context: RequestContext,
    limits: dict[str, int],
    flavor: dict,
    min_count: int,
    max_count: int,
) -> int:
    """How many servers may be created (at most ``max_count``); 403 below ``min_count``."""
    if not _instance_quotas_limited(limits):
        return max_count
    used = db_quotas.instance_usage(session, context.project_id)
    per_server = {"instances": 1, "cores": flavor["vcpus"], "ram": flavor["memory_mb"]}
    allowed = max_count
    for resource, each in per_server.items():
        limit = limits[resource]
        if limit < 0 or each == 0:
            continue
        fits = max(0, (limit - used[resource]) // each)
        if fits < min_count:
            raise OverQuota(
                f"Quota exceeded for {resource}: Requested {each * min_count}, but already "
                f"used {used[resource]} of {limit} {resource}"
            )
        allowed = min(allowed, fits)
    return allowed


def _check_group(session, context: RequestContext, group_uuid: str, adding: int) -> ServerGroup:
    group = db_server_groups.get(session, group_uuid)
    if group is None or (group.project_id != context.project_id and not context.is_admin):
        raise BadRequest(
            f"Invalid scheduler hint 'group': server group {group_uuid} could not be found."
        )
    db_server_groups.check_group_members(session, group, adding)
    return group


def _zone_and_host(session, context: RequestContext, data: ServerCreate) -> tuple:
    zone, forced = data.availability_zone, None
    if zone and ":" in zone:
        zone, _, forced = zone.partition(":")
        zone = zone or None
    if data.host or data.hypervisor_hostname:
        forced = data.host or data.hypervisor_hostname
    if forced:
        authorize("compute:servers:host", context, {})
    if zone:
        known = set(db_services.host_zones(session).values()) | {CONF.default_availability_zone}
        known = {name for value in known for name in value.split(",")}
        if zone not in known:
            raise BadRequest(f"The requested availability zone is not available: {zone}.")
    return zone, forced


# --- routes ----------------------------------------------------------------------------


@router.post("/servers", status_code=202)
async def create_server(
    request: Request, context: RequestContext = Depends(get_context)
) -> dict[str, Any]:
    authorize("compute:servers:create", context)
    body = await common.json_body(request)
    raw = common.unwrap(
        {
            k: v
            for k, v in (body or {}).items()
            if k not in ("os:scheduler_hints", "OS-SCH-HNT:scheduler_hints")
        }
        if isinstance(body, dict)
        else body,
        "server",
    )
    data: ServerCreate = common.validate(ServerCreate, raw, "server")
    hints = _hints(body)
    version = context.api_version
    if version >= "2.37" and data.networks is None:
        raise BadRequest(
            "'server.networks' is a required property from microversion 2.37: "
            'use "none" or "auto".'
        )
    if isinstance(data.networks, list) and data.networks:
        raise BadRequest(
            'server.networks: Stratus has no network service yet; use "none" or "auto".'
        )
    if data.description is not None and version < "2.19":
        raise BadRequest("'server.description' needs microversion 2.19 or later.")
    max_count = data.max_count or data.min_count
    if max_count < data.min_count:
        raise BadRequest("'server.max_count' must be greater than or equal to min_count.")
    image_ref = _boot_image_ref(data)
    reservation_id = f"r-{uuid.uuid4().hex[:8]}"
    with transaction() as session:
        flavor = _resolve_flavor(session, context, data.flavorRef)
        image = _resolve_image(session, context, image_ref, flavor)
        zone, forced_host = _zone_and_host(session, context, data)
        key_data = None
        if data.key_name:
            key = session.scalar(
                sa.select(KeyPair).where(
                    KeyPair.user_id == context.user_id, KeyPair.name == data.key_name
                )
            )
            if key is None:
                raise BadRequest(
                    f"Invalid key_name provided: key pair {data.key_name} could not be found."
                )
            key_data = key.public_key
        limits = db_quotas.limits(session, context.project_id)
        metadata_limit = limits["metadata_items"]
        if 0 <= metadata_limit < len(data.metadata):
            raise OverQuota(
                f"Quota exceeded for metadata_items: {len(data.metadata)} items "
                f"requested, the limit is {metadata_limit}."
            )
        count = _check_quota(session, context, limits, flavor, data.min_count, max_count)
        group = (
            _check_group(session, context, hints["group"], count) if hints.get("group") else None
        )
        spec = {
            "flavor": flavor,
            "image": image,
            "availability_zone": zone,
            "scheduler_hints": hints,
            "force_hosts": [forced_host] if forced_host else [],
            "user_data": data.user_data,
            "tags": data.tags or [],
            "project_id": context.project_id,
            "user_id": context.user_id,
            "num_instances": count,
        }
        created = []
        for index in range(count):
            name = data.name if count == 1 else f"{data.name}-{index + 1}"
            instance = Instance(
                uuid=str(uuid.uuid4()),
                project_id=context.project_id,
                user_id=context.user_id,
                display_name=name,
                display_description=data.description,
                hostname=re.sub(r"[^a-z0-9-]+", "-", (data.hostname or name).lower())[:63],
                vm_state=states.BUILDING,
                task_state=states.SCHEDULING,
                power_state=states.NOSTATE,
                flavor=flavor,
                image_ref=image["id"],
                kernel_id=image["properties"].get("kernel_id"),
                ramdisk_id=image["properties"].get("ramdisk_id"),
                vcpus=flavor["vcpus"],
                memory_mb=flavor["memory_mb"],
                root_gb=flavor["root_gb"],
                ephemeral_gb=flavor["ephemeral_gb"],
                availability_zone=zone,
                key_name=data.key_name,
                key_data=key_data,
                launch_index=index,
                reservation_id=reservation_id,
                request_spec=spec,
                metadata_items=[InstanceMetadata(key=k, value=v) for k, v in data.metadata.items()],
            )
            session.add(instance)
            session.flush()
            if group is not None:
                db_server_groups.add_members(session, group, [instance.uuid])
            db_instances.start_action(
                session,
                instance.uuid,
                "create",
                context.request_id,
                context.user_id,
                context.project_id,
            )
            created.append(instance)
    # Two requests may pass the check at once; the later one gives its servers back.
    over = []
    if _instance_quotas_limited(limits):
        with transaction() as session:
            used = db_quotas.instance_usage(session, context.project_id)
            over = [r for r in ("instances", "cores", "ram") if 0 <= limits[r] < used[r]]
            for instance in created if over else ():
                db_instances.soft_delete(session, instance.uuid)
    if over:
        raise OverQuota(f"Quota exceeded for {', '.join(over)} by concurrent requests.")
    from stratus.rpc.conductor_rpcapi import ConductorAPI

    ConductorAPI().build_instances(
        context_dict(context, request.headers.get("x-auth-token")),
        [i.uuid for i in created],
        spec,
    )
    if data.return_reservation_id:
        return {"reservation_id": reservation_id}
    first = created[0]
    server = {
        "id": first.uuid,
        "links": common.links(request, "servers", first.uuid),
        "OS-DCF:diskConfig": "MANUAL",
        "security_groups": [{"name": "default"}],
    }
    if CONF.api.enable_instance_password:
        server["adminPass"] = data.adminPass or uuid.uuid4().hex[:12]
    return {"server": server}


STATUS_FILTERS = {
    "ACTIVE": (states.ACTIVE, None),
    "BUILD": (states.BUILDING, None),
    "SHUTOFF": (states.STOPPED, None),
    "PAUSED": (states.PAUSED, None),
    "SUSPENDED": (states.SUSPENDED, None),
    "ERROR": (states.ERROR, None),
    "DELETED": (states.DELETED, None),
    "REBOOT": (states.ACTIVE, states.REBOOTING),
    "HARD_REBOOT": (states.ACTIVE, states.REBOOTING_HARD),
}
SORT_KEYS = {
    "created_at": Instance.created_at,
    "display_name": Instance.display_name,
    "updated_at": Instance.updated_at,
    "uuid": Instance.uuid,
    "vm_state": Instance.vm_state,
    "task_state": Instance.task_state,
    "power_state": Instance.power_state,
    "host": Instance.host,
    "launched_at": Instance.launched_at,
    "availability_zone": Instance.availability_zone,
    "hostname": Instance.hostname,
    "key_name": Instance.key_name,
    "project_id": Instance.project_id,
    "user_id": Instance.user_id,
    "memory_mb": Instance.memory_mb,
    "vcpus": Instance.vcpus,
    "root_gb": Instance.root_gb,
}


def _list_servers(request: Request, context: RequestContext, detail: bool) -> dict:
    authorize("compute:servers:list", context)
    params = request.query_params
    stmt = sa.select(Instance)
    all_tenants = params.get("all_tenants")
    if all_tenants is not None and common.parse_bool("all_tenants", all_tenants or "true"):
        authorize("compute:servers:all_tenants", context, {})
        if params.get("project_id") or params.get("tenant_id"):
            stmt = stmt.where(
                Instance.project_id == (params.get("project_id") or params.get("tenant_id"))
            )
    else:
        stmt = stmt.where(Instance.project_id == context.project_id)
    deleted = common.parse_bool("deleted", params.get("deleted"), False)
    if deleted and not context.is_admin:
        deleted = False
    stmt = stmt.where(Instance.deleted.is_(bool(deleted)))
    if params.get("changes-since"):
        stmt = db_instances.changed_since(
            stmt, _parse_time("changes-since", params["changes-since"])
        )
        stmt = stmt.where(sa.or_(Instance.deleted.is_(False), Instance.deleted.is_(True)))
    # As in Nova, `status` may be given more than once: servers in any of them.
    statuses = [s.upper() for s in params.getlist("status") if s]
    if statuses:
        wanted = [STATUS_FILTERS[s] for s in statuses if s in STATUS_FILTERS]
        if not wanted:
            return {"servers": []}
        stmt = stmt.where(
            sa.or_(
                *(
                    sa.and_(
                        Instance.vm_state == vm_state,
                        Instance.task_state == task_state if task_state else sa.true(),
                    )
                    for vm_state, task_state in wanted
                )
            )
        )
    if params.get("host") and context.is_admin:
        stmt = stmt.where(Instance.host == params["host"])
    if params.get("image"):
        stmt = stmt.where(Instance.image_ref == params["image"].rstrip("/").rsplit("/", 1)[-1])
    if params.get("reservation_id"):
        stmt = stmt.where(Instance.reservation_id == params["reservation_id"])
    sort_key = params.get("sort_key", "created_at")
    if sort_key not in SORT_KEYS:
        raise BadRequest(
            f"Invalid sort_key '{sort_key}': use one of {', '.join(sorted(SORT_KEYS))}."
        )
    sort_dir = params.get("sort_dir", "desc")
    if sort_dir not in ("asc", "desc"):
        raise BadRequest(f"Invalid sort_dir '{sort_dir}': use asc or desc.")
    column = SORT_KEYS[sort_key]
    stmt = stmt.order_by(
        column.desc() if sort_dir == "desc" else column.asc(),
        Instance.id.desc() if sort_dir == "desc" else Instance.id.asc(),
    )
    limit = common.page_limit(request)
    name_re = None
    if params.get("name"):
        try:
            name_re = re.compile(params["name"])
        except re.error as exc:
            raise BadRequest(f"Invalid regular expression in 'name': {exc}.") from None
    flavor_filter = params.get("flavor")
    if not detail:
        # A summary shows the id and name: the large JSON columns stay unread.
        stmt = stmt.options(
            load_only(Instance.id, Instance.uuid, Instance.display_name, Instance.flavor),
            lazyload(Instance.metadata_items),
        )
    with transaction() as session:
        rows = list(session.scalars(stmt))
        if name_re:
            rows = [r for r in rows if name_re.search(r.display_name)]
        if flavor_filter:
            rows = [r for r in rows if r.flavor.get("flavorid") == flavor_filter]
        if params.get("marker"):
            ids = [r.uuid for r in rows]
            if params["marker"] not in ids:
                raise BadRequest(f"marker [{params['marker']}] not found")
            rows = rows[ids.index(params["marker"]) + 1 :]
        page = rows[:limit]
        faults, host_statuses = {}, {}
        if detail:
            faults = {r.uuid: _fault_shown(session, r) for r in page}
            host_statuses = _host_statuses(session, context, page)
        servers = [
            server_view(request, context, r, faults.get(r.uuid), host_statuses=host_statuses)
            if detail
            else summary_view(request, r)
            for r in page
        ]
    result: dict[str, Any] = {"servers": servers}
    if page and len(rows) > limit:
        result["servers_links"] = common.next_link(
            request, "servers/detail" if detail else "servers", page[-1].uuid
        )
    return result


def _parse_time(name: str, raw: str) -> Any:
    import datetime as dt

    try:
        value = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"Invalid value {raw!r} for '{name}': use an ISO 8601 time.") from None
    return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value


@router.get("/servers")
def list_servers(request: Request, context: RequestContext = Depends(get_context)) -> dict:
    return _list_servers(request, context, detail=False)


@router.get("/servers/detail")
def list_servers_detail(request: Request, context: RequestContext = Depends(get_context)) -> dict:
    return _list_servers(request, context, detail=True)


@router.get("/servers/{server_id}")
def show_server(
    server_id: str, request: Request, context: RequestContext = Depends(get_context)
) -> dict:
    with transaction() as session:
        instance = load_instance(session, context, server_id)
        fault = _fault_shown(session, instance)
        return {
            "server": server_view(
                request,
                context,
                instance,
                fault,
                _group_of(session, instance.uuid),
                _host_statuses(session, context, [instance]),
            )
        }


@router.put("/servers/{server_id}")
async def update_server(
    server_id: str, request: Request, context: RequestContext = Depends(get_context)
) -> dict:
    data = common.validate(
        ServerUpdate, common.unwrap(await common.json_body(request), "server"), "server"
    )
    if data.description is not None and context.api_version < "2.19":
        raise BadRequest("'server.description' needs microversion 2.19 or later.")
    with transaction() as session:
        instance = load_instance(session, context, server_id, "compute:servers:update")
        values: dict[str, Any] = {}
        if data.name is not None:
            values["display_name"] = data.name
        if "description" in data.model_fields_set:
            values["display_description"] = data.description
        if values:
            instance = db_instances.update(session, instance.uuid, values)
        return {
            "server": server_view(
                request,
                context,
                instance,
                host_statuses=_host_statuses(session, context, [instance]),
            )
        }


def _check_lock(instance: Instance, context: RequestContext) -> None:
    if instance.locked and not context.is_admin:
        raise Conflict(f"Instance {instance.uuid} is locked.")


@router.delete("/servers/{server_id}", status_code=204)
def delete_server(
    server_id: str, request: Request, context: RequestContext = Depends(get_context)
) -> Response:
    with transaction() as session:
        instance = load_instance(session, context, server_id, "compute:servers:delete")
        _check_lock(instance, context)
        db_instances.start_action(
            session,
            instance.uuid,
            "delete",
            context.request_id,
            context.user_id,
            context.project_id,
        )
        host = instance.host
        compute_up = False
        if host:
            services = db_services.list_services(session, host, db_services.COMPUTE_BINARY)
            compute_up = bool(services) and db_services.is_up(services[0])
        if not compute_up:
            # Nothing runs it, or its compute is down: delete locally, as Nova does.
            claims.release(session, instance.uuid)
            db_instances.soft_delete(session, instance.uuid)
            return Response(status_code=204)
        db_instances.update(session, instance.uuid, {"task_state": states.DELETING})
    from stratus.rpc.compute_rpcapi import ComputeAPI

    ComputeAPI().terminate_instance(context_dict(context), host, instance_uuid=instance.uuid)
    return Response(status_code=204)


ACTIONS = {
    "reboot": "reboot",
    "os-stop": "stop",
    "os-start": "start",
    "pause": "pause",
    "unpause": "unpause",
    "suspend": "suspend",
    "resume": "resume",
}


@router.post("/servers/{server_id}/action")
async def server_action(
    server_id: str, request: Request, context: RequestContext = Depends(get_context)
) -> Response:
    body = await common.json_body(request)
    if not isinstance(body, dict) or len(body) != 1:
        raise BadRequest("The action body must be an object with exactly one action.")
    name, payload = next(iter(body.items()))
    if name == "os-getConsoleOutput":
        return _console_output(server_id, context, payload)
    if name in ("lock", "unlock"):
        return _lock(server_id, context, name, payload)
    if name not in ACTIONS:
        raise BadRequest(f"There is no such action: {name}.")
    if payload not in (None, {}) and name != "reboot":
        raise BadRequest(f"'{name}' takes no arguments: send null or {{}}.")
    action = ACTIONS[name]
    if name == "reboot":
        kind = (payload or {}).get("type") if isinstance(payload, dict) else None
        if kind not in ("SOFT", "HARD", "soft", "hard"):
            raise BadRequest("Invalid input for field 'reboot.type': use SOFT or HARD.")
        action = "reboot_hard" if kind.upper() == "HARD" else "reboot"
    transition = states.TRANSITIONS[action]
    with transaction() as session:
        instance = load_instance(session, context, server_id, "compute:servers:action")
        _check_lock(instance, context)
        if not db_instances.start_task(session, instance.uuid, transition.allowed, transition.task):
            raise Conflict(
                f"Cannot '{name}' instance {instance.uuid} while it is in "
                f"vm_state {instance.vm_state}"
                + (f" and task_state {instance.task_state}" if instance.task_state else "")
                + "."
            )
        db_instances.start_action(
            session,
            instance.uuid,
            action.split("_")[0],
            context.request_id,
            context.user_id,
            context.project_id,
        )
        host = instance.host
    from stratus.rpc.compute_rpcapi import ComputeAPI

    ComputeAPI().run_action(context_dict(context), host, instance_uuid=server_id, action=action)
    return Response(status_code=202)


def _console_output(server_id: str, context: RequestContext, payload: Any) -> Response:
    if payload is not None and not isinstance(payload, dict):
        raise BadRequest("'os-getConsoleOutput' must be null or an object.")
    length = (payload or {}).get("length")
    if length is not None:
        try:
            length = int(length)
        except (TypeError, ValueError):
            raise BadRequest(
                "Invalid input for field 'os-getConsoleOutput.length': must be an integer."
            ) from None
        length = None if length < 0 else length
    with transaction() as session:
        instance = load_instance(session, context, server_id, "compute:servers:action")
        host = instance.host
    if not host:
        raise Conflict(f"Instance {server_id} has no console output yet: it is not on a host.")
    from fastapi.responses import JSONResponse

    from stratus.rpc.compute_rpcapi import ComputeAPI

    output = ComputeAPI().get_console_output(
        context_dict(context),
        host,
        instance_uuid=server_id,
        length=min(length or MAX_CONSOLE_LENGTH, MAX_CONSOLE_LENGTH),
    )
    return JSONResponse({"output": output})


def _lock(server_id: str, context: RequestContext, name: str, payload: Any) -> Response:
    reason = payload.get("locked_reason") if isinstance(payload, dict) else None
    if reason is not None and (name != "lock" or context.api_version < "2.73"):
        raise BadRequest("'locked_reason' is accepted by lock from microversion 2.73.")
    with transaction() as session:
        instance = load_instance(session, context, server_id, "compute:servers:action")
        if name == "unlock" and instance.locked_by == "admin" and not context.is_admin:
            raise Forbidden("The server was locked by an administrator.")
        values = (
            {
                "locked": True,
                "locked_by": "admin" if context.is_admin else "owner",
                "locked_reason": reason,
            }
            if name == "lock"
            else {"locked": False, "locked_by": None, "locked_reason": None}
        )
        db_instances.update(session, instance.uuid, values)
        db_instances.start_action(
            session, instance.uuid, name, context.request_id, context.user_id, context.project_id
        )
    return Response(status_code=202)
