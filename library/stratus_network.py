#!/usr/bin/python
# Copyright: Stratus contributors
# Apache License 2.0 (see pyproject.toml at the root of the Stratus repository)

from __future__ import annotations

DOCUMENTATION = r"""
module: stratus_network
short_description: Create, update or delete a Stratus network
description:
  - Makes a network of a Stratus cloud's Networking API (v2.0) match its declaration.
  - O(admin_state_up), O(shared), O(external), O(mtu) and O(port_security_enabled) are
    changed in place. O(project) and the provider attributes (O(network_type),
    O(physical_network), O(segmentation_id)) cannot change in place; a difference fails
    the task with a message naming the attribute.
  - An option left out is not managed (the cloud's default at creation, left as it is
    afterwards).
author:
  - Stratus developers (!UNKNOWN)
options:
  name:
    description: Name of the network (or its id, to manage a network by id).
    type: str
    required: true
  project:
    description:
      - Project (name or id) that owns the network (admin only); the caller's project
        when left out. Also narrows the lookup by name to that project.
    type: str
  shared:
    description: Whether every project may use the network (admin only).
    type: bool
  external:
    description: Whether the network is external (C(router:external); admin only).
    type: bool
  network_type:
    description:
      - Provider network type (C(provider:network_type); admin only). Tenant networks
        get the cloud's tenant network type (vxlan) when left out.
    type: str
    choices: [flat, vxlan, vlan]
  physical_network:
    description: Physical network of a flat or vlan network (C(provider:physical_network)).
    type: str
  segmentation_id:
    description: VXLAN VNI or VLAN id (C(provider:segmentation_id); admin only).
    type: int
  mtu:
    description: MTU of the network.
    type: int
  admin_state_up:
    description: Administrative state of the network.
    type: bool
  port_security_enabled:
    description: Default port security of the network's ports.
    type: bool
  state:
    description: Whether the network should exist.
    type: str
    choices: [present, absent]
    default: present
attributes:
  check_mode:
    description: Returns the network as it would be, without changing it.
    support: full
  diff_mode:
    description: Returns the network's managed attributes before and after.
    support: full
extends_documentation_fragment:
  - stratus
  - stratus.no_wait
"""

EXAMPLES = r"""
- name: A tenant network
  stratus_network:
    cloud: stratus
    name: net1

- name: A shared flat provider network (admin)
  stratus_network:
    cloud: stratus-admin
    name: public
    network_type: flat
    physical_network: physnet1
    shared: true
    external: true

- name: Delete it
  stratus_network:
    cloud: stratus
    name: net1
    state: absent
"""

RETURN = r"""
network:
  description:
    - The network as the Networking API shows it; in check mode, as it would be (id
      null for a network not created yet); null when O(state=absent).
  returned: always
  type: dict
  contains:
    id:
      description: Network id.
      type: str
      sample: 3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f
    name:
      description: Network name.
      type: str
      sample: net1
    project_id:
      description: Project that owns the network.
      type: str
      sample: 9a8b7c6d5e4f40312f1e0d9c8b7a6f5e
    status:
      description: ACTIVE.
      type: str
      sample: ACTIVE
    subnets:
      description: Ids of the network's subnets.
      type: list
      elements: str
      sample: []
    shared:
      description: Whether every project may use it.
      type: bool
      sample: false
    router:external:
      description: Whether it is external.
      type: bool
      sample: false
    provider:network_type:
      description: flat, vxlan or vlan (shown to admins).
      type: str
      sample: vxlan
    provider:segmentation_id:
      description: VNI or VLAN id (shown to admins).
      type: int
      sample: 1001
    mtu:
      description: MTU.
      type: int
      sample: 1450
differences:
  description: The attributes that cannot change in place and differ (before and after).
  returned: when such an attribute differs
  type: dict
  sample: {"provider:network_type": {"before": "vxlan", "after": "flat"}}
"""

from ansible.module_utils.stratus_networking import NetworkingModule  # noqa: E402

#: option -> API attribute
ATTRIBUTES = {
    "shared": "shared",
    "external": "router:external",
    "network_type": "provider:network_type",
    "physical_network": "provider:physical_network",
    "segmentation_id": "provider:segmentation_id",
    "mtu": "mtu",
    "admin_state_up": "admin_state_up",
    "port_security_enabled": "port_security_enabled",
}


class NetworkModule(NetworkingModule):
    resource = "network"
    collection = "networks"
    immutable = frozenset(
        {
            "project_id",
            "provider:network_type",
            "provider:physical_network",
            "provider:segmentation_id",
        }
    )
    viewed = ("name", "project_id", *ATTRIBUTES.values())
    argument_spec = dict(
        name=dict(type="str", required=True),
        project=dict(type="str"),
        shared=dict(type="bool"),
        external=dict(type="bool"),
        network_type=dict(type="str", choices=["flat", "vxlan", "vlan"]),
        physical_network=dict(type="str"),
        segmentation_id=dict(type="int"),
        mtu=dict(type="int"),
        admin_state_up=dict(type="bool"),
        port_security_enabled=dict(type="bool"),
        state=dict(type="str", choices=["present", "absent"], default="present"),
    )

    def lookup(self):
        self._project_id = self.project_id()
        return self.find_networking("networks", self.params["name"], project_id=self._project_id)

    def wanted(self, current) -> dict:
        params = self.params
        wanted = {"name": current["name"] if current else params["name"]}
        if self._project_id:
            wanted["project_id"] = self._project_id
        for option, attribute in ATTRIBUTES.items():
            if params[option] is not None:
                wanted[attribute] = params[option]
        return wanted


def main() -> None:
    NetworkModule.execute()


if __name__ == "__main__":
    main()
