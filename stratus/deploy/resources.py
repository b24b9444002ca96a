"""Servers declared in the inventory, as the stratus_resources role reads them.

Each host of the servers group is one server; its ``server_*`` variables are
the server's fields. The placement plan runs ``stratus.scheduler.planner`` over
them and reports, per server, where it is or would go.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

ABSENT = "absent"
PRESENT = "present"

# Server field -> the inventory variable that sets it, and its value when unset.
SERVER_VARIABLES: dict[str, tuple[str, Any]] = {
    "flavor": ("server_flavor", None),
    "image": ("server_image", None),
    "group": ("server_group", None),
    "scheduler_hints": ("server_hints", {}),
    "availability_zone": ("server_az", None),
    "host": ("server_host", None),
    "metadata": ("server_metadata", None),
    "description": ("server_description", None),
    "networks": ("server_networks", None),
    "floating_ip": ("server_floating_ip", False),
    "state": ("server_state", PRESENT),
}

# Scheduler hints whose values are servers (names in the inventory, ids in the API).
SERVER_HINTS = ("same_host", "different_host")


def declared_servers(
    inventory_hosts: Iterable[str], hostvars: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """One server per host of the servers group, in host name order.

    The name is ``server_name``, else the host's inventory name; the other fields
    come from ``SERVER_VARIABLES``.
    """
    servers = []
    for host in sorted(inventory_hosts):
        variables = hostvars[host]
        server = {"name": variables.get("server_name", host)}
        for field, (variable, default) in SERVER_VARIABLES.items():
            server[field] = variables.get(variable, default)
        servers.append(server)
    return servers


def _hosts_by_name(existing: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    return {str(server["name"]): server.get("host") for server in existing}


def plan_input(
    servers: Iterable[Mapping[str, Any]], existing: Iterable[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """What the planner gets: the servers that should exist, those already in the
    cloud on the host they run on (else the host they ask for)."""
    hosts = _hosts_by_name(existing)
    return [
        {
            "name": server["name"],
            "flavor": server.get("flavor"),
            "image": server.get("image"),
            "group": server.get("group"),
            "scheduler_hints": server.get("scheduler_hints"),
            "availability_zone": server.get("availability_zone"),
            "host": hosts.get(str(server["name"])) or server.get("host"),
        }
        for server in servers
        if server.get("state") != ABSENT
    ]


def plan_report(
    plan: Mapping[str, str],
    servers: Iterable[Mapping[str, Any]],
    existing: Iterable[Mapping[str, Any]],
    prune: bool = False,
) -> dict[str, str]:
    """``{server: "host (new)"}``: where each server is or goes, and what is deleted.

    Planned servers are ``(exists)`` or ``(new)``; declared ``absent`` servers
    that exist are ``(delete)``; with ``prune``, servers of the cloud that the
    inventory does not declare are ``(delete, not in the inventory)``.
    """
    servers = list(servers)
    hosts = _hosts_by_name(existing)
    report = {
        str(name): f"{host} ({'exists' if name in hosts else 'new'})" for name, host in plan.items()
    }
    for server in servers:
        name = str(server["name"])
        if server.get("state") == ABSENT and name in hosts:
            report[name] = f"{hosts[name]} (delete)"
    if prune:
        declared = {str(server["name"]) for server in servers}
        for name, host in hosts.items():
            if name not in declared:
                report[name] = f"{host} (delete, not in the inventory)"
    return report


def resolve_hints(hints: Mapping[str, Any] | None, ids: Mapping[str, str]) -> dict[str, Any]:
    """Scheduler hints for the API: servers named in ``SERVER_HINTS`` become their
    ids (``ids``: name -> id); unknown names, and every other hint, pass unchanged."""
    resolved: dict[str, Any] = {}
    for key, value in (hints or {}).items():
        if key in SERVER_HINTS:
            refs = [value] if isinstance(value, str) else list(value)
            resolved[key] = [ids.get(ref, ref) for ref in refs]
        else:
            resolved[key] = value
    return resolved


def declared_networks(networks: Iterable[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    """The inventory's ``stratus_networks``, each with ``state`` (present unless
    given) and ``subnets`` (each with its own ``state``), in declaration order.

    A network or subnet without a name, a name declared twice, or a state other
    than present or absent is a ``ValueError`` naming it."""
    result: list[dict[str, Any]] = []
    seen: set[str] = set()
    for network in networks or []:
        name = network.get("name")
        if not name:
            raise ValueError(f"stratus_networks: a network without a name: {dict(network)}")
        if name in seen:
            raise ValueError(f"stratus_networks: network {name} is declared twice")
        seen.add(name)
        subnets = []
        subnet_names: set[str] = set()
        for subnet in network.get("subnets") or []:
            subnet_name = subnet.get("name")
            if not subnet_name or subnet_name in subnet_names:
                raise ValueError(
                    f"stratus_networks: network {name}: each subnet needs a name of its own"
                )
            subnet_names.add(subnet_name)
            subnets.append({**subnet, "state": _state(subnet, f"subnet {subnet_name}")})
        result.append({**network, "state": _state(network, f"network {name}"), "subnets": subnets})
    return result


def declared_routers(routers: Iterable[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    """The inventory's ``stratus_routers`` (stratus_router options), each with
    ``state`` (present unless given), in declaration order.

    A router without a name, a name declared twice, or a state other than present
    or absent is a ``ValueError`` naming it."""
    result: list[dict[str, Any]] = []
    seen: set[str] = set()
    for router in routers or []:
        name = router.get("name")
        if not name:
            raise ValueError(f"stratus_routers: a router without a name: {dict(router)}")
        if name in seen:
            raise ValueError(f"stratus_routers: router {name} is declared twice")
        seen.add(name)
        result.append({**router, "state": _state(router, f"router {name}", "stratus_routers")})
    return result


def floating_ip_network(server: Mapping[str, Any], default: str | None) -> str | None:
    """The external network a declared server's floating IP comes from, or None
    when it asks for none: ``server_floating_ip`` is true (from ``default``, the
    role's stratus_resources_floating_network), a network name, or false."""
    wanted = server.get("floating_ip")
    if wanted is None or wanted is False:
        return None
    if wanted is True:
        if not default:
            raise ValueError(
                f"server {server['name']}: server_floating_ip is true but no "
                "stratus_floating_network names the external network"
            )
        return default
    if isinstance(wanted, str) and wanted:
        return wanted
    raise ValueError(
        f"server {server['name']}: server_floating_ip must be true, false or an "
        f"external network's name, not {wanted!r}"
    )


def _state(declared: Mapping[str, Any], what: str, variable: str = "stratus_networks") -> str:
    state = declared.get("state", PRESENT)
    if state not in (PRESENT, ABSENT):
        raise ValueError(f"{variable}: {what}: state must be present or absent, not {state}")
    return state
