"""Stratus services on the machines: what a run restarts, and their host names."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def changed(result: Mapping[str, Any] | None) -> bool:
    """Ansible's ``changed`` test: a task result, or any item of a loop's result."""
    if not result:
        return False
    if "changed" in result:
        return bool(result["changed"])
    return any(isinstance(r, Mapping) and r.get("changed") for r in result.get("results") or [])


def changed_services(result: Mapping[str, Any] | None) -> set[str]:
    """Names of the services whose items changed in a loop over ``service`` items."""
    return {
        str(item["service"]["key"])
        for item in (result or {}).get("results") or []
        if item.get("changed") and "service" in item
    }


def services_to_restart(
    installed: Mapping[str, Any],
    *,
    code: Mapping[str, Any] | None = None,
    config: Mapping[str, Any] | None = None,
    config_file: str | None = None,
    definitions: Mapping[str, Any] | None = None,
    started: Mapping[str, Any] | None = None,
) -> list[str]:
    """The services to restart after a run, in the order of ``installed``.

    ``installed`` is the stat of each service's definition (a loop over
    ``stratus_common_services`` items as ``service``); the others are the results
    of the run's tasks: ``code`` the package install, ``config`` the write of
    ``config_file``, ``definitions`` the writes of the service definitions and
    ``started`` the starts (loops over ``service`` items as well). A service is
    restarted when it is installed, was not just started, and its code, its
    definition, or a config file it reads (``config_files``) changed.
    """
    code_changed = changed(code)
    changed_configs = {str(config_file)} if config_file and changed(config) else set()
    rewritten = changed_services(definitions)
    just_started = changed_services(started)
    restart = []
    for unit in installed.get("results") or []:
        if not unit.get("stat", {}).get("exists"):
            continue
        name = str(unit["service"]["key"])
        reads = {str(path) for path in unit["service"]["value"].get("config_files") or []}
        if name in just_started:
            continue
        if code_changed or name in rewritten or reads & changed_configs:
            restart.append(name)
    return restart


def service_hosts(inventory_hosts: Iterable[str], hostvars: Mapping[str, Any]) -> list[str]:
    """The name each machine's services register under: ``stratus_common_host`` when
    its inventory sets one, else its inventory name (stratus_common's default)."""
    return [str(hostvars[host].get("stratus_common_host", host)) for host in inventory_hosts]
