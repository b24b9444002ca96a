#!/usr/bin/python
# Copyright: Stratus contributors
# Apache License 2.0 (see pyproject.toml at the root of the Stratus repository)

from __future__ import annotations

DOCUMENTATION = r"""
module: stratus_server_group
short_description: Create or delete a Stratus server group
description:
  - Makes a server group of the caller's project in a Stratus cloud match its
    declaration. Servers join a group when they are created (the C(server_group) option
    of C(stratus_server)), and the scheduler keeps its policy.
  - A group's O(policy) and O(rules) cannot be changed in place; a difference fails
    the task with a message, since the group's members were placed under the old policy.
  - Used by the stratus_resources role for the inventory's C(stratus_server_groups).
author:
  - Stratus developers (!UNKNOWN)
options:
  name:
    description: Name of the group (or its id).
    type: str
    required: true
  policy:
    description: How the scheduler places the group's members.
    type: str
    choices: [affinity, anti-affinity, soft-affinity, soft-anti-affinity]
    default: anti-affinity
  rules:
    description:
      - "Policy rules, e.g. C({max_server_per_host: 2}) for O(policy=anti-affinity)."
    type: dict
  state:
    description: Whether the group should exist.
    type: str
    choices: [present, absent]
    default: present
attributes:
  check_mode:
    description: Returns the group as it would be, without changing it.
    support: full
  diff_mode:
    description: Returns the group's name, policy and rules before and after.
    support: full
extends_documentation_fragment:
  - stratus
  - stratus.no_wait
"""

EXAMPLES = r"""
- name: Keep the web servers on different hosts
  stratus_server_group:
    cloud: stratus-admin
    name: web
    policy: anti-affinity
"""

RETURN = r"""
server_group:
  description: The group as the Compute API (2.64) shows it; null when absent.
  returned: always
  type: dict
  sample: {"id": "5b3c...", "name": "web", "policy": "anti-affinity", "rules": {},
           "members": []}
"""

from ansible.module_utils.stratus_errors import StratusError  # noqa: E402
from ansible.module_utils.stratus_module import StratusModule, quote_path  # noqa: E402

MICROVERSION = "2.64"


def _view(group: dict | None) -> dict:
    if not group:
        return {}
    return {
        "name": group.get("name"),
        "policy": group.get("policy"),
        "rules": dict(group.get("rules") or {}),
    }


class ServerGroupModule(StratusModule):
    resource = "server_group"
    compute_microversion = MICROVERSION
    argument_spec = dict(
        name=dict(type="str", required=True),
        policy=dict(
            type="str",
            choices=["affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity"],
            default="anti-affinity",
        ),
        rules=dict(type="dict"),
        state=dict(type="str", choices=["present", "absent"], default="present"),
    )

    def run(self) -> None:
        params = self.params
        group = self.find_server_group(params["name"])
        before = _view(group)
        if params["state"] == "absent":
            if group is not None:
                self.changed = True
                if not self.check_mode:
                    self.compute(
                        "DELETE",
                        f"/os-server-groups/{quote_path(group['id'])}",
                        what=f"Deleting server group {params['name']!r}",
                    )
            self.exit(None, before, {})
            return
        wanted = {
            "name": group["name"] if group else params["name"],
            "policy": params["policy"],
            "rules": {k: int(v) for k, v in (params["rules"] or {}).items()},
        }
        if group is None:
            self.changed = True
            created = dict(wanted, id=None, members=[])
            if not self.check_mode:
                body = {"name": wanted["name"], "policy": wanted["policy"]}
                if wanted["rules"]:
                    body["rules"] = wanted["rules"]
                created = self.compute(
                    "POST",
                    "/os-server-groups",
                    {"server_group": body},
                    what=f"Creating server group {params['name']!r}",
                )["server_group"]
            self.exit(created, before, wanted)
            return
        if before != wanted:
            differences = {
                key: {"before": before[key], "after": wanted[key]}
                for key in ("policy", "rules")
                if before[key] != wanted[key]
            }
            raise StratusError(
                f"Server group {params['name']!r} has "
                + ", ".join(f"{k} {v['before']!r}" for k, v in differences.items())
                + "; a group's policy and rules cannot change in place. Delete the group "
                "(state=absent, once its servers are gone) and declare it again.",
                differences=differences,
                server_group=group,
            )
        self.exit(group, before, wanted)


def main() -> None:
    ServerGroupModule.execute()


if __name__ == "__main__":
    main()
