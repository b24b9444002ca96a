#!/usr/bin/python
# Copyright: Stratus contributors
# Apache License 2.0 (see pyproject.toml at the root of the Stratus repository)

from __future__ import annotations

DOCUMENTATION = r"""
module: stratus_image_info
short_description: List the images of a Stratus cloud
description:
  - Returns images as the Image API shows them, their extra properties also gathered
    under C(properties), in the shape C(stratus_image) returns them.
author:
  - Stratus developers (!UNKNOWN)
options:
  image:
    description: Only the image with this name or id.
    type: str
    aliases: [name]
  filters:
    description:
      - Image API list filters, e.g. C(status), C(visibility), C(tag), C(owner),
        C(disk_format), or any extra property.
    type: dict
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
- name: Every active public image
  stratus_image_info:
    cloud: stratus
    filters:
      status: active
      visibility: public
  register: found

- name: One image
  stratus_image_info:
    cloud: stratus
    image: debian-12
  register: debian
"""

RETURN = r"""
images:
  description: The images found (empty when none matches).
  returned: always
  type: list
  elements: dict
  sample:
    - id: 6f8e3c7a-9b1d-4e2f-8a3b-1c2d3e4f5a6b
      name: debian-12
      status: active
      disk_format: qcow2
      container_format: bare
      visibility: public
      os_hash_algo: sha512
      os_hash_value: 2f1c0e0d...
      tags: []
      properties: {"hw_architecture": "x86_64"}
      hw_architecture: x86_64
"""

from ansible.module_utils.stratus_cloud import (  # noqa: E402
    StratusModule,
    is_uuid,
    normalize_image,
    quote_path,
    stringify,
)


class ImageInfoModule(StratusModule):
    resource = "images"
    argument_spec = dict(image=dict(type="str", aliases=["name"]), filters=dict(type="dict"))

    def run(self) -> None:
        params = self.params
        query = {str(k): stringify(v) for k, v in (params["filters"] or {}).items()}
        ref = params["image"]
        if ref is not None and is_uuid(ref):
            found = self.get_or_none(self.image_api, "GET", f"/images/{quote_path(ref)}")
            if found is not None:
                self.exit([normalize_image(found)])
                return
        if ref is not None:
            query["name"] = ref
        images = self.image_list(query, what="Listing images")
        self.exit([normalize_image(i) for i in images])


def main() -> None:
    ImageInfoModule.execute()


if __name__ == "__main__":
    main()
