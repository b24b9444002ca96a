"""stratus-compute: runs instances on this host under libvirt (or the fake driver).

It holds no database credentials: every read and write goes through the conductor,
and any attempt to open the database in this process fails.
"""

from __future__ import annotations

from stratus import service
from stratus.conf import CONF
from stratus.db import session
from stratus.rpc.compute_rpcapi import TOPIC


def node_names() -> list[str]:
    """One node named ``[DEFAULT] host``; with the fake driver and
    ``[compute] fake_node_count`` N > 1, N nodes ``<host>-000`` ... in this process."""
    count = CONF.compute.fake_node_count if CONF.compute.compute_driver == "fake" else 1
    if count <= 1:
        return [CONF.host]
    return [f"{CONF.host}-{index:03d}" for index in range(count)]


def main(argv: list[str] | None = None) -> None:
    service.prepare(argv, "stratus-compute")
    session.forbid()
    service.start_privsep()
    from stratus.compute.manager import ComputeManager
    from stratus.compute.virt import load_driver

    services = []
    for host in node_names():
        manager = ComputeManager(load_driver(CONF, hostname=host), host=host)
        services.append(
            service.RPCService(
                "stratus-compute",
                TOPIC,
                [manager],
                manager.register,
                manager.heartbeat,
                periodic=manager.periodic_tasks(),
                host=host,
            )
        )
    service.run_all(services)


if __name__ == "__main__":
    main()
