#!/usr/bin/python
# Copyright: Stratus contributors
# Apache License 2.0 (see pyproject.toml at the root of the Stratus repository)

from __future__ import annotations

DOCUMENTATION = r"""
module: stratus_router
short_description: Create, update or delete a Stratus router
description:
  - Makes a router of a Stratus cloud's Networking API (v2.0) match its declaration,
    its external gateway, its interfaces into subnets and its static routes.
  - O(admin_state_up), O(external_gateway) and O(routes) are changed in place; the
    interfaces are added and removed so that the router has those of O(interfaces).
    O(project) cannot change in place; a difference fails the task with a message
    naming the attribute.
  - An option left out is not managed (the cloud's default at creation, left as it is
    afterwards). Deleting a router removes its interfaces first.
author:
  - Stratus developers (!UNKNOWN)
options:
  name:
    description: Name of the router (or its id, to manage a router by id).
    type: str
    required: true
  project:
    description:
      - Project (name or id) that owns the router (admin only). Also narrows the lookup
        by name to that project.
    type: str
  admin_state_up:
    description: Administrative state of the router.
    type: bool
  external_gateway:
    description:
      - The router's gateway to an external network, whose address the router's SNAT
        and floating IPs use. An empty dictionary (no O(external_gateway.network))
        removes the gateway.
    type: dict
    suboptions:
      network:
        description: External network (name or id).
        type: str
      enable_snat:
        description:
          - Whether the router translates its subnets' outgoing traffic to its gateway
            address.
        type: bool
      external_fixed_ips:
        description:
          - The gateway's addresses, each by subnet, by address, or both (chosen by the
            cloud when left out).
        type: list
        elements: dict
        suboptions:
          subnet:
            description: Subnet (name or id) of the external network.
            type: str
          ip_address:
            description: The address.
            type: str
  interfaces:
    description:
      - Every interface the router should have, each a subnet (name or id; the
        interface takes the subnet's gateway address) or a dictionary with either
        C(subnet) or C(port) (name or id; the interface takes the port). Interfaces
        not listed are removed.
    type: list
    elements: raw
  routes:
    description: Every static route of the router (its nexthops in a subnet of an interface).
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
  state:
    description: Whether the router should exist.
    type: str
    choices: [present, absent]
    default: present
attributes:
  check_mode:
    description: Returns the router as it would be, without changing it.
    support: full
  diff_mode:
    description: Returns the router's managed attributes and interfaces before and after.
    support: full
extends_documentation_fragment:
  - stratus
  - stratus.no_wait
"""

EXAMPLES = r"""
- name: A router from net1's subnet to the external network
  stratus_router:
    cloud: stratus
    name: router1
    external_gateway:
      network: public
    interfaces:
      - net1-v4

- name: A route to a network behind another router
  stratus_router:
    cloud: stratus
    name: router1
    routes:
      - destination: 10.20.0.0/24
        nexthop: 10.0.0.254

- name: Delete it (with its interfaces)
  stratus_router:
    cloud: stratus
    name: router1
    state: absent
"""

RETURN = r"""
router:
  description:
    - The router as the Networking API shows it, plus its C(interfaces); in check mode,
      as it would be (id null for a router not created yet); null when O(state=absent).
  returned: always
  type: dict
  contains:
    id:
      description: Router id.
      type: str
      sample: 2b3c4d5e-6f70-4819-a2b3-c4d5e6f70819
    name:
      description: Router name.
      type: str
      sample: router1
    status:
      description: ACTIVE.
      type: str
      sample: ACTIVE
    external_gateway_info:
      description: The gateway (network, SNAT and addresses), null without one.
      type: dict
      sample: {"network_id": "3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f", "enable_snat": true,
               "external_fixed_ips": [{"subnet_id": "0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e",
                                       "ip_address": "203.0.113.10"}]}
    routes:
      description: Static routes.
      type: list
      elements: dict
      sample: []
    interfaces:
      description: The router's interfaces (port, subnet and address).
      type: list
      elements: dict
      sample: [{"port_id": "7e6d5c4b-3a29-4817-a6b5-c4d3e2f1a0b9",
                "subnet_id": "0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e", "ip_address": "10.0.0.1"}]
differences:
  description: The attributes that cannot change in place and differ (before and after).
  returned: when such an attribute differs
  type: dict
  sample: {"project_id": {"before": "9a8b7c6d5e4f40312f1e0d9c8b7a6f5e", "after": "0f1e2d3c"}}
"""

from ansible.module_utils.stratus_errors import StratusError  # noqa: E402
from ansible.module_utils.stratus_module import quote_path  # noqa: E402
from ansible.module_utils.stratus_networking import (  # noqa: E402
    NetworkingModule,
    same_value,
)

#: device_owner of a router's gateway port (its other ports are its interfaces)
GATEWAY_OWNER = "network:router_gateway"


class RouterModule(NetworkingModule):
    resource = "router"
    collection = "routers"
    immutable = frozenset({"project_id"})
    viewed = ("name", "project_id", "admin_state_up", "external_gateway_info", "routes")
    argument_spec = dict(
        name=dict(type="str", required=True),
        project=dict(type="str"),
        admin_state_up=dict(type="bool"),
        external_gateway=dict(
            type="dict",
            options=dict(
                network=dict(type="str"),
                enable_snat=dict(type="bool"),
                external_fixed_ips=dict(
                    type="list",
                    elements="dict",
                    options=dict(subnet=dict(type="str"), ip_address=dict(type="str")),
                ),
            ),
        ),
        interfaces=dict(type="list", elements="raw"),
        routes=dict(
            type="list",
            elements="dict",
            options=dict(
                destination=dict(type="str", required=True),
                nexthop=dict(type="str", required=True),
            ),
        ),
        state=dict(type="str", choices=["present", "absent"], default="present"),
    )

    # - finding -

    def lookup(self):
        self._project_id = self.project_id()
        return self.find_networking("routers", self.params["name"], project_id=self._project_id)

    def interface_ports(self, router) -> list:
        """The router's interface ports (all its ports but the gateway's)."""
        if not router or not router.get("id"):
            return []
        ports = self.network_list(
            "ports",
            {"device_id": router["id"]},
            what=f"Listing the interfaces of router {self.named(router)!r}",
        )
        return [p for p in ports if p.get("device_owner") != GATEWAY_OWNER]

    def wanted_interfaces(self) -> list:
        """The ``interfaces`` option as ``{"subnet_id": id}`` or ``{"port_id": id}``."""
        found = []
        for index, entry in enumerate(self.params["interfaces"]):
            if isinstance(entry, str):
                entry = {"subnet": entry}
            if not isinstance(entry, dict) or len([k for k in entry if entry[k]]) != 1:
                raise StratusError(
                    f"interfaces[{index}] must be a subnet, or a dictionary with either "
                    "subnet or port."
                )
            if entry.get("subnet"):
                subnet = self.find_subnet(entry["subnet"])
                if subnet is None:
                    self.missing(f"interfaces[{index}]: unknown subnet {entry['subnet']!r}.")
                    continue
                found.append({"subnet_id": subnet["id"]})
            elif entry.get("port"):
                port = self.find_port(entry["port"])
                if port is None:
                    self.missing(f"interfaces[{index}]: unknown port {entry['port']!r}.")
                    continue
                found.append({"port_id": port["id"]})
            else:
                raise StratusError(f"interfaces[{index}] names neither a subnet nor a port.")
        return found

    def gateway(self, option: dict):
        """The ``external_gateway`` option as the API's ``external_gateway_info``."""
        if not option.get("network"):
            return None
        network = self.find_network(option["network"])
        if network is None:
            self.missing(f"external_gateway: unknown network {option['network']!r}.")
        network_id = network["id"] if network else None
        info: dict = {"network_id": network_id}
        if option.get("enable_snat") is not None:
            info["enable_snat"] = option["enable_snat"]
        if option.get("external_fixed_ips") is not None:
            ips = self.resolve_fixed_ips(
                option["external_fixed_ips"],
                network_id,
                "external_gateway.external_fixed_ips",
                option["network"],
            )
            info["external_fixed_ips"] = ips
        return info

    def wanted(self, current) -> dict:
        params = self.params
        wanted: dict = {"name": current["name"] if current else params["name"]}
        if self._project_id:
            wanted["project_id"] = self._project_id
        if params["admin_state_up"] is not None:
            wanted["admin_state_up"] = params["admin_state_up"]
        if params["external_gateway"] is not None:
            wanted["external_gateway_info"] = self.gateway(params["external_gateway"])
        # Routes go in after the interfaces (their nexthops must be in a subnet of one).
        self._routes = params["routes"]
        self._interfaces = self.wanted_interfaces() if params["interfaces"] is not None else None
        return wanted

    # - the flow -

    def interface_action(self, router: dict, action: str, body: dict) -> None:
        self.network_api(
            "PUT",
            f"/routers/{quote_path(router['id'])}/{action}_router_interface",
            body,
            what=f"{action.capitalize()} interface {body} of router {self.named(router)!r}",
        )

    def absent(self, current) -> None:
        if current is not None and not self.check_mode:
            for port in self.interface_ports(current):
                self.interface_action(current, "remove", {"port_id": port["id"]})
        super().absent(current)

    def done(self, resource, before: dict, after: dict) -> None:
        router = resource
        ports = self.interface_ports(router)
        have = interfaces(ports)
        before = dict(before, interfaces=subnets_of(have)) if before else before
        add, remove = [], []
        if self._interfaces is not None:
            add = [w for w in self._interfaces if not any(matches(w, h) for h in have)]
            remove = [h for h in have if not any(matches(w, h) for w in self._interfaces)]
        routes = None
        if self._routes is not None and not same_value(
            "routes", router.get("routes") or [], self._routes
        ):
            routes = self._routes
        if add or remove or routes is not None:
            self.changed = True
        if self.check_mode or not self.changed:
            after = dict(after, routes=router.get("routes") if routes is None else routes)
            kept = [h for h in have if h not in remove]
            planned = kept + [dict(w, ip_address=None) for w in add]
            result = dict(router, routes=after["routes"], interfaces=planned)
            self.exit(result, before, dict(after, interfaces=subnets_of(planned)))
            return
        for interface in add:
            self.interface_action(router, "add", interface)
        if routes is not None:
            self.network_api(
                "PUT",
                f"/routers/{quote_path(router['id'])}",
                {"router": {"routes": routes}},
                what=f"Setting the routes of router {self.named(router)!r}",
            )
        for port_id in dict.fromkeys(i["port_id"] for i in remove):
            self.interface_action(router, "remove", {"port_id": port_id})
        router = self.network_api("GET", f"/routers/{quote_path(router['id'])}")["router"]
        router["interfaces"] = interfaces(self.interface_ports(router))
        after = dict(self.view(router), interfaces=subnets_of(router["interfaces"]))
        self.exit(router, before, after)


def interfaces(ports: list) -> list:
    """A router's interfaces: port, subnet and address of each fixed IP of its ports."""
    return [
        {
            "port_id": port["id"],
            "subnet_id": ip.get("subnet_id"),
            "ip_address": ip.get("ip_address"),
        }
        for port in ports
        for ip in port.get("fixed_ips") or [{}]
    ]


def matches(wanted: dict, have: dict) -> bool:
    """Whether an interface the router has is one asked for (by subnet or by port)."""
    return all(have.get(key) == value for key, value in wanted.items())


def subnets_of(items: list) -> list:
    """The diff's view of interfaces: their subnets (or ports), sorted."""
    return sorted(str(i.get("subnet_id") or i.get("port_id")) for i in items)


def main() -> None:
    RouterModule.execute()


if __name__ == "__main__":
    main()
