"""The Networking API's ``routers`` (with ``add_router_interface`` and
``remove_router_interface``), ``floatingips`` and
``floatingips/{id}/port_forwardings``: parse (``attributes.py``), authorise
(oslo.policy), call the service layer (stratus/network/service.py, whose writes
tell the network agents), render; lists through the generic ``listing.py``; errors
in Neutron's shape (``NeutronRoute``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request, Response

from stratus.api.context import RequestContext, get_context
from stratus.api.network import attributes, listing
from stratus.api.network.routes import PREFIX, NeutronRoute, _allowed, _authorize, _guard
from stratus.api.urls import base_url
from stratus.network import exceptions as net_exc
from stratus.network import service as network_api

router = APIRouter(route_class=NeutronRoute)

ROUTERS, FIPS, FORWARDINGS = "routers", "floatingips", "port_forwardings"


def _target(item: dict[str, Any]) -> dict[str, Any]:
    return {"project_id": item["project_id"]}


def _list(
    request: Request, context: RequestContext, path: str, collection: str, items: list[dict]
) -> dict[str, Any]:
    url = f"{base_url(request)}{PREFIX}/{path}"
    return listing.listing(
        items, request.query_params, collection, url, set(attributes.RESOURCES[collection])
    )


def _one(request: Request, collection: str, item: dict[str, Any]) -> dict[str, Any]:
    return {attributes.SINGULAR[collection]: listing.select_fields([item], request.query_params)[0]}


def _visible_router(context: RequestContext, router_id: str) -> dict[str, Any]:
    found = network_api.get_router(context, router_id)
    if not _allowed("network:get_router", context, _target(found)):
        raise net_exc.NotFound("Router", router_id)
    return found


def _visible_fip(context: RequestContext, fip_id: str) -> dict[str, Any]:
    found = network_api.get_floatingip(context, fip_id)
    if not _allowed("network:get_floatingip", context, _target(found)):
        raise net_exc.NotFound("Floating IP", fip_id)
    return found


def _guard_gateway(values: dict[str, Any], context: RequestContext) -> None:
    """As Neutron, choosing the gateway's SNAT or addresses is the admin's."""
    info = values.get("external_gateway_info") or {}
    if isinstance(info, dict) and ("enable_snat" in info or info.get("external_fixed_ips")):
        _authorize("network:router_gateway_details", context, _target(values))


# --- routers -----------------------------------------------------------------------------


@router.get(f"{PREFIX}/routers")
def list_routers(request: Request, context: RequestContext = Depends(get_context)) -> dict:
    items = [
        r
        for r in network_api.list_routers(context)
        if _allowed("network:get_router", context, _target(r))
    ]
    return _list(request, context, "routers", ROUTERS, items)


@router.get(f"{PREFIX}/routers/{{router_id}}")
def show_router(
    router_id: str, request: Request, context: RequestContext = Depends(get_context)
) -> dict:
    return _one(request, ROUTERS, _visible_router(context, router_id))


@router.post(f"{PREFIX}/routers", status_code=201)
def create_router(
    request: Request, body: Any = Body(None), context: RequestContext = Depends(get_context)
) -> dict:
    values = attributes.parse(ROUTERS, body, create=True)
    values.setdefault("project_id", context.project_id)
    _authorize("network:create_router", context, _target(values))
    _guard_gateway(values, context)
    return _one(request, ROUTERS, network_api.create_router(context, values))


@router.put(f"{PREFIX}/routers/{{router_id}}")
def update_router(
    router_id: str,
    request: Request,
    body: Any = Body(None),
    context: RequestContext = Depends(get_context),
) -> dict:
    values = attributes.parse(ROUTERS, body, create=False)
    current = _visible_router(context, router_id)
    _authorize("network:update_router", context, _target(current))
    _guard_gateway({**values, "project_id": current["project_id"]}, context)
    return _one(request, ROUTERS, network_api.update_router(context, router_id, values))


@router.delete(f"{PREFIX}/routers/{{router_id}}", status_code=204)
def delete_router(router_id: str, context: RequestContext = Depends(get_context)) -> Response:
    _authorize("network:delete_router", context, _target(_visible_router(context, router_id)))
    network_api.delete_router(context, router_id)
    return Response(status_code=204)


@router.put(f"{PREFIX}/routers/{{router_id}}/add_router_interface")
def add_router_interface(
    router_id: str, body: Any = Body(None), context: RequestContext = Depends(get_context)
) -> dict:
    _authorize("network:router_interface", context, _target(_visible_router(context, router_id)))
    return network_api.add_router_interface(context, router_id, body)


@router.put(f"{PREFIX}/routers/{{router_id}}/remove_router_interface")
def remove_router_interface(
    router_id: str, body: Any = Body(None), context: RequestContext = Depends(get_context)
) -> dict:
    _authorize("network:router_interface", context, _target(_visible_router(context, router_id)))
    return network_api.remove_router_interface(context, router_id, body)


# --- floating IPs ------------------------------------------------------------------------


@router.get(f"{PREFIX}/floatingips")
def list_floatingips(request: Request, context: RequestContext = Depends(get_context)) -> dict:
    items = [
        f
        for f in network_api.list_floatingips(context)
        if _allowed("network:get_floatingip", context, _target(f))
    ]
    return _list(request, context, "floatingips", FIPS, items)


@router.get(f"{PREFIX}/floatingips/{{fip_id}}")
def show_floatingip(
    fip_id: str, request: Request, context: RequestContext = Depends(get_context)
) -> dict:
    return _one(request, FIPS, _visible_fip(context, fip_id))


@router.post(f"{PREFIX}/floatingips", status_code=201)
def create_floatingip(
    request: Request, body: Any = Body(None), context: RequestContext = Depends(get_context)
) -> dict:
    values = attributes.parse(FIPS, body, create=True)
    values.setdefault("project_id", context.project_id)
    _authorize("network:create_floatingip", context, _target(values))
    _guard(FIPS, values, context, create=True)
    return _one(request, FIPS, network_api.create_floatingip(context, values))


@router.put(f"{PREFIX}/floatingips/{{fip_id}}")
def update_floatingip(
    fip_id: str,
    request: Request,
    body: Any = Body(None),
    context: RequestContext = Depends(get_context),
) -> dict:
    values = attributes.parse(FIPS, body, create=False)
    _authorize("network:update_floatingip", context, _target(_visible_fip(context, fip_id)))
    return _one(request, FIPS, network_api.update_floatingip(context, fip_id, values))


@router.delete(f"{PREFIX}/floatingips/{{fip_id}}", status_code=204)
def delete_floatingip(fip_id: str, context: RequestContext = Depends(get_context)) -> Response:
    _authorize("network:delete_floatingip", context, _target(_visible_fip(context, fip_id)))
    network_api.delete_floatingip(context, fip_id)
    return Response(status_code=204)


# --- port forwardings ----------------------------------------------------------------------

_PF = f"{PREFIX}/floatingips/{{fip_id}}/port_forwardings"


def _fip_for(context: RequestContext, fip_id: str, rule: str) -> dict[str, Any]:
    fip = _visible_fip(context, fip_id)
    _authorize(rule, context, _target(fip))
    return fip


@router.get(_PF)
def list_port_forwardings(
    fip_id: str, request: Request, context: RequestContext = Depends(get_context)
) -> dict:
    _fip_for(context, fip_id, "network:get_port_forwarding")
    items = network_api.list_port_forwardings(context, fip_id)
    return _list(request, context, f"floatingips/{fip_id}/port_forwardings", FORWARDINGS, items)


@router.get(f"{_PF}/{{pf_id}}")
def show_port_forwarding(
    fip_id: str, pf_id: str, request: Request, context: RequestContext = Depends(get_context)
) -> dict:
    _fip_for(context, fip_id, "network:get_port_forwarding")
    return _one(request, FORWARDINGS, network_api.get_port_forwarding(context, fip_id, pf_id))


@router.post(_PF, status_code=201)
def create_port_forwarding(
    fip_id: str,
    request: Request,
    body: Any = Body(None),
    context: RequestContext = Depends(get_context),
) -> dict:
    values = attributes.parse(FORWARDINGS, body, create=True)
    _fip_for(context, fip_id, "network:manage_port_forwarding")
    return _one(request, FORWARDINGS, network_api.create_port_forwarding(context, fip_id, values))


@router.put(f"{_PF}/{{pf_id}}")
def update_port_forwarding(
    fip_id: str,
    pf_id: str,
    request: Request,
    body: Any = Body(None),
    context: RequestContext = Depends(get_context),
) -> dict:
    values = attributes.parse(FORWARDINGS, body, create=False)
    _fip_for(context, fip_id, "network:manage_port_forwarding")
    forwarding = network_api.update_port_forwarding(context, fip_id, pf_id, values)
    return _one(request, FORWARDINGS, forwarding)


@router.delete(f"{_PF}/{{pf_id}}", status_code=204)
def delete_port_forwarding(
    fip_id: str, pf_id: str, context: RequestContext = Depends(get_context)
) -> Response:
    _fip_for(context, fip_id, "network:manage_port_forwarding")
    network_api.delete_port_forwarding(context, fip_id, pf_id)
    return Response(status_code=204)
