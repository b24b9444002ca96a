"""What a compute request means, between the HTTP handlers and RPC: looking up and
recording instances, quota checks, state and lock checks, the calls to the
conductor and compute services, key pairs and server groups. Errors are the domain's
(``stratus.exception``)."""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import sqlalchemy as sa
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, lazyload, load_only

from stratus import exception
from stratus.compute import networks as compute_networks
from stratus.compute import states
from stratus.conf import CONF
from stratus.db import flavors as db_flavors
from stratus.db import images as db_images
from stratus.db import instances as db_instances
from stratus.db import quotas as db_quotas
from stratus.db import server_groups as db_server_groups
from stratus.db import services as db_services
from stratus.db.models import (
    Image,
    Instance,
    InstanceAction,
    InstanceFault,
    InstanceMetadata,
    KeyPair,
    ServerGroup,
    Service,
    utcnow,
)
from stratus.db.session import transaction
from stratus.rpc.compute_rpcapi import ComputeAPI
from stratus.rpc.conductor_rpcapi import ConductorAPI
from stratus.scheduler import claims

MAX_CONSOLE_LENGTH = 10_000
INSTANCE_QUOTAS = ("instances", "cores", "ram")

# The API's status filter -> (vm_state, task_state or None for any).
STATUS_FILTERS = {
    "ACTIVE": (states.ACTIVE, None),
    "BUILD": (states.BUILDING, None),
    "SHUTOFF": (states.STOPPED, None),
    "PAUSED": (states.PAUSED, None),
    "SUSPENDED": (states.SUSPENDED, None),
    "ERROR": (states.ERROR, None),
    "DELETED": (states.DELETED, None),
    "REBOOT": (states.ACTIVE, states.REBOOTING),
    "HARD_REBOOT": (states.ACTIVE, states.REBOOTING_HARD),
}
SORT_KEYS = {
    "created_at": Instance.created_at,
    "display_name": Instance.display_name,
    "updated_at": Instance.updated_at,
    "uuid": Instance.uuid,
    "vm_state": Instance.vm_state,
    "task_state": Instance.task_state,
    "power_state": Instance.power_state,
    "host": Instance.host,
    "launched_at": Instance.launched_at,
    "availability_zone": Instance.availability_zone,
    "hostname": Instance.hostname,
    "key_name": Instance.key_name,
    "project_id": Instance.project_id,
    "user_id": Instance.user_id,
    "memory_mb": Instance.memory_mb,
    "vcpus": Instance.vcpus,
    "root_gb": Instance.root_gb,
}


class Context(Protocol):
    """Who asks: the request context's fields this layer reads."""

    user_id: str
    project_id: str | None
    roles: list[str]
    request_id: str

    @property
    def is_admin(self) -> bool: ...


def rpc_context(context: Context, auth_token: str | None = None) -> dict[str, Any]:
    """What travels with an RPC message: who asked, and their token (to fetch images)."""
    return {
        "request_id": context.request_id,
        "user_id": context.user_id,
        "project_id": context.project_id,
        "roles": context.roles,
        "auth_token": auth_token,
    }


@dataclass
class ServerQuery:
    """A server listing: filters, order and page, as the caller gave them."""

    project_id: str | None  # None: every project
    deleted: bool = False
    changes_since: dt.datetime | None = None
    statuses: list[str] = field(default_factory=list)
    host: str | None = None
    image: str | None = None
    reservation_id: str | None = None
    name: str | None = None  # a regular expression
    flavor: str | None = None
    ip: str | None = None  # a regular expression over the fixed addresses
    sort_key: str = "created_at"
    sort_dir: str = "desc"
    marker: str | None = None
    limit: int = 1000


@dataclass
class ServerPage:
    """One page of a listing; ``faults`` and ``host_statuses`` when asked for."""

    instances: list[Instance]
    more: bool = False
    faults: dict[str, InstanceFault | None] = field(default_factory=dict)
    host_statuses: dict[str, str] = field(default_factory=dict)


@dataclass
class ServerDetails:
    instance: Instance
    fault: InstanceFault | None
    groups: list[str]
    host_statuses: dict[str, str]


def _instance_quotas_limited(limits: dict[str, int]) -> bool:
    """Whether any of the instances, cores and RAM quotas is limited (not -1): only
    then is the project's usage worth counting."""
    return any(limits[r] >= 0 for r in INSTANCE_QUOTAS)


def _fault_shown(session: Session, instance: Instance) -> InstanceFault | None:
    """The fault that a server view shows: the latest, of an ERROR or DELETED server."""
    if instance.vm_state not in (states.ERROR, states.DELETED):
        return None
    return db_instances.latest_fault(session, instance.uuid)


def _host_statuses(session: Session, instances: Sequence[Instance]) -> dict[str, str]:
    """Nova's ``host_status`` of the instances' hosts (one query for a whole list):
    UP, DOWN, MAINTENANCE (disabled) or UNKNOWN."""
    hosts = {i.host for i in instances if i.host}
    statuses = dict.fromkeys(hosts, "UNKNOWN")
    if hosts:
        services = session.scalars(
            sa.select(Service)
            .where(Service.host.in_(hosts), Service.binary == db_services.COMPUTE_BINARY)
            .order_by(Service.id.desc())
        )
        for service in services:  # the oldest service of a host is the one that counts
            if not db_services.is_up(service):
                statuses[service.host] = "DOWN"
            else:
                statuses[service.host] = "MAINTENANCE" if service.disabled else "UP"
    return statuses


def _check_lock(context: Context, instance: Instance) -> None:
    if instance.locked and not context.is_admin:
        raise exception.InstanceLocked(instance.uuid)


class API:
    """The compute API: one object per process, used by the HTTP handlers."""

    @functools.cached_property
    def compute_rpcapi(self) -> ComputeAPI:
        return ComputeAPI()

    @functools.cached_property
    def conductor_rpcapi(self) -> ConductorAPI:
        return ConductorAPI()

    # --- reading ----------------------------------------------------------------------

    def _get(self, session: Session, context: Context, server_id: str) -> Instance:
        instance = db_instances.get(session, server_id)
        if instance is None or (instance.project_id != context.project_id and not context.is_admin):
            raise exception.InstanceNotFound(server_id)
        return instance

    def get(self, context: Context, server_id: str) -> Instance:
        """The instance, if the caller's project may see it; InstanceNotFound if not."""
        with transaction() as session:
            return self._get(session, context, server_id)

    def show(self, context: Context, server_id: str, host_status: bool = False) -> ServerDetails:
        """The instance with what its view shows: the fault, its server groups and,
        if asked, the status of its host."""
        with transaction() as session:
            instance = self._get(session, context, server_id)
            group = db_server_groups.group_for_instance(session, instance.uuid)
            return ServerDetails(
                instance,
                _fault_shown(session, instance),
                [group.uuid] if group else [],
                _host_statuses(session, [instance]) if host_status else {},
            )

    def host_statuses(self, instances: Sequence[Instance]) -> dict[str, str]:
        with transaction() as session:
            return _host_statuses(session, instances)

    def get_all(
        self, query: ServerQuery, detail: bool = False, host_status: bool = False
    ) -> ServerPage:
        """A page of the servers ``query`` selects; Invalid names a bad parameter."""
        stmt = sa.select(Instance)
        if query.project_id is not None:
            stmt = stmt.where(Instance.project_id == query.project_id)
        stmt = stmt.where(Instance.deleted.is_(bool(query.deleted)))
        if query.changes_since is not None:
            stmt = db_instances.changed_since(stmt, query.changes_since)
            stmt = stmt.where(sa.or_(Instance.deleted.is_(False), Instance.deleted.is_(True)))
        # As in Nova, `status` may be given more than once: servers in any of them.
        if query.statuses:
            wanted = [STATUS_FILTERS[s] for s in query.statuses if s in STATUS_FILTERS]
            if not wanted:
                return ServerPage([])
            stmt = stmt.where(
                sa.or_(
                    *(
                        sa.and_(
                            Instance.vm_state == vm_state,
                            Instance.task_state == task_state if task_state else sa.true(),
                        )
                        for vm_state, task_state in wanted
                    )
                )
            )
        if query.host:
            stmt = stmt.where(Instance.host == query.host)
        if query.image:
            stmt = stmt.where(Instance.image_ref == query.image.rstrip("/").rsplit("/", 1)[-1])
        if query.reservation_id:
            stmt = stmt.where(Instance.reservation_id == query.reservation_id)
        if query.sort_key not in SORT_KEYS:
            raise exception.Invalid(
                f"Invalid sort_key '{query.sort_key}': use one of {', '.join(sorted(SORT_KEYS))}."
            )
        if query.sort_dir not in ("asc", "desc"):
            raise exception.Invalid(f"Invalid sort_dir '{query.sort_dir}': use asc or desc.")
        column = SORT_KEYS[query.sort_key]
        descending = query.sort_dir == "desc"
        stmt = stmt.order_by(
            column.desc() if descending else column.asc(),
            Instance.id.desc() if descending else Instance.id.asc(),
        )
        name_re = None
        if query.name:
            try:
                name_re = re.compile(query.name)
            except re.error as exc:
                raise exception.Invalid(f"Invalid regular expression in 'name': {exc}.") from None
        if not detail:
            # A summary shows the id and name: the large JSON columns stay unread.
            stmt = stmt.options(
                load_only(
                    Instance.id,
                    Instance.uuid,
                    Instance.display_name,
                    Instance.flavor,
                    Instance.network_info,
                ),
                lazyload(Instance.metadata_items),
            )
        with transaction() as session:
            rows = list(session.scalars(stmt))
            if name_re:
                rows = [r for r in rows if name_re.search(r.display_name)]
            if query.flavor:
                rows = [r for r in rows if r.flavor.get("flavorid") == query.flavor]
            if query.ip:
                rows = compute_networks.with_address(rows, query.ip)
            if query.marker:
                ids = [r.uuid for r in rows]
                if query.marker not in ids:
                    raise exception.Invalid(f"marker [{query.marker}] not found")
                rows = rows[ids.index(query.marker) + 1 :]
            page = ServerPage(rows[: query.limit], more=len(rows) > query.limit)
            if detail:
                page.faults = {r.uuid: _fault_shown(session, r) for r in page.instances}
                if host_status:
                    page.host_statuses = _host_statuses(session, page.instances)
        return page

    def get_instance_actions(self, context: Context, instance: Instance) -> list[InstanceAction]:
        with transaction() as session:
            return db_instances.actions(session, instance.uuid)

    def get_instance_action(
        self, context: Context, instance: Instance, request_id: str
    ) -> InstanceAction:
        with transaction() as session:
            action = db_instances.action(session, instance.uuid, request_id)
            if action is None:
                raise exception.NotFound(
                    f"Action {request_id} on instance {instance.uuid} could not be found."
                )
            return action

    # --- create -----------------------------------------------------------------------

    def _flavor(self, session: Session, context: Context, ref: str | int) -> dict[str, Any]:
        flavorid = str(ref).rstrip("/").rsplit("/", 1)[-1]
        flavor = db_flavors.get(session, flavorid)
        if flavor is None or not db_flavors.visible(flavor, context.project_id, context.is_admin):
            raise exception.Invalid(f"Flavor {flavorid} could not be found.")
        if flavor.disabled:
            raise exception.Invalid(f"Flavor {flavorid} is disabled.")
        return {
            "flavorid": flavor.flavorid,
            "name": flavor.name,
            "vcpus": flavor.vcpus,
            "memory_mb": flavor.memory_mb,
            "root_gb": flavor.root_gb,
            "ephemeral_gb": flavor.ephemeral_gb,
            "swap": flavor.swap,
            "extra_specs": {s.key: s.value for s in flavor.extra_specs},
        }

    def _image(
        self, session: Session, context: Context, image_ref: str, flavor: dict[str, Any]
    ) -> dict[str, Any]:
        image_id = image_ref.rstrip("/").rsplit("/", 1)[-1]
        image = session.get(Image, image_id, options=[lazyload(Image.tags)])
        if image is None or not db_images.visible(image, context.project_id, context.is_admin):
            raise exception.Invalid(f"Image {image_id} could not be found.")
        if image.status != "active":
            raise exception.Invalid(f"Image {image_id} is not active (status {image.status}).")
        if flavor["memory_mb"] < image.min_ram:
            raise exception.Invalid(
                f"Flavor's memory is too small for requested image: the image "
                f"needs {image.min_ram} MiB."
            )
        if flavor["root_gb"] and flavor["root_gb"] * 1024**3 < (image.size or 0):
            raise exception.Invalid("Flavor's disk is too small for requested image.")
        if flavor["root_gb"] and flavor["root_gb"] < image.min_disk:
            raise exception.Invalid(
                "Flavor's disk is too small for requested image: the image needs "
                f"{image.min_disk} GiB."
            )
        return db_images.boot_meta(image)

    def _check_zone(self, session: Session, zone: str | None) -> None:
        if zone:
            known = set(db_services.host_zones(session).values()) | {CONF.default_availability_zone}
            known = {name for value in known for name in value.split(",")}
            if zone not in known:
                raise exception.Invalid(
                    f"The requested availability zone is not available: {zone}."
                )

    def _key_data(self, session: Session, context: Context, key_name: str | None) -> str | None:
        if not key_name:
            return None
        key = session.scalar(
            sa.select(KeyPair).where(KeyPair.user_id == context.user_id, KeyPair.name == key_name)
        )
        if key is None:
            raise exception.Invalid(
                f"Invalid key_name provided: key pair {key_name} could not be found."
            )
        return key.public_key

    def _check_quota(
        self,
        session: Session,
        context: Context,
        limits: dict[str, int],
        flavor: dict,
        min_count: int,
        max_count: int,
    ) -> int:
        """How many servers may be created (at most ``max_count``); OverQuota below
        ``min_count``."""
        per_server = {"instances": 1, "cores": flavor["vcpus"], "ram": flavor["memory_mb"]}
        allowed = max_count
        for scope_limits, used in self._quota_scopes(session, context, limits):
            for resource, each in per_server.items():
                limit = scope_limits[resource]
                if limit < 0 or each == 0:
                    continue
                fits = max(0, (limit - used[resource]) // each)
                if fits < min_count:
                    raise exception.OverQuota(
                        f"Quota exceeded for {resource}: Requested {each * min_count}, but "
                        f"already used {used[resource]} of {limit} {resource}"
                    )
                allowed = min(allowed, fits)
        return allowed

    def _quota_scopes(
        self, session: Session, context: Context, limits: dict[str, int]
    ) -> list[tuple[dict[str, int], dict[str, int]]]:
        """The limits that bind a create and the usage each is counted against: the
        project's, and the user's own within the project where it has any (as Nova's
        per-user quotas). Usage is counted only for a scope with a limited instance quota."""
        scopes = []
        if _instance_quotas_limited(limits):
            scopes.append((limits, db_quotas.instance_usage(session, context.project_id)))
        mine = db_quotas.user_limits(session, context.project_id, context.user_id, limits)
        if mine != limits and _instance_quotas_limited(mine):
            used = db_quotas.instance_usage(session, context.project_id, context.user_id)
            scopes.append((mine, used))
        return scopes

    def _group(
        self, session: Session, context: Context, group_uuid: str, adding: int
    ) -> ServerGroup:
        group = db_server_groups.get(session, group_uuid)
        if group is None or (group.project_id != context.project_id and not context.is_admin):
            raise exception.Invalid(
                f"Invalid scheduler hint 'group': server group {group_uuid} could not be found."
            )
        db_server_groups.check_group_members(session, group, adding)
        return group

    def _recheck_quota(
        self, context: Context, limits: dict[str, int], created: list[Instance]
    ) -> None:
        """Two requests may pass the check at once; the later one gives its servers back."""
        with transaction() as session:
            over = [
                r
                for scope_limits, used in self._quota_scopes(session, context, limits)
                for r in INSTANCE_QUOTAS
                if 0 <= scope_limits[r] < used[r]
            ]
            for instance in created if over else ():
                db_instances.soft_delete(session, instance.uuid)
        if over:
            raise exception.OverQuota(
                f"Quota exceeded for {', '.join(over)} by concurrent requests."
            )

    def create(
        self,
        context: Context,
        *,
        name: str,
        flavor_ref: str | int,
        image_ref: str,
        min_count: int = 1,
        max_count: int = 1,
        availability_zone: str | None = None,
        forced_host: str | None = None,
        metadata: dict[str, str] | None = None,
        key_name: str | None = None,
        description: str | None = None,
        hostname: str | None = None,
        user_data: str | None = None,
        tags: list[str] | None = None,
        scheduler_hints: dict[str, Any] | None = None,
        auth_token: str | None = None,
        networks: str | list[dict[str, Any]] | None = "none",
        access_ip_v4: str | None = None,
        access_ip_v6: str | None = None,
        security_groups: list[str] | None = None,
        config_drive: bool = False,
    ) -> tuple[list[Instance], str]:
        """Record the instances (``BUILD``, task ``scheduling``) as many as the quota
        lets between ``min_count`` and ``max_count``, and hand them to the conductor.
        Returns the instances and their reservation id."""
        metadata = metadata or {}
        hints = scheduler_hints or {}
        reservation_id = f"r-{uuid.uuid4().hex[:8]}"
        groups = compute_networks.resolve_security_groups(context, security_groups)
        requested_networks = compute_networks.resolve(context, networks, max_count, groups)
        with transaction() as session:
            flavor = self._flavor(session, context, flavor_ref)
            image = self._image(session, context, image_ref, flavor)
            self._check_zone(session, availability_zone)
            key_data = self._key_data(session, context, key_name)
            limits = db_quotas.limits(session, context.project_id)
            metadata_limit = limits["metadata_items"]
            if 0 <= metadata_limit < len(metadata):
                raise exception.OverQuota(
                    f"Quota exceeded for metadata_items: {len(metadata)} items "
                    f"requested, the limit is {metadata_limit}."
                )
            count = self._check_quota(session, context, limits, flavor, min_count, max_count)
            group = (
                self._group(session, context, hints["group"], count) if hints.get("group") else None
            )
            spec = {
                "flavor": flavor,
                "image": image,
                "availability_zone": availability_zone,
                "scheduler_hints": hints,
                "force_hosts": [forced_host] if forced_host else [],
                "user_data": user_data,
                "tags": tags or [],
                # The names server bodies show; the ports get the groups' ids.
                "security_groups": [g["name"] for g in groups] if groups else ["default"],
                "project_id": context.project_id,
                "user_id": context.user_id,
                "num_instances": count,
                "networks": requested_networks,
                # What the guest's metadata (config drive) is made of at build time.
                "metadata": metadata,
                "config_drive": bool(config_drive or CONF.compute.force_config_drive),
            }
            created = []
            for index in range(count):
                display_name = name if count == 1 else f"{name}-{index + 1}"
                instance = Instance(
                    uuid=str(uuid.uuid4()),
                    project_id=context.project_id,
                    user_id=context.user_id,
                    display_name=display_name,
                    display_description=description,
                    hostname=_hostname(hostname, display_name, count),
                    access_ip_v4=access_ip_v4,
                    access_ip_v6=access_ip_v6,
                    vm_state=states.BUILDING,
                    task_state=states.SCHEDULING,
                    power_state=states.NOSTATE,
                    flavor=flavor,
                    image_ref=image["id"],
                    kernel_id=image["properties"].get("kernel_id"),
                    ramdisk_id=image["properties"].get("ramdisk_id"),
                    vcpus=flavor["vcpus"],
                    memory_mb=flavor["memory_mb"],
                    root_gb=flavor["root_gb"],
                    ephemeral_gb=flavor["ephemeral_gb"],
                    availability_zone=availability_zone,
                    key_name=key_name,
                    key_data=key_data,
                    launch_index=index,
                    reservation_id=reservation_id,
                    request_spec=spec,
                    metadata_items=[InstanceMetadata(key=k, value=v) for k, v in metadata.items()],
                )
                session.add(instance)
                session.flush()
                if group is not None:
                    db_server_groups.add_members(session, group, [instance.uuid])
                db_instances.start_action(
                    session,
                    instance.uuid,
                    "create",
                    context.request_id,
                    context.user_id,
                    context.project_id,
                )
                created.append(instance)
        self._recheck_quota(context, limits, created)
        self.conductor_rpcapi.build_instances(
            rpc_context(context, auth_token), [i.uuid for i in created], spec
        )
        return created, reservation_id

    # --- changes ----------------------------------------------------------------------

    def update(self, context: Context, instance: Instance, values: dict[str, Any]) -> Instance:
        """Change the instance's columns ``values`` (name, description, access IPs,
        host name)."""
        if not values:
            return instance
        with transaction() as session:
            updated = db_instances.update(session, instance.uuid, values)
            updated.metadata_items  # noqa: B018 - loaded now: views read it after the session
            return updated

    def delete(self, context: Context, instance: Instance) -> None:
        """Delete through the instance's compute service; locally (as Nova does) when
        it has no host or its compute service is down."""
        _check_lock(context, instance)
        with transaction() as session:
            db_instances.start_action(
                session,
                instance.uuid,
                "delete",
                context.request_id,
                context.user_id,
                context.project_id,
            )
            host = instance.host
            compute_up = False
            if host:
                services = db_services.list_services(session, host, db_services.COMPUTE_BINARY)
                compute_up = bool(services) and db_services.is_up(services[0])
            if not compute_up:
                claims.release(session, instance.uuid)
                db_instances.soft_delete(session, instance.uuid)
                # Read after the delete, not before: ports that a build recorded
                # meanwhile are this delete's to release.
                vifs = session.scalar(
                    sa.select(Instance.network_info).where(Instance.uuid == instance.uuid)
                )
            else:
                db_instances.update(session, instance.uuid, {"task_state": states.DELETING})
        if not compute_up:
            compute_networks.release(instance.project_id, vifs or [])
            return
        self.compute_rpcapi.terminate_instance(
            rpc_context(context), host, instance_uuid=instance.uuid
        )

    def run_action(
        self, context: Context, instance: Instance, action: str, requested: str | None = None
    ) -> None:
        """Start power action ``action`` (a key of ``states.TRANSITIONS``) if the
        instance's state allows it, and ask its compute service to run it.
        ``requested`` is how the caller named the action, for the error message."""
        transition = states.TRANSITIONS[action]
        _check_lock(context, instance)
        with transaction() as session:
            if not db_instances.start_task(
                session, instance.uuid, transition.allowed, transition.task
            ):
                current = db_instances.get(session, instance.uuid) or instance
                raise exception.InstanceInvalidState(
                    instance.uuid, requested or action, current.vm_state, current.task_state
                )
            db_instances.start_action(
                session,
                instance.uuid,
                action.split("_")[0],
                context.request_id,
                context.user_id,
                context.project_id,
            )
        self.compute_rpcapi.run_action(
            rpc_context(context), instance.host, instance_uuid=instance.uuid, action=action
        )

    def reset_state(self, context: Context, instance: Instance, state: str) -> None:
        """os-resetState: force vm_state to ``state`` (``active`` or ``error``) with no
        task running, whatever the instance was doing, as the state machine's reset
        rule says."""
        values = states.reset(state)
        with transaction() as session:
            db_instances.update(session, instance.uuid, values)
            db_instances.start_action(
                session,
                instance.uuid,
                "resetState",
                context.request_id,
                context.user_id,
                context.project_id,
            )

    def get_diagnostics(self, context: Context, instance: Instance) -> dict[str, Any]:
        """Nova's standard diagnostics of the guest, read by its compute host, with the
        uptime since the server was launched."""
        if not instance.host or instance.vm_state == states.BUILDING:
            raise exception.Conflict(
                f"Cannot get diagnostics of instance {instance.uuid} while it is "
                f"{instance.vm_state} (it has no guest on a host yet)."
            )
        diagnostics = self.compute_rpcapi.get_diagnostics(
            rpc_context(context), instance.host, instance_uuid=instance.uuid
        )
        if diagnostics is None:
            raise exception.Conflict(
                f"Cannot get diagnostics of instance {instance.uuid}: the hypervisor of "
                f"host {instance.host} has no guest for it."
            )
        if diagnostics.get("uptime") is None and instance.launched_at is not None:
            diagnostics["uptime"] = int((utcnow() - instance.launched_at).total_seconds())
        return diagnostics

    def get_console_output(
        self, context: Context, instance: Instance, length: int | None = None
    ) -> str:
        """The last ``length`` lines (all up to MAX_CONSOLE_LENGTH when None or 0) of
        the guest's serial console."""
        if not instance.host:
            raise exception.Conflict(
                f"Instance {instance.uuid} has no console output yet: it is not on a host."
            )
        return self.compute_rpcapi.get_console_output(
            rpc_context(context),
            instance.host,
            instance_uuid=instance.uuid,
            length=min(length or MAX_CONSOLE_LENGTH, MAX_CONSOLE_LENGTH),
        )

    def lock(self, context: Context, instance: Instance, reason: str | None = None) -> None:
        values = {
            "locked": True,
            "locked_by": "admin" if context.is_admin else "owner",
            "locked_reason": reason,
        }
        self._set_lock(context, instance, "lock", values)

    def unlock(self, context: Context, instance: Instance) -> None:
        """Only an admin unlocks a server that an admin locked."""
        if instance.locked_by == "admin" and not context.is_admin:
            raise exception.Forbidden("The server was locked by an administrator.")
        values = {"locked": False, "locked_by": None, "locked_reason": None}
        self._set_lock(context, instance, "unlock", values)

    def _set_lock(
        self, context: Context, instance: Instance, action: str, values: dict[str, Any]
    ) -> None:
        with transaction() as session:
            db_instances.update(session, instance.uuid, values)
            db_instances.start_action(
                session,
                instance.uuid,
                action,
                context.request_id,
                context.user_id,
                context.project_id,
            )

    # --- metadata ---------------------------------------------------------------------

    def update_metadata(
        self, context: Context, instance: Instance, items: dict[str, str], replace: bool = False
    ) -> dict[str, str]:
        """Merge ``items`` into the metadata (or replace it) within the project's
        metadata_items quota; the resulting metadata."""
        _check_lock(context, instance)
        with transaction() as session:
            instance = self._get(session, context, instance.uuid)
            merged = items if replace else {**_metadata(instance), **items}
            limit = db_quotas.limits(session, instance.project_id)["metadata_items"]
            if 0 <= limit < len(merged):
                raise exception.OverQuota(
                    f"Quota exceeded for metadata_items: {len(merged)} items, the limit is {limit}."
                )
            db_instances.set_metadata(instance, items, replace=replace)
            session.flush()
            return _metadata(instance)

    def delete_metadata_item(self, context: Context, instance: Instance, key: str) -> None:
        with transaction() as session:
            instance = self._get(session, context, instance.uuid)
            metadata = _metadata(instance)
            if key not in metadata:
                raise exception.NotFound(f"Metadata item {key} was not found.")
            del metadata[key]
            db_instances.set_metadata(instance, metadata, replace=True)


def _hostname(requested: str | None, display_name: str, count: int) -> str:
    """The guest's host name: the one asked for (already validated) when one server is
    created, else one made from the display name."""
    if requested and count == 1:
        return requested
    return re.sub(r"[^a-z0-9-]+", "-", (requested or display_name).lower())[:63]


def _metadata(instance: Instance) -> dict[str, str]:
    return {m.key: m.value for m in instance.metadata_items}


def _colon_hex(digest: str) -> str:
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def fingerprint(public_key: str, key_type: str = "ssh") -> str:
    """The fingerprint Nova shows, checking the key parses first: MD5 of an OpenSSH
    public key, SHA-1 of an x509 certificate."""
    if key_type == "x509":
        try:
            cert = x509.load_pem_x509_certificate(public_key.strip().encode())
        except ValueError:
            raise exception.Invalid(
                "Keypair data is invalid: the public key is not a PEM x509 certificate."
            ) from None
        return _colon_hex(cert.fingerprint(hashes.SHA1()).hex())  # noqa: S303 - Nova's format
    try:
        serialization.load_ssh_public_key(public_key.strip().encode())
        blob = base64.b64decode(public_key.split()[1])
    except (ValueError, IndexError, TypeError, UnsupportedAlgorithm):
        raise exception.Invalid(
            "Keypair data is invalid: the public key is not a valid OpenSSH "
            "ed25519, RSA or ECDSA key."
        ) from None
    return _colon_hex(hashlib.md5(blob).hexdigest())  # noqa: S324 - Nova's fingerprint format


def _new_rsa_key() -> tuple[rsa.RSAPrivateKey, str]:
    """A new RSA 2048 key and its PEM (the traditional RSA format Nova returns)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    return key, private


def generate_ssh_key() -> tuple[str, str]:
    """A new RSA 2048 key pair, as Nova generates one: (OpenSSH public key, PEM
    private key)."""
    key, private = _new_rsa_key()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    return f"{public} Generated-by-Stratus", private


def generate_x509_key(user_id: str) -> tuple[str, str]:
    """A new self-signed x509 certificate for ``user_id`` (RSA 2048, ten years), as Nova
    generates one for an x509 key pair: (PEM certificate, PEM private key)."""
    key, private = _new_rsa_key()
    # X.509 allows a common name of at most 64 (cryptography counts UTF-8 bytes); a user
    # id may be longer (up to 255 characters), so the name carries what fits of it.
    common_name = user_id.encode()[:64].decode(errors="ignore")
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode(), private


class KeypairAPI:
    """Key pairs of a user, imported or generated, within the key_pairs quota."""

    def generate(
        self, context: Context, user_id: str, name: str, key_type: str
    ) -> tuple[KeyPair, str]:
        """Generate a key pair (an x509 certificate for type x509) and keep its public
        half; the key pair and its private key (which Stratus does not keep)."""
        public, private = generate_x509_key(user_id) if key_type == "x509" else generate_ssh_key()
        return self.create(context, user_id, name, public, key_type), private

    def create(
        self, context: Context, user_id: str, name: str, public_key: str, key_type: str
    ) -> KeyPair:
        with transaction() as session:
            limit = db_quotas.limits(session, context.project_id)["key_pairs"]
            count = session.scalar(
                sa.select(sa.func.count(KeyPair.id)).where(KeyPair.user_id == user_id)
            )
            if 0 <= limit <= count:
                raise exception.OverQuota(f"Quota exceeded for key_pairs: the limit is {limit}.")
            key = KeyPair(
                name=name,
                user_id=user_id,
                public_key=public_key.strip(),
                fingerprint=fingerprint(public_key, key_type),
                type=key_type,
            )
            session.add(key)
            try:
                session.flush()
            except IntegrityError:
                raise exception.Conflict(f"Key pair '{name}' already exists.") from None
            return key

    def get_all(self, user_id: str) -> list[KeyPair]:
        with transaction() as session:
            return list(
                session.scalars(
                    sa.select(KeyPair).where(KeyPair.user_id == user_id).order_by(KeyPair.name)
                )
            )

    def _get(self, session: Session, context: Context, user_id: str, name: str) -> KeyPair:
        key = session.scalar(
            sa.select(KeyPair).where(KeyPair.user_id == user_id, KeyPair.name == name)
        )
        if key is None:
            raise exception.NotFound(f"Keypair {name} not found for user {context.user_id}.")
        return key

    def get(self, context: Context, user_id: str, name: str) -> KeyPair:
        with transaction() as session:
            return self._get(session, context, user_id, name)

    def delete(self, context: Context, user_id: str, name: str) -> None:
        with transaction() as session:
            session.delete(self._get(session, context, user_id, name))


class ServerGroupAPI:
    """Server groups of a project, within its server_groups quota."""

    def create(
        self, context: Context, name: str, policy: str, rules: dict[str, Any]
    ) -> ServerGroup:
        with transaction() as session:
            return db_server_groups.create(
                session,
                project_id=context.project_id,
                user_id=context.user_id,
                name=name,
                policy=policy,
                rules=rules,
            )

    def get_all(
        self, project_id: str | None, limit: int | None = None, offset: int = 0
    ) -> list[tuple[ServerGroup, list[str]]]:
        """The groups of ``project_id`` (None: every project), oldest first, each with
        its live members."""
        with transaction() as session:
            groups = db_server_groups.list_groups(session, project_id, limit=limit, offset=offset)
            members = db_server_groups.live_members(session, groups)
            return [(g, members[g.id]) for g in groups]

    def get(self, group_id: str) -> tuple[ServerGroup, list[str]]:
        """The group and its live members; NotFound if there is none."""
        with transaction() as session:
            group = db_server_groups.get(session, group_id)
            if group is None:
                raise exception.NotFound(f"Instance group {group_id} could not be found.")
            return group, db_server_groups.live_members(session, [group])[group.id]

    def delete(self, group: ServerGroup) -> None:
        with transaction() as session:
            current = db_server_groups.get(session, group.uuid)
            if current is not None:
                db_server_groups.delete(session, current)
