"""Image attributes as clients send them: the create body and JSON patches.

Core attributes are checked one by one here (type, range, allowed values);
read-only and reserved names are refused with 403 as Glance does; any other
name is an extra property whose value must be a string. The rules that need the
stored image or the caller (format locking, publicising, ownership) are applied
by the routes on the resulting ``ImageState``.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from stratus.api.errors import BadRequest, Conflict, Forbidden, RequestTooLarge
from stratus.api.middleware import load_json
from stratus.db.models import Image
from stratus.image.formats import CONTAINER_FORMATS, DISK_FORMATS

#: Core attributes a client may set (``id`` only at creation).
CORE: tuple[str, ...] = (
    "name",
    "disk_format",
    "container_format",
    "visibility",
    "protected",
    "os_hidden",
    "min_disk",
    "min_ram",
    "owner",
    "tags",
)
READ_ONLY: frozenset[str] = frozenset(
    {
        "id",
        "status",
        "size",
        "virtual_size",
        "checksum",
        "os_hash_algo",
        "os_hash_value",
        "created_at",
        "updated_at",
        "direct_url",
        "self",
        "file",
        "schema",
        "locations",
        "stores",
    }
)
RESERVED: frozenset[str] = frozenset({"location", "deleted", "deleted_at"})
RESERVED_PREFIX = "os_glance"
VISIBILITIES: tuple[str, ...] = ("public", "private", "shared", "community")
#: Extra properties whose value must be an image ID (or null, meaning unset).
IMAGE_REFERENCES: frozenset[str] = frozenset({"kernel_id", "ramdisk_id"})

MAX_INT = 2**31 - 1
MAX_PROPERTIES = 128
MAX_TAGS = 128
MAX_NAME = 255
MAX_VALUE_BYTES = 65535
MAX_OWNER = 64

PATCH_V21 = "application/openstack-images-v2.1-json-patch"
PATCH_V20 = "application/openstack-images-v2.0-json-patch"
PATCH_TYPES = (PATCH_V21, PATCH_V20)
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


@dataclass
class ImageState:
    """The client-settable side of an image, as a create or patch leaves it."""

    name: str | None = None
    disk_format: str | None = None
    container_format: str | None = None
    visibility: str = "shared"
    protected: bool = False
    os_hidden: bool = False
    min_disk: int = 0
    min_ram: int = 0
    owner: str | None = None
    tags: list[str] = field(default_factory=list)
    properties: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, image: Image) -> ImageState:
        return cls(
            name=image.name,
            disk_format=image.disk_format,
            container_format=image.container_format,
            visibility=image.visibility,
            protected=bool(image.protected),
            os_hidden=bool(image.os_hidden),
            min_disk=image.min_disk,
            min_ram=image.min_ram,
            owner=image.owner,
            tags=sorted(t.value for t in image.tags),
            properties={p.name: p.value for p in image.properties},
        )

    def columns(self) -> dict[str, Any]:
        """The values that live in the images row."""
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name not in ("tags", "properties")
        }

    def check_limits(self) -> None:
        if len(self.properties) > MAX_PROPERTIES:
            raise RequestTooLarge(
                f"An image may have at most {MAX_PROPERTIES} extra properties; this change "
                f"would leave {len(self.properties)}."
            )
        if len(self.tags) > MAX_TAGS:
            raise RequestTooLarge(
                f"An image may have at most {MAX_TAGS} tags; this change would leave "
                f"{len(self.tags)}."
            )


def _invalid(name: str, why: str, value: Any) -> BadRequest:
    text = json.dumps(value)
    text = text if len(text) <= 60 else f"{text[:57]}..."
    shown = "" if isinstance(value, dict | list) else f" (got {text})"
    return BadRequest(f"Invalid value for '{name}': {why}{shown}.")


def check_tag(tag: Any) -> str:
    if not isinstance(tag, str) or not tag or len(tag) > MAX_NAME:
        raise _invalid("tags", f"each tag must be a string of 1 to {MAX_NAME} characters", tag)
    return tag


def check_core(name: str, value: Any) -> Any:
    """``value`` checked and normalised for core attribute ``name``; 400 if invalid."""
    if name in ("name", "owner"):
        limit = MAX_NAME if name == "name" else MAX_OWNER
        if value is not None and (not isinstance(value, str) or len(value) > limit):
            raise _invalid(name, f"must be null or a string of at most {limit} characters", value)
        return value
    if name in ("disk_format", "container_format"):
        if value is not None and not isinstance(value, str):
            raise _invalid(name, "must be null or a string", value)
        return value
    if name == "visibility":
        if value not in VISIBILITIES:
            raise _invalid(name, f"must be one of {', '.join(VISIBILITIES)}", value)
        return value
    if name in ("protected", "os_hidden"):
        if not isinstance(value, bool):
            raise _invalid(name, "must be true or false", value)
        return value
    if name in ("min_disk", "min_ram"):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_INT:
            raise _invalid(name, f"must be an integer from 0 to {MAX_INT}", value)
        return value
    if name == "tags":
        if not isinstance(value, list):
            raise _invalid(name, "must be a list of strings", value)
        return sorted({check_tag(tag) for tag in value})
    raise AssertionError(name)


def check_writable(name: str) -> None:
    """403 for attributes no client may write (read-only or reserved)."""
    if name in READ_ONLY:
        raise Forbidden(f"Attribute '{name}' is read-only.")
    if name in RESERVED or name.startswith(RESERVED_PREFIX):
        raise Forbidden(f"Attribute '{name}' is reserved.")


def check_property(name: str, value: Any) -> str | None:
    """An extra property's value; None (only for image references) means unset."""
    if not name or len(name) > MAX_NAME:
        raise BadRequest(
            f"Property names must be 1 to {MAX_NAME} characters long (got {name[:40]!r})."
        )
    if name in IMAGE_REFERENCES:
        if value is None:
            return None
        if not isinstance(value, str) or not _UUID.match(value):
            raise _invalid(name, "must be the ID (a UUID) of an image, or null", value)
        return value
    if not isinstance(value, str):
        raise _invalid(name, "extra properties must be strings", value)
    if len(value.encode()) > MAX_VALUE_BYTES:
        raise BadRequest(f"Invalid value for '{name}': at most {MAX_VALUE_BYTES} bytes.")
    return value


def _set(state: ImageState, name: str, value: Any) -> None:
    if name in CORE:
        setattr(state, name, check_core(name, value))
        return
    checked = check_property(name, value)
    if checked is None:
        state.properties.pop(name, None)
    else:
        state.properties[name] = checked


def parse_create(body: Any) -> tuple[str | None, ImageState]:
    """The image ID (if the client chose one) and attributes of a create request."""
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object of image attributes.")
    image_id = body.get("id")
    if image_id is not None and (not isinstance(image_id, str) or not _UUID.match(image_id)):
        raise _invalid("id", "must be a UUID", image_id)
    state = ImageState()
    for name, value in body.items():
        if name == "id":
            continue
        check_writable(name)
        _set(state, name, value)
    state.check_limits()
    return (str(uuid.UUID(image_id)) if image_id else None), state


@dataclass(frozen=True)
class Change:
    op: str
    name: str
    value: Any = None


def _decode_pointer(pointer: Any) -> str:
    if not isinstance(pointer, str) or not pointer.startswith("/"):
        raise BadRequest(f"Invalid JSON pointer {json.dumps(pointer)}: it must start with '/'.")
    parts = pointer[1:].split("/")
    if len(parts) != 1 or not parts[0]:
        raise BadRequest(
            f"Invalid JSON pointer for this resource: '{pointer}'; use the attribute's name, "
            "e.g. '/name' (tags are replaced as a whole list at '/tags')."
        )
    if re.search(r"~(?![01])", parts[0]):
        raise BadRequest(f"Invalid JSON pointer '{pointer}': '~' must be escaped as '~0'.")
    return parts[0].replace("~1", "/").replace("~0", "~")


def parse_patch(raw: bytes, content_type: str) -> list[Change]:
    """The changes of a JSON-patch body (either Image API media type)."""
    body = load_json(raw)
    if not isinstance(body, list):
        raise BadRequest(
            "The request body must be a JSON array of patch operations, e.g. "
            '[{"op": "replace", "path": "/name", "value": "new"}].'
        )
    changes = []
    for item in body:
        if not isinstance(item, dict):
            raise BadRequest("Each patch operation must be a JSON object.")
        if content_type == PATCH_V20:
            ops = [op for op in ("add", "remove", "replace") if op in item]
            if len(ops) != 1:
                raise BadRequest(
                    "Each operation must have exactly one of 'add', 'remove' or 'replace'."
                )
            op, pointer = ops[0], item[ops[0]]
        else:
            op, pointer = item.get("op"), item.get("path")
            if op not in ("add", "remove", "replace"):
                raise BadRequest(
                    f"Unsupported patch operation {json.dumps(op)}: use add, remove or replace."
                )
        name = _decode_pointer(pointer)
        if op != "remove" and "value" not in item:
            raise BadRequest(f"Operation '{op}' on '/{name}' needs a 'value'.")
        changes.append(Change(op, name, item.get("value")))
    return changes


def apply_patch(state: ImageState, changes: list[Change]) -> None:
    """Apply ``changes`` to ``state`` in order (Glance's rules for each operation)."""
    for change in changes:
        name = change.name
        check_writable(name)
        if change.op == "remove":
            if name in CORE:
                raise Forbidden(f"Property '{name}' may not be removed.")
            if name not in state.properties:
                raise Conflict(f"Property '{name}' does not exist.")
            del state.properties[name]
            continue
        if change.op == "replace" and name not in CORE and name not in state.properties:
            raise Conflict(f"Property '{name}' does not exist: use 'add' to create it.")
        _set(state, name, change.value)
    state.check_limits()


# --- request bodies as /openapi.json describes them --------------------------------------
#
# The rules above stay the one check of image attributes (Glance answers 403 for a
# read-only name, 400 for a bad value); these models only describe the bodies, built
# from the same constants.


class ImageCreate(BaseModel):
    """``POST /v2/images``: core attributes, any other name an extra string property."""

    model_config = ConfigDict(
        extra="allow", json_schema_extra={"additionalProperties": {"type": "string"}}
    )
    id: str | None = Field(None, pattern=_UUID.pattern, description="The image ID to use.")
    name: str | None = Field(None, max_length=MAX_NAME)
    disk_format: Literal[DISK_FORMATS] | None = None  # type: ignore[valid-type]
    container_format: Literal[CONTAINER_FORMATS] | None = None  # type: ignore[valid-type]
    visibility: Literal[VISIBILITIES] = "shared"  # type: ignore[valid-type]
    protected: bool = False
    os_hidden: bool = False
    min_disk: int = Field(0, ge=0, le=MAX_INT)
    min_ram: int = Field(0, ge=0, le=MAX_INT)
    owner: str | None = Field(None, max_length=MAX_OWNER)
    tags: list[str] = Field(default_factory=list, max_length=MAX_TAGS)


class PatchOperation(BaseModel):
    """One operation of an image JSON patch (``application/openstack-images-v2.1-json-patch``)."""

    model_config = ConfigDict(extra="forbid")
    op: Literal["add", "remove", "replace"]
    path: str = Field(pattern=r"^/[^/]+$", description="The attribute, e.g. /name.")
    value: Any = None


def create_body_openapi() -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": ImageCreate.model_json_schema()}},
        }
    }


def patch_body_openapi() -> dict[str, Any]:
    items = PatchOperation.model_json_schema()
    return {
        "requestBody": {
            "required": True,
            "content": {PATCH_V21: {"schema": {"type": "array", "items": items}}},
        }
    }


def data_body_openapi() -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    }
