"""Client of a stratus-compute service (topic ``compute``, server = its host)."""

from __future__ import annotations

from typing import Any

from stratus import rpc
from stratus.conf import CONF

TOPIC = "compute"


class ComputeAPI:
    def __init__(self) -> None:
        self._client = rpc.client(TOPIC, timeout=CONF.rpc.call_timeout)

    def cast(self, ctxt: dict, host: str, method: str, **kwargs: Any) -> None:
        self._client.prepare(server=host).cast(ctxt, method, **kwargs)

    def call(self, ctxt: dict, host: str, method: str, **kwargs: Any) -> Any:
        return self._client.prepare(server=host).call(ctxt, method, **kwargs)
