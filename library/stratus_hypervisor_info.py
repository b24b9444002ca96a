#!/usr/bin/python
# Copyright: Stratus contributors
# Apache License 2.0 (see pyproject.toml at the root of the Stratus repository)

from __future__ import annotations

DOCUMENTATION = r"""
module: stratus_hypervisor_info
short_description: List the hypervisors of a Stratus cloud with their usage
description:
  - Returns the Compute API's hypervisor detail at microversion 2.87 (the last one
    with usage figures), C(vcpus)/C(vcpus_used), C(memory_mb)/C(memory_mb_used),
    C(local_gb)/C(local_gb_used), C(running_vms), C(cpu_info), C(state), C(status),
    C(service.host), plus the host's C(availability_zone).
  - The list feeds the C(stratus_place) filter as it is, so a playbook can plan where
    servers will land.
  - Admin only.
author:
  - Stratus developers (!UNKNOWN)
options:
  name:
    description: Only the hypervisor whose hostname or compute host is this.
    type: str
extends_documentation_fragment:
  - stratus
  - stratus.no_wait
  - stratus.info
"""

EXAMPLES = r"""
- name: Read the hypervisors and the flavors
  stratus_hypervisor_info:
    cloud: stratus
  register: hypervisors

- name: Read the flavors
  stratus_flavor_info:
    cloud: stratus
  register: flavors

- name: Plan where the declared servers will land
  ansible.builtin.set_fact:
    plan: >-
      {{ servers | stratus_place(hypervisors.hypervisors, flavors.flavors) }}
"""

RETURN = r"""
hypervisors:
  description: The hypervisors found (empty when none matches).
  returned: always
  type: list
  elements: dict
  sample:
    - id: 1b8d6a4e-3c2f-4e5d-8a9b-0c1d2e3f4a5b
      hypervisor_hostname: compute1
      service: {"host": "compute1", "id": "4e5d8a9b-0c1d-2e3f-4a5b-1b8d6a4e3c2f"}
      state: up
      status: enabled
      vcpus: 8
      vcpus_used: 1
      memory_mb: 16384
      memory_mb_used: 2560
      local_gb: 100
      local_gb_used: 20
      running_vms: 1
      cpu_info: {"arch": "x86_64"}
      availability_zone: nova
"""

from ansible.module_utils.stratus_errors import StratusAPIError  # noqa: E402
from ansible.module_utils.stratus_module import StratusModule  # noqa: E402


class HypervisorInfoModule(StratusModule):
    resource = "hypervisors"
    compute_microversion = "2.87"
    argument_spec = dict(name=dict(type="str"))

    def zones(self) -> dict:
        """``{host: zone}`` from the availability zone detail (empty if not allowed)."""
        try:
            zones = self.compute("GET", "/os-availability-zone/detail", microversion="2.1")[
                "availabilityZoneInfo"
            ]
        except StratusAPIError as exc:
            if exc.status in (403, 404):
                return {}
            raise
        return {host: z["zoneName"] for z in zones for host in (z.get("hosts") or {})}

    def run(self) -> None:
        hypervisors = self.compute_list(
            "/os-hypervisors/detail", "hypervisors", what="Listing hypervisors"
        )
        name = self.params["name"]
        if name is not None:
            hypervisors = [
                h
                for h in hypervisors
                if name in (h.get("hypervisor_hostname"), (h.get("service") or {}).get("host"))
            ]
        zones = self.zones() if hypervisors else {}
        for hypervisor in hypervisors:
            host = (hypervisor.get("service") or {}).get("host")
            hypervisor["availability_zone"] = zones.get(host)
        self.exit(hypervisors)


def main() -> None:
    HypervisorInfoModule.execute()


if __name__ == "__main__":
    main()
