"""Servers: create, list, show, update, delete and the server actions. The handlers
parse, authorise, call the compute API (``stratus.compute.api``) and render."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from stratus.api import policy
from stratus.api.compute import common, schemas, views
from stratus.api.compute.schemas import ServerCreate, ServerUpdate
from stratus.api.context import RequestContext, get_context
from stratus.api.errors import BadRequest
from stratus.api.policy import authorize
from stratus.compute import api as compute
from stratus.compute import networks as compute_networks
from stratus.conf import CONF
from stratus.db.models import Instance

router = APIRouter(prefix=common.PREFIX)
compute_api = compute.API()

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
    ("compute:servers:reset_state", policy.ADMIN_API, "Reset a server's state (os-resetState)."),
    ("compute:servers:diagnostics", policy.ADMIN_API, "Read a server's hypervisor diagnostics."),
    (
        "compute:os-security-groups:add",
        policy.MEMBER_API,
        "Add a security group to a server's ports (addSecurityGroup).",
    ),
    (
        "compute:os-security-groups:remove",
        policy.MEMBER_API,
        "Remove a security group from a server's ports (removeSecurityGroup).",
    ),
    (
        "compute:os-security-groups:list",
        policy.READER_API,
        "List a server's security groups (GET /servers/{id}/os-security-groups).",
    ),
):
    policy.register(_name, _check, _description)

# The API's action names -> the transitions of ``states.TRANSITIONS`` they start.
ACTIONS = {
    "reboot": "reboot",
    "os-stop": "stop",
    "os-start": "start",
    "pause": "pause",
    "unpause": "unpause",
    "suspend": "suspend",
    "resume": "resume",
}


def load_instance(
    context: RequestContext, server_id: str, rule: str = "compute:servers:list"
) -> Instance:
    """The instance the caller may see (404 if not), once ``rule`` allows it on it."""
    instance = compute_api.get(context, server_id)
    authorize(rule, context, {"project_id": instance.project_id})
    return instance


def _wants_host_status(context: RequestContext) -> bool:
    return context.is_admin and context.api_version >= "2.16"


# --- parsing ---------------------------------------------------------------------------


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


def _zone_and_host(context: RequestContext, data: ServerCreate) -> tuple[str | None, str | None]:
    """The zone and the forced host of ``zone:host`` or ``host``/``hypervisor_hostname``;
    forcing a host takes the ``compute:servers:host`` rule."""
    zone, forced = data.availability_zone, None
    if zone and ":" in zone:
        zone, _, forced = zone.partition(":")
        zone = zone or None
    if data.host or data.hypervisor_hostname:
        forced = data.host or data.hypervisor_hostname
    if forced:
        authorize("compute:servers:host", context, {})
    return zone, forced


def _check_hostname(hostname: str | None, version: Any) -> None:
    if hostname is not None:
        problem = schemas.hostname_error(hostname, version)
        if problem:
            raise BadRequest(problem)


def _parse_time(name: str, raw: str) -> Any:
    try:
        value = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"Invalid value {raw!r} for '{name}': use an ISO 8601 time.") from None
    return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value


# --- routes ----------------------------------------------------------------------------


@router.post(
    "/servers", status_code=202, openapi_extra=schemas.openapi_body("server", ServerCreate)
)
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
    if data.description is not None and version < "2.19":
        raise BadRequest("'server.description' needs microversion 2.19 or later.")
    _check_hostname(data.hostname, version)
    max_count = data.max_count or data.min_count
    if max_count < data.min_count:
        raise BadRequest("'server.max_count' must be greater than or equal to min_count.")
    image_ref = _boot_image_ref(data)
    zone, forced_host = _zone_and_host(context, data)
    admin_pass = None
    if CONF.api.enable_instance_password:
        admin_pass = data.adminPass or uuid.uuid4().hex[:12]
    created, reservation_id = compute_api.create(
        context,
        name=data.name,
        flavor_ref=data.flavorRef,
        image_ref=image_ref,
        min_count=data.min_count,
        max_count=max_count,
        availability_zone=zone,
        forced_host=forced_host,
        metadata=data.metadata,
        key_name=data.key_name,
        description=data.description,
        hostname=data.hostname,
        user_data=data.user_data,
        access_ip_v4=data.accessIPv4,
        access_ip_v6=data.accessIPv6,
        security_groups=[g.name for g in data.security_groups or []],
        tags=data.tags,
        scheduler_hints=hints,
        auth_token=request.headers.get("x-auth-token"),
        networks=data.networks,
        config_drive=data.config_drive in (True, "true", "True"),
        admin_pass=admin_pass,
    )
    if data.return_reservation_id:
        return {"reservation_id": reservation_id}
    return {"server": views.created_view(request, created[0], admin_pass)}


def _list_servers(request: Request, context: RequestContext, detail: bool) -> dict:
    authorize("compute:servers:list", context)
    params = request.query_params
    project_id: str | None = context.project_id
    all_tenants = params.get("all_tenants")
    if all_tenants is not None and common.parse_bool("all_tenants", all_tenants or "true"):
        authorize("compute:servers:all_tenants", context, {})
        project_id = params.get("project_id") or params.get("tenant_id") or None
    deleted = common.parse_bool("deleted", params.get("deleted"), False)
    query = compute.ServerQuery(
        project_id=project_id,
        deleted=bool(deleted and context.is_admin),
        changes_since=(
            _parse_time("changes-since", params["changes-since"])
            if params.get("changes-since")
            else None
        ),
        statuses=[s.upper() for s in params.getlist("status") if s],
        host=params.get("host") if context.is_admin else None,
        image=params.get("image"),
        reservation_id=params.get("reservation_id"),
        name=params.get("name"),
        flavor=params.get("flavor"),
        ip=params.get("ip"),
        sort_key=params.get("sort_key", "created_at"),
        sort_dir=params.get("sort_dir", "desc"),
        marker=params.get("marker"),
        limit=common.page_limit(request),
    )
    page = compute_api.get_all(query, detail=detail, host_status=_wants_host_status(context))
    servers = [
        views.server_view(
            request, context, r, page.faults.get(r.uuid), host_statuses=page.host_statuses
        )
        if detail
        else views.summary_view(request, r)
        for r in page.instances
    ]
    result: dict[str, Any] = {"servers": servers}
    if page.instances and page.more:
        result["servers_links"] = common.next_link(
            request, "servers/detail" if detail else "servers", page.instances[-1].uuid
        )
    return result


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
    details = compute_api.show(context, server_id, host_status=_wants_host_status(context))
    authorize("compute:servers:list", context, {"project_id": details.instance.project_id})
    return {"server": views.details_view(request, context, details)}


@router.put("/servers/{server_id}", openapi_extra=schemas.openapi_body("server", ServerUpdate))
async def update_server(
    server_id: str, request: Request, context: RequestContext = Depends(get_context)
) -> dict:
    data = common.validate(
        ServerUpdate, common.unwrap(await common.json_body(request), "server"), "server"
    )
    version = context.api_version
    if data.description is not None and version < "2.19":
        raise BadRequest("'server.description' needs microversion 2.19 or later.")
    _check_hostname(data.hostname, version)
    instance = load_instance(context, server_id, "compute:servers:update")
    values: dict[str, Any] = {}
    if data.name is not None:
        values["display_name"] = data.name
    if "description" in data.model_fields_set:
        values["display_description"] = data.description
    if data.accessIPv4 is not None:
        values["access_ip_v4"] = data.accessIPv4
    if data.accessIPv6 is not None:
        values["access_ip_v6"] = data.accessIPv6
    if data.hostname is not None:
        values["hostname"] = data.hostname
    compute_api.update(context, instance, values)
    # From 2.75 the answer is the whole server as GET shows it; below, the shorter body
    # (with the server groups from 2.71).
    full = version >= "2.75"
    details = compute_api.show(context, server_id, host_status=full and _wants_host_status(context))
    return {"server": views.details_view(request, context, details, full=full)}


@router.delete("/servers/{server_id}", status_code=204)
def delete_server(server_id: str, context: RequestContext = Depends(get_context)) -> Response:
    compute_api.delete(context, load_instance(context, server_id, "compute:servers:delete"))
    return Response(status_code=204)


@router.post("/servers/{server_id}/action", openapi_extra=schemas.openapi_body(None))
async def server_action(
    server_id: str, request: Request, context: RequestContext = Depends(get_context)
) -> Response:
    body = await common.json_body(request)
    if not isinstance(body, dict) or len(body) != 1:
        raise BadRequest("The action body must be an object with exactly one action.")
    name, payload = next(iter(body.items()))
    model = schemas.ACTION_BODIES.get(name)
    if model is None:
        raise BadRequest(f"There is no such action: {name}.")
    if payload is None and name in schemas.NULL_BODY_ACTIONS:
        payload = {}
    data = common.validate(model, payload, name)
    if name == "os-getConsoleOutput":
        return _console_output(server_id, context, data)
    if name in ("lock", "unlock"):
        return _lock(server_id, context, name, data)
    if name == "os-resetState":
        instance = load_instance(context, server_id, "compute:servers:reset_state")
        compute_api.reset_state(context, instance, data.state)
        return Response(status_code=202)
    if name in ("addSecurityGroup", "removeSecurityGroup"):
        return _security_group_action(server_id, context, name, data)
    action = ACTIONS[name]
    if name == "reboot":
        action = "reboot_hard" if data.type.upper() == "HARD" else "reboot"
    instance = load_instance(context, server_id, "compute:servers:action")
    compute_api.run_action(context, instance, action, requested=name)
    return Response(status_code=202)


def _console_output(
    server_id: str, context: RequestContext, data: schemas.ConsoleOutput
) -> Response:
    length = None if data.length is None or data.length < 0 else data.length
    instance = load_instance(context, server_id, "compute:servers:action")
    output = compute_api.get_console_output(context, instance, length)
    return JSONResponse({"output": output})


def _lock(server_id: str, context: RequestContext, name: str, data: Any) -> Response:
    reason = getattr(data, "locked_reason", None)
    if reason is not None and context.api_version < "2.73":
        raise BadRequest("'locked_reason' is accepted by lock from microversion 2.73.")
    instance = load_instance(context, server_id, "compute:servers:action")
    if name == "lock":
        compute_api.lock(context, instance, reason)
    else:
        compute_api.unlock(context, instance)
    return Response(status_code=202)


def _security_group_action(
    server_id: str, context: RequestContext, name: str, data: schemas.SecurityGroupRef
) -> Response:
    if name == "addSecurityGroup":
        instance = load_instance(context, server_id, "compute:os-security-groups:add")
        compute_networks.add_security_group(instance, data.name)
    else:
        instance = load_instance(context, server_id, "compute:os-security-groups:remove")
        compute_networks.remove_security_group(instance, data.name)
    return Response(status_code=202)


@router.get("/servers/{server_id}/os-security-groups")
def server_security_groups(server_id: str, context: RequestContext = Depends(get_context)) -> dict:
    instance = load_instance(context, server_id, "compute:os-security-groups:list")
    return {"security_groups": compute_networks.server_security_groups(instance)}


@router.get("/servers/{server_id}/diagnostics")
def server_diagnostics(server_id: str, context: RequestContext = Depends(get_context)) -> dict:
    instance = load_instance(context, server_id, "compute:servers:diagnostics")
    return views.diagnostics_view(context, compute_api.get_diagnostics(context, instance))
