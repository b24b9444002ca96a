"""Request bodies of the Compute API (pydantic models): what a well-formed request is."""

from __future__ import annotations

import base64
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

NAME_RE = re.compile(r"^(?! )[^\x00-\x1f\x7f]*(?<! )$")


class BlockDevice(BaseModel):
    model_config = ConfigDict(extra="allow")
    uuid: str | None = None
    boot_index: int | str | None = None
    source_type: str
    destination_type: str | None = None


class ServerCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(min_length=1, max_length=255)
    imageRef: str | None = None  # noqa: N815 - the API's field name
    flavorRef: str | int  # noqa: N815
    min_count: int = Field(default=1, ge=1)
    max_count: int | None = Field(default=None, ge=1)
    networks: str | list[dict[str, Any]] | None = None
    availability_zone: str | None = Field(default=None, min_length=1, max_length=255)
    metadata: dict[str, str] = Field(default_factory=dict)
    key_name: str | None = Field(default=None, min_length=1, max_length=255)
    block_device_mapping_v2: list[BlockDevice] = Field(default_factory=list)
    description: str | None = Field(default=None, max_length=255)
    user_data: str | None = None
    config_drive: bool | str | None = None
    security_groups: list[dict[str, str]] | None = None
    adminPass: str | None = None  # noqa: N815
    accessIPv4: str | None = None  # noqa: N815
    accessIPv6: str | None = None  # noqa: N815
    disk_config: str | None = Field(default=None, alias="OS-DCF:diskConfig")
    return_reservation_id: bool = False
    tags: list[str] | None = None
    hostname: str | None = Field(default=None, max_length=63)
    host: str | None = None
    hypervisor_hostname: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME_RE.match(value):
            raise ValueError("must not start or end with a space or hold control characters")
        return value

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, value: dict[str, str]) -> dict[str, str]:
        for key, item in value.items():
            if not 1 <= len(key) <= 255 or len(item) > 255:
                raise ValueError("keys must be 1 to 255 characters and values at most 255")
        return value

    @field_validator("user_data")
    @classmethod
    def _user_data(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                base64.b64decode(value, validate=True)
            except ValueError:
                raise ValueError("must be base64 encoded") from None
        return value


class ServerUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=255)
    accessIPv4: str | None = None  # noqa: N815
    accessIPv6: str | None = None  # noqa: N815
    disk_config: str | None = Field(default=None, alias="OS-DCF:diskConfig")


class KeyPairCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=255, pattern=r"^[a-zA-Z0-9 _.@-]+$")
    public_key: str | None = None
    type: str = Field(default="ssh", pattern="^(ssh|x509)$")
    user_id: str | None = None


GROUP_NAME_RE = re.compile(r"^(?!\s)[^\x00-\x1f\x7f]+(?<!\s)$")
Policy = Literal["affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity"]


def _check_group_name(value: str) -> str:
    if not GROUP_NAME_RE.match(value):
        raise ValueError("must not start or end with whitespace or contain control characters")
    return value


class Rules(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_server_per_host: Any = None

    @field_validator("max_server_per_host")
    @classmethod
    def _positive(cls, value: Any) -> int:
        if isinstance(value, str) and value.isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError("must be a positive integer (1 or more)")
        return value


class GroupCreate(BaseModel):
    """The body from microversion 2.64."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=255)
    policy: Policy
    rules: Rules | None = None

    _name = field_validator("name")(_check_group_name)


class LegacyGroupCreate(BaseModel):
    """The body below microversion 2.64."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=255)
    policies: list[Policy] = Field(min_length=1, max_length=1)

    _name = field_validator("name")(_check_group_name)
