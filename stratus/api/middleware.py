"""Pure ASGI middleware: request ids and Compute microversion negotiation."""

from __future__ import annotations

import json
import uuid
from typing import Any

from stratus.api import errors, microversion

COMPUTE_PREFIX = "/compute/v2.1"


class RequestIdMiddleware:
    """Gives every request an id and echoes it as ``x-openstack-request-id``."""

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

        async def send_with_id(message: dict) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        await self.app(scope, receive, send_with_id)


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
            body = json.dumps(errors.error_body(scope["path"], error)).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": error.status,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        scope.setdefault("state", {})["api_version"] = version
        extra = microversion.response_headers(version)

        async def send_with_version(message: dict) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        await self.app(scope, receive, send_with_version)
