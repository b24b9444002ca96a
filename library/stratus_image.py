#!/usr/bin/python
# Copyright: Stratus contributors
# Apache License 2.0 (see pyproject.toml at the root of the Stratus repository)

from __future__ import annotations

DOCUMENTATION = r"""
module: stratus_image
short_description: Upload, update, replace, deactivate or delete a Stratus image
description:
  - Makes an image of a Stratus cloud (Image API v2) match its declaration, uploading
    O(filename) and waiting (O(wait=true)) until the image is C(active).
  - The O(name) of an image found by O(id), O(visibility), O(protected), O(min_disk),
    O(min_ram), O(kernel), O(ramdisk), O(properties) and O(tags) are changed in place.
  - The image data, and the O(disk_format) and O(container_format) of an image that
    has data, cannot be changed in place. The local file's sha512 is compared with the
    image's C(os_hash_value); a difference fails the task with a message that names
    it, unless O(replace_on_change=true), which deletes the image and uploads a new
    one.
  - Options that are left out are never compared or changed (a missing O(visibility)
    never changes the visibility).
author:
  - Stratus developers (!UNKNOWN)
options:
  name:
    description:
      - Name of the image. Required to create one.
      - The image is looked up by O(id) when it is given, else by name (several images
        of that name is an error).
    type: str
  id:
    description: ID (a UUID) of the image; a new image gets it, else a generated one.
    type: str
  filename:
    description:
      - Local file (on the host that runs the module) to upload as the image data.
      - Without it, an image is created without data (C(queued)).
    type: path
  disk_format:
    description:
      - Disk format. New images default to V(qcow2).
      - Cannot change in place once the image has data.
    type: str
    choices: [raw, qcow2, vmdk, vdi, vhd, iso, aki, ari, ami, vhdx, ploop]
  container_format:
    description:
      - Container format. New images default to V(bare).
      - Cannot change in place once the image has data.
    type: str
    choices: [bare, ovf, aki, ari, ami, ova, docker, compressed]
  visibility:
    description:
      - Who may see and use the image. New images default to the API's default (V(shared)).
      - Left out, the visibility of an existing image is never changed.
    type: str
    choices: [public, private, shared, community]
  protected:
    description: Whether the image is protected from deletion.
    type: bool
  min_disk:
    description: Smallest root disk, in GiB, a server of this image needs.
    type: int
  min_ram:
    description: Smallest memory, in MiB, a server of this image needs.
    type: int
  kernel:
    description: Kernel image (name or id) of an AMI-style image; sets the C(kernel_id) property.
    type: str
  ramdisk:
    description: Ramdisk image (name or id) of an AMI-style image; sets the C(ramdisk_id) property.
    type: str
  properties:
    description:
      - Extra properties (values are sent as strings, booleans as V(true)/V(false)).
    type: dict
  properties_mode:
    description:
      - V(replace) makes O(properties) the image's whole set of extra properties (others
        are removed, except C(kernel_id) and C(ramdisk_id), which O(kernel) and O(ramdisk)
        govern); V(merge) only adds and changes the properties given.
    type: str
    choices: [replace, merge]
    default: replace
  tags:
    description: The image's tags (the list replaces the image's tags).
    type: list
    elements: str
  replace_on_change:
    description:
      - When the data (or a format) of the image differs, delete the image and upload
        a new one (a new id, unless O(id) is given) instead of failing.
    type: bool
    default: false
  state:
    description:
      - V(present) makes the image exist and be active (a deactivated image is
        reactivated); V(deactivated) makes it exist and be deactivated; V(absent)
        deletes it (a protected image is not deleted).
    type: str
    choices: [present, absent, deactivated]
    default: present
attributes:
  check_mode:
    description: Returns the image as it would be, without changing it (the local file is hashed).
    support: full
  diff_mode:
    description: Returns the image before and after.
    support: full
extends_documentation_fragment:
  - stratus
  - stratus.wait
"""

EXAMPLES = r"""
- name: A bootable qcow2 image for everyone
  stratus_image:
    cloud: stratus
    name: debian-12
    filename: /srv/images/debian-12.qcow2
    disk_format: qcow2
    container_format: bare
    visibility: public
    min_disk: 2
    properties:
      hw_architecture: x86_64
    tags: [debian]

- name: An AMI-style image that boots its own kernel and ramdisk
  stratus_image:
    cloud: stratus
    name: tiny-ami
    filename: /srv/images/tiny-ami.img
    disk_format: ami
    container_format: ami
    kernel: tiny-kernel
    ramdisk: tiny-ramdisk

- name: Replace the data of an image that was rebuilt
  stratus_image:
    cloud: stratus
    name: debian-12
    filename: /srv/images/debian-12.qcow2
    replace_on_change: true

- name: Stop new servers from using an image
  stratus_image:
    cloud: stratus
    name: debian-11
    state: deactivated
"""

RETURN = r"""
image:
  description:
    - The image as the Image API shows it (in check mode, as it would be), its extra
      properties also gathered under C(properties); null when O(state=absent).
  returned: always
  type: dict
  contains:
    id:
      description: Image id (null in check mode for an image not created yet, unless O(id) given).
      type: str
      sample: 6f8e3c7a-9b1d-4e2f-8a3b-1c2d3e4f5a6b
    name:
      description: Image name.
      type: str
      sample: debian-12
    status:
      description: C(queued), C(saving), C(active), C(deactivated) or C(killed).
      type: str
      sample: active
    disk_format:
      description: Disk format.
      type: str
      sample: qcow2
    container_format:
      description: Container format.
      type: str
      sample: bare
    visibility:
      description: Visibility.
      type: str
      sample: public
    protected:
      description: Whether the image is protected from deletion.
      type: bool
      sample: false
    min_disk:
      description: Smallest root disk in GiB.
      type: int
      sample: 0
    min_ram:
      description: Smallest memory in MiB.
      type: int
      sample: 0
    size:
      description: Size of the data in bytes.
      type: int
      sample: 10485760
    os_hash_algo:
      description: Hash algorithm of C(os_hash_value).
      type: str
      sample: sha512
    os_hash_value:
      description: Hash of the image data.
      type: str
      sample: 2f1c0e0d...
    tags:
      description: Tags.
      type: list
      elements: str
      sample: [debian]
    properties:
      description: Extra properties.
      type: dict
      sample: {"hw_architecture": "x86_64"}
replaced:
  description: Whether the image was (or in check mode would be) deleted and uploaded again.
  returned: always
  type: bool
  sample: false
differences:
  description: What cannot change in place and differs (before and after).
  returned: failure
  type: dict
  sample: {"data (sha512)": {"before": "2f1c...", "after": "9ab0..."}}
"""

import os  # noqa: E402

from ansible.module_utils.stratus_errors import StratusAPIError, StratusError  # noqa: E402
from ansible.module_utils.stratus_module import (  # noqa: E402
    IMAGE_CORE,
    StratusModule,
    file_digest,
    immutable_message,
    normalize_image,
    quote_path,
    string_dict,
)

# The Image API's rules, as stratus.image.formats and stratus.api.image.attributes
# state them (this module runs where the stratus package is not installed; the unit
# tests check that the two agree).
DISK_FORMATS = ("raw", "qcow2", "vmdk", "vdi", "vhd", "iso", "aki", "ari", "ami", "vhdx", "ploop")
CONTAINER_FORMATS = ("bare", "ovf", "aki", "ari", "ami", "ova", "docker", "compressed")
VISIBILITIES = ("public", "private", "shared", "community")
#: Extra properties that hold the id of another image (set by kernel and ramdisk).
REFERENCES = ("kernel_id", "ramdisk_id")
#: Statuses of an image that has data (its formats are fixed).
HAS_DATA = ("active", "deactivated", "saving")
FORMATS = ("disk_format", "container_format")
#: Core attributes that change in place whatever the image's status.
IN_PLACE = ("visibility", "protected", "min_disk", "min_ram")
PATCH_TYPE = "application/openstack-images-v2.1-json-patch"
#: What an image that replaces another keeps of it when the options leave it out.
REPLACEMENT_KEEPS = ("name", *FORMATS, *IN_PLACE, "tags")
ADVICE = (
    "Set replace_on_change: true to delete the image and upload it again (existing "
    "servers keep running from their cached copy), or give the new data another name."
)


def pointer(name: str) -> str:
    return "/" + name.replace("~", "~0").replace("/", "~1")


def wanted_properties(current: dict, params: dict, kernel_id, ramdisk_id) -> dict:
    wanted = dict(current)
    if params.get("properties") is not None:
        given = string_dict(params["properties"])
        if params.get("properties_mode") == "merge":
            wanted.update(given)
        else:
            wanted = {k: v for k, v in current.items() if k in REFERENCES}
            wanted.update(given)
    if kernel_id:
        wanted["kernel_id"] = kernel_id
    if ramdisk_id:
        wanted["ramdisk_id"] = ramdisk_id
    return wanted


def patch_ops(image: dict, params: dict, kernel_id=None, ramdisk_id=None) -> list:
    """The JSON-patch operations that make ``image`` (normalized) match ``params``."""
    ops = []
    fields = list(IN_PLACE)
    if params.get("id") is not None:
        fields.insert(0, "name")
    if image.get("status") == "queued":
        fields += FORMATS
    for field in fields:
        wanted = params.get(field)
        if wanted is not None and image.get(field) != wanted:
            ops.append({"op": "replace", "path": pointer(field), "value": wanted})
    if params.get("tags") is not None:
        tags = sorted(set(params["tags"]))
        if tags != sorted(image.get("tags") or []):
            ops.append({"op": "replace", "path": "/tags", "value": tags})
    current = image["properties"]
    wanted = wanted_properties(current, params, kernel_id, ramdisk_id)
    for key in sorted(wanted):
        if key not in current:
            ops.append({"op": "add", "path": pointer(key), "value": wanted[key]})
        elif current[key] != wanted[key]:
            ops.append({"op": "replace", "path": pointer(key), "value": wanted[key]})
    for key in sorted(set(current) - set(wanted)):
        ops.append({"op": "remove", "path": pointer(key)})
    return ops


def apply_ops(image: dict, ops: list) -> dict:
    """``image`` (normalized) as the API would leave it after ``ops``."""
    after = dict(image, properties=dict(image["properties"]))
    for op in ops:
        name = op["path"][1:].replace("~1", "/").replace("~0", "~")
        if op["op"] == "remove":
            after["properties"].pop(name, None)
            after.pop(name, None)
        elif name in IMAGE_CORE:
            after[name] = op["value"]
        else:
            after["properties"][name] = op["value"]
            after[name] = op["value"]
    return after


def differences(image: dict, params: dict, local_hash) -> dict:
    """What cannot change in place and differs: the data and (with data) the formats."""
    found = {}
    if image.get("status") == "killed":
        found["status"] = {"before": "killed", "after": "active"}
    if image.get("status") in HAS_DATA:
        for field in FORMATS:
            wanted = params.get(field)
            if wanted is not None and image.get(field) != wanted:
                found[field] = {"before": image.get(field), "after": wanted}
        if local_hash is not None and image.get("os_hash_value") not in (None, local_hash):
            algo = image.get("os_hash_algo") or "sha512"
            found[f"data ({algo})"] = {"before": image["os_hash_value"], "after": local_hash}
    if params.get("id") is not None and image["id"] != params["id"]:
        found["id"] = {"before": image["id"], "after": params["id"]}
    return found


class ImageModule(StratusModule):
    resource = "image"
    argument_spec = dict(
        name=dict(type="str"),
        id=dict(type="str"),
        filename=dict(type="path"),
        disk_format=dict(type="str", choices=list(DISK_FORMATS)),
        container_format=dict(type="str", choices=list(CONTAINER_FORMATS)),
        visibility=dict(type="str", choices=list(VISIBILITIES)),
        protected=dict(type="bool"),
        min_disk=dict(type="int"),
        min_ram=dict(type="int"),
        kernel=dict(type="str"),
        ramdisk=dict(type="str"),
        properties=dict(type="dict"),
        properties_mode=dict(type="str", choices=["replace", "merge"], default="replace"),
        tags=dict(type="list", elements="str"),
        replace_on_change=dict(type="bool", default=False),
        state=dict(type="str", choices=["present", "absent", "deactivated"], default="present"),
    )
    module_kwargs = dict(required_one_of=[("name", "id")])

    # - reading -

    def lookup(self):
        params = self.params
        if params["id"] is not None:
            found = self.get_or_none(self.image_api, "GET", f"/images/{quote_path(params['id'])}")
            if found is not None:
                return normalize_image(found)
        if params["name"] is None:
            return None
        image = self.find_image_named(params["name"])
        return normalize_image(image) if image else None

    def get(self, image_id: str) -> dict:
        return normalize_image(
            self.image_api(
                "GET", f"/images/{quote_path(image_id)}", what=f"Reading image {image_id}"
            )
        )

    # - writing -

    def create(self, params: dict, kernel_id, ramdisk_id, local_hash) -> dict:
        body = {
            "name": params["name"],
            "disk_format": params["disk_format"] or "qcow2",
            "container_format": params["container_format"] or "bare",
        }
        if params["id"] is not None:
            body["id"] = params["id"]
        for field in IN_PLACE:
            if params[field] is not None:
                body[field] = params[field]
        if params["tags"]:
            body["tags"] = sorted(set(params["tags"]))
        body.update(wanted_properties({}, params, kernel_id, ramdisk_id))
        created = self.image_api("POST", "/images", body, what=f"Creating image {params['name']!r}")
        try:
            if params["filename"]:
                self.upload(created, params["filename"])
        except StratusError as exc:
            # Nothing half-made stays behind: remove the image just created.
            self.delete(normalize_image(created), unprotect=True)
            raise StratusError(f"{exc.message} (the new image was deleted again)") from None
        return self.get(created["id"])

    def upload(self, image: dict, filename: str) -> None:
        size = os.path.getsize(filename)
        with open(filename, "rb") as handle:
            self.image_api(
                "PUT",
                f"/images/{quote_path(image['id'])}/file",
                data=handle,
                content_type="application/octet-stream",
                extra_headers={"Content-Length": str(size)},
                what=f"Uploading {filename} to image {image.get('name')!r}",
            )
        if self.params["wait"]:
            self.wait_for(
                lambda: self.get(image["id"]),
                self.uploaded,
                f"image {image.get('name')!r} to become active",
            )

    @staticmethod
    def uploaded(image: dict) -> bool:
        if image["status"] in ("killed", "queued"):
            raise StratusError(
                f"The upload to image {image['name']!r} failed: the image is {image['status']}.",
                image=image,
            )
        return image["status"] == "active"

    def patch(self, image: dict, ops: list) -> None:
        if ops:
            self.image_api(
                "PATCH",
                f"/images/{quote_path(image['id'])}",
                ops,
                content_type=PATCH_TYPE,
                what=f"Updating image {image['name']!r}",
            )

    def delete(self, image: dict, unprotect: bool = False) -> None:
        path = f"/images/{quote_path(image['id'])}"
        if unprotect and image.get("protected"):
            self.image_api(
                "PATCH",
                path,
                [{"op": "replace", "path": "/protected", "value": False}],
                content_type=PATCH_TYPE,
                what=f"Unprotecting image {image['name']!r}",
            )
        try:
            self.image_api("DELETE", path, what=f"Deleting image {image['name']!r}")
        except StratusAPIError as exc:
            if exc.status != 404:
                raise

    def set_status(self, image: dict, state: str) -> dict:
        action = None
        if state == "deactivated" and image["status"] == "active":
            action = "deactivate"
        elif state == "present" and image["status"] == "deactivated":
            action = "reactivate"
        if action is None:
            return image
        self.changed = True
        wanted = "deactivated" if action == "deactivate" else "active"
        if self.check_mode:
            return dict(image, status=wanted)
        self.image_api(
            "POST",
            f"/images/{quote_path(image['id'])}/actions/{action}",
            what=f"{action.capitalize()[:-1]}ing image {image['name']!r}",
        )
        return self.get(image["id"])

    # - the decision -

    def reference(self, option: str):
        ref = self.params[option]
        if not ref:
            return None
        return self.find_image(ref, required=True, what=f"{option} image")["id"]

    def predict_new(self, params: dict, kernel_id, ramdisk_id, local_hash) -> dict:
        properties = wanted_properties({}, params, kernel_id, ramdisk_id)
        has_data = bool(params["filename"])
        image = {
            "id": params["id"],
            "name": params["name"],
            "status": "active" if has_data else "queued",
            "disk_format": params["disk_format"] or "qcow2",
            "container_format": params["container_format"] or "bare",
            "visibility": params["visibility"] or "shared",
            "protected": bool(params["protected"]),
            "min_disk": params["min_disk"] or 0,
            "min_ram": params["min_ram"] or 0,
            "size": os.path.getsize(params["filename"]) if has_data else None,
            "os_hash_algo": "sha512" if has_data else None,
            "os_hash_value": local_hash,
            "tags": sorted(set(params["tags"] or [])),
            "properties": properties,
        }
        image.update(properties)
        if params["state"] == "deactivated" and has_data:
            image["status"] = "deactivated"
        return image

    def run(self) -> None:
        current = self.lookup()
        if self.params["state"] == "absent":
            self.absent(current)
            return
        kernel_id, ramdisk_id, local_hash = self.resolve(current)
        if current is None:
            self.create_new(kernel_id, ramdisk_id, local_hash)
            return
        immutable = differences(current, self.params, local_hash)
        if immutable:
            self.replace(current, immutable, kernel_id, ramdisk_id, local_hash)
        else:
            self.reconcile(current, kernel_id, ramdisk_id, local_hash)

    # - the steps -

    def resolve(self, current):
        """The ids of the ``kernel`` and ``ramdisk`` images and the local file's hash
        (in the algorithm of the image it is compared with)."""
        filename = self.params["filename"]
        if filename and not os.path.isfile(filename):
            raise StratusError(f"filename {filename!r} does not exist or is not a file.")
        kernel_id = self.reference("kernel")
        ramdisk_id = self.reference("ramdisk")
        algo = (current or {}).get("os_hash_algo") or "sha512"
        local_hash = file_digest(filename, algo) if filename else None
        return kernel_id, ramdisk_id, local_hash

    def absent(self, current) -> None:
        """state=absent: delete the image, unless it is protected."""
        if current is not None:
            if current.get("protected"):
                raise StratusError(
                    f"Image {current['name']!r} is protected and was not deleted: set "
                    "protected: false first.",
                    image=current,
                )
            self.changed = True
            if not self.check_mode:
                self.delete(current)
        self.exit(None, current or {}, {}, replaced=False)

    def create_new(self, kernel_id, ramdisk_id, local_hash) -> None:
        """No such image: create it (with its data, deactivated if asked)."""
        params = self.params
        if params["name"] is None:
            raise StratusError(f"Image {params['id']!r} does not exist; creating it needs a name.")
        after = self.predict_new(params, kernel_id, ramdisk_id, local_hash)
        self.changed = True
        image = after
        if not self.check_mode:
            image = self.create(params, kernel_id, ramdisk_id, local_hash)
            if params["state"] == "deactivated" and image["status"] == "active":
                image = self.set_status(image, "deactivated")
        self.exit(image, {}, after, replaced=False)

    def replace(self, current: dict, immutable: dict, kernel_id, ramdisk_id, local_hash) -> None:
        """The data or a format differ: fail, or with replace_on_change delete the image
        and upload it again."""
        params = self.params
        if not params["replace_on_change"]:
            raise StratusError(
                immutable_message("Image", current["name"], immutable, ADVICE),
                image=current,
                differences=immutable,
            )
        if not params["filename"]:
            raise StratusError(
                f"Image {current['name']!r} must be replaced ({', '.join(sorted(immutable))} "
                "differ), which needs its data: give filename.",
                image=current,
                differences=immutable,
            )
        merged = self.replacement_params(current, kernel_id, ramdisk_id)
        after = self.predict_new(merged, None, None, local_hash)
        self.changed = True
        image = after
        if not self.check_mode:
            self.delete(current, unprotect=True)
            image = self.create(merged, None, None, local_hash)
            if params["state"] == "deactivated":
                image = self.set_status(image, "deactivated")
        self.exit(image, current, after, replaced=True)

    def replacement_params(self, current: dict, kernel_id, ramdisk_id) -> dict:
        """The options of the image that replaces ``current``: those given, and the
        current image's attributes and properties for those left out."""
        merged = dict(self.params)
        for field in REPLACEMENT_KEEPS:
            if merged[field] is None:
                merged[field] = current.get(field)
        kept = wanted_properties(current["properties"], self.params, kernel_id, ramdisk_id)
        merged["properties"], merged["properties_mode"] = kept, "replace"
        return merged

    def reconcile(self, current: dict, kernel_id, ramdisk_id, local_hash) -> None:
        """Change in place what can be: the attributes and properties, the data of a
        queued image, and whether it is deactivated."""
        params = self.params
        ops = patch_ops(current, params, kernel_id, ramdisk_id)
        after = apply_ops(current, ops)
        image = current
        if ops:
            self.changed = True
            if self.check_mode:
                image = after
            else:
                self.patch(current, ops)
                image = self.get(current["id"])
        if params["filename"] and current["status"] == "queued":
            self.changed = True
            algo = current.get("os_hash_algo") or "sha512"
            after = dict(after, status="active", os_hash_algo=algo, os_hash_value=local_hash)
            if self.check_mode:
                image = after
            else:
                self.upload(image, params["filename"])
                image = self.get(current["id"])
        image = self.set_status(image, params["state"])
        after = dict(after, status=image["status"])
        self.exit(image, current, after, replaced=False)


def main() -> None:
    ImageModule.execute()


if __name__ == "__main__":
    main()
