"""os-quota-sets and limits."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from stratus.api.compute import common
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

# Fields Nova stopped showing at 2.36 (network proxies) and 2.57 (personality files).
_NETWORK_PROXIES = (
    "fixed_ips",
    "floating_ips",
    "security_group_rules",
    "security_groups",
    "networks",
)
_INJECTED = ("injected_files", "injected_file_content_bytes", "injected_file_path_length")
_NETWORK_DEFAULTS = {
    "fixed_ips": -1,
    "floating_ips": -1,
    "security_group_rules": -1,
    "security_groups": -1,
    "networks": -1,
}

_QUOTA = Field(default=None, ge=-1, le=2**31 - 1)


class QuotaUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    instances: int | None = _QUOTA
    cores: int | None = _QUOTA
    ram: int | None = _QUOTA
    metadata_items: int | None = _QUOTA
    key_pairs: int | None = _QUOTA
    server_groups: int | None = _QUOTA
    server_group_members: int | None = _QUOTA
    injected_files: int | None = _QUOTA
    injected_file_content_bytes: int | None = _QUOTA
    injected_file_path_length: int | None = _QUOTA
    force: bool = False


def _visible_resources(context: RequestContext, values: dict[str, Any]) -> dict[str, Any]:
    shown = dict(values)
    if context.api_version < "2.36":
        shown.update({k: v for k, v in _NETWORK_DEFAULTS.items()})
    if context.api_version >= "2.57":
        for key in _INJECTED:
            shown.pop(key, None)
    return shown


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
    return {"quota_set": {"id": project_id, **_visible_resources(context, db_quotas.defaults())}}


@router.get("/os-quota-sets/{project_id}/detail")
def quota_detail(project_id: str, context: RequestContext = Depends(get_context)) -> dict:
    authorize(SHOW_RULE, context, _target(project_id))
    with transaction() as session:
        limits = db_quotas.limits(session, project_id)
        used = db_quotas.usage(session, project_id, context.user_id)
    detail = {
        name: {"limit": limit, "in_use": used.get(name, 0), "reserved": 0}
        for name, limit in _visible_resources(context, limits).items()
    }
    return {"quota_set": {"id": project_id, **detail}}


@router.get("/os-quota-sets/{project_id}")
def quota_show(project_id: str, context: RequestContext = Depends(get_context)) -> dict:
    authorize(SHOW_RULE, context, _target(project_id))
    with transaction() as session:
        limits = db_quotas.limits(session, project_id)
    return {"quota_set": {"id": project_id, **_visible_resources(context, limits)}}


@router.put("/os-quota-sets/{project_id}")
async def quota_update(
    project_id: str, request: Request, context: RequestContext = Depends(get_context)
) -> dict:
    authorize(UPDATE_RULE, context, _target(project_id))
    raw = common.unwrap(await common.json_body(request), "quota_set")
    if isinstance(raw, dict) and context.api_version >= "2.57":
        stale = sorted(set(raw) & set(_INJECTED))
        if stale:
            raise BadRequest(f"{', '.join(stale)} cannot be set from microversion 2.57.")
    data = common.validate(QuotaUpdate, raw, "quota_set")
    values = data.model_dump(exclude_none=True, exclude={"force"})
    with transaction() as session:
        if not data.force:
            used = db_quotas.usage(session, project_id)
            for name, limit in values.items():
                if 0 <= limit < used.get(name, 0):
                    raise BadRequest(
                        f"Quota limit {limit} for {name} must be greater than or "
                        f"equal to already used and reserved {used[name]}."
                    )
        db_quotas.set_limits(session, project_id, values)
        session.flush()
        limits = db_quotas.limits(session, project_id)
    return {"quota_set": _visible_resources(context, limits)}


@router.delete("/os-quota-sets/{project_id}", status_code=202)
def quota_reset(project_id: str, context: RequestContext = Depends(get_context)) -> Response:
    authorize(UPDATE_RULE, context, _target(project_id))
    with transaction() as session:
        db_quotas.reset(session, project_id)
    return Response(status_code=202)


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
