"""Atomic resource claims in the database.

A claim is one conditional UPDATE of the compute node's ``*_used`` columns that
succeeds only while the result stays within total × allocation ratio, plus the
instance's allocation row, in one transaction. Any number of scheduler or
conductor processes may claim at once: the database serialises the updates, so
no host can end up over its ratio.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from stratus.db.models import Allocation, ComputeNode


@dataclass(frozen=True)
class Resources:
    vcpus: int
    memory_mb: int
    disk_gb: int

    @classmethod
    def of_flavor(cls, flavor: dict) -> Resources:
        """What a flavor holds on a host: vCPUs, RAM, and root plus ephemeral disk."""
        return cls(
            int(flavor["vcpus"]),
            int(flavor["memory_mb"]),
            int(flavor.get("root_gb", 0)) + int(flavor.get("ephemeral_gb", 0)),
        )


def claim(
    session: Session,
    node_uuid: str,
    instance_uuid: str,
    resources: Resources,
    limits: dict[str, float],
) -> bool:
    """Claim ``resources`` on the node for ``instance_uuid`` if usage stays within
    ``limits`` (total x effective allocation ratio, as the scheduler's host state
    computes them); False when they no longer fit. The caller's transaction commits
    the usage and the allocation together."""
    node = ComputeNode.__table__.c
    result = session.execute(
        sa.update(ComputeNode.__table__)
        .where(
            node.uuid == node_uuid,
            node.vcpus_used + resources.vcpus <= limits["vcpu"],
            node.memory_mb_used + resources.memory_mb <= limits["memory_mb"],
            node.local_gb_used + resources.disk_gb <= limits["disk_gb"],
        )
        .values(
            vcpus_used=node.vcpus_used + resources.vcpus,
            memory_mb_used=node.memory_mb_used + resources.memory_mb,
            local_gb_used=node.local_gb_used + resources.disk_gb,
            running_vms=node.running_vms + 1,
            generation=node.generation + 1,
        )
    )
    if result.rowcount != 1:
        return False
    node_id = session.scalar(sa.select(ComputeNode.id).where(ComputeNode.uuid == node_uuid))
    session.add(
        Allocation(
            instance_uuid=instance_uuid,
            compute_node_id=node_id,
            vcpus=resources.vcpus,
            memory_mb=resources.memory_mb,
            disk_gb=resources.disk_gb,
        )
    )
    session.flush()
    return True


def release(session: Session, instance_uuid: str) -> int | None:
    """Give back what ``instance_uuid`` holds; returns the node id, or None when the
    instance held nothing (releasing twice is harmless)."""
    allocation = session.scalar(
        sa.select(Allocation).where(Allocation.instance_uuid == instance_uuid).with_for_update()
    )
    if allocation is None:
        return None
    deleted = session.execute(
        sa.delete(Allocation).where(Allocation.instance_uuid == instance_uuid)
    ).rowcount
    if deleted != 1:
        return None
    node = ComputeNode.__table__.c
    session.execute(
        sa.update(ComputeNode.__table__)
        .where(node.id == allocation.compute_node_id)
        .values(
            vcpus_used=node.vcpus_used - allocation.vcpus,
            memory_mb_used=node.memory_mb_used - allocation.memory_mb,
            local_gb_used=node.local_gb_used - allocation.disk_gb,
            running_vms=node.running_vms - 1,
            generation=node.generation + 1,
        )
    )
    return allocation.compute_node_id


def allocation_of(session: Session, instance_uuid: str) -> Allocation | None:
    return session.get(Allocation, instance_uuid)
