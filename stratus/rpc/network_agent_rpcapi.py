"""Client of the stratus-network-agent services (topic ``network_agent``): one
agent per compute and network host, all told at once (fanout) that the desired
state of a network changed."""

from __future__ import annotations

from stratus.rpc import RPCAPI

TOPIC = "network_agent"


class NetworkAgentAPI(RPCAPI):
    """Version history:

    * 1.0 - network_changed (fanout)
    """

    TOPIC = TOPIC
    VERSION = "1.0"

    def network_changed(self, ctxt: dict, network_id: str) -> None:
        """The ports, subnets or segment of ``network_id`` changed: every agent
        fetches its desired state again (through the conductor) and reconciles."""
        self._cast(ctxt, "network_changed", fanout=True, network_id=network_id)
