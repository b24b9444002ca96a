"""The stratus-api ASGI application."""

from __future__ import annotations

import json
import os

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

from stratus import service
from stratus.api import errors
from stratus.api.compute import availability_zones, flavors, hypervisors, quotas, services
from stratus.api.compute import versions as compute_versions
from stratus.api.identity import admin, tokens
from stratus.api.middleware import JSONBodyMiddleware, MicroversionMiddleware, RequestIdMiddleware
from stratus.conf import CONF

ROUTERS = [
    tokens.router,
    admin.router,
    compute_versions.router,
    flavors.router,
    services.router,
    hypervisors.router,
    availability_zones.router,
    quotas.router,
]


def create_app() -> FastAPI:
    _configure_worker()
    app = FastAPI(
        title="Stratus",
        version="2.1",
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
        redirect_slashes=False,
    )
    errors.install(app)
    for router in ROUTERS + extra_routers():
        app.include_router(router)

    @app.get("/healthcheck", response_class=PlainTextResponse)
    def healthcheck() -> str:
        return "OK"

    # The last added runs first: request ids (and the last-resort error handler)
    # wrap everything, then the JSON body rule, then microversion negotiation.
    app.add_middleware(MicroversionMiddleware)
    app.add_middleware(JSONBodyMiddleware)
    app.add_middleware(RequestIdMiddleware)
    return app


def _configure_worker() -> None:
    """Uvicorn workers are fresh processes: give them the parent's configuration."""
    raw = os.environ.get("STRATUS_API_ARGV")
    if raw is not None and getattr(CONF, "config_file", None) is None:
        service.prepare(json.loads(raw), "stratus-api")


def extra_routers() -> list:
    """Routers of optional API parts (image, servers, scheduler resources)."""
    import importlib

    found = []
    for module in (
        "stratus.api.image.routes",
        "stratus.api.image.members",
        "stratus.api.compute.servers",
        "stratus.api.compute.server_extras",
        "stratus.api.compute.server_password",
        "stratus.api.compute.aggregates",
        "stratus.api.compute.server_groups",
        "stratus.api.compute.keypairs",
        "stratus.api.compute.interfaces",
        "stratus.api.network.routes",
        "stratus.api.network.security_groups",
        "stratus.api.network.routers",
        "stratus.api.compute.usage",
        "stratus.api.compute.images",
    ):
        try:
            found.append(importlib.import_module(module).router)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
    return found
