"""Keystone-shaped representations of identity records."""

from __future__ import annotations

from typing import Any

from stratus.db.models import CatalogService, Endpoint, Project, Role, User


def _link(base: str, collection: str, ident: str) -> dict[str, str]:
    return {"self": f"{base}/identity/v3/{collection}/{ident}"}


def project(base: str, p: Project) -> dict[str, Any]:
    return {
        "id": p.id,
        "name": p.name,
        "domain_id": p.domain_id,
        "description": p.description,
        "enabled": p.enabled,
        "parent_id": p.domain_id,
        "is_domain": False,
        "tags": p.tags,
        "options": {},
        "links": _link(base, "projects", p.id),
    }


def user(base: str, u: User) -> dict[str, Any]:
    body = {
        "id": u.id,
        "name": u.name,
        "domain_id": u.domain_id,
        "enabled": u.enabled,
        "password_expires_at": None,
        "options": {},
        "links": _link(base, "users", u.id),
    }
    for optional in ("email", "default_project_id", "description"):
        if getattr(u, optional):
            body[optional] = getattr(u, optional)
    return body


def role(base: str, r: Role) -> dict[str, Any]:
    return {
        "id": r.id,
        "name": r.name,
        "domain_id": None,
        "description": r.description,
        "options": {},
        "links": _link(base, "roles", r.id),
    }


def service(base: str, s: CatalogService) -> dict[str, Any]:
    return {
        "id": s.id,
        "type": s.type,
        "name": s.name,
        "description": s.description,
        "enabled": s.enabled,
        "links": _link(base, "services", s.id),
    }


def endpoint(base: str, e: Endpoint) -> dict[str, Any]:
    return {
        "id": e.id,
        "interface": e.interface,
        "region_id": e.region_id,
        "region": e.region_id,
        "service_id": e.service_id,
        "url": e.url,
        "enabled": e.enabled,
        "links": _link(base, "endpoints", e.id),
    }


def catalog(services: list[CatalogService]) -> list[dict[str, Any]]:
    return [
        {
            "id": s.id,
            "type": s.type,
            "name": s.name,
            "endpoints": [
                {
                    "id": e.id,
                    "interface": e.interface,
                    "region": e.region_id,
                    "region_id": e.region_id,
                    "url": e.url,
                }
                for e in s.endpoints
                if e.enabled
            ],
        }
        for s in services
    ]


def collection(base: str, name: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        name: items,
        "links": {"self": f"{base}/identity/v3/{name}", "previous": None, "next": None},
    }
