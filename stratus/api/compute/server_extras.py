"""Per-server sub-resources: metadata and instance actions (server event list)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from stratus.api.compute import common
from stratus.api.compute.servers import load_instance
from stratus.api.context import RequestContext, get_context
from stratus.api.errors import BadRequest, NotFound, OverQuota
from stratus.db import instances as db_instances
from stratus.db import quotas as db_quotas
from stratus.db.session import transaction

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


def _metadata(instance: Any) -> dict[str, str]:
    return {m.key: m.value for m in instance.metadata_items}


def _write(
    server_id: str, context: RequestContext, items: dict[str, str], replace: bool
) -> dict[str, str]:
    with transaction() as session:
        instance = load_instance(session, context, server_id, "compute:servers:update")
        if instance.locked and not context.is_admin:
            from stratus.api.errors import Conflict

            raise Conflict(f"Instance {instance.uuid} is locked.")
        merged = items if replace else {**_metadata(instance), **items}
        limit = db_quotas.limits(session, instance.project_id)["metadata_items"]
        if 0 <= limit < len(merged):
            raise OverQuota(
                f"Quota exceeded for metadata_items: {len(merged)} items, the limit is {limit}."
            )
        db_instances.set_metadata(instance, items, replace=replace)
        session.flush()
        return _metadata(instance)


@router.get("/servers/{server_id}/metadata")
def list_metadata(server_id: str, context: RequestContext = Depends(get_context)) -> dict:
    with transaction() as session:
        return {"metadata": _metadata(load_instance(session, context, server_id))}


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
    with transaction() as session:
        metadata = _metadata(load_instance(session, context, server_id))
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
    with transaction() as session:
        instance = load_instance(session, context, server_id, "compute:servers:update")
        metadata = _metadata(instance)
        if key not in metadata:
            raise NotFound(f"Metadata item {key} was not found.")
        del metadata[key]
        db_instances.set_metadata(instance, metadata, replace=True)
    return Response(status_code=204)


def _action_view(context: RequestContext, action: Any, events: bool) -> dict[str, Any]:
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


@router.get("/servers/{server_id}/os-instance-actions")
def list_actions(server_id: str, context: RequestContext = Depends(get_context)) -> dict:
    with transaction() as session:
        instance = load_instance(session, context, server_id)
        return {
            "instanceActions": [
                _action_view(context, a, False)
                for a in db_instances.actions(session, instance.uuid)
            ]
        }


@router.get("/servers/{server_id}/os-instance-actions/{request_id}")
def show_action(
    server_id: str, request_id: str, context: RequestContext = Depends(get_context)
) -> dict:
    with transaction() as session:
        instance = load_instance(session, context, server_id)
        action = db_instances.action(session, instance.uuid, request_id)
        if action is None:
            raise NotFound(f"Action {request_id} on instance {server_id} could not be found.")
        return {"instanceAction": _action_view(context, action, True)}
