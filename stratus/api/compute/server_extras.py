"""Per-server sub-resources: metadata and instance actions (server event list)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from stratus.api.compute import common, views
from stratus.api.compute.servers import compute_api, load_instance
from stratus.api.context import RequestContext, get_context
from stratus.api.errors import BadRequest, NotFound

router = APIRouter(prefix=common.PREFIX)


def _items(body: Any, key: str) -> dict[str, str]:
    items = common.unwrap(body, key)
    if not isinstance(items, dict):
        raise BadRequest(f"'{key}' must be an object of key/value strings.")
    for name, value in items.items():
        if not isinstance(value, str) or not 1 <= len(name) <= 255 or len(value) > 255:
            raise BadRequest(
                f"Invalid input for field '{key}.{name}': keys are 1 to 255 "
                "characters and values strings of at most 255."
            )
    return items


def _write(
    server_id: str, context: RequestContext, items: dict[str, str], replace: bool
) -> dict[str, str]:
    instance = load_instance(context, server_id, "compute:servers:update")
    return compute_api.update_metadata(context, instance, items, replace=replace)


@router.get("/servers/{server_id}/metadata")
def list_metadata(server_id: str, context: RequestContext = Depends(get_context)) -> dict:
    return {"metadata": views.metadata_view(load_instance(context, server_id))}


@router.post("/servers/{server_id}/metadata")
async def merge_metadata(
    server_id: str, request: Request, context: RequestContext = Depends(get_context)
) -> dict:
    items = _items(await common.json_body(request), "metadata")
    return {"metadata": _write(server_id, context, items, replace=False)}


@router.put("/servers/{server_id}/metadata")
async def replace_metadata(
    server_id: str, request: Request, context: RequestContext = Depends(get_context)
) -> dict:
    items = _items(await common.json_body(request), "metadata")
    return {"metadata": _write(server_id, context, items, replace=True)}


@router.get("/servers/{server_id}/metadata/{key}")
def show_metadata_item(
    server_id: str, key: str, context: RequestContext = Depends(get_context)
) -> dict:
    metadata = views.metadata_view(load_instance(context, server_id))
    if key not in metadata:
        raise NotFound(f"Metadata item {key} was not found.")
    return {"meta": {key: metadata[key]}}


@router.put("/servers/{server_id}/metadata/{key}")
async def set_metadata_item(
    server_id: str, key: str, request: Request, context: RequestContext = Depends(get_context)
) -> dict:
    items = _items(await common.json_body(request), "meta")
    if list(items) != [key]:
        raise BadRequest(f"The body must hold exactly the key '{key}' from the URL.")
    _write(server_id, context, items, replace=False)
    return {"meta": items}


@router.delete("/servers/{server_id}/metadata/{key}", status_code=204)
def delete_metadata_item(
    server_id: str, key: str, context: RequestContext = Depends(get_context)
) -> Response:
    instance = load_instance(context, server_id, "compute:servers:update")
    compute_api.delete_metadata_item(context, instance, key)
    return Response(status_code=204)


@router.get("/servers/{server_id}/os-instance-actions")
def list_actions(server_id: str, context: RequestContext = Depends(get_context)) -> dict:
    actions = compute_api.get_instance_actions(context, load_instance(context, server_id))
    return {"instanceActions": [views.action_view(context, a, False) for a in actions]}


@router.get("/servers/{server_id}/os-instance-actions/{request_id}")
def show_action(
    server_id: str, request_id: str, context: RequestContext = Depends(get_context)
) -> dict:
    instance = load_instance(context, server_id)
    action = compute_api.get_instance_action(context, instance, request_id)
    return {"instanceAction": views.action_view(context, action, True)}
