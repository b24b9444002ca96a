"""stratus-scheduler: chooses compute hosts for new servers."""

from __future__ import annotations

from stratus import service
from stratus.rpc.scheduler_rpcapi import TOPIC


def main(argv: list[str] | None = None) -> None:
    service.prepare(argv, "stratus-scheduler")
    from stratus.scheduler.manager import SchedulerManager

    register, heartbeat = service.db_registration("stratus-scheduler", TOPIC)
    service.RPCService("stratus-scheduler", TOPIC, [SchedulerManager()], register, heartbeat).run()


if __name__ == "__main__":
    main()
