"""The attributes of each Networking resource, as Neutron's attribute map: which a
request may set on create and on update, their types, and which policy rule
guards setting and seeing them. One table drives the parsing of every body."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stratus.network.exceptions import InvalidInput


def _bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise InvalidInput(name, f"'{value}' is not a valid boolean value.")


def _int(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise InvalidInput(name, f"'{value}' is not an integer.")
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(name, f"'{value}' is not an integer.") from exc


def _string(limit: int) -> Callable[[str, Any], str]:
    def convert(name: str, value: Any) -> str:
        if value is None:
            return ""
        if not isinstance(value, str):
            raise InvalidInput(name, f"'{value}' is not a valid string.")
        if len(value) > limit:
            raise InvalidInput(name, f"'{value[:20]}...' exceeds maximum length of {limit}.")
        return value

    return convert


def _nullable_string(name: str, value: Any) -> str | None:
    return None if value is None else _string(255)(name, value)


def _list(name: str, value: Any) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidInput(name, f"'{value}' is not a list.")
    return value


def _nullable_list(name: str, value: Any) -> list[Any] | None:
    return None if value is None else _list(name, value)


def _dict(name: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput(name, f"'{value}' is not a dictionary.")
    return value


def _nullable_dict(name: str, value: Any) -> dict[str, Any] | None:
    return None if value is None else _dict(name, value)


def _any(name: str, value: Any) -> Any:
    return value


def _uuid(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidInput(name, f"'{value}' is not a valid UUID.")
    return value


def _fixed_ips(name: str, value: Any) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise InvalidInput(name, f"'{value}' is not a list.")
    for item in value:
        if not isinstance(item, dict) or not set(item) <= {"subnet_id", "ip_address"}:
            raise InvalidInput(name, f"{item!r} is not a {{subnet_id, ip_address}} entry.")
    return value


@dataclass(frozen=True)
class Attr:
    convert: Callable[[str, Any], Any] = _any
    post: bool = True
    put: bool = True
    required: bool = False
    #: the rule the caller needs to set the attribute (and to see it, if ``hidden``)
    rule: str | None = None
    hidden: bool = False


_NAME = Attr(_string(255))
_DESCRIPTION = Attr(_string(255))
_PROJECT = Attr(_string(64), put=False)
_READ_ONLY = Attr(post=False, put=False)
_COMMON = {
    "id": _READ_ONLY,
    "name": _NAME,
    "description": _DESCRIPTION,
    "project_id": _PROJECT,
    "tenant_id": _PROJECT,
    "created_at": _READ_ONLY,
    "updated_at": _READ_ONLY,
    "revision_number": _READ_ONLY,
    "tags": Attr(_list, put=False),
}

RESOURCES: dict[str, dict[str, Attr]] = {
    "networks": {
        **_COMMON,
        "admin_state_up": Attr(_bool),
        "status": _READ_ONLY,
        "shared": Attr(_bool, rule="network:shared"),
        "router:external": Attr(_bool, rule="network:shared"),
        "provider:network_type": Attr(
            _nullable_string, put=False, rule="network:provider", hidden=True
        ),
        "provider:physical_network": Attr(
            _nullable_string, put=False, rule="network:provider", hidden=True
        ),
        "provider:segmentation_id": Attr(_int, put=False, rule="network:provider", hidden=True),
        "mtu": Attr(_int),
        "port_security_enabled": Attr(_bool),
        "availability_zone_hints": Attr(_list, put=False),
        "availability_zones": _READ_ONLY,
        "subnets": _READ_ONLY,
    },
    "subnets": {
        **_COMMON,
        "network_id": Attr(_uuid, put=False, required=True),
        "ip_version": Attr(_int, put=False, required=True),
        "cidr": Attr(_any, put=False, required=True),
        "gateway_ip": Attr(_nullable_string),
        "allocation_pools": Attr(_nullable_list),
        "dns_nameservers": Attr(_list),
        "host_routes": Attr(_list),
        "enable_dhcp": Attr(_bool),
        "ipv6_ra_mode": Attr(_nullable_string, put=False),
        "ipv6_address_mode": Attr(_nullable_string, put=False),
        "subnetpool_id": Attr(_any, put=False),
        "service_types": _READ_ONLY,
    },
    "ports": {
        **_COMMON,
        "network_id": Attr(_uuid, put=False, required=True),
        "admin_state_up": Attr(_bool),
        "mac_address": Attr(_string(32), put=False),
        "fixed_ips": Attr(_fixed_ips),
        "device_id": Attr(_string(255)),
        "device_owner": Attr(_string(255)),
        "status": _READ_ONLY,
        "security_groups": Attr(_list),
        "allowed_address_pairs": Attr(_list),
        "port_security_enabled": Attr(_bool),
        "binding:host_id": Attr(_string(255), rule="network:port_binding", hidden=True),
        "binding:vif_type": Attr(post=False, put=False, rule="network:port_binding", hidden=True),
        "binding:vif_details": Attr(
            post=False, put=False, rule="network:port_binding", hidden=True
        ),
        "binding:vnic_type": Attr(_string(32)),
        "binding:profile": Attr(_dict, rule="network:port_binding", hidden=True),
    },
    "security_groups": {
        **_COMMON,
        "stateful": Attr(_bool, put=False),
        "shared": _READ_ONLY,
        "security_group_rules": _READ_ONLY,
    },
    "security_group_rules": {
        **{k: v for k, v in _COMMON.items() if k not in ("name", "tags")},
        "description": Attr(_string(255), put=False),
        "security_group_id": Attr(_uuid, put=False, required=True),
        "direction": Attr(put=False, required=True),
        "ethertype": Attr(put=False),
        "protocol": Attr(put=False),
        "port_range_min": Attr(put=False),
        "port_range_max": Attr(put=False),
        "remote_ip_prefix": Attr(put=False),
        "remote_group_id": Attr(put=False),
        "remote_address_group_id": Attr(put=False),
        "normalized_cidr": _READ_ONLY,
        "belongs_to_default_sg": _READ_ONLY,
    },
    "routers": {
        **_COMMON,
        "admin_state_up": Attr(_bool),
        "status": _READ_ONLY,
        "external_gateway_info": Attr(_nullable_dict),
        "routes": Attr(_list, post=False),
        "distributed": _READ_ONLY,
        "ha": _READ_ONLY,
        "flavor_id": _READ_ONLY,
        "availability_zone_hints": _READ_ONLY,
        "availability_zones": _READ_ONLY,
    },
    "floatingips": {
        **{k: v for k, v in _COMMON.items() if k != "name"},
        "floating_network_id": Attr(_uuid, put=False, required=True),
        "floating_ip_address": Attr(_nullable_string, put=False, rule="network:floatingip_address"),
        "subnet_id": Attr(_nullable_string, put=False),
        "port_id": Attr(_nullable_string),
        "fixed_ip_address": Attr(_nullable_string),
        "router_id": _READ_ONLY,
        "status": _READ_ONLY,
        "port_details": _READ_ONLY,
        "port_forwardings": _READ_ONLY,
        "dns_domain": _READ_ONLY,
        "dns_name": _READ_ONLY,
        "qos_policy_id": _READ_ONLY,
    },
    "port_forwardings": {
        "id": _READ_ONLY,
        "internal_port_id": Attr(_uuid),
        "internal_ip_address": Attr(_nullable_string),
        "internal_port": Attr(_int),
        "external_port": Attr(_int),
        "protocol": Attr(_nullable_string),
        "description": _DESCRIPTION,
    },
}

#: singular body key of each collection
SINGULAR = {
    "networks": "network",
    "subnets": "subnet",
    "ports": "port",
    "security_groups": "security_group",
    "security_group_rules": "security_group_rule",
    "routers": "router",
    "floatingips": "floatingip",
    "port_forwardings": "port_forwarding",
}


def parse(collection: str, body: Any, create: bool) -> dict[str, Any]:
    """The converted attributes of a create or update body ``{"network": {...}}``."""
    key = SINGULAR[collection]
    if not isinstance(body, dict) or not isinstance(body.get(key), dict) or len(body) != 1:
        raise InvalidInput(key, f"The request body must be a JSON object {{'{key}': {{...}}}}.")
    spec = RESOURCES[collection]
    values = body[key]
    unknown = sorted(name for name in values if name not in spec)
    if unknown:
        raise InvalidInput(key, f"Unrecognized attribute(s) '{', '.join(unknown)}'")
    parsed: dict[str, Any] = {}
    for name, value in values.items():
        attr = spec[name]
        if not (attr.post if create else attr.put):
            verb = "set" if create else "updated"
            raise InvalidInput(name, f"Attribute '{name}' cannot be {verb}.")
        parsed[name] = attr.convert(name, value)
    if create:
        missing = [name for name, attr in spec.items() if attr.required and name not in parsed]
        if missing:
            raise InvalidInput(
                missing[0],
                f"Failed to parse request. Required attribute '{missing[0]}' not specified",
            )
    if "tenant_id" in parsed:
        project = parsed.pop("tenant_id")
        if parsed.setdefault("project_id", project) != project:
            raise InvalidInput("project_id", "project_id and tenant_id differ.")
    return parsed


def guarded(collection: str, values: dict[str, Any], create: bool) -> set[str]:
    """The policy rules that setting ``values`` needs. As Neutron, a create that
    gives a guarded attribute its default value (false, null, empty) needs none."""
    spec = RESOURCES[collection]
    return {
        rule
        for name, value in values.items()
        if (rule := spec[name].rule) and (value or not create)
    }


def hidden(collection: str) -> dict[str, str]:
    """Attribute -> the rule needed to see it."""
    return {
        name: attr.rule
        for name, attr in RESOURCES[collection].items()
        if attr.hidden and attr.rule is not None
    }
