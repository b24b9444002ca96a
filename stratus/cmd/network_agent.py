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


def cleanup(argv: list[str] | None = None) -> None:
    """stratus-network-cleanup: remove everything this host's network agent made
    (bridges, VXLAN devices, DHCP namespaces with their dnsmasq, state files), as a
    reconcile to an empty state does. Run it with the agent stopped, as root; it
    needs neither the broker nor the database (the deployment's destroy runs it)."""
    service.prepare(argv, "stratus-network-cleanup")
    session.forbid()
    service.start_privsep()
    from stratus.network.agent import AgentConfig, NetworkAgent

    result = NetworkAgent(CONF.host, AgentConfig.from_conf(CONF)).reconcile(
        {"host": CONF.host, "vtep_ip": None, "networks": []}
    )
    for item in result.removed:
        print(f"removed {item}")
    if result.errors:
        raise SystemExit(f"cleanup failed: {result.errors}")


if __name__ == "__main__":
    main()
