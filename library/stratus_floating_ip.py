#!/usr/bin/python
# Copyright: Stratus contributors
# Apache License 2.0 (see pyproject.toml at the root of the Stratus repository)

from __future__ import annotations

DOCUMENTATION = r"""
module: stratus_floating_ip
short_description: Allocate, associate or release a Stratus floating IP
description:
  - Makes a floating IP of a Stratus cloud's Networking API (v2.0) exist, associated
    with a server's or a port's fixed address, or released.
  - The floating IP is found by O(floating_ip_address) when given, else as the one
    associated with the O(server) or O(port) (and O(fixed_address)), so that a second
    run finds the address the first one allocated.
  - An existing floating IP is moved to the port (and fixed address) declared. Its
    network cannot change; a difference fails the task with a message naming it.
author:
  - Stratus developers (!UNKNOWN)
options:
  network:
    description:
      - External network (name or id) the floating IP is allocated from; required to
        allocate one. Also narrows the lookup.
    type: str
  floating_ip_address:
    description:
      - The floating address. Allocated (when free on O(network)) if no floating IP has
        it; chosen by the cloud when left out.
    type: str
  server:
    description:
      - Server (name or id) whose port the floating IP is associated with. A server with
        several ports needs O(fixed_address) to choose one.
    type: str
  port:
    description: Port (name or id) the floating IP is associated with.
    type: str
  fixed_address:
    description:
      - The port's fixed address the floating IP maps to (the port's first IPv4 address
        when left out).
    type: str
  description:
    description: Description of the floating IP, set when it is allocated (not compared).
    type: str
  project:
    description: Project (name or id) that owns the floating IP (admin only).
    type: str
  state:
    description:
      - V(present) allocates (and associates) the floating IP; V(absent) releases it.
    type: str
    choices: [present, absent]
    default: present
attributes:
  check_mode:
    description: Returns the floating IP as it would be, without changing it.
    support: full
  diff_mode:
    description: Returns the floating IP's address and association before and after.
    support: full
extends_documentation_fragment:
  - stratus
  - stratus.no_wait
"""

EXAMPLES = r"""
- name: A floating IP for a server
  stratus_floating_ip:
    cloud: stratus
    network: public
    server: web-1
  register: fip

- name: Move that address to another server
  stratus_floating_ip:
    cloud: stratus
    floating_ip_address: "{{ fip.floating_ip.floating_ip_address }}"
    server: web-2

- name: Release it
  stratus_floating_ip:
    cloud: stratus
    floating_ip_address: "{{ fip.floating_ip.floating_ip_address }}"
    state: absent
"""

RETURN = r"""
floating_ip:
  description:
    - The floating IP as the Networking API shows it; in check mode, as it would be (id
      null for one not allocated yet); null when O(state=absent).
  returned: always
  type: dict
  contains:
    id:
      description: Floating IP id.
      type: str
      sample: 4c5d6e7f-8091-4a2b-b3c4-d5e6f7081920
    floating_ip_address:
      description: The floating address.
      type: str
      sample: 203.0.113.25
    floating_network_id:
      description: The external network it is allocated from.
      type: str
      sample: 3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f
    port_id:
      description: The associated port (null when not associated).
      type: str
      sample: 7e6d5c4b-3a29-4817-a6b5-c4d3e2f1a0b9
    fixed_ip_address:
      description: The fixed address it maps to.
      type: str
      sample: 10.0.0.5
    router_id:
      description: The router that translates it.
      type: str
      sample: 2b3c4d5e-6f70-4819-a2b3-c4d5e6f70819
    status:
      description: ACTIVE when associated, else DOWN.
      type: str
      sample: ACTIVE
differences:
  description: The attributes that cannot change in place and differ (before and after).
  returned: when such an attribute differs
  type: dict
  sample: {"floating_network_id": {"before": "3f1c2d4e", "after": "9e8d7c6b"}}
"""

from ansible.module_utils.stratus_errors import StratusError  # noqa: E402
from ansible.module_utils.stratus_networking import (  # noqa: E402
    NetworkingModule,
    same_address,
)


class FloatingIPModule(NetworkingModule):
    resource = "floating_ip"
    body_key = "floatingip"
    collection = "floatingips"
    kind = "floating IP"
    immutable = frozenset({"floating_network_id", "floating_ip_address", "project_id"})
    viewed = ("floating_ip_address", "floating_network_id", "port_id", "fixed_ip_address")
    argument_spec = dict(
        network=dict(type="str"),
        floating_ip_address=dict(type="str"),
        server=dict(type="str"),
        port=dict(type="str"),
        fixed_address=dict(type="str"),
        description=dict(type="str"),
        project=dict(type="str"),
        state=dict(type="str", choices=["present", "absent"], default="present"),
    )
    module_kwargs = dict(
        mutually_exclusive=[("server", "port")],
        required_one_of=[("floating_ip_address", "server", "port")],
    )
    advice = "Release it (state: absent) and allocate another one."

    def label(self):
        params = self.params
        if params["floating_ip_address"]:
            return params["floating_ip_address"]
        return f"of {'server' if params['server'] else 'port'} {params['server'] or params['port']}"

    def target_port(self):
        """The port the ``server`` or ``port`` option names (``None`` if none)."""
        params = self.params
        if params["port"]:
            port = self.find_port(params["port"])
            if port is None:
                self.missing(f"Unknown port {params['port']!r}: no port has this name or id.")
            return port
        if not params["server"]:
            return None
        server = self.find_server(params["server"])
        if server is None:
            self.missing(f"Unknown server {params['server']!r}: no server has this name or id.")
            return None
        ports = self.network_list(
            "ports",
            {"device_id": server["id"]},
            what=f"Listing the ports of server {params['server']!r}",
        )
        if params["fixed_address"]:
            ports = [
                p
                for p in ports
                if any(
                    same_address(ip.get("ip_address"), params["fixed_address"])
                    for ip in p.get("fixed_ips") or []
                )
            ]
        if len(ports) != 1:
            which = f" with address {params['fixed_address']}" if params["fixed_address"] else ""
            advice = "" if params["fixed_address"] else ": give fixed_address to choose one"
            self.missing(f"Server {params['server']!r} has {len(ports)} ports{which}{advice}.")
            return None
        return ports[0]

    def lookup(self):
        params = self.params
        self._project_id = self.project_id()
        self._network = None
        if params["network"]:
            self._network = self.find_network(params["network"])
            if self._network is None:
                self.missing(
                    f"Unknown network {params['network']!r}: no network has this name or id."
                )
        self._port = self.target_port()
        query: dict = {}
        if self._project_id:
            query["project_id"] = self._project_id
        if params["floating_ip_address"]:
            # The address alone finds it: another network is a difference to report.
            query["floating_ip_address"] = params["floating_ip_address"]
        elif self._port:
            query["port_id"] = self._port["id"]
            if self._network:
                query["floating_network_id"] = self._network["id"]
        else:
            return None
        found = self.network_list(
            "floatingips", query, what=f"Looking up floating IP {self.label()}"
        )
        if params["floating_ip_address"]:
            found = [
                f
                for f in found
                if same_address(f.get("floating_ip_address"), params["floating_ip_address"])
            ]
        elif params["fixed_address"]:
            found = [
                f for f in found if same_address(f.get("fixed_ip_address"), params["fixed_address"])
            ]
        return found[0] if found else None

    def wanted(self, current) -> dict:
        params = self.params
        wanted: dict = {}
        if params["network"]:
            wanted["floating_network_id"] = self._network["id"] if self._network else None
        elif current is None:
            raise StratusError(
                f"Floating IP {self.label()} does not exist; allocating it needs: network."
            )
        if params["floating_ip_address"]:
            wanted["floating_ip_address"] = params["floating_ip_address"]
        if self._project_id:
            wanted["project_id"] = self._project_id
        if params["server"] or params["port"]:
            wanted["port_id"] = self._port["id"] if self._port else None
            if params["fixed_address"]:
                wanted["fixed_ip_address"] = params["fixed_address"]
            elif current is not None and current.get("port_id") != wanted["port_id"]:
                wanted["fixed_ip_address"] = None  # the new port's address, chosen by the cloud
        if current is None and params["description"] is not None:
            wanted["description"] = params["description"]
        return wanted

    def differences(self, current: dict, wanted: dict) -> dict:
        """As the base, with addresses compared however written."""
        changes = super().differences(current, wanted)
        for key in ("floating_ip_address", "fixed_ip_address"):
            if (
                key in changes
                and wanted[key] is not None
                and same_address(current.get(key), wanted[key])
            ):
                del changes[key]
        if changes.keys() == {"fixed_ip_address"} and wanted["fixed_ip_address"] is None:
            del changes["fixed_ip_address"]  # same port, its address left to the cloud
        return changes


def main() -> None:
    FloatingIPModule.execute()


if __name__ == "__main__":
    main()
