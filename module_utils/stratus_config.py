# Copyright: Stratus contributors
# Apache License 2.0 (see pyproject.toml at the root of the Stratus repository)
"""Where a Stratus module's credentials and connection settings come from.

The options every Stratus module takes for that (``connection_argument_spec()``,
documented once in the ``stratus`` doc fragment), and ``resolve_config()``, which
turns them, ``clouds.yaml`` and the environment into the settings
``stratus_http.StratusConnection`` needs. It needs nothing but the Python standard
library and Ansible's own ``module_utils`` (PyYAML, which Ansible requires, only to
read ``clouds.yaml``): no openstacksdk, no keystoneauth.

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

import os
import traceback

from ansible.module_utils.basic import env_fallback, missing_required_lib
from ansible.module_utils.stratus_errors import StratusConfigError

try:
    import yaml
except ImportError:  # pragma: no cover - Ansible itself requires PyYAML
    yaml = None
    YAML_IMPORT_ERROR = traceback.format_exc()
else:
    YAML_IMPORT_ERROR = None

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

#: Password-auth keys understood in ``auth``, ``clouds.yaml`` and the environment,
#: and the environment variables that give each (the first one set wins).
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
AUTH_KEYS = tuple(AUTH_ENV)
#: Keys of ``auth`` whose values are kept out of logs.
SECRET_AUTH_KEYS = ("password", "token")


def connection_argument_spec() -> dict:
    """The options every Stratus module takes to reach its cloud (documented by the
    ``stratus`` doc fragment)."""
    return dict(
        cloud=dict(type="str", fallback=(env_fallback, ["OS_CLOUD"])),
        auth=dict(
            type="dict",
            no_log=False,
            options={
                key: dict(type="str", no_log=True) if key in SECRET_AUTH_KEYS else dict(type="str")
                for key in AUTH_KEYS
            },
        ),
        region_name=dict(type="str"),
        interface=dict(
            type="str", choices=["public", "internal", "admin"], aliases=["endpoint_type"]
        ),
        validate_certs=dict(type="bool", aliases=["verify"]),
        ca_cert=dict(type="path", aliases=["cacert"]),
        api_timeout=dict(type="int"),
    )


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
