# Copyright: Stratus contributors
# Apache License 2.0 (see pyproject.toml at the root of the Stratus repository)
"""The base every Stratus Ansible module is built on: its options, the API calls
through one ``StratusConnection``, finding flavors, images, servers, server groups
and projects by name or id, waiting with a timeout, the resources in the shape the
modules return them, and the result.

Modules import it as ``ansible.module_utils.stratus_module``: Ansible finds it
through ``module_utils`` (``ANSIBLE_MODULE_UTILS`` or ``module_utils =`` in an
``ansible.cfg``) and ships it to the target with the module, together with the
``stratus_errors``, ``stratus_config`` and ``stratus_http`` it imports.
"""

from __future__ import annotations

import copy
import hashlib
import re
import time
from urllib.parse import parse_qs, quote, urlsplit

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.stratus_config import connection_argument_spec, resolve_config
from ansible.module_utils.stratus_errors import StratusAPIError, StratusError, StratusTimeout
from ansible.module_utils.stratus_http import StratusConnection

UUID_RE = re.compile(
    r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"
)


def wait_argument_spec() -> dict:
    """``wait`` and ``timeout``, which every Stratus module takes (documented by the
    ``stratus.wait`` or ``stratus.no_wait`` doc fragment)."""
    return dict(
        wait=dict(type="bool", default=True),
        timeout=dict(type="int", default=300),
    )


def common_argument_spec() -> dict:
    """The options every Stratus module takes besides its own."""
    return dict(connection_argument_spec(), **wait_argument_spec())


# --- helpers ----------------------------------------------------------------------------


def quote_path(value) -> str:
    return quote(str(value), safe="")


def stringify(value) -> str:
    """A metadata / extra spec / property value as the API stores it (a string)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def string_dict(values) -> dict:
    return {str(k): stringify(v) for k, v in (values or {}).items()}


def file_digest(path: str, algorithm: str = "sha512") -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def is_uuid(value) -> bool:
    return bool(UUID_RE.match(str(value)))


def immutable_message(kind: str, name: str, differences: dict, advice: str) -> str:
    """One sentence naming the fields that cannot change in place, with their values."""
    parts = [
        f"{field} ({change['before']!r} -> {change['after']!r})"
        for field, change in sorted(differences.items())
    ]
    return (
        f"{kind} {name!r} differs in fields that cannot be changed in place: "
        f"{', '.join(parts)}. {advice}"
    )


def fault_message(resource) -> str | None:
    fault = (resource or {}).get("fault") or {}
    return fault.get("message") if isinstance(fault, dict) else None


# --- resources as the modules return them -----------------------------------------------

#: Attributes of an Image API body that are not extra properties.
IMAGE_CORE = frozenset(
    {
        "id",
        "name",
        "status",
        "disk_format",
        "container_format",
        "size",
        "virtual_size",
        "checksum",
        "os_hash_algo",
        "os_hash_value",
        "visibility",
        "protected",
        "os_hidden",
        "min_disk",
        "min_ram",
        "owner",
        "tags",
        "created_at",
        "updated_at",
        "self",
        "file",
        "schema",
        "locations",
        "direct_url",
        "stores",
        "properties",
    }
)


def normalize_flavor(api: dict, projects=None) -> dict:
    """A flavor from the Compute API's body (2.61+): plain keys, extra specs inline,
    ``projects`` the access list of a private flavor."""
    return {
        "id": api.get("id"),
        "name": api.get("name"),
        "vcpus": api.get("vcpus"),
        "ram": api.get("ram"),
        "disk": api.get("disk"),
        "ephemeral": api.get("OS-FLV-EXT-DATA:ephemeral", 0),
        "swap": int(api.get("swap") or 0),
        "is_public": bool(api.get("os-flavor-access:is_public", True)),
        "is_disabled": bool(api.get("OS-FLV-DISABLED:disabled", False)),
        "rxtx_factor": api.get("rxtx_factor", 1.0),
        "description": api.get("description"),
        "extra_specs": dict(api.get("extra_specs") or {}),
        "projects": sorted(projects or []),
    }


def normalize_image(api: dict) -> dict:
    """An image from the Image API's body, its extra properties also under ``properties``."""
    image = dict(api)
    image["properties"] = {k: v for k, v in api.items() if k not in IMAGE_CORE}
    image["tags"] = sorted(api.get("tags") or [])
    return image


def normalize_server(api: dict) -> dict:
    """A server from the Compute API's body, plus ``host`` and ``availability_zone``
    (``addresses`` always present: by network name, as the API gives them)."""
    server = dict(api)
    server["host"] = api.get("OS-EXT-SRV-ATTR:host")
    server["availability_zone"] = api.get("OS-EXT-AZ:availability_zone")
    server["metadata"] = dict(api.get("metadata") or {})
    server["addresses"] = dict(api.get("addresses") or {})
    return server


def only_one(matches: list, kind: str, ref, required: bool = False, what: str | None = None):
    """The one resource of ``matches``, those named ``ref``: several is an error that
    lists their ids; none is ``None``, or an error when ``required``."""
    if len(matches) > 1:
        ids = ", ".join(sorted(str(m.get("id")) for m in matches))
        raise StratusError(
            f"There are {len(matches)} {kind}s named {ref!r} ({ids}): give the id instead."
        )
    if not matches and required:
        raise StratusError(f"Unknown {what or kind} {ref!r}: no {kind} has this name or id.")
    return matches[0] if matches else None


def next_marker(links) -> str | None:
    """The ``marker`` of a Compute API ``*_links`` list's ``next`` link."""
    for link in links or []:
        if link.get("rel") == "next":
            query = parse_qs(urlsplit(link.get("href", "")).query)
            if query.get("marker"):
                return query["marker"][0]
    return None


# --- the base class ---------------------------------------------------------------------


class StratusModule:
    """The base of every Stratus module.

    Subclasses set ``argument_spec`` (their own options), ``module_kwargs``
    (``required_if`` ...), ``resource`` (the key the resource is returned
    under) and ``compute_microversion``, and implement ``run()``, which ends
    with ``self.exit(resource, before, after)``. Anything that goes wrong is
    raised as ``StratusError`` and reported with ``fail_json``.
    """

    argument_spec: dict = {}
    module_kwargs: dict = {}
    resource = "resource"
    compute_microversion: str | None = None

    def __init__(self, connection: StratusConnection | None = None) -> None:
        spec = common_argument_spec()
        spec.update(copy.deepcopy(self.argument_spec))
        self.module = AnsibleModule(
            argument_spec=spec, supports_check_mode=True, **self.module_kwargs
        )
        self.params = self.module.params
        self.check_mode = self.module.check_mode
        self.changed = False
        self._conn = connection

    # - connection and API calls -

    @property
    def conn(self) -> StratusConnection:
        if self._conn is None:
            connection = StratusConnection(resolve_config(self.params))
            connection.authenticate()
            self._conn = connection
        return self._conn

    def compute(self, method: str, path: str, body=None, **kwargs):
        kwargs.setdefault("microversion", self.compute_microversion)
        return self.conn.request(method, "compute", path, body, **kwargs)

    def image_api(self, method: str, path: str, body=None, **kwargs):
        return self.conn.request(method, "image", path, body, **kwargs)

    def identity(self, method: str, path: str, body=None, **kwargs):
        return self.conn.request(method, "identity", path, body, **kwargs)

    def get_or_none(self, call, *args, **kwargs):
        """``call(*args)``, or ``None`` when the API answers 404 (or 400/403 for a
        malformed or hidden id, as the clients treat them when finding)."""
        try:
            return call(*args, **kwargs)
        except StratusAPIError as exc:
            if exc.status in (400, 403, 404):
                return None
            raise

    def compute_list(self, path: str, key: str, query=None, **kwargs) -> list:
        """Every item of a Compute API collection, following the ``next`` links."""
        query = dict(query or {})
        items: list = []
        while True:
            page = self.compute("GET", path, query=query, **kwargs)
            items += page.get(key) or []
            marker = next_marker(page.get(f"{key}_links"))
            if not marker or not page.get(key):
                return items
            query["marker"] = marker

    def image_list(self, query=None, **kwargs) -> list:
        """Every image the query matches, following the ``next`` links."""
        query = dict(query or {})
        items: list = []
        while True:
            page = self.image_api("GET", "/images", query=query, **kwargs)
            items += page.get("images") or []
            following = parse_qs(urlsplit(page.get("next") or "").query).get("marker")
            if not following or not page.get("images"):
                return items
            query["marker"] = following[0]

    # - finding things by name or id -

    def find_flavor(self, ref, required: bool = False, microversion: str = "2.61"):
        """A flavor by id, else by name (private ones included for an admin)."""
        flavor = self.get_or_none(
            self.compute, "GET", f"/flavors/{quote_path(ref)}", microversion=microversion
        )
        if flavor is not None:
            return flavor["flavor"]
        flavors = self.compute_list(
            "/flavors/detail",
            "flavors",
            {"is_public": "None"},
            microversion=microversion,
            what="Listing flavors",
        )
        matches = [f for f in flavors if f.get("name") == ref]
        if not matches:
            if required:
                raise StratusError(f"Unknown flavor {ref!r}: no flavor has this name or id.")
            return None
        return matches[0]

    def find_image(self, ref, required: bool = False, what: str = "image"):
        """An image by id, else by name; several images of one name is an error."""
        if is_uuid(ref):
            image = self.get_or_none(self.image_api, "GET", f"/images/{quote_path(ref)}")
            if image is not None:
                return image
        return self.find_image_named(ref, required, what)

    def find_image_named(self, name, required: bool = False, what: str = "image"):
        """The image named ``name``; several images of one name is an error."""
        images = self.image_api(
            "GET", "/images", query={"name": name}, what=f"Looking up {what} {name!r}"
        )["images"]
        return only_one(images, "image", name, required, what)

    def find_server(self, ref, microversion: str | None = None):
        """A server of the project by exact name, else by id; several of one name is an
        error (give the id)."""
        servers = self.compute(
            "GET",
            "/servers/detail",
            query={"name": f"^{re.escape(str(ref))}$"},
            microversion=microversion or self.compute_microversion,
            what=f"Looking up server {ref!r}",
        )["servers"]
        server = only_one([s for s in servers if s.get("name") == ref], "server", ref)
        if server is not None:
            return server
        if is_uuid(ref):
            found = self.get_or_none(
                self.compute,
                "GET",
                f"/servers/{quote_path(ref)}",
                microversion=microversion or self.compute_microversion,
            )
            return found["server"] if found else None
        return None

    def find_server_group(self, ref, required: bool = False):
        """A server group of the project by id, else by name."""
        group = self.get_or_none(
            self.compute, "GET", f"/os-server-groups/{quote_path(ref)}", microversion="2.64"
        )
        if group is not None:
            return group["server_group"]
        groups = self.compute(
            "GET", "/os-server-groups", microversion="2.64", what="Listing server groups"
        )["server_groups"]
        matches = [g for g in groups if g.get("name") == ref]
        return only_one(matches, "server group", ref, required)

    def find_project(self, ref) -> dict:
        """A project by id, else by name (one of that name in every domain)."""
        project = self.get_or_none(self.identity, "GET", f"/projects/{quote_path(ref)}")
        if project is not None:
            return project["project"]
        projects = self.identity(
            "GET", "/projects", query={"name": ref}, what=f"Looking up project {ref!r}"
        )["projects"]
        return only_one(projects, "project", ref, required=True)

    # - waiting -

    def wait_for(self, fetch, done, describe: str, timeout: float | None = None):
        """Call ``fetch()`` until ``done(resource)`` is true (``done`` may raise
        ``StratusError`` to stop early); on timeout, fail with the last status,
        task and fault seen."""
        timeout = self.params["timeout"] if timeout is None else timeout
        deadline = time.monotonic() + timeout
        delay = 0.25
        while True:
            resource = fetch()
            if done(resource):
                return resource
            if time.monotonic() >= deadline:
                raise StratusTimeout(
                    f"Timed out after {timeout} s waiting for {describe}; last seen: "
                    f"{describe_status(resource)}.",
                    **{self.resource: resource},
                )
            time.sleep(delay)
            delay = min(delay * 1.5, 3.0)

    # - results -

    def exit(self, resource, before=None, after=None, **extra) -> None:
        result = dict(changed=self.changed, **extra)
        result[self.resource] = resource
        if self.module._diff and (before is not None or after is not None):
            result["diff"] = {"before": before or {}, "after": after or {}}
        self.module.exit_json(**result)

    def fail(self, message: str, **extra) -> None:
        self.module.fail_json(msg=message, changed=self.changed, **extra)

    def run(self) -> None:  # pragma: no cover - every module implements it
        raise NotImplementedError

    @classmethod
    def execute(cls, connection: StratusConnection | None = None) -> None:
        """The body of a module's ``main()`` (tests may hand in a ``connection``)."""
        module = cls(connection)
        try:
            module.run()
        except StratusError as exc:
            module.fail(exc.message, **exc.extra)


def describe_status(resource) -> str:
    """``status X, task Y, fault: Z`` for a server (or image) as last seen."""
    if resource is None:
        return "nothing (it does not exist)"
    parts = [f"status {resource.get('status')}"]
    task = resource.get("OS-EXT-STS:task_state")
    if task:
        parts.append(f"task {task}")
    fault = fault_message(resource)
    if fault:
        parts.append(f"fault: {fault}")
    return ", ".join(parts)
