"""stratus-compute: runs instances on this host under libvirt (or the fake driver).

It holds no database credentials: every read and write goes through the conductor,
and any attempt to open the database in this process fails.
"""

from __future__ import annotations

import os

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


def prepare_instances_path() -> None:
    """Create instances_path and its missing parents, mode 0711 (QEMU, its own
    user, passes through them; the service's umask would make them 0750).

    instances_path, the image cache and its lock directory belong to this
    service's user: those left by root (a compute service that ran as root, an
    operator's mkdir) are handed over through privsep; files stay as they are."""
    from stratus.compute import privileged
    from stratus.compute.virt.driver import INSTANCE_DIR_MODE

    missing = []
    path = os.path.abspath(CONF.compute.instances_path)
    while not os.path.exists(path):
        missing.append(path)
        path = os.path.dirname(path)
    for path in reversed(missing):
        os.makedirs(path, mode=INSTANCE_DIR_MODE, exist_ok=True)
        os.chmod(path, INSTANCE_DIR_MODE)
    uid, gid = os.geteuid(), os.getegid()
    if uid == 0:
        return
    base = os.path.join(CONF.compute.instances_path, CONF.compute.image_cache_subdirectory_name)
    for path in (CONF.compute.instances_path, base, os.path.join(base, "locks")):
        try:
            owner = os.stat(path).st_uid
        except FileNotFoundError:
            continue
        if owner != uid and privileged.adopt_dir(path, uid, gid):
            service.LOG.info("%s now belongs to uid %d", path, uid)


def main(argv: list[str] | None = None) -> None:
    service.prepare(argv, "stratus-compute")
    session.forbid()
    service.start_privsep()
    prepare_instances_path()
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
