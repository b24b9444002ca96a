"""os-simple-tenant-usage: the usage reports ``openstack usage list/show`` read."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Depends, Request

from stratus.api.compute import common
from stratus.api.context import RequestContext, get_context
from stratus.api.errors import BadRequest
from stratus.api.policy import authorize
from stratus.db import usage as db_usage
from stratus.db.models import utcnow
from stratus.db.session import transaction

router = APIRouter(prefix=common.PREFIX)

LIST_RULE = "compute:usage:list"
SHOW_RULE = "compute:usage:show"

# The forms Nova takes for start and end.
_FORMATS = ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%d %H:%M:%S.%f")


def _moment(name: str, raw: str | None, default: dt.datetime) -> dt.datetime:
    if raw is None:
        return default
    for form in _FORMATS:
        try:
            return dt.datetime.strptime(raw, form)
        except ValueError:
            continue
    raise BadRequest(
        f"Invalid input for query parameter '{name}': {raw!r} is not a date and time "
        "like 2024-01-31T12:00:00."
    )


def _period(request: Request) -> tuple[dt.datetime, dt.datetime, dt.datetime]:
    now = utcnow()
    params = request.query_params
    start = _moment("start", params.get("start"), now)
    stop = _moment("end", params.get("end"), now)
    if "start" not in params and "end" not in params:
        start = now - dt.timedelta(microseconds=1)
    if not start < stop:
        raise BadRequest("Invalid start time. The start time cannot occur after the end time.")
    return start, stop, now


def _paging(
    request: Request, context: RequestContext, session: Any
) -> tuple[int | None, int | None]:
    """(marker's row id, limit) from 2.40; none below."""
    if context.api_version < "2.40":
        return None, None
    params = request.query_params
    marker = params.get("marker")
    marker_id = None
    if marker:
        marker_id = db_usage.instance_id(session, marker)
        if marker_id is None:
            raise BadRequest(f"Marker {marker} could not be found.")
    return marker_id, common.page_limit(request)


def _server_view(usage: db_usage.ServerUsage) -> dict[str, Any]:
    body = asdict(usage)
    body["started_at"] = common.iso(usage.started_at)
    body["ended_at"] = common.iso(usage.ended_at)
    return body


def _project_view(total: db_usage.ProjectUsage, detailed: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "tenant_id": total.tenant_id,
        "total_local_gb_usage": total.total_local_gb_usage,
        "total_vcpus_usage": total.total_vcpus_usage,
        "total_memory_mb_usage": total.total_memory_mb_usage,
        "total_hours": total.total_hours,
        "start": common.iso(total.start),
        "stop": common.iso(total.stop),
    }
    if detailed:
        body["server_usages"] = [_server_view(s) for s in total.servers]
    return body


def _links(
    request: Request, collection: str, instances: list[Any], limit: int | None
) -> list[dict[str, str]] | None:
    """The next page's link when this page is full (paging is by server)."""
    if limit is None or not instances or len(instances) < limit:
        return None
    return common.next_link(request, collection, instances[-1].uuid)


@router.get("/os-simple-tenant-usage")
def list_usage(request: Request, context: RequestContext = Depends(get_context)) -> dict:
    authorize(LIST_RULE, context, {})
    start, stop, now = _period(request)
    detailed = bool(common.parse_bool("detailed", request.query_params.get("detailed"), False))
    with transaction() as session:
        marker_id, limit = _paging(request, context, session)
        instances = db_usage.active_in(session, start, stop, marker_id=marker_id, limit=limit)
        totals = db_usage.report(instances, start, stop, now)
        links = _links(request, "os-simple-tenant-usage", instances, limit)
    body: dict[str, Any] = {"tenant_usages": [_project_view(t, detailed) for t in totals.values()]}
    if links:
        body["tenant_usages_links"] = links
    return body


@router.get("/os-simple-tenant-usage/{tenant_id}")
def show_usage(
    tenant_id: str, request: Request, context: RequestContext = Depends(get_context)
) -> dict:
    authorize(SHOW_RULE, context, {"project_id": tenant_id})
    start, stop, now = _period(request)
    with transaction() as session:
        marker_id, limit = _paging(request, context, session)
        instances = db_usage.active_in(session, start, stop, tenant_id, marker_id, limit)
        totals = db_usage.report(instances, start, stop, now)
        links = _links(request, f"os-simple-tenant-usage/{tenant_id}", instances, limit)
    # Nova answers an empty object for a project without usage in the period.
    body: dict[str, Any] = {
        "tenant_usage": _project_view(totals[tenant_id], True) if tenant_id in totals else {}
    }
    if links:
        body["tenant_usage_links"] = links
    return body
