"""os-server-groups: affinity and anti-affinity groups of servers.

Below microversion 2.64 a group has ``policies`` (a list of exactly one policy; the
soft policies from 2.15); from 2.64 it has one ``policy`` and ``rules``, of which
only ``max_server_per_host`` exists, for ``anti-affinity`` only. Groups are owned
by a project: other projects' groups do not exist for a caller (404), except to an
administrator.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from stratus.api import policy
from stratus.api.compute import common, views
from stratus.api.compute.schemas import GroupCreate, LegacyGroupCreate
from stratus.api.context import RequestContext, get_context
from stratus.api.errors import BadRequest, Forbidden, NotFound
from stratus.api.policy import authorize
from stratus.compute import api as compute
from stratus.db import server_groups as db_groups
from stratus.db.models import ServerGroup

router = APIRouter(prefix=common.PREFIX)
group_api = compute.ServerGroupAPI()

CREATE_RULE = "compute:server_groups:create"
INDEX_RULE = "compute:server_groups:index"
ALL_PROJECTS_RULE = "compute:server_groups:index:all_projects"
SHOW_RULE = "compute:server_groups:show"
DELETE_RULE = "compute:server_groups:delete"

for _rule, _check, _what in (
    (CREATE_RULE, policy.MEMBER_API, "Create a server group in one's project."),
    (INDEX_RULE, policy.READER_API, "List the server groups of one's project."),
    (ALL_PROJECTS_RULE, policy.ADMIN_API, "List the server groups of every project."),
    (SHOW_RULE, policy.READER_API, "Show a server group."),
    (DELETE_RULE, policy.MEMBER_API, "Delete a server group."),
):
    policy.register(_rule, _check, _what)


def _allowed(rule: str, context: RequestContext, target: dict[str, Any]) -> bool:
    try:
        authorize(rule, context, target)
    except Forbidden:
        return False
    return True


def _get(context: RequestContext, group_id: str, rule: str) -> tuple[ServerGroup, list[str]]:
    """The group and its members, if the caller may act on it: another project's
    group is a 404, a group of one's own project without the role for ``rule`` a 403."""
    group, members = group_api.get(group_id)
    target = {"project_id": group.project_id}
    if group.project_id != context.project_id and not _allowed(rule, context, target):
        raise NotFound(f"Instance group {group_id} could not be found.")
    authorize(rule, context, target)
    return group, members


def _parse_create(context: RequestContext, body: Any) -> tuple[str, str, dict[str, Any]]:
    raw = common.unwrap(body, "server_group")
    if context.api_version >= "2.64":
        data = common.validate(GroupCreate, raw, "server_group")
        rules = data.rules.model_dump(exclude_none=True) if data.rules is not None else {}
        if rules and data.policy != db_groups.RULES_POLICY:
            raise BadRequest(
                "Invalid input for field 'server_group.rules': only the anti-affinity "
                f"policy supports rules (the policy is {data.policy})."
            )
        return data.name, data.policy, rules
    data = common.validate(LegacyGroupCreate, raw, "server_group")
    chosen = data.policies[0]
    if chosen not in db_groups.LEGACY_POLICIES and context.api_version < "2.15":
        raise BadRequest(
            f"Invalid input for field 'server_group.policies': {chosen!r} needs "
            "microversion 2.15 or later; use one of affinity or anti-affinity."
        )
    return data.name, chosen, {}


@router.post("/os-server-groups")
async def create_group(request: Request, context: RequestContext = Depends(get_context)) -> dict:
    authorize(CREATE_RULE, context)
    name, chosen, rules = _parse_create(context, await common.json_body(request))
    group = group_api.create(context, name, chosen, rules)
    return {"server_group": views.group_view(context, group, [])}


def _offset(request: Request) -> int:
    raw = request.query_params.get("offset")
    offset = common.parse_int("offset", raw) if raw is not None else 0
    if offset is None or offset < 0:
        raise BadRequest("Invalid input for query parameter 'offset': must be 0 or more.")
    return offset


@router.get("/os-server-groups")
def list_groups(request: Request, context: RequestContext = Depends(get_context)) -> dict:
    authorize(INDEX_RULE, context)
    # As in Nova, the presence of all_projects asks for every project, and it is
    # ignored for callers whom the policy does not allow it.
    every = "all_projects" in request.query_params and _allowed(ALL_PROJECTS_RULE, context, {})
    limit, offset = common.page_limit(request), _offset(request)
    groups = group_api.get_all(None if every else context.project_id, limit, offset)
    return {"server_groups": [views.group_view(context, g, members) for g, members in groups]}


@router.get("/os-server-groups/{group_id}")
def show_group(group_id: str, context: RequestContext = Depends(get_context)) -> dict:
    group, members = _get(context, group_id, SHOW_RULE)
    return {"server_group": views.group_view(context, group, members)}


@router.delete("/os-server-groups/{group_id}", status_code=204)
def delete_group(group_id: str, context: RequestContext = Depends(get_context)) -> Response:
    group_api.delete(_get(context, group_id, DELETE_RULE)[0])
    return Response(status_code=204)
