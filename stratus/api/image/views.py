"""What the Image API returns: image bodies, version documents and JSON schemas."""

from __future__ import annotations

from typing import Any

from stratus.db.models import Image
from stratus.image.formats import CONTAINER_FORMATS, DISK_FORMATS

#: The newest Image API version Stratus speaks, then the older ones it still serves.
CURRENT_VERSION = "v2.9"
SUPPORTED_VERSIONS = ("v2.8", "v2.7", "v2.6", "v2.5", "v2.4", "v2.3", "v2.2", "v2.1", "v2.0")

UUID_PATTERN = (
    "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$"
)


def versions(base: str) -> dict[str, Any]:
    """The version list served (unauthenticated) at ``/image``."""
    link = [{"rel": "self", "href": f"{base}/image/v2/"}]
    entries = [{"id": CURRENT_VERSION, "status": "CURRENT", "links": link}]
    entries += [{"id": v, "status": "SUPPORTED", "links": link} for v in SUPPORTED_VERSIONS]
    return {"versions": entries}


def timestamp(value: Any) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


def image_view(image: Image) -> dict[str, Any]:
    """Glance's image body: core attributes, links, then extra properties at top level."""
    body: dict[str, Any] = {prop.name: prop.value for prop in image.properties}
    body.update(
        {
            "id": image.id,
            "name": image.name,
            "status": image.status,
            "disk_format": image.disk_format,
            "container_format": image.container_format,
            "size": image.size,
            "virtual_size": image.virtual_size,
            "checksum": image.checksum,
            "os_hash_algo": image.os_hash_algo,
            "os_hash_value": image.os_hash_value,
            "visibility": image.visibility,
            "protected": bool(image.protected),
            "os_hidden": bool(image.os_hidden),
            "min_disk": image.min_disk,
            "min_ram": image.min_ram,
            "owner": image.owner,
            "tags": sorted(tag.value for tag in image.tags),
            "created_at": timestamp(image.created_at),
            "updated_at": timestamp(image.updated_at),
            "self": f"/v2/images/{image.id}",
            "file": f"/v2/images/{image.id}/file",
            "schema": "/v2/schemas/image",
        }
    )
    return body


def _nullable(kind: str, description: str, **extra: Any) -> dict[str, Any]:
    return {"type": ["null", kind], "description": description, **extra}


def _readonly(kind: str | list[str], description: str, **extra: Any) -> dict[str, Any]:
    return {"type": kind, "readOnly": True, "description": f"{description} (READ-ONLY)", **extra}


def image_schema() -> dict[str, Any]:
    """A JSON schema of an image as this API shows and accepts it."""
    timestamp_type = {"type": "string", "format": "date-time"}
    properties: dict[str, Any] = {
        "id": {
            "type": "string",
            "pattern": UUID_PATTERN,
            "description": "An identifier for the image",
        },
        "name": _nullable("string", "Descriptive name for the image", maxLength=255),
        "status": _readonly(
            "string",
            "Status of the image",
            enum=[
                "queued",
                "saving",
                "active",
                "killed",
                "deleted",
                "uploading",
                "importing",
                "pending_delete",
                "deactivated",
            ],
        ),
        "visibility": {
            "type": "string",
            "description": "Scope of image accessibility",
            "enum": ["community", "public", "private", "shared"],
        },
        "protected": {"type": "boolean", "description": "If true, image will not be deletable."},
        "os_hidden": {
            "type": "boolean",
            "description": "If true, image will not appear in default image list response.",
        },
        "checksum": _readonly(["null", "string"], "md5 hash of image contents.", maxLength=32),
        "os_hash_algo": _readonly(
            ["null", "string"], "Algorithm to calculate the os_hash_value", maxLength=64
        ),
        "os_hash_value": _readonly(
            ["null", "string"],
            "Hexdigest of the image contents using the algorithm specified by the os_hash_algo",
            maxLength=128,
        ),
        "owner": _nullable("string", "Owner of the image", maxLength=64),
        "size": _readonly(["null", "integer"], "Size of image file in bytes"),
        "virtual_size": _readonly(["null", "integer"], "Virtual size of image in bytes"),
        "container_format": _nullable(
            "string", "Format of the container", enum=[None, *CONTAINER_FORMATS]
        ),
        "disk_format": _nullable("string", "Format of the disk", enum=[None, *DISK_FORMATS]),
        "created_at": {
            **timestamp_type,
            "readOnly": True,
            "description": "Date and time of image registration (READ-ONLY)",
        },
        "updated_at": {
            **timestamp_type,
            "readOnly": True,
            "description": "Date and time of the last image modification (READ-ONLY)",
        },
        "tags": {
            "type": "array",
            "description": "List of strings related to the image",
            "items": {"type": "string", "maxLength": 255},
        },
        "min_ram": {
            "type": "integer",
            "minimum": 0,
            "description": "Amount of ram (in MB) required to boot image.",
        },
        "min_disk": {
            "type": "integer",
            "minimum": 0,
            "description": "Amount of disk space (in GB) required to boot image.",
        },
        "self": _readonly("string", "An image self url"),
        "file": _readonly("string", "An image file url"),
        "schema": _readonly("string", "An image schema url"),
        "kernel_id": _nullable(
            "string",
            "ID of image stored in Glance that should be used "
            "as the kernel when booting an AMI-style image.",
            pattern=UUID_PATTERN,
            is_base=False,
        ),
        "ramdisk_id": _nullable(
            "string",
            "ID of image stored in Glance that should be used "
            "as the ramdisk when booting an AMI-style image.",
            pattern=UUID_PATTERN,
            is_base=False,
        ),
        "instance_uuid": {
            "type": "string",
            "is_base": False,
            "description": "Metadata which can be used to record which "
            "instance this image is associated with.",
        },
        "architecture": {
            "type": "string",
            "is_base": False,
            "description": "Operating system architecture",
        },
        "os_distro": {
            "type": "string",
            "is_base": False,
            "description": "Common name of operating system distribution",
        },
        "os_version": {
            "type": "string",
            "is_base": False,
            "description": "Operating system version as specified by the distributor",
        },
    }
    return {
        "name": "image",
        "properties": properties,
        "additionalProperties": {"type": "string"},
        "links": [
            {"rel": "self", "href": "{self}"},
            {"rel": "enclosure", "href": "{file}"},
            {"rel": "describedby", "href": "{schema}"},
        ],
    }


def images_schema() -> dict[str, Any]:
    return {
        "name": "images",
        "properties": {
            "images": {"type": "array", "items": image_schema()},
            "schema": {"type": "string"},
            "first": {"type": "string"},
            "next": {"type": "string"},
        },
        "links": [
            {"rel": "first", "href": "{first}"},
            {"rel": "next", "href": "{next}"},
            {"rel": "describedby", "href": "{schema}"},
        ],
    }


def member_view(member: Any) -> dict[str, Any]:
    """Glance's image member body."""
    return {
        "image_id": member.image_id,
        "member_id": member.member_id,
        "status": member.status,
        "created_at": timestamp(member.created_at),
        "updated_at": timestamp(member.updated_at),
        "schema": "/v2/schemas/member",
    }


def member_schema() -> dict[str, Any]:
    """A JSON schema of an image member."""
    return {
        "name": "member",
        "properties": {
            "created_at": {
                "type": "string",
                "description": "Date and time of image member creation",
            },
            "image_id": {
                "type": "string",
                "pattern": UUID_PATTERN,
                "description": "An identifier for the image",
            },
            "member_id": {
                "type": "string",
                "description": "An identifier for the image member (tenantId)",
            },
            "schema": {"type": "string", "readOnly": True},
            "status": {
                "type": "string",
                "enum": ["pending", "accepted", "rejected"],
                "description": "The status of this image member",
            },
            "updated_at": {
                "type": "string",
                "description": "Date and time of last modification of image member",
            },
        },
    }


def members_schema() -> dict[str, Any]:
    return {
        "name": "members",
        "properties": {
            "members": {"type": "array", "items": member_schema()},
            "schema": {"type": "string"},
        },
        "links": [
            {"rel": "self", "href": "{self}"},
            {"rel": "describedby", "href": "{schema}"},
        ],
    }
