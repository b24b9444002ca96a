#!/usr/bin/python
# Copyright: Stratus contributors
# Apache License 2.0 (see pyproject.toml at the root of the Stratus repository)

from __future__ import annotations

DOCUMENTATION = r"""
module: stratus_flavor
short_description: Create, update, recreate or delete a Stratus flavor
description:
  - Makes a flavor of a Stratus cloud match its declaration.
  - The O(description), the O(extra_specs) and the access list of a private flavor
    (O(projects)) are changed in place.
  - O(vcpus), O(ram), O(disk), O(ephemeral), O(swap), O(is_public), and the O(name) of a
    flavor found by O(id), cannot be changed in place. A difference in any of them fails
    the task with a message that lists them, unless O(recreate=true), which deletes the
    flavor and creates it again with the same id.
  - Options that are left out are never compared or changed.
author:
  - Stratus developers (!UNKNOWN)
options:
  name:
    description:
      - Name of the flavor. Required to create one.
      - The flavor is looked up by O(id) when it is given, else by name.
    type: str
  id:
    description:
      - ID of the flavor. Without it, a new flavor gets a generated UUID.
    type: str
  vcpus:
    description: Number of virtual CPUs. Required to create a flavor; cannot change in place.
    type: int
  ram:
    description: Memory in MiB. Required to create a flavor; cannot change in place.
    type: int
  disk:
    description: Root disk size in GiB (0 for the image's size). Cannot change in place.
    type: int
  ephemeral:
    description: Ephemeral disk size in GiB. Cannot change in place.
    type: int
  swap:
    description: Swap disk size in MiB. Cannot change in place.
    type: int
  is_public:
    description:
      - Whether every project may use the flavor. New flavors are public unless this
        is V(false). Cannot change in place.
    type: bool
  description:
    description: Free text describing the flavor; changed in place.
    type: str
  extra_specs:
    description:
      - Extra specs (key/value pairs read by the scheduler and the compute nodes).
      - Values are sent as strings (booleans as V(true)/V(false)).
    type: dict
  extra_specs_mode:
    description:
      - V(replace) makes O(extra_specs) the flavor's whole set (other keys are removed);
        V(merge) only adds and changes the keys given.
    type: str
    choices: [replace, merge]
    default: replace
  projects:
    description:
      - Projects (names or ids) that may use a private flavor (O(is_public=false)). The
        list replaces the flavor's access list.
    type: list
    elements: str
  recreate:
    description:
      - Delete and recreate the flavor, keeping its id, when a field that cannot change
        in place differs. Servers keep the copy of the flavor they were built with.
    type: bool
    default: false
  state:
    description: Whether the flavor should exist.
    type: str
    choices: [present, absent]
    default: present
attributes:
  check_mode:
    description: Returns the flavor as it would be, without changing it.
    support: full
  diff_mode:
    description: Returns the flavor before and after.
    support: full
notes:
  - Creating and changing flavors is an admin operation.
extends_documentation_fragment:
  - stratus
  - stratus.wait
"""

EXAMPLES = r"""
- name: A public flavor
  stratus_flavor:
    cloud: stratus
    name: m1.small
    vcpus: 1
    ram: 2048
    disk: 20
    extra_specs:
      hw:cpu_policy: shared

- name: A private flavor for two projects, with a fixed id
  stratus_flavor:
    cloud: stratus
    name: m1.db
    id: "42"
    vcpus: 4
    ram: 8192
    disk: 80
    is_public: false
    projects: [databases, analytics]

- name: Grow a flavor (deletes and recreates it under the same id)
  stratus_flavor:
    cloud: stratus
    name: m1.small
    vcpus: 2
    ram: 4096
    disk: 20
    recreate: true

- name: Remove a flavor
  stratus_flavor:
    cloud: stratus
    name: m1.old
    state: absent
"""

RETURN = r"""
flavor:
  description:
    - The flavor as it is now (in check mode, as it would be); null when O(state=absent).
    - The id of a flavor that check mode would create is null unless O(id) is given.
  returned: always
  type: dict
  contains:
    id:
      description: Flavor id.
      type: str
      sample: "1"
    name:
      description: Flavor name.
      type: str
      sample: m1.small
    vcpus:
      description: Virtual CPUs.
      type: int
      sample: 1
    ram:
      description: Memory in MiB.
      type: int
      sample: 2048
    disk:
      description: Root disk in GiB.
      type: int
      sample: 20
    ephemeral:
      description: Ephemeral disk in GiB.
      type: int
      sample: 0
    swap:
      description: Swap in MiB.
      type: int
      sample: 0
    is_public:
      description: Whether every project may use it.
      type: bool
      sample: true
    is_disabled:
      description: Whether the flavor is disabled.
      type: bool
      sample: false
    rxtx_factor:
      description: Network bandwidth factor.
      type: float
      sample: 1.0
    description:
      description: Free text.
      type: str
      sample: General purpose
    extra_specs:
      description: Extra specs.
      type: dict
      sample: {"hw:cpu_policy": "shared"}
    projects:
      description: Ids of the projects that may use a private flavor (empty when public).
      type: list
      elements: str
      sample: ["4f1c7a3b1d2e4d8f9a0b1c2d3e4f5a6b"]
recreated:
  description: Whether the flavor was (or in check mode would be) deleted and recreated.
  returned: always
  type: bool
  sample: false
differences:
  description: The fields that cannot change in place and differ (before and after).
  returned: failure
  type: dict
  sample: {"ram": {"before": 2048, "after": 4096}}
"""

from ansible.module_utils.stratus_errors import StratusError  # noqa: E402
from ansible.module_utils.stratus_module import (  # noqa: E402
    StratusModule,
    immutable_message,
    normalize_flavor,
    quote_path,
    string_dict,
)

#: Fields a flavor cannot change without being deleted and created again.
IMMUTABLE = ("vcpus", "ram", "disk", "ephemeral", "swap", "is_public")
ADVICE = (
    "Set recreate: true to delete the flavor and create it again with the same id "
    "(running servers keep their copy of the old flavor), or declare a flavor with "
    "another name."
)


def differences(current: dict, params: dict) -> dict:
    """The fields that cannot change in place and that ``params`` asks to change."""
    found = {}
    for field in IMMUTABLE:
        wanted = params.get(field)
        if wanted is not None and current[field] != wanted:
            found[field] = {"before": current[field], "after": wanted}
    if params.get("id") is not None and current["id"] != params["id"]:
        found["id"] = {"before": current["id"], "after": params["id"]}
    if params.get("name") is not None and current["name"] != params["name"]:
        found["name"] = {"before": current["name"], "after": params["name"]}
    return found


def predict(current, params: dict, project_ids) -> dict:
    """The flavor as ``params`` would leave it (created, updated or recreated)."""
    if current is None:
        after = normalize_flavor({"id": params.get("id")})
        after.update(disk=0, ephemeral=0, swap=0, is_public=True)
    else:
        after = dict(current, extra_specs=dict(current["extra_specs"]))
    for field in (*IMMUTABLE, "name", "id", "description"):
        if params.get(field) is not None:
            after[field] = params[field]
    wanted = params.get("extra_specs")
    if wanted is not None:
        wanted = string_dict(wanted)
        if params.get("extra_specs_mode") == "merge":
            after["extra_specs"] = {**after["extra_specs"], **wanted}
        else:
            after["extra_specs"] = wanted
    if project_ids is not None:
        after["projects"] = sorted(set(project_ids))
    if after["is_public"]:
        after["projects"] = []
    return after


def spec_changes(before: dict, after: dict) -> tuple:
    """``(to_set, to_delete)`` turning the extra specs ``before`` into ``after``."""
    to_set = {k: v for k, v in after.items() if before.get(k) != v}
    to_delete = sorted(set(before) - set(after))
    return to_set, to_delete


class FlavorModule(StratusModule):
    resource = "flavor"
    compute_microversion = "2.61"
    argument_spec = dict(
        name=dict(type="str"),
        id=dict(type="str"),
        vcpus=dict(type="int"),
        ram=dict(type="int"),
        disk=dict(type="int"),
        ephemeral=dict(type="int"),
        swap=dict(type="int"),
        is_public=dict(type="bool"),
        description=dict(type="str"),
        extra_specs=dict(type="dict"),
        extra_specs_mode=dict(type="str", choices=["replace", "merge"], default="replace"),
        projects=dict(type="list", elements="str"),
        recreate=dict(type="bool", default=False),
        state=dict(type="str", choices=["present", "absent"], default="present"),
    )
    module_kwargs = dict(required_one_of=[("name", "id")])

    # - reading -

    def lookup(self):
        params = self.params
        if params["id"] is not None:
            found = self.get_or_none(self.compute, "GET", f"/flavors/{quote_path(params['id'])}")
            if found is not None:
                return found["flavor"]
        if params["name"] is None:
            return None
        flavors = self.compute_list(
            "/flavors/detail", "flavors", {"is_public": "None"}, what="Listing flavors"
        )
        matches = [f for f in flavors if f.get("name") == params["name"]]
        return matches[0] if matches else None

    def read(self, api: dict) -> dict:
        projects = None
        if not api.get("os-flavor-access:is_public", True):
            access = self.compute(
                "GET",
                f"/flavors/{quote_path(api['id'])}/os-flavor-access",
                what=f"Reading the access list of flavor {api['name']!r}",
            )["flavor_access"]
            projects = [a["tenant_id"] for a in access]
        return normalize_flavor(api, projects)

    def reread(self, flavor_id: str) -> dict:
        api = self.compute(
            "GET", f"/flavors/{quote_path(flavor_id)}", what=f"Reading flavor {flavor_id!r}"
        )["flavor"]
        return self.read(api)

    # - writing -

    def set_extras(self, flavor: dict, before: dict, after: dict) -> None:
        path = f"/flavors/{quote_path(flavor['id'])}"
        label = f"flavor {after['name']!r}"
        if (after.get("description") or None) != (before.get("description") or None):
            self.compute(
                "PUT",
                path,
                {"flavor": {"description": after["description"]}},
                what=f"Updating the description of {label}",
            )
        to_set, to_delete = spec_changes(before["extra_specs"], after["extra_specs"])
        if to_set:
            self.compute(
                "POST",
                f"{path}/os-extra_specs",
                {"extra_specs": to_set},
                what=f"Setting extra specs {', '.join(sorted(to_set))} of {label}",
            )
        for key in to_delete:
            self.compute(
                "DELETE",
                f"{path}/os-extra_specs/{quote_path(key)}",
                what=f"Removing extra spec {key!r} of {label}",
            )
        if not after["is_public"]:
            for project in sorted(set(after["projects"]) - set(before["projects"])):
                self.compute(
                    "POST",
                    f"{path}/action",
                    {"addTenantAccess": {"tenant": project}},
                    what=f"Giving project {project} access to {label}",
                )
            for project in sorted(set(before["projects"]) - set(after["projects"])):
                self.compute(
                    "POST",
                    f"{path}/action",
                    {"removeTenantAccess": {"tenant": project}},
                    what=f"Removing the access of project {project} to {label}",
                )

    def create(self, after: dict) -> dict:
        body = {
            "name": after["name"],
            "id": after["id"],
            "vcpus": after["vcpus"],
            "ram": after["ram"],
            "disk": after["disk"],
            "OS-FLV-EXT-DATA:ephemeral": after["ephemeral"],
            "swap": after["swap"],
            "os-flavor-access:is_public": after["is_public"],
        }
        if after.get("description") is not None:
            body["description"] = after["description"]
        created = self.compute(
            "POST", "/flavors", {"flavor": body}, what=f"Creating flavor {after['name']!r}"
        )["flavor"]
        empty = normalize_flavor(created)
        empty.update(extra_specs={}, projects=[], description=after.get("description"))
        try:
            self.set_extras(created, empty, after)
        except StratusError as exc:
            # Nothing half-made stays behind: remove the flavor just created.
            self.compute("DELETE", f"/flavors/{quote_path(created['id'])}")
            raise StratusError(f"{exc.message} (the new flavor was deleted again)") from None
        return self.reread(created["id"])

    def delete(self, flavor: dict) -> None:
        self.compute(
            "DELETE",
            f"/flavors/{quote_path(flavor['id'])}",
            what=f"Deleting flavor {flavor['name']!r}",
        )

    # - the decision -

    def run(self) -> None:
        params = self.params
        current_api = self.lookup()
        before = self.read(current_api) if current_api is not None else None

        if params["state"] == "absent":
            if before is not None:
                self.changed = True
                if not self.check_mode:
                    self.delete(before)
            self.exit(None, before or {}, {}, recreated=False)
            return

        project_ids = None
        if params["projects"] is not None:
            project_ids = [self.find_project(ref)["id"] for ref in params["projects"]]
        if before is None:
            missing = [f for f in ("name", "ram", "vcpus") if params[f] is None]
            if missing:
                raise StratusError(
                    f"Flavor {params['name'] or params['id']!r} does not exist; creating it "
                    f"needs: {', '.join(missing)}."
                )
        after = predict(before, params, project_ids)
        if params["projects"] and after["is_public"]:
            raise StratusError(
                f"Flavor {after['name']!r}: 'projects' is the access list of a private "
                "flavor; set is_public: false."
            )
        if before is None:
            self.changed = True
            flavor = after if self.check_mode else self.create(after)
            self.exit(flavor, {}, after, recreated=False)
            return

        immutable = differences(before, params)
        if immutable and not params["recreate"]:
            raise StratusError(
                immutable_message("Flavor", before["name"], immutable, ADVICE),
                flavor=before,
                differences=immutable,
                diff={"before": before, "after": after},
            )
        if immutable:
            self.changed = True
            flavor = after
            if not self.check_mode:
                self.delete(before)
                flavor = self.create(dict(after, id=after["id"]))
            self.exit(flavor, before, after, recreated=True)
            return
        if after != before:
            self.changed = True
            if not self.check_mode:
                self.set_extras(before, before, after)
        flavor = self.reread(before["id"]) if self.changed and not self.check_mode else after
        self.exit(flavor, before, after, recreated=False)


def main() -> None:
    FlavorModule.execute()


if __name__ == "__main__":
    main()
