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
extends_documentation_fragment:
  - stratus
  - stratus.no_wait
  - stratus.info
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

from ansible.module_utils.stratus_module import (  # noqa: E402
    StratusModule,
    is_uuid,
    normalize_image,
    quote_path,
    string_dict,
)


class ImageInfoModule(StratusModule):
    resource = "images"
    argument_spec = dict(image=dict(type="str", aliases=["name"]), filters=dict(type="dict"))

    def run(self) -> None:
        params = self.params
        query = string_dict(params["filters"])
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
