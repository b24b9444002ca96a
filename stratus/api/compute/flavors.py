"""Flavors, their extra specs (os-extra_specs) and access lists (os-flavor-access)."""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    RootModel,
    StringConstraints,
    field_validator,
    model_validator,
)
from sqlalchemy.exc import IntegrityError

from stratus.api.compute import common
from stratus.api.compute.quotas import check_metadata_items
from stratus.api.context import RequestContext, get_context
from stratus.api.errors import BadRequest, Conflict, NotFound
from stratus.api.policy import authorize
from stratus.db import flavors as db_flavors
from stratus.db.models import Flavor, FlavorExtraSpec, FlavorProject
from stratus.db.session import transaction

router = APIRouter(prefix=common.PREFIX)

LIST_RULE = "compute:flavors:list"
MANAGE_RULE = "compute:flavors:manage"
SPECS_SHOW_RULE = "compute:flavors:extra_specs:show"
SPECS_MANAGE_RULE = "compute:flavors:extra_specs:manage"
ACCESS_LIST_RULE = "compute:flavors:access:list"
ACCESS_MANAGE_RULE = "compute:flavors:access:manage"

_NAME_RE = re.compile(r"^(?! )[^\x00-\x1f\x7f]+(?<! )$")
_ID_RE = re.compile(r"^(?! )[a-zA-Z0-9. _-]+(?<! )$")
SPEC_KEY = Annotated[
    str, StringConstraints(min_length=1, max_length=255, pattern=r"^[a-zA-Z0-9-_:. ]+$")
]
MAX_INT = common.INT32_MAX
_DIGITS_RE = re.compile(r"^[0-9]+$")
_RXTX_RE = re.compile(r"^[0-9]+(\.[0-9]+)?$")


def _whole(minimum: int) -> Any:
    """Nova's flavor sizes: an integer or a string of digits in [minimum, MAX_INT]; a
    boolean is not a number here."""

    def check(value: Any) -> int:
        if isinstance(value, str) and _DIGITS_RE.match(value):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("must be an integer")
        if not minimum <= value <= MAX_INT:
            raise ValueError(f"must be between {minimum} and {MAX_INT}")
        return value

    return BeforeValidator(check)


def _flavor_id(value: Any) -> str | None:
    """Nova takes the id as a string, a number or null, and keeps it as a string."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError("must be a string, a number or null")
    text = value if isinstance(value, str) else str(value)
    if not 1 <= len(text) <= 255:
        raise ValueError("must be 1 to 255 characters long")
    if not _ID_RE.match(text):
        raise ValueError("may contain only letters, digits, '.', '_', '-' and inner spaces")
    return text


def _rxtx(value: Any) -> float:
    if isinstance(value, str) and _RXTX_RE.match(value):
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a number")
    if not 0 < value <= 3.40282e38:
        raise ValueError("must be greater than 0 and at most 3.40282e+38")
    return float(value)


def _swap(value: Any) -> int:
    return 0 if value == "" else value


class FlavorCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(min_length=1, max_length=255)
    id: Annotated[str | None, BeforeValidator(_flavor_id)] = None
    ram: Annotated[int, _whole(1)]
    vcpus: Annotated[int, _whole(1)]
    disk: Annotated[int, _whole(0)]
    swap: Annotated[int, _whole(0), BeforeValidator(_swap)] = 0
    ephemeral: Annotated[int, _whole(0)] = Field(default=0, alias="OS-FLV-EXT-DATA:ephemeral")
    rxtx_factor: Annotated[float, BeforeValidator(_rxtx)] = 1.0
    is_public: Annotated[bool, BeforeValidator(common.strict_bool)] = Field(
        default=True, alias="os-flavor-access:is_public"
    )
    description: str | None = Field(default=None, max_length=65535)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME_RE.match(value):
            raise ValueError(
                "must not be blank, start or end with a space, or contain control characters"
            )
        return value


class FlavorCreateRequest(BaseModel):
    """``POST /flavors``."""

    model_config = ConfigDict(extra="forbid")
    flavor: FlavorCreate


class FlavorUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    description: str | None = Field(max_length=65535)


class FlavorUpdateRequest(BaseModel):
    """``PUT /flavors/{id}`` (2.55)."""

    model_config = ConfigDict(extra="forbid")
    flavor: FlavorUpdate


class TenantRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tenant: str = Field(min_length=1, max_length=255)


def _specs(flavor: Flavor | db_flavors.FlavorRecord) -> dict[str, str]:
    if isinstance(flavor.extra_specs, dict):
        return flavor.extra_specs
    return {spec.key: spec.value for spec in flavor.extra_specs}


def flavor_view(
    request: Request,
    context: RequestContext,
    flavor: Flavor | db_flavors.FlavorRecord,
    detail: bool = True,
) -> dict[str, Any]:
    version = context.api_version
    body: dict[str, Any] = {
        "id": flavor.flavorid,
        "name": flavor.name,
        "links": common.links(request, "flavors", flavor.flavorid),
    }
    if version >= "2.55":
        body["description"] = flavor.description
    if not detail:
        return body
    swap: int | str = flavor.swap if (flavor.swap or version >= "2.75") else ""
    body.update(
        {
            "ram": flavor.memory_mb,
            "disk": flavor.root_gb,
            "vcpus": flavor.vcpus,
            "swap": swap,
            "OS-FLV-EXT-DATA:ephemeral": flavor.ephemeral_gb,
            "OS-FLV-DISABLED:disabled": flavor.disabled,
            "rxtx_factor": flavor.rxtx_factor,
            "os-flavor-access:is_public": flavor.is_public,
        }
    )
    if version >= "2.61":
        body["extra_specs"] = _specs(flavor)
    return body


def _visible_flavor(session, context: RequestContext, flavorid: str) -> Flavor:
    flavor = db_flavors.get(session, flavorid)
    if flavor is None or not db_flavors.visible(flavor, context.project_id, context.is_admin):
        raise NotFound(f"Flavor {flavorid} could not be found.")
    return flavor


def _list(request: Request, context: RequestContext, detail: bool) -> JSONResponse:
    authorize(LIST_RULE, context)
    params = request.query_params
    if context.is_admin:
        raw = params.get("is_public")
        is_public = (
            None
            if raw is not None and raw.lower() == "none"
            else common.parse_bool("is_public", raw, True)
        )
    else:
        is_public = True
    sort_key = params.get("sort_key", "flavorid")
    if sort_key not in db_flavors.SORT_KEYS:
        raise BadRequest(
            f"Invalid sort_key '{sort_key}': use one of {', '.join(db_flavors.SORT_KEYS)}."
        )
    sort_dir = params.get("sort_dir", "asc")
    if sort_dir not in ("asc", "desc"):
        raise BadRequest(f"Invalid sort_dir '{sort_dir}': use asc or desc.")
    limit = common.page_limit(request)
    with transaction() as session:
        marker = None
        if params.get("marker"):
            marker = db_flavors.get(session, params["marker"])
            if marker is None:
                raise BadRequest(f"marker [{params['marker']}] not found")
        rows = db_flavors.query(
            session,
            is_public=is_public,
            project_id=context.project_id,
            min_ram=common.parse_int("minRam", params.get("minRam")),
            min_disk=common.parse_int("minDisk", params.get("minDisk")),
            include_disabled=context.is_admin,
            sort_key=sort_key,
            sort_dir=sort_dir,
            marker=marker,
            with_specs=detail and context.api_version >= "2.61",
            limit=limit,
        )
        result: dict[str, Any] = {
            "flavors": [flavor_view(request, context, f, detail) for f in rows]
        }
        if rows and len(rows) == limit:
            result["flavors_links"] = common.next_link(
                request, "flavors/detail" if detail else "flavors", rows[-1].flavorid
            )
        return common.respond(result)


@router.get("/flavors")
def list_flavors(request: Request, context: RequestContext = Depends(get_context)) -> JSONResponse:
    return _list(request, context, detail=False)


@router.get("/flavors/detail")
def list_flavors_detail(
    request: Request, context: RequestContext = Depends(get_context)
) -> JSONResponse:
    return _list(request, context, detail=True)


@router.get("/flavors/{flavorid}")
def show_flavor(
    flavorid: str, request: Request, context: RequestContext = Depends(get_context)
) -> dict:
    authorize(LIST_RULE, context)
    with transaction() as session:
        return {
            "flavor": flavor_view(request, context, _visible_flavor(session, context, flavorid))
        }


@router.post("/flavors")
def create_flavor(
    body: FlavorCreateRequest, request: Request, context: RequestContext = Depends(get_context)
) -> dict:
    authorize(MANAGE_RULE, context)
    data = body.flavor
    if data.description is not None and context.api_version < "2.55":
        raise BadRequest("'flavor.description' needs microversion 2.55 or later.")
    flavorid = data.id if data.id not in (None, "auto") else str(uuid.uuid4())
    with transaction() as session:
        if db_flavors.get(session, flavorid) is not None:
            raise Conflict(f"Flavor with ID {flavorid} already exists.")
        flavor = Flavor(
            flavorid=flavorid,
            name=data.name,
            memory_mb=data.ram,
            vcpus=data.vcpus,
            root_gb=data.disk,
            ephemeral_gb=data.ephemeral,
            swap=data.swap,
            rxtx_factor=data.rxtx_factor,
            is_public=data.is_public,
            description=data.description,
        )
        session.add(flavor)
        try:
            session.flush()
        except IntegrityError:
            raise Conflict(f"Flavor with name {data.name} already exists.") from None
        return {"flavor": flavor_view(request, context, flavor)}


@router.put("/flavors/{flavorid}")
def update_flavor(
    flavorid: str,
    body: FlavorUpdateRequest,
    request: Request,
    context: RequestContext = Depends(get_context),
) -> dict:
    if context.api_version < "2.55":
        raise NotFound("Updating a flavor needs microversion 2.55 or later.")
    authorize(MANAGE_RULE, context)
    data = body.flavor
    with transaction() as session:
        flavor = _visible_flavor(session, context, flavorid)
        flavor.description = data.description
        return {"flavor": flavor_view(request, context, flavor)}


@router.delete("/flavors/{flavorid}", status_code=202)
def delete_flavor(flavorid: str, context: RequestContext = Depends(get_context)) -> Response:
    authorize(MANAGE_RULE, context)
    with transaction() as session:
        session.delete(_visible_flavor(session, context, flavorid))
    return Response(status_code=202)


# --- os-extra_specs -------------------------------------------------------------------


def _spec_value(value: Any) -> str:
    """An extra spec's value: a string or a number (kept as its text), 1 to 255 long."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError("the value must be a string or a number")
    text = str(value)
    if not 0 < len(text) <= 255:
        raise ValueError("the value must be 1 to 255 characters long")
    return text


SpecValue = Annotated[str, BeforeValidator(_spec_value)]


class ExtraSpecsRequest(BaseModel):
    """``POST /flavors/{id}/os-extra_specs``."""

    model_config = ConfigDict(extra="forbid")
    extra_specs: dict[SPEC_KEY, SpecValue]


class ExtraSpecRequest(RootModel[dict[SPEC_KEY, SpecValue]]):
    """``PUT /flavors/{id}/os-extra_specs/{key}``: ``{key: value}``."""


class FlavorAccessAction(BaseModel):
    """``POST /flavors/{id}/action``: exactly one of the two actions."""

    model_config = ConfigDict(extra="forbid")
    addTenantAccess: TenantRef | None = None  # noqa: N815 - the API's name
    removeTenantAccess: TenantRef | None = None  # noqa: N815

    @model_validator(mode="before")
    @classmethod
    def _one(cls, data: Any) -> Any:
        if (
            not isinstance(data, dict)
            or len(data) != 1
            or next(iter(data)) not in ("addTenantAccess", "removeTenantAccess")
        ):
            raise ValueError("the action must be one of addTenantAccess or removeTenantAccess")
        if next(iter(data.values())) is None:
            raise ValueError(f"'{next(iter(data))}' must be an object")
        return data


def _set_specs(session, context: RequestContext, flavor: Flavor, specs: dict[str, str]) -> None:
    current = {spec.key: spec for spec in flavor.extra_specs}
    check_metadata_items(session, context, len(set(current) | set(specs)))
    for key, value in specs.items():
        if key in current:
            current[key].value = value
        else:
            flavor.extra_specs.append(FlavorExtraSpec(key=key, value=value))


@router.get("/flavors/{flavorid}/os-extra_specs")
def list_specs(flavorid: str, context: RequestContext = Depends(get_context)) -> dict:
    authorize(SPECS_SHOW_RULE, context)
    with transaction() as session:
        return {"extra_specs": _specs(_visible_flavor(session, context, flavorid))}


@router.post("/flavors/{flavorid}/os-extra_specs")
def create_specs(
    flavorid: str, body: ExtraSpecsRequest, context: RequestContext = Depends(get_context)
) -> dict:
    authorize(SPECS_MANAGE_RULE, context)
    specs = body.extra_specs
    with transaction() as session:
        _set_specs(session, context, _visible_flavor(session, context, flavorid), specs)
    return {"extra_specs": specs}


@router.get("/flavors/{flavorid}/os-extra_specs/{key}")
def show_spec(flavorid: str, key: str, context: RequestContext = Depends(get_context)) -> dict:
    authorize(SPECS_SHOW_RULE, context)
    with transaction() as session:
        specs = _specs(_visible_flavor(session, context, flavorid))
    if key not in specs:
        raise NotFound(f"Flavor {flavorid} has no extra specs with key {key}.")
    return {key: specs[key]}


@router.put("/flavors/{flavorid}/os-extra_specs/{key}")
def update_spec(
    flavorid: str, key: str, body: ExtraSpecRequest, context: RequestContext = Depends(get_context)
) -> dict:
    authorize(SPECS_MANAGE_RULE, context)
    specs = body.root
    if list(specs) != [key]:
        raise BadRequest(f"The request body must contain exactly the key '{key}' from the URL.")
    with transaction() as session:
        _set_specs(session, context, _visible_flavor(session, context, flavorid), specs)
    return specs


@router.delete("/flavors/{flavorid}/os-extra_specs/{key}")
def delete_spec(
    flavorid: str, key: str, context: RequestContext = Depends(get_context)
) -> Response:
    authorize(SPECS_MANAGE_RULE, context)
    with transaction() as session:
        flavor = _visible_flavor(session, context, flavorid)
        matching = [spec for spec in flavor.extra_specs if spec.key == key]
        if not matching:
            raise NotFound(f"Flavor {flavorid} has no extra specs with key {key}.")
        flavor.extra_specs.remove(matching[0])
    return Response(status_code=200)


# --- os-flavor-access ----------------------------------------------------------------


def _access_list(flavor: Flavor) -> dict[str, Any]:
    return {
        "flavor_access": [
            {"flavor_id": flavor.flavorid, "tenant_id": p.project_id}
            for p in sorted(flavor.projects, key=lambda p: p.project_id)
        ]
    }


@router.get("/flavors/{flavorid}/os-flavor-access")
def list_access(flavorid: str, context: RequestContext = Depends(get_context)) -> dict:
    authorize(ACCESS_LIST_RULE, context)
    with transaction() as session:
        flavor = _visible_flavor(session, context, flavorid)
        if flavor.is_public:
            raise NotFound("Access list not available for public flavors.")
        return _access_list(flavor)


@router.post("/flavors/{flavorid}/action")
def flavor_action(
    flavorid: str, body: FlavorAccessAction, context: RequestContext = Depends(get_context)
) -> dict:
    authorize(ACCESS_MANAGE_RULE, context)
    action = next(iter(body.model_fields_set))
    tenant = getattr(body, action).tenant
    with transaction() as session:
        flavor = _visible_flavor(session, context, flavorid)
        if flavor.is_public:
            raise Conflict("Can not add access to a public flavor.")
        present = [p for p in flavor.projects if p.project_id == tenant]
        if action == "addTenantAccess":
            if present:
                raise Conflict(
                    f"Flavor access already exists for flavor {flavorid} and "
                    f"project {tenant} combination."
                )
            flavor.projects.append(FlavorProject(project_id=tenant))
        else:
            if not present:
                raise NotFound(f"Flavor access not found for {flavorid} / {tenant} combination.")
            flavor.projects.remove(present[0])
        session.flush()
        return _access_list(flavor)
