"""Two stratus-scheduler processes against one MariaDB, fed 500 concurrent requests
over RabbitMQ, on capacity so tight that only some fit: claims must never put a host
over its allocation ratio, and every allocation must belong to a request that won."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import oslo_messaging as messaging
import pytest
import sqlalchemy as sa

from stratus.db import migration
from stratus.db import services as db_services
from stratus.db.models import Allocation, ComputeNode
from stratus.db.session import create_engine
from tests.support.db import session_for
from tests.support.processes import ServiceProcess, entry_point_command
from tests.support.rabbitmq import messaging_conf

HOSTS = 12
VCPUS_PER_HOST = 3
CPU_RATIO = 1.0
REQUESTS = 500
FLAVOR = {
    "vcpus": 1,
    "memory_mb": 64,
    "root_gb": 1,
    "ephemeral_gb": 0,
    "swap": 0,
    "extra_specs": {},
    "name": "tiny",
    "flavorid": "tiny",
}


@pytest.fixture
def scheduler_db(mariadb, tmp_path: Path) -> str:
    url = mariadb.create_database("stratus_sched_race")
    engine = create_engine(url)
    migration.sync(engine)
    engine.dispose()
    with session_for(url) as session:
        for index in range(HOSTS):
            host = f"node{index:02d}"
            service = db_services.register(session, host, "stratus-compute", "compute")
            session.add(
                ComputeNode(
                    host=host,
                    hypervisor_hostname=host,
                    service_id=service.id,
                    vcpus=VCPUS_PER_HOST,
                    memory_mb=64 * 1024,
                    local_gb=1000,
                    cpu_allocation_ratio=CPU_RATIO,
                )
            )
    return url


def test_two_schedulers_never_oversubscribe(scheduler_db: str, rabbitmq, tmp_path: Path) -> None:
    schedulers = []
    for index in range(2):
        conf_path = tmp_path / f"scheduler{index}.conf"
        conf_path.write_text(
            f"[DEFAULT]\nhost = sched{index}\ndebug = true\n"
            f"transport_url = {rabbitmq.transport_url}\nservice_down_time = 3600\n"
            f"state_path = {tmp_path}\n[database]\nconnection = {scheduler_db}\n"
            # A long refresh interval makes each scheduler work from a stale view,
            # so the database claims are what keeps them honest.
            "[scheduler]\nhost_refresh_interval = 30\nclaim_retries = 50\n"
        )
        schedulers.append(
            ServiceProcess(
                entry_point_command("stratus-scheduler"),
                ["--config-file", str(conf_path)],
                name=f"scheduler-{index}",
                log_dir=tmp_path,
            )
        )
    for process in schedulers:
        process.start()
    try:
        transport = messaging.get_rpc_transport(messaging_conf(), url=rabbitmq.transport_url)
        client = messaging.get_rpc_client(
            transport, messaging.Target(exchange="stratus", topic="scheduler"), timeout=120
        )
        for process in schedulers:
            process.wait_for(
                lambda p=process: "listening on topic scheduler" in p.read_log(),
                timeout=60,
                description="scheduler listening",
            )
        spec = {"flavor": FLAVOR, "project_id": "p", "user_id": "u", "scheduler_hints": {}}
        winners: list[str] = []
        lock = threading.Lock()

        def request(_: int) -> bool:
            instance = str(uuid.uuid4())
            answer = client.prepare().call(
                {},
                "select_destinations",
                request_spec=spec,
                instance_uuids=[instance],
                return_alternates=True,
            )
            if "selections" in answer:
                with lock:
                    winners.append(instance)
                return True
            assert "No valid host" in answer["error"], answer
            return False

        with ThreadPoolExecutor(max_workers=32) as pool:
            results = list(pool.map(request, range(REQUESTS)))
        transport.cleanup()
    finally:
        for process in schedulers:
            process.stop()
    capacity = HOSTS * VCPUS_PER_HOST
    assert sum(results) == capacity
    engine = create_engine(scheduler_db)
    with engine.connect() as connection:
        nodes = connection.execute(sa.select(ComputeNode.__table__)).mappings().all()
        allocations = connection.execute(sa.select(Allocation.__table__)).mappings().all()
    engine.dispose()
    assert all(n["vcpus_used"] <= n["vcpus"] * CPU_RATIO for n in nodes)
    assert sum(n["vcpus_used"] for n in nodes) == capacity
    assert sorted(a["instance_uuid"] for a in allocations) == sorted(winners)
    per_node = {n["id"]: 0 for n in nodes}
    for allocation in allocations:
        per_node[allocation["compute_node_id"]] += allocation["vcpus"]
    assert all(per_node[n["id"]] == n["vcpus_used"] for n in nodes)
    # Both schedulers placed some of the winners.
    assert all("claimed " in p.read_log() for p in schedulers)
