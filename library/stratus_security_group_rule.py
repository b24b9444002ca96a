#!/usr/bin/python
# Copyright: Stratus contributors
# Apache License 2.0 (see pyproject.toml at the root of the Stratus repository)

from __future__ import annotations

DOCUMENTATION = r"""
module: stratus_security_group_rule
short_description: Add or remove a rule of a Stratus security group
description:
  - Makes a rule of a security group of a Stratus cloud's Networking API (v2.0) exist
    or not. Rules cannot change in place, so a rule is found by what it lets through
    (O(direction), O(ethertype), O(protocol), the port range and the remote); declaring
    another rule adds it next to the existing ones.
  - Two spellings of one rule are the same rule (a protocol by name or number, C(any)
    or none, a prefix however written, no remote or the whole address family).
  - The cloud checks the rule; what it refuses fails the task with its message, which
    names the field.
author:
  - Stratus developers (!UNKNOWN)
options:
  security_group:
    description: Security group (name or id) of the rule.
    type: str
    required: true
  project:
    description:
      - Project (name or id) of the security group (admin only), narrowing its lookup
        by name; the caller's project when left out.
    type: str
  direction:
    description: Whether the rule lets traffic into or out of the group's ports.
    type: str
    choices: [ingress, egress]
    default: ingress
  ethertype:
    description: Address family of the rule.
    type: str
    choices: [IPv4, IPv6]
    default: IPv4
  protocol:
    description:
      - Protocol, by name (V(tcp), V(udp), V(icmp), V(icmpv6), ...), by number (V(0) to
        V(255)) or V(any); every protocol when left out.
    type: str
  port_range_min:
    description:
      - Lowest destination port (TCP, UDP, SCTP, UDP-Lite, DCCP) or the ICMP type.
    type: int
  port_range_max:
    description:
      - Highest destination port (TCP, UDP, SCTP, UDP-Lite, DCCP) or the ICMP code.
    type: int
  remote_ip_prefix:
    description: The remote addresses the rule admits (CIDR).
    type: str
  remote_group:
    description:
      - Security group (name or id) whose members the rule admits, instead of
        O(remote_ip_prefix).
    type: str
  description:
    description: Description of the rule, set when it is created (not compared).
    type: str
  state:
    description: Whether the rule should exist.
    type: str
    choices: [present, absent]
    default: present
attributes:
  check_mode:
    description: Returns the rule as it would be, without adding or removing it.
    support: full
  diff_mode:
    description: Returns the rule before and after.
    support: full
extends_documentation_fragment:
  - stratus
  - stratus.no_wait
"""

EXAMPLES = r"""
- name: SSH from anywhere
  stratus_security_group_rule:
    cloud: stratus
    security_group: web
    protocol: tcp
    port_range_min: 22
    port_range_max: 22

- name: Ping from the members of another group
  stratus_security_group_rule:
    cloud: stratus
    security_group: web
    protocol: icmp
    remote_group: monitoring

- name: No more SSH
  stratus_security_group_rule:
    cloud: stratus
    security_group: web
    protocol: tcp
    port_range_min: 22
    port_range_max: 22
    state: absent
"""

RETURN = r"""
security_group_rule:
  description:
    - The rule as the Networking API shows it; in check mode, as it would be (id null for
      a rule not added yet); null when O(state=absent).
  returned: always
  type: dict
  contains:
    id:
      description: Rule id.
      type: str
      sample: 1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d
    security_group_id:
      description: The rule's security group.
      type: str
      sample: 5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a
    direction:
      description: ingress or egress.
      type: str
      sample: ingress
    ethertype:
      description: IPv4 or IPv6.
      type: str
      sample: IPv4
    protocol:
      description: Protocol (null for any).
      type: str
      sample: tcp
    port_range_min:
      description: Lowest port or ICMP type.
      type: int
      sample: 22
    port_range_max:
      description: Highest port or ICMP code.
      type: int
      sample: 22
    remote_ip_prefix:
      description: Remote prefix.
      type: str
      sample: 0.0.0.0/0
    remote_group_id:
      description: Remote security group.
      type: str
      sample: null
"""

from ansible.module_utils.stratus_errors import StratusError  # noqa: E402
from ansible.module_utils.stratus_networking import (  # noqa: E402
    NetworkingModule,
    rule_identity,
)

#: the attributes of a rule, in the order messages and diffs show them
RULE = (
    "security_group_id",
    "direction",
    "ethertype",
    "protocol",
    "port_range_min",
    "port_range_max",
    "remote_ip_prefix",
    "remote_group_id",
)


class SecurityGroupRuleModule(NetworkingModule):
    resource = "security_group_rule"
    collection = "security_group_rules"
    kind = "security group rule"
    viewed = (*RULE, "description")
    argument_spec = dict(
        security_group=dict(type="str", required=True),
        project=dict(type="str"),
        direction=dict(type="str", choices=["ingress", "egress"], default="ingress"),
        ethertype=dict(type="str", choices=["IPv4", "IPv6"], default="IPv4"),
        protocol=dict(type="str"),
        port_range_min=dict(type="int"),
        port_range_max=dict(type="int"),
        remote_ip_prefix=dict(type="str"),
        remote_group=dict(type="str"),
        description=dict(type="str"),
        state=dict(type="str", choices=["present", "absent"], default="present"),
    )
    module_kwargs = dict(mutually_exclusive=[("remote_ip_prefix", "remote_group")])

    def label(self):
        params = self.params
        ports = ""
        if params["port_range_min"] is not None or params["port_range_max"] is not None:
            ports = f" {params['port_range_min']}-{params['port_range_max']}"
        remote = params["remote_group"] or params["remote_ip_prefix"] or "any"
        return (
            f"{params['direction']} {params['ethertype']} {params['protocol'] or 'any'}"
            f"{ports} from {remote} in {params['security_group']}"
        )

    def group(self, ref, option: str):
        """The security group an option names; one that does not exist is an error
        but with state=absent, and in check mode (warned about)."""
        group = self.find_security_group(ref, project_id=self._project_id)
        if group is None and self.params["state"] != "absent":
            message = f"Unknown security group {ref!r} ({option}): no group has this name or id."
            if not self.check_mode:
                raise StratusError(message)
            self.module.warn(message + " The rule is reported as to be added.")
        return group

    def lookup(self):
        params = self.params
        self._project_id = self.project_id()
        self._group = self.group(params["security_group"], "security_group")
        self._remote = None
        if params["remote_group"]:
            self._remote = self.group(params["remote_group"], "remote_group")
        if self._group is None or (params["remote_group"] and self._remote is None):
            return None
        wanted = rule_identity(self.wanted(None))
        rules = self.network_list(
            "security_group_rules",
            {"security_group_id": self._group["id"]},
            what=f"Listing the rules of security group {params['security_group']!r}",
        )
        matches = [r for r in rules if rule_identity(r) == wanted]
        return matches[0] if matches else None

    def wanted(self, current) -> dict:
        params = self.params
        wanted = {
            "security_group_id": self._group["id"] if self._group else None,
            "direction": params["direction"],
            "ethertype": params["ethertype"],
            "protocol": params["protocol"],
            "port_range_min": params["port_range_min"],
            "port_range_max": params["port_range_max"],
            "remote_ip_prefix": params["remote_ip_prefix"],
            "remote_group_id": self._remote["id"] if self._remote else None,
        }
        if params["description"] is not None:
            wanted["description"] = params["description"]
        return wanted

    def update(self, current: dict, wanted: dict) -> None:
        """A rule found by its attributes is the rule declared: nothing to change."""
        self.exit(current, self.view(current), self.view(current))


def main() -> None:
    SecurityGroupRuleModule.execute()


if __name__ == "__main__":
    main()
