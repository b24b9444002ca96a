"""The instance metadata trees, as pure functions of an instance.

The instance is the plain dict the conductor hands to compute hosts
(``stratus.conductor.manager.instance_dict``); the keys read here are ``uuid``,
``display_name``, ``hostname``, ``project_id``, ``availability_zone``,
``metadata`` (the server's metadata), ``key_name`` and ``key_data`` (its key
pair), ``user_data`` (base64, as the API took it), ``launch_index``,
``reservation_id``, ``security_groups``, ``image_ref``, ``flavor`` and
``network_info`` (the VIFs of ``stratus.compute.networks``, each fixed IP with
its ``subnet``); the metadata service adds ``floating_ips`` (the floating
addresses associated with the instance's ports, in port order) and, for the
``password`` document alone, ``password`` (both read from the database, which a
config drive has not: it has neither).

Two trees, as a metadata service serves them and a config drive holds them:

* OpenStack: ``openstack/<version>/`` with ``meta_data.json``, ``user_data``,
  ``vendor_data.json`` (from 2013-10-17), ``network_data.json`` (from
  2015-10-15) and ``vendor_data2.json`` (from 2016-10-06), ``latest`` being the
  newest; the metadata service also serves ``password`` (from 2013-04-04), which
  the guest may post once, and which a config drive does not hold;
* EC2: ``<version>/meta-data/...`` and ``<version>/user-data``; on a config
  drive ``ec2/<version>/meta-data.json`` and ``ec2/<version>/user-data``.

JSON documents are written one key per line (indented), which keeps them easy
to read for a guest without a JSON parser (the tiny test image reads them with
sed).
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping
from typing import Any

import netaddr

# The OpenStack metadata versions, oldest first ("latest" is the newest).
OPENSTACK_VERSIONS = (
    "2012-08-10",
    "2013-04-04",
    "2013-10-17",
    "2015-10-15",
    "2016-06-30",
    "2016-10-06",
    "2017-02-22",
    "2018-08-27",
    "2020-10-14",
)
# The EC2 metadata versions, oldest first.
EC2_VERSIONS = (
    "1.0",
    "2007-01-19",
    "2007-03-01",
    "2007-08-29",
    "2007-10-10",
    "2007-12-15",
    "2008-02-01",
    "2008-09-01",
    "2009-04-04",
)
LATEST = "latest"
# Where each OpenStack document appeared.
KEYS_SINCE = "2013-04-04"  # meta_data.json "keys", "random_seed"
PASSWORD_SINCE = "2013-04-04"
PASSWORD = "password"
VENDOR_DATA_SINCE = "2013-10-17"
PROJECT_ID_SINCE = "2015-10-15"  # meta_data.json "project_id"
NETWORK_DATA_SINCE = "2015-10-15"
DEVICES_SINCE = "2016-06-30"
VENDOR_DATA2_SINCE = "2016-10-06"

DEFAULT_DHCP_DOMAIN = "novalocal"
RANDOM_SEED_BYTES = 512


class InvalidPath(LookupError):
    """A path that names nothing in a metadata tree."""


def _since(version: str, first: str) -> bool:
    return version == LATEST or version >= first


def dump(document: Any) -> str:
    """A JSON document one key per line (sorted), as every tree writes them."""
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def guest_hostname(instance: Mapping[str, Any], dhcp_domain: str = DEFAULT_DHCP_DOMAIN) -> str:
    """The host name a guest is given: the instance's ``hostname`` (a single label
    from microversion 2.90, or a fully qualified name from 2.94), completed with
    ``dhcp_domain`` when it is a single label."""
    name = str(instance.get("hostname") or instance.get("display_name") or instance["uuid"])
    if "." in name or not dhcp_domain:
        return name
    return f"{name}.{dhcp_domain}"


def user_data(instance: Mapping[str, Any]) -> bytes | None:
    """The user data as the guest reads it (decoded), None when there is none."""
    raw = instance.get("user_data")
    if not raw:
        return None
    return base64.b64decode(raw)


def _keys(instance: Mapping[str, Any]) -> list[dict[str, str]]:
    if not instance.get("key_data"):
        return []
    return [
        {
            "name": str(instance.get("key_name") or "key"),
            "type": "ssh",
            "data": str(instance["key_data"]).strip(),
        }
    ]


def meta_data(
    instance: Mapping[str, Any],
    version: str = LATEST,
    *,
    dhcp_domain: str = DEFAULT_DHCP_DOMAIN,
    random_seed: bytes | None = None,
) -> dict[str, Any]:
    """``openstack/<version>/meta_data.json``."""
    document: dict[str, Any] = {
        "uuid": instance["uuid"],
        "meta": dict(instance.get("metadata") or {}),
        "hostname": guest_hostname(instance, dhcp_domain),
        "name": instance.get("display_name") or "",
        "launch_index": int(instance.get("launch_index") or 0),
        "availability_zone": instance.get("availability_zone") or "nova",
    }
    keys = _keys(instance)
    if keys:
        document["public_keys"] = {k["name"]: k["data"] for k in keys}
        if _since(version, KEYS_SINCE):
            document["keys"] = keys
    if _since(version, KEYS_SINCE):
        seed = random_seed if random_seed is not None else os.urandom(RANDOM_SEED_BYTES)
        document["random_seed"] = base64.b64encode(seed).decode()
    if _since(version, PROJECT_ID_SINCE):
        document["project_id"] = instance.get("project_id")
    if _since(version, DEVICES_SINCE):
        document["devices"] = []
    return document


def _netmask(cidr: netaddr.IPNetwork) -> str:
    return str(cidr.netmask)


def _route(destination: str, gateway: str) -> dict[str, str]:
    net = netaddr.IPNetwork(destination)
    return {"network": str(net.network), "netmask": _netmask(net), "gateway": gateway}


def network_data(instance: Mapping[str, Any]) -> dict[str, Any]:
    """``openstack/<version>/network_data.json``: a link per VIF (its tap, MAC and
    MTU), a network per fixed IP (static ``ipv4``/``ipv6`` with address, netmask,
    the default route through the subnet's gateway and the subnet's host routes,
    and its DNS servers) and the DNS servers of every subnet as services."""
    links: list[dict[str, Any]] = []
    networks: list[dict[str, Any]] = []
    services: list[dict[str, str]] = []
    for vif in instance.get("network_info") or []:
        link_id = f"tap{vif['port_id'][:11]}"
        links.append(
            {
                "id": link_id,
                "vif_id": vif["port_id"],
                "type": "bridge",
                "ethernet_mac_address": vif["mac_address"],
                "mtu": vif.get("mtu"),
            }
        )
        for ip in vif.get("fixed_ips") or []:
            subnet = ip.get("subnet")
            if not subnet:
                continue
            cidr = netaddr.IPNetwork(subnet["cidr"])
            routes = []
            if subnet.get("gateway_ip"):
                default = "0.0.0.0/0" if cidr.version == 4 else "::/0"
                routes.append(_route(default, subnet["gateway_ip"]))
            routes += [
                _route(r["destination"], r["nexthop"]) for r in subnet.get("host_routes") or []
            ]
            dns = [
                {"type": "dns", "address": address}
                for address in subnet.get("dns_nameservers") or []
            ]
            networks.append(
                {
                    "id": f"network{len(networks)}",
                    "type": f"ipv{cidr.version}",
                    "link": link_id,
                    "ip_address": ip["ip_address"],
                    "netmask": _netmask(cidr),
                    "routes": routes,
                    "network_id": vif["network_id"],
                    "services": dns,
                }
            )
            services += [s for s in dns if s not in services]
    return {"links": links, "networks": networks, "services": services}


def openstack_files(
    instance: Mapping[str, Any],
    version: str = LATEST,
    *,
    dhcp_domain: str = DEFAULT_DHCP_DOMAIN,
    vendor_data: Mapping[str, Any] | None = None,
    random_seed: bytes | None = None,
) -> dict[str, bytes]:
    """The documents of ``openstack/<version>/`` by file name."""
    if version != LATEST and version not in OPENSTACK_VERSIONS:
        raise InvalidPath(f"openstack/{version}")
    md = meta_data(instance, version, dhcp_domain=dhcp_domain, random_seed=random_seed)
    files = {"meta_data.json": dump(md).encode()}
    data = user_data(instance)
    if data is not None:
        files["user_data"] = data
    if _since(version, VENDOR_DATA_SINCE):
        files["vendor_data.json"] = dump(dict(vendor_data or {})).encode()
    if _since(version, NETWORK_DATA_SINCE):
        files["network_data.json"] = dump(network_data(instance)).encode()
    if _since(version, VENDOR_DATA2_SINCE):
        # The dynamic vendor data of each configured target (none yet).
        files["vendor_data2.json"] = dump({}).encode()
    return files


def _first_address(instance: Mapping[str, Any], version: int) -> str:
    for vif in instance.get("network_info") or []:
        for ip in vif.get("fixed_ips") or []:
            if netaddr.IPAddress(ip["ip_address"]).version == version:
                return str(ip["ip_address"])
    return ""


def public_ipv4(instance: Mapping[str, Any]) -> str:
    """The EC2 ``public-ipv4``: the instance's first floating IPv4 address, "" when
    it has none."""
    for address in instance.get("floating_ips") or []:
        if netaddr.IPAddress(address).version == 4:
            return str(address)
    return ""


def ec2_instance_id(instance: Mapping[str, Any]) -> str:
    """The EC2 id of the instance: ``i-`` and eight hex digits, taken from its uuid."""
    return "i-" + str(instance["uuid"]).replace("-", "")[:8]


def ec2_meta_data(
    instance: Mapping[str, Any], *, dhcp_domain: str = DEFAULT_DHCP_DOMAIN
) -> dict[str, Any]:
    """The EC2 ``meta-data`` tree as nested dicts (leaves are strings)."""
    hostname = guest_hostname(instance, dhcp_domain)
    image = str(instance.get("image_ref") or "")
    document: dict[str, Any] = {
        "ami-id": "ami-" + image.replace("-", "")[:8] if image else "",
        "ami-launch-index": str(int(instance.get("launch_index") or 0)),
        "ami-manifest-path": "FIXME",
        "block-device-mapping": {"ami": "vda", "root": "/dev/vda"},
        "hostname": hostname,
        "instance-action": "none",
        "instance-id": ec2_instance_id(instance),
        "instance-type": str((instance.get("flavor") or {}).get("name") or ""),
        "local-hostname": hostname,
        "local-ipv4": _first_address(instance, 4),
        "placement": {"availability-zone": instance.get("availability_zone") or "nova"},
        "public-hostname": hostname,
        "public-ipv4": public_ipv4(instance),
        "reservation-id": str(instance.get("reservation_id") or ""),
        "security-groups": "\n".join(instance.get("security_groups") or ["default"]),
    }
    keys = _keys(instance)
    if keys:
        document["public-keys"] = {
            str(i): {"_name": k["name"], "openssh-key": k["data"]} for i, k in enumerate(keys)
        }
    return document


def _ec2_json(tree: dict[str, Any]) -> dict[str, Any]:
    """The config drive's ``meta-data.json`` form of the EC2 tree."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if key == "public-keys":
            out[key] = {i: {"openssh-key": v["openssh-key"]} for i, v in value.items()}
        else:
            out[key] = value
    return out


def ec2_path(
    instance: Mapping[str, Any], path: str, *, dhcp_domain: str = DEFAULT_DHCP_DOMAIN
) -> str:
    """What the EC2 metadata service answers for ``path`` under ``<version>/``:
    a listing (one entry per line, ``/`` after a directory; public keys as
    ``<index>=<name>``) or a leaf's value. InvalidPath if it names nothing."""
    parts = [p for p in path.split("/") if p]
    if not parts:
        return "\n".join(["meta-data/", *(["user-data"] if instance.get("user_data") else [])])
    version_root, *rest = parts
    if version_root == "user-data" and not rest:
        data = user_data(instance)
        if data is None:
            raise InvalidPath(path)
        return data.decode(errors="replace")
    if version_root != "meta-data":
        raise InvalidPath(path)
    node: Any = ec2_meta_data(instance, dhcp_domain=dhcp_domain)
    for i, part in enumerate(rest):
        if node is not None and rest[:i] == ["public-keys"] and part not in node:
            # public-keys/<index>=<name> is also accepted for the index.
            part = part.split("=", 1)[0]
        if not isinstance(node, dict) or part not in node or part == "_name":
            raise InvalidPath(path)
        node = node[part]
    if isinstance(node, dict):
        if rest == ["public-keys"]:
            return "\n".join(f"{i}={v['_name']}" for i, v in node.items())
        return "\n".join(
            f"{k}/" if isinstance(v, dict) else k for k, v in node.items() if k != "_name"
        )
    return str(node)


def openstack_path(
    instance: Mapping[str, Any], path: str, *, dhcp_domain: str = DEFAULT_DHCP_DOMAIN
) -> str | bytes:
    """What the OpenStack metadata service answers for ``path`` under
    ``openstack/``: the versions, a version's documents, or one document."""
    parts = [p for p in path.split("/") if p]
    if not parts:
        return "\n".join([*OPENSTACK_VERSIONS, LATEST])
    files = openstack_files(instance, parts[0], dhcp_domain=dhcp_domain)
    if len(parts) == 1:
        return "\n".join(sorted([*files, *([PASSWORD] if has_password(parts[0]) else [])]))
    if is_password_path(path):
        return str(instance.get("password") or "")
    if len(parts) == 2 and parts[1] in files:
        return files[parts[1]]
    raise InvalidPath(path)


def has_password(version: str) -> bool:
    """Whether ``openstack/<version>/`` has the ``password`` document."""
    return version in (*OPENSTACK_VERSIONS, LATEST) and _since(version, PASSWORD_SINCE)


def is_password_path(path: str) -> bool:
    """Whether ``path`` (under ``openstack/``) is a version's ``password``."""
    parts = [p for p in path.split("/") if p]
    return len(parts) == 2 and parts[1] == PASSWORD and has_password(parts[0])


def ec2_versions() -> str:
    """The EC2 service's root listing."""
    return "\n".join([*EC2_VERSIONS, LATEST])


def config_drive_files(
    instance: Mapping[str, Any],
    *,
    dhcp_domain: str = DEFAULT_DHCP_DOMAIN,
    random_seed: bytes | None = None,
) -> dict[str, bytes]:
    """Every file of a config drive by path: both trees, for every version."""
    seed = random_seed if random_seed is not None else os.urandom(RANDOM_SEED_BYTES)
    files: dict[str, bytes] = {}
    for version in (*OPENSTACK_VERSIONS, LATEST):
        docs = openstack_files(instance, version, dhcp_domain=dhcp_domain, random_seed=seed)
        files.update({f"openstack/{version}/{name}": body for name, body in docs.items()})
    ec2 = dump(_ec2_json(ec2_meta_data(instance, dhcp_domain=dhcp_domain))).encode()
    data = user_data(instance)
    for version in ("2009-04-04", LATEST):
        files[f"ec2/{version}/meta-data.json"] = ec2
        if data is not None:
            files[f"ec2/{version}/user-data"] = data
    return files
