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
extends_documentation_fragment:
  - stratus
  - stratus.no_wait
  - stratus.info
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

from ansible.module_utils.stratus_errors import StratusAPIError  # noqa: E402
from ansible.module_utils.stratus_module import (  # noqa: E402
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
