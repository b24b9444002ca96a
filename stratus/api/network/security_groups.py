"""The Networking API's ``security-groups`` and ``security-group-rules``: parse
(``attributes.py``), authorise (oslo.policy), call the service layer, render; lists
through the generic ``listing.py``; errors in Neutron's shape (``NeutronRoute``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request, Response

from stratus.api.context import RequestContext, get_context
from stratus.api.network import attributes, listing
from stratus.api.network.routes import PREFIX, NeutronRoute, _allowed, _authorize
from stratus.api.urls import base_url
from stratus.network import exceptions as net_exc
from stratus.network import service as network_api
from stratus.network.security_groups import not_found

router = APIRouter(route_class=NeutronRoute)

GROUPS, RULES = "security_groups", "security_group_rules"


def _target(item: dict[str, Any]) -> dict[str, Any]:
    return {"project_id": item["project_id"]}


def _list(
    request: Request, context: RequestContext, collection: str, rule: str, items: list[dict]
) -> dict[str, Any]:
    items = [i for i in items if _allowed(rule, context, _target(i))]
    url = f"{base_url(request)}{PREFIX}/{collection.replace('_', '-')}"
    return listing.listing(
        items, request.query_params, collection, url, set(attributes.RESOURCES[collection])
    )


def _one(request: Request, collection: str, item: dict[str, Any]) -> dict[str, Any]:
    return {attributes.SINGULAR[collection]: listing.select_fields([item], request.query_params)[0]}


def _visible_group(context: RequestContext, group_id: str) -> dict[str, Any]:
    group = network_api.get_security_group(context, group_id)
    if not _allowed("network:get_security_group", context, _target(group)):
        raise not_found("SecurityGroup", group_id)
    return group


def _visible_rule(context: RequestContext, rule_id: str) -> dict[str, Any]:
    rule = network_api.get_security_group_rule(context, rule_id)
    if not _allowed("network:get_security_group_rule", context, _target(rule)):
        raise not_found("SecurityGroupRule", rule_id)
    return rule


# --- groups ------------------------------------------------------------------------------


@router.get(f"{PREFIX}/security-groups")
def list_security_groups(request: Request, context: RequestContext = Depends(get_context)) -> dict:
    items = network_api.list_security_groups(context)
    return _list(request, context, GROUPS, "network:get_security_group", items)


@router.get(f"{PREFIX}/security-groups/{{group_id}}")
def show_security_group(
    group_id: str, request: Request, context: RequestContext = Depends(get_context)
) -> dict:
    return _one(request, GROUPS, _visible_group(context, group_id))


@router.post(f"{PREFIX}/security-groups", status_code=201)
def create_security_group(
    request: Request, body: Any = Body(None), context: RequestContext = Depends(get_context)
) -> dict:
    values = attributes.parse(GROUPS, body, create=True)
    values.setdefault("project_id", context.project_id)
    _authorize("network:create_security_group", context, _target(values))
    return _one(request, GROUPS, network_api.create_security_group(context, values))


@router.put(f"{PREFIX}/security-groups/{{group_id}}")
def update_security_group(
    group_id: str,
    request: Request,
    body: Any = Body(None),
    context: RequestContext = Depends(get_context),
) -> dict:
    values = attributes.parse(GROUPS, body, create=False)
    _authorize("network:update_security_group", context, _target(_visible_group(context, group_id)))
    return _one(request, GROUPS, network_api.update_security_group(context, group_id, values))


@router.delete(f"{PREFIX}/security-groups/{{group_id}}", status_code=204)
def delete_security_group(
    group_id: str, context: RequestContext = Depends(get_context)
) -> Response:
    _authorize("network:delete_security_group", context, _target(_visible_group(context, group_id)))
    network_api.delete_security_group(context, group_id)
    return Response(status_code=204)


# --- rules -------------------------------------------------------------------------------


@router.get(f"{PREFIX}/security-group-rules")
def list_security_group_rules(
    request: Request, context: RequestContext = Depends(get_context)
) -> dict:
    items = network_api.list_security_group_rules(context)
    return _list(request, context, RULES, "network:get_security_group_rule", items)


@router.get(f"{PREFIX}/security-group-rules/{{rule_id}}")
def show_security_group_rule(
    rule_id: str, request: Request, context: RequestContext = Depends(get_context)
) -> dict:
    return _one(request, RULES, _visible_rule(context, rule_id))


@router.post(f"{PREFIX}/security-group-rules", status_code=201)
def create_security_group_rule(
    request: Request, body: Any = Body(None), context: RequestContext = Depends(get_context)
) -> dict:
    values = attributes.parse(RULES, body, create=True)
    if values.pop("remote_address_group_id", None) is not None:
        raise net_exc.InvalidInput("remote_address_group_id", "address groups are not available.")
    group = _visible_group(context, values["security_group_id"])
    if values.get("project_id", group["project_id"]) != group["project_id"]:
        raise net_exc.InvalidInput("project_id", "a rule belongs to its group's project.")
    _authorize("network:create_security_group_rule", context, _target(group))
    return _one(request, RULES, network_api.create_security_group_rule(context, values))


@router.delete(f"{PREFIX}/security-group-rules/{{rule_id}}", status_code=204)
def delete_security_group_rule(
    rule_id: str, context: RequestContext = Depends(get_context)
) -> Response:
    rule = _visible_rule(context, rule_id)
    _authorize("network:delete_security_group_rule", context, _target(rule))
    network_api.delete_security_group_rule(context, rule_id)
    return Response(status_code=204)
