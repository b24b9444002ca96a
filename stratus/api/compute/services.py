"""os-services: list, enable/disable with a reason, forced down, delete."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from stratus.api.compute import common
from stratus.api.context import RequestContext, get_context
from stratus.api.errors import BadRequest, Conflict, NotFound
from stratus.api.policy import authorize
from stratus.db import services as db_services
from stratus.db.models import ComputeNode, Instance, Service
from stratus.db.session import transaction

router = APIRouter(prefix=common.PREFIX)

LIST_RULE = "compute:services:list"
MANAGE_RULE = "compute:services:manage"
_REASON = Field(default=None, min_length=1, max_length=255)

# Nova's binary names, which users, tools and Tempest filter and act by, for the
# Stratus services that do the same job. A filter or legacy action by either name
# finds the service; the body names it as the caller did (Stratus' name otherwise).
NOVA_BINARIES = {
    "nova-compute": "stratus-compute",
    "nova-scheduler": "stratus-scheduler",
    "nova-conductor": "stratus-conductor",
}


def stratus_binary(binary: str | None) -> str | None:
    """The Stratus binary a (possibly Nova) binary name stands for."""
    return NOVA_BINARIES.get(binary, binary) if binary else binary


class ServiceUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: str | None = Field(default=None, pattern="^(enabled|disabled)$")
    disabled_reason: str | None = _REASON
    forced_down: bool | None = None


class LegacyServiceRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    host: str = Field(min_length=1, max_length=255)
    binary: str = Field(min_length=1, max_length=255)
    disabled_reason: str | None = _REASON
    forced_down: bool | None = None


def service_view(
    context: RequestContext, service: Service, zones: dict[str, str], binary: str | None = None
) -> dict:
    """The service; ``binary`` is the name the caller used for it (a Nova alias)."""
    version = context.api_version
    body: dict[str, Any] = {
        "id": service.uuid if version >= "2.53" else service.id,
        "binary": binary or service.binary,
        "host": service.host,
        "zone": db_services.zone_of(service, zones),
        "status": "disabled" if service.disabled else "enabled",
        "state": "up" if db_services.is_up(service) else "down",
        "updated_at": common.iso(service.updated_at or service.created_at),
        "disabled_reason": service.disabled_reason,
    }
    if version >= "2.11":
        body["forced_down"] = service.forced_down
    return body


@router.get("/os-services")
def list_services(request: Request, context: RequestContext = Depends(get_context)) -> dict:
    authorize(LIST_RULE, context)
    params = request.query_params
    with transaction() as session:
        zones = db_services.host_zones(session)
        asked = params.get("binary")
        rows = db_services.list_services(session, params.get("host"), stratus_binary(asked))
        named = asked if asked in NOVA_BINARIES else None
        return {"services": [service_view(context, s, zones, named) for s in rows]}


def _apply(
    service: Service, status: str | None, reason: str | None, forced_down: bool | None
) -> None:
    if reason is not None and status != "disabled":
        raise BadRequest("'disabled_reason' is only accepted with status 'disabled'.")
    if status is not None:
        service.disabled = status == "disabled"
        service.disabled_reason = reason if service.disabled else None
    if forced_down is not None:
        if service.binary != db_services.COMPUTE_BINARY:
            raise BadRequest("Only stratus-compute services can be forced down.")
        service.forced_down = forced_down


@router.put("/os-services/{ident}")
async def update_service(
    ident: str, request: Request, context: RequestContext = Depends(get_context)
) -> dict:
    authorize(MANAGE_RULE, context)
    body = await common.json_body(request)
    with transaction() as session:
        if context.api_version >= "2.53":
            data = common.validate(ServiceUpdate, body or {}, "body")
            if data.status is None and data.forced_down is None:
                raise BadRequest("Send at least one of 'status' or 'forced_down'.")
            service = session.scalar(sa.select(Service).where(Service.uuid == ident))
            if service is None:
                raise NotFound(f"Service {ident} could not be found.")
            _apply(service, data.status, data.disabled_reason, data.forced_down)
            session.flush()
            return {"service": service_view(context, service, db_services.host_zones(session))}
        return _legacy_action(session, context, ident, body)


def _legacy_action(session, context: RequestContext, action: str, body: Any) -> dict:
    data = common.validate(LegacyServiceRef, body or {}, "body")
    service = session.scalar(
        sa.select(Service).where(
            Service.host == data.host, Service.binary == stratus_binary(data.binary)
        )
    )
    if service is None:
        raise NotFound(f"Service {data.binary} on host {data.host} could not be found.")
    if action == "enable":
        _apply(service, "enabled", None, None)
        return {"service": {"host": data.host, "binary": data.binary, "status": "enabled"}}
    if action in ("disable", "disable-log-reason"):
        if action == "disable-log-reason" and not data.disabled_reason:
            raise BadRequest("'disabled_reason' is required for disable-log-reason.")
        _apply(service, "disabled", data.disabled_reason, None)
        result = {"host": data.host, "binary": data.binary, "status": "disabled"}
        if data.disabled_reason:
            result["disabled_reason"] = data.disabled_reason
        return {"service": result}
    if action == "force-down" and context.api_version >= "2.11":
        if data.forced_down is None:
            raise BadRequest("'forced_down' is required for force-down.")
        _apply(service, None, None, data.forced_down)
        return {
            "service": {"host": data.host, "binary": data.binary, "forced_down": data.forced_down}
        }
    raise NotFound(f"Unknown service action '{action}'.")


@router.delete("/os-services/{ident}", status_code=204)
def delete_service(ident: str, context: RequestContext = Depends(get_context)) -> Response:
    authorize(MANAGE_RULE, context)
    with transaction() as session:
        column = Service.uuid if context.api_version >= "2.53" else Service.id
        if column is Service.id and not ident.isdigit():
            raise BadRequest(f"Invalid service id {ident!r}: use the integer id below 2.53.")
        service = session.scalar(sa.select(Service).where(column == ident))
        if service is None:
            raise NotFound(f"Service {ident} could not be found.")
        if service.binary == db_services.COMPUTE_BINARY:
            busy = session.scalar(
                sa.select(sa.func.count(Instance.id)).where(
                    Instance.host == service.host, Instance.deleted.is_(False)
                )
            )
            if busy:
                raise Conflict(
                    f"Unable to delete compute service that is hosting "
                    f"{busy} instances. Migrate or delete them first."
                )
            session.execute(sa.delete(ComputeNode).where(ComputeNode.service_id == service.id))
        session.delete(service)
    return Response(status_code=204)
