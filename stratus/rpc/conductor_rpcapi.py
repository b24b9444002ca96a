"""Client of stratus-conductor (topic ``conductor``)."""

from __future__ import annotations

from typing import Any

from stratus import rpc
from stratus.conf import CONF

TOPIC = "conductor"


class ConductorAPI:
    def __init__(self) -> None:
        self._client = rpc.client(TOPIC, timeout=CONF.rpc.call_timeout)

    def cast(self, ctxt: dict, method: str, **kwargs: Any) -> None:
        self._client.prepare().cast(ctxt, method, **kwargs)

    def call(self, ctxt: dict, method: str, **kwargs: Any) -> Any:
        return self._client.prepare().call(ctxt, method, **kwargs)

    def build_instances(self, ctxt: dict, instance_uuids: list[str], spec: dict) -> None:
        """Schedule and build the instances that the API recorded with request spec
        ``spec`` (sent along, so the conductor need not read it back)."""
        self.cast(ctxt, "build_instances", instance_uuids=instance_uuids, spec=spec)
