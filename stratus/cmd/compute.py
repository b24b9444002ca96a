"""stratus-compute: runs instances on this host under libvirt (or the fake driver).

It holds no database credentials: every read and write goes through the conductor,
and any attempt to open the database in this process fails.
"""

from __future__ import annotations

from stratus import service
from stratus.conf import CONF
from stratus.db import session
from stratus.rpc.compute_rpcapi import TOPIC


def main(argv: list[str] | None = None) -> None:
    service.prepare(argv, "stratus-compute")
    session.forbid()
    from stratus.compute.manager import ComputeManager
    from stratus.compute.virt import load_driver

    manager = ComputeManager(load_driver(CONF, hostname=CONF.host))
    service.RPCService(
        "stratus-compute",
        TOPIC,
        [manager],
        manager.register,
        manager.heartbeat,
        periodic=manager.periodic_tasks(),
    ).run()


if __name__ == "__main__":
    main()
