"""Plan server placement offline with the scheduler's own filters and weighers.

What the ``stratus_place``, ``stratus_filter_hosts`` and ``stratus_weigh_hosts``
Ansible filters (``filter_plugins/stratus_scheduler.py``) compute, over
hypervisors and servers described as plain data instead of the database:

* ``place_servers(servers, hypervisors, flavors, images, aggregates, groups, config)``
  returns ``{server_name: host}``. Servers are placed in order, each one charged
  to its host before the next is considered; servers with ``state: absent`` are
  skipped; servers that already have a ``host`` keep it and count as group
  members there. When a server fits nowhere it raises ``PlanError`` naming, per
  filter, how many hosts it removed.
* ``filter_hosts(hypervisors, server, flavors, ...)`` returns the names of the
  hosts that pass the filters for one server.
* ``weigh_hosts(hypervisors, server, flavors, ..., candidates=None)`` returns
  ``[{"host": name, "weight": w}, ...]`` best first, for the ``candidates``
  (default: every host), without filtering.

Hypervisors are either the Compute API's hypervisor detail (``hypervisor_hostname``,
``service.host``, ``vcpus``/``vcpus_used``, ``memory_mb``/``memory_mb_used``,
``local_gb``/``local_gb_used``, ``state``, ``status``, ``hypervisor_type``,
``hypervisor_version``, ``host_ip``, ``cpu_info``, ``running_vms``,
``current_workload``) or plain inventory dicts (``name``, ``vcpus``,
``memory_mb``, ``disk_gb``, ``availability_zone``, ``capabilities``, ...).
Flavors are the Compute API's (``ram``, ``disk``, ``OS-FLV-EXT-DATA:ephemeral``,
``extra_specs``) or the scheduler's own names (``memory_mb``, ``root_gb``, ...).
Servers are dicts with ``name``, ``flavor`` (name or id), ``image`` (name or id),
``availability_zone`` (``zone`` or ``zone:host`` to force a host),
``group`` (name), ``scheduler_hints`` (``same_host``/``different_host`` may name
servers) and ``state``.

Every input may also come as a ``name -> body`` mapping instead of a list, and as
Ansible's wrapped values: they are reduced to plain Python data first.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any

import numpy as np

from stratus.scheduler.engine import FilterScheduler, NoValidHost, SchedulerConfig
from stratus.scheduler.host_record import Aggregate, HostRecord
from stratus.scheduler.host_table import HostTable
from stratus.scheduler.request_spec import Flavor, InstanceGroup, RequestSpec

ABSENT = "absent"


class PlanError(ValueError):
    """The description cannot be planned: bad input, or a server that fits nowhere."""


def plain(value: Any) -> Any:
    """Plain Python data from (possibly wrapped or lazy) mappings, lists and scalars."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    return value


def _int(value: Any, default: int = 0) -> int:
    if value in (None, ""):
        return default
    return int(value)


def _named(items: Any, what: str) -> dict[str, dict[str, Any]]:
    """Index a list of dicts (or a name -> dict mapping) by name and by id."""
    if not items:
        return {}
    if isinstance(items, Mapping):
        items = [{"name": name, **(body or {})} for name, body in items.items()]
    index: dict[str, dict[str, Any]] = {}
    for item in items:
        if not isinstance(item, Mapping):
            raise PlanError(f"each {what} must be a dict, got {item!r}")
        for key in ("id", "name"):
            if item.get(key) not in (None, ""):
                index[str(item[key])] = item
    return index


# -- conversions ----------------------------------------------------------------------


def flavor_from_dict(data: Mapping[str, Any]) -> Flavor:
    """A flavor from the Compute API's fields or the scheduler's own names."""
    return Flavor(
        vcpus=_int(data.get("vcpus")),
        memory_mb=_int(data.get("ram", data.get("memory_mb"))),
        root_gb=_int(data.get("disk", data.get("root_gb"))),
        ephemeral_gb=_int(
            data.get("OS-FLV-EXT-DATA:ephemeral", data.get("ephemeral", data.get("ephemeral_gb")))
        ),
        swap=_int(data.get("swap")),
        extra_specs={
            str(k): str(v)
            for k, v in (data.get("extra_specs") or data.get("properties") or {}).items()
        },
        name=data.get("name"),
        flavorid=None if data.get("id") is None else str(data["id"]),
    )


def image_properties(data: Mapping[str, Any]) -> dict[str, Any]:
    """An image's fields with its ``properties`` merged in (as Glance v2 shows them)."""
    properties = dict(data)
    properties.update(data.get("properties") or {})
    return properties


def _cpu_info(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value) if value else {}
        except ValueError:
            return {}
    return dict(value) if isinstance(value, Mapping) else {}


def host_name(data: Mapping[str, Any]) -> str:
    """The service host of a hypervisor: ``service.host``, else the first name it has."""
    service = data.get("service") if isinstance(data.get("service"), Mapping) else {}
    for value in (
        service.get("host"),
        data.get("host"),
        data.get("name"),
        data.get("inventory_hostname"),
        data.get("hypervisor_hostname"),
    ):
        if value:
            return str(value)
    raise PlanError(f"hypervisor without a name: {dict(data)!r}")


def host_record_from_dict(
    data: Mapping[str, Any],
    aggregates: list[Aggregate] | None = None,
    instances: dict[str, str | None] | None = None,
) -> HostRecord:
    """A scheduler host record from an API hypervisor or an inventory dict."""
    name = host_name(data)
    cpu_info = _cpu_info(data.get("cpu_info"))
    state = str(data.get("state", "up")).lower()
    status = str(data.get("status", "enabled")).lower()
    running = data.get("running_vms", data.get("num_instances"))
    return HostRecord(
        host=name,
        nodename=str(data.get("hypervisor_hostname") or name),
        uuid=None if data.get("id") is None else str(data["id"]),
        vcpus=_int(data.get("vcpus")),
        vcpus_used=_int(data.get("vcpus_used")),
        memory_mb=_int(data.get("memory_mb", data.get("ram_mb"))),
        memory_mb_used=_int(data.get("memory_mb_used")),
        local_gb=_int(data.get("local_gb", data.get("disk_gb"))),
        local_gb_used=_int(data.get("local_gb_used", data.get("disk_gb_used"))),
        disk_available_least=(
            None if data.get("disk_available_least") is None else _int(data["disk_available_least"])
        ),
        cpu_allocation_ratio=data.get("cpu_allocation_ratio"),
        ram_allocation_ratio=data.get("ram_allocation_ratio"),
        disk_allocation_ratio=data.get("disk_allocation_ratio"),
        service_up=bool(data.get("service_up", state == "up")),
        service_disabled=bool(data.get("service_disabled", status == "disabled")),
        availability_zone=data.get("availability_zone") or None,
        aggregates=list(aggregates or []),
        hypervisor_type=data.get("hypervisor_type"),
        hypervisor_version=_int(data.get("hypervisor_version")),
        cpu_info=cpu_info,
        arch=data.get("arch") or cpu_info.get("arch"),
        supported_instances=[tuple(t) for t in data.get("supported_instances") or []],
        capabilities=dict(data.get("capabilities") or {}),
        num_instances=None if running is None else _int(running),
        num_io_ops=_int(data.get("current_workload", data.get("num_io_ops"))),
        host_ip=data.get("host_ip") or None,
        instances=dict(instances or {}),
        failed_builds=_int(data.get("failed_builds")),
    )


def servers_from(servers: Any) -> list[dict[str, Any]]:
    """Server declarations as a list of plain dicts (from a list or a name -> body map)."""
    servers = plain(servers or [])
    if isinstance(servers, Mapping):
        servers = [{"name": name, **(body or {})} for name, body in servers.items()]
    for server in servers:
        if not isinstance(server, Mapping) or not server.get("name"):
            raise PlanError(f"each server needs a name, got {server!r}")
    return servers


# -- a planning run ----------------------------------------------------------------------


class Planner:
    """The state of one planning run: a table, the catalogues, server identities."""

    def __init__(
        self,
        hypervisors: Any,
        flavors: Any,
        images: Any = None,
        aggregates: Any = None,
        groups: Any = None,
        config: Any = None,
        servers: Any = None,
    ) -> None:
        hypervisors, aggregates = plain(hypervisors), plain(aggregates)
        try:
            self.config = SchedulerConfig.from_dict(plain(config) or {})
            self.scheduler = FilterScheduler(self.config)
        except ValueError as exc:
            raise PlanError(f"bad scheduler config: {exc}") from exc
        self.flavors = _named(plain(flavors), "flavor")
        self.images = _named(plain(images), "image")
        self.groups = _named(plain(groups), "server group")
        self.servers = [
            s for s in servers_from(servers) if str(s.get("state", "present")) != ABSENT
        ]
        self.uuids = {
            str(s["name"]): str(s.get("id") or uuid.uuid5(uuid.NAMESPACE_URL, str(s["name"])))
            for s in self.servers
        }
        self.group_hosts: dict[str, list[str]] = {}
        placed: dict[str, dict[str, str | None]] = {}
        for server in self.servers:
            if server.get("host"):
                host = str(server["host"])
                placed.setdefault(host, {})[self.uuids[str(server["name"])]] = server.get(
                    "project_id"
                )
                if server.get("group"):
                    self.group_hosts.setdefault(str(server["group"]), []).append(host)

        by_host: dict[str, list[Aggregate]] = {}
        for item in aggregates or []:
            aggregate = Aggregate.from_dict(item)
            for host in item.get("hosts") or []:
                by_host.setdefault(str(host), []).append(aggregate)
        records = []
        for item in hypervisors or []:
            if not isinstance(item, Mapping):
                raise PlanError(f"each hypervisor must be a dict, got {item!r}")
            name = host_name(item)
            own = item.get("instances") or {}
            if not isinstance(own, Mapping):
                own = {str(u): None for u in own}
            records.append(
                host_record_from_dict(item, by_host.get(name, []), {**own, **placed.get(name, {})})
            )
        try:
            self.table = HostTable(records, self.config)
        except ValueError as exc:
            raise PlanError(str(exc)) from exc

    def _server_uuid(self, ref: str) -> str:
        return self.uuids.get(ref, ref)

    def spec(self, server: Mapping[str, Any]) -> RequestSpec:
        """The request the API would send the scheduler for ``server``."""
        name = str(server.get("name", "?"))
        flavor_ref = server.get("flavor")
        if str(flavor_ref) not in self.flavors:
            raise PlanError(f"server {name!r}: unknown flavor {flavor_ref!r}")
        flavor = flavor_from_dict(self.flavors[str(flavor_ref)])
        image_id, properties = None, {}
        if server.get("image"):
            image = self.images.get(str(server["image"]))
            if image is None:
                image_id = str(server["image"])
            else:
                image_id = str(image.get("id") or image.get("name"))
                properties = image_properties(image)
        hints = dict(server.get("scheduler_hints") or {})
        for key in ("same_host", "different_host"):
            if key in hints:
                refs = hints[key] if isinstance(hints[key], list) else [hints[key]]
                hints[key] = [self._server_uuid(str(r)) for r in refs]
        zone = server.get("availability_zone") or None
        force: list[str] = []
        if zone and ":" in str(zone):
            zone, _, forced = str(zone).partition(":")
            force = [forced] if forced else []
            zone = zone or None
        group = None
        group_name = server.get("group")
        if group_name:
            definition = self.groups.get(str(group_name))
            if definition is None:
                raise PlanError(f"server {name!r}: unknown server group {group_name!r}")
            group = InstanceGroup.from_dict(definition)
            group.members = [
                self.uuids[str(s["name"])]
                for s in self.servers
                if str(s.get("group")) == str(group_name)
            ]
            group.hosts = list(self.group_hosts.get(str(group_name), []))
        return RequestSpec(
            flavor=flavor,
            image_id=image_id,
            image_properties=properties,
            project_id=server.get("project_id"),
            availability_zone=zone,
            scheduler_hints=hints,
            force_hosts=force,
            is_admin=bool(force),
            instance_group=group,
            instance_uuids=[self.uuids.get(name, str(uuid.uuid4()))],
        )

    def place(self, server: Mapping[str, Any]) -> str:
        """The host for ``server``, charged to the table (a server with a host keeps it)."""
        name = str(server["name"])
        if server.get("host"):
            return str(server["host"])
        try:
            chosen = self.scheduler.select_destinations(self.table, self.spec(server))
        except NoValidHost as exc:
            raise PlanError(f"cannot place server {name!r}: {exc.message}") from exc
        host = chosen[0][0].host
        if server.get("group"):
            self.group_hosts.setdefault(str(server["group"]), []).append(host)
        return host


# -- the three questions -------------------------------------------------------------------


def place_servers(
    servers: Any,
    hypervisors: Any,
    flavors: Any,
    images: Any = None,
    aggregates: Any = None,
    groups: Any = None,
    config: Any = None,
) -> dict[str, str]:
    """Plan every declared server onto a hypervisor: ``{server_name: host}``."""
    planner = Planner(hypervisors, flavors, images, aggregates, groups, config, servers)
    return {str(server["name"]): planner.place(server) for server in planner.servers}


def filter_hosts(
    hypervisors: Any,
    server: Any,
    flavors: Any,
    images: Any = None,
    aggregates: Any = None,
    groups: Any = None,
    config: Any = None,
) -> list[str]:
    """Names of the hypervisors that pass the filters for ``server``."""
    declared = servers_from([server])
    planner = Planner(hypervisors, flavors, images, aggregates, groups, config, declared)
    rows, _ = planner.scheduler.filter_hosts(planner.table, planner.spec(declared[0]))
    return [str(planner.table.names[row]) for row in rows]


def weigh_hosts(
    hypervisors: Any,
    server: Any,
    flavors: Any,
    images: Any = None,
    aggregates: Any = None,
    groups: Any = None,
    config: Any = None,
    candidates: Any = None,
) -> list[dict[str, Any]]:
    """``[{"host", "weight"}]`` for ``candidates`` (default all hosts), best first."""
    declared = servers_from([server])
    planner = Planner(hypervisors, flavors, images, aggregates, groups, config, declared)
    table = planner.table
    if candidates is None:
        rows = [table.index_of(name) for name in table.names[table.live]]
    else:
        names = [str(name) for name in plain(candidates)]
        rows = [table.index_of(name) for name in names]
        missing = [name for name, row in zip(names, rows, strict=True) if row is None]
        if missing:
            raise PlanError(f"unknown candidate host(s): {', '.join(missing)}")
    selected = np.asarray(rows, dtype=np.intp)
    spec = planner.spec(declared[0])
    weights = planner.scheduler.weigh_hosts(table, spec, selected)
    ranked, ranked_weights = planner.scheduler.rank_hosts(table, selected, weights)
    return [
        {"host": str(table.names[row]), "weight": float(weight)}
        for row, weight in zip(ranked, ranked_weights, strict=True)
    ]
