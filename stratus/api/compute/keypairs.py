"""os-keypairs: import (ed25519, RSA, ECDSA public keys), list, show, delete."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import IntegrityError

from stratus.api import policy
from stratus.api.compute import common
from stratus.api.context import RequestContext, get_context
from stratus.api.errors import BadRequest, Conflict, NotFound
from stratus.api.policy import authorize
from stratus.db import quotas as db_quotas
from stratus.db.models import KeyPair
from stratus.db.session import transaction
from stratus.exception import OverQuota

router = APIRouter(prefix=common.PREFIX)
RULE = "compute:keypairs"
policy.register(RULE, policy.ANY_READER, "Manage one's own key pairs.")


class KeyPairCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=255, pattern=r"^[a-zA-Z0-9 _.@-]+$")
    public_key: str | None = None
    type: str = Field(default="ssh", pattern="^(ssh|x509)$")
    user_id: str | None = None


def fingerprint(public_key: str) -> str:
    """The MD5 fingerprint Nova shows, checking the key parses first."""
    try:
        serialization.load_ssh_public_key(public_key.strip().encode())
        blob = base64.b64decode(public_key.split()[1])
    except (ValueError, IndexError, TypeError):
        raise BadRequest(
            "Keypair data is invalid: the public key is not a valid OpenSSH "
            "ed25519, RSA or ECDSA key."
        ) from None
    digest = hashlib.md5(blob).hexdigest()  # noqa: S324 - Nova's fingerprint format
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def _view(context: RequestContext, key: KeyPair, detail: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": key.name,
        "public_key": key.public_key,
        "fingerprint": key.fingerprint,
    }
    if context.api_version >= "2.2":
        body["type"] = key.type
    if detail:
        body.update(
            {
                "user_id": key.user_id,
                "created_at": common.iso(key.created_at),
                "deleted": False,
                "deleted_at": None,
                "updated_at": None,
                "id": key.id,
            }
        )
    return body


def _owner(request: Request, context: RequestContext) -> str:
    user_id = request.query_params.get("user_id")
    if user_id and user_id != context.user_id:
        authorize("admin_api", context, {})
        return user_id
    return context.user_id


@router.post("/os-keypairs")
async def create_keypair(request: Request, context: RequestContext = Depends(get_context)):
    authorize(RULE, context)
    data = common.validate(
        KeyPairCreate, common.unwrap(await common.json_body(request), "keypair"), "keypair"
    )
    if not data.public_key:
        raise BadRequest(
            "'keypair.public_key' is required: Stratus imports keys and never "
            "generates private keys."
        )
    user_id = context.user_id
    if data.user_id and data.user_id != context.user_id:
        authorize("admin_api", context, {})
        user_id = data.user_id
    with transaction() as session:
        limit = db_quotas.limits(session, context.project_id)["key_pairs"]
        count = session.scalar(
            sa.select(sa.func.count(KeyPair.id)).where(KeyPair.user_id == user_id)
        )
        if 0 <= limit <= count:
            raise OverQuota(f"Quota exceeded for key_pairs: the limit is {limit}.")
        key = KeyPair(
            name=data.name,
            user_id=user_id,
            public_key=data.public_key.strip(),
            fingerprint=fingerprint(data.public_key),
            type=data.type,
        )
        session.add(key)
        try:
            session.flush()
        except IntegrityError:
            raise Conflict(f"Key pair '{data.name}' already exists.") from None
        status = 201 if context.api_version >= "2.2" else 200
        from fastapi.responses import JSONResponse

        return JSONResponse(
            {"keypair": _view(context, key, False) | {"user_id": user_id}}, status_code=status
        )


@router.get("/os-keypairs")
def list_keypairs(request: Request, context: RequestContext = Depends(get_context)) -> dict:
    authorize(RULE, context)
    with transaction() as session:
        keys = session.scalars(
            sa.select(KeyPair)
            .where(KeyPair.user_id == _owner(request, context))
            .order_by(KeyPair.name)
        )
        return {"keypairs": [{"keypair": _view(context, k, False)} for k in keys]}


def _get(session, request: Request, context: RequestContext, name: str) -> KeyPair:
    key = session.scalar(
        sa.select(KeyPair).where(KeyPair.user_id == _owner(request, context), KeyPair.name == name)
    )
    if key is None:
        raise NotFound(f"Keypair {name} not found for user {context.user_id}.")
    return key


@router.get("/os-keypairs/{name}")
def show_keypair(
    name: str, request: Request, context: RequestContext = Depends(get_context)
) -> dict:
    authorize(RULE, context)
    with transaction() as session:
        return {"keypair": _view(context, _get(session, request, context, name), True)}


@router.delete("/os-keypairs/{name}")
def delete_keypair(
    name: str, request: Request, context: RequestContext = Depends(get_context)
) -> Response:
    authorize(RULE, context)
    with transaction() as session:
        session.delete(_get(session, request, context, name))
    return Response(status_code=204 if context.api_version >= "2.2" else 202)
