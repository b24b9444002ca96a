"""``/servers/{id}/os-server-password``: the password the guest posted to the
metadata service (encrypted with the server's public key), read and cleared by
the server's project (stratus.metadata.password holds the logic)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response

from stratus.api import policy
from stratus.api.compute import common
from stratus.api.compute.servers import load_instance
from stratus.api.context import RequestContext, get_context
from stratus.metadata import password

router = APIRouter(prefix=common.PREFIX)

SHOW = "compute:os-server-password:show"
CLEAR = "compute:os-server-password:clear"
policy.register(SHOW, policy.READER_API, "Show a server's encrypted password.")
policy.register(CLEAR, policy.MEMBER_API, "Clear a server's encrypted password.")


@router.get("/servers/{server_id}/os-server-password")
def show_password(server_id: str, context: RequestContext = Depends(get_context)) -> dict:
    instance = load_instance(context, server_id, SHOW)
    return {"password": password.get(instance.uuid)}


@router.delete("/servers/{server_id}/os-server-password", status_code=204)
def clear_password(server_id: str, context: RequestContext = Depends(get_context)) -> Response:
    instance = load_instance(context, server_id, CLEAR)
    password.clear(instance.uuid)
    return Response(status_code=204)
