"""os-keypairs: import (ed25519, RSA, ECDSA public keys) or, below microversion 2.92,
generate; list, show, delete."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from stratus.api import policy
from stratus.api.compute import common, views
from stratus.api.compute.schemas import KeyPairCreate, openapi_body
from stratus.api.context import RequestContext, get_context
from stratus.api.errors import BadRequest
from stratus.api.policy import authorize
from stratus.compute import api as compute

router = APIRouter(prefix=common.PREFIX)
keypair_api = compute.KeypairAPI()
RULE = "compute:keypairs"
policy.register(RULE, policy.ANY_READER, "Manage one's own key pairs.")


def _owner(request: Request, context: RequestContext) -> str:
    user_id = request.query_params.get("user_id")
    if user_id and user_id != context.user_id:
        authorize("admin_api", context, {})
        return user_id
    return context.user_id


@router.post("/os-keypairs", openapi_extra=openapi_body("keypair", KeyPairCreate))
async def create_keypair(request: Request, context: RequestContext = Depends(get_context)):
    authorize(RULE, context)
    data = common.validate(
        KeyPairCreate, common.unwrap(await common.json_body(request), "keypair"), "keypair"
    )
    if data.public_key is None and context.api_version >= "2.92":
        raise BadRequest(
            "'keypair.public_key' is a required property from microversion 2.92: "
            "generate the key pair yourself and import its public key."
        )
    user_id = context.user_id
    if data.user_id and data.user_id != context.user_id:
        authorize("admin_api", context, {})
        user_id = data.user_id
    private_key = None
    if data.public_key is None:
        key, private_key = keypair_api.generate(context, user_id, data.name, data.type)
    else:
        key = keypair_api.create(context, user_id, data.name, data.public_key, data.type)
    body = views.keypair_view(context, key, False) | {"user_id": user_id}
    if private_key is not None:
        body["private_key"] = private_key
    status = 201 if context.api_version >= "2.2" else 200
    return JSONResponse({"keypair": body}, status_code=status)


@router.get("/os-keypairs")
def list_keypairs(request: Request, context: RequestContext = Depends(get_context)) -> dict:
    authorize(RULE, context)
    keys = keypair_api.get_all(_owner(request, context))
    return {"keypairs": [{"keypair": views.keypair_view(context, k, False)} for k in keys]}


@router.get("/os-keypairs/{name}")
def show_keypair(
    name: str, request: Request, context: RequestContext = Depends(get_context)
) -> dict:
    authorize(RULE, context)
    key = keypair_api.get(context, _owner(request, context), name)
    return {"keypair": views.keypair_view(context, key, True)}


@router.delete("/os-keypairs/{name}")
def delete_keypair(
    name: str, request: Request, context: RequestContext = Depends(get_context)
) -> Response:
    authorize(RULE, context)
    keypair_api.delete(context, _owner(request, context), name)
    return Response(status_code=204 if context.api_version >= "2.2" else 202)
