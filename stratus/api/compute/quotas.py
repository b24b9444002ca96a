"""os-quota-sets and limits."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, BeforeValidator, ConfigDict

from stratus.api.compute import common
from stratus.api.compute.common import strict_bool
from stratus.api.context import RequestContext, get_context
from stratus.api.errors import BadRequest
from stratus.api.policy import authorize
from stratus.db import quotas as db_quotas
from stratus.db.session import transaction
from stratus.exception import OverQuota

router = APIRouter(prefix=common.PREFIX)

SHOW_RULE = "compute:quotas:show"
UPDATE_RULE = "compute:quotas:update"
LIMITS_RULE = "compute:limits"
CLASS_SHOW_RULE = "compute:quota_classes:show"
CLASS_UPDATE_RULE = "compute:quota_classes:update"

_NETWORK = db_quotas.NETWORK_RESOURCES
_INJECTED = ("injected_files", "injected_file_content_bytes", "injected_file_path_bytes")
_GROUPS = ("server_groups", "server_group_members")


def _quota_value(value: Any) -> int:
    """Nova's quota limit: an integer (or a string of one) from -1 up; not a boolean."""
    if isinstance(value, str) and re.match(r"^-?[0-9]+$", value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("must be an integer")
    if not -1 <= value <= common.INT32_MAX:
        raise ValueError(f"must be between -1 and {common.INT32_MAX}")
    return value


Limit = Annotated[int | None, BeforeValidator(lambda v: v if v is None else _quota_value(v))]


class QuotaValues(BaseModel):
    """The limits a request may set; which of them a microversion takes is checked
    against :func:`quota_set_fields` / :func:`quota_class_fields`."""

    model_config = ConfigDict(extra="forbid")
    instances: Limit = None
    cores: Limit = None
    ram: Limit = None
    metadata_items: Limit = None
    key_pairs: Limit = None
    server_groups: Limit = None
    server_group_members: Limit = None
    injected_files: Limit = None
    injected_file_content_bytes: Limit = None
    injected_file_path_bytes: Limit = None
    fixed_ips: Limit = None
    floating_ips: Limit = None
    security_groups: Limit = None
    security_group_rules: Limit = None


class QuotaSetValues(QuotaValues):
    force: Annotated[bool, BeforeValidator(strict_bool)] = False


class QuotaSetRequest(BaseModel):
    """``PUT /os-quota-sets/{project_id}``."""

    model_config = ConfigDict(extra="forbid")
    quota_set: QuotaSetValues


class QuotaClassSetRequest(BaseModel):
    """``PUT /os-quota-class-sets/{class}``."""

    model_config = ConfigDict(extra="forbid")
    quota_class_set: QuotaValues


def quota_set_fields(version: Any) -> tuple[str, ...]:
    """The resources of ``os-quota-sets`` at microversion ``version``: the network
    ones go at 2.36, the injected-file ones at 2.57."""
    hidden: tuple[str, ...] = ()
    if version >= "2.36":
        hidden += _NETWORK
    if version >= "2.57":
        hidden += _INJECTED
    return tuple(name for name in db_quotas.RESOURCES if name not in hidden)


def quota_class_fields(version: Any) -> tuple[str, ...]:
    """The resources of ``os-quota-class-sets``: below 2.50 the network ones and no
    server groups; from 2.50 server groups and no network ones; 2.57 drops injected files."""
    if version < "2.50":
        hidden: tuple[str, ...] = _GROUPS
    else:
        hidden = _NETWORK + (_INJECTED if version >= "2.57" else ())
    return tuple(name for name in db_quotas.RESOURCES if name not in hidden)


def _shown(values: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    return {name: values[name] for name in fields}


def _requested(data: QuotaValues, fields: tuple[str, ...], key: str) -> dict[str, int]:
    """The limits a request sets, each one a field of this microversion."""
    values = data.model_dump(exclude_none=True, exclude={"force"})
    stale = sorted(set(values) - set(fields))
    if stale:
        raise BadRequest(
            "Additional properties are not allowed at this microversion "
            f"({', '.join(f'{key}.{name}' for name in stale)} were unexpected)."
        )
    return values


def check_metadata_items(session, context: RequestContext, count: int) -> None:
    """Extra specs of a flavor and metadata of a server count against metadata_items."""
    limit = db_quotas.limits(session, context.project_id)["metadata_items"]
    if 0 <= limit < count:
        raise OverQuota(
            f"Quota exceeded for metadata_items: {count} items requested, the limit is {limit}."
        )


def _target(project_id: str) -> dict[str, str]:
    return {"project_id": project_id}


@router.get("/os-quota-sets/{project_id}/defaults")
def quota_defaults(project_id: str, context: RequestContext = Depends(get_context)) -> dict:
    authorize(LIMITS_RULE, context)
    with transaction() as session:
        values = db_quotas.defaults(session)
    fields = quota_set_fields(context.api_version)
    return {"quota_set": {"id": project_id, **_shown(values, fields)}}


def _user(request: Request) -> str | None:
    """The ``user_id`` query parameter: the request is about that user's limits within
    the project, not the project's."""
    user_id = request.query_params.get("user_id")
    if user_id is not None and not 1 <= len(user_id) <= 64:
        raise BadRequest("Invalid input for query parameter 'user_id': 1 to 64 characters.")
    return user_id


@router.get("/os-quota-sets/{project_id}/detail")
def quota_detail(
    project_id: str, request: Request, context: RequestContext = Depends(get_context)
) -> dict:
    authorize(SHOW_RULE, context, _target(project_id))
    user_id = _user(request)
    with transaction() as session:
        limits = db_quotas.limits(session, project_id, user_id)
        used = db_quotas.usage(
            session, project_id, user_id or context.user_id, per_user=user_id is not None
        )
    detail = {
        name: {"limit": limits[name], "in_use": used.get(name, 0), "reserved": 0}
        for name in quota_set_fields(context.api_version)
    }
    return {"quota_set": {"id": project_id, **detail}}


@router.get("/os-quota-sets/{project_id}")
def quota_show(
    project_id: str, request: Request, context: RequestContext = Depends(get_context)
) -> dict:
    authorize(SHOW_RULE, context, _target(project_id))
    user_id = _user(request)
    with transaction() as session:
        limits = db_quotas.limits(session, project_id, user_id)
    fields = quota_set_fields(context.api_version)
    return {"quota_set": {"id": project_id, **_shown(limits, fields)}}


@router.put("/os-quota-sets/{project_id}")
def quota_update(
    project_id: str,
    body: QuotaSetRequest,
    request: Request,
    context: RequestContext = Depends(get_context),
) -> dict:
    authorize(UPDATE_RULE, context, _target(project_id))
    user_id = _user(request)
    fields = quota_set_fields(context.api_version)
    values = _requested(body.quota_set, fields, "quota_set")
    with transaction() as session:
        if user_id is not None:
            _check_under_project(db_quotas.limits(session, project_id), values)
        if not body.quota_set.force:
            used = db_quotas.usage(session, project_id, user_id, per_user=user_id is not None)
            for name, limit in values.items():
                if 0 <= limit < used.get(name, 0):
                    raise BadRequest(
                        f"Quota limit {limit} for {name} must be greater than or "
                        f"equal to already used and reserved {used[name]}."
                    )
        db_quotas.set_limits(session, project_id, values, user_id)
        session.flush()
        limits = db_quotas.limits(session, project_id, user_id)
    return {"quota_set": _shown(limits, fields)}


def _check_under_project(project: dict[str, int], values: dict[str, int]) -> None:
    """A user's limit within a project cannot be above the project's (nor unlimited
    where the project's is not)."""
    for name, limit in values.items():
        ceiling = project[name]
        if ceiling >= 0 and (limit < 0 or limit > ceiling):
            raise BadRequest(
                f"Quota limit {limit} for {name} must be less than or equal to {ceiling}."
            )


@router.delete("/os-quota-sets/{project_id}", status_code=202)
def quota_reset(
    project_id: str, request: Request, context: RequestContext = Depends(get_context)
) -> Response:
    authorize(UPDATE_RULE, context, _target(project_id))
    user_id = _user(request)
    with transaction() as session:
        db_quotas.reset(session, project_id, user_id)
    return Response(status_code=202)


# --- os-quota-class-sets -----------------------------------------------------------


def _class_name(name: str) -> str:
    if not 1 <= len(name) <= 255:
        raise BadRequest("Invalid input for path parameter 'id': 1 to 255 characters.")
    return name


@router.get("/os-quota-class-sets/{class_name}")
def quota_class_show(class_name: str, context: RequestContext = Depends(get_context)) -> dict:
    authorize(CLASS_SHOW_RULE, context, {})
    with transaction() as session:
        values = db_quotas.class_limits(session, _class_name(class_name))
    fields = quota_class_fields(context.api_version)
    return {"quota_class_set": {"id": class_name, **_shown(values, fields)}}


@router.put("/os-quota-class-sets/{class_name}")
def quota_class_update(
    class_name: str, body: QuotaClassSetRequest, context: RequestContext = Depends(get_context)
) -> dict:
    authorize(CLASS_UPDATE_RULE, context, {})
    fields = quota_class_fields(context.api_version)
    values = _requested(body.quota_class_set, fields, "quota_class_set")
    with transaction() as session:
        db_quotas.set_class_limits(session, _class_name(class_name), values)
        session.flush()
        current = db_quotas.class_limits(session, class_name)
    return {"quota_class_set": _shown(current, fields)}


@router.get("/limits")
def limits(request: Request, context: RequestContext = Depends(get_context)) -> dict:
    authorize(LIMITS_RULE, context)
    project_id = request.query_params.get("tenant_id") if context.is_admin else None
    project_id = project_id or context.project_id
    with transaction() as session:
        limit = db_quotas.limits(session, project_id)
        used = db_quotas.usage(session, project_id, context.user_id)
    absolute: dict[str, int] = {
        "maxServerMeta": limit["metadata_items"],
        "maxTotalInstances": limit["instances"],
        "maxTotalCores": limit["cores"],
        "maxTotalRAMSize": limit["ram"],
        "maxTotalKeypairs": limit["key_pairs"],
        "maxServerGroups": limit["server_groups"],
        "maxServerGroupMembers": limit["server_group_members"],
        "totalInstancesUsed": used["instances"],
        "totalCoresUsed": used["cores"],
        "totalRAMUsed": used["ram"],
        "totalServerGroupsUsed": used["server_groups"],
    }
    if context.api_version < "2.57":
        absolute.update(
            maxPersonality=limit["injected_files"],
            maxPersonalitySize=limit["injected_file_content_bytes"],
        )
    if context.api_version < "2.39":
        absolute["maxImageMeta"] = limit["metadata_items"]
    if context.api_version < "2.36":
        absolute.update(
            maxSecurityGroups=-1,
            maxSecurityGroupRules=-1,
            maxTotalFloatingIps=-1,
            totalFloatingIpsUsed=0,
            totalSecurityGroupsUsed=0,
        )
    return {"limits": {"rate": [], "absolute": absolute}}
