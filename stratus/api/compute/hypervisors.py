"""os-hypervisors: list, detail, show, servers, search, uptime and (below 2.88) statistics."""

from __future__ import annotations

import json
import struct
import time
import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session

from stratus.api.compute import common
from stratus.api.context import RequestContext, get_context
from stratus.api.errors import BadRequest, NotFound
from stratus.api.policy import authorize
from stratus.db import instances as db_instances
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
    context: RequestContext,
    node: ComputeNode,
    service: Service | None,
    detail: bool,
    servers: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """A hypervisor as Nova shows it; ``servers`` (a list) is added when asked for."""
    version = context.api_version
    body: dict[str, Any] = {
        "id": node.uuid if version >= "2.53" else node.id,
        "hypervisor_hostname": node.hypervisor_hostname,
        "state": _state(service),
        "status": "disabled" if service is not None and service.disabled else "enabled",
    }
    if servers is not None and (servers or version >= "2.75"):
        # Below 2.75 Nova leaves the key out for a hypervisor without servers.
        body["servers"] = servers
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
        body["uptime"] = _uptime() if body["state"] == "up" else None
    return body


def _state(service: Service | None) -> str:
    return "up" if service is not None and db_services.is_up(service) else "down"


def _uptime() -> str:
    """What ``uptime`` prints on the host (clients parse it: time, ``up``, users, load
    average). Stratus runs its API on the all-in-one host of the compute service, so
    this host's own counters are read."""
    with open("/proc/uptime") as handle:
        seconds = int(float(handle.read().split()[0]))
    with open("/proc/loadavg") as handle:
        loads = handle.read().split()[:3]
    days, rest = divmod(seconds, 86400)
    hours, minutes = divmod(rest // 60, 60)
    up = f"{days} day{'s' if days != 1 else ''}, " if days else ""
    up += f"{hours:2d}:{minutes:02d}" if hours else f"{minutes} min"
    users = _logged_in_users()
    return (
        f" {time.strftime('%H:%M:%S')} up {up},  {users} user{'s' if users != 1 else ''},"
        f"  load average: {', '.join(loads)}"
    )


_UTMP = "/var/run/utmp"
_UTMP_RECORD = 384  # struct utmp on Linux
_USER_PROCESS = 7


def _logged_in_users() -> int:
    """Login sessions in utmp, as ``uptime`` counts them (0 where there is no utmp)."""
    try:
        with open(_UTMP, "rb") as handle:
            data = handle.read()
    except OSError:
        return 0
    return sum(
        1
        for offset in range(0, len(data) - _UTMP_RECORD + 1, _UTMP_RECORD)
        if struct.unpack_from("<i", data, offset)[0] == _USER_PROCESS
    )


def _servers(session: Session, node: ComputeNode) -> list[dict[str, str]]:
    return [
        {"uuid": instance.uuid, "name": instance.display_name}
        for instance in db_instances.on_host(session, node.host)
    ]


def _rows(session: Session, pattern: str | None = None) -> list[tuple[ComputeNode, Service | None]]:
    """Every hypervisor, or those whose hostname contains ``pattern`` (404 for none)."""
    rows = db_services.list_nodes(session)
    if pattern is None:
        return rows
    matched = [r for r in rows if pattern.lower() in r[0].hypervisor_hostname.lower()]
    if not matched:
        raise NotFound(f"No hypervisor matching '{pattern}' could be found.")
    return matched


def _list(request: Request, context: RequestContext, detail: bool) -> dict[str, Any]:
    authorize(RULE, context, {})
    params = request.query_params
    version = context.api_version
    pattern = params.get("hypervisor_hostname_pattern") if version >= "2.53" else None
    with_servers = version >= "2.53" and bool(
        common.parse_bool("with_servers", params.get("with_servers"), False)
    )
    if pattern is not None and ("limit" in params or "marker" in params):
        raise BadRequest(
            "Paging over hypervisors ('limit', 'marker') is not supported with "
            "'hypervisor_hostname_pattern'."
        )
    limit = common.page_limit(request)
    marker = params.get("marker")
    with transaction() as session:
        rows = _rows(session, pattern)
        if marker:
            ids = [str(node.uuid if version >= "2.53" else node.id) for node, _ in rows]
            if marker not in ids:
                raise BadRequest(f"marker [{marker}] not found")
            rows = rows[ids.index(marker) + 1 :]
        page = rows[:limit]
        result: dict[str, Any] = {
            "hypervisors": [
                hypervisor_view(
                    context, n, s, detail, _servers(session, n) if with_servers else None
                )
                for n, s in page
            ]
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


def _before_253(context: RequestContext, what: str) -> None:
    if context.api_version >= "2.53":
        raise NotFound(f"{what} was removed in microversion 2.53.")


@router.get("/os-hypervisors/{pattern}/search")
def search_hypervisors(pattern: str, context: RequestContext = Depends(get_context)) -> dict:
    _before_253(context, "Hypervisor search")
    authorize(RULE, context, {})
    with transaction() as session:
        rows = _rows(session, pattern)
    return {"hypervisors": [hypervisor_view(context, n, s, False) for n, s in rows]}


@router.get("/os-hypervisors/{pattern}/servers")
def hypervisor_servers(pattern: str, context: RequestContext = Depends(get_context)) -> dict:
    _before_253(context, "Listing a hypervisor's servers by pattern")
    authorize(RULE, context, {})
    with transaction() as session:
        return {
            "hypervisors": [
                hypervisor_view(context, n, s, False, _servers(session, n))
                for n, s in _rows(session, pattern)
            ]
        }


def _find(
    session: Session, context: RequestContext, ident: str
) -> tuple[ComputeNode, Service | None]:
    """The hypervisor ``ident`` names: a UUID from 2.53 (else 400), an integer id below
    (anything else, however large, names none: 404)."""
    if context.api_version >= "2.53":
        try:
            uuid.UUID(ident)
        except ValueError:
            raise BadRequest(
                f"Invalid input for path parameter 'id': invalid uuid {ident}."
            ) from None
        attribute = "uuid"
    else:
        number = common.db_id(ident)
        ident = str(number) if number is not None else ident
        attribute = "id"
    for node, service in db_services.list_nodes(session):
        if str(getattr(node, attribute)) == ident:
            return node, service
    raise NotFound(f"Hypervisor {ident} could not be found.")


@router.get("/os-hypervisors/{ident}/uptime")
def hypervisor_uptime(ident: str, context: RequestContext = Depends(get_context)) -> dict:
    if context.api_version >= "2.88":
        raise NotFound("Hypervisor uptime is part of the hypervisor from microversion 2.88.")
    authorize(RULE, context, {})
    with transaction() as session:
        node, service = _find(session, context, ident)
    body = hypervisor_view(context, node, service, False)
    body["uptime"] = _uptime()
    return {"hypervisor": body}


@router.get("/os-hypervisors/{ident}")
def show_hypervisor(
    ident: str, request: Request, context: RequestContext = Depends(get_context)
) -> dict:
    authorize(RULE, context, {})
    with_servers = context.api_version >= "2.53" and bool(
        common.parse_bool("with_servers", request.query_params.get("with_servers"), False)
    )
    with transaction() as session:
        node, service = _find(session, context, ident)
        servers = _servers(session, node) if with_servers else None
        return {"hypervisor": hypervisor_view(context, node, service, True, servers)}
