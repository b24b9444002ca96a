#!/usr/bin/python
# Copyright: Stratus contributors
# Apache License 2.0 (see pyproject.toml at the root of the Stratus repository)

from __future__ import annotations

DOCUMENTATION = r"""
module: stratus_subnet
short_description: Create, update or delete a Stratus subnet
description:
  - Makes a subnet of a network in a Stratus cloud's Networking API (v2.0) match its
    declaration.
  - O(gateway_ip) (or O(no_gateway)), O(allocation_pools), O(dns_nameservers),
    O(host_routes) and O(enable_dhcp) are changed in place. O(network), O(cidr),
    O(ip_version), O(ipv6_address_mode) and O(ipv6_ra_mode) cannot change in place; a
    difference fails the task with a message naming the attribute.
  - An option left out is not managed (the cloud's default at creation, left as it is
    afterwards).
author:
  - Stratus developers (!UNKNOWN)
options:
  name:
    description: Name of the subnet (or its id, to manage a subnet by id).
    type: str
    required: true
  network:
    description:
      - Network (name or id) of the subnet; required to create it. The lookup by name
        is narrowed to this network.
      - In check mode a network that does not exist yet (declared by an earlier task)
        is not an error; the subnet is reported as to be created.
    type: str
  project:
    description: Project (name or id) that owns the subnet (admin only).
    type: str
  cidr:
    description: The subnet's range, e.g. V(10.0.0.0/24); required to create it.
    type: str
  ip_version:
    description: 4 or 6; taken from O(cidr) when left out.
    type: int
    choices: [4, 6]
  gateway_ip:
    description: The gateway's address; the subnet's first address when left out at creation.
    type: str
  no_gateway:
    description: The subnet has no gateway (C(gateway_ip) null).
    type: bool
    default: false
  allocation_pools:
    description: Ranges the addresses of ports are taken from.
    type: list
    elements: dict
    suboptions:
      start:
        description: First address of the range.
        type: str
        required: true
      end:
        description: Last address of the range.
        type: str
        required: true
  dns_nameservers:
    description: DNS servers handed to the guests by DHCP, in order.
    type: list
    elements: str
  host_routes:
    description: Routes handed to the guests by DHCP.
    type: list
    elements: dict
    suboptions:
      destination:
        description: Destination CIDR.
        type: str
        required: true
      nexthop:
        description: Next hop address.
        type: str
        required: true
  enable_dhcp:
    description: Whether the network's DHCP serves the subnet.
    type: bool
  ipv6_address_mode:
    description: How IPv6 addresses are given (V(slaac) takes them from the MAC addresses).
    type: str
    choices: [slaac, dhcpv6-stateful, dhcpv6-stateless]
  ipv6_ra_mode:
    description: How router advertisements are sent for an IPv6 subnet.
    type: str
    choices: [slaac, dhcpv6-stateful, dhcpv6-stateless]
  state:
    description: Whether the subnet should exist.
    type: str
    choices: [present, absent]
    default: present
attributes:
  check_mode:
    description: Returns the subnet as it would be, without changing it.
    support: full
  diff_mode:
    description: Returns the subnet's managed attributes before and after.
    support: full
extends_documentation_fragment:
  - stratus
  - stratus.no_wait
"""

EXAMPLES = r"""
- name: An IPv4 subnet of net1
  stratus_subnet:
    cloud: stratus
    name: net1-v4
    network: net1
    cidr: 10.0.0.0/24
    allocation_pools:
      - start: 10.0.0.10
        end: 10.0.0.200
    dns_nameservers: [192.0.2.53]

- name: An IPv6 SLAAC subnet without gateway
  stratus_subnet:
    cloud: stratus
    name: net1-v6
    network: net1
    cidr: 2001:db8::/64
    ipv6_address_mode: slaac
    ipv6_ra_mode: slaac
    no_gateway: true
"""

RETURN = r"""
subnet:
  description:
    - The subnet as the Networking API shows it; in check mode, as it would be (id
      null for a subnet not created yet); null when O(state=absent).
  returned: always
  type: dict
  contains:
    id:
      description: Subnet id.
      type: str
      sample: 0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e
    name:
      description: Subnet name.
      type: str
      sample: net1-v4
    network_id:
      description: Network of the subnet.
      type: str
      sample: 3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f
    cidr:
      description: The range.
      type: str
      sample: 10.0.0.0/24
    gateway_ip:
      description: Gateway address (null without gateway).
      type: str
      sample: 10.0.0.1
    allocation_pools:
      description: Ranges of the ports' addresses.
      type: list
      elements: dict
      sample: [{"start": "10.0.0.10", "end": "10.0.0.200"}]
    enable_dhcp:
      description: Whether DHCP serves it.
      type: bool
      sample: true
differences:
  description: The attributes that cannot change in place and differ (before and after).
  returned: when such an attribute differs
  type: dict
  sample: {"cidr": {"before": "10.0.0.0/24", "after": "10.1.0.0/24"}}
"""

import ipaddress  # noqa: E402

from ansible.module_utils.stratus_errors import StratusError  # noqa: E402
from ansible.module_utils.stratus_networking import NetworkingModule  # noqa: E402

PLAIN = ("enable_dhcp", "ipv6_address_mode", "ipv6_ra_mode")


class SubnetModule(NetworkingModule):
    resource = "subnet"
    collection = "subnets"
    immutable = frozenset(
        {"network_id", "project_id", "cidr", "ip_version", "ipv6_address_mode", "ipv6_ra_mode"}
    )
    viewed = (
        "name",
        "network_id",
        "project_id",
        "cidr",
        "ip_version",
        "gateway_ip",
        "allocation_pools",
        "dns_nameservers",
        "host_routes",
        "enable_dhcp",
        "ipv6_address_mode",
        "ipv6_ra_mode",
    )
    argument_spec = dict(
        name=dict(type="str", required=True),
        network=dict(type="str"),
        project=dict(type="str"),
        cidr=dict(type="str"),
        ip_version=dict(type="int", choices=[4, 6]),
        gateway_ip=dict(type="str"),
        no_gateway=dict(type="bool", default=False),
        allocation_pools=dict(
            type="list",
            elements="dict",
            options=dict(
                start=dict(type="str", required=True), end=dict(type="str", required=True)
            ),
        ),
        dns_nameservers=dict(type="list", elements="str"),
        host_routes=dict(
            type="list",
            elements="dict",
            options=dict(
                destination=dict(type="str", required=True),
                nexthop=dict(type="str", required=True),
            ),
        ),
        enable_dhcp=dict(type="bool"),
        ipv6_address_mode=dict(
            type="str", choices=["slaac", "dhcpv6-stateful", "dhcpv6-stateless"]
        ),
        ipv6_ra_mode=dict(type="str", choices=["slaac", "dhcpv6-stateful", "dhcpv6-stateless"]),
        state=dict(type="str", choices=["present", "absent"], default="present"),
    )
    module_kwargs = dict(mutually_exclusive=[("gateway_ip", "no_gateway")])

    def lookup(self):
        params = self.params
        self._project_id = self.project_id()
        self._network = self.parent_network()
        if params["network"] and self._network is None:
            return None
        network_id = self._network["id"] if self._network else None
        return self.find_subnet(params["name"], network_id=network_id)

    def wanted(self, current) -> dict:
        params = self.params
        wanted: dict = {"name": current["name"] if current else params["name"]}
        if params["network"]:
            wanted["network_id"] = self._network["id"] if self._network else None
        if self._project_id:
            wanted["project_id"] = self._project_id
        if params["cidr"]:
            try:
                network = ipaddress.ip_network(params["cidr"], strict=False)
            except ValueError as exc:
                raise StratusError(f"Invalid cidr {params['cidr']!r}: {exc}.") from None
            wanted["cidr"] = params["cidr"]
            wanted["ip_version"] = params["ip_version"] or network.version
        elif params["ip_version"]:
            wanted["ip_version"] = params["ip_version"]
        if params["no_gateway"]:
            wanted["gateway_ip"] = None
        elif params["gateway_ip"]:
            wanted["gateway_ip"] = params["gateway_ip"]
        for option in ("allocation_pools", "dns_nameservers", "host_routes", *PLAIN):
            if params[option] is not None:
                wanted[option] = params[option]
        if current is None:
            missing = [o for o in ("network", "cidr") if not params[o]]
            if missing:
                raise StratusError(
                    f"Subnet {params['name']!r} does not exist; creating it needs: "
                    f"{', '.join(missing)}."
                )
        return wanted


def main() -> None:
    SubnetModule.execute()


if __name__ == "__main__":
    main()
