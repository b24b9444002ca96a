#!/usr/bin/python
# Copyright: Stratus contributors
# Apache License 2.0 (see pyproject.toml at the root of the Stratus repository)

from __future__ import annotations

DOCUMENTATION = r"""
module: stratus_security_group
short_description: Create, update or delete a Stratus security group
description:
  - Makes a security group of a Stratus cloud's Networking API (v2.0) match its
    declaration. Its rules are managed with C(stratus_security_group_rule); a new group
    has the cloud's default egress rules.
  - O(description) is changed in place. O(project) and O(stateful) cannot change in
    place; a difference fails the task with a message naming the attribute.
  - An option left out is not managed (the cloud's default at creation, left as it is
    afterwards).
author:
  - Stratus developers (!UNKNOWN)
options:
  name:
    description:
      - Name of the security group (or its id, to manage a group by id). The lookup by
        name is narrowed to O(project), else to the caller's project (every project has
        a group named C(default)).
    type: str
    required: true
  description:
    description: Description of the group.
    type: str
  project:
    description: Project (name or id) that owns the group (admin only).
    type: str
  stateful:
    description: Whether the group's rules track connections (replies are let through).
    type: bool
  state:
    description: Whether the security group should exist.
    type: str
    choices: [present, absent]
    default: present
attributes:
  check_mode:
    description: Returns the group as it would be, without changing it.
    support: full
  diff_mode:
    description: Returns the group's managed attributes before and after.
    support: full
extends_documentation_fragment:
  - stratus
  - stratus.no_wait
"""

EXAMPLES = r"""
- name: A group for web servers
  stratus_security_group:
    cloud: stratus
    name: web
    description: HTTP and SSH from anywhere

- name: Delete it
  stratus_security_group:
    cloud: stratus
    name: web
    state: absent
"""

RETURN = r"""
security_group:
  description:
    - The security group as the Networking API shows it; in check mode, as it would be
      (id null for a group not created yet); null when O(state=absent).
  returned: always
  type: dict
  contains:
    id:
      description: Security group id.
      type: str
      sample: 5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a
    name:
      description: Security group name.
      type: str
      sample: web
    description:
      description: Description.
      type: str
      sample: HTTP and SSH from anywhere
    project_id:
      description: Project that owns the group.
      type: str
      sample: 9a8b7c6d5e4f40312f1e0d9c8b7a6f5e
    stateful:
      description: Whether its rules track connections.
      type: bool
      sample: true
    security_group_rules:
      description: The group's rules.
      type: list
      elements: dict
      sample: []
differences:
  description: The attributes that cannot change in place and differ (before and after).
  returned: when such an attribute differs
  type: dict
  sample: {"stateful": {"before": true, "after": false}}
"""

from ansible.module_utils.stratus_networking import NetworkingModule  # noqa: E402


class SecurityGroupModule(NetworkingModule):
    resource = "security_group"
    collection = "security_groups"
    immutable = frozenset({"project_id", "stateful"})
    viewed = ("name", "description", "project_id", "stateful")
    argument_spec = dict(
        name=dict(type="str", required=True),
        description=dict(type="str"),
        project=dict(type="str"),
        stateful=dict(type="bool"),
        state=dict(type="str", choices=["present", "absent"], default="present"),
    )

    def lookup(self):
        self._project_id = self.project_id()
        return self.find_security_group(self.params["name"], project_id=self._project_id)

    def wanted(self, current) -> dict:
        params = self.params
        wanted = {"name": current["name"] if current else params["name"]}
        if self._project_id:
            wanted["project_id"] = self._project_id
        for option in ("description", "stateful"):
            if params[option] is not None:
                wanted[option] = params[option]
        return wanted


def main() -> None:
    SecurityGroupModule.execute()


if __name__ == "__main__":
    main()
