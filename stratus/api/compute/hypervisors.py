"""os-hypervisors: list, detail, show and (below 2.88) statistics."""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request

from stratus.api.compute import common
from stratus.api.context import RequestContext, get_context
from stratus.api.errors import BadRequest, NotFound
from stratus.api.policy import authorize
from stratus.db import services as db_services
from stratus.db.models import ComputeNode, Service
from stratus.db.session import transaction

router = APIRouter(prefix=common.PREFIX)

RULE = "compute:hypervisors"
_STATS = (
    "vcpus",
    "vcpus_used",
    "memory_mb",
    "memory_mb_used",
    "local_gb",
    "local_gb_used",
    "running_vms",
    "free_ram_mb",
    "free_disk_gb",
    "current_workload",
    "disk_available_least",
)


def _stats(node: ComputeNode) -> dict[str, int]:
    return {
        "vcpus": node.vcpus,
        "vcpus_used": node.vcpus_used,
        "memory_mb": node.memory_mb,
        "memory_mb_used": node.memory_mb_used,
        "local_gb": node.local_gb,
        "local_gb_used": node.local_gb_used,
        "running_vms": node.running_vms,
        "free_ram_mb": node.memory_mb - node.memory_mb_used,
        "free_disk_gb": node.local_gb - node.local_gb_used,
        "current_workload": node.num_io_ops,
        "disk_available_least": (
            node.disk_available_least
            if node.disk_available_least is not None
            else node.local_gb - node.local_gb_used
        ),
    }


def hypervisor_view(
    context: RequestContext, node: ComputeNode, service: Service | None, detail: bool
) -> dict[str, Any]:
    version = context.api_version
    body: dict[str, Any] = {
        "id": node.uuid if version >= "2.53" else node.id,
        "hypervisor_hostname": node.hypervisor_hostname,
        "state": "up" if service is not None and db_services.is_up(service) else "down",
        "status": "disabled" if service is not None and service.disabled else "enabled",
    }
    if not detail:
        return body
    body.update(
        {
            "hypervisor_type": node.hypervisor_type,
            "hypervisor_version": node.hypervisor_version,
            "host_ip": node.host_ip,
            "service": {
                "host": node.host,
                "id": (service.uuid if version >= "2.53" else service.id) if service else None,
                "disabled_reason": service.disabled_reason if service else None,
            },
        }
    )
    if version < "2.88":
        body.update(_stats(node))
        body["cpu_info"] = node.cpu_info if version >= "2.28" else json.dumps(node.cpu_info)
    else:
        body["uptime"] = _uptime()
    return body


def _uptime() -> str:
    with open("/proc/uptime") as handle:
        seconds = float(handle.read().split()[0])
    return f" {time.strftime('%H:%M:%S')} up {int(seconds // 86400)} days"


def _list(request: Request, context: RequestContext, detail: bool) -> dict[str, Any]:
    authorize(RULE, context, {})
    params = request.query_params
    pattern = params.get("hypervisor_hostname_pattern")
    limit = common.page_limit(request)
    marker = params.get("marker")
    with transaction() as session:
        rows = db_services.list_nodes(session)
    if pattern:
        rows = [r for r in rows if re.search(re.escape(pattern), r[0].hypervisor_hostname)]
    if marker:
        ids = [str(node.uuid if context.api_version >= "2.53" else node.id) for node, _ in rows]
        if marker not in ids:
            raise BadRequest(f"marker [{marker}] not found")
        rows = rows[ids.index(marker) + 1 :]
    page = rows[:limit]
    result: dict[str, Any] = {
        "hypervisors": [hypervisor_view(context, n, s, detail) for n, s in page]
    }
    if page and len(rows) > limit:
        last = hypervisor_view(context, *page[-1], False)["id"]
        result["hypervisors_links"] = common.next_link(
            request, "os-hypervisors/detail" if detail else "os-hypervisors", str(last)
        )
    return result


@router.get("/os-hypervisors")
def list_hypervisors(request: Request, context: RequestContext = Depends(get_context)) -> dict:
    return _list(request, context, detail=False)


@router.get("/os-hypervisors/detail")
def detail_hypervisors(request: Request, context: RequestContext = Depends(get_context)) -> dict:
    return _list(request, context, detail=True)


@router.get("/os-hypervisors/statistics")
def statistics(context: RequestContext = Depends(get_context)) -> dict:
    if context.api_version >= "2.88":
        raise NotFound("Hypervisor statistics were removed in microversion 2.88.")
    authorize(RULE, context, {})
    totals = dict.fromkeys(_STATS, 0)
    with transaction() as session:
        rows = db_services.list_nodes(session)
    for node, _ in rows:
        for key, value in _stats(node).items():
            totals[key] += value
    return {"hypervisor_statistics": {"count": len(rows), **totals}}


@router.get("/os-hypervisors/{ident}")
def show_hypervisor(ident: str, context: RequestContext = Depends(get_context)) -> dict:
    authorize(RULE, context, {})
    if context.api_version >= "2.53":
        try:
            uuid.UUID(ident)
        except ValueError:
            raise BadRequest(f"Invalid uuid {ident}.") from None
    with transaction() as session:
        rows = db_services.list_nodes(session)
    for node, service in rows:
        if ident in (node.uuid, str(node.id)):
            return {"hypervisor": hypervisor_view(context, node, service, True)}
    raise NotFound(f"Hypervisor {ident} could not be found.")
