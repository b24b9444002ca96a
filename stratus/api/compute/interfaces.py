"""A server's interfaces: ``/servers/{id}/os-interface`` (list, show, attach,
detach), which ``openstack server add/remove port|network|fixed ip`` use."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from stratus.api import policy
from stratus.api.compute import common
from stratus.api.compute.servers import load_instance
from stratus.api.context import RequestContext, get_context
from stratus.api.errors import BadRequest
from stratus.compute.interfaces import InterfaceAPI

router = APIRouter(prefix=common.PREFIX)
interface_api = InterfaceAPI()

for _name, _check, _description in (
    ("compute:os-interface:list", policy.READER_API, "List and show a server's interfaces."),
    ("compute:os-interface:create", policy.MEMBER_API, "Attach an interface to a server."),
    ("compute:os-interface:delete", policy.MEMBER_API, "Detach an interface from a server."),
):
    policy.register(_name, _check, _description)


@router.get("/servers/{server_id}/os-interface")
def list_interfaces(server_id: str, context: RequestContext = Depends(get_context)) -> dict:
    instance = load_instance(context, server_id, "compute:os-interface:list")
    return {"interfaceAttachments": interface_api.list(context, instance)}


@router.get("/servers/{server_id}/os-interface/{port_id}")
def show_interface(
    server_id: str, port_id: str, context: RequestContext = Depends(get_context)
) -> dict:
    instance = load_instance(context, server_id, "compute:os-interface:list")
    return {"interfaceAttachment": interface_api.get(context, instance, port_id)}


@router.post("/servers/{server_id}/os-interface")
async def attach_interface(
    server_id: str, request: Request, context: RequestContext = Depends(get_context)
) -> dict:
    body = common.unwrap(await common.json_body(request), "interfaceAttachment")
    if not isinstance(body, dict):
        raise BadRequest("'interfaceAttachment' must be an object.")
    fixed_ips: Any = body.get("fixed_ips") or []
    if not isinstance(fixed_ips, list) or len(fixed_ips) > 1:
        raise BadRequest("interfaceAttachment.fixed_ips: at most one {'ip_address': ...}.")
    fixed_ip = fixed_ips[0].get("ip_address") if fixed_ips else None
    if body.get("port_id") and (body.get("net_id") or fixed_ip):
        raise BadRequest("interfaceAttachment: give 'port_id' alone, or 'net_id'.")
    instance = load_instance(context, server_id, "compute:os-interface:create")
    attachment = interface_api.attach(
        context, instance, body.get("net_id"), body.get("port_id"), fixed_ip
    )
    return {"interfaceAttachment": attachment}


@router.delete("/servers/{server_id}/os-interface/{port_id}", status_code=202)
def detach_interface(
    server_id: str, port_id: str, context: RequestContext = Depends(get_context)
) -> Response:
    instance = load_instance(context, server_id, "compute:os-interface:delete")
    interface_api.detach(context, instance, port_id)
    return Response(status_code=202)
