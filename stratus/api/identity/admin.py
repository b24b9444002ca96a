"""Identity administration: projects, users, roles, role assignments, domains,
regions, services and endpoints. Every route here is admin only, except reading
the catalog's services and endpoints."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool
from sqlalchemy.exc import IntegrityError

from stratus.api.context import RequestContext, get_context
from stratus.api.errors import BadRequest, Conflict, Forbidden, NotFound
from stratus.api.identity import views
from stratus.api.identity.passwords import hash_password
from stratus.api.policy import authorize
from stratus.api.urls import base_url
from stratus.conf import CONF
from stratus.db import identity as db_identity
from stratus.db.models import (
    CatalogService,
    Domain,
    Endpoint,
    Project,
    ProjectTag,
    Region,
    Role,
    RoleAssignment,
    User,
)
from stratus.db.session import transaction

router = APIRouter(prefix="/identity/v3")

ADMIN_RULE = "identity:admin"
READ_CATALOG_RULE = "identity:list_endpoints"


def _admin(context: RequestContext = Depends(get_context)) -> RequestContext:
    authorize(ADMIN_RULE, context, {})
    return context


def _catalog_reader(context: RequestContext = Depends(get_context)) -> RequestContext:
    authorize(READ_CATALOG_RULE, context, {})
    return context


def _domain_view(base: str, d: Domain) -> dict[str, Any]:
    return {
        "id": d.id,
        "name": d.name,
        "description": d.description,
        "enabled": d.enabled,
        "tags": [],
        "options": {},
        "links": {"self": f"{base}/identity/v3/domains/{d.id}"},
    }


def _region_view(base: str, r: Region) -> dict[str, Any]:
    return {
        "id": r.id,
        "description": r.description,
        "parent_region_id": None,
        "links": {"self": f"{base}/identity/v3/regions/{r.id}"},
    }


def _read_routes(
    collection: str,
    model: type,
    view: Callable,
    guard: Callable,
    filters: tuple[str, ...] = ("name",),
    delete: bool = True,
) -> None:
    """List (with equality filters), show and delete for one identity collection."""
    singular = collection[:-1]

    @router.get(f"/{collection}", name=f"list_{collection}")
    def list_(request: Request, _: RequestContext = Depends(guard)) -> dict[str, Any]:
        query = sa.select(model)
        for key in filters:
            value = request.query_params.get(key)
            if value is not None:
                query = query.where(getattr(model, key) == value)
        with transaction() as session:
            base = base_url(request)
            rows = session.scalars(query.order_by(*model.__table__.primary_key.columns))
            return views.collection(base, collection, [view(base, row) for row in rows])

    @router.get(f"/{collection}/{{ident}}", name=f"show_{singular}")
    def show(ident: str, request: Request, _: RequestContext = Depends(guard)) -> dict:
        with transaction() as session:
            row = session.get(model, ident)
            if row is None:
                raise NotFound(f"Could not find {singular}: {ident}.")
            return {singular: view(base_url(request), row)}

    if delete:

        @router.delete(f"/{collection}/{{ident}}", status_code=204, name=f"delete_{singular}")
        def delete_(ident: str, _: RequestContext = Depends(_admin)) -> Response:
            with transaction() as session:
                row = session.get(model, ident)
                if row is None:
                    raise NotFound(f"Could not find {singular}: {ident}.")
                session.delete(row)
            return Response(status_code=204)


_read_routes("domains", Domain, _domain_view, get_context, delete=False)
_read_routes("regions", Region, _region_view, get_context, filters=())
_read_routes("projects", Project, views.project, _admin, ("name", "domain_id", "enabled"))
_read_routes("users", User, views.user, _admin, ("name", "domain_id", "enabled"))
_read_routes("roles", Role, views.role, _admin)
_read_routes("services", CatalogService, views.service, _catalog_reader, ("type", "name"))
_read_routes(
    "endpoints", Endpoint, views.endpoint, _catalog_reader, ("interface", "service_id", "region_id")
)

_NAME = Field(min_length=1, max_length=64)
_NAME_OPTIONAL = Field(default=None, min_length=1, max_length=64)
# The CLI sends "description": null when none is given; store it as empty.
_Description = Annotated[str, BeforeValidator(lambda v: "" if v is None else v)]


class _Open(BaseModel):
    model_config = ConfigDict(extra="ignore")


# Keystone's tag rules: 1 to 255 characters, no '/' or ',', at most 80 per project.
MAX_TAGS = 80
_Tag = Annotated[str, Field(min_length=1, max_length=255, pattern="^[^,/]*$")]


class ProjectIn(_Open):
    name: str = _NAME
    domain_id: str | None = None
    description: _Description = ""
    enabled: StrictBool = True
    tags: list[_Tag] = Field(default_factory=list, max_length=MAX_TAGS)


class TagsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tags: list[_Tag] = Field(max_length=MAX_TAGS)


# bcrypt reads at most 72 bytes; an empty password is refused.
_PASSWORD = Field(default=None, min_length=1, max_length=72)


class UserIn(_Open):
    name: str = Field(min_length=1, max_length=255)
    domain_id: str | None = None
    password: str | None = _PASSWORD
    email: str | None = None
    description: _Description = ""
    enabled: StrictBool = True
    default_project_id: str | None = None


class UserPatch(_Open):
    name: str | None = Field(default=None, min_length=1, max_length=255)
    domain_id: str | None = None
    password: str | None = _PASSWORD
    email: str | None = None
    description: str | None = None
    enabled: StrictBool | None = None
    default_project_id: str | None = None


class RoleIn(_Open):
    name: str = Field(min_length=1, max_length=255)
    description: _Description = ""


class ServiceIn(_Open):
    type: str = Field(min_length=1, max_length=255)
    name: str = Field(default="", max_length=255)
    description: _Description = ""
    enabled: StrictBool = True


class EndpointIn(_Open):
    service_id: str
    interface: str = Field(pattern="^(public|internal|admin)$")
    url: str = Field(min_length=1)
    region_id: str | None = None
    region: str | None = None
    enabled: StrictBool = True


def _domain_or_default(session, domain_id: str | None) -> str:
    domain_id = domain_id or CONF.identity.default_domain
    if session.get(Domain, domain_id) is None:
        raise NotFound(f"Could not find domain: {domain_id}.")
    return domain_id


def _insert(session, row: Any, what: str) -> None:
    session.add(row)
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict(f"Conflict occurred attempting to store {what} - Duplicate entry.") from exc


@router.post("/projects", status_code=201)
def create_project(
    body: dict[str, ProjectIn], request: Request, _: RequestContext = Depends(_admin)
) -> dict[str, Any]:
    data = _single(body, "project")
    with transaction() as session:
        project = Project(
            name=data.name,
            description=data.description,
            enabled=data.enabled,
            domain_id=_domain_or_default(session, data.domain_id),
            tag_rows=[ProjectTag(name=tag) for tag in dict.fromkeys(data.tags)],
        )
        _insert(session, project, f"project {data.name}")
        return {"project": views.project(base_url(request), project)}


@router.post("/users", status_code=201)
def create_user(
    body: dict[str, UserIn], request: Request, _: RequestContext = Depends(_admin)
) -> dict[str, Any]:
    data = _single(body, "user")
    with transaction() as session:
        hashed = (
            hash_password(data.password, CONF.identity.password_hash_rounds)
            if data.password
            else None
        )
        if data.default_project_id and session.get(Project, data.default_project_id) is None:
            raise BadRequest(f"Invalid default_project_id '{data.default_project_id}'.")
        user = User(
            name=data.name,
            password_hash=hashed,
            email=data.email,
            description=data.description,
            enabled=data.enabled,
            default_project_id=data.default_project_id,
            domain_id=_domain_or_default(session, data.domain_id),
        )
        _insert(session, user, f"user {data.name}")
        return {"user": views.user(base_url(request), user)}


@router.patch("/users/{user_id}")
def update_user(
    user_id: str, body: dict[str, UserPatch], request: Request, _: RequestContext = Depends(_admin)
) -> dict[str, Any]:
    """Keystone's user update: only the fields sent change; a user stays in its domain."""
    data = _single(body, "user")
    changes = data.model_dump(exclude_unset=True)
    with transaction() as session:
        user = session.get(User, user_id)
        if user is None:
            raise NotFound(f"Could not find user: {user_id}.")
        if changes.get("domain_id", user.domain_id) != user.domain_id:
            raise BadRequest("Invalid input for field 'user.domain_id': a user cannot move.")
        _refuse_nulls(changes, "user", ("name", "enabled"))
        project_id = changes.get("default_project_id")
        if project_id and session.get(Project, project_id) is None:
            raise BadRequest(f"Invalid default_project_id '{project_id}'.")
        if "password" in changes:
            user.password_hash = (
                hash_password(data.password, CONF.identity.password_hash_rounds)
                if data.password
                else None
            )
        if "description" in changes:
            changes["description"] = changes["description"] or ""
        for key in ("name", "email", "description", "enabled", "default_project_id"):
            if key in changes:
                setattr(user, key, changes[key])
        _insert(session, user, f"user {user.name}")
        return {"user": views.user(base_url(request), user)}


@router.post("/roles", status_code=201)
def create_role(
    body: dict[str, RoleIn], request: Request, _: RequestContext = Depends(_admin)
) -> dict[str, Any]:
    data = _single(body, "role")
    with transaction() as session:
        role = Role(name=data.name, description=data.description)
        _insert(session, role, f"role {data.name}")
        return {"role": views.role(base_url(request), role)}


@router.post("/services", status_code=201)
def create_service(
    body: dict[str, ServiceIn], request: Request, _: RequestContext = Depends(_admin)
) -> dict[str, Any]:
    data = _single(body, "service")
    with transaction() as session:
        service = CatalogService(
            type=data.type, name=data.name, description=data.description, enabled=data.enabled
        )
        _insert(session, service, f"service {data.type}")
        return {"service": views.service(base_url(request), service)}


@router.post("/endpoints", status_code=201)
def create_endpoint(
    body: dict[str, EndpointIn], request: Request, _: RequestContext = Depends(_admin)
) -> dict[str, Any]:
    data = _single(body, "endpoint")
    with transaction() as session:
        if session.get(CatalogService, data.service_id) is None:
            raise BadRequest(f"Invalid service_id '{data.service_id}': no such service.")
        region = data.region_id or data.region
        if region:
            db_identity.ensure_region(session, region)
        endpoint = Endpoint(
            service_id=data.service_id,
            interface=data.interface,
            url=data.url,
            region_id=region,
            enabled=data.enabled,
        )
        _insert(session, endpoint, f"{data.interface} endpoint")
        return {"endpoint": views.endpoint(base_url(request), endpoint)}


@router.get("/users/{user_id}/projects")
def list_user_projects(
    user_id: str, request: Request, context: RequestContext = Depends(get_context)
) -> dict[str, Any]:
    authorize("identity:list_user_projects", context, {"target.user.id": user_id})
    with transaction() as session:
        if session.get(User, user_id) is None:
            raise NotFound(f"Could not find user: {user_id}.")
        base = base_url(request)
        projects = db_identity.projects_of(session, user_id)
        body = views.collection(base, "projects", [views.project(base, p) for p in projects])
        body["links"]["self"] = f"{base}/identity/v3/users/{user_id}/projects"
        return body


def _project(session, project_id: str) -> Project:
    project = session.get(Project, project_id)
    if project is None:
        raise NotFound(f"Could not find project: {project_id}.")
    return project


def _check_tag(tag: str) -> None:
    if not 1 <= len(tag) <= 255 or "," in tag or "/" in tag:
        raise BadRequest(f"Invalid tag '{tag}': a tag is 1 to 255 characters without '/' or ','.")


def _tags_reader(project_id: str, context: RequestContext = Depends(get_context)) -> None:
    authorize("identity:get_project_tags", context, {"project_id": project_id})


def _tags_writer(project_id: str, context: RequestContext = Depends(get_context)) -> None:
    authorize("identity:update_project_tags", context, {"project_id": project_id})


@router.get("/projects/{project_id}/tags", dependencies=[Depends(_tags_reader)])
def list_project_tags(project_id: str) -> dict[str, Any]:
    with transaction() as session:
        return {"tags": _project(session, project_id).tags}


@router.put("/projects/{project_id}/tags", dependencies=[Depends(_tags_writer)])
def replace_project_tags(project_id: str, body: TagsIn) -> dict[str, Any]:
    with transaction() as session:
        project = _project(session, project_id)
        wanted = list(dict.fromkeys(body.tags))
        project.tag_rows = [row for row in project.tag_rows if row.name in wanted] + [
            ProjectTag(name=tag) for tag in wanted if tag not in project.tags
        ]
        session.flush()
        return {"tags": project.tags}


@router.delete("/projects/{project_id}/tags", status_code=204, dependencies=[Depends(_tags_writer)])
def clear_project_tags(project_id: str) -> Response:
    with transaction() as session:
        _project(session, project_id).tag_rows = []
    return Response(status_code=204)


@router.head(
    "/projects/{project_id}/tags/{tag}", status_code=204, dependencies=[Depends(_tags_reader)]
)
@router.get(
    "/projects/{project_id}/tags/{tag}", status_code=204, dependencies=[Depends(_tags_reader)]
)
def check_project_tag(project_id: str, tag: str) -> Response:
    with transaction() as session:
        if tag not in _project(session, project_id).tags:
            raise NotFound(f"Could not find tag {tag} on project {project_id}.")
    return Response(status_code=204)


@router.put(
    "/projects/{project_id}/tags/{tag}", status_code=201, dependencies=[Depends(_tags_writer)]
)
def add_project_tag(project_id: str, tag: str, request: Request) -> Response:
    _check_tag(tag)
    with transaction() as session:
        project = _project(session, project_id)
        if tag not in project.tags:
            if len(project.tag_rows) >= MAX_TAGS:
                raise BadRequest(f"A project has at most {MAX_TAGS} tags.")
            project.tag_rows.append(ProjectTag(name=tag))
    location = f"{base_url(request)}/identity/v3/projects/{project_id}/tags/{tag}"
    return Response(status_code=201, headers={"Location": location})


@router.delete(
    "/projects/{project_id}/tags/{tag}", status_code=204, dependencies=[Depends(_tags_writer)]
)
def remove_project_tag(project_id: str, tag: str) -> Response:
    with transaction() as session:
        project = _project(session, project_id)
        row = next((row for row in project.tag_rows if row.name == tag), None)
        if row is None:
            raise NotFound(f"Could not find tag {tag} on project {project_id}.")
        project.tag_rows.remove(row)
    return Response(status_code=204)


class EndpointPatch(_Open):
    service_id: str | None = None
    interface: str | None = Field(default=None, pattern="^(public|internal|admin)$")
    url: str | None = Field(default=None, min_length=1)
    region_id: str | None = None
    region: str | None = None
    enabled: StrictBool | None = None


@router.patch("/endpoints/{endpoint_id}")
def update_endpoint(
    endpoint_id: str,
    body: dict[str, EndpointPatch],
    request: Request,
    _: RequestContext = Depends(_admin),
) -> dict[str, Any]:
    data = _single(body, "endpoint")
    changes = data.model_dump(exclude_unset=True)
    with transaction() as session:
        endpoint = session.get(Endpoint, endpoint_id)
        if endpoint is None:
            raise NotFound(f"Could not find endpoint: {endpoint_id}.")
        _refuse_nulls(changes, "endpoint", ("service_id", "interface", "url", "enabled"))
        if "service_id" in changes and session.get(CatalogService, data.service_id) is None:
            raise BadRequest(f"Invalid service_id '{data.service_id}': no such service.")
        if "region_id" in changes or "region" in changes:
            region = data.region_id or data.region
            if region:
                db_identity.ensure_region(session, region)
            endpoint.region_id = region
        for key in ("service_id", "interface", "url", "enabled"):
            if key in changes:
                setattr(endpoint, key, changes[key])
        _insert(session, endpoint, f"{endpoint.interface} endpoint")
        return {"endpoint": views.endpoint(base_url(request), endpoint)}


class DomainIn(_Open):
    name: str = _NAME
    description: str | None = None
    enabled: StrictBool = True


class DomainPatch(_Open):
    name: str | None = _NAME_OPTIONAL
    description: str | None = None
    enabled: StrictBool | None = None


@router.post("/domains", status_code=201)
def create_domain(
    body: dict[str, DomainIn], request: Request, _: RequestContext = Depends(_admin)
) -> dict[str, Any]:
    data = _single(body, "domain")
    with transaction() as session:
        domain = Domain(name=data.name, description=data.description or "", enabled=data.enabled)
        _insert(session, domain, f"domain {data.name}")
        return {"domain": _domain_view(base_url(request), domain)}


@router.patch("/domains/{domain_id}")
def update_domain(
    domain_id: str,
    body: dict[str, DomainPatch],
    request: Request,
    _: RequestContext = Depends(_admin),
) -> dict[str, Any]:
    data = _single(body, "domain")
    with transaction() as session:
        domain = session.get(Domain, domain_id)
        if domain is None:
            raise NotFound(f"Could not find domain: {domain_id}.")
        for key, value in data.model_dump(exclude_unset=True).items():
            if key == "description":
                value = value or ""
            elif value is None:
                raise BadRequest(f"Invalid input for field 'domain.{key}': may not be null.")
            setattr(domain, key, value)
        _insert(session, domain, f"domain {domain.name}")
        return {"domain": _domain_view(base_url(request), domain)}


@router.delete("/domains/{domain_id}", status_code=204)
def delete_domain(domain_id: str, _: RequestContext = Depends(_admin)) -> Response:
    with transaction() as session:
        domain = session.get(Domain, domain_id)
        if domain is None:
            raise NotFound(f"Could not find domain: {domain_id}.")
        if domain.id == CONF.identity.default_domain:
            raise Forbidden(f"The default domain {domain.name} cannot be deleted.")
        if domain.enabled:
            raise Forbidden("Cannot delete a domain that is enabled, please disable it first.")
        counts = {
            what: session.scalar(
                sa.select(sa.func.count()).select_from(model).where(model.domain_id == domain.id)
            )
            for what, model in (("projects", Project), ("users", User))
        }
        owned = [f"{count} {what}" for what, count in counts.items() if count]
        if owned:
            raise Conflict(
                f"Domain {domain.name} still owns {' and '.join(owned)}; delete them first."
            )
        session.delete(domain)
    return Response(status_code=204)


def _refuse_nulls(changes: dict[str, Any], what: str, keys: tuple[str, ...]) -> None:
    """An update may leave these fields out, never set them to null."""
    for key in keys:
        if key in changes and changes[key] is None:
            raise BadRequest(f"Invalid input for field '{what}.{key}': may not be null.")


def _single(body: dict[str, Any], key: str) -> Any:
    if set(body) != {key}:
        raise BadRequest(f"The request body must be an object with one key, '{key}'.")
    return body[key]


def _assignment_parts(session, project_id: str, user_id: str, role_id: str | None = None):
    if session.get(Project, project_id) is None:
        raise NotFound(f"Could not find project: {project_id}.")
    if session.get(User, user_id) is None:
        raise NotFound(f"Could not find user: {user_id}.")
    if role_id is not None and session.get(Role, role_id) is None:
        raise NotFound(f"Could not find role: {role_id}.")


@router.put("/projects/{project_id}/users/{user_id}/roles/{role_id}", status_code=204)
def grant(
    project_id: str, user_id: str, role_id: str, _: RequestContext = Depends(_admin)
) -> Response:
    with transaction() as session:
        _assignment_parts(session, project_id, user_id, role_id)
        if session.get(RoleAssignment, (user_id, project_id, role_id)) is None:
            session.add(RoleAssignment(user_id=user_id, project_id=project_id, role_id=role_id))
    return Response(status_code=204)


@router.head("/projects/{project_id}/users/{user_id}/roles/{role_id}", status_code=204)
@router.get("/projects/{project_id}/users/{user_id}/roles/{role_id}", status_code=204)
def check_grant(
    project_id: str, user_id: str, role_id: str, _: RequestContext = Depends(_admin)
) -> Response:
    with transaction() as session:
        if session.get(RoleAssignment, (user_id, project_id, role_id)) is None:
            raise NotFound(
                f"Could not find role assignment of {role_id} to user {user_id} "
                f"on project {project_id}."
            )
    return Response(status_code=204)


@router.delete("/projects/{project_id}/users/{user_id}/roles/{role_id}", status_code=204)
def revoke_grant(
    project_id: str, user_id: str, role_id: str, _: RequestContext = Depends(_admin)
) -> Response:
    with transaction() as session:
        assignment = session.get(RoleAssignment, (user_id, project_id, role_id))
        if assignment is None:
            raise NotFound(
                f"Could not find role assignment of {role_id} to user {user_id} "
                f"on project {project_id}."
            )
        session.delete(assignment)
    return Response(status_code=204)


@router.get("/projects/{project_id}/users/{user_id}/roles")
def list_grants(
    project_id: str, user_id: str, request: Request, _: RequestContext = Depends(_admin)
) -> dict[str, Any]:
    with transaction() as session:
        _assignment_parts(session, project_id, user_id)
        base = base_url(request)
        return views.collection(
            base,
            "roles",
            [views.role(base, r) for r in db_identity.roles_of(session, user_id, project_id)],
        )


@router.get("/role_assignments")
def list_role_assignments(request: Request, _: RequestContext = Depends(_admin)) -> dict:
    params = request.query_params
    query = (
        sa.select(RoleAssignment, Role, User, Project)
        .join(Role, Role.id == RoleAssignment.role_id)
        .join(User, User.id == RoleAssignment.user_id)
        .join(Project, Project.id == RoleAssignment.project_id)
    )
    for param, column in (
        ("user.id", RoleAssignment.user_id),
        ("scope.project.id", RoleAssignment.project_id),
        ("role.id", RoleAssignment.role_id),
    ):
        if params.get(param):
            query = query.where(column == params[param])
    names = "include_names" in params
    base = base_url(request)
    items = []
    with transaction() as session:
        domains = {d.id: d.name for d in session.scalars(sa.select(Domain))}
        for _, role, user, project in session.execute(query):
            item = {
                "role": {"id": role.id},
                "user": {"id": user.id},
                "scope": {"project": {"id": project.id}},
                "links": {
                    "assignment": f"{base}/identity/v3/projects/{project.id}/users/"
                    f"{user.id}/roles/{role.id}"
                },
            }
            if names:
                item["role"]["name"] = role.name
                item["user"].update(
                    name=user.name,
                    domain={"id": user.domain_id, "name": domains.get(user.domain_id)},
                )
                item["scope"]["project"].update(
                    name=project.name,
                    domain={"id": project.domain_id, "name": domains.get(project.domain_id)},
                )
            items.append(item)
    return views.collection(base, "role_assignments", items)
