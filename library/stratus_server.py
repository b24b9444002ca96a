#!/usr/bin/python
# Copyright: Stratus contributors
# Apache License 2.0 (see pyproject.toml at the root of the Stratus repository)

from __future__ import annotations

DOCUMENTATION = r"""
module: stratus_server
short_description: Create, power-manage or delete a Stratus server
description:
  - Makes a server of a Stratus cloud match its declaration, and waits (O(wait=true))
    until it is built, reaches the power state asked for, or is gone. Power states
    other than V(present) need a built server, so a new server is always waited for
    before its power state is changed.
  - The O(metadata) and O(description) of a server are changed in place; O(state)
    starts, stops, pauses, suspends or reboots it.
  - O(flavor), O(image), O(availability_zone), O(host) and O(key_name) cannot be
    changed in place (resize and rebuild are not available yet). A difference in them
    is reported in the diff and fails the task with a message saying what to do,
    unless O(ignore_immutable=true). O(scheduler_hints), O(server_group) and
    O(networks) are used only when the server is created.
  - A server whose build fails is reported with its fault and left in C(ERROR) for
    inspection, unless O(delete_on_failure=true).
author:
  - Stratus developers (!UNKNOWN)
options:
  name:
    description: Name of the server (or its id, to manage a server by id).
    type: str
    required: true
  flavor:
    description: Flavor (name or id). Required to create a server; cannot change in place.
    type: str
  image:
    description: Image (name or id) to boot. Required to create a server; cannot change in place.
    type: str
  availability_zone:
    description: Availability zone to build the server in. Cannot change in place.
    type: str
  host:
    description:
      - Compute host to build the server on (admin only; sent as
        C(availability_zone) V(<zone>:<host>), bypassing the scheduler's choice).
      - Cannot change in place.
    type: str
  scheduler_hints:
    description: Scheduler hints (C(same_host), C(different_host), C(query), ...), used at creation.
    type: dict
  server_group:
    description: Server group (name or id) to put the server in, at creation (hint C(group)).
    type: str
  key_name:
    description: Key pair to inject. Cannot change in place.
    type: str
  metadata:
    description:
      - Metadata key/value pairs (values are sent as strings). The dict replaces the
        server's metadata; left out, the metadata is not changed.
    type: dict
    aliases: [meta]
  networks:
    description:
      - The server's interfaces, used only when the server is created (sent as the
        Compute API's C(networks)).
      - "V(none) (no interface), V(auto) (the project's one usable network; the API
        answers 400 when the project has none or several), or a list whose entries are
        each C({network: NAME_OR_ID}), C({network: NAME_OR_ID, fixed_ip: ADDRESS}) or
        C({port: NAME_OR_ID}) (an existing port, e.g. made by C(stratus_port))."
      - In check mode a network or port that does not exist yet (declared by an earlier
        task) is warned about, not an error.
    type: raw
    default: none
  description:
    description: Free text describing the server; changed in place.
    type: str
  state:
    description:
      - V(present) makes the server exist (a new one is built and active), whatever its
        power state; V(started), V(stopped), V(paused) and V(suspended) also bring it to
        that state; V(rebooted) reboots it (and always reports a change); V(absent)
        deletes it.
    type: str
    choices: [present, absent, started, stopped, paused, suspended, rebooted]
    default: present
  reboot_type:
    description: Kind of reboot for O(state=rebooted).
    type: str
    choices: [soft, hard]
    default: soft
  ignore_immutable:
    description:
      - Leave a server whose flavor, image, zone, host or key pair differs as it is (with
        a warning) instead of failing.
    type: bool
    default: false
  delete_on_failure:
    description: Delete a server whose build failed (the task still fails, with the fault).
    type: bool
    default: false
attributes:
  check_mode:
    description: Returns the server as it would be, without changing it.
    support: full
  diff_mode:
    description: Returns the server's name, flavor, image, status, metadata... before and after.
    support: full
extends_documentation_fragment:
  - stratus
  - stratus.wait
"""

EXAMPLES = r"""
- name: A server, built and running
  stratus_server:
    cloud: stratus
    name: web-1
    flavor: m1.small
    image: debian-12
    key_name: ops
    metadata:
      role: web

- name: A server on a chosen host, in an anti-affinity group
  stratus_server:
    cloud: stratus
    name: db-1
    flavor: m1.large
    image: debian-12
    host: compute2
    server_group: databases

- name: A server on two networks, one of them with a chosen address
  stratus_server:
    cloud: stratus
    name: app-1
    flavor: m1.small
    image: debian-12
    networks:
      - network: net1
      - network: net2
        fixed_ip: 10.2.0.20

- name: A server on an existing port
  stratus_server:
    cloud: stratus
    name: db-2
    flavor: m1.small
    image: debian-12
    networks:
      - port: db-port

- name: Stop it
  stratus_server:
    cloud: stratus
    name: web-1
    state: stopped

- name: Delete it
  stratus_server:
    cloud: stratus
    name: web-1
    state: absent
"""

RETURN = r"""
server:
  description:
    - The server as the Compute API (microversion 2.100) shows it, plus the short keys
      below; in check mode, as it would be; null when O(state=absent).
  returned: always
  type: dict
  contains:
    id:
      description: Server id (null in check mode for a server not created yet).
      type: str
      sample: 8d5c1f3e-2b4a-4c6d-9e8f-0a1b2c3d4e5f
    name:
      description: Server name.
      type: str
      sample: web-1
    status:
      description: ACTIVE, BUILD, SHUTOFF, PAUSED, SUSPENDED, ERROR, REBOOT or HARD_REBOOT.
      type: str
      sample: ACTIVE
    host:
      description: Compute host the server runs on (visible to admins).
      type: str
      sample: compute1
    availability_zone:
      description: Availability zone of the server.
      type: str
      sample: nova
    flavor:
      description: The flavor the server was built with (C(original_name), C(vcpus), C(ram) ...).
      type: dict
      sample: {"original_name": "m1.small", "vcpus": 1, "ram": 2048, "disk": 20}
    image:
      description: The image the server was built from (C(id)).
      type: dict
      sample: {"id": "6f8e3c7a-9b1d-4e2f-8a3b-1c2d3e4f5a6b"}
    metadata:
      description: Metadata.
      type: dict
      sample: {"role": "web"}
    description:
      description: Description.
      type: str
      sample: front end
    addresses:
      description:
        - The server's addresses by network name, each with C(addr), C(version),
          C(OS-EXT-IPS:type) (V(fixed)) and C(OS-EXT-IPS-MAC:mac_addr). Empty for a
          server without network, or not built yet (O(wait=false)).
      type: dict
      sample: {"net1": [{"addr": "10.0.0.12", "version": 4, "OS-EXT-IPS:type": "fixed",
               "OS-EXT-IPS-MAC:mac_addr": "fa:16:3e:12:34:56"}]}
    fault:
      description: Why the server is in ERROR.
      type: dict
      returned: when the server is in ERROR
      sample: {"code": 500, "message": "No valid host was found."}
differences:
  description: The fields that cannot change in place and differ (before and after).
  returned: when a flavor, image, zone, host or key pair differs
  type: dict
  sample: {"flavor": {"before": "m1.small", "after": "m1.large"}}
"""

from ansible.module_utils.stratus_errors import StratusAPIError, StratusError  # noqa: E402
from ansible.module_utils.stratus_module import (  # noqa: E402
    StratusModule,
    fault_message,
    immutable_message,
    is_uuid,
    normalize_server,
    quote_path,
    string_dict,
)
from ansible.module_utils.stratus_networking import NetworkLookup  # noqa: E402

TARGET_STATUS = {
    "started": "ACTIVE",
    "stopped": "SHUTOFF",
    "paused": "PAUSED",
    "suspended": "SUSPENDED",
    "rebooted": "ACTIVE",
}
#: action name -> (request body key, status it leads to)
ACTIONS = {
    "start": ("os-start", "ACTIVE"),
    "stop": ("os-stop", "SHUTOFF"),
    "pause": ("pause", "PAUSED"),
    "unpause": ("unpause", "ACTIVE"),
    "suspend": ("suspend", "SUSPENDED"),
    "resume": ("resume", "ACTIVE"),
}
TO_ACTIVE = {"ACTIVE": None, "SHUTOFF": "start", "PAUSED": "unpause", "SUSPENDED": "resume"}
FROM_ACTIVE = {"ACTIVE": None, "SHUTOFF": "stop", "PAUSED": "pause", "SUSPENDED": "suspend"}
ADVICE = (
    "Resize and rebuild are not available yet: delete the server (state: absent) and "
    "create it again, or set ignore_immutable: true to leave it as it is."
)


def power_actions(status: str, target) -> list:
    """The actions, in order, that bring a server from ``status`` to ``target``."""
    if target is None or status == target:
        return []
    if status not in TO_ACTIVE:
        raise StratusError(f"A server in status {status} cannot be brought to {target}.")
    actions = []
    if status != "ACTIVE":
        actions.append(TO_ACTIVE[status])
    if target != "ACTIVE":
        actions.append(FROM_ACTIVE[target])
    return actions


def flavor_label(flavor: dict) -> str:
    name = flavor.get("original_name") or flavor.get("name")
    return (
        f"{name} (vcpus {flavor.get('vcpus')}, ram {flavor.get('ram')}, disk {flavor.get('disk')})"
    )


def same_flavor(embedded: dict, flavor: dict) -> bool:
    """Whether a server's embedded flavor (2.47+) is the flavor ``flavor`` (API body)."""
    ephemeral = flavor.get("OS-FLV-EXT-DATA:ephemeral", flavor.get("ephemeral", 0)) or 0
    return (
        embedded.get("original_name") == flavor.get("name")
        and embedded.get("vcpus") == flavor.get("vcpus")
        and embedded.get("ram") == flavor.get("ram")
        and embedded.get("disk") == flavor.get("disk")
        and (embedded.get("ephemeral") or 0) == ephemeral
        and int(embedded.get("swap") or 0) == int(flavor.get("swap") or 0)
    )


def image_id(server: dict):
    image = server.get("image")
    return image.get("id") if isinstance(image, dict) else None


def view(server) -> dict:
    """The part of a server that the diff shows."""
    if not server:
        return {}
    flavor = server.get("flavor") or {}
    return {
        "name": server.get("name"),
        "status": server.get("status"),
        "flavor": flavor.get("original_name") or flavor.get("id"),
        "image": image_id(server),
        "availability_zone": server.get("availability_zone"),
        "host": server.get("host"),
        "key_name": server.get("key_name"),
        "metadata": dict(server.get("metadata") or {}),
        "description": server.get("description"),
    }


def updates(server: dict, params: dict) -> dict:
    """The in-place changes ``params`` asks for: ``{"metadata": ..., "description": ...}``."""
    found = {}
    if params.get("metadata") is not None:
        wanted = string_dict(params["metadata"])
        if wanted != (server.get("metadata") or {}):
            found["metadata"] = wanted
    if params.get("description") is not None and params["description"] != server.get("description"):
        found["description"] = params["description"]
    return found


def differences(server: dict, params: dict, flavor=None, image_matches=True, image_ref=None):
    """What cannot change in place and differs: ``{field: {"before", "after"}}``."""
    found = {}
    embedded = server.get("flavor") or {}
    if flavor is not None and not same_flavor(embedded, flavor):
        before, after = embedded.get("original_name"), flavor.get("name")
        if before == after:
            before, after = flavor_label(embedded), flavor_label(flavor)
        found["flavor"] = {"before": before, "after": after}
    if not image_matches:
        found["image"] = {"before": image_id(server), "after": image_ref}
    for field in ("availability_zone", "host", "key_name"):
        wanted = params.get(field)
        # An empty zone (none was asked for at creation) is not a difference.
        known = server.get(field) or field != "availability_zone"
        if wanted is not None and known and server.get(field) != wanted:
            found[field] = {"before": server.get(field), "after": wanted}
    return found


NETWORK_KEYS = frozenset({"network", "port", "fixed_ip"})


def check_networks(value) -> list | str:
    """The ``networks`` option, checked: ``"none"``, ``"auto"`` or a list of
    entries (dicts of ``network``/``fixed_ip`` or ``port``)."""
    if isinstance(value, str):
        if value in ("none", "auto"):
            return value
        raise StratusError(f"networks must be 'none', 'auto' or a list of entries, not {value!r}.")
    if not isinstance(value, list):
        raise StratusError(f"networks must be 'none', 'auto' or a list, not {value!r}.")
    for index, entry in enumerate(value):
        where = f"networks[{index}]"
        if not isinstance(entry, dict):
            raise StratusError(f"{where} must be a dict (network, fixed_ip or port): {entry!r}.")
        unknown = sorted(set(entry) - NETWORK_KEYS)
        if unknown:
            raise StratusError(
                f"{where} has unknown keys {', '.join(unknown)} (known: fixed_ip, network, port)."
            )
        if bool(entry.get("network")) == bool(entry.get("port")):
            raise StratusError(f"{where} needs exactly one of network and port: {entry!r}.")
        if entry.get("fixed_ip") and not entry.get("network"):
            raise StratusError(f"{where}: fixed_ip goes with network, not port.")
    return value


class ServerModule(NetworkLookup, StratusModule):
    resource = "server"
    compute_microversion = "2.100"
    argument_spec = dict(
        name=dict(type="str", required=True),
        flavor=dict(type="str"),
        image=dict(type="str"),
        availability_zone=dict(type="str"),
        host=dict(type="str"),
        scheduler_hints=dict(type="dict"),
        server_group=dict(type="str"),
        key_name=dict(type="str", no_log=False),
        metadata=dict(type="dict", aliases=["meta"]),
        networks=dict(type="raw", default="none"),
        description=dict(type="str"),
        state=dict(
            type="str",
            choices=["present", "absent", "started", "stopped", "paused", "suspended", "rebooted"],
            default="present",
        ),
        reboot_type=dict(type="str", choices=["soft", "hard"], default="soft"),
        ignore_immutable=dict(type="bool", default=False),
        delete_on_failure=dict(type="bool", default=False),
    )

    # - reading -

    def get(self, server_id: str):
        found = self.get_or_none(self.compute, "GET", f"/servers/{quote_path(server_id)}")
        return normalize_server(found["server"]) if found else None

    def lookup(self):
        server = self.find_server(self.params["name"])
        return normalize_server(server) if server else None

    def image_matches(self, server: dict, ref: str, image: dict) -> bool:
        current = image_id(server)
        if current in (ref, image["id"]):
            return True
        if is_uuid(ref) or not current:
            return False
        used = self.get_or_none(self.image_api, "GET", f"/images/{quote_path(current)}")
        if used is None:
            self.module.warn(
                f"The image {current} of server {server['name']!r} no longer exists; it "
                f"cannot be compared with image {ref!r}."
            )
            return True
        return used.get("name") == ref

    # - waiting -

    def wait_status(self, server: dict, status: str, what: str) -> dict:
        def done(found) -> bool:
            if found is None:
                raise StratusError(f"Server {server['name']!r} disappeared while {what}.")
            if found["status"] == "ERROR" and status != "ERROR":
                raise StratusError(
                    f"Server {found['name']!r} went to ERROR while {what}: "
                    f"{fault_message(found) or 'no fault recorded'}.",
                    server=found,
                )
            return found["status"] == status and not found.get("OS-EXT-STS:task_state")

        return self.wait_for(
            lambda: self.get(server["id"]), done, f"server {server['name']!r} to be {status}"
        )

    def wait_built(self, server: dict) -> dict:
        def done(found) -> bool:
            if found is None:
                raise StratusError(f"Server {server['name']!r} disappeared while being built.")
            return found["status"] != "BUILD" and not found.get("OS-EXT-STS:task_state")

        built = self.wait_for(
            lambda: self.get(server["id"]), done, f"server {server['name']!r} to be built"
        )
        if built["status"] == "ERROR":
            self.build_failed(built)
        return built

    def wait_gone(self, server: dict) -> None:
        self.wait_for(
            lambda: self.get(server["id"]),
            lambda found: found is None or found.get("status") == "DELETED",
            f"server {server['name']!r} to be deleted",
        )

    # - writing -

    def build_failed(self, server: dict, when: str = "failed to build") -> None:
        message = (
            f"Server {server['name']!r} ({server['id']}) {when}: "
            f"{fault_message(server) or 'no fault recorded'}"
        )
        if self.params["delete_on_failure"]:
            if not self.check_mode:
                self.delete(server)
            self.changed = True
            message += "; it was deleted (delete_on_failure: true)."
        else:
            message += (
                "; it is left in ERROR for inspection: delete it (state: absent) or set "
                "delete_on_failure: true."
            )
        raise StratusError(message, server=server)

    def delete(self, server: dict) -> None:
        try:
            self.compute(
                "DELETE",
                f"/servers/{quote_path(server['id'])}",
                what=f"Deleting server {server['name']!r}",
            )
        except StratusAPIError as exc:
            if exc.status != 404:
                raise
        if self.params["wait"]:
            self.wait_gone(server)

    def networks_request(self) -> list | str:
        """The Compute API's ``networks`` for the ``networks`` option: names resolved to
        ids (``uuid`` of a network, ``port`` of a port)."""
        wanted = check_networks(self.params["networks"])
        if isinstance(wanted, str):
            return wanted
        found = []
        for index, entry in enumerate(wanted):
            collection, key = ("networks", "uuid") if entry.get("network") else ("ports", "port")
            ref = entry.get("network") or entry.get("port")
            item = self.find_networking(collection, ref)
            if item is None and not self.check_mode:
                raise StratusError(
                    f"networks[{index}]: unknown {collection[:-1]} {ref!r}: no "
                    f"{collection[:-1]} has this name or id."
                )
            if item is None:
                self.module.warn(
                    f"networks[{index}]: {collection[:-1]} {ref!r} does not exist (yet)."
                )
            request = {key: item["id"] if item else None}
            if entry.get("fixed_ip"):
                request["fixed_ip"] = entry["fixed_ip"]
            found.append(request)
        return found

    def create(self, flavor: dict, image: dict, group, networks) -> dict:
        params = self.params
        body = {
            "name": params["name"],
            "imageRef": image["id"],
            "flavorRef": flavor["id"],
            "networks": networks,
            "metadata": string_dict(params["metadata"]),
        }
        if params["description"] is not None:
            body["description"] = params["description"]
        if params["key_name"]:
            body["key_name"] = params["key_name"]
        if params["host"]:
            body["availability_zone"] = f"{params['availability_zone'] or ''}:{params['host']}"
        elif params["availability_zone"]:
            body["availability_zone"] = params["availability_zone"]
        request = {"server": body}
        hints = dict(params["scheduler_hints"] or {})
        if group is not None:
            hints["group"] = group["id"]
        if hints:
            request["os:scheduler_hints"] = hints
        created = self.compute(
            "POST", "/servers", request, what=f"Creating server {params['name']!r}"
        )["server"]
        server = self.get(created["id"]) or normalize_server(dict(created, name=params["name"]))
        if self.params["wait"] or TARGET_STATUS.get(params["state"]) not in (None, "ACTIVE"):
            server = self.wait_built(server)
        return server

    def action(self, server: dict, name: str, last: bool) -> dict:
        key, status = ACTIONS[name]
        self.compute(
            "POST",
            f"/servers/{quote_path(server['id'])}/action",
            {key: None},
            what=f"Sending {key} to server {server['name']!r}",
        )
        if self.params["wait"] or not last:
            return self.wait_status(server, status, f"running {key}")
        return self.get(server["id"]) or server

    def reboot(self, server: dict) -> dict:
        kind = self.params["reboot_type"].upper()
        self.compute(
            "POST",
            f"/servers/{quote_path(server['id'])}/action",
            {"reboot": {"type": kind}},
            what=f"Rebooting server {server['name']!r} ({kind})",
        )
        if self.params["wait"]:
            return self.wait_status(server, "ACTIVE", "rebooting")
        return self.get(server["id"]) or server

    def run_actions(self, server: dict, actions: list) -> dict:
        """Send ``actions`` in order, each waited for but (with wait=false) the last."""
        for index, name in enumerate(actions):
            server = self.action(server, name, index == len(actions) - 1)
        return server

    def update(self, server: dict, changes: dict) -> None:
        """Set the metadata and description that ``changes`` holds."""
        path = f"/servers/{quote_path(server['id'])}"
        if "metadata" in changes:
            self.compute(
                "PUT",
                f"{path}/metadata",
                {"metadata": changes["metadata"]},
                what=f"Setting the metadata of server {server['name']!r}",
            )
        if "description" in changes:
            self.compute(
                "PUT",
                path,
                {"server": {"description": changes["description"]}},
                what=f"Setting the description of server {server['name']!r}",
            )

    # - the decision -

    def resolve(self):
        """The flavor, image and server group the options name (fails on unknown ones)."""
        params = self.params
        flavor = image = group = None
        if params["flavor"]:
            flavor = self.find_flavor(params["flavor"], required=True)
        if params["image"]:
            image = self.find_image(params["image"], required=True)
        if params["server_group"]:
            group = self.find_server_group(params["server_group"], required=True)
        return flavor, image, group

    def predict_new(self, flavor: dict, image: dict) -> dict:
        params = self.params
        status = TARGET_STATUS.get(params["state"]) or "ACTIVE"
        return {
            "id": None,
            "name": params["name"],
            "status": status if params["wait"] or status != "ACTIVE" else "BUILD",
            "flavor": {
                "original_name": flavor["name"],
                "vcpus": flavor["vcpus"],
                "ram": flavor["ram"],
                "disk": flavor["disk"],
                "ephemeral": flavor.get("OS-FLV-EXT-DATA:ephemeral", 0),
                "swap": int(flavor.get("swap") or 0),
                "extra_specs": dict(flavor.get("extra_specs") or {}),
            },
            "image": {"id": image["id"]},
            "metadata": string_dict(params["metadata"]),
            "description": params["description"],
            "key_name": params["key_name"],
            "availability_zone": params["availability_zone"],
            "host": params["host"],
            "addresses": {},
        }

    def run(self) -> None:
        server = self.lookup()
        if self.params["state"] == "absent":
            self.absent(server)
            return
        check_networks(self.params["networks"])
        flavor, image, group = self.resolve()
        if server is None:
            self.create_new(flavor, image, group)
            return
        server = self.settle(server)
        immutable = self.immutable(server, flavor, image)
        self.reconcile(server, immutable)

    # - the steps -

    def absent(self, server) -> None:
        """state=absent: delete the server (and wait until it is gone)."""
        if server is not None:
            self.changed = True
            if not self.check_mode:
                self.delete(server)
        self.exit(None, view(server), {})

    def create_new(self, flavor, image, group) -> None:
        """No such server: create it, then bring it to the power state asked for."""
        params = self.params
        missing = [o for o in ("flavor", "image") if not params[o]]
        if missing:
            raise StratusError(
                f"Server {params['name']!r} does not exist; creating it needs: "
                f"{', '.join(missing)}."
            )
        networks = self.networks_request()
        after = self.predict_new(flavor, image)
        self.changed = True
        if self.check_mode:
            self.exit(after, {}, view(after))
            return
        server = self.create(flavor, image, group, networks)
        target = TARGET_STATUS.get(params["state"])
        if target not in (None, "ACTIVE"):
            server = self.run_actions(server, power_actions(server["status"], target))
        self.exit(server, {}, view(server))

    def settle(self, server: dict) -> dict:
        """The server once it is built (with wait=true); one in ERROR fails the task
        (and is deleted with delete_on_failure=true)."""
        if server["status"] == "BUILD" and self.params["wait"]:
            server = self.wait_built(server)
        if server["status"] == "ERROR":
            self.build_failed(server, when="is in ERROR")
        return server

    def immutable(self, server: dict, flavor, image) -> dict:
        """What differs and cannot change in place: fails the task, or with
        ignore_immutable=true is only warned about (and returned)."""
        params = self.params
        found = differences(
            server,
            params,
            flavor,
            self.image_matches(server, params["image"], image) if image else True,
            params["image"],
        )
        if not found:
            return found
        if not params["ignore_immutable"]:
            wanted = dict(view(server))
            for field, change in found.items():
                wanted[field] = change["after"]
            raise StratusError(
                immutable_message("Server", server["name"], found, ADVICE),
                server=server,
                differences=found,
                diff={"before": view(server), "after": wanted},
            )
        self.module.warn(
            immutable_message("Server", server["name"], found, "They are left as they are.")
        )
        return found

    def reconcile(self, server: dict, immutable: dict) -> None:
        """Change in place what can be: metadata, description and the power state."""
        state = self.params["state"]
        extra = {"differences": immutable} if immutable else {}
        changes = updates(server, self.params)
        target = TARGET_STATUS.get(state)
        actions = power_actions(server["status"], target)
        after = dict(server, **changes)
        if target:
            after["status"] = target
        if changes or actions or state == "rebooted":
            self.changed = True
        if self.check_mode or not self.changed:
            self.exit(after if self.check_mode else server, view(server), view(after), **extra)
            return
        self.update(server, changes)
        current = self.run_actions(server, actions)
        if state == "rebooted" and not actions:
            current = self.reboot(current)
        final = self.get(server["id"]) or current
        self.exit(final, view(server), view(final), **extra)


def main() -> None:
    ServerModule.execute()


if __name__ == "__main__":
    main()
