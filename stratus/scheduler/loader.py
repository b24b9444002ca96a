"""Builds the scheduler's host records from the database."""

from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa
from sqlalchemy.orm import Session

from stratus.db import aggregates as db_aggregates
from stratus.db import services as db_services
from stratus.db.models import ComputeNode, Instance, Service, utcnow
from stratus.scheduler.host_record import Aggregate, HostRecord


def load_hosts(session: Session) -> list[HostRecord]:
    """Every compute node with its service state, aggregates and instances."""
    now = utcnow()
    aggregates_by_host = {
        host: [Aggregate.from_dict(a) for a in found]
        for host, found in db_aggregates.aggregates_by_host(session).items()
    }
    instances_by_host: dict[str, dict[str, str | None]] = defaultdict(dict)
    for uuid, host, project_id in session.execute(
        sa.select(Instance.uuid, Instance.host, Instance.project_id).where(
            Instance.deleted.is_(False), Instance.host.is_not(None)
        )
    ):
        instances_by_host[host][uuid] = project_id
    records = []
    rows = session.execute(
        sa.select(ComputeNode, Service).outerjoin(Service, Service.id == ComputeNode.service_id)
    )
    for node, service in rows:
        zones = [
            a.metadata["availability_zone"]
            for a in aggregates_by_host.get(node.host, [])
            if "availability_zone" in a.metadata
        ]
        records.append(
            HostRecord(
                host=node.host,
                nodename=node.hypervisor_hostname,
                uuid=node.uuid,
                vcpus=node.vcpus,
                vcpus_used=node.vcpus_used,
                memory_mb=node.memory_mb,
                memory_mb_used=node.memory_mb_used,
                local_gb=node.local_gb,
                local_gb_used=node.local_gb_used,
                disk_available_least=node.disk_available_least,
                cpu_allocation_ratio=node.cpu_allocation_ratio,
                ram_allocation_ratio=node.ram_allocation_ratio,
                disk_allocation_ratio=node.disk_allocation_ratio,
                service_up=service is not None and db_services.is_up(service, now),
                service_disabled=service is None or service.disabled,
                availability_zone=zones[0] if zones else None,
                aggregates=aggregates_by_host.get(node.host, []),
                hypervisor_type=node.hypervisor_type,
                hypervisor_version=node.hypervisor_version,
                cpu_info=node.cpu_info or {},
                arch=node.arch,
                capabilities=node.capabilities or {},
                num_instances=None,
                num_io_ops=node.num_io_ops,
                host_ip=node.host_ip,
                instances=instances_by_host[node.host],
                failed_builds=node.failed_builds,
            )
        )
    return records
