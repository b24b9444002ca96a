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


#: The range of the database's integer columns (64-bit, as BIGINT): a number outside it
#: cannot match a row and overflows the driver, so it never reaches a query.
DB_INT_MIN = -(2**63)
DB_INT_MAX = 2**63 - 1
#: The range of a 32-bit Integer column (flavor sizes, quota limits).
INT32_MAX = 2**31 - 1


def parse_int(
    name: str,
    raw: str | None,
    *,
    minimum: int = DB_INT_MIN,
    maximum: int | None = DB_INT_MAX,
    where: str = "query parameter",
) -> int | None:
    """``raw`` (a query-string or path value) as an integer in ``[minimum, maximum]``
    (no upper bound for ``maximum=None``); anything else is a 400 that names ``name``.
    ``None`` stays ``None``."""
    if raw is None:
        return None
    try:
        value = int(raw.strip()) if isinstance(raw, str) else int(raw)
    except ValueError:
        raise BadRequest(
            f"Invalid input for {where} '{name}': {raw!r} is not an integer."
        ) from None
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f"{minimum} or more"
        raise BadRequest(f"Invalid input for {where} '{name}': {raw} must be {bound}.")
    return value


def db_id(raw: str, name: str | None = None) -> int | None:
    """A path id that names a row by its integer key. ``None`` when it cannot name one
    (outside the column's range, or not an integer at all): the caller answers 404.
    With ``name``, a value that is not an integer is a 400 naming ``name``."""
    try:
        value = int(raw)
    except ValueError:
        if name is None:
            return None
        raise BadRequest(
            f"Invalid input for path parameter '{name}': {raw!r} is not an integer."
        ) from None
    return value if DB_INT_MIN <= value <= DB_INT_MAX else None


def page_limit(request: Request) -> int:
    raw = request.query_params.get("limit")
    if raw is None:
        return CONF.api.max_limit
    # Any non-negative integer is a valid limit, however large (as in Nova and Glance):
    # the page is never longer than max_limit, so the value never reaches a query.
    limit = parse_int("limit", raw, minimum=0, maximum=None)
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


def strict_bool(value: Any) -> bool:
    """A body's boolean as Nova takes it: true/false, or one of their usual spellings
    as a string ("true", "1", "on", "yes" and opposites); no numbers, no null."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.lower()
        if lowered in ("true", "1", "on", "yes"):
            return True
        if lowered in ("false", "0", "off", "no"):
            return False
    raise ValueError("must be a boolean")


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
