"""Ansible filters of the Stratus roles: the rules live in ``stratus.deploy``.

* ``stratus_services_to_restart(installed, code=, config=, config_file=,
  definitions=, started=)`` -- the services a run restarts (stratus_common);
* ``stratus_service_hosts(inventory_hosts, hostvars)`` -- the name each machine's
  services register under;
* ``stratus_declared_servers(inventory_hosts, hostvars)`` -- the servers that the
  hosts of the servers group declare (stratus_resources);
* ``stratus_declared_networks(networks)`` -- the inventory's networks with their
  subnets, states filled in and checked (stratus_resources);
* ``stratus_declared_routers(routers)`` -- the inventory's routers, checked
  (stratus_resources);
* ``stratus_floating_ip_network(server, default)`` -- the external network a
  declared server's floating IP comes from, or None (stratus_resources);
* ``stratus_plan_input(servers, existing)`` and ``stratus_plan_report(plan,
  servers, existing, prune)`` -- around the ``stratus_place`` plan;
* ``stratus_resolve_hints(hints, ids)`` -- server names in scheduler hints to ids.

A thin shim: the ``stratus`` package is installed in the environment that runs
Ansible.
"""

from __future__ import annotations

from typing import Any

from stratus.deploy import resources, services


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "stratus_services_to_restart": services.services_to_restart,
            "stratus_service_hosts": services.service_hosts,
            "stratus_declared_servers": resources.declared_servers,
            "stratus_declared_networks": resources.declared_networks,
            "stratus_declared_routers": resources.declared_routers,
            "stratus_floating_ip_network": resources.floating_ip_network,
            "stratus_plan_input": resources.plan_input,
            "stratus_plan_report": resources.plan_report,
            "stratus_resolve_hints": resources.resolve_hints,
        }
