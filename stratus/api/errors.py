"""OpenStack-shaped API errors.

Compute and Image errors look like Nova's: ``{"badRequest": {"code": 400,
"message": ...}}``. Identity errors look like Keystone's: ``{"error": {"code": 401,
"title": "Unauthorized", "message": ...}}``. Domain errors (``stratus/exception.py``)
are rendered through ``DOMAIN_ERRORS``, one API error class per domain class.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from stratus import exception


class APIError(Exception):
    status = 500
    kind = "computeFault"
    title = "Internal Server Error"

    def __init__(self, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}


class BadRequest(APIError):
    status, kind, title = 400, "badRequest", "Bad Request"


class Unauthorized(APIError):
    status, kind, title = 401, "unauthorized", "Unauthorized"


class Forbidden(APIError):
    status, kind, title = 403, "forbidden", "Forbidden"


class NotFound(APIError):
    status, kind, title = 404, "itemNotFound", "Not Found"


class MethodNotAllowed(APIError):
    status, kind, title = 405, "notAllowed", "Method Not Allowed"


class NotAcceptable(APIError):
    status, kind, title = 406, "notAcceptable", "Not Acceptable"


class Conflict(APIError):
    status, kind, title = 409, "conflictingRequest", "Conflict"


class RequestTooLarge(APIError):
    status, kind, title = 413, "overLimit", "Request Entity Too Large"


class UnsupportedMediaType(APIError):
    status, kind, title = 415, "badMediaType", "Unsupported Media Type"


_BY_STATUS = {cls.status: cls for cls in APIError.__subclasses__()}

# Domain error class -> the API error it is rendered as (the closest class in the
# domain error's MRO wins).
DOMAIN_ERRORS: dict[type[exception.StratusException], type[APIError]] = {
    exception.Invalid: BadRequest,
    exception.Forbidden: Forbidden,
    exception.OverQuota: Forbidden,
    exception.OverLimit: RequestTooLarge,
    exception.NotFound: NotFound,
    exception.Conflict: Conflict,
}


def from_domain(error: exception.StratusException) -> APIError:
    """The API error that shows domain error ``error`` (a 500 for one not mapped)."""
    for cls in type(error).__mro__:
        if cls in DOMAIN_ERRORS:
            return DOMAIN_ERRORS[cls](error.message)
    return APIError(error.message)


# Networking API errors look like Neutron's: ``{"NeutronError": {"type": ...,
# "message": ..., "detail": ""}}``; the type of an error with no more specific one.
NEUTRON_TYPES = {
    400: "HTTPBadRequest",
    401: "HTTPUnauthorized",
    403: "HTTPForbidden",
    404: "HTTPNotFound",
    405: "HTTPMethodNotAllowed",
    406: "HTTPNotAcceptable",
    409: "HTTPConflict",
    413: "HTTPRequestEntityTooLarge",
    415: "HTTPUnsupportedMediaType",
}


def neutron_body(status: int, message: str, kind: str | None = None) -> dict[str, Any]:
    kind = kind or NEUTRON_TYPES.get(status, "HTTPInternalServerError")
    return {"NeutronError": {"type": kind, "message": message, "detail": ""}}


def error_body(path: str, error: APIError) -> dict[str, Any]:
    if path.startswith("/identity"):
        return {"error": {"code": error.status, "title": error.title, "message": error.message}}
    if path.startswith("/networking"):
        return neutron_body(error.status, error.message)
    return {error.kind: {"code": error.status, "message": error.message}}


def render(request: Request, error: APIError) -> JSONResponse:
    return JSONResponse(
        error_body(request.url.path, error), status_code=error.status, headers=error.headers
    )


def _field_name(location: tuple[Any, ...]) -> str:
    parts = [str(p) for p in location if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "request body"


def describe_validation_errors(errors: list[dict[str, Any]]) -> str:
    """Turn pydantic errors into one sentence that names each offending field."""
    messages = []
    for err in errors:
        if err.get("type") in ("json_invalid", "json_type"):
            return "Malformed request body: the body is not valid JSON."
        field = _field_name(tuple(err.get("loc", ())))
        text = err.get("msg", "is invalid")
        if err.get("type") == "missing":
            messages.append(f"'{field}' is a required property")
        elif err.get("type") == "extra_forbidden":
            messages.append(f"Additional properties are not allowed ('{field}' was unexpected)")
        else:
            value = err.get("input")
            shown = "" if isinstance(value, dict | list) else f" (got {value!r:.100})"
            messages.append(f"Invalid input for field '{field}': {text}{shown}")
    return "; ".join(messages)


def install(app: Any) -> None:
    """Register the handlers that keep every error OpenStack-shaped."""

    @app.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError) -> JSONResponse:
        return render(request, exc)

    @app.exception_handler(exception.StratusException)
    async def _domain_error(request: Request, exc: exception.StratusException) -> JSONResponse:
        return render(request, from_domain(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return render(request, BadRequest(describe_validation_errors(list(exc.errors()))))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        cls = _BY_STATUS.get(exc.status_code, BadRequest)
        message = {
            404: "The resource could not be found.",
            405: "The method is not allowed for this resource.",
        }.get(exc.status_code, str(exc.detail))
        error = cls(message)
        error.status = exc.status_code
        return render(request, error)
