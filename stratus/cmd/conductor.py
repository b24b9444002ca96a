"""stratus-conductor: builds, reschedules, and the database proxy for compute nodes."""

from __future__ import annotations

from stratus import service
from stratus.rpc.conductor_rpcapi import TOPIC


def main(argv: list[str] | None = None) -> None:
    service.prepare(argv, "stratus-conductor")
    from stratus.conductor.manager import ConductorManager

    register, heartbeat = service.db_registration("stratus-conductor", TOPIC)
    service.RPCService("stratus-conductor", TOPIC, [ConductorManager()], register, heartbeat).run()


if __name__ == "__main__":
    main()
