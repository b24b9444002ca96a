# Copyright: Stratus contributors
# Apache License 2.0 (see pyproject.toml at the root of the Stratus repository)
"""Code shared by the Stratus Ansible modules: credentials, tokens, HTTP, errors,
waiting, and the base class every module is built on.

Modules import it as ``ansible.module_utils.stratus_cloud``: Ansible finds it
through ``module_utils`` (``ANSIBLE_MODULE_UTILS`` or ``module_utils =`` in an
``ansible.cfg``) and ships it to the target with the module. It needs nothing
but the Python standard library and Ansible's own ``module_utils`` (PyYAML, which
Ansible requires, only to read ``clouds.yaml``): no openstacksdk, no keystoneauth.

Where the credentials come from, first match wins for each value:

1. the module's ``auth`` option (and ``region_name``, ``interface``,
   ``validate_certs``, ``ca_cert``, ``api_timeout``);
2. the ``cloud`` option (or ``OS_CLOUD``): an entry of the first ``clouds.yaml``
   found in ``$OS_CLIENT_CONFIG_FILE``, ``./clouds.yaml``,
   ``~/.config/openstack/clouds.yaml``, ``/etc/openstack/clouds.yaml``, merged
   with the same entry of the first ``secure.yaml`` found beside them
   (``$OS_CLIENT_SECURE_FILE`` first);
3. without a cloud: the ``OS_*`` environment variables (``OS_AUTH_URL``,
   ``OS_USERNAME``, ``OS_PASSWORD``, ``OS_PROJECT_NAME`` ...).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import time
import traceback
from urllib.error import HTTPError, URLError
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib
from ansible.module_utils.urls import ConnectionError as UrlsConnectionError
from ansible.module_utils.urls import SSLValidationError, open_url

try:
    import yaml
except ImportError:  # pragma: no cover - Ansible itself requires PyYAML
    yaml = None
    YAML_IMPORT_ERROR = traceback.format_exc()
else:
    YAML_IMPORT_ERROR = None

USER_AGENT = "stratus-ansible-modules"

CLOUDS_YAML_PATHS = (
    "./clouds.yaml",
    "~/.config/openstack/clouds.yaml",
    "/etc/openstack/clouds.yaml",
)
SECURE_YAML_PATHS = (
    "./secure.yaml",
    "~/.config/openstack/secure.yaml",
    "/etc/openstack/secure.yaml",
)

#: Password-auth keys understood in ``auth``, ``clouds.yaml`` and the environment.
AUTH_KEYS = (
    "auth_url",
    "username",
    "user_id",
    "password",
    "token",
    "project_name",
    "project_id",
    "user_domain_name",
    "user_domain_id",
    "project_domain_name",
    "project_domain_id",
    "domain_name",
    "domain_id",
)
AUTH_ENV = {
    "auth_url": ("OS_AUTH_URL",),
    "username": ("OS_USERNAME",),
    "user_id": ("OS_USER_ID",),
    "password": ("OS_PASSWORD",),
    "token": ("OS_TOKEN",),
    "project_name": ("OS_PROJECT_NAME", "OS_TENANT_NAME"),
    "project_id": ("OS_PROJECT_ID", "OS_TENANT_ID"),
    "user_domain_name": ("OS_USER_DOMAIN_NAME",),
    "user_domain_id": ("OS_USER_DOMAIN_ID",),
    "project_domain_name": ("OS_PROJECT_DOMAIN_NAME",),
    "project_domain_id": ("OS_PROJECT_DOMAIN_ID",),
    "domain_name": ("OS_DOMAIN_NAME",),
    "domain_id": ("OS_DOMAIN_ID",),
}

UUID_RE = re.compile(
    r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"
)


def cloud_argument_spec() -> dict:
    """The options every Stratus module takes (documented once per module)."""
    return dict(
        cloud=dict(type="str", fallback=(env_fallback, ["OS_CLOUD"])),
        auth=dict(
            type="dict",
            no_log=False,
            options=dict(
                auth_url=dict(type="str"),
                username=dict(type="str"),
                user_id=dict(type="str"),
                password=dict(type="str", no_log=True),
                token=dict(type="str", no_log=True),
                project_name=dict(type="str"),
                project_id=dict(type="str"),
                user_domain_name=dict(type="str"),
                user_domain_id=dict(type="str"),
                project_domain_name=dict(type="str"),
                project_domain_id=dict(type="str"),
                domain_name=dict(type="str"),
                domain_id=dict(type="str"),
            ),
        ),
        region_name=dict(type="str"),
        interface=dict(
            type="str", choices=["public", "internal", "admin"], aliases=["endpoint_type"]
        ),
        validate_certs=dict(type="bool", aliases=["verify"]),
        ca_cert=dict(type="path", aliases=["cacert"]),
        wait=dict(type="bool", default=True),
        timeout=dict(type="int", default=300),
        api_timeout=dict(type="int"),
    )


# --- errors ---------------------------------------------------------------------------


class StratusError(Exception):
    """A failure the module reports with ``fail_json``: ``message`` says what and why;
    ``extra`` is returned beside it (e.g. the resource as it was left)."""

    def __init__(self, message: str, **extra) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra


class StratusAPIError(StratusError):
    """The API answered with an error status."""

    def __init__(self, message: str, status: int, api_message: str, **extra) -> None:
        super().__init__(message, **extra)
        self.status = status
        self.api_message = api_message


class StratusConfigError(StratusError):
    """The credentials or cloud configuration are missing or wrong."""


class StratusTimeout(StratusError):
    """A wait ran out of time."""


_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    409: "Conflict",
    410: "Gone",
    413: "Request Entity Too Large",
    415: "Unsupported Media Type",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def api_error_message(body: bytes | str | None) -> str:
    """The message of an OpenStack error body (``{"badRequest": {"message": ...}}``,
    Keystone's ``{"error": {"message": ...}}``), else the body's text."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    text = (body or "").strip()
    try:
        data = json.loads(text) if text else None
    except ValueError:
        data = None
    if isinstance(data, dict):
        for value in data.values():
            if isinstance(value, dict) and value.get("message"):
                return str(value["message"])
        if data.get("message"):
            return str(data["message"])
        if data.get("detail"):
            return str(data["detail"])
    return text[:500] or "(no message)"


# --- configuration ----------------------------------------------------------------------


def _first_existing(candidates) -> str | None:
    for path in candidates:
        if path and os.path.isfile(os.path.expanduser(path)):
            return os.path.expanduser(path)
    return None


def _read_yaml(path: str) -> dict:
    if yaml is None:
        raise StratusConfigError(
            missing_required_lib("PyYAML", reason=f"to read {path}"), exception=YAML_IMPORT_ERROR
        )
    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise StratusConfigError(f"Could not read {path}: {exc}") from None
    if not isinstance(data, dict):
        raise StratusConfigError(f"{path} must hold a mapping with a 'clouds' key.")
    return data


def _merge(base: dict, extra: dict) -> dict:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def clouds_yaml_candidates(env) -> list:
    files = [env["OS_CLIENT_CONFIG_FILE"]] if env.get("OS_CLIENT_CONFIG_FILE") else []
    return files + list(CLOUDS_YAML_PATHS)


def load_cloud(name: str, env) -> dict:
    """The ``clouds.yaml`` entry ``name`` (merged with ``secure.yaml``)."""
    candidates = clouds_yaml_candidates(env)
    path = _first_existing(candidates)
    if path is None:
        raise StratusConfigError(
            f"cloud {name!r} was asked for, but no clouds.yaml was found (looked in: "
            f"{', '.join(candidates)}); set OS_CLIENT_CONFIG_FILE or give 'auth'."
        )
    clouds = _read_yaml(path).get("clouds") or {}
    secure_candidates = [env.get("OS_CLIENT_SECURE_FILE")] + list(SECURE_YAML_PATHS)
    secure_path = _first_existing(secure_candidates)
    if secure_path is not None:
        clouds = _merge(clouds, _read_yaml(secure_path).get("clouds") or {})
    if name not in clouds:
        known = ", ".join(sorted(clouds)) or "none"
        raise StratusConfigError(
            f"cloud {name!r} is not defined in {path} (clouds defined there: {known})."
        )
    entry = clouds[name]
    if not isinstance(entry, dict):
        raise StratusConfigError(f"cloud {name!r} in {path} must be a mapping.")
    return entry


def _clean_interface(value: str | None) -> str | None:
    if not value:
        return None
    value = str(value)
    return value[:-3] if value.endswith("URL") else value


def resolve_config(params: dict, env=None) -> dict:
    """Credentials and connection settings from the module's options, ``clouds.yaml``
    and the environment (see the module docstring for the order)."""
    env = os.environ if env is None else env
    cloud_name = params.get("cloud")
    settings: dict = {}
    if cloud_name:
        entry = load_cloud(cloud_name, env)
        auth = {k: v for k, v in (entry.get("auth") or {}).items() if v is not None}
        region = entry.get("region_name")
        if not region and entry.get("regions"):
            first = entry["regions"][0]
            region = first.get("name") if isinstance(first, dict) else first
        settings.update(
            region_name=region,
            interface=_clean_interface(entry.get("interface")),
            verify=entry.get("verify"),
            cacert=entry.get("cacert"),
            api_timeout=entry.get("api_timeout"),
        )
        if entry.get("insecure") is not None and settings["verify"] is None:
            settings["verify"] = not entry["insecure"]
    else:
        auth = {}
        for key, names in AUTH_ENV.items():
            for name in names:
                if env.get(name):
                    auth[key] = env[name]
                    break
        settings.update(
            region_name=env.get("OS_REGION_NAME"),
            interface=_clean_interface(env.get("OS_INTERFACE")),
            cacert=env.get("OS_CACERT"),
        )
    for key, value in (params.get("auth") or {}).items():
        if value is not None:
            auth[key] = value
    unknown = sorted(set(auth) - set(AUTH_KEYS))
    for key in unknown:
        auth.pop(key)
    if params.get("region_name"):
        settings["region_name"] = params["region_name"]
    if params.get("interface"):
        settings["interface"] = params["interface"]
    if params.get("validate_certs") is not None:
        settings["verify"] = params["validate_certs"]
    if params.get("ca_cert"):
        settings["cacert"] = params["ca_cert"]
    if params.get("api_timeout"):
        settings["api_timeout"] = params["api_timeout"]

    where = f"cloud {cloud_name!r}" if cloud_name else "the 'auth' option or OS_* variables"
    if not auth.get("auth_url"):
        raise StratusConfigError(
            f"No auth_url in {where}: give 'cloud' (an entry of clouds.yaml), "
            "'auth.auth_url', or set OS_AUTH_URL."
        )
    if not auth.get("token"):
        missing = []
        if not (auth.get("username") or auth.get("user_id")):
            missing.append("username")
        if not auth.get("password"):
            missing.append("password")
        if missing:
            raise StratusConfigError(f"Missing {' and '.join(missing)} in {where}.")
    verify = settings.get("verify")
    return {
        "auth": auth,
        "region_name": settings.get("region_name") or None,
        "interface": settings.get("interface") or "public",
        "verify": True if verify is None else bool(verify),
        "cacert": settings.get("cacert") or None,
        "api_timeout": float(settings.get("api_timeout") or 60),
        "cloud": cloud_name,
    }


def _domain(auth: dict, who: str) -> dict:
    """The domain of the user or the project: its own id or name, else the shared
    ``domain_id`` / ``domain_name``, else ``Default``."""
    if auth.get(f"{who}_domain_id"):
        return {"id": auth[f"{who}_domain_id"]}
    if auth.get(f"{who}_domain_name"):
        return {"name": auth[f"{who}_domain_name"]}
    if auth.get("domain_id"):
        return {"id": auth["domain_id"]}
    return {"name": auth.get("domain_name") or "Default"}


def password_auth_body(auth: dict) -> dict:
    """The ``POST /v3/auth/tokens`` body for ``auth`` (password or token, project scope)."""
    if auth.get("token"):
        identity = {"methods": ["token"], "token": {"id": auth["token"]}}
    else:
        user: dict = {"password": auth["password"]}
        if auth.get("user_id"):
            user["id"] = auth["user_id"]
        else:
            user["name"] = auth["username"]
            user["domain"] = _domain(auth, "user")
        identity = {"methods": ["password"], "password": {"user": user}}
    body: dict = {"auth": {"identity": identity}}
    if auth.get("project_id"):
        body["auth"]["scope"] = {"project": {"id": auth["project_id"]}}
    elif auth.get("project_name"):
        domain = _domain(auth, "project")
        body["auth"]["scope"] = {"project": {"name": auth["project_name"], "domain": domain}}
    return body


# --- HTTP -------------------------------------------------------------------------------


SERVICE_NAMES = {"compute": "compute", "image": "image", "identity": "identity"}


class StratusConnection:
    """A token-authenticated session against one Stratus cloud.

    ``request()`` sends JSON (or raw bytes) to a service found in the catalog
    and returns the decoded JSON answer; an error status raises
    ``StratusAPIError`` whose message names what was being done.
    """

    def __init__(self, config: dict) -> None:
        self.config = config
        auth_url = str(config["auth"]["auth_url"]).rstrip("/")
        if not re.search(r"/v3$", auth_url):
            auth_url += "/v3"
        self.auth_url = auth_url
        self.token: str | None = None
        self.catalog: list = []
        self.project_id: str | None = None
        self.user_id: str | None = None
        self.roles: list = []
        self._endpoints: dict = {}

    # - transport -

    def open(self, method: str, url: str, data=None, headers=None):
        """One HTTP exchange: ``(status, headers, body bytes)``; errors that leave no
        response (refused, DNS, TLS, timeout) raise ``StratusError`` naming the URL."""
        try:
            response = open_url(
                url,
                data=data,
                headers=headers or {},
                method=method,
                validate_certs=self.config["verify"],
                ca_path=self.config["cacert"],
                timeout=self.config["api_timeout"],
                http_agent=USER_AGENT,
                use_proxy=True,
            )
            return response.getcode(), response.headers, response.read()
        except HTTPError as exc:
            try:
                body = exc.read()
            except Exception:  # noqa: BLE001 - the error body is best effort
                body = b""
            return exc.code, exc.headers, body
        except SSLValidationError as exc:
            raise StratusError(f"TLS verification failed for {url}: {exc}") from None
        except (URLError, UrlsConnectionError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise StratusError(f"Could not reach the Stratus API at {url}: {reason}") from None

    # - identity -

    def authenticate(self) -> None:
        body = json.dumps(password_auth_body(self.config["auth"])).encode()
        url = f"{self.auth_url}/auth/tokens"
        status, headers, raw = self.open(
            "POST", url, body, {"Content-Type": "application/json", "Accept": "application/json"}
        )
        if status >= 400:
            what = self.config["auth"].get("username") or self.config["auth"].get("user_id")
            raise StratusAPIError(
                f"Authentication at {url} as {what!r} failed (HTTP {status}): "
                f"{api_error_message(raw)}",
                status,
                api_error_message(raw),
            )
        self.token = headers.get("X-Subject-Token")
        try:
            token = json.loads(raw)["token"]
        except (ValueError, KeyError, TypeError):
            raise StratusError(f"{url} did not answer with a token: {raw[:200]!r}") from None
        if not self.token:
            raise StratusError(f"{url} answered without an X-Subject-Token header.")
        self.catalog = token.get("catalog") or []
        self.project_id = (token.get("project") or {}).get("id")
        self.user_id = (token.get("user") or {}).get("id")
        self.roles = [r.get("name") for r in token.get("roles") or []]

    def endpoint(self, service_type: str) -> str:
        """The catalog URL of ``service_type`` for the interface and region asked for."""
        if service_type in self._endpoints:
            return self._endpoints[service_type]
        interface = self.config["interface"]
        region = self.config["region_name"]
        seen = []
        for service in self.catalog:
            if service.get("type") != service_type:
                continue
            for endpoint in service.get("endpoints") or []:
                region_of = endpoint.get("region_id") or endpoint.get("region")
                seen.append(f"{endpoint.get('interface')}@{region_of}")
                if endpoint.get("interface") != interface:
                    continue
                if region and region not in (endpoint.get("region"), endpoint.get("region_id")):
                    continue
                url = str(endpoint["url"]).rstrip("/")
                if service_type == "image" and not re.search(r"/v2(\.\d+)?$", url):
                    url += "/v2"
                self._endpoints[service_type] = url
                return url
        where = f" in region {region!r}" if region else ""
        have = f" (it has: {', '.join(seen)})" if seen else " (no such service at all)"
        raise StratusConfigError(
            f"The service catalog has no {interface} endpoint for service type "
            f"{service_type!r}{where}{have}."
        )

    def request(
        self,
        method: str,
        service: str,
        path: str,
        body=None,
        *,
        what: str | None = None,
        query=None,
        microversion: str | None = None,
        data=None,
        content_type: str | None = None,
        extra_headers=None,
    ):
        """Send one request; returns the decoded JSON answer (``None`` if empty)."""
        if self.token is None:
            self.authenticate()
        base = self.auth_url if service == "identity" else self.endpoint(service)
        url = base + path
        if query:
            url += "?" + urlencode(query)
        headers = {"X-Auth-Token": self.token, "Accept": "application/json"}
        if service == "compute" and microversion:
            headers["OpenStack-API-Version"] = f"compute {microversion}"
            headers["X-OpenStack-Nova-API-Version"] = microversion
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = content_type or "application/json"
        elif data is not None:
            headers["Content-Type"] = content_type or "application/octet-stream"
        headers.update(extra_headers or {})
        status, _headers, raw = self.open(method, url, data, headers)
        if status >= 400:
            message = api_error_message(raw)
            reason = _REASONS.get(status, "Error")
            doing = what or f"{method} {path}"
            raise StratusAPIError(
                f"{doing} failed (HTTP {status} {reason}): {message}", status, message
            )
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return raw


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
    """A server from the Compute API's body, plus ``host`` and ``availability_zone``."""
    server = dict(api)
    server["host"] = api.get("OS-EXT-SRV-ATTR:host")
    server["availability_zone"] = api.get("OS-EXT-AZ:availability_zone")
    server["metadata"] = dict(api.get("metadata") or {})
    return server


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
        spec = cloud_argument_spec()
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
        images = self.image_api(
            "GET", "/images", query={"name": ref}, what=f"Looking up {what} {ref!r}"
        )["images"]
        if len(images) > 1:
            ids = ", ".join(sorted(i["id"] for i in images))
            raise StratusError(
                f"There are {len(images)} images named {ref!r} ({ids}): give the id instead."
            )
        if not images:
            if required:
                raise StratusError(f"Unknown {what} {ref!r}: no image has this name or id.")
            return None
        return images[0]

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
        servers = [s for s in servers if s.get("name") == ref]
        if len(servers) > 1:
            ids = ", ".join(sorted(s["id"] for s in servers))
            raise StratusError(
                f"There are {len(servers)} servers named {ref!r} ({ids}): give the id instead."
            )
        if servers:
            return servers[0]
        if is_uuid(ref):
            found = self.get_or_none(
                self.compute,
                "GET",
                f"/servers/{quote_path(ref)}",
                microversion=microversion or self.compute_microversion,
            )
            return found["server"] if found else None
        return None

    def find_server_group(self, ref):
        group = self.get_or_none(
            self.compute, "GET", f"/os-server-groups/{quote_path(ref)}", microversion="2.64"
        )
        if group is not None:
            return group["server_group"]
        groups = self.compute(
            "GET", "/os-server-groups", microversion="2.64", what="Listing server groups"
        )["server_groups"]
        matches = [g for g in groups if g.get("name") == ref]
        if len(matches) > 1:
            raise StratusError(
                f"There are {len(matches)} server groups named {ref!r}: give the id."
            )
        if not matches:
            raise StratusError(f"Unknown server group {ref!r}: no group has this name or id.")
        return matches[0]

    def find_project(self, ref) -> dict:
        project = self.get_or_none(self.identity, "GET", f"/projects/{quote_path(ref)}")
        if project is not None:
            return project["project"]
        projects = self.identity(
            "GET", "/projects", query={"name": ref}, what=f"Looking up project {ref!r}"
        )["projects"]
        if len(projects) > 1:
            raise StratusError(
                f"There are {len(projects)} projects named {ref!r} (in several domains): "
                "give the id."
            )
        if not projects:
            raise StratusError(f"Unknown project {ref!r}: no project has this name or id.")
        return projects[0]

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
