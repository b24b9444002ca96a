"""Client of stratus-scheduler (topic ``scheduler``), used by the conductor."""

from __future__ import annotations

from typing import Any

from stratus import rpc
from stratus.conf import CONF

TOPIC = "scheduler"


class SchedulerAPI:
    def __init__(self) -> None:
        self._client = rpc.client(TOPIC, timeout=CONF.rpc.call_timeout)

    def select_destinations(
        self,
        ctxt: dict,
        request_spec: dict,
        instance_uuids: list[str],
        return_alternates: bool = True,
    ) -> dict[str, Any]:
        return self._client.prepare().call(
            ctxt,
            "select_destinations",
            request_spec=request_spec,
            instance_uuids=instance_uuids,
            return_alternates=return_alternates,
        )
