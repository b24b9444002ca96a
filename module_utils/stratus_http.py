# Copyright: Stratus contributors
# Apache License 2.0 (see pyproject.toml at the root of the Stratus repository)
"""The HTTP side of the Stratus Ansible modules: a token-authenticated connection to
one cloud (Identity v3 password or token auth, the service catalog, JSON requests
through Ansible's ``open_url`` with the compute microversion header) and the
OpenStack-shaped error bodies turned into messages a person can act on.

``StratusConnection`` takes the settings ``stratus_config.resolve_config()`` makes.
"""

from __future__ import annotations

import json
import re
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode

from ansible.module_utils.stratus_errors import StratusAPIError, StratusConfigError, StratusError
from ansible.module_utils.urls import ConnectionError as UrlsConnectionError
from ansible.module_utils.urls import SSLValidationError, open_url

USER_AGENT = "stratus-ansible-modules"

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
                if service_type == "network" and not re.search(r"/v2\.0$", url):
                    url += "/v2.0"
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
