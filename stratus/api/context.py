"""The request context: who is calling, from the validated token."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from stratus.api.errors import Unauthorized
from stratus.api.identity.fernet import KeyRepository, TokenError, TokenFormatter, TokenPayload
from stratus.api.microversion import MIN_VERSION, APIVersion
from stratus.conf import CONF
from stratus.db import identity as db_identity
from stratus.db.session import transaction


@dataclass
class RequestContext:
    user_id: str
    user_name: str
    project_id: str | None
    project_name: str | None
    domain_id: str
    roles: list[str]
    token: TokenPayload
    request_id: str = ""
    api_version: APIVersion = field(default=MIN_VERSION)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    def credentials(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "project_id": self.project_id, "roles": self.roles}


@functools.cache
def token_formatter() -> TokenFormatter:
    repository = KeyRepository(CONF.identity.key_repository, CONF.identity.max_active_keys)
    return TokenFormatter(repository, CONF.identity.token_expiration)


def validate_token(token: str) -> RequestContext:
    try:
        payload = token_formatter().validate(token)
    except TokenError as exc:
        raise Unauthorized(f"{exc} Get a new one with 'openstack token issue'.") from exc
    with transaction() as session:
        user, project, roles, revoked = db_identity.token_subject(
            session, payload.user_id, payload.project_id, payload.audit_id
        )
        if revoked:
            raise Unauthorized("The token has been revoked.")
        if user is None or not user.enabled:
            raise Unauthorized("The token's user no longer exists or is disabled.")
        if payload.project_id and (project is None or not project.enabled or not roles):
            raise Unauthorized(
                "The token's project no longer exists, is disabled, or the user has no role on it."
            )
        return RequestContext(
            user_id=user.id,
            user_name=user.name,
            project_id=project.id if project else None,
            project_name=project.name if project else None,
            domain_id=user.domain_id,
            roles=db_identity.expand_roles(roles),
            token=payload,
        )


def get_context(request: Request) -> RequestContext:
    """FastAPI dependency for every authenticated route."""
    token = request.headers.get("x-auth-token")
    if not token:
        raise Unauthorized("Authentication required: send a token in X-Auth-Token.")
    context = validate_token(token)
    context.request_id = getattr(request.state, "request_id", "")
    context.api_version = getattr(request.state, "api_version", MIN_VERSION)
    return context
