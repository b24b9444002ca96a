"""The compute images proxy (``/images``): the Image service's images as Nova showed
them, read only. Nova removed it at microversion 2.36; so does Stratus (404)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from stratus.api.compute import common
from stratus.api.context import RequestContext, get_context
from stratus.api.errors import BadRequest, NotFound
from stratus.api.policy import authorize
from stratus.api.urls import base_url
from stratus.db import images as db_images
from stratus.db.models import Image
from stratus.db.session import transaction

router = APIRouter(prefix=common.PREFIX)

RULE = "compute:images"

# Image service status -> (the proxy's status, progress).
_STATUS = {
    "active": ("ACTIVE", 100),
    "queued": ("SAVING", 25),
    "saving": ("SAVING", 50),
    "importing": ("SAVING", 50),
    "uploading": ("SAVING", 50),
    "deleted": ("DELETED", 0),
    "pending_delete": ("DELETED", 0),
    "killed": ("ERROR", 0),
}
# The proxy's status filter -> the Image service statuses it stands for.
_STATUS_FILTER: dict[str, list[str]] = {}
for _glance, (_nova, _) in _STATUS.items():
    _STATUS_FILTER.setdefault(_nova, []).append(_glance)


def _check_version(context: RequestContext) -> None:
    if context.api_version >= "2.36":
        raise NotFound("The images proxy was removed in microversion 2.36.")
    authorize(RULE, context)


def _links(request: Request, image: Image) -> list[dict[str, str]]:
    return [
        *common.links(request, "images", image.id),
        {
            "rel": "alternate",
            "type": "application/vnd.openstack.image",
            "href": f"{base_url(request)}/image/images/{image.id}",
        },
    ]


def _metadata(image: Image) -> dict[str, str]:
    return {p.name: p.value for p in image.properties}


def image_view(request: Request, image: Image, detail: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": image.id,
        "name": image.name,
        "links": _links(request, image),
    }
    if not detail:
        return body
    status, progress = _STATUS.get(image.status, ("UNKNOWN", 0))
    metadata = _metadata(image)
    body.update(
        {
            "status": status,
            "progress": progress,
            "minDisk": image.min_disk,
            "minRam": image.min_ram,
            "created": common.iso_z(image.created_at),
            "updated": common.iso_z(image.updated_at),
            "metadata": metadata,
            "OS-EXT-IMG-SIZE:size": image.size,
        }
    )
    if "instance_uuid" in metadata:
        body["server"] = {
            "id": metadata["instance_uuid"],
            "links": common.links(request, "servers", metadata["instance_uuid"]),
        }
    if "auto_disk_config" in metadata:
        auto = metadata["auto_disk_config"].strip().lower() in ("1", "true", "yes", "on")
        body["OS-DCF:diskConfig"] = "AUTO" if auto else "MANUAL"
    return body


def _visible(session: Any, context: RequestContext, image_id: str) -> Image:
    image = db_images.get(session, image_id)
    if image is None or not db_images.visible(image, context.project_id, context.is_admin):
        raise NotFound(f"Image {image_id} could not be found.")
    return image


def _list(request: Request, context: RequestContext, detail: bool) -> dict[str, Any]:
    _check_version(context)
    params = request.query_params
    filters = db_images.Filters()
    if params.get("name"):
        filters.exact["name"] = params["name"]
    if params.get("status"):
        statuses = _STATUS_FILTER.get(params["status"].upper())
        if statuses is None:
            raise BadRequest(
                f"Invalid input for query parameter 'status': {params['status']!r} is not "
                f"one of {', '.join(sorted(_STATUS_FILTER))}."
            )
        filters.one_of["status"] = statuses
    min_ram = common.parse_int("minRam", params.get("minRam"))
    min_disk = common.parse_int("minDisk", params.get("minDisk"))
    limit = common.page_limit(request)
    with transaction() as session:
        marker = None
        if params.get("marker"):
            try:
                marker = _visible(session, context, params["marker"])
            except NotFound:
                raise BadRequest(f"marker [{params['marker']}] not found") from None
        rows = db_images.query(
            session,
            filters,
            project_id=context.project_id,
            is_admin=context.is_admin,
            sort=[("created_at", "desc")],
            marker=marker,
        )
        rows = [
            image
            for image in rows
            if (min_ram is None or image.min_ram >= min_ram)
            and (min_disk is None or image.min_disk >= min_disk)
        ]
        page = rows[:limit]
        result: dict[str, Any] = {"images": [image_view(request, i, detail) for i in page]}
    if page and len(rows) > limit:
        result["images_links"] = common.next_link(
            request, "images/detail" if detail else "images", page[-1].id
        )
    return result


@router.get("/images")
def list_images(request: Request, context: RequestContext = Depends(get_context)) -> dict:
    return _list(request, context, detail=False)


@router.get("/images/detail")
def list_images_detail(request: Request, context: RequestContext = Depends(get_context)) -> dict:
    return _list(request, context, detail=True)


@router.get("/images/{image_id}")
def show_image(
    image_id: str, request: Request, context: RequestContext = Depends(get_context)
) -> dict:
    _check_version(context)
    with transaction() as session:
        return {"image": image_view(request, _visible(session, context, image_id), True)}


@router.get("/images/{image_id}/metadata")
def image_metadata(image_id: str, context: RequestContext = Depends(get_context)) -> dict:
    _check_version(context)
    with transaction() as session:
        return {"metadata": _metadata(_visible(session, context, image_id))}


@router.get("/images/{image_id}/metadata/{key}")
def image_metadata_item(
    image_id: str, key: str, context: RequestContext = Depends(get_context)
) -> dict:
    _check_version(context)
    with transaction() as session:
        metadata = _metadata(_visible(session, context, image_id))
    if key not in metadata:
        raise NotFound(f"Image {image_id} has no metadata with key {key}.")
    return {"meta": {key: metadata[key]}}
