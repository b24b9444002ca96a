"""Identity queries: users, projects, roles, assignments, catalog, revocations."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from stratus.db.models import (
    CatalogService,
    Domain,
    Endpoint,
    Project,
    Region,
    RevokedToken,
    Role,
    RoleAssignment,
    User,
    utcnow,
)

# Role names imply the ones after them: an admin is also a member and a reader.
IMPLIED_ROLES = {"admin": ("member", "reader"), "member": ("reader",)}


def expand_roles(names: set[str]) -> list[str]:
    expanded = set(names)
    for name in names:
        expanded.update(IMPLIED_ROLES.get(name, ()))
    return sorted(expanded)


def get_domain(session: Session, id_or_name: str) -> Domain | None:
    return session.scalar(
        sa.select(Domain).where(sa.or_(Domain.id == id_or_name, Domain.name == id_or_name))
    )


def find_user(session: Session, name: str, domain_id: str) -> User | None:
    return session.scalar(sa.select(User).where(User.name == name, User.domain_id == domain_id))


def find_project(session: Session, name: str, domain_id: str) -> Project | None:
    return session.scalar(
        sa.select(Project).where(Project.name == name, Project.domain_id == domain_id)
    )


def find_role(session: Session, name: str) -> Role | None:
    return session.scalar(sa.select(Role).where(Role.name == name))


def role_names(session: Session, user_id: str, project_id: str) -> set[str]:
    return set(
        session.scalars(
            sa.select(Role.name)
            .join(RoleAssignment, RoleAssignment.role_id == Role.id)
            .where(RoleAssignment.user_id == user_id, RoleAssignment.project_id == project_id)
        )
    )


def roles_of(session: Session, user_id: str, project_id: str) -> list[Role]:
    return list(
        session.scalars(
            sa.select(Role)
            .join(RoleAssignment, RoleAssignment.role_id == Role.id)
            .where(RoleAssignment.user_id == user_id, RoleAssignment.project_id == project_id)
        )
    )


def token_subject(session: Session, user_id: str, project_id: str | None, audit_id: str):
    """Two queries for what validating a token needs: the user, the project, the
    role names on it, and whether the token was revoked."""
    revoked = sa.exists().where(RevokedToken.audit_id == audit_id)
    row = session.execute(
        sa.select(User, Project, revoked)
        .select_from(User)
        .outerjoin(Project, Project.id == sa.literal(project_id))
        .where(User.id == user_id)
    ).one_or_none()
    user, project, is_revoked = row if row else (None, None, False)
    roles = role_names(session, user_id, project_id) if project_id and user else set()
    return user, project, roles, is_revoked


def revoke(session: Session, audit_id: str, expires_at: dt.datetime) -> None:
    if session.get(RevokedToken, audit_id) is None:
        session.add(RevokedToken(audit_id=audit_id, expires_at=expires_at))
    session.execute(sa.delete(RevokedToken).where(RevokedToken.expires_at < utcnow()))


def catalog(session: Session) -> list[CatalogService]:
    return list(
        session.scalars(
            sa.select(CatalogService).where(CatalogService.enabled).order_by(CatalogService.type)
        )
    )


def ensure_region(session: Session, region_id: str) -> Region:
    region = session.get(Region, region_id)
    if region is None:
        region = Region(id=region_id)
        session.add(region)
        session.flush()
    return region


def ensure_endpoint(
    session: Session, service_type: str, name: str, url: str, region_id: str, interface: str
) -> tuple[Endpoint, bool]:
    """The service's endpoint for ``interface`` in ``region_id`` with ``url``, and
    whether anything had to be created or changed for it."""
    service = session.scalar(sa.select(CatalogService).where(CatalogService.type == service_type))
    if service is None:
        service = CatalogService(type=service_type, name=name)
        session.add(service)
        session.flush()
    ensure_region(session, region_id)
    endpoint = session.scalar(
        sa.select(Endpoint).where(
            Endpoint.service_id == service.id,
            Endpoint.interface == interface,
            Endpoint.region_id == region_id,
        )
    )
    changed = endpoint is None or endpoint.url != url
    if endpoint is None:
        endpoint = Endpoint(
            service_id=service.id, interface=interface, region_id=region_id, url=url
        )
        session.add(endpoint)
    else:
        endpoint.url = url
    session.flush()
    return endpoint, changed


def projects_of(session: Session, user_id: str) -> list[Project]:
    return list(
        session.scalars(
            sa.select(Project)
            .join(RoleAssignment, RoleAssignment.project_id == Project.id)
            .where(RoleAssignment.user_id == user_id)
            .distinct()
            .order_by(Project.name)
        )
    )
