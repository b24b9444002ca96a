"""Security groups and their rules, the groups and allowed address pairs of ports,
and the groups' part of a host's desired data-plane state: the service layer under
the Networking API's ``security-groups`` and ``security-group-rules``.

Every project has one ``default`` group, made on first need (:func:`ensure_default`)
with the default rules: all egress, ingress from members of the group itself, for
IPv4 and IPv6. The ``default_security_groups`` table's primary key (the project)
decides which of two concurrent first uses makes it; the other one reads it.

A rule's meaning (direction, ethertype, normalised protocol, ports, normalised remote)
is its ``fingerprint``, unique within its group: an equal rule is refused (409
``SecurityGroupRuleExists``), by the database when two are made at once.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import netaddr
from sqlalchemy.orm import Session

from stratus.conf import CONF
from stratus.db import network as db
from stratus.db.models import (
    AllowedAddressPair,
    DefaultSecurityGroup,
    Port,
    SecurityGroup,
    SecurityGroupPortBinding,
    SecurityGroupRule,
)
from stratus.network import exceptions as exc
from stratus.network import ipam

DEFAULT_NAME = "default"
DIRECTIONS = ("ingress", "egress")
ETHERTYPES = ("IPv4", "IPv6")
#: protocol names a rule accepts, with their IP protocol numbers
PROTOCOL_NUMBERS = {
    "tcp": 6,
    "udp": 17,
    "icmp": 1,
    "icmpv6": 58,
    "ipv6-icmp": 58,
    "sctp": 132,
    "udplite": 136,
    "dccp": 33,
    "gre": 47,
    "esp": 50,
    "ah": 51,
    "vrrp": 112,
    "igmp": 2,
}
#: what the data plane is told for a protocol number (others: the number as a string)
CANONICAL_NAMES = {
    6: "tcp",
    17: "udp",
    1: "icmp",
    58: "icmpv6",
    132: "sctp",
    136: "udplite",
    33: "dccp",
    47: "gre",
    50: "esp",
    51: "ah",
    112: "vrrp",
    2: "igmp",
}
PORT_PROTOCOLS = {6, 17, 132, 136, 33}
ICMP_PROTOCOLS = {1, 58}
ANY_PROTOCOL = ("", "any")


def _invalid(kind: str, field: str, reason: str) -> exc.InvalidInput:
    error = exc.InvalidInput(field, reason)
    error.neutron_type = kind
    return error


_LABELS = {"SecurityGroup": "Security group", "SecurityGroupRule": "Security group rule"}


def not_found(kind: str, resource_id: str) -> exc.NotFound:
    """404 ``SecurityGroupNotFound`` or ``SecurityGroupRuleNotFound``."""
    error = exc.NotFound(_LABELS[kind], resource_id)
    error.neutron_type = f"{kind}NotFound"
    return error


def _timestamp(value: dt.datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


# --- rendering -------------------------------------------------------------------------


def _normalized_cidr(prefix: str | None) -> str | None:
    return None if prefix is None else str(netaddr.IPNetwork(prefix).cidr)


def rule_dict(rule: SecurityGroupRule, default_ids: set[str] | None = None) -> dict[str, Any]:
    return {
        "id": rule.id,
        "security_group_id": rule.security_group_id,
        "direction": rule.direction,
        "ethertype": rule.ethertype,
        "protocol": rule.protocol,
        "port_range_min": rule.port_range_min,
        "port_range_max": rule.port_range_max,
        "remote_ip_prefix": rule.remote_ip_prefix,
        "normalized_cidr": _normalized_cidr(rule.remote_ip_prefix),
        "remote_group_id": rule.remote_group_id,
        "remote_address_group_id": None,
        "belongs_to_default_sg": rule.security_group_id in (default_ids or set()),
        "description": rule.description,
        "project_id": rule.project_id,
        "tenant_id": rule.project_id,
        "created_at": _timestamp(rule.created_at),
        "updated_at": _timestamp(rule.updated_at or rule.created_at),
        "revision_number": rule.revision_number,
        "tags": [],
    }


def group_dict(group: SecurityGroup, default_ids: set[str] | None = None) -> dict[str, Any]:
    return {
        "id": group.id,
        "name": group.name,
        "description": group.description,
        "project_id": group.project_id,
        "tenant_id": group.project_id,
        "stateful": group.stateful,
        "shared": False,
        "security_group_rules": [rule_dict(r, default_ids) for r in group.rules],
        "created_at": _timestamp(group.created_at),
        "updated_at": _timestamp(group.updated_at or group.created_at),
        "revision_number": group.revision_number,
        "tags": list(group.tags or []),
    }


# --- rule validation (pure) --------------------------------------------------------------


def protocol_number(protocol: str | None) -> int | None:
    """The IP protocol number of a stored protocol (None: any)."""
    if protocol is None:
        return None
    if protocol in PROTOCOL_NUMBERS:
        return PROTOCOL_NUMBERS[protocol]
    return int(protocol)


def dataplane_protocol(protocol: str | None, ethertype: str) -> str | None:
    """The protocol as the data plane gets it: None for any, ``icmpv6`` for ICMP of
    IPv6 however it was spelt, a known name, or the number as a decimal string."""
    number = protocol_number(protocol)
    if number is None:
        return None
    if number == 1 and ethertype == "IPv6":
        number = 58
    return CANONICAL_NAMES.get(number, str(number))


def _port_value(field: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise exc.InvalidInput(field, f"'{value}' is not an integer.")
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        raise exc.InvalidInput(field, f"'{value}' is not an integer.") from None
    if not 0 <= number <= 65535:
        raise _invalid(
            "SecurityGroupInvalidPortValue",
            field,
            f"Invalid value for port {number}: it must be 0 to 65535.",
        )
    return number


def _protocol(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and value.lower() in ANY_PROTOCOL):
        return None
    text = str(value).strip().lower() if not isinstance(value, bool) else ""
    if text in PROTOCOL_NUMBERS:
        return text
    if text.isascii() and text.isdigit() and 0 <= int(text) <= 255:
        return str(int(text))
    raise _invalid(
        "SecurityGroupRuleInvalidProtocol",
        "protocol",
        f"Security group rule protocol {value} not supported. Only protocol values "
        f"{sorted(PROTOCOL_NUMBERS)}, any, and integer representations [0 to 255] are "
        "supported.",
    )


def _check_ports(protocol: str | None, low: int | None, high: int | None) -> None:
    if low is None and high is None:
        return
    number = protocol_number(protocol)
    if number is None:
        raise _invalid(
            "SecurityGroupProtocolRequiredWithPorts",
            "protocol",
            "Must also specify a protocol if a port range is given.",
        )
    if number in PORT_PROTOCOLS:
        if low == 0 or high == 0:
            raise _invalid(
                "SecurityGroupInvalidPortValue",
                "port_range_min" if low == 0 else "port_range_max",
                "port 0 is not allowed for TCP, UDP, SCTP, UDPLITE and DCCP.",
            )
        if low is None or high is None or low > high:
            raise _invalid(
                "SecurityGroupInvalidPortRange",
                "port_range_min",
                f"port_range_min must be <= port_range_max, and both be given (given: "
                f"{low} and {high}).",
            )
        return
    if number in ICMP_PROTOCOLS:
        for field, value, meaning in (
            ("port_range_min", low, "type"),
            ("port_range_max", high, "code"),
        ):
            if value is not None and not 0 <= value <= 255:
                raise _invalid(
                    "SecurityGroupInvalidIcmpValue",
                    field,
                    f"Invalid value for ICMP {meaning} ({field}) {value}: it must be 0 to 255.",
                )
        if low is None and high is not None:
            raise _invalid(
                "SecurityGroupMissingIcmpType",
                "port_range_min",
                f"ICMP code (port-range-max) {high} is provided but ICMP type "
                "(port-range-min) is missing.",
            )
        return
    raise _invalid(
        "SecurityGroupInvalidProtocolForPort",
        "port_range_min",
        f"Invalid protocol {protocol} for port range: only TCP, UDP, SCTP, UDPLITE, DCCP "
        "and ICMP rules take port_range_min and port_range_max.",
    )


def validate_rule(values: dict[str, Any]) -> dict[str, Any]:
    """The rule's columns from a create request's attributes (all but the group and
    remote group checks, which need the database); 400 naming the field."""
    direction = values.get("direction")
    if direction not in DIRECTIONS:
        raise exc.InvalidInput("direction", f"'{direction}' is not in {list(DIRECTIONS)}.")
    ethertype = values.get("ethertype") or "IPv4"
    matching = [e for e in ETHERTYPES if str(ethertype).lower() == e.lower()]
    if not matching:
        raise _invalid(
            "SecurityGroupRuleInvalidEtherType",
            "ethertype",
            f"Security group rule for ethertype '{ethertype}' not supported. Allowed "
            f"values are {list(ETHERTYPES)}.",
        )
    ethertype = matching[0]
    protocol = _protocol(values.get("protocol"))
    if ethertype == "IPv4" and protocol_number(protocol) == 58:
        raise _invalid(
            "SecurityGroupEthertypeConflictWithProtocol",
            "protocol",
            f"Invalid ethertype IPv4 for protocol {protocol}.",
        )
    low = _port_value("port_range_min", values.get("port_range_min"))
    high = _port_value("port_range_max", values.get("port_range_max"))
    prefix, remote_group = values.get("remote_ip_prefix"), values.get("remote_group_id")
    if prefix is not None and remote_group is not None:
        raise _invalid(
            "SecurityGroupRemoteGroupAndRemoteIpPrefix",
            "remote_ip_prefix",
            "Only remote_ip_prefix or remote_group_id may be provided.",
        )
    if prefix is not None:
        try:
            network = netaddr.IPNetwork(str(prefix))
        except (netaddr.AddrFormatError, ValueError, TypeError):
            raise exc.InvalidInput(
                "remote_ip_prefix", f"'{prefix}' is not a valid IP prefix."
            ) from None
        if f"IPv{network.version}" != ethertype:
            raise _invalid(
                "SecurityGroupRuleParameterConflict",
                "remote_ip_prefix",
                f"Conflicting value ethertype {ethertype} for CIDR {prefix}.",
            )
        prefix = str(network)
    if remote_group is not None and not isinstance(remote_group, str):
        raise exc.InvalidInput("remote_group_id", f"'{remote_group}' is not a valid UUID.")
    _check_ports(protocol, low, high)
    return {
        "direction": direction,
        "ethertype": ethertype,
        "protocol": protocol,
        "port_range_min": low,
        "port_range_max": high,
        "remote_ip_prefix": prefix,
        "remote_group_id": remote_group,
    }


def fingerprint(columns: dict[str, Any]) -> str:
    """What makes two rules of a group the same rule."""
    prefix = columns["remote_ip_prefix"]
    if prefix is None and columns["remote_group_id"] is None:
        prefix = "0.0.0.0/0" if columns["ethertype"] == "IPv4" else "::/0"
    return "|".join(
        str(part)
        for part in (
            columns["direction"],
            columns["ethertype"],
            dataplane_protocol(columns["protocol"], columns["ethertype"]),
            columns["port_range_min"],
            columns["port_range_max"],
            _normalized_cidr(prefix),
            columns["remote_group_id"],
        )
    )


def _new_rule(group: SecurityGroup, columns: dict[str, Any], description: str = "") -> Any:
    return SecurityGroupRule(
        project_id=group.project_id,
        security_group_id=group.id,
        description=description,
        fingerprint=fingerprint(columns),
        **columns,
    )


def _egress_rules(group: SecurityGroup) -> list[SecurityGroupRule]:
    return [
        _new_rule(group, validate_rule({"direction": "egress", "ethertype": ethertype}))
        for ethertype in ETHERTYPES
    ]


# --- groups ----------------------------------------------------------------------------


def _sees(context: Any, project_id: str) -> bool:
    return bool(context.is_admin) or context.project_id == project_id


def _group(session: Session, context: Any, group_id: str) -> SecurityGroup:
    group = db.get_security_group(session, group_id)
    if group is None or not _sees(context, group.project_id):
        raise not_found("SecurityGroup", group_id)
    return group


def ensure_default(session: Session, project_id: str) -> str:
    """The project's default group, made now with its rules if it has none. Run in
    a retried transaction: of two concurrent first uses, one inserts the
    ``default_security_groups`` row and the other fails on it and reads it anew."""
    found = db.default_security_group_id(session, project_id)
    if found is not None:
        return found
    group = SecurityGroup(
        project_id=project_id, name=DEFAULT_NAME, description="Default security group"
    )
    session.add(group)
    session.flush()
    session.add(DefaultSecurityGroup(project_id=project_id, security_group_id=group.id))
    session.flush()
    rules = _egress_rules(group) + [
        _new_rule(
            group,
            validate_rule(
                {"direction": "ingress", "ethertype": ethertype, "remote_group_id": group.id}
            ),
        )
        for ethertype in ETHERTYPES
    ]
    session.add_all(rules)
    session.flush()
    return group.id


def list_groups(session: Session, context: Any) -> list[dict[str, Any]]:
    scope = None if context.is_admin else context.project_id
    defaults = db.default_security_group_ids(session)
    return [group_dict(g, defaults) for g in db.list_security_groups(session, scope)]


def get_group(session: Session, context: Any, group_id: str) -> dict[str, Any]:
    return group_dict(_group(session, context, group_id), db.default_security_group_ids(session))


def create_group(
    session: Session, context: Any, values: dict[str, Any], check_quota: Any
) -> dict[str, Any]:
    project_id = values.get("project_id") or context.project_id
    if values.get("name") == DEFAULT_NAME:
        raise exc.Conflict(
            "SecurityGroupDefaultAlreadyExists", "Default security group already exists."
        )
    check_quota(session, "security_group", project_id)
    group = SecurityGroup(
        project_id=project_id,
        name=values.get("name", ""),
        description=values.get("description", ""),
        stateful=values.get("stateful", True),
        tags=values.get("tags", []),
    )
    session.add(group)
    session.flush()
    session.add_all(_egress_rules(group))
    session.flush()
    session.refresh(group)
    return group_dict(group)


def update_group(
    session: Session, context: Any, group_id: str, values: dict[str, Any]
) -> dict[str, Any]:
    group = _group(session, context, group_id)
    defaults = db.default_security_group_ids(session)
    if group.id in defaults and values.get("name", DEFAULT_NAME) != DEFAULT_NAME:
        raise exc.Conflict(
            "SecurityGroupCannotUpdateDefault", "Updating default security group not allowed."
        )
    if group.id not in defaults and values.get("name") == DEFAULT_NAME:
        raise exc.Conflict(
            "SecurityGroupDefaultAlreadyExists", "Default security group already exists."
        )
    for key in ("name", "description"):
        if key in values:
            setattr(group, key, values[key])
    group.revision_number += 1
    session.flush()
    return group_dict(group, defaults)


def delete_group(session: Session, context: Any, group_id: str) -> None:
    """Delete a group that no port uses; the rules of other groups that name it as
    their remote group go with it. The default group only by an administrator."""
    group = _group(session, context, group_id)
    if group.id in db.default_security_group_ids(session) and not context.is_admin:
        raise exc.Conflict(
            "SecurityGroupCannotRemoveDefault",
            "Insufficient rights for removing default security group.",
        )
    if db.security_group_in_use(session, group.id):
        raise exc.Conflict("SecurityGroupInUse", f"Security Group {group.id} in use.")
    for rule in db.rules_with_remote_group(session, [group.id]):
        session.delete(rule)
    session.flush()
    default = session.get(DefaultSecurityGroup, group.project_id)
    if default is not None and default.security_group_id == group.id:
        session.delete(default)
        session.flush()
    session.delete(group)


# --- rules -----------------------------------------------------------------------------


def _rule(session: Session, context: Any, rule_id: str) -> SecurityGroupRule:
    rule = db.get_security_group_rule(session, rule_id)
    if rule is None or not _sees(context, rule.project_id):
        raise not_found("SecurityGroupRule", rule_id)
    return rule


def list_rules(session: Session, context: Any) -> list[dict[str, Any]]:
    scope = None if context.is_admin else context.project_id
    defaults = db.default_security_group_ids(session)
    return [rule_dict(r, defaults) for r in db.list_security_group_rules(session, scope)]


def get_rule(session: Session, context: Any, rule_id: str) -> dict[str, Any]:
    return rule_dict(_rule(session, context, rule_id), db.default_security_group_ids(session))


def create_rule(
    session: Session, context: Any, values: dict[str, Any], check_quota: Any
) -> dict[str, Any]:
    group_id = values.get("security_group_id")
    if not isinstance(group_id, str) or not group_id:
        raise exc.InvalidInput(
            "security_group_id", "Failed to parse request. 'security_group_id' is required."
        )
    columns = validate_rule(values)
    group = _group(session, context, group_id)
    if columns["remote_group_id"] is not None:
        _group(session, context, columns["remote_group_id"])
    check_quota(session, "security_group_rule", group.project_id)
    mark = fingerprint(columns)
    for existing in group.rules:
        if existing.fingerprint == mark:
            raise exc.Conflict(
                "SecurityGroupRuleExists",
                f"Security group rule already exists. Rule id is {existing.id}.",
            )
    rule = _new_rule(group, columns, values.get("description") or "")
    session.add(rule)
    group.revision_number += 1
    session.flush()
    return rule_dict(rule, db.default_security_group_ids(session))


def delete_rule(session: Session, context: Any, rule_id: str) -> str:
    """Delete a rule; its group's id."""
    rule = _rule(session, context, rule_id)
    group_id = rule.security_group_id
    group = db.get_security_group(session, group_id)
    if group is not None:
        group.revision_number += 1
    session.delete(rule)
    return group_id


# --- ports -----------------------------------------------------------------------------


def is_trusted(device_owner: str) -> bool:
    """Ports of the network itself (DHCP, routers) get no default group."""
    return device_owner.startswith("network:")


def wants_default(values: dict[str, Any]) -> bool:
    """Whether a port made with ``values`` may need its project's default group."""
    return values.get("security_groups") is None and not is_trusted(
        values.get("device_owner") or ""
    )


def _pairs(port: Port, raw: Any) -> list[tuple[str, str]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise exc.InvalidInput("allowed_address_pairs", f"'{raw}' is not a list.")
    if len(raw) > CONF.network.max_allowed_address_pair:
        raise _invalid(
            "AllowedAddressPairExhausted",
            "allowed_address_pairs",
            f"The number of allowed address pair exceeds the maximum "
            f"{CONF.network.max_allowed_address_pair}.",
        )
    found: list[tuple[str, str]] = []
    for item in raw:
        if not isinstance(item, dict) or not set(item) <= {"ip_address", "mac_address"}:
            raise exc.InvalidInput(
                "allowed_address_pairs", f"{item!r} is not an {{ip_address, mac_address}} entry."
            )
        if item.get("ip_address") is None:
            raise _invalid(
                "AllowedAddressPairsMissingIP",
                "allowed_address_pairs",
                "AllowedAddressPair must contain ip_address.",
            )
        try:
            network = netaddr.IPNetwork(str(item["ip_address"]))
        except (netaddr.AddrFormatError, ValueError):
            raise exc.InvalidInput(
                "allowed_address_pairs", f"'{item['ip_address']}' is not an IP address or CIDR."
            ) from None
        full = network.prefixlen == (32 if network.version == 4 else 128)
        address = str(network.ip) if full else str(network.cidr)
        mac = item.get("mac_address")
        mac = port.mac_address if mac is None else ipam.validate_mac(mac)
        if (address, mac) in found:
            raise _invalid(
                "DuplicateAddressPairInRequest",
                "allowed_address_pairs",
                f"Request contains duplicate address pair: mac_address {mac} ip_address {address}.",
            )
        found.append((address, mac))
    return found


def apply_to_port(
    session: Session, port: Port, values: dict[str, Any], create: bool, default_id: str | None
) -> None:
    """Give ``port`` the groups and allowed address pairs of ``values`` (on create,
    the project's default group when none is named and port security is on), after
    ``port.port_security_enabled`` took its new value."""
    named = values.get("security_groups")
    if named is not None:
        if not isinstance(named, list) or not all(isinstance(g, str) for g in named):
            raise exc.InvalidInput("security_groups", f"'{named}' is not a list of group ids.")
        wanted = list(dict.fromkeys(named))
        for group_id in wanted:
            group = db.get_security_group(session, group_id)
            if group is None or group.project_id != port.project_id:
                raise not_found("SecurityGroup", group_id)
    elif create:
        trusted = is_trusted(port.device_owner)
        wanted = [default_id] if port.port_security_enabled and default_id and not trusted else []
    else:
        wanted = [b.security_group_id for b in port.security_group_bindings]
    if "allowed_address_pairs" in values:
        pairs = _pairs(port, values["allowed_address_pairs"])
    else:
        pairs = [(p.ip_address, p.mac_address) for p in port.allowed_address_pairs]
    if not port.port_security_enabled:
        if wanted and (create or named is not None):
            raise _invalid(
                "PortSecurityAndIPRequiredForSecurityGroups",
                "security_groups",
                "Port security must be enabled and port must have an IP address in order "
                "to use security groups.",
            )
        if wanted:
            raise exc.Conflict(
                "PortSecurityPortHasSecurityGroup",
                "Port has security group associated. Cannot disable port security or IP "
                "address until security group is removed.",
            )
        if pairs:
            raise exc.Conflict(
                "AddressPairAndPortSecurityRequired",
                "Port Security must be enabled in order to have allowed address pairs on a port.",
            )
    held = {b.security_group_id: b for b in port.security_group_bindings}
    for group_id, binding in held.items():
        if group_id not in wanted:
            port.security_group_bindings.remove(binding)
    for position, group_id in enumerate(wanted):
        if group_id in held:
            held[group_id].position = position
        else:
            port.security_group_bindings.append(
                SecurityGroupPortBinding(security_group_id=group_id, position=position)
            )
    kept = {(p.ip_address, p.mac_address): p for p in port.allowed_address_pairs}
    for key, pair in kept.items():
        if key not in pairs:
            port.allowed_address_pairs.remove(pair)
    for position, (address, mac) in enumerate(pairs):
        if (address, mac) in kept:
            kept[(address, mac)].position = position
        else:
            port.allowed_address_pairs.append(
                AllowedAddressPair(ip_address=address, mac_address=mac, position=position)
            )


def port_attributes(port: Port) -> dict[str, Any]:
    """A port's ``security_groups`` and ``allowed_address_pairs`` as the API shows them."""
    return {
        "security_groups": [b.security_group_id for b in port.security_group_bindings],
        "allowed_address_pairs": [
            {"ip_address": p.ip_address, "mac_address": p.mac_address}
            for p in port.allowed_address_pairs
        ],
    }


# --- the data plane ----------------------------------------------------------------------


def host_groups(session: Session, group_ids: set[str]) -> dict[str, Any]:
    """``host_state``'s ``security_groups``: the groups ``group_ids`` and the remote
    groups of their rules, each with its rules and the addresses of its members
    (the fixed and allowed-address-pair addresses of every port in it, any host)."""
    groups = {g.id: g for g in db.list_security_groups(session, ids=group_ids)}
    remote = {
        r.remote_group_id for g in groups.values() for r in g.rules if r.remote_group_id
    } - set(groups)
    if remote:
        groups.update({g.id: g for g in db.list_security_groups(session, ids=remote)})
    members: dict[str, dict[str, set[str]]] = {g: {"IPv4": set(), "IPv6": set()} for g in groups}
    for port in db.ports_in_security_groups(session, groups):
        addresses = [a.ip_address for a in port.fixed_ips]
        addresses += [p.ip_address for p in port.allowed_address_pairs]
        for binding in port.security_group_bindings:
            if binding.security_group_id in members:
                for address in addresses:
                    version = netaddr.IPNetwork(address).version
                    members[binding.security_group_id][f"IPv{version}"].add(address)
    return {
        group_id: {
            "rules": [
                {
                    "id": r.id,
                    "direction": r.direction,
                    "ethertype": r.ethertype,
                    "protocol": dataplane_protocol(r.protocol, r.ethertype),
                    "port_range_min": r.port_range_min,
                    "port_range_max": r.port_range_max,
                    "remote_ip_prefix": _normalized_cidr(r.remote_ip_prefix),
                    "remote_group_id": r.remote_group_id,
                }
                for r in group.rules
            ],
            "members": {version: sorted(found) for version, found in members[group_id].items()},
        }
        for group_id, group in groups.items()
    }


def networks_watching(session: Session, group_ids: set[str]) -> set[str]:
    """The networks of the ports whose filtering depends on ``group_ids``: the ports
    in those groups and in groups whose rules name one of them as remote group."""
    if not group_ids:
        return set()
    watchers = set(group_ids) | {
        r.security_group_id for r in db.rules_with_remote_group(session, group_ids)
    }
    return {p.network_id for p in db.ports_in_security_groups(session, watchers)}
