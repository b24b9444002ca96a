"""Client of stratus-scheduler (topic ``scheduler``), used by the conductor."""

from __future__ import annotations

from typing import Any

from stratus.rpc import RPCAPI

TOPIC = "scheduler"


class SchedulerAPI(RPCAPI):
    """Version history:

    * 1.0 - select_destinations
    """

    TOPIC = TOPIC
    VERSION = "1.0"

    def select_destinations(
        self,
        ctxt: dict,
        request_spec: dict,
        instance_uuids: list[str],
        return_alternates: bool = True,
    ) -> dict[str, Any]:
        """Per instance a claimed primary host and its alternates, or ``{"error": ...}``."""
        return self._call(
            ctxt,
            "select_destinations",
            request_spec=request_spec,
            instance_uuids=instance_uuids,
            return_alternates=return_alternates,
        )
