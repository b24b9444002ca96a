#!/usr/bin/python
# Copyright: Stratus contributors
# Apache License 2.0 (see pyproject.toml at the root of the Stratus repository)

from __future__ import annotations

DOCUMENTATION = r"""
module: stratus_flavor_info
short_description: List the flavors of a Stratus cloud
description:
  - Returns flavors with their extra specs and, for private flavors seen by an admin,
    their access lists, in the shape C(stratus_flavor) returns them (which the
    C(stratus_place) filter reads directly).
author:
  - Stratus developers (!UNKNOWN)
options:
  name:
    description: Only the flavor with this name or id.
    type: str
  is_public:
    description:
      - Only public (V(true)) or only private (V(false)) flavors. Left out, every flavor
        the caller may see.
    type: bool
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
- name: Every flavor
  stratus_flavor_info:
    cloud: stratus
  register: found

- name: One flavor
  stratus_flavor_info:
    cloud: stratus
    name: m1.small
  register: small
"""

RETURN = r"""
flavors:
  description: The flavors found (empty when none matches).
  returned: always
  type: list
  elements: dict
  sample:
    - id: "1"
      name: m1.small
      vcpus: 1
      ram: 2048
      disk: 20
      ephemeral: 0
      swap: 0
      is_public: true
      is_disabled: false
      rxtx_factor: 1.0
      description: null
      extra_specs: {}
      projects: []
"""

from ansible.module_utils.stratus_cloud import (  # noqa: E402
    StratusAPIError,
    StratusModule,
    normalize_flavor,
    quote_path,
)


class FlavorInfoModule(StratusModule):
    resource = "flavors"
    compute_microversion = "2.61"
    argument_spec = dict(name=dict(type="str"), is_public=dict(type="bool"))

    def projects(self, flavor: dict):
        if flavor.get("os-flavor-access:is_public", True):
            return None
        try:
            access = self.compute("GET", f"/flavors/{quote_path(flavor['id'])}/os-flavor-access")[
                "flavor_access"
            ]
        except StratusAPIError as exc:
            if exc.status in (403, 404):
                return None
            raise
        return [a["tenant_id"] for a in access]

    def run(self) -> None:
        params = self.params
        is_public = "None" if params["is_public"] is None else str(params["is_public"])
        flavors = self.compute_list(
            "/flavors/detail", "flavors", {"is_public": is_public}, what="Listing flavors"
        )
        if params["name"] is not None:
            by_id = [f for f in flavors if f.get("id") == params["name"]]
            flavors = by_id or [f for f in flavors if f.get("name") == params["name"]]
        self.exit([normalize_flavor(f, self.projects(f)) for f in flavors])


def main() -> None:
    FlavorInfoModule.execute()


if __name__ == "__main__":
    main()
