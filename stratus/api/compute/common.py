"""Helpers shared by the Compute API resources: links, paging, parsing."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from stratus.api.errors import BadRequest, describe_validation_errors
from stratus.api.middleware import load_json
from stratus.api.urls import base_url
from stratus.conf import CONF

PREFIX = "/compute/v2.1"


def links(request: Request, collection: str, ident: str) -> list[dict[str, str]]:
    base = base_url(request)
    return [
        {"rel": "self", "href": f"{base}{PREFIX}/{collection}/{ident}"},
        {"rel": "bookmark", "href": f"{base}/compute/{collection}/{ident}"},
    ]


def next_link(request: Request, collection: str, marker: str) -> list[dict[str, str]]:
    params = dict(request.query_params)
    params["marker"] = marker
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return [{"rel": "next", "href": f"{base_url(request)}{PREFIX}/{collection}?{query}"}]


def page_limit(request: Request) -> int:
    raw = request.query_params.get("limit")
    if raw is None:
        return CONF.api.max_limit
    try:
        limit = int(raw)
    except ValueError:
        raise BadRequest(
            f"Invalid input for query parameter 'limit': {raw!r} is not an integer."
        ) from None
    if limit < 0:
        raise BadRequest("Invalid input for query parameter 'limit': must be 0 or more.")
    return min(limit, CONF.api.max_limit)


def parse_bool(name: str, raw: str | None, default: bool | None = None) -> bool | None:
    if raw is None:
        return default
    lowered = raw.strip().lower()
    if lowered in ("1", "t", "true", "on", "y", "yes"):
        return True
    if lowered in ("0", "f", "false", "off", "n", "no"):
        return False
    raise BadRequest(f"Invalid value {raw!r} for query parameter '{name}': use true or false.")


def parse_int(name: str, raw: str | None) -> int | None:
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(
            f"Invalid value {raw!r} for query parameter '{name}': must be an integer."
        ) from None


async def json_body(request: Request) -> Any:
    return load_json(await request.body())


def validate(model: type[BaseModel], data: Any, prefix: str) -> Any:
    """Validate ``data`` with ``model``; errors name the field as ``prefix.field``."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [dict(e, loc=(prefix, *e["loc"])) for e in exc.errors()]
        raise BadRequest(describe_validation_errors(errors)) from None


def unwrap(body: Any, key: str) -> Any:
    if not isinstance(body, dict) or key not in body:
        raise BadRequest(f"'{key}' is a required property: send {{\"{key}\": {{...}}}}.")
    extra = set(body) - {key}
    if extra:
        raise BadRequest(
            f"Additional properties are not allowed ({', '.join(sorted(extra))} were unexpected)"
        )
    return body[key]


def respond(body: Any, status_code: int = 200) -> JSONResponse:
    """A JSON response that skips FastAPI's generic re-encoding of the body: the views
    already build plain JSON types, and large lists are several times faster."""
    return JSONResponse(body, status_code=status_code)


def iso(value: Any) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f") if value is not None else None


def iso_z(value: Any) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None
