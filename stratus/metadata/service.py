"""The metadata service: the OpenStack and EC2 trees of the instance a request is
for, read from the database on the control side.

A guest never reaches it directly: a metadata proxy in the guest's network (not
part of this module) adds ``X-Instance-ID`` (the instance's uuid), ``X-Tenant-ID``
(its project) and ``X-Instance-ID-Signature``, the hex HMAC-SHA256 of the
instance id under ``[metadata] shared_secret``, as Neutron's metadata proxy
signs it. A request without the headers is a 400, one whose signature does not
match (or when no secret is configured) a 403, and an unknown instance, or one
of another project than ``X-Tenant-ID``, a 404; a guest that forges the
instance header cannot produce the signature.

Paths: ``/`` lists the EC2 versions, ``/openstack[/...]`` is the OpenStack tree,
``/<ec2 version>[/...]`` the EC2 tree. Everything is read with GET but
``/openstack/<version>/password``, which the guest may also POST to once
(stratus.metadata.password); that document is read from the database on every
request, never kept.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any, NamedTuple

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from stratus.conductor.manager import instance_dict
from stratus.conf import CONF
from stratus.db import instances as db_instances
from stratus.db.session import transaction
from stratus.metadata import base, password
from stratus.network import service as network_service

INSTANCE_HEADER = "X-Instance-ID"
SIGNATURE_HEADER = "X-Instance-ID-Signature"
TENANT_HEADER = "X-Tenant-ID"
CACHE_SIZE = 10_000  # instances kept before the expired ones are dropped
ANSWERS_KEPT = 64  # rendered answers kept per instance
NOT_FOUND = "404 Not Found\n\nThe instance could not be found.\n"


def sign(instance_id: str, secret: str) -> str:
    """The signature a metadata proxy sends with ``instance_id``."""
    return hmac.new(secret.encode(), instance_id.encode(), hashlib.sha256).hexdigest()


def signature_valid(instance_id: str, signature: str, secret: str) -> bool:
    """Whether ``signature`` is the one of ``instance_id`` (never without a secret)."""
    return bool(secret) and hmac.compare_digest(sign(instance_id, secret), signature)


class Cached(NamedTuple):
    expires: float
    view: dict[str, Any]
    answers: dict[str, Response]  # path -> its 200 answer, rendered once


class InstanceCache:
    """Instance views by uuid, and their answers, kept ``expiration`` seconds
    (``[metadata] cache_expiration``; 0 keeps none): a guest's boot asks for a
    dozen paths in a row, and each would otherwise read the database and render
    its tree. Unknown instances are not kept."""

    def __init__(self, expiration: float) -> None:
        self.expiration = expiration
        self._entries: dict[str, Cached] = {}

    async def get(self, instance_uuid: str) -> Cached | None:
        now = time.monotonic()
        kept = self._entries.get(instance_uuid)
        if kept is not None and kept.expires > now:
            return kept
        view = await run_in_threadpool(instance_view, instance_uuid)
        if view is None:
            return None
        entry = Cached(now + self.expiration, view, {})
        if self.expiration > 0:
            if len(self._entries) >= CACHE_SIZE:
                self._entries = {k: v for k, v in self._entries.items() if v.expires > now}
            self._entries[instance_uuid] = entry
        return entry


def instance_view(instance_uuid: str) -> dict[str, Any] | None:
    """The instance as the metadata trees read it (its current metadata and the
    floating addresses of its ports, as the Compute API shows them), None when
    there is no such live instance. Never its password."""
    with transaction() as session:
        instance = db_instances.get(session, instance_uuid)
        if instance is None:
            return None
        view = instance_dict(instance)
        view["metadata"] = {m.key: m.value for m in instance.metadata_items}
    vifs = view["network_info"]
    floating = network_service.floating_addresses([v["port_id"] for v in vifs])
    view["floating_ips"] = [a for v in vifs for _, a in floating.get(v["port_id"], [])]
    return view


def _text(body: str | bytes, status: int = 200, json_doc: bool = False) -> Response:
    media = "application/json" if json_doc else "text/plain; charset=UTF-8"
    return Response(body, status_code=status, media_type=media)


def is_password_path(path: str) -> bool:
    """Whether ``path`` (no leading slash) is an OpenStack version's ``password``."""
    head, _, rest = path.strip("/").partition("/")
    return head == "openstack" and base.is_password_path(rest)


def answer(instance: dict[str, Any], path: str) -> Response:
    """The answer for ``path`` (no leading slash) about ``instance``."""
    dhcp_domain = CONF.metadata.dhcp_domain
    head, _, rest = path.strip("/").partition("/")
    try:
        if not head:
            return _text(base.ec2_versions())
        if head == "openstack":
            body = base.openstack_path(instance, rest, dhcp_domain=dhcp_domain)
            return _text(body, json_doc=rest.endswith(".json"))
        if head in (*base.EC2_VERSIONS, base.LATEST):
            return _text(base.ec2_path(instance, rest, dhcp_domain=dhcp_domain))
    except base.InvalidPath:
        pass
    return _text("404 Not Found\n\nThe resource could not be found.\n", 404)


def create_app() -> FastAPI:
    app = FastAPI(title="Stratus metadata", openapi_url=None, docs_url=None, redoc_url=None)

    cache = InstanceCache(CONF.metadata.cache_expiration)

    async def identify(request: Request) -> Cached | Response:
        """The instance a proxied request is for, or the refusal."""
        instance_id = request.headers.get(INSTANCE_HEADER)
        signature = request.headers.get(SIGNATURE_HEADER)
        if not instance_id or not signature:
            return _text(f"400 Bad Request\n\n{INSTANCE_HEADER} header is missing.\n", 400)
        if not signature_valid(instance_id, signature, CONF.metadata.shared_secret):
            return _text("403 Forbidden\n\nInvalid proxy request signature.\n", 403)
        entry = await cache.get(instance_id)
        tenant = request.headers.get(TENANT_HEADER)
        if entry is None or (tenant is not None and tenant != entry.view["project_id"]):
            return _text(NOT_FOUND, 404)
        return entry

    @app.post("/{path:path}")
    async def post_password(path: str, request: Request) -> Response:
        entry = await identify(request)
        if isinstance(entry, Response):
            return entry
        if not is_password_path(path):
            return _text("405 Method Not Allowed\n\nOnly the password may be posted.\n", 405)
        body = await request.body()
        try:
            await run_in_threadpool(password.set_once, entry.view["uuid"], body)
        except password.AlreadySet:
            return _text("409 Conflict\n\nThe password is already set.\n", 409)
        except password.BadPassword as exc:
            return _text(f"400 Bad Request\n\n{exc}\n", 400)
        except password.InstanceGone:
            return _text(NOT_FOUND, 404)
        return _text("")

    @app.get("/{path:path}")
    async def metadata(path: str, request: Request) -> Response:
        entry = await identify(request)
        if isinstance(entry, Response):
            return entry
        if is_password_path(path):
            stored = await run_in_threadpool(password.get, entry.view["uuid"])
            return answer({**entry.view, "password": stored}, path)
        reply = entry.answers.get(path)
        if reply is None:
            reply = answer(entry.view, path)
            if reply.status_code == 200 and len(entry.answers) < ANSWERS_KEPT:
                entry.answers[path] = reply
        return reply

    return app
