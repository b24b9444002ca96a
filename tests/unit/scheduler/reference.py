"""A plain, host-by-host implementation of the scheduler rules (Nova's shape).

It shares nothing with the fast engine except the data classes and the extra-spec
operator parser, so the equivalence tests compare two independent readings of the
same rules. It is also the baseline in the benchmark.
"""

from __future__ import annotations

import json
import operator
import re
import uuid as uuidlib
from dataclasses import dataclass
from typing import Any

import netaddr

from stratus.scheduler import extra_specs
from stratus.scheduler.engine import FilterResult, NoValidHost, SchedulerConfig
from stratus.scheduler.host_record import HostRecord
from stratus.scheduler.request_spec import RequestSpec


def _arch(name: Any) -> str | None:
    if not name:
        return None
    name = str(name).lower()
    return {
        "i386": "i686",
        "i486": "i686",
        "i586": "i686",
        "x86_32": "i686",
        "amd64": "x86_64",
        "x64": "x86_64",
    }.get(name, name)


def _hv(name: Any) -> str | None:
    if not name:
        return None
    name = str(name).lower()
    return "xen" if name == "xapi" else name


def _mode(name: Any) -> str | None:
    if not name:
        return None
    name = str(name).lower()
    return {"pv": "xen", "hv": "hvm", "baremetal": "hvm"}.get(name, name)


def _agg_min(values: set[str], cast: Any) -> Any:
    if not values:
        return None
    try:
        return min(cast(v) for v in values)
    except ValueError:
        return None


class RefHost:
    """Nova-style HostState built from a record."""

    def __init__(self, record: HostRecord, cfg: SchedulerConfig) -> None:
        self.record = record
        self.host = record.host
        self.nodename = record.nodename
        self.hypervisor_hostname = record.nodename
        self.host_ip = record.host_ip
        self.service_up = record.service_up
        self.service_disabled = record.service_disabled
        self.aggregates = list(record.aggregates)
        self.instances = dict(record.instances)

        def values(key: str) -> set[str]:
            return {a.metadata[key] for a in self.aggregates if key in a.metadata}

        cpu = _agg_min(values("cpu_allocation_ratio"), float)
        ram = _agg_min(values("ram_allocation_ratio"), float)
        disk = _agg_min(values("disk_allocation_ratio"), float)
        self.cpu_allocation_ratio = (
            cpu if cpu is not None else record.cpu_allocation_ratio or cfg.cpu_allocation_ratio
        )
        self.ram_allocation_ratio = (
            ram if ram is not None else record.ram_allocation_ratio or cfg.ram_allocation_ratio
        )
        self.disk_allocation_ratio = (
            disk if disk is not None else record.disk_allocation_ratio or cfg.disk_allocation_ratio
        )
        self.max_instances_agg = _agg_min(values("max_instances_per_host"), int)

        self.vcpus_total = record.vcpus
        self.vcpus_used = record.vcpus_used
        self.total_usable_ram_mb = record.memory_mb
        self.free_ram_mb = record.memory_mb - record.memory_mb_used
        self.total_usable_disk_gb = record.local_gb
        free_gb = record.local_gb - record.local_gb_used
        if record.disk_available_least is not None:
            free_gb = min(free_gb, record.disk_available_least)
        self.free_disk_mb = free_gb * 1024
        self.num_instances = (
            len(self.instances) if record.num_instances is None else record.num_instances
        )
        self.num_io_ops = record.num_io_ops
        self.failed_builds = record.failed_builds
        self.hypervisor_type = record.hypervisor_type
        self.hypervisor_version = int(record.hypervisor_version or 0)
        self.arch = record.arch
        self.cpu_info = dict(record.cpu_info)
        self.capabilities = dict(record.capabilities)
        self.stats = self.capabilities
        triples = record.supported_instances or (
            [(record.arch, record.hypervisor_type, "hvm")]
            if record.arch or record.hypervisor_type
            else []
        )
        self.supported_instances = [(_arch(a), _hv(h), _mode(m)) for a, h, m in triples]
        self.default_zone = cfg.default_availability_zone

    def metadata(self) -> dict[str, set[str]]:
        result: dict[str, set[str]] = {}
        for agg in self.aggregates:
            for key, value in agg.metadata.items():
                result.setdefault(key, set()).update(v.strip() for v in value.split(","))
        return result

    def consume(self, spec: RequestSpec, instance_uuid: str | None) -> None:
        flavor = spec.flavor
        self.free_ram_mb -= flavor.memory_mb
        self.free_disk_mb -= (flavor.root_gb + flavor.ephemeral_gb) * 1024
        self.vcpus_used += flavor.vcpus
        self.num_instances += 1
        self.num_io_ops += 1
        if instance_uuid:
            self.instances[instance_uuid] = spec.project_id


# -- filters ------------------------------------------------------------------------


def all_hosts(h: RefHost, spec: RequestSpec, cfg: SchedulerConfig, index: int) -> bool:
    return True


def compute(h: RefHost, spec: RequestSpec, cfg: SchedulerConfig, index: int) -> bool:
    return h.service_up and not h.service_disabled


def ram(h: RefHost, spec: RequestSpec, cfg: SchedulerConfig, index: int) -> bool:
    requested = spec.flavor.memory_mb
    total = h.total_usable_ram_mb
    if not total >= requested:
        return False
    limit = total * h.ram_allocation_ratio
    used = total - h.free_ram_mb
    return limit - used >= requested


def core(h: RefHost, spec: RequestSpec, cfg: SchedulerConfig, index: int) -> bool:
    if not h.vcpus_total:
        return True
    requested = spec.flavor.vcpus
    if requested > h.vcpus_total:
        return False
    free = h.vcpus_total * h.cpu_allocation_ratio - h.vcpus_used
    return not free < requested


def disk(h: RefHost, spec: RequestSpec, cfg: SchedulerConfig, index: int) -> bool:
    f = spec.flavor
    requested = 1024 * (f.root_gb + f.ephemeral_gb) + f.swap
    total_mb = h.total_usable_disk_gb * 1024
    if total_mb < requested:
        return False
    limit = total_mb * h.disk_allocation_ratio
    used = total_mb - h.free_disk_mb
    return limit - used >= requested


def availability_zone(h: RefHost, spec: RequestSpec, cfg: SchedulerConfig, index: int) -> bool:
    zone = spec.availability_zone
    if not zone:
        return True
    metadata = h.metadata()
    if "availability_zone" in metadata:
        return zone in metadata["availability_zone"]
    return zone == (h.record.availability_zone or h.default_zone)


def _version_ok(version: int, requirement: str) -> bool:
    parts = []
    while version:
        parts.insert(0, version % 1000)
        version //= 1000
    for clause in requirement.split(","):
        m = re.fullmatch(r"\s*(<=|>=|==|!=|<|>)?\s*([\d.]+)\s*", clause)
        if not m or not re.fullmatch(r"\d+(\.\d+)*", m.group(2)):
            return False
        want = [int(p) for p in m.group(2).split(".")]
        size = max(len(parts), len(want), 3)
        a = parts + [0] * (size - len(parts))
        b = want + [0] * (size - len(want))
        ops = {
            "<": operator.lt,
            "<=": operator.le,
            "==": operator.eq,
            "!=": operator.ne,
            ">": operator.gt,
            ">=": operator.ge,
        }
        if not ops[m.group(1) or "=="](a, b):
            return False
    return True


def image_properties(h: RefHost, spec: RequestSpec, cfg: SchedulerConfig, index: int) -> bool:
    p = spec.image_properties
    wanted = (
        _arch(p.get("hw_architecture") or p.get("architecture")),
        _hv(p.get("img_hv_type") or p.get("hypervisor_type")),
        _mode(p.get("hw_vm_mode") or p.get("vm_mode")),
    )
    if not any(wanted):
        return True
    if not h.supported_instances:
        return False
    required = p.get("img_hv_requested_version") or p.get("hypervisor_version_requires")
    version_ok = not (h.hypervisor_version and required) or _version_ok(
        h.hypervisor_version, str(required)
    )
    return version_ok and any(all(not w or w in t for w in wanted) for t in h.supported_instances)


_CAP_ATTRS = ("hypervisor_type", "hypervisor_version", "cpu_info", "arch")


def _capability(h: RefHost, scope: list[str]) -> Any:
    cap: Any = h
    for i, step in enumerate(scope):
        if isinstance(cap, str):
            try:
                cap = json.loads(cap)
            except ValueError:
                return None
        if i == 0:
            value = getattr(h, step) if step in _CAP_ATTRS else None
            cap = value if value is not None else h.stats.get(step)
        elif isinstance(cap, dict):
            cap = cap.get(step)
        else:
            return None
        if cap is None:
            return None
    return cap


def compute_capabilities(h: RefHost, spec: RequestSpec, cfg: SchedulerConfig, index: int) -> bool:
    for key, req in spec.flavor.extra_specs.items():
        scope = key.split(":")
        if len(scope) == 1:
            if not (key in _CAP_ATTRS or key in h.stats):
                continue
        elif scope[0] != "capabilities":
            continue
        else:
            del scope[0]
        cap = _capability(h, scope)
        if cap is None or not extra_specs.matches(str(cap), req):
            return False
    return True


def aggregate_instance_extra_specs(
    h: RefHost, spec: RequestSpec, cfg: SchedulerConfig, index: int
) -> bool:
    if not spec.flavor.extra_specs:
        return True
    metadata = h.metadata()
    for key, req in spec.flavor.extra_specs.items():
        scope = key.split(":", 1)
        if len(scope) > 1:
            if scope[0] != "aggregate_instance_extra_specs":
                continue
            del scope[0]
        values = metadata.get(scope[0])
        if not values:
            return False
        for value in values:
            if extra_specs.matches(value, req):
                break
        else:
            return False
    return True


def isolated_hosts(h: RefHost, spec: RequestSpec, cfg: SchedulerConfig, index: int) -> bool:
    restrict = cfg.restrict_isolated_hosts_to_isolated_images
    if not cfg.isolated_images:
        return (not restrict) or h.host not in cfg.isolated_hosts
    image_isolated = spec.image_id in cfg.isolated_images
    host_isolated = h.host in cfg.isolated_hosts
    if restrict:
        return image_isolated == host_isolated
    return (not image_isolated) or host_isolated


_JSON_VARS = {
    "free_ram_mb",
    "free_disk_mb",
    "total_usable_ram_mb",
    "total_usable_disk_gb",
    "vcpus_total",
    "vcpus_used",
    "num_instances",
    "num_io_ops",
    "failed_builds",
    "cpu_allocation_ratio",
    "ram_allocation_ratio",
    "disk_allocation_ratio",
    "host",
    "nodename",
    "hypervisor_hostname",
    "host_ip",
    "hypervisor_type",
    "hypervisor_version",
    "arch",
    "cpu_info",
    "capabilities",
    "stats",
}


class _JsonQuery:
    """Nova's JsonFilter interpreter, with incomparable values counting as false."""

    @staticmethod
    def compare(args: list[Any], op: Any) -> bool:
        if len(args) < 2:
            return False
        if op is operator.contains:
            return args[0] in args[1:]
        try:
            bad = [arg for arg in args[1:] if not op(args[0], arg)]
        except TypeError:
            return False
        return not bad

    commands = {
        "=": lambda a: _JsonQuery.compare(a, operator.eq),
        "<": lambda a: _JsonQuery.compare(a, operator.lt),
        ">": lambda a: _JsonQuery.compare(a, operator.gt),
        "in": lambda a: _JsonQuery.compare(a, operator.contains),
        "<=": lambda a: _JsonQuery.compare(a, operator.le),
        ">=": lambda a: _JsonQuery.compare(a, operator.ge),
        "not": lambda a: [not x for x in a],
        "or": any,
        "and": all,
    }

    @staticmethod
    def parse_string(string: str, h: RefHost) -> Any:
        if not string:
            return None
        if not string.startswith("$"):
            return string
        path = string[1:].split(".")
        if path[0] not in _JSON_VARS:
            return None
        obj = getattr(h, path[0], None)
        if obj is None:
            return None
        for item in path[1:]:
            if not isinstance(obj, dict):
                return None
            obj = obj.get(item)
            if obj is None:
                return None
        return obj

    @classmethod
    def process(cls, query: Any, h: RefHost) -> Any:
        if not query:
            return True
        method = cls.commands[query[0]]
        args = []
        for arg in query[1:]:
            if isinstance(arg, list):
                arg = cls.process(arg, h)
            elif isinstance(arg, str):
                arg = cls.parse_string(arg, h)
            if arg is not None:
                args.append(arg)
        return method(args)


def _valid_query(query: Any) -> bool:
    if not isinstance(query, list):
        return False
    if not query:
        return True
    if query[0] not in _JsonQuery.commands:
        return False
    return all(_valid_query(a) for a in query[1:] if isinstance(a, list))


def json_filter(h: RefHost, spec: RequestSpec, cfg: SchedulerConfig, index: int) -> bool:
    text = spec.get_hint("query")
    if not text:
        return True
    try:
        query = json.loads(text)
    except ValueError:
        return False
    if not _valid_query(query):
        return False
    result = _JsonQuery.process(query, h)
    if isinstance(result, list):
        result = any(result)
    return bool(result)


def simple_cidr_affinity(h: RefHost, spec: RequestSpec, cfg: SchedulerConfig, index: int) -> bool:
    address = spec.get_hint("build_near_host_ip")
    if not address:
        return True
    cidr = spec.get_hint("cidr", "/24")
    try:
        network = netaddr.IPNetwork(f"{address}{cidr}")
        return netaddr.IPAddress(h.host_ip) in network
    except (netaddr.AddrFormatError, ValueError, TypeError):
        return False


def different_host(h: RefHost, spec: RequestSpec, cfg: SchedulerConfig, index: int) -> bool:
    uuids = spec.get_hint_list("different_host")
    return not uuids or not set(uuids) & set(h.instances)


def same_host(h: RefHost, spec: RequestSpec, cfg: SchedulerConfig, index: int) -> bool:
    uuids = spec.get_hint_list("same_host")
    return not uuids or bool(set(uuids) & set(h.instances))


def retry(h: RefHost, spec: RequestSpec, cfg: SchedulerConfig, index: int) -> bool:
    return h.host not in spec.ignore_hosts and h.nodename not in spec.ignore_hosts


def group_affinity(h: RefHost, spec: RequestSpec, cfg: SchedulerConfig, index: int) -> bool:
    group = spec.instance_group
    if group is None or group.policy != "affinity" or not group.hosts:
        return True
    return h.host in group.hosts


def group_anti_affinity(h: RefHost, spec: RequestSpec, cfg: SchedulerConfig, index: int) -> bool:
    group = spec.instance_group
    if group is None or group.policy != "anti-affinity":
        return True
    if index < len(spec.instance_uuids) and spec.instance_uuids[index] in h.instances:
        return True
    on_host = set(h.instances) & set(group.members)
    return len(on_host) < int(group.rules.get("max_server_per_host", 1))


def num_instances(h: RefHost, spec: RequestSpec, cfg: SchedulerConfig, index: int) -> bool:
    return h.num_instances < cfg.max_instances_per_host


def aggregate_num_instances(
    h: RefHost, spec: RequestSpec, cfg: SchedulerConfig, index: int
) -> bool:
    limit = h.max_instances_agg
    return h.num_instances < (cfg.max_instances_per_host if limit is None else limit)


def io_ops(h: RefHost, spec: RequestSpec, cfg: SchedulerConfig, index: int) -> bool:
    return h.num_io_ops < cfg.max_io_ops_per_host


def multi_tenancy(h: RefHost, spec: RequestSpec, cfg: SchedulerConfig, index: int) -> bool:
    tenants: set[str] = set()
    for key, values in h.metadata().items():
        if key.startswith("filter_tenant_id"):
            tenants |= values
    return not tenants or spec.project_id in tenants


def physical_network(h: RefHost, spec: RequestSpec, cfg: SchedulerConfig, index: int) -> bool:
    reached = set(h.capabilities.get("physical_networks") or ())
    return set(spec.physical_networks) <= reached


FILTERS = {
    "AllHostsFilter": all_hosts,
    "ComputeFilter": compute,
    "RamFilter": ram,
    "CoreFilter": core,
    "DiskFilter": disk,
    "AvailabilityZoneFilter": availability_zone,
    "ImagePropertiesFilter": image_properties,
    "ComputeCapabilitiesFilter": compute_capabilities,
    "AggregateInstanceExtraSpecsFilter": aggregate_instance_extra_specs,
    "IsolatedHostsFilter": isolated_hosts,
    "JsonFilter": json_filter,
    "SimpleCIDRAffinityFilter": simple_cidr_affinity,
    "DifferentHostFilter": different_host,
    "SameHostFilter": same_host,
    "RetryFilter": retry,
    "ServerGroupAffinityFilter": group_affinity,
    "ServerGroupAntiAffinityFilter": group_anti_affinity,
    "NumInstancesFilter": num_instances,
    "IoOpsFilter": io_ops,
    "AggregateMultiTenancyIsolation": multi_tenancy,
    "AggregateNumInstancesFilter": aggregate_num_instances,
    "PhysicalNetworkFilter": physical_network,
}


# -- weighers -----------------------------------------------------------------------


def _members_on(h: RefHost, spec: RequestSpec, policy: str) -> int:
    group = spec.instance_group
    if group is None or group.policy != policy:
        return 0
    return len(set(h.instances) & set(group.members))


WEIGHERS: dict[str, tuple[str, float, Any]] = {
    "RAMWeigher": ("ram_weight_multiplier", 1.0, lambda h, s: h.free_ram_mb),
    "CPUWeigher": (
        "cpu_weight_multiplier",
        1.0,
        lambda h, s: h.vcpus_total * h.cpu_allocation_ratio - h.vcpus_used,
    ),
    "DiskWeigher": ("disk_weight_multiplier", 1.0, lambda h, s: h.free_disk_mb),
    "IoOpsWeigher": ("io_ops_weight_multiplier", 1.0, lambda h, s: h.num_io_ops),
    "NumInstancesWeigher": ("num_instances_weight_multiplier", 1.0, lambda h, s: h.num_instances),
    "ServerGroupSoftAffinityWeigher": (
        "soft_affinity_weight_multiplier",
        1.0,
        lambda h, s: _members_on(h, s, "soft-affinity"),
    ),
    "ServerGroupSoftAntiAffinityWeigher": (
        "soft_anti_affinity_weight_multiplier",
        1.0,
        lambda h, s: -1 * _members_on(h, s, "soft-anti-affinity"),
    ),
    "BuildFailureWeigher": (
        "build_failure_weight_multiplier",
        -1.0,
        lambda h, s: h.failed_builds,
    ),
}


# -- the scheduler --------------------------------------------------------------------


@dataclass
class ReferenceScheduler:
    config: SchedulerConfig

    def build(self, records: list[HostRecord]) -> list[RefHost]:
        return [RefHost(r, self.config) for r in records]

    def filter_hosts(
        self, hosts: list[RefHost], spec: RequestSpec, index: int = 0
    ) -> tuple[list[RefHost], list[FilterResult]]:
        results: list[FilterResult] = []
        if spec.force_hosts:
            forced = [
                h
                for h in hosts
                if (h.host in spec.force_hosts or h.nodename in spec.force_hosts)
                and h.host not in spec.ignore_hosts
                and h.nodename not in spec.ignore_hosts
            ]
            results.append(FilterResult("force_hosts", len(hosts), len(forced)))
            hosts = forced
            if spec.is_admin or not hosts:
                return hosts, results
        for name in self.config.enabled_filters:
            rule = FILTERS[name]
            kept = [h for h in hosts if rule(h, spec, self.config, index)]
            results.append(FilterResult(name, len(hosts), len(kept)))
            hosts = kept
            if not hosts:
                break
        return hosts, results

    def weigh_hosts(self, hosts: list[RefHost], spec: RequestSpec) -> list[tuple[RefHost, float]]:
        weights = [0.0] * len(hosts)
        if len(hosts) > 1:
            for name in self.config.weight_classes:
                option, sign, raw = WEIGHERS[name]
                multiplier = sign * getattr(self.config, option)
                values = [raw(h, spec) for h in hosts]
                low, high = float(min(values)), float(max(values))
                if low == high:
                    continue
                for i, v in enumerate(values):
                    weights[i] += multiplier * ((v - low) / (high - low))
        pairs = list(zip(hosts, weights, strict=True))
        pairs.sort(key=lambda p: (-p[1], p[0].host))
        return pairs

    def select_destinations(
        self, hosts: list[RefHost], spec: RequestSpec, num_alternates: int = 0
    ) -> list[list[tuple[str, float]]]:
        """Host names and weights per instance; consumes on ``hosts``."""
        work = spec.copy()
        count = max(1, spec.num_instances)
        uuids = list(spec.instance_uuids)
        if work.instance_group is not None:
            uuids += [str(uuidlib.uuid4()) for _ in range(count - len(uuids))]
            work.instance_group.members = list(
                dict.fromkeys([*work.instance_group.members, *uuids])
            )
        work.instance_uuids = uuids
        chosen: list[tuple[RefHost, float]] = []
        ranked: list[tuple[RefHost, float]] = []
        undo = [(h, h.__dict__.copy(), dict(h.instances)) for h in hosts]
        for index in range(count):
            passing, results = self.filter_hosts(hosts, work, index)
            if not passing:
                for h, state, instances in undo:
                    h.__dict__.update(state)
                    h.instances = instances
                raise NoValidHost(results, instance_index=index, num_instances=count)
            ranked = self.weigh_hosts(passing, work)
            host, weight = ranked[0]
            host.consume(spec, uuids[index] if index < len(uuids) else None)
            chosen.append((host, weight))
            if work.instance_group is not None:
                work.instance_group.hosts.append(host.host)
        alternates: list[tuple[RefHost, float]] = []
        if num_alternates:
            if count > 1:
                passing, _ = self.filter_hosts(hosts, work, count - 1)
                ranked = self.weigh_hosts(passing, work)
            primaries = {id(h) for h, _ in chosen}
            alternates = [p for p in ranked if id(p[0]) not in primaries][:num_alternates]
        return [[(h.host, w)] + [(a.host, aw) for a, aw in alternates] for h, w in chosen]
