#!/usr/bin/python
# Copyright: Stratus contributors
# Apache License 2.0 (see pyproject.toml at the root of the Stratus repository)

from __future__ import annotations

DOCUMENTATION = r"""
module: stratus_port
short_description: Create, update or delete a Stratus port
description:
  - Makes a port of a network in a Stratus cloud's Networking API (v2.0) match its
    declaration. A port given to C(stratus_server) (an entry C(port) of its C(networks))
    becomes the server's interface.
  - O(fixed_ips), O(device_id), O(device_owner) and O(admin_state_up) are changed in
    place. O(network), O(project) and O(mac_address) cannot change in place; a difference
    fails the task with a message naming the attribute.
  - An option left out is not managed (the cloud's default at creation, left as it is
    afterwards).
author:
  - Stratus developers (!UNKNOWN)
options:
  name:
    description: Name of the port (or its id, to manage a port by id).
    type: str
    required: true
  network:
    description:
      - Network (name or id) of the port; required to create it. The lookup by name is
        narrowed to this network.
      - In check mode a network that does not exist yet (declared by an earlier task)
        is not an error; the port is reported as to be created.
    type: str
  project:
    description: Project (name or id) that owns the port (admin only).
    type: str
  fixed_ips:
    description:
      - The port's addresses, each by subnet, by address, or both. An entry with only a
        subnet matches any address of that subnet; left out at creation, the port gets
        one address of the network's subnets.
    type: list
    elements: dict
    suboptions:
      subnet:
        description: Subnet (name or id, of the port's network).
        type: str
      ip_address:
        description: The address.
        type: str
  mac_address:
    description: MAC address; chosen by the cloud when left out. Cannot change in place.
    type: str
  device_id:
    description: Id of the device using the port (e.g. a server id).
    type: str
  device_owner:
    description: Kind of device using the port (e.g. V(compute:nova)).
    type: str
  admin_state_up:
    description: Administrative state of the port.
    type: bool
  state:
    description: Whether the port should exist.
    type: str
    choices: [present, absent]
    default: present
attributes:
  check_mode:
    description: Returns the port as it would be, without changing it.
    support: full
  diff_mode:
    description: Returns the port's managed attributes before and after.
    support: full
extends_documentation_fragment:
  - stratus
  - stratus.no_wait
"""

EXAMPLES = r"""
- name: A port with a chosen address
  stratus_port:
    cloud: stratus
    name: db-port
    network: net1
    fixed_ips:
      - subnet: net1-v4
        ip_address: 10.0.0.50

- name: A server on that port
  stratus_server:
    cloud: stratus
    name: db-1
    flavor: m1.small
    image: debian-12
    networks:
      - port: db-port
"""

RETURN = r"""
port:
  description:
    - The port as the Networking API shows it; in check mode, as it would be (id null
      for a port not created yet); null when O(state=absent).
  returned: always
  type: dict
  contains:
    id:
      description: Port id.
      type: str
      sample: 7e6d5c4b-3a29-4817-a6b5-c4d3e2f1a0b9
    name:
      description: Port name.
      type: str
      sample: db-port
    network_id:
      description: Network of the port.
      type: str
      sample: 3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f
    fixed_ips:
      description: The port's addresses.
      type: list
      elements: dict
      sample: [{"subnet_id": "0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e", "ip_address": "10.0.0.50"}]
    mac_address:
      description: MAC address.
      type: str
      sample: fa:16:3e:12:34:56
    status:
      description: DOWN, or ACTIVE once plugged into a guest.
      type: str
      sample: DOWN
    device_id:
      description: Device using the port.
      type: str
      sample: ""
differences:
  description: The attributes that cannot change in place and differ (before and after).
  returned: when such an attribute differs
  type: dict
  sample: {"mac_address": {"before": "fa:16:3e:12:34:56", "after": "fa:16:3e:00:00:01"}}
"""

from ansible.module_utils.stratus_errors import StratusError  # noqa: E402
from ansible.module_utils.stratus_networking import NetworkingModule  # noqa: E402


class PortModule(NetworkingModule):
    resource = "port"
    collection = "ports"
    immutable = frozenset({"network_id", "project_id", "mac_address"})
    viewed = (
        "name",
        "network_id",
        "project_id",
        "fixed_ips",
        "mac_address",
        "device_id",
        "device_owner",
        "admin_state_up",
    )
    argument_spec = dict(
        name=dict(type="str", required=True),
        network=dict(type="str"),
        project=dict(type="str"),
        fixed_ips=dict(
            type="list",
            elements="dict",
            options=dict(subnet=dict(type="str"), ip_address=dict(type="str")),
        ),
        mac_address=dict(type="str"),
        device_id=dict(type="str"),
        device_owner=dict(type="str"),
        admin_state_up=dict(type="bool"),
        state=dict(type="str", choices=["present", "absent"], default="present"),
    )

    def lookup(self):
        params = self.params
        self._project_id = self.project_id()
        self._network = self.parent_network()
        if params["network"] and self._network is None:
            return None
        network_id = self._network["id"] if self._network else None
        return self.find_networking("ports", params["name"], network_id=network_id)

    def fixed_ips(self, network_id) -> list:
        """The ``fixed_ips`` option as the API takes it (subnets by id)."""
        return self.resolve_fixed_ips(
            self.params["fixed_ips"], network_id, "fixed_ips", self.params["network"]
        )

    def wanted(self, current) -> dict:
        params = self.params
        wanted: dict = {"name": current["name"] if current else params["name"]}
        network_id = self._network["id"] if self._network else None
        if params["network"]:
            wanted["network_id"] = network_id
        elif current is None:
            raise StratusError(
                f"Port {params['name']!r} does not exist; creating it needs: network."
            )
        if self._project_id:
            wanted["project_id"] = self._project_id
        if params["fixed_ips"] is not None:
            wanted["fixed_ips"] = self.fixed_ips(network_id or (current or {}).get("network_id"))
        for option in ("mac_address", "device_id", "device_owner", "admin_state_up"):
            if params[option] is not None:
                wanted[option] = params[option]
        return wanted


def main() -> None:
    PortModule.execute()


if __name__ == "__main__":
    main()
