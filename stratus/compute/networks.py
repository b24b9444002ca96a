"""A server's networks: what its create request asks for, the ports that the
conductor creates and binds for it, and its network info cache.

The requests are validated by the compute API before anything is recorded
(:func:`resolve`); the conductor turns them into ports once the scheduler chose a
host (:func:`allocate`), rebinds them on a reschedule (:func:`bind`), and releases
them when the build fails or the server is deleted (:func:`release`): the ports it
created are deleted, ports the user gave are unbound and kept. New ports are
recorded in the cache only while no delete has started; otherwise the conductor
releases them itself (a delete releases what the cache names).

The cache (``instances.network_info``) holds one VIF per port, in request order::

    {"port_id", "network_id", "network_name", "mac_address", "mtu", "bridge",
     "network_type", "physical_network", "segmentation_id", "created": bool,
     "fixed_ips": [{"ip_address", "version", "subnet_id", "subnet"}]}

where ``subnet`` is what a guest's network configuration needs of the subnet
(``cidr``, ``gateway_ip``, ``dns_nameservers``, ``host_routes``, ``enable_dhcp``,
``ipv6_address_mode``; the instance metadata's ``network_data.json`` is made of it),

so the compute host can plug the VIFs and server bodies can show addresses without
asking the network layer per server.

Security groups: a create request's ``security_groups`` (names or ids in the
server's project) are resolved with the networks (:func:`resolve_security_groups`),
before anything is recorded, and ride in each network request to the ports the
conductor creates; ``addSecurityGroup``/``removeSecurityGroup`` change the groups of
the server's ports (:func:`add_security_group`, :func:`remove_security_group`).
The names are kept in the request spec as well (``security_groups``), which is what
server bodies show.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import netaddr

from stratus import exception
from stratus.db import instances as db_instances
from stratus.db.session import transaction
from stratus.network import exceptions as net_exc
from stratus.network import service as network_service

LOG = logging.getLogger(__name__)
COMPUTE_OWNER_PREFIX = "compute:"


@dataclass(frozen=True)
class ServiceContext:
    """The conductor's view of the network layer: every resource, on behalf of
    the server's project."""

    project_id: str
    is_admin: bool = True


def _bad(message: str) -> exception.Invalid:
    return exception.Invalid(message)


def _project_groups(project_id: str) -> list[dict[str, Any]]:
    context = ServiceContext(project_id, is_admin=False)
    return [
        g for g in network_service.list_security_groups(context) if g["project_id"] == project_id
    ]


def _find_group(groups: list[dict[str, Any]], wanted: str) -> dict[str, Any] | None:
    """The group whose id is ``wanted``, else the one group named so; several
    groups of that name are a 409."""
    for group in groups:
        if group["id"] == wanted:
            return group
    named = [g for g in groups if g["name"] == wanted]
    if len(named) > 1:
        raise exception.Conflict(
            f"Multiple security groups found matching '{wanted}'. Use an ID to be more specific."
        )
    return named[0] if named else None


def resolve_security_groups(context: Any, wanted: list[str] | None) -> list[dict[str, str]] | None:
    """The groups a create request names (``[{"id", "name"}]``, in order, without
    repeats), or None when it names none; an unknown one is a 400 naming it."""
    if not wanted:
        return None
    groups = _project_groups(context.project_id)
    found: dict[str, dict[str, str]] = {}
    for entry in wanted:
        group = _find_group(groups, entry)
        if group is None:
            raise _bad(
                f"server.security_groups: security group '{entry}' not found in project "
                f"{context.project_id}."
            )
        found.setdefault(group["id"], {"id": group["id"], "name": group["name"]})
    return list(found.values())


def resolve(
    context: Any,
    networks: str | list[dict[str, Any]] | None,
    max_count: int,
    security_groups: list[dict[str, str]] | None = None,
) -> list[dict]:
    """The server's network requests, each ``{"network_id", "port_id", "fixed_ip"}``
    (None where not given) and, with ``security_groups`` (resolved), the group ids
    for the ports to create (``"security_groups"``), checked against what the
    project sees; named groups on a network without port security are a 400.

    ``networks`` is the create request's: a list of ``uuid``/``port``/``fixed_ip``
    entries, ``"none"``, ``"auto"`` (the project's one usable network; none or
    several is a 400), or absent (as before microversion 2.37: the one usable network,
    no network when there is none, 409 when there are several)."""
    requests = _resolve_networks(context, networks, max_count)
    if security_groups is None:
        return requests
    for request in requests:
        if request["port_id"]:
            continue
        network = network_service.get_network(context, request["network_id"])
        if not network["port_security_enabled"]:
            raise _bad(
                f"server.security_groups: network {network['id']} has port security "
                "disabled; security groups cannot be applied to its ports."
            )
        request["security_groups"] = [g["id"] for g in security_groups]
    return requests


def _resolve_networks(
    context: Any, networks: str | list[dict[str, Any]] | None, max_count: int
) -> list[dict]:
    if networks == "none":
        return []
    if networks is None or networks == "auto":
        usable = [
            n
            for n in network_service.list_networks(context)
            if not n.get("router:external") and n["admin_state_up"]
        ]
        if len(usable) == 1:
            return [_request(usable[0])]
        if networks is None:
            if not usable:
                return []
            raise exception.Conflict(
                "Multiple possible networks found, use a Network ID to be more specific."
            )
        if not usable:
            raise _bad(
                "server.networks: 'auto' found no network for project "
                f"{context.project_id} to attach to; create one or use 'none'."
            )
        raise _bad(
            "server.networks: 'auto' is ambiguous: project "
            f"{context.project_id} can use {len(usable)} networks "
            f"({', '.join(n['id'] for n in usable)}); name one with 'uuid'."
        )
    if not isinstance(networks, list):
        raise _bad("server.networks must be 'none', 'auto' or a list of networks.")
    requests = []
    for index, entry in enumerate(networks):
        where = f"server.networks[{index}]"
        if hasattr(entry, "model_dump"):  # the API's parsed NetworkRequest
            entry = entry.model_dump(exclude_none=True)
        if not isinstance(entry, dict):
            raise _bad(f"{where} must be an object with 'uuid', 'port' or 'fixed_ip'.")
        unknown = set(entry) - {"uuid", "port", "fixed_ip", "tag"}
        if unknown:
            raise _bad(f"{where}: unknown attribute(s) {', '.join(sorted(unknown))}.")
        port_id, network_id, fixed_ip = entry.get("port"), entry.get("uuid"), entry.get("fixed_ip")
        if port_id:
            requests.append(_port_request(context, port_id, max_count, where))
            continue
        if not network_id:
            raise _bad(f"{where} needs 'uuid' (a network) or 'port'.")
        try:
            network = network_service.get_network(context, network_id)
        except net_exc.NotFound:
            raise _bad(f"Network {network_id} could not be found.") from None
        if fixed_ip is not None:
            _check_fixed_ip(context, network, fixed_ip, max_count, where)
        requests.append(_request(network, fixed_ip))
    return requests


def _request(network: dict[str, Any], fixed_ip: str | None = None) -> dict[str, Any]:
    return {
        "network_id": network["id"],
        "port_id": None,
        "fixed_ip": fixed_ip,
        "physical_network": network["provider:physical_network"],
    }


def _port_request(context: Any, port_id: str, max_count: int, where: str) -> dict:
    try:
        port = network_service.get_port(context, port_id)
    except net_exc.NotFound:
        raise _bad(f"Port {port_id} could not be found.") from None
    if port["device_id"]:
        raise exception.Conflict(f"Port {port_id} is still in use.")
    if max_count > 1:
        raise _bad(f"{where}: unable to launch multiple instances with a single port {port_id}.")
    network = network_service.get_network(context, port["network_id"])
    return {
        "network_id": port["network_id"],
        "port_id": port_id,
        "fixed_ip": None,
        "physical_network": network["provider:physical_network"],
    }


def _check_fixed_ip(context: Any, network: dict, fixed_ip: Any, max_count: int, where: str) -> None:
    try:
        address = netaddr.IPAddress(str(fixed_ip))
    except (netaddr.AddrFormatError, ValueError):
        raise _bad(f"{where}.fixed_ip: {fixed_ip!r} is not an IP address.") from None
    if max_count > 1:
        raise _bad(f"{where}.fixed_ip: one address cannot serve {max_count} instances.")
    subnets = [network_service.get_subnet(context, s) for s in network["subnets"]]
    if not any(address in netaddr.IPNetwork(s["cidr"]) for s in subnets):
        raise _bad(f"{where}.fixed_ip: {address} is in no subnet of network {network['id']}.")


# --- the conductor's side ---------------------------------------------------------------


SUBNET_KEYS = (
    "cidr",
    "gateway_ip",
    "dns_nameservers",
    "host_routes",
    "enable_dhcp",
    "ipv6_address_mode",
)


def _vif(
    port: dict[str, Any],
    network: dict[str, Any],
    created: bool,
    subnets: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    subnets = subnets or {}
    return {
        "port_id": port["id"],
        "network_id": network["id"],
        "network_name": network["name"],
        "mac_address": port["mac_address"],
        "mtu": network["mtu"],
        "bridge": port["binding:vif_details"].get("bridge_name")
        or network_service.bridge_name(network["id"]),
        "network_type": network["provider:network_type"],
        "physical_network": network["provider:physical_network"],
        "segmentation_id": network["provider:segmentation_id"],
        "created": created,
        "fixed_ips": [
            {
                "ip_address": a["ip_address"],
                "version": netaddr.IPAddress(a["ip_address"]).version,
                "subnet_id": a["subnet_id"],
                "subnet": {k: subnets[a["subnet_id"]].get(k) for k in SUBNET_KEYS}
                if a["subnet_id"] in subnets
                else None,
            }
            for a in port["fixed_ips"]
        ],
    }


def allocate(
    instance_uuid: str,
    project_id: str,
    zone: str | None,
    requests: list[dict[str, Any]],
    host: str,
) -> list[dict[str, Any]]:
    """Create (or take over) and bind the server's ports on ``host``; the VIFs in
    request order. On failure the ports made so far are released again."""
    context = ServiceContext(project_id)
    owner = COMPUTE_OWNER_PREFIX + (zone or "nova")
    vifs: list[dict[str, Any]] = []
    try:
        for request in requests:
            attach = {"device_id": instance_uuid, "device_owner": owner, "binding:host_id": host}
            if request.get("port_id"):
                port = network_service.update_port(context, request["port_id"], attach)
                created = False
            else:
                values: dict[str, Any] = {"network_id": request["network_id"], **attach}
                values["project_id"] = project_id
                if request.get("fixed_ip"):
                    values["fixed_ips"] = [{"ip_address": request["fixed_ip"]}]
                if request.get("security_groups") is not None:
                    values["security_groups"] = request["security_groups"]
                port = network_service.create_port(context, values)
                created = True
            network = network_service.get_network(context, port["network_id"])
            subnets = {
                a["subnet_id"]: network_service.get_subnet(context, a["subnet_id"])
                for a in port["fixed_ips"]
            }
            vifs.append(_vif(port, network, created, subnets))
    except Exception:
        release(project_id, vifs)
        raise
    return vifs


def bind(project_id: str, vifs: list[dict[str, Any]], host: str) -> None:
    """Bind the ports to ``host`` (a reschedule), or unbind them (``host`` "")."""
    context = ServiceContext(project_id)
    for vif in vifs:
        try:
            network_service.update_port(context, vif["port_id"], {"binding:host_id": host})
        except net_exc.NotFound:
            LOG.info("port %s is gone", vif["port_id"])


def release(project_id: str, vifs: list[dict[str, Any]]) -> None:
    """Delete the ports Stratus created; unbind and detach the ones the user gave."""
    context = ServiceContext(project_id)
    for vif in vifs:
        try:
            if vif.get("created"):
                network_service.delete_port(context, vif["port_id"])
            else:
                network_service.update_port(
                    context,
                    vif["port_id"],
                    {"device_id": "", "device_owner": "", "binding:host_id": ""},
                )
        except net_exc.NotFound:
            LOG.info("port %s is gone", vif["port_id"])


# --- security groups of a server ---------------------------------------------------------


def _ports(context: ServiceContext, instance: Any) -> list[dict[str, Any]]:
    found = []
    for vif in instance.network_info or []:
        try:
            found.append(network_service.get_port(context, vif["port_id"]))
        except net_exc.NotFound:
            LOG.info("port %s is gone", vif["port_id"])
    return found


def _rule_view(rule: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    remote = rule["remote_group_id"]
    return {
        "id": rule["id"],
        "parent_group_id": rule["security_group_id"],
        "ip_protocol": rule["protocol"],
        "from_port": rule["port_range_min"],
        "to_port": rule["port_range_max"],
        "ip_range": {"cidr": rule["remote_ip_prefix"]} if rule["remote_ip_prefix"] else {},
        "group": (
            {"name": names.get(remote, remote), "tenant_id": rule["project_id"]} if remote else {}
        ),
    }


def server_security_groups(instance: Any) -> list[dict[str, Any]]:
    """The groups of the server's ports, as ``GET /servers/{id}/os-security-groups``
    shows them (ingress rules only, as Nova)."""
    context = ServiceContext(instance.project_id)
    ids = list(dict.fromkeys(g for p in _ports(context, instance) for g in p["security_groups"]))
    groups = [network_service.get_security_group(context, g) for g in ids]
    names = {g["id"]: g["name"] for g in groups}
    return [
        {
            "id": g["id"],
            "name": g["name"],
            "description": g["description"],
            "tenant_id": g["project_id"],
            "rules": [
                _rule_view(r, names)
                for r in g["security_group_rules"]
                if r["direction"] == "ingress"
            ],
        }
        for g in groups
    ]


def _change_groups(instance: Any, wanted: str, add: bool) -> None:
    context = ServiceContext(instance.project_id)
    group = _find_group(_project_groups(instance.project_id), wanted)
    if group is None:
        raise exception.NotFound(f"Security group {wanted} not found.")
    ports = _ports(context, instance)
    if not ports:
        raise exception.NotFound(
            f"instance_id {instance.uuid} could not be found as device id on any ports"
        )
    holding = [p for p in ports if group["id"] in p["security_groups"]]
    if add:
        if len(holding) == len(ports):
            raise _bad(
                f"Security group {wanted} is already associated with the instance {instance.uuid}."
            )
        if any(not p["port_security_enabled"] for p in ports):
            raise _bad(
                f"Security group {wanted} cannot be applied: a port of instance "
                f"{instance.uuid} has port security disabled."
            )
        for port in ports:
            if port not in holding:
                wanted_ids = [*port["security_groups"], group["id"]]
                network_service.update_port(context, port["id"], {"security_groups": wanted_ids})
    else:
        if not holding:
            raise _bad(f"Security group {wanted} not associated with the instance {instance.uuid}.")
        for port in holding:
            kept = [g for g in port["security_groups"] if g != group["id"]]
            network_service.update_port(context, port["id"], {"security_groups": kept})
    names = [
        n
        for n in (instance.request_spec or {}).get("security_groups") or []
        if n not in (group["name"], group["id"])
    ]
    if add:
        names.append(group["name"])
    with transaction() as session:
        db_instances.update(
            session,
            instance.uuid,
            {"request_spec": {**(instance.request_spec or {}), "security_groups": names}},
        )


def add_security_group(instance: Any, wanted: str) -> None:
    """Add the group (a name or an id in the server's project) to the server's ports;
    404 for an unknown group or a server without ports, 400 if all its ports have
    it already or one has port security disabled."""
    _change_groups(instance, wanted, add=True)


def remove_security_group(instance: Any, wanted: str) -> None:
    """Remove the group from the server's ports; 400 if none has it."""
    _change_groups(instance, wanted, add=False)


# --- views ------------------------------------------------------------------------------


def addresses(vifs: list[dict[str, Any]] | None) -> dict[str, list[dict[str, Any]]]:
    """A server body's ``addresses``: per network name, its fixed addresses."""
    found: dict[str, list[dict[str, Any]]] = {}
    for vif in vifs or []:
        entries = found.setdefault(vif["network_name"] or vif["network_id"], [])
        entries += [
            {
                "version": ip["version"],
                "addr": ip["ip_address"],
                "OS-EXT-IPS:type": "fixed",
                "OS-EXT-IPS-MAC:mac_addr": vif["mac_address"],
            }
            for ip in vif["fixed_ips"]
        ]
    return found


def with_address(instances: list[Any], pattern: str) -> list[Any]:
    """The instances with a fixed address that the regular expression ``pattern``
    matches (``GET /servers?ip=``), from their network info caches."""
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        raise _bad(f"Invalid regular expression in 'ip': {exc}.") from None
    return [
        instance
        for instance in instances
        if any(
            regex.search(ip["ip_address"])
            for vif in instance.network_info or []
            for ip in vif["fixed_ips"]
        )
    ]
