# Copyright: Stratus contributors
# Apache License 2.0 (see pyproject.toml at the root of the Stratus repository)
"""The shared part of the modules of the Networking API v2.0 (``stratus_network``,
``stratus_subnet``, ``stratus_port``, ``stratus_security_group``,
``stratus_security_group_rule``, ``stratus_router``, ``stratus_floating_ip``):
requests to the catalog's ``network`` service, finding networks, subnets, ports,
security groups and routers by name or id, what makes two security group rules
the same rule, and the one present/absent flow the modules follow (create, update
in place what the API lets change, fail naming what cannot change, delete; check
and diff mode).

Modules import it as ``ansible.module_utils.stratus_networking``.
"""

from __future__ import annotations

import ipaddress

from ansible.module_utils.stratus_errors import StratusAPIError, StratusError
from ansible.module_utils.stratus_module import (
    StratusModule,
    immutable_message,
    is_uuid,
    next_marker,
    only_one,
    quote_path,
)


def same_address(a, b) -> bool:
    """Whether two IP addresses (or two CIDRs) are the same, however written."""
    if a is None or b is None:
        return a is b
    try:
        if "/" in str(a) or "/" in str(b):
            return ipaddress.ip_network(str(a), strict=False) == ipaddress.ip_network(
                str(b), strict=False
            )
        return ipaddress.ip_address(str(a)) == ipaddress.ip_address(str(b))
    except ValueError:
        return str(a) == str(b)


def canonical_address(value) -> str | None:
    """An address or CIDR as the API writes it (``None`` stays ``None``)."""
    if value is None:
        return None
    try:
        if "/" in str(value):
            return str(ipaddress.ip_network(str(value), strict=False))
        return str(ipaddress.ip_address(str(value)))
    except ValueError:
        return str(value)


def _pairs(items, first: str, second: str) -> list:
    return sorted(
        (canonical_address(i.get(first)), canonical_address(i.get(second))) for i in items or []
    )


def same_fixed_ips(current, wanted) -> bool:
    """Whether a port's fixed IPs are those asked for: as many, each asked one
    matching a distinct current one by subnet and/or address (whichever it gives)."""
    left = list(current or [])
    if len(left) != len(wanted or []):
        return False
    for asked in wanted or []:
        for index, have in enumerate(left):
            if asked.get("subnet_id") not in (None, have.get("subnet_id")):
                continue
            if asked.get("ip_address") is not None and not same_address(
                asked["ip_address"], have.get("ip_address")
            ):
                continue
            del left[index]
            break
        else:
            return False
    return True


def same_gateway(current, wanted) -> bool:
    """Whether a router's ``external_gateway_info`` is the one asked for (what the
    request leaves out, such as the addresses, is the cloud's choice)."""
    if not wanted or not current:
        return not wanted and not current
    if current.get("network_id") != wanted.get("network_id"):
        return False
    if "enable_snat" in wanted and current.get("enable_snat") != wanted["enable_snat"]:
        return False
    return "external_fixed_ips" not in wanted or same_fixed_ips(
        current.get("external_fixed_ips"), wanted["external_fixed_ips"]
    )


def same_value(key: str, current, wanted) -> bool:
    """Whether the API's ``current`` value of ``key`` is what ``wanted`` asks for."""
    if key in ("cidr", "gateway_ip"):
        return same_address(current, wanted)
    if key == "allocation_pools":
        return _pairs(current, "start", "end") == _pairs(wanted, "start", "end")
    if key in ("host_routes", "routes"):
        return _pairs(current, "destination", "nexthop") == _pairs(wanted, "destination", "nexthop")
    if key == "fixed_ips":
        return same_fixed_ips(current, wanted)
    if key == "external_gateway_info":
        return same_gateway(current, wanted)
    if key == "mac_address":
        return str(current or "").lower() == str(wanted or "").lower()
    if key == "dns_nameservers":  # the order is the resolvers' order: it counts
        return [canonical_address(a) for a in current or []] == [
            canonical_address(a) for a in wanted or []
        ]
    return current == wanted


#: IP protocol numbers of the protocol names a security group rule takes
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


def rule_protocol(protocol, ethertype: str):
    """A rule's protocol as a number when known (``None``: any protocol; ICMP of an
    IPv6 rule is ICMPv6), else as written: two spellings of one protocol match."""
    if protocol is None or str(protocol).strip().lower() in ("", "any"):
        return None
    text = str(protocol).strip().lower()
    number = PROTOCOL_NUMBERS.get(text)
    if number is None and text.isdigit():
        number = int(text)
    if number == 1 and ethertype == "IPv6":
        number = 58
    return text if number is None else number


def rule_identity(rule: dict) -> tuple:
    """What makes two security group rules of a group the same rule: direction,
    ethertype, protocol, ports and remote (no remote at all is any address)."""
    ethertype = rule.get("ethertype") or "IPv4"
    prefix = rule.get("remote_ip_prefix")
    if prefix is None and rule.get("remote_group_id") is None:
        prefix = "0.0.0.0/0" if ethertype == "IPv4" else "::/0"
    return (
        rule.get("direction"),
        ethertype,
        rule_protocol(rule.get("protocol"), ethertype),
        rule.get("port_range_min"),
        rule.get("port_range_max"),
        canonical_address(prefix),
        rule.get("remote_group_id"),
    )


def collection_path(collection: str) -> str:
    """The URL path of a collection (``security_groups`` -> ``/security-groups``)."""
    return "/" + collection.replace("_", "-")


class NetworkLookup:
    """Requests to the Networking API and finding its resources by name or id, for
    any ``StratusModule`` (``stratus_server`` resolves its ``networks`` with it)."""

    def network_api(self, method: str, path: str, body=None, **kwargs):
        return self.conn.request(method, "network", path, body, **kwargs)

    def network_list(self, collection: str, query=None, what: str | None = None) -> list:
        """Every item of a Networking API collection the filters match (all pages)."""
        query = dict(query or {})
        items: list = []
        while True:
            page = self.network_api("GET", collection_path(collection), query=query, what=what)
            items += page.get(collection) or []
            marker = next_marker(page.get(f"{collection}_links"))
            if not marker or not page.get(collection):
                return items
            query["marker"] = marker

    def find_networking(self, collection: str, ref, required: bool = False, **filters):
        """A network, subnet or port by id, else by exact name (with ``filters`` such
        as ``network_id`` or ``project_id``); several of one name is an error."""
        kind = collection[:-1]
        filters = {k: v for k, v in filters.items() if v is not None}
        if is_uuid(ref):
            found = self.get_or_none(
                self.network_api, "GET", f"{collection_path(collection)}/{quote_path(ref)}"
            )
            if found is not None:
                item = found[kind]
                if all(item.get(k) == v for k, v in filters.items()):
                    return item
        matches = self.network_list(
            collection, dict(filters, name=ref), what=f"Looking up {kind} {ref!r}"
        )
        matches = [m for m in matches if m.get("name") == ref]
        return only_one(matches, kind, ref, required)

    def find_network(self, ref, required: bool = False):
        return self.find_networking("networks", ref, required)

    def find_subnet(self, ref, required: bool = False, network_id=None):
        return self.find_networking("subnets", ref, required, network_id=network_id)

    def find_port(self, ref, required: bool = False, network_id=None):
        return self.find_networking("ports", ref, required, network_id=network_id)

    def caller_project_id(self):
        """The project the connection's token is scoped to (``None`` if unknown)."""
        return getattr(self.conn, "project_id", None)

    def find_security_group(self, ref, required: bool = False, project_id=None):
        """A security group by id, else by name in ``project_id`` (by default the
        caller's project: every project has a group named ``default``)."""
        return self.find_networking(
            "security_groups",
            ref,
            required,
            project_id=project_id or self.caller_project_id(),
        )


class NetworkingModule(NetworkLookup, StratusModule):
    """A resource of the Networking API kept as declared.

    Subclasses set ``resource`` (``network``, ``subnet`` or ``port``), ``collection``
    (the API's plural), ``immutable`` (attributes the API does not change in
    place), ``viewed`` (the attributes the diff shows) and implement ``lookup()``
    (the resource or ``None``) and ``wanted()`` (the API attributes the options
    ask for; an attribute left out is not managed).
    """

    collection = "resources"
    kind = ""
    body_key = ""
    immutable: frozenset = frozenset()
    viewed: tuple = ()
    advice = "Delete it (state: absent) and declare it again."

    @property
    def body(self) -> str:
        """The key of the API's request and response bodies (``resource`` by default)."""
        return self.body_key or self.resource

    def done(self, resource, before: dict, after: dict) -> None:
        """The end of a present run: the result (a module with more to do than the
        resource's own attributes, such as a router's interfaces, does it here)."""
        self.exit(resource, before, after)

    def label(self):
        """How messages name the resource: its ``name`` option by default."""
        return self.params.get("name")

    def named(self, item: dict):
        """How messages name an existing resource: its name, else ``label()``."""
        return item.get("name") or self.label()

    def kind_name(self) -> str:
        """The resource's kind in messages (``security group`` ...)."""
        return self.kind or self.resource.replace("_", " ")

    def missing(self, message: str) -> None:
        """Something an option names does not exist: an error when it is needed; with
        state=absent nothing, and in check mode (declared by an earlier task) a
        warning."""
        if self.params.get("state") == "absent":
            return
        if not self.check_mode:
            raise StratusError(message)
        self.module.warn(message)

    def resolve_fixed_ips(self, entries: list, network_id, option: str, network) -> list:
        """Entries ``{subnet, ip_address}`` (a port's ``fixed_ips``, a router gateway's
        ``external_fixed_ips``) as the API takes them: subnets of network
        ``network_id`` (named ``network`` in messages) by id."""
        found = []
        for index, entry in enumerate(entries):
            if not entry.get("subnet") and not entry.get("ip_address"):
                raise StratusError(f"{option}[{index}] names neither a subnet nor an ip_address.")
            item = {}
            if entry.get("subnet"):
                subnet = None
                if network_id is not None:
                    subnet = self.find_subnet(entry["subnet"], network_id=network_id)
                if subnet is None:
                    self.missing(
                        f"{option}[{index}]: unknown subnet {entry['subnet']!r} (no subnet of "
                        f"network {network!r} has this name or id)."
                    )
                item["subnet_id"] = subnet["id"] if subnet else None
            if entry.get("ip_address"):
                item["ip_address"] = entry["ip_address"]
            found.append(item)
        return found

    def project_id(self):
        """The id of the ``project`` option's project (``None`` when not given)."""
        ref = self.params.get("project")
        return self.find_project(ref)["id"] if ref else None

    def parent_network(self):
        """The network the ``network`` option names (``None`` when not given). One that
        does not exist is an error, but with state=absent (nothing to delete then)
        and in check mode (declared by an earlier task: warned about, the resource
        is reported as to be created)."""
        params = self.params
        if not params.get("network"):
            return None
        network = self.find_network(params["network"])
        if network is None and params["state"] != "absent":
            if not self.check_mode:
                raise StratusError(
                    f"Unknown network {params['network']!r}: no network has this name or id."
                )
            self.module.warn(
                f"Network {params['network']!r} does not exist (yet): {self.resource} "
                f"{params['name']!r} is reported as to be created."
            )
        return network

    # - what subclasses give -

    def lookup(self):  # pragma: no cover - every module implements it
        raise NotImplementedError

    def wanted(self, current) -> dict:  # pragma: no cover - every module implements it
        raise NotImplementedError

    def view(self, item) -> dict:
        """The part of the resource that the diff shows."""
        if not item:
            return {}
        return {key: item.get(key) for key in self.viewed if key in item}

    # - the flow -

    def run(self) -> None:
        current = self.lookup()
        if self.params["state"] == "absent":
            self.absent(current)
            return
        wanted = self.wanted(current)
        if current is None:
            self.create(wanted)
            return
        self.update(current, wanted)

    def absent(self, current) -> None:
        if current is not None:
            self.changed = True
            if not self.check_mode:
                try:
                    self.network_api(
                        "DELETE",
                        f"{collection_path(self.collection)}/{quote_path(current['id'])}",
                        what=f"Deleting {self.kind_name()} {self.named(current)!r}",
                    )
                except StratusAPIError as exc:
                    if exc.status != 404:
                        raise
        self.exit(None, self.view(current), {})

    def create(self, wanted: dict) -> None:
        self.changed = True
        body = dict(wanted)
        if self.check_mode:
            predicted = dict(body, id=None)
            self.done(predicted, {}, self.view(predicted))
            return
        created = self.network_api(
            "POST",
            collection_path(self.collection),
            {self.body: body},
            what=f"Creating {self.kind_name()} {self.label()!r}",
        )[self.body]
        self.done(created, {}, self.view(created))

    def differences(self, current: dict, wanted: dict) -> dict:
        """``{attribute: {"before", "after"}}`` of what ``wanted`` changes; an
        attribute the API does not show to this caller is not compared."""
        return {
            key: {"before": current.get(key), "after": value}
            for key, value in wanted.items()
            if key in current and not same_value(key, current.get(key), value)
        }

    def update(self, current: dict, wanted: dict) -> None:
        changes = self.differences(current, wanted)
        fixed = {k: v for k, v in changes.items() if k in self.immutable}
        if fixed:
            after = dict(current, **{k: v["after"] for k, v in changes.items()})
            raise StratusError(
                immutable_message(
                    self.kind_name().capitalize(), self.named(current), fixed, self.advice
                ),
                differences=fixed,
                diff={"before": self.view(current), "after": self.view(after)},
                **{self.resource: current},
            )
        if not changes:
            self.done(current, self.view(current), self.view(current))
            return
        self.changed = True
        after = dict(current, **{k: v["after"] for k, v in changes.items()})
        if not self.check_mode:
            after = self.network_api(
                "PUT",
                f"{collection_path(self.collection)}/{quote_path(current['id'])}",
                {self.body: {k: v["after"] for k, v in changes.items()}},
                what=f"Updating {self.kind_name()} {self.named(current)!r}",
            )[self.body]
        self.done(after, self.view(current), self.view(after))
