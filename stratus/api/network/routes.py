"""The OpenStack Networking API v2.0 (Neutron's dialect) under ``/networking``:
networks, subnets, ports, quotas, IP availabilities, extensions and version
discovery. Handlers parse (``attributes.py``), authorise (oslo.policy), call the
service layer (``stratus/network/api.py``) and render; lists go through the one
generic ``listing.py``. Every error is Neutron-shaped:
``{"NeutronError": {"type": ..., "message": ..., "detail": ""}}``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Body, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from stratus import exception
from stratus.api import errors, policy
from stratus.api.context import RequestContext, get_context
from stratus.api.network import attributes, listing
from stratus.api.network.extensions import EXTENSIONS
from stratus.api.urls import base_url
from stratus.network import exceptions as net_exc
from stratus.network import service as network_api

ROOT = "/networking"
PREFIX = f"{ROOT}/v2.0"


def neutron_error(error: Exception) -> JSONResponse:
    """The Neutron-shaped response of any error a handler raises: a domain error
    names its own Neutron type, a policy refusal is ``PolicyNotAuthorized``."""
    headers: dict[str, str] = {}
    kind = None
    if isinstance(error, exception.StratusException):
        status, message = errors.from_domain(error).status, error.message
        kind = getattr(error, "neutron_type", None)
    elif isinstance(error, errors.APIError):
        status, message, headers = error.status, error.message, error.headers
        kind = "PolicyNotAuthorized" if status == 403 else None
    elif isinstance(error, RequestValidationError):
        status = 400
        message = errors.describe_validation_errors(list(error.errors()))
    else:
        raise error
    return JSONResponse(
        errors.neutron_body(status, message, kind), status_code=status, headers=headers
    )


class NeutronRoute(APIRoute):
    """A route whose errors are rendered in Neutron's shape."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except (exception.StratusException, errors.APIError, RequestValidationError) as exc:
                return neutron_error(exc)

        return route


router = APIRouter(route_class=NeutronRoute)


# --- helpers ---------------------------------------------------------------------------


def _allowed(rule: str, context: RequestContext, target: dict[str, Any]) -> bool:
    return bool(policy.enforcer().enforce(rule, target, context.credentials()))


def _authorize(rule: str, context: RequestContext, target: dict[str, Any]) -> None:
    if not _allowed(rule, context, target):
        raise net_exc.PolicyNotAuthorized(f"rule:{rule} is disallowed by policy")


def _network_target(network: dict[str, Any]) -> dict[str, Any]:
    return {
        "project_id": network["project_id"],
        "shared": str(network["shared"]),
        "external": str(network["router:external"]),
    }


def _redact(
    collection: str,
    item: dict[str, Any],
    context: RequestContext,
    decided: dict[tuple[str, Any], bool] | None = None,
) -> dict[str, Any]:
    """Drop the attributes the caller may not see (provider:*, binding:*);
    ``decided`` keeps the policy's answers across the items of one list."""
    decided = {} if decided is None else decided
    for name, rule in attributes.hidden(collection).items():
        key = (rule, item.get("project_id"))
        if key not in decided:
            decided[key] = _allowed(rule, context, {"project_id": item.get("project_id")})
        if name in item and not decided[key]:
            del item[name]
    return item


def _known(collection: str) -> set[str]:
    return set(attributes.RESOURCES[collection])


def _list_body(
    request: Request, context: RequestContext, collection: str, items: list[dict[str, Any]]
) -> dict[str, Any]:
    decided: dict[tuple[str, Any], bool] = {}
    items = [_redact(collection, item, context, decided) for item in items]
    url = f"{base_url(request)}{PREFIX}/{collection}"
    return listing.listing(items, request.query_params, collection, url, _known(collection))


def _one(
    request: Request, collection: str, item: dict[str, Any], context: RequestContext
) -> dict[str, Any]:
    item = _redact(collection, item, context)
    return {attributes.SINGULAR[collection]: listing.select_fields([item], request.query_params)[0]}


def _create(
    request: Request,
    context: RequestContext,
    collection: str,
    body: Any,
    create_one: Callable[[RequestContext, Any], dict[str, Any]],
    delete_one: Callable[[RequestContext, str], None],
) -> dict[str, Any]:
    """One item (``{"network": {...}}``) or, in bulk, several (``{"networks": [{...},
    ...]}``): all of them or none; when one fails, those already made go again and the
    failure is the answer."""
    items = body.get(collection) if isinstance(body, dict) and len(body) == 1 else None
    if not isinstance(items, list):
        return _one(request, collection, create_one(context, body), context)
    if not items:
        raise net_exc.InvalidInput(collection, "Resources required: the list is empty.")
    key = attributes.SINGULAR[collection]
    made: list[dict[str, Any]] = []
    try:
        for item in items:
            made.append(create_one(context, {key: item}))
    except Exception:
        for item in reversed(made):
            with contextlib.suppress(exception.StratusException):
                delete_one(context, item["id"])
        raise
    decided: dict[tuple[str, Any], bool] = {}
    made = [_redact(collection, item, context, decided) for item in made]
    return {collection: listing.select_fields(made, request.query_params)}


def _guard(collection: str, values: dict[str, Any], context: RequestContext, create: bool) -> None:
    for rule in sorted(attributes.guarded(collection, values, create)):
        _authorize(rule, context, {"project_id": values.get("project_id", context.project_id)})


def _visible_network(context: RequestContext, network_id: str) -> dict[str, Any]:
    """A network the caller may see by policy (404 otherwise)."""
    network = network_api.get_network(context, network_id)
    if not _allowed("network:get", context, _network_target(network)):
        raise net_exc.NotFound("Network", network_id)
    return network


def _networks_by_id(context: RequestContext) -> dict[str, dict[str, Any]]:
    return {n["id"]: n for n in network_api.list_networks(context)}


# --- versions ----------------------------------------------------------------------------


@router.get(ROOT, include_in_schema=False)
@router.get(f"{ROOT}/")
def versions(request: Request) -> dict[str, Any]:
    href = f"{base_url(request)}{PREFIX}/"
    return {
        "versions": [{"id": "v2.0", "status": "CURRENT", "links": [{"href": href, "rel": "self"}]}]
    }


@router.get(PREFIX, include_in_schema=False)
@router.get(f"{PREFIX}/")
def resources(request: Request) -> dict[str, Any]:
    root = f"{base_url(request)}{PREFIX}"
    return {
        "resources": [
            {
                "name": singular,
                "collection": plural,
                "links": [{"href": f"{root}/{plural.replace('_', '-')}", "rel": "self"}],
            }
            for plural, singular in (
                *((p, s) for p, s in attributes.SINGULAR.items() if p != "port_forwardings"),
                ("quotas", "quota"),
                ("network-ip-availabilities", "network_ip_availability"),
            )
        ]
    }


# --- extensions --------------------------------------------------------------------------


@router.get(f"{PREFIX}/extensions")
def list_extensions(context: RequestContext = Depends(get_context)) -> dict[str, Any]:
    _authorize("network:extensions", context, {"project_id": context.project_id})
    return {"extensions": EXTENSIONS}


@router.get(f"{PREFIX}/extensions/{{alias}}")
def show_extension(alias: str, context: RequestContext = Depends(get_context)) -> dict[str, Any]:
    _authorize("network:extensions", context, {"project_id": context.project_id})
    for extension in EXTENSIONS:
        if extension["alias"] == alias:
            return {"extension": extension}
    raise net_exc.NotFound("Extension", alias)


# --- networks ----------------------------------------------------------------------------


@router.get(f"{PREFIX}/networks")
def list_networks(request: Request, context: RequestContext = Depends(get_context)) -> dict:
    items = [
        n
        for n in network_api.list_networks(context)
        if _allowed("network:get", context, _network_target(n))
    ]
    return _list_body(request, context, "networks", items)


@router.get(f"{PREFIX}/networks/{{network_id}}")
def show_network(
    network_id: str, request: Request, context: RequestContext = Depends(get_context)
) -> dict:
    return _one(request, "networks", _visible_network(context, network_id), context)


@router.post(f"{PREFIX}/networks", status_code=201)
def create_network(
    request: Request, body: Any = Body(None), context: RequestContext = Depends(get_context)
) -> dict:
    return _create(request, context, "networks", body, _create_network, network_api.delete_network)


def _create_network(context: RequestContext, body: Any) -> dict[str, Any]:
    values = attributes.parse("networks", body, create=True)
    _authorize(
        "network:create", context, {"project_id": values.get("project_id", context.project_id)}
    )
    _guard("networks", values, context, create=True)
    return network_api.create_network(context, values)


@router.put(f"{PREFIX}/networks/{{network_id}}")
def update_network(
    network_id: str,
    request: Request,
    body: Any = Body(None),
    context: RequestContext = Depends(get_context),
) -> dict:
    values = attributes.parse("networks", body, create=False)
    current = _visible_network(context, network_id)
    _authorize("network:update", context, _network_target(current))
    _guard("networks", values, context, create=False)
    return _one(
        request, "networks", network_api.update_network(context, network_id, values), context
    )


@router.delete(f"{PREFIX}/networks/{{network_id}}", status_code=204)
def delete_network(network_id: str, context: RequestContext = Depends(get_context)) -> Response:
    current = _visible_network(context, network_id)
    _authorize("network:delete", context, _network_target(current))
    network_api.delete_network(context, network_id)
    return Response(status_code=204)


# --- subnets -----------------------------------------------------------------------------


@router.get(f"{PREFIX}/subnets")
def list_subnets(request: Request, context: RequestContext = Depends(get_context)) -> dict:
    networks = _networks_by_id(context)
    items = [
        s
        for s in network_api.list_subnets(context)
        if s["network_id"] in networks
        and _allowed("network:get", context, _network_target(networks[s["network_id"]]))
    ]
    return _list_body(request, context, "subnets", items)


def _visible_subnet(context: RequestContext, subnet_id: str) -> tuple[dict, dict]:
    subnet = network_api.get_subnet(context, subnet_id)
    try:
        network = _visible_network(context, subnet["network_id"])
    except net_exc.NotFound:
        raise net_exc.NotFound("Subnet", subnet_id) from None
    return subnet, network


@router.get(f"{PREFIX}/subnets/{{subnet_id}}")
def show_subnet(
    subnet_id: str, request: Request, context: RequestContext = Depends(get_context)
) -> dict:
    return _one(request, "subnets", _visible_subnet(context, subnet_id)[0], context)


@router.post(f"{PREFIX}/subnets", status_code=201)
def create_subnet(
    request: Request, body: Any = Body(None), context: RequestContext = Depends(get_context)
) -> dict:
    return _create(request, context, "subnets", body, _create_subnet, network_api.delete_subnet)


def _create_subnet(context: RequestContext, body: Any) -> dict[str, Any]:
    values = attributes.parse("subnets", body, create=True)
    if values.get("subnetpool_id") is not None:
        raise net_exc.InvalidInput("subnetpool_id", "subnet pools are not available.")
    values.pop("subnetpool_id", None)
    network = _visible_network(context, values["network_id"])
    _authorize("network:subnet_on_network", context, _network_target(network))
    values.setdefault("project_id", network["project_id"])
    _authorize("network:create", context, {"project_id": values["project_id"]})
    return network_api.create_subnet(context, values)


@router.put(f"{PREFIX}/subnets/{{subnet_id}}")
def update_subnet(
    subnet_id: str,
    request: Request,
    body: Any = Body(None),
    context: RequestContext = Depends(get_context),
) -> dict:
    values = attributes.parse("subnets", body, create=False)
    _subnet, network = _visible_subnet(context, subnet_id)
    _authorize("network:subnet_on_network", context, _network_target(network))
    return _one(request, "subnets", network_api.update_subnet(context, subnet_id, values), context)


@router.delete(f"{PREFIX}/subnets/{{subnet_id}}", status_code=204)
def delete_subnet(subnet_id: str, context: RequestContext = Depends(get_context)) -> Response:
    _subnet, network = _visible_subnet(context, subnet_id)
    _authorize("network:subnet_on_network", context, _network_target(network))
    network_api.delete_subnet(context, subnet_id)
    return Response(status_code=204)


# --- ports -------------------------------------------------------------------------------


def _port_target(port: dict[str, Any], network: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "project_id": port["project_id"],
        "network_project_id": network["project_id"] if network else port["project_id"],
    }


@router.get(f"{PREFIX}/ports")
def list_ports(request: Request, context: RequestContext = Depends(get_context)) -> dict:
    networks = _networks_by_id(context)
    items = [
        p
        for p in network_api.list_ports(context)
        if _allowed("network:get_port", context, _port_target(p, networks.get(p["network_id"])))
    ]
    return _list_body(request, context, "ports", items)


def _visible_port(context: RequestContext, port_id: str) -> tuple[dict, dict | None]:
    port = network_api.get_port(context, port_id)
    networks = _networks_by_id(context)
    network = networks.get(port["network_id"])
    if not _allowed("network:get_port", context, _port_target(port, network)):
        raise net_exc.NotFound("Port", port_id)
    return port, network


@router.get(f"{PREFIX}/ports/{{port_id}}")
def show_port(
    port_id: str, request: Request, context: RequestContext = Depends(get_context)
) -> dict:
    return _one(request, "ports", _visible_port(context, port_id)[0], context)


def _check_device_owner(
    values: dict[str, Any], context: RequestContext, network: dict[str, Any]
) -> None:
    if str(values.get("device_owner", "")).startswith("network:"):
        _authorize(
            "network:port_device_owner", context, {"network_project_id": network["project_id"]}
        )


@router.post(f"{PREFIX}/ports", status_code=201)
def create_port(
    request: Request, body: Any = Body(None), context: RequestContext = Depends(get_context)
) -> dict:
    return _create(request, context, "ports", body, _create_port, network_api.delete_port)


def _create_port(context: RequestContext, body: Any) -> dict[str, Any]:
    values = attributes.parse("ports", body, create=True)
    network = _visible_network(context, values["network_id"])
    _authorize("network:create_port_on_network", context, _network_target(network))
    values.setdefault("project_id", context.project_id)
    _authorize("network:create", context, {"project_id": values["project_id"]})
    _guard("ports", values, context, create=True)
    _check_device_owner(values, context, network)
    return network_api.create_port(context, values)


@router.put(f"{PREFIX}/ports/{{port_id}}")
def update_port(
    port_id: str,
    request: Request,
    body: Any = Body(None),
    context: RequestContext = Depends(get_context),
) -> dict:
    values = attributes.parse("ports", body, create=False)
    port, network = _visible_port(context, port_id)
    _authorize("network:update", context, {"project_id": port["project_id"]})
    _guard("ports", values, context, create=False)
    if network is not None:
        _check_device_owner(values, context, network)
    return _one(request, "ports", network_api.update_port(context, port_id, values), context)


@router.delete(f"{PREFIX}/ports/{{port_id}}", status_code=204)
def delete_port(port_id: str, context: RequestContext = Depends(get_context)) -> Response:
    port, _network = _visible_port(context, port_id)
    _authorize("network:delete", context, {"project_id": port["project_id"]})
    network_api.delete_port(context, port_id)
    return Response(status_code=204)


# --- quotas ------------------------------------------------------------------------------


@router.get(f"{PREFIX}/quotas")
def quota_list(context: RequestContext = Depends(get_context)) -> dict:
    _authorize("network:quotas:list", context, {"project_id": context.project_id})
    return {"quotas": network_api.list_quotas()}


@router.get(f"{PREFIX}/quotas/{{project_id}}/default")
def quota_defaults(project_id: str, context: RequestContext = Depends(get_context)) -> dict:
    _authorize("network:quotas:show", context, {"project_id": project_id})
    return {"quota": network_api.default_quotas()}


@router.get(f"{PREFIX}/quotas/{{project_id}}/details.json")
@router.get(f"{PREFIX}/quotas/{{project_id}}/details", include_in_schema=False)
def quota_details(project_id: str, context: RequestContext = Depends(get_context)) -> dict:
    _authorize("network:quotas:show", context, {"project_id": project_id})
    return {"quota": network_api.quota_details(project_id)}


@router.get(f"{PREFIX}/quotas/{{project_id}}")
def quota_show(project_id: str, context: RequestContext = Depends(get_context)) -> dict:
    _authorize("network:quotas:show", context, {"project_id": project_id})
    return {"quota": network_api.get_quotas(project_id)}


@router.put(f"{PREFIX}/quotas/{{project_id}}")
def quota_update(
    project_id: str, body: Any = Body(None), context: RequestContext = Depends(get_context)
) -> dict:
    _authorize("network:quotas:update", context, {"project_id": project_id})
    if not isinstance(body, dict) or not isinstance(body.get("quota"), dict):
        raise net_exc.InvalidInput("quota", "The request body must be {'quota': {...}}.")
    return {"quota": network_api.update_quotas(project_id, body["quota"])}


@router.delete(f"{PREFIX}/quotas/{{project_id}}", status_code=204)
def quota_reset(project_id: str, context: RequestContext = Depends(get_context)) -> Response:
    _authorize("network:quotas:update", context, {"project_id": project_id})
    network_api.reset_quotas(project_id)
    return Response(status_code=204)


# --- IP availability ---------------------------------------------------------------------

_AVAILABILITY_FILTERS = {"network_id", "network_name", "project_id", "tenant_id", "ip_version"}


@router.get(f"{PREFIX}/network-ip-availabilities")
def list_ip_availabilities(
    request: Request, context: RequestContext = Depends(get_context)
) -> dict:
    _authorize("network:ip_availability", context, {"project_id": context.project_id})
    items = network_api.ip_availabilities(context)
    url = f"{base_url(request)}{PREFIX}/network-ip-availabilities"
    versions = request.query_params.getlist("ip_version")
    if versions:
        items = [
            i
            for i in items
            if any(str(s["ip_version"]) in versions for s in i["subnet_ip_availability"])
        ]
    params = request.query_params
    if versions:
        params = type(params)([(k, v) for k, v in params.multi_items() if k != "ip_version"])
    return listing.listing(items, params, "network_ip_availabilities", url, _AVAILABILITY_FILTERS)


@router.get(f"{PREFIX}/network-ip-availabilities/{{network_id}}")
def show_ip_availability(network_id: str, context: RequestContext = Depends(get_context)) -> dict:
    _authorize("network:ip_availability", context, {"project_id": context.project_id})
    for item in network_api.ip_availabilities(context):
        if item["network_id"] == network_id:
            return {"network_ip_availability": item}
    raise net_exc.NotFound("Network", network_id)


# --- tags ------------------------------------------------------------------------------

_TAGGED = f"{PREFIX}/{{collection}}/{{resource_id}}/tags"


def _check_tag_access(context: RequestContext, collection: str, resource_id: str) -> None:
    """Tags change as the resource's own attributes do (its update rule)."""
    if collection == "networks":
        _authorize(
            "network:update", context, _network_target(_visible_network(context, resource_id))
        )
    elif collection == "subnets":
        _subnet, network = _visible_subnet(context, resource_id)
        _authorize("network:subnet_on_network", context, _network_target(network))
    elif collection == "ports":
        port, _network = _visible_port(context, resource_id)
        _authorize("network:update", context, {"project_id": port["project_id"]})
    elif collection == "routers":
        found = network_api.get_router(context, resource_id)
        _authorize("network:update_router", context, {"project_id": found["project_id"]})
    elif collection == "floatingips":
        found = network_api.get_floatingip(context, resource_id)
        _authorize("network:update_floatingip", context, {"project_id": found["project_id"]})
    else:
        raise net_exc.NotFound("Resource", collection)


@router.get(_TAGGED)
def list_tags(
    collection: str, resource_id: str, context: RequestContext = Depends(get_context)
) -> dict:
    return {"tags": network_api.get_tags(context, collection, resource_id)}


@router.get(f"{_TAGGED}/{{tag}}", status_code=204)
def check_tag(
    collection: str, resource_id: str, tag: str, context: RequestContext = Depends(get_context)
) -> Response:
    if tag not in network_api.get_tags(context, collection, resource_id):
        raise net_exc.NotFound("Tag", tag)
    return Response(status_code=204)


@router.put(_TAGGED)
def replace_tags(
    collection: str,
    resource_id: str,
    body: Any = Body(None),
    context: RequestContext = Depends(get_context),
) -> dict:
    _check_tag_access(context, collection, resource_id)
    if not isinstance(body, dict) or set(body) != {"tags"}:
        raise net_exc.InvalidInput("tags", "The request body must be {'tags': [...]}.")
    return {"tags": network_api.set_tags(context, collection, resource_id, body["tags"])}


@router.put(f"{_TAGGED}/{{tag}}", status_code=201)
def add_tag(
    collection: str, resource_id: str, tag: str, context: RequestContext = Depends(get_context)
) -> Response:
    _check_tag_access(context, collection, resource_id)
    network_api.set_tags(context, collection, resource_id, add=tag)
    return Response(status_code=201)


@router.delete(_TAGGED, status_code=204)
def remove_tags(
    collection: str, resource_id: str, context: RequestContext = Depends(get_context)
) -> Response:
    _check_tag_access(context, collection, resource_id)
    network_api.set_tags(context, collection, resource_id, [])
    return Response(status_code=204)


@router.delete(f"{_TAGGED}/{{tag}}", status_code=204)
def remove_tag(
    collection: str, resource_id: str, tag: str, context: RequestContext = Depends(get_context)
) -> Response:
    _check_tag_access(context, collection, resource_id)
    network_api.set_tags(context, collection, resource_id, remove=tag)
    return Response(status_code=204)
