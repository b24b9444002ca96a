"""stratus-network-agent: keeps this host's bridges, VXLAN devices and (on network
hosts, ``[network] dhcp_agent = true``) DHCP namespaces at their desired state.

Like stratus-compute it holds no database credentials: it reports the host and
reads its desired state through the conductor.
"""

from __future__ import annotations

from stratus import service
from stratus.conf import CONF
from stratus.db import session
from stratus.rpc.network_agent_rpcapi import TOPIC


def main(argv: list[str] | None = None) -> None:
    service.prepare(argv, "stratus-network-agent")
    session.forbid()
    service.start_privsep()
    from stratus.network.agent import AgentConfig
    from stratus.network.agent_manager import BINARY, NetworkAgentManager

    manager = NetworkAgentManager(
        CONF.host, AgentConfig.from_conf(CONF), dhcp=CONF.network.dhcp_agent
    )
    agent = service.RPCService(
        BINARY,
        TOPIC,
        [manager],
        manager.register,
        manager.heartbeat,
        periodic=[(CONF.network.agent_resync_interval, manager.resync)],
    )
    try:
        agent.run()
    finally:
        manager.stop()


if __name__ == "__main__":
    main()
