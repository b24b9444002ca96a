"""Request bodies of the Compute API (pydantic models): what a well-formed request is."""

from __future__ import annotations

import base64
import ipaddress
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

NAME_RE = re.compile(r"^(?! )[^\x00-\x1f\x7f]*(?<! )$")
# Nova's host names: a single label up to 63 characters from 2.90, an FQDN up to 255
# characters from 2.94 (letters, digits, '-', '.' and '_', not at either end).
HOSTNAME_RE = re.compile(r"^[a-zA-Z0-9]+[a-zA-Z0-9._-]*[a-zA-Z0-9]+$")


def _ipv4(value: str) -> str:
    try:
        return str(ipaddress.IPv4Address(value))
    except ValueError:
        raise ValueError("must be an IPv4 address") from None


def _ipv6(value: str) -> str:
    try:
        return str(ipaddress.IPv6Address(value))
    except ValueError:
        raise ValueError("must be an IPv6 address") from None


IPv4 = Annotated[str, AfterValidator(_ipv4)]
IPv6 = Annotated[str, AfterValidator(_ipv6)]
DiskConfig = Literal["AUTO", "MANUAL"]
# Nova's limit on a server's user data: 65535 characters of base64.
USER_DATA_MAX_LENGTH = 65535
Tag = Annotated[str, Field(min_length=1, max_length=60, pattern=r"^[^,/]*$")]


def hostname_error(value: str, version: Any) -> str | None:
    """Why ``value`` is not a host name at microversion ``version`` (None if it is)."""
    if version < "2.90":
        return "'hostname' is accepted from microversion 2.90."
    limit = 255 if version >= "2.94" else 63
    if not 2 <= len(value) <= limit or not HOSTNAME_RE.match(value):
        return (
            f"Invalid input for field 'hostname': {value!r} must be 2 to {limit} letters, "
            "digits, '-', '.' or '_', starting and ending with a letter or digit."
        )
    if version < "2.94" and "." in value:
        return (
            f"Invalid input for field 'hostname': {value!r} is a fully qualified name; "
            "FQDNs are accepted from microversion 2.94."
        )
    return None


def _check_server_name(value: str | None) -> str | None:
    if value is not None and not NAME_RE.match(value):
        raise ValueError("must not start or end with a space or hold control characters")
    return value


class NetworkRequest(BaseModel):
    """One entry of ``networks`` (Stratus has no network service to attach it to)."""

    model_config = ConfigDict(extra="forbid")
    uuid: str | None = None
    port: str | None = None
    fixed_ip: str | None = None
    tag: str | None = None


class SecurityGroupRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=255)


class BlockDevice(BaseModel):
    """One ``block_device_mapping_v2`` entry: Nova's fields typed, others kept."""

    model_config = ConfigDict(extra="allow")
    uuid: str | None = Field(default=None, max_length=255)
    boot_index: int | str | None = None
    source_type: Literal["image", "volume", "snapshot", "blank"]
    destination_type: Literal["local", "volume"] | None = None
    volume_size: int | None = Field(default=None, ge=0, le=2147483647)
    delete_on_termination: bool | None = None
    device_name: str | None = Field(default=None, max_length=255)
    disk_bus: str | None = Field(default=None, max_length=255)
    device_type: str | None = Field(default=None, max_length=255)
    guest_format: str | None = Field(default=None, max_length=255)
    tag: str | None = Field(default=None, max_length=60)


class ServerCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(min_length=1, max_length=255)
    imageRef: str | None = None  # noqa: N815 - the API's field name
    flavorRef: str | int  # noqa: N815
    min_count: int = Field(default=1, ge=1)
    max_count: int | None = Field(default=None, ge=1)
    networks: Literal["auto", "none"] | list[NetworkRequest] | None = None
    availability_zone: str | None = Field(default=None, min_length=1, max_length=255)
    metadata: dict[str, str] = Field(default_factory=dict)
    key_name: str | None = Field(default=None, min_length=1, max_length=255)
    block_device_mapping_v2: list[BlockDevice] = Field(default_factory=list)
    description: str | None = Field(default=None, max_length=255)
    user_data: str | None = Field(default=None, max_length=USER_DATA_MAX_LENGTH)
    config_drive: bool | Literal["", "true", "false", "True", "False"] | None = None
    security_groups: list[SecurityGroupRef] | None = None
    adminPass: str | None = None  # noqa: N815
    accessIPv4: IPv4 | None = None  # noqa: N815
    accessIPv6: IPv6 | None = None  # noqa: N815
    disk_config: DiskConfig | None = Field(default=None, alias="OS-DCF:diskConfig")
    return_reservation_id: bool = False
    tags: list[Tag] | None = Field(default=None, max_length=50)
    hostname: str | None = Field(default=None, max_length=255)
    host: str | None = Field(default=None, min_length=1, max_length=255)
    hypervisor_hostname: str | None = Field(default=None, min_length=1, max_length=255)

    _name = field_validator("name")(_check_server_name)

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
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    name: str | None = Field(default=None, min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=255)
    accessIPv4: IPv4 | None = None  # noqa: N815
    accessIPv6: IPv6 | None = None  # noqa: N815
    disk_config: DiskConfig | None = Field(default=None, alias="OS-DCF:diskConfig")
    hostname: str | None = None

    _name = field_validator("name")(_check_server_name)


# --- server actions (``POST /servers/{id}/action``): the body's one key -> its model --


class NoArguments(BaseModel):
    """An action that takes nothing: ``{"os-stop": null}`` or ``{"os-stop": {}}``."""

    model_config = ConfigDict(extra="forbid")


class Reboot(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["SOFT", "HARD", "soft", "hard"]


class Lock(BaseModel):
    model_config = ConfigDict(extra="forbid")
    locked_reason: str | None = Field(default=None, max_length=255)


class ConsoleOutput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    length: int | None = None


class ResetState(BaseModel):
    model_config = ConfigDict(extra="forbid")
    state: Literal["active", "error"]


ACTION_BODIES: dict[str, type[BaseModel]] = {
    "reboot": Reboot,
    "os-stop": NoArguments,
    "os-start": NoArguments,
    "pause": NoArguments,
    "unpause": NoArguments,
    "suspend": NoArguments,
    "resume": NoArguments,
    "lock": Lock,
    "unlock": NoArguments,
    "os-getConsoleOutput": ConsoleOutput,
    "os-resetState": ResetState,
    "addSecurityGroup": SecurityGroupRef,
    "removeSecurityGroup": SecurityGroupRef,
}
# Actions whose body may be null as well as an object.
NULL_BODY_ACTIONS = frozenset(
    name for name, model in ACTION_BODIES.items() if model in (NoArguments, Lock, ConsoleOutput)
)


def _inline(schema: Any, defs: dict[str, Any]) -> Any:
    if isinstance(schema, dict):
        ref = schema.get("$ref", "")
        if ref.startswith("#/$defs/"):
            return _inline(defs[ref.removeprefix("#/$defs/")], defs)
        return {k: _inline(v, defs) for k, v in schema.items() if k != "$defs"}
    if isinstance(schema, list):
        return [_inline(item, defs) for item in schema]
    return schema


def json_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema with its definitions inlined (it stands alone in an
    OpenAPI operation)."""
    schema = model.model_json_schema(by_alias=True)
    return _inline(schema, schema.get("$defs", {}))


def openapi_body(key: str | None, *models: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` for a route that parses its body itself: the request body is
    ``{key: <model>}`` (or one of the action bodies when ``key`` is None), so that
    /openapi.json describes it."""
    if key is None:
        variants = [
            {
                "type": "object",
                "properties": {name: json_schema(model)},
                "required": [name],
                "additionalProperties": False,
            }
            for name, model in ACTION_BODIES.items()
        ]
        schema: dict[str, Any] = {"oneOf": variants}
    else:
        (model,) = models
        schema = {
            "type": "object",
            "properties": {key: json_schema(model)},
            "required": [key],
            "additionalProperties": False,
        }
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


class KeyPairCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=255, pattern=r"^[a-zA-Z0-9 _.@-]+$")
    public_key: str | None = Field(default=None, max_length=65535)
    type: Literal["ssh", "x509"] = "ssh"
    user_id: str | None = Field(default=None, min_length=1, max_length=255)


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
