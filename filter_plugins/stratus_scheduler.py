"""Ansible filters that plan server placement with Stratus' own scheduler.

The same filters, weighers and configuration as the ``stratus-scheduler`` service,
run over hypervisors and servers described in a playbook::

    plan: "{{ servers | stratus_place(hypervisors, flavors, images=images,
                                      aggregates=aggregates, groups=groups,
                                      config={'ram_weight_multiplier': -1.0}) }}"

* ``stratus_place(servers, hypervisors, flavors, images, aggregates, groups, config)``
  returns ``{server_name: host}``. Servers are placed in order, each one charged
  to its host before the next is considered; servers with ``state: absent`` are
  skipped; servers that already have a ``host`` keep it and count as group
  members there. When a server fits nowhere it raises an error naming, per
  filter, how many hosts it removed.
* ``stratus_filter_hosts(hypervisors, server, flavors, ...)`` returns the names
  of the hosts that pass the filters for one server.
* ``stratus_weigh_hosts(hypervisors, server, flavors, ..., candidates=None)``
  returns ``[{"host": name, "weight": w}, ...]`` best first, for the
  ``candidates`` (default: every host), without filtering.

Hypervisors are either the Compute API's hypervisor detail (``hypervisor_hostname``,
``service.host``, ``vcpus``/``vcpus_used``, ``memory_mb``/``memory_mb_used``,
``local_gb``/``local_gb_used``, ``state``, ``status``, ``hypervisor_type``,
``hypervisor_version``, ``host_ip``, ``cpu_info``, ``running_vms``,
``current_workload``) or plain inventory dicts (``name``, ``vcpus``,
``memory_mb``, ``disk_gb``, ``availability_zone``, ``capabilities``, ...).
Servers are dicts with ``name``, ``flavor`` (name or id), ``image`` (name or id),
``availability_zone`` (``zone`` or ``zone:host`` to force a host),
``group`` (name), ``scheduler_hints`` (``same_host``/``different_host`` may name
servers) and ``state``.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Mapping
from typing import Any

try:
    import stratus.scheduler  # noqa: F401
except ImportError:
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np
from ansible.errors import AnsibleFilterError

from stratus.scheduler import (
    Aggregate,
    FilterScheduler,
    Flavor,
    HostRecord,
    HostTable,
    InstanceGroup,
    NoValidHost,
    RequestSpec,
    SchedulerConfig,
)

_ABSENT = "absent"


def _plain(value: Any) -> Any:
    """Plain Python data from Ansible's (possibly tagged or lazy) values."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
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
            raise AnsibleFilterError(f"each {what} must be a dict, got {item!r}")
        for key in ("id", "name"):
            if item.get(key) not in (None, ""):
                index[str(item[key])] = item
    return index


# -- conversions ----------------------------------------------------------------------


def _flavor(data: Mapping[str, Any]) -> Flavor:
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


def _image_properties(data: Mapping[str, Any]) -> dict[str, Any]:
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


def _host_name(data: Mapping[str, Any]) -> str:
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
    raise AnsibleFilterError(f"hypervisor without a name: {dict(data)!r}")


def _host_record(
    data: Mapping[str, Any], aggregates: list[Aggregate], instances: dict[str, str | None]
) -> HostRecord:
    name = _host_name(data)
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
        aggregates=aggregates,
        hypervisor_type=data.get("hypervisor_type"),
        hypervisor_version=_int(data.get("hypervisor_version")),
        cpu_info=cpu_info,
        arch=data.get("arch") or cpu_info.get("arch"),
        supported_instances=[tuple(t) for t in data.get("supported_instances") or []],
        capabilities=dict(data.get("capabilities") or {}),
        num_instances=None if running is None else _int(running),
        num_io_ops=_int(data.get("current_workload", data.get("num_io_ops"))),
        host_ip=data.get("host_ip") or None,
        instances=instances,
        failed_builds=_int(data.get("failed_builds")),
    )


class _Planner:
    """The state of one planning run: a table, the catalogues, server identities."""

    def __init__(
        self,
        hypervisors: Any,
        flavors: Any,
        images: Any,
        aggregates: Any,
        groups: Any,
        config: Any,
        servers: list[dict[str, Any]],
    ) -> None:
        try:
            self.config = SchedulerConfig.from_dict(config or {})
            self.scheduler = FilterScheduler(self.config)
        except ValueError as exc:
            raise AnsibleFilterError(f"bad scheduler config: {exc}") from exc
        self.flavors = _named(flavors, "flavor")
        self.images = _named(images, "image")
        self.groups = _named(groups, "server group")
        self.servers = [s for s in servers if str(s.get("state", "present")) != _ABSENT]
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
                raise AnsibleFilterError(f"each hypervisor must be a dict, got {item!r}")
            name = _host_name(item)
            own = item.get("instances") or {}
            if not isinstance(own, Mapping):
                own = {str(u): None for u in own}
            records.append(
                _host_record(item, by_host.get(name, []), {**own, **placed.get(name, {})})
            )
        try:
            self.table = HostTable(records, self.config)
        except ValueError as exc:
            raise AnsibleFilterError(str(exc)) from exc

    def _server_uuid(self, ref: str) -> str:
        return self.uuids.get(ref, ref)

    def spec(self, server: Mapping[str, Any]) -> RequestSpec:
        name = str(server.get("name", "?"))
        flavor_ref = server.get("flavor")
        if str(flavor_ref) not in self.flavors:
            raise AnsibleFilterError(f"server {name!r}: unknown flavor {flavor_ref!r}")
        flavor = _flavor(self.flavors[str(flavor_ref)])
        image_id, properties = None, {}
        if server.get("image"):
            image = self.images.get(str(server["image"]))
            if image is None:
                image_id = str(server["image"])
            else:
                image_id = str(image.get("id") or image.get("name"))
                properties = _image_properties(image)
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
                raise AnsibleFilterError(f"server {name!r}: unknown server group {group_name!r}")
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
        name = str(server["name"])
        if server.get("host"):
            return str(server["host"])
        try:
            chosen = self.scheduler.select_destinations(self.table, self.spec(server))
        except NoValidHost as exc:
            raise AnsibleFilterError(f"cannot place server {name!r}: {exc.message}") from exc
        host = chosen[0][0].host
        if server.get("group"):
            self.group_hosts.setdefault(str(server["group"]), []).append(host)
        return host


def _servers(servers: Any) -> list[dict[str, Any]]:
    servers = _plain(servers or [])
    if isinstance(servers, Mapping):
        servers = [{"name": name, **(body or {})} for name, body in servers.items()]
    for server in servers:
        if not isinstance(server, Mapping) or not server.get("name"):
            raise AnsibleFilterError(f"each server needs a name, got {server!r}")
    return servers


# -- the filters -------------------------------------------------------------------------


def stratus_place(
    servers: Any,
    hypervisors: Any,
    flavors: Any,
    images: Any = None,
    aggregates: Any = None,
    groups: Any = None,
    config: Any = None,
) -> dict[str, str]:
    """Plan every declared server onto a hypervisor: ``{server_name: host}``."""
    declared = _servers(servers)
    planner = _Planner(
        _plain(hypervisors),
        _plain(flavors),
        _plain(images),
        _plain(aggregates),
        _plain(groups),
        _plain(config),
        declared,
    )
    return {str(server["name"]): planner.place(server) for server in planner.servers}


def stratus_filter_hosts(
    hypervisors: Any,
    server: Any,
    flavors: Any,
    images: Any = None,
    aggregates: Any = None,
    groups: Any = None,
    config: Any = None,
) -> list[str]:
    """Names of the hypervisors that pass the filters for ``server``."""
    declared = _servers([server])
    planner = _Planner(
        _plain(hypervisors),
        _plain(flavors),
        _plain(images),
        _plain(aggregates),
        _plain(groups),
        _plain(config),
        declared,
    )
    rows, _ = planner.scheduler.filter_hosts(planner.table, planner.spec(declared[0]))
    return [str(planner.table.names[row]) for row in rows]


def stratus_weigh_hosts(
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
    declared = _servers([server])
    planner = _Planner(
        _plain(hypervisors),
        _plain(flavors),
        _plain(images),
        _plain(aggregates),
        _plain(groups),
        _plain(config),
        declared,
    )
    table = planner.table
    if candidates is None:
        rows = [table.index_of(name) for name in table.names[table.live]]
    else:
        rows = [table.index_of(str(name)) for name in _plain(candidates)]
        missing = [c for c, r in zip(_plain(candidates), rows, strict=True) if r is None]
        if missing:
            raise AnsibleFilterError(f"unknown candidate host(s): {', '.join(missing)}")
    selected = np.asarray(rows, dtype=np.intp)
    spec = planner.spec(declared[0])
    weights = planner.scheduler.weigh_hosts(table, spec, selected)
    ranked, ranked_weights = planner.scheduler.rank_hosts(table, selected, weights)
    return [
        {"host": str(table.names[row]), "weight": float(weight)}
        for row, weight in zip(ranked, ranked_weights, strict=True)
    ]


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "stratus_place": stratus_place,
            "stratus_filter_hosts": stratus_filter_hosts,
            "stratus_weigh_hosts": stratus_weigh_hosts,
        }
