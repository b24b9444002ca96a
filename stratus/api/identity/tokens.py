"""Identity discovery and token issue, validation, revocation and catalog."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from stratus.api.context import RequestContext, get_context, token_formatter, validate_token
from stratus.api.errors import BadRequest, NotFound, Unauthorized
from stratus.api.identity import views
from stratus.api.identity.fernet import TokenPayload
from stratus.api.identity.passwords import check_password
from stratus.api.policy import authorize
from stratus.api.urls import base_url
from stratus.conf import CONF
from stratus.db import identity as db_identity
from stratus.db.models import Project, User
from stratus.db.session import transaction

router = APIRouter()

VERSION_ID = "v3.14"
VERSION_UPDATED = "2020-04-07T00:00:00Z"


def _version(base: str) -> dict[str, Any]:
    return {
        "id": VERSION_ID,
        "status": "stable",
        "updated": VERSION_UPDATED,
        "links": [{"rel": "self", "href": f"{base}/identity/v3/"}],
        "media-types": [
            {"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}
        ],
    }


@router.get("/identity")
@router.get("/identity/")
def versions(request: Request) -> JSONResponse:
    return JSONResponse({"versions": {"values": [_version(base_url(request))]}}, status_code=300)


@router.get("/identity/v3")
@router.get("/identity/v3/")
def version(request: Request) -> dict[str, Any]:
    return {"version": _version(base_url(request))}


class _Domain(BaseModel):
    id: str | None = None
    name: str | None = None


class _User(BaseModel):
    id: str | None = None
    name: str | None = None
    domain: _Domain | None = None
    password: str = Field(max_length=4096)


class _Password(BaseModel):
    user: _User


class _TokenRef(BaseModel):
    id: str


class _Identity(BaseModel):
    methods: list[str] = Field(min_length=1)
    password: _Password | None = None
    token: _TokenRef | None = None


class _ProjectScope(BaseModel):
    id: str | None = None
    name: str | None = None
    domain: _Domain | None = None


class _Scope(BaseModel):
    model_config = ConfigDict(extra="allow")
    project: _ProjectScope | None = None
    domain: _Domain | None = None
    system: dict[str, Any] | None = None


class _Auth(BaseModel):
    identity: _Identity
    scope: _Scope | str | None = None


class AuthRequest(BaseModel):
    auth: _Auth


def _domain_id(session, ref: _Domain | None) -> str:
    if ref is None:
        return CONF.identity.default_domain
    domain = db_identity.get_domain(session, ref.id or ref.name or "")
    if domain is None:
        raise Unauthorized("The request you have made requires authentication.")
    return domain.id


def _authenticate_password(session, body: _Password) -> tuple[User, list[str]]:
    ref = body.user
    if ref.id:
        user = session.get(User, ref.id)
    elif ref.name:
        user = db_identity.find_user(session, ref.name, _domain_id(session, ref.domain))
    else:
        raise BadRequest("auth.identity.password.user needs an 'id' or a 'name' and 'domain'.")
    if user is None or not user.enabled or not check_password(ref.password, user.password_hash):
        raise Unauthorized("The request you have made requires authentication.")
    return user, ["password"]


def _refuse_domain_or_system_scope(session, scope: _Scope, user: User) -> None:
    """Stratus grants roles on projects only, so no user has a role on a domain or on
    the system: answer such a scope as Keystone does when the user has no role on it."""
    asked = [name for name in ("project", "domain", "system") if getattr(scope, name) is not None]
    if len(asked) > 1:
        raise BadRequest(f"auth.scope may name only one of project, domain, system (got {asked}).")
    if scope.domain is not None:
        ref = scope.domain
        if not (ref.id or ref.name):
            raise BadRequest("auth.scope.domain needs an 'id' or a 'name'.")
        domain = db_identity.get_domain(session, ref.id or ref.name or "")
        if domain is None or not domain.enabled:
            raise Unauthorized("The domain in the requested scope does not exist or is disabled.")
        raise Unauthorized(f"User {user.id} has no access to domain {domain.id}.")
    if scope.system is not None:
        if scope.system.get("all") is not True:
            raise BadRequest("auth.scope.system must be {'all': true}.")
        raise Unauthorized(f"User {user.id} has no access to the system.")


def _scoped_project(session, scope: _Scope | str | None, user: User) -> Project | None:
    if isinstance(scope, _Scope):
        _refuse_domain_or_system_scope(session, scope, user)
    if isinstance(scope, str) or scope is None or scope.project is None:
        if isinstance(scope, str) and scope != "unscoped":
            raise BadRequest("auth.scope must be an object or 'unscoped'.")
        if user.default_project_id:
            return session.get(Project, user.default_project_id)
        return None
    ref = scope.project
    if ref.id:
        project = session.get(Project, ref.id)
    elif ref.name:
        project = db_identity.find_project(session, ref.name, _domain_id(session, ref.domain))
    else:
        raise BadRequest("auth.scope.project needs an 'id' or a 'name' and 'domain'.")
    if project is None or not project.enabled:
        raise Unauthorized("The project in the requested scope does not exist or is disabled.")
    return project


def token_body(session, base: str, payload: TokenPayload, with_catalog: bool) -> dict[str, Any]:
    user = session.get(User, payload.user_id)
    domain = db_identity.get_domain(session, user.domain_id)
    token: dict[str, Any] = {
        "methods": list(payload.methods),
        "user": {
            "id": user.id,
            "name": user.name,
            "password_expires_at": None,
            "domain": {"id": domain.id, "name": domain.name},
        },
        "audit_ids": [payload.audit_id],
        "issued_at": payload.issued_at.isoformat() + ".000000Z",
        "expires_at": payload.expires_at.isoformat() + ".000000Z",
    }
    if payload.project_id:
        project = session.get(Project, payload.project_id)
        project_domain = db_identity.get_domain(session, project.domain_id)
        roles = db_identity.roles_of(session, user.id, project.id)
        names = {r.name for r in roles}
        implied = [db_identity.find_role(session, n) for n in db_identity.expand_roles(names)]
        token["project"] = {
            "id": project.id,
            "name": project.name,
            "domain": {"id": project_domain.id, "name": project_domain.name},
        }
        token["roles"] = [{"id": r.id, "name": r.name} for r in implied if r is not None]
        token["is_domain"] = False
        if with_catalog:
            token["catalog"] = views.catalog(db_identity.catalog(session))
    return {"token": token}


@router.post("/identity/v3/auth/tokens", status_code=201)
def issue_token(body: AuthRequest, request: Request) -> JSONResponse:
    identity = body.auth.identity
    with transaction() as session:
        expires_at = None
        if "password" in identity.methods and identity.password:
            user, methods = _authenticate_password(session, identity.password)
        elif "token" in identity.methods and identity.token:
            # Rescoping, as Keystone does: the new token adds the "token" method and
            # expires when the one it came from does.
            context = validate_token(identity.token.id)
            user = session.get(User, context.user_id)
            methods = list(dict.fromkeys([*context.token.methods, "token"]))
            expires_at = context.token.expires_at
        else:
            raise BadRequest(
                "auth.identity.methods must be 'password' or 'token', "
                "with the matching credentials."
            )
        project = _scoped_project(session, body.auth.scope, user)
        if project is not None and not db_identity.role_names(session, user.id, project.id):
            raise Unauthorized(f"User {user.name} has no role on project {project.name}.")
        token, payload = token_formatter().issue(
            user.id, project.id if project else None, methods, expires_at
        )
        nocatalog = "nocatalog" in request.query_params
        content = token_body(session, base_url(request), payload, not nocatalog)
    return JSONResponse(content, status_code=201, headers={"X-Subject-Token": token})


def _subject(request: Request) -> RequestContext:
    subject = request.headers.get("x-subject-token")
    if not subject:
        raise NotFound("Send the token to check in X-Subject-Token.")
    try:
        return validate_token(subject)
    except Unauthorized as exc:
        raise NotFound(f"Could not find token: {exc.message}") from exc


VALIDATE_RULE = "identity:validate_token"


def _validated_subject(request: Request, context: RequestContext) -> RequestContext:
    """The token in X-Subject-Token, if the caller may see it: its own user, an
    administrator or a service user (Keystone's ``identity:validate_token``)."""
    subject = _subject(request)
    authorize(VALIDATE_RULE, context, {"target.token.user_id": subject.user_id})
    return subject


@router.get("/identity/v3/auth/tokens")
def show_token(request: Request, context: RequestContext = Depends(get_context)) -> JSONResponse:
    subject = _validated_subject(request, context)
    with transaction() as session:
        content = token_body(
            session, base_url(request), subject.token, "nocatalog" not in request.query_params
        )
    return JSONResponse(content, headers={"X-Subject-Token": request.headers["x-subject-token"]})


@router.head("/identity/v3/auth/tokens", status_code=200)
def check_token(request: Request, context: RequestContext = Depends(get_context)) -> Response:
    _validated_subject(request, context)
    return Response(status_code=200)


@router.delete("/identity/v3/auth/tokens", status_code=204)
def revoke_token(request: Request, context: RequestContext = Depends(get_context)) -> Response:
    subject = _subject(request)
    if subject.user_id != context.user_id and not context.is_admin:
        raise NotFound("Could not find token.")
    with transaction() as session:
        db_identity.revoke(session, subject.token.audit_id, subject.token.expires_at)
    return Response(status_code=204)


@router.get("/identity/v3/auth/catalog")
def auth_catalog(request: Request, _: RequestContext = Depends(get_context)) -> dict[str, Any]:
    with transaction() as session:
        return {
            "catalog": views.catalog(db_identity.catalog(session)),
            "links": {
                "self": f"{base_url(request)}/identity/v3/auth/catalog",
                "previous": None,
                "next": None,
            },
        }


@router.get("/identity/v3/auth/projects")
def auth_projects(request: Request, context: RequestContext = Depends(get_context)) -> dict:
    with transaction() as session:
        projects = db_identity.projects_of(session, context.user_id)
        base = base_url(request)
        return views.collection(base, "projects", [views.project(base, p) for p in projects])
