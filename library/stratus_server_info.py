#!/usr/bin/python
# Copyright: Stratus contributors
# Apache License 2.0 (see pyproject.toml at the root of the Stratus repository)

from __future__ import annotations

DOCUMENTATION = r"""
module: stratus_server_info
short_description: List the servers of a Stratus cloud
description:
  - Returns servers as the Compute API (microversion 2.100) shows them, plus C(host)
    and C(availability_zone), in the shape C(stratus_server) returns them, with their
    C(addresses) by network name.
author:
  - Stratus developers (!UNKNOWN)
options:
  server:
    description: Only the server with this exact name, or this id.
    type: str
    aliases: [name]
  all_projects:
    description: Servers of every project (admin only), not only the caller's.
    type: bool
    default: false
  filters:
    description:
      - Compute API list filters, e.g. C(status), C(host), C(image), C(flavor),
        C(availability_zone).
    type: dict
extends_documentation_fragment:
  - stratus
  - stratus.no_wait
  - stratus.info
"""

EXAMPLES = r"""
- name: Where every server of the cloud runs
  stratus_server_info:
    cloud: stratus
    all_projects: true
  register: found

- name: The stopped servers on one host
  stratus_server_info:
    cloud: stratus
    all_projects: true
    filters:
      host: compute1
      status: SHUTOFF
  register: stopped
"""

RETURN = r"""
servers:
  description: The servers found (empty when none matches).
  returned: always
  type: list
  elements: dict
  sample:
    - id: 8d5c1f3e-2b4a-4c6d-9e8f-0a1b2c3d4e5f
      name: web-1
      status: ACTIVE
      host: compute1
      availability_zone: nova
      flavor: {"original_name": "m1.small", "vcpus": 1, "ram": 2048, "disk": 20}
      image: {"id": "6f8e3c7a-9b1d-4e2f-8a3b-1c2d3e4f5a6b"}
      metadata: {}
      addresses:
        net1:
          - addr: 10.0.0.12
            version: 4
            "OS-EXT-IPS:type": fixed
            "OS-EXT-IPS-MAC:mac_addr": "fa:16:3e:12:34:56"
"""

import re  # noqa: E402

from ansible.module_utils.stratus_module import (  # noqa: E402
    StratusModule,
    is_uuid,
    normalize_server,
    quote_path,
    string_dict,
)


class ServerInfoModule(StratusModule):
    resource = "servers"
    compute_microversion = "2.100"
    argument_spec = dict(
        server=dict(type="str", aliases=["name"]),
        all_projects=dict(type="bool", default=False),
        filters=dict(type="dict"),
    )

    def run(self) -> None:
        params = self.params
        query = string_dict(params["filters"])
        if params["all_projects"]:
            query["all_tenants"] = "1"
        ref = params["server"]
        if ref is not None:
            query["name"] = f"^{re.escape(ref)}$"
        servers = self.compute_list("/servers/detail", "servers", query, what="Listing servers")
        if ref is not None:
            servers = [s for s in servers if s.get("name") == ref]
            if not servers and is_uuid(ref):
                found = self.get_or_none(self.compute, "GET", f"/servers/{quote_path(ref)}")
                servers = [found["server"]] if found else []
        self.exit([normalize_server(s) for s in servers])


def main() -> None:
    ServerInfoModule.execute()


if __name__ == "__main__":
    main()
