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
  cloud:
    description:
      - Name of a cloud in C(clouds.yaml) (the first of C($OS_CLIENT_CONFIG_FILE),
        C(./clouds.yaml), C(~/.config/openstack/clouds.yaml), C(/etc/openstack/clouds.yaml)).
      - Defaults to C($OS_CLOUD); without a cloud, the C(OS_*) environment variables.
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
    description: Catalog interface to use.
    type: str
    choices: [public, internal, admin]
    aliases: [endpoint_type]
  validate_certs:
    description: Whether to verify TLS certificates.
    type: bool
    aliases: [verify]
  ca_cert:
    description: CA bundle to verify the API's TLS certificate with.
    type: path
    aliases: [cacert]
  wait:
    description: Not used (groups are created and deleted at once).
    type: bool
    default: true
  timeout:
    description: Not used.
    type: int
    default: 300
  api_timeout:
    description: Timeout of each API request in seconds.
    type: int
attributes:
  check_mode:
    description: Returns the group as it would be, without changing it.
    support: full
  diff_mode:
    description: Returns the group's name, policy and rules before and after.
    support: full
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

from ansible.module_utils.stratus_cloud import (  # noqa: E402
    StratusError,
    StratusModule,
    quote_path,
)

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

    def lookup(self, ref: str) -> dict | None:
        found = self.get_or_none(self.compute, "GET", f"/os-server-groups/{quote_path(ref)}")
        if found is not None:
            return found["server_group"]
        groups = self.compute("GET", "/os-server-groups", what="Listing server groups")[
            "server_groups"
        ]
        matches = [g for g in groups if g.get("name") == ref]
        if len(matches) > 1:
            ids = ", ".join(sorted(g["id"] for g in matches))
            raise StratusError(
                f"There are {len(matches)} server groups named {ref!r} ({ids}): give the id."
            )
        return matches[0] if matches else None

    def run(self) -> None:
        params = self.params
        group = self.lookup(params["name"])
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
