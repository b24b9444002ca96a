"""Pure ASGI middleware: request ids, the last-resort error handler, the one rule
for JSON request bodies, and Compute microversion negotiation."""

from __future__ import annotations

import json
import logging
import math
import re
import uuid
from typing import Any

from stratus.api import errors, microversion

LOG = logging.getLogger(__name__)
COMPUTE_PREFIX = "/compute/v2.1"

#: Deepest nesting of arrays and objects a JSON body may have. The deepest body a
#: client sends (a Keystone password authentication) nests five levels.
MAX_JSON_DEPTH = 32
#: Largest JSON body any endpoint takes (an image's many properties and tags fit).
MAX_JSON_BODY = 16 * 1024 * 1024
#: Media types of JSON bodies: JSON itself, ``+json`` types and the Image API's
#: JSON patches.
_JSON_MEDIA = re.compile(
    r"^application/(json|[a-z0-9.+-]*\+json|openstack-images-v2\.[01]-json-patch)$"
)
#: Endpoints whose body is not JSON: image data is ``application/octet-stream``.
_RAW_BODY = re.compile(r"^/image/v2/images/[^/]+/(file|stage)$")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class _NotANumber(ValueError):
    """A number JSON cannot carry (``NaN``, ``Infinity``, or one beyond a float)."""


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotANumber(f"{text} is out of the range of a JSON number")
    return value


def _no_constant(name: str) -> Any:
    raise _NotANumber(f"{name} is not a JSON number")


def load_json(raw: bytes | str) -> Any:
    """The one rule for JSON request bodies: ``raw`` parsed, None if empty.

    Refused with 400: text that is not JSON, ``NaN``/``Infinity`` (and numbers too
    large for a float), and arrays or objects nested deeper than ``MAX_JSON_DEPTH``.
    """
    if not raw:
        return None
    try:
        value = json.loads(raw, parse_constant=_no_constant, parse_float=_finite)
    except RecursionError:
        value = None
        depth_error = True
    except _NotANumber as exc:
        raise errors.BadRequest(f"Malformed request body: {exc}.") from None
    except ValueError:
        raise errors.BadRequest("Malformed request body: the body is not valid JSON.") from None
    else:
        depth_error = _depth(value) > MAX_JSON_DEPTH
    if depth_error:
        raise errors.BadRequest(
            f"Malformed request body: arrays and objects may be nested at most "
            f"{MAX_JSON_DEPTH} levels deep."
        )
    if _SURROGATE_ESCAPE.search(raw if isinstance(raw, bytes) else raw.encode()):
        # A \ud800-\udfff escape that is not half of a pair is no character at all;
        # nothing downstream (the database, certificates) could store it.
        try:
            json.dumps(value, ensure_ascii=False).encode()
        except UnicodeEncodeError:
            raise errors.BadRequest(
                "Malformed request body: a string holds an unpaired UTF-16 surrogate."
            ) from None
    return value


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _depth(value: Any) -> int:
    """How deeply ``value`` nests arrays and objects (iteratively: no recursion)."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        if deepest > MAX_JSON_DEPTH:
            return deepest
        stack.extend((child, level + 1) for child in children)
    return deepest


def server_error(path: str) -> errors.APIError:
    """The error an unhandled exception answers with, in the shape of ``path``'s API."""
    error = errors.APIError(
        "The server has either erred or is incapable of performing the requested "
        "operation; the API log has the details under this request's id."
    )
    if path.startswith("/image"):
        error.kind = "internalServerError"
    return error


async def send_error(scope: dict, send: Any, error: errors.APIError) -> None:
    """Answer with ``error`` in the OpenStack shape of the request's API."""
    body = json.dumps(errors.error_body(scope["path"], error)).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    headers += [(k.lower().encode(), v.encode()) for k, v in error.headers.items()]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class RequestIdMiddleware:
    """Gives every request an id and echoes it as ``x-openstack-request-id`` (and
    ``x-compute-request-id`` under ``/compute``). An exception nothing else handled
    is logged with its traceback and answered as a 500 in OpenStack's error shape."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = f"req-{uuid.uuid4()}"
        scope.setdefault("state", {})["request_id"] = request_id
        extra = [(b"x-openstack-request-id", request_id.encode())]
        if scope["path"].startswith("/compute"):
            extra.append((b"x-compute-request-id", request_id.encode()))
        started = False

        async def send_with_id(message: dict) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            LOG.exception(
                "Unhandled error in %s %s (request %s)",
                scope.get("method"),
                scope["path"],
                request_id,
            )
            if started:
                raise
            await send_error(scope, send_with_id, server_error(scope["path"]))


class JSONBodyMiddleware:
    """Applies the JSON body rule (``load_json``) to every request body before any
    endpoint sees it: a non-JSON ``Content-Type`` is refused (415; Identity answers
    400 as Keystone does), as are bodies over ``MAX_JSON_BODY`` (413), malformed,
    too deeply nested, or with ``NaN``/``Infinity`` (400). Image data uploads are
    left alone. The endpoint then reads the same bytes."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in _BODY_METHODS
            or _RAW_BODY.match(scope["path"])
        ):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            body = await self._read(headers, receive)
            if body:
                self._check_type(scope["path"], headers.get("content-type", ""))
                load_json(body)
        except errors.APIError as error:
            await send_error(scope, send, error)
            return
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    @staticmethod
    async def _read(headers: dict[str, str], receive: Any) -> bytes:
        declared = headers.get("content-length", "")
        too_large = errors.RequestTooLarge(
            f"The request body is larger than {MAX_JSON_BODY} bytes."
        )
        if declared.isdigit() and int(declared) > MAX_JSON_BODY:
            raise too_large
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            body += message.get("body", b"")
            if len(body) > MAX_JSON_BODY:
                raise too_large
            if not message.get("more_body", False):
                break
        return bytes(body)

    @staticmethod
    def _check_type(path: str, content_type: str) -> None:
        media = content_type.split(";")[0].strip().lower()
        if not media or _JSON_MEDIA.match(media):
            return
        message = f"Unsupported Content-Type {media!r}: send the request body as application/json."
        if path.startswith("/identity"):
            raise errors.BadRequest(message)
        raise errors.UnsupportedMediaType(message)


class MicroversionMiddleware:
    """Negotiates the Compute microversion, stores it on the request state and
    echoes it, with ``Vary``, on the response. Out-of-range versions get 406."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(COMPUTE_PREFIX):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            version = microversion.negotiate(headers)
        except errors.APIError as error:
            await send_error(scope, send, error)
            return
        scope.setdefault("state", {})["api_version"] = version
        extra = microversion.response_headers(version)

        async def send_with_version(message: dict) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        await self.app(scope, receive, send_with_version)
