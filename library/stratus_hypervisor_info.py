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
  cloud:
    description:
      - Name of a cloud in C(clouds.yaml), looked for in C($OS_CLIENT_CONFIG_FILE),
        C(./clouds.yaml), C(~/.config/openstack/clouds.yaml) and
        C(/etc/openstack/clouds.yaml) (the first file found is used).
      - Defaults to C($OS_CLOUD). Without a cloud, the C(OS_*) environment variables
        are used.
    type: str
  auth:
    description:
      - Credentials, overriding those of O(cloud) key by key. Only O(auth.password) and
        O(auth.token) are kept out of logs, so messages can name the URL and the user.
    type: dict
    suboptions:
      auth_url:
        description: Identity v3 URL (C(/v3) is added when missing).
        type: str
      username:
        description: User name (with O(auth.user_domain_name)).
        type: str
      user_id:
        description: User id, instead of O(auth.username).
        type: str
      password:
        description: Password of the user.
        type: str
      token:
        description: An existing token, instead of a password.
        type: str
      project_name:
        description: Project to scope the token to (with O(auth.project_domain_name)).
        type: str
      project_id:
        description: Project id, instead of O(auth.project_name).
        type: str
      user_domain_name:
        description: Domain of the user. Defaults to C(Default).
        type: str
      user_domain_id:
        description: Domain id of the user.
        type: str
      project_domain_name:
        description: Domain of the project. Defaults to C(Default).
        type: str
      project_domain_id:
        description: Domain id of the project.
        type: str
      domain_name:
        description: Domain of both the user and the project, when those are not given.
        type: str
      domain_id:
        description: Domain id of both the user and the project, when those are not given.
        type: str
  region_name:
    description: Region of the catalog endpoints to use.
    type: str
  interface:
    description:
      - Catalog interface to use. Defaults to the cloud's C(interface), else V(public).
    type: str
    choices: [public, internal, admin]
    aliases: [endpoint_type]
  validate_certs:
    description:
      - Whether to verify TLS certificates. Defaults to the cloud's C(verify), else V(true).
    type: bool
    aliases: [verify]
  ca_cert:
    description: CA bundle to verify the API's TLS certificate with.
    type: path
    aliases: [cacert]
  wait:
    description: Not used by this module (it only reads).
    type: bool
    default: true
  timeout:
    description: How many seconds to wait when O(wait=true).
    type: int
    default: 300
  api_timeout:
    description:
      - Timeout of each API request in seconds. Defaults to the cloud's C(api_timeout),
        else 60.
    type: int
attributes:
  check_mode:
    description: Reads only; runs the same in check mode.
    support: full
  diff_mode:
    description: Reads only; there is nothing to show.
    support: none
notes:
  - Needs only Ansible on the host that runs it (no openstacksdk).
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

from ansible.module_utils.stratus_cloud import StratusAPIError, StratusModule  # noqa: E402


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
