"""The OpenStack Image API v2 under ``/image``: images, their data, tags, actions,
schemas and version discovery, with Glance's semantics.

Image data streams from the request into the file store (never held whole in
memory) while the image is ``saving``; the move to ``saving`` is a conditional
UPDATE, so of two concurrent uploads to one image only one proceeds.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import logging
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from stratus.api import policy
from stratus.api.compute import common
from stratus.api.context import RequestContext, get_context
from stratus.api.errors import (
    APIError,
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    RequestTooLarge,
    UnsupportedMediaType,
)
from stratus.api.image import attributes, streams, views
from stratus.api.image.attributes import ImageState
from stratus.api.middleware import load_json
from stratus.api.policy import authorize
from stratus.api.urls import base_url
from stratus.db import images as db_images
from stratus.db.models import Image
from stratus.db.session import transaction
from stratus.image import formats
from stratus.image.inspect import ImageContentError, ImageVerifier
from stratus.image.store import (
    FileStore,
    ImageDataNotFound,
    ImageSizeLimitExceeded,
    ImageStoreFull,
)

LOG = logging.getLogger(__name__)
PREFIX = "/image/v2"
router = APIRouter()

#: A member of the image's owning project (or an admin); the target's
#: ``project_id`` is the image owner.
_OWNER = policy.MEMBER_API

RULES = (
    ("image:get_images", policy.ANY_READER, "List images."),
    ("image:get_image", policy.ANY_READER, "Show an image the caller can see."),
    ("image:download_image", policy.ANY_READER, "Download the data of a visible image."),
    ("image:add_image", _OWNER, "Create an image in the caller's project."),
    ("image:modify_image", _OWNER, "Update an image, or add and remove its tags."),
    ("image:upload_image", _OWNER, "Upload an image's data."),
    ("image:delete_image", _OWNER, "Delete an image."),
    ("image:publicize_image", policy.ADMIN_API, "Make an image public."),
    ("image:communitize_image", _OWNER, "Make an image a community image."),
    ("image:set_owner", policy.ADMIN_API, "Give an image to another project."),
    ("image:deactivate", _OWNER, "Deactivate an image (as Glance: its project's members)."),
    ("image:reactivate", _OWNER, "Reactivate a deactivated image."),
)
for _rule in RULES:
    policy.register(*_rule)

JSON_PATCH_ACCEPT = {"Accept-Patch": ", ".join(attributes.PATCH_TYPES)}
DOWNLOAD_CHUNK = 1024 * 1024
DUPLICATE_NAMES = (
    "Two extra properties or tags of this image have names the database considers equal "
    "(e.g. differing only in letter case or trailing spaces); rename one."
)


class Gone(APIError):
    status, kind, title = 410, "gone", "Gone"


class StoreFailure(APIError):
    status, kind, title = 500, "internalServerError", "Internal Server Error"


@functools.cache
def image_store() -> FileStore:
    """The configured file store; the first use clears partial files that a process
    which died mid-upload left behind."""
    store = FileStore.from_conf()
    try:
        store.remove_stale_partials()
    except OSError:
        LOG.exception("Could not clear stale partial uploads in %s", store.datadir)
    return store


def _target(image: Image) -> dict[str, Any]:
    return {"project_id": image.owner}


def _visible(session: Session, context: RequestContext, image_id: str) -> Image:
    image = db_images.get(session, image_id)
    if image is None or not db_images.visible(image, context.project_id, context.is_admin):
        raise NotFound(f"No image found with ID {image_id}.")
    return image


# --- versions and schemas --------------------------------------------------------------


@router.get("/image", include_in_schema=False)
@router.get("/image/")
@router.get(PREFIX, include_in_schema=False)
@router.get(f"{PREFIX}/", include_in_schema=False)
def versions(request: Request) -> JSONResponse:
    return JSONResponse(views.versions(base_url(request)), status_code=300)


@router.get(f"{PREFIX}/schemas/image")
def image_schema(context: RequestContext = Depends(get_context)) -> dict[str, Any]:
    return views.image_schema()


@router.get(f"{PREFIX}/schemas/images")
def images_schema(context: RequestContext = Depends(get_context)) -> dict[str, Any]:
    return views.images_schema()


@router.get(f"{PREFIX}/info/import")
def import_info(context: RequestContext = Depends(get_context)) -> dict[str, Any]:
    return {
        "import-methods": {"description": "Import methods available.", "type": "array", "value": []}
    }


# --- create, show, update, delete -----------------------------------------------------


def _check_policies(context: RequestContext, state: ImageState, before: ImageState | None) -> None:
    """Rules that depend on the caller: publicising, community images, ownership."""
    changed = before is None or before.visibility != state.visibility
    if changed and state.visibility == "public":
        authorize("image:publicize_image", context, {"project_id": state.owner})
    if changed and state.visibility == "community":
        authorize("image:communitize_image", context, {"project_id": state.owner})
    if (before is None or before.owner != state.owner) and state.owner != context.project_id:
        authorize("image:set_owner", context, {"project_id": state.owner})


def _check_formats(state: ImageState) -> None:
    try:
        formats.validate_formats(state.disk_format, state.container_format)
    except formats.ImageFormatError as exc:
        raise BadRequest(exc.message) from None


def _write(session: Session, image: Image, state: ImageState) -> None:
    for name, value in state.columns().items():
        setattr(image, name, value)
    db_images.set_properties(image, state.properties)
    db_images.set_tags(image, state.tags)
    db_images.touch(image)
    _flush(session)


def _flush(session: Session) -> None:
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(DUPLICATE_NAMES) from None


@router.post(f"{PREFIX}/images", status_code=201, openapi_extra=attributes.create_body_openapi())
async def create_image(
    request: Request, context: RequestContext = Depends(get_context)
) -> JSONResponse:
    body = load_json(await request.body())
    image_id, state = attributes.parse_create(body)
    body = await run_in_threadpool(_create, context, image_id, state)
    return JSONResponse(body, status_code=201, headers={"Location": body["self"]})


def _create(context: RequestContext, image_id: str | None, state: ImageState) -> dict[str, Any]:
    if state.owner is None:
        state.owner = context.project_id
    authorize("image:add_image", context, {"project_id": context.project_id})
    _check_policies(context, state, None)
    _check_formats(state)
    with transaction() as session:
        if image_id is not None and db_images.get(session, image_id) is not None:
            raise Conflict(f"Image with identifier {image_id} already exists.")
        values = state.columns()
        if image_id is not None:
            values["id"] = image_id
        try:
            image = db_images.create(session, values, state.properties, state.tags)
        except IntegrityError:
            session.rollback()
            if image_id is not None and db_images.get(session, image_id) is not None:
                raise Conflict(f"Image with identifier {image_id} already exists.") from None
            raise Conflict(DUPLICATE_NAMES) from None
        return views.image_view(image)


@router.get(f"{PREFIX}/images/{{image_id}}")
def show_image(image_id: str, context: RequestContext = Depends(get_context)) -> dict[str, Any]:
    authorize("image:get_image", context)
    with transaction() as session:
        return views.image_view(_visible(session, context, image_id))


@router.patch(f"{PREFIX}/images/{{image_id}}", openapi_extra=attributes.patch_body_openapi())
async def update_image(
    image_id: str, request: Request, context: RequestContext = Depends(get_context)
) -> dict[str, Any]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in attributes.PATCH_TYPES:
        raise UnsupportedMediaType(
            f"Unsupported Content-Type {content_type or '(none)'!r}: send a JSON patch as "
            f"{attributes.PATCH_V21}.",
            headers=JSON_PATCH_ACCEPT,
        )
    changes = attributes.parse_patch(await request.body(), content_type)
    return await run_in_threadpool(_update, context, image_id, changes)


def _update(
    context: RequestContext, image_id: str, changes: list[attributes.Change]
) -> dict[str, Any]:
    authorize("image:get_image", context)
    with transaction() as session:
        image = _visible(session, context, image_id)
        authorize("image:modify_image", context, _target(image))
        before = ImageState.of(image)
        state = ImageState.of(image)
        attributes.apply_patch(state, changes)
        for name in ("disk_format", "container_format"):
            if getattr(state, name) != getattr(before, name):
                try:
                    formats.check_formats_mutable(image.status, name)
                except formats.ImageAttributeLocked as exc:
                    raise Forbidden(exc.message) from None
        _check_policies(context, state, before)
        _check_formats(state)
        if state != before:
            _write(session, image, state)
        return views.image_view(image)


@router.delete(f"{PREFIX}/images/{{image_id}}", status_code=204)
def delete_image(image_id: str, context: RequestContext = Depends(get_context)) -> Response:
    authorize("image:get_image", context)
    with transaction() as session:
        image = _visible(session, context, image_id)
        authorize("image:delete_image", context, _target(image))
        if image.protected:
            raise Forbidden(
                f"Image {image_id} is protected and cannot be deleted; unset "
                "'protected' first (openstack image set --unprotected)."
            )
        image_id = image.id  # as stored (MariaDB matches IDs case-insensitively)
        db_images.delete(session, image)
    try:
        image_store().delete(image_id)
    except OSError:
        LOG.exception("Image %s was deleted but its data could not be removed", image_id)
    return Response(status_code=204)


# --- tags and actions ------------------------------------------------------------------


@router.put(f"{PREFIX}/images/{{image_id}}/tags/{{tag}}", status_code=204)
def add_tag(image_id: str, tag: str, context: RequestContext = Depends(get_context)) -> Response:
    attributes.check_tag(tag)
    authorize("image:get_image", context)
    with transaction() as session:
        image = _visible(session, context, image_id)
        authorize("image:modify_image", context, _target(image))
        state = ImageState.of(image)
        if tag not in state.tags:
            state.tags.append(tag)
            state.check_limits()
            _write(session, image, state)
    return Response(status_code=204)


@router.delete(f"{PREFIX}/images/{{image_id}}/tags/{{tag}}", status_code=204)
def delete_tag(image_id: str, tag: str, context: RequestContext = Depends(get_context)) -> Response:
    authorize("image:get_image", context)
    with transaction() as session:
        image = _visible(session, context, image_id)
        authorize("image:modify_image", context, _target(image))
        state = ImageState.of(image)
        if tag not in state.tags:
            raise NotFound(f"Tag {tag} not found on image {image_id}.")
        state.tags.remove(tag)
        _write(session, image, state)
    return Response(status_code=204)


def _action(image_id: str, context: RequestContext, rule: str, change: Any) -> Response:
    authorize("image:get_image", context)
    with transaction() as session:
        image = _visible(session, context, image_id)
        authorize(rule, context, _target(image))
        try:
            status = change(image.status)
        except formats.InvalidImageTransition as exc:
            raise Forbidden(exc.message) from None
        if status != image.status and not db_images.change_status(
            session, image_id, image.status, status
        ):
            raise Conflict(f"Image {image_id} changed status meanwhile; try again.")
    return Response(status_code=204)


@router.post(f"{PREFIX}/images/{{image_id}}/actions/deactivate", status_code=204)
def deactivate(image_id: str, context: RequestContext = Depends(get_context)) -> Response:
    return _action(image_id, context, "image:deactivate", formats.deactivate)


@router.post(f"{PREFIX}/images/{{image_id}}/actions/reactivate", status_code=204)
def reactivate(image_id: str, context: RequestContext = Depends(get_context)) -> Response:
    return _action(image_id, context, "image:reactivate", formats.reactivate)


# --- data ---------------------------------------------------------------------------------


def _begin_upload(context: RequestContext, image_id: str) -> tuple[str, str, str | None]:
    """Check and move the image to ``saving``; returns its ID and formats."""
    authorize("image:get_image", context)
    with transaction() as session:
        image = _visible(session, context, image_id)
        authorize("image:upload_image", context, _target(image))
        try:
            formats.begin_upload(image.status, image.disk_format, image.container_format)
        except formats.InvalidImageTransition as exc:
            raise Conflict(f"Image {image_id}: {exc.message}.") from None
        except formats.ImageFormatError as exc:
            raise BadRequest(exc.message) from None
        if not db_images.change_status(session, image.id, formats.QUEUED, formats.SAVING):
            raise Conflict(f"Image {image_id} is already receiving data from another upload.")
        assert image.disk_format is not None
        return image.id, image.disk_format, image.container_format


def _end_upload(image_id: str, status: str, **values: Any) -> bool:
    with transaction() as session:
        return db_images.change_status(session, image_id, formats.SAVING, status, **values)


def _declared_size(request: Request) -> int | None:
    for header in ("content-length", "x-openstack-image-size"):
        raw = request.headers.get(header)
        if raw is not None and raw.isdigit():
            return int(raw)
    return None


@router.put(
    f"{PREFIX}/images/{{image_id}}/file",
    status_code=204,
    openapi_extra=attributes.data_body_openapi(),
)
async def upload_image(
    image_id: str, request: Request, context: RequestContext = Depends(get_context)
) -> Response:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/octet-stream":
        raise UnsupportedMediaType(
            f"Unsupported Content-Type {content_type or '(none)'!r}: "
            "image data must be sent as application/octet-stream."
        )
    store = image_store()
    image_id, disk_format, container_format = await run_in_threadpool(
        _begin_upload, context, image_id
    )
    verifier = ImageVerifier(disk_format, container_format)
    declared = _declared_size(request)
    try:
        if declared is not None and store.size_cap is not None and declared > store.size_cap:
            raise ImageSizeLimitExceeded(store.size_cap)
        result = await store.add_async(
            image_id, streams.read_ahead(request.stream()), verify=verifier
        )
    except Exception as exc:
        await run_in_threadpool(_failed_upload, image_id, exc)
        error = upload_error(exc, image_id)
        if error is None:
            raise
        raise error from None
    except BaseException as exc:  # cancelled: reset without awaiting anything
        _failed_upload(image_id, exc)
        raise
    virtual_size = verifier.info.virtual_size if verifier.info is not None else None
    stored = await run_in_threadpool(
        functools.partial(
            _end_upload,
            image_id,
            formats.ACTIVE,
            size=result.size,
            virtual_size=virtual_size,
            checksum=result.checksum,
            os_hash_algo="sha512",
            os_hash_value=result.multihash,
        )
    )
    if not stored:
        await run_in_threadpool(store.delete, image_id)
        raise Gone(f"Image {image_id} was deleted while its data was being uploaded.")
    return Response(status_code=204)


def _failed_upload(image_id: str, exc: BaseException) -> None:
    """Put the image back to ``queued`` (``killed`` if the store broke), then let the
    handler turn ``exc`` into an OpenStack error."""
    status = formats.QUEUED
    if isinstance(exc, OSError | formats.ImageError) and not isinstance(
        exc, ImageContentError | ImageSizeLimitExceeded | ImageStoreFull
    ):
        status = formats.KILLED
        LOG.error(
            "Storing the data of image %s failed; the image is killed", image_id, exc_info=exc
        )
    else:
        LOG.info(
            "Upload of image %s stopped (%s); the image is queued again",
            image_id,
            type(exc).__name__,
        )
    try:
        _end_upload(image_id, status)
    except Exception:
        LOG.exception("Could not reset image %s after a failed upload", image_id)


def upload_error(exc: BaseException, image_id: str) -> APIError | None:
    """The API error for an exception raised while image data was streaming in."""
    if isinstance(exc, ImageContentError):
        return BadRequest(str(exc))
    if isinstance(exc, ImageSizeLimitExceeded | ImageStoreFull):
        return RequestTooLarge(str(exc))
    if isinstance(exc, ClientDisconnect):
        return BadRequest(
            f"The client disconnected before all the data of image {image_id} "
            "arrived; the image is queued again, upload it again."
        )
    if isinstance(exc, OSError | formats.ImageError):
        return StoreFailure(
            f"The data of image {image_id} could not be stored (the image store failed; "
            "the API log has the details); the image is killed: delete it and create it "
            "again."
        )
    return None


@router.get(f"{PREFIX}/images/{{image_id}}/file")
def download_image(image_id: str, context: RequestContext = Depends(get_context)) -> Response:
    authorize("image:get_image", context)
    with transaction() as session:
        image = _visible(session, context, image_id)
        authorize("image:download_image", context, _target(image))
        image_id, status, checksum = image.id, image.status, image.checksum
    if status == formats.DEACTIVATED and not context.is_admin:
        raise Forbidden(
            "The requested image has been deactivated. Image data download is forbidden."
        )
    if status not in (formats.ACTIVE, formats.DEACTIVATED):
        return Response(status_code=204)
    try:
        chunks = image_store().get(
            image_id, chunk_size=max(DOWNLOAD_CHUNK, image_store().chunk_size)
        )
    except ImageDataNotFound:
        raise NotFound(f"The data of image {image_id} could not be found.") from None
    headers = {"Content-Length": str(chunks.size)}
    if checksum:
        headers["Content-MD5"] = checksum
    return StreamingResponse(chunks, headers=headers, media_type="application/octet-stream")


# --- list ----------------------------------------------------------------------------------

_KNOWN_PARAMS = frozenset(
    {
        "limit",
        "marker",
        "sort_key",
        "sort_dir",
        "sort",
        "name",
        "status",
        "visibility",
        "member_status",
        "owner",
        "checksum",
        "os_hash_value",
        "created_at",
        "updated_at",
        "size_min",
        "size_max",
        "tag",
        "protected",
        "os_hidden",
        "id",
        "disk_format",
        "container_format",
        "min_disk",
        "min_ram",
    }
)
_IN_FILTERS = ("id", "name", "status", "disk_format", "container_format")
_MEMBER_STATUSES = ("accepted", "pending", "rejected", "all")


def _csv(raw: str) -> list[str]:
    try:
        return next(csv.reader([raw], skipinitialspace=True))
    except (csv.Error, StopIteration):
        raise BadRequest(f"Invalid list of values {raw!r}.") from None


def _sort(params: Any) -> list[tuple[str, str]]:
    keys, dirs = params.getlist("sort_key"), params.getlist("sort_dir")
    if "sort" in params:
        if keys or dirs:
            raise BadRequest(
                "The 'sort' parameter cannot be combined with 'sort_key' or 'sort_dir'."
            )
        pairs = []
        for item in params["sort"].split(","):
            key, _, direction = item.strip().partition(":")
            pairs.append((key.strip(), direction.strip() or "desc"))
    else:
        if len(dirs) > 1 and len(dirs) != len(keys):
            raise BadRequest("Give one 'sort_dir', or one for each 'sort_key'.")
        direction = dirs[0] if len(dirs) == 1 else "desc"
        pairs = [(k, dirs[i] if len(dirs) > 1 else direction) for i, k in enumerate(keys)]
        if not pairs:
            pairs = [("created_at", direction)]
    seen = set()
    for key, direction in pairs:
        if key not in db_images.SORT_KEYS:
            raise BadRequest(
                f"Invalid sort key: {key!r}. It must be one of the following: "
                f"{', '.join(db_images.SORT_KEYS)}."
            )
        if direction not in ("asc", "desc"):
            raise BadRequest(
                f"Invalid sort direction: {direction!r}. It must be one of the "
                "following: asc, desc."
            )
        if key in seen:
            raise BadRequest(f"Sort key {key!r} is given more than once.")
        seen.add(key)
    return pairs


def _time_filter(name: str, raw: str) -> tuple[str, str, dt.datetime]:
    operator, sep, value = raw.partition(":")
    if not sep or operator not in db_images.TIME_OPERATORS:
        operator, value = "eq", raw
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise BadRequest(
            f"Invalid {name} filter {raw!r}: use [OPERATOR:]ISO8601-TIME, the "
            f"operator one of {', '.join(db_images.TIME_OPERATORS)}."
        ) from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
    return name, operator, parsed


#: Largest value of a 64-bit database integer column (image sizes).
MAX_BIGINT = 2**63 - 1


def _int_param(params: Any, name: str, maximum: int) -> int | None:
    """Query parameter ``name`` as an integer the database column can hold."""
    value = common.parse_int(name, params.get(name))
    if value is not None and not 0 <= value <= maximum:
        raise BadRequest(
            f"Invalid value {params[name]!r} for query parameter '{name}': must be an "
            f"integer from 0 to {maximum}."
        )
    return value


def _filters(params: Any) -> db_images.Filters:
    filters = db_images.Filters()
    visibility = params.get("visibility")
    if visibility is not None and visibility not in (*attributes.VISIBILITIES, "all"):
        raise BadRequest(
            f"Invalid visibility value: {visibility!r}; use one of "
            f"{', '.join(attributes.VISIBILITIES)} or all."
        )
    filters.visibility = visibility
    member_status = params.get("member_status")
    if member_status is not None and member_status not in _MEMBER_STATUSES:
        raise BadRequest(
            f"Invalid member_status {member_status!r}; use one of {', '.join(_MEMBER_STATUSES)}."
        )
    if member_status is not None:
        filters.member_status = member_status
    for name in _IN_FILTERS:
        raw = params.get(name)
        if raw is None:
            continue
        values = _csv(raw[3:]) if raw.startswith("in:") else [raw]
        if name == "status":
            bad = [v for v in values if v not in formats.STATUSES]
            if bad:
                raise BadRequest(
                    f"Invalid status value: {bad[0]!r}; use one of {', '.join(formats.STATUSES)}."
                )
        filters.one_of[name] = values
    for name in ("owner", "checksum", "os_hash_value"):
        if params.get(name) is not None:
            filters.exact[name] = params[name]
    for name in ("min_disk", "min_ram"):
        value = _int_param(params, name, attributes.MAX_INT)
        if value is not None:
            filters.exact[name] = value
    filters.size_min = _int_param(params, "size_min", MAX_BIGINT)
    filters.size_max = _int_param(params, "size_max", MAX_BIGINT)
    protected = common.parse_bool("protected", params.get("protected"))
    if protected is not None:
        filters.exact["protected"] = protected
    filters.os_hidden = common.parse_bool("os_hidden", params.get("os_hidden"), False)
    filters.tags = params.getlist("tag")
    for name in ("created_at", "updated_at"):
        if params.get(name) is not None:
            filters.times.append(_time_filter(name, params[name]))
    filters.properties = {k: v for k, v in params.items() if k not in _KNOWN_PARAMS}
    return filters


@router.get(f"{PREFIX}/images")
def list_images(request: Request, context: RequestContext = Depends(get_context)) -> dict[str, Any]:
    authorize("image:get_images", context)
    params = request.query_params
    sort = _sort(params)
    filters = _filters(params)
    limit = common.page_limit(request)
    with transaction() as session:
        marker = None
        if params.get("marker"):
            marker = db_images.get(session, params["marker"])
            if marker is None or not db_images.visible(
                marker, context.project_id, context.is_admin
            ):
                raise BadRequest(f"Marker {params['marker']} could not be found.")
        rows = db_images.query(
            session,
            filters,
            project_id=context.project_id,
            is_admin=context.is_admin,
            sort=sort,
            marker=marker,
            limit=limit,
        )
        body: dict[str, Any] = {"images": [views.image_view(i) for i in rows]}
    query = [(k, v) for k, v in params.multi_items() if k != "marker"]
    body["first"] = "/v2/images" + (f"?{urlencode(query)}" if query else "")
    body["schema"] = "/v2/schemas/images"
    if rows and len(rows) == limit:
        body["next"] = f"/v2/images?{urlencode([*query, ('marker', rows[-1].id)])}"
    return body
