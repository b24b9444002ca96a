"""Authorisation rules (oslo.policy). Operators override them in a policy file.

Roles: ``admin``, ``member`` and ``reader``; an admin is also a member and a reader.
Project-scoped rules compare the token's project with the resource's project.
"""

from __future__ import annotations

import functools
from typing import Any

from oslo_policy import policy

from stratus.api.errors import Forbidden
from stratus.conf import CONF

ADMIN = "role:admin"
MEMBER = "role:member and project_id:%(project_id)s"
READER = "role:reader and project_id:%(project_id)s"

BASE_RULES = [
    policy.RuleDefault("admin_api", ADMIN, "Cloud administrators only."),
    policy.RuleDefault(
        "project_member_api",
        f"{ADMIN} or ({MEMBER})",
        "A member of the owning project, or an administrator.",
    ),
    policy.RuleDefault(
        "project_reader_api",
        f"{ADMIN} or ({READER})",
        "A reader of the owning project, or an administrator.",
    ),
    policy.RuleDefault(
        "any_reader_api", "role:reader or role:admin", "Anyone with a role on their project."
    ),
    policy.RuleDefault("service_role", "role:service", "A service user."),
    policy.RuleDefault(
        "token_subject",
        "user_id:%(target.token.user_id)s",
        "The user the token in X-Subject-Token was issued to.",
    ),
]

ADMIN_API = "rule:admin_api"
MEMBER_API = "rule:project_member_api"
READER_API = "rule:project_reader_api"
ANY_READER = "rule:any_reader_api"

# (rule name, check string, description); one entry per guarded operation.
OPERATION_RULES: list[tuple[str, str, str]] = [
    (
        "identity:admin",
        ADMIN_API,
        "Create, list, show and delete projects, users, roles, "
        "role assignments, services and endpoints.",
    ),
    ("identity:list_endpoints", ANY_READER, "List catalog services and endpoints."),
    (
        "identity:list_user_projects",
        f"{ADMIN_API} or user_id:%(target.user.id)s",
        "List the projects a user has a role on (an administrator, or the user).",
    ),
    ("identity:get_project_tags", READER_API, "List or check a project's tags."),
    ("identity:update_project_tags", ADMIN_API, "Set, add or remove a project's tags."),
    (
        "identity:validate_token",
        f"{ADMIN_API} or rule:service_role or rule:token_subject",
        "Validate or check another token (GET/HEAD /v3/auth/tokens with X-Subject-Token).",
    ),
    ("compute:flavors:list", ANY_READER, "List and show flavors."),
    ("compute:flavors:manage", ADMIN_API, "Create, update and delete flavors."),
    ("compute:flavors:extra_specs:show", ANY_READER, "Show flavor extra specs."),
    ("compute:flavors:extra_specs:manage", ADMIN_API, "Change flavor extra specs."),
    ("compute:flavors:access:list", ADMIN_API, "List a private flavor's projects."),
    ("compute:flavors:access:manage", ADMIN_API, "Add or remove a private flavor's projects."),
    ("compute:services:list", ADMIN_API, "List compute services."),
    ("compute:services:manage", ADMIN_API, "Enable, disable, force down or delete services."),
    ("compute:hypervisors", ADMIN_API, "List and show hypervisors and their statistics."),
    ("compute:availability_zones:list", ANY_READER, "List availability zones."),
    ("compute:availability_zones:detail", ADMIN_API, "List availability zones with hosts."),
    ("compute:quotas:show", READER_API, "Show a project's quotas."),
    ("compute:quotas:update", ADMIN_API, "Change or reset a project's quotas."),
    ("compute:limits", ANY_READER, "Show the caller's absolute limits."),
    # Networking (Neutron's rules): the target of a network, subnet or port rule is
    # the resource's attributes (``project_id`` is its owner; ``network_project_id``
    # the owner of its network; ``shared`` and ``external`` as strings).
    ("network:create", MEMBER_API, "Create a network, subnet or port in a project."),
    (
        "network:get",
        f"{READER_API} or 'True':%(shared)s or 'True':%(external)s",
        "Show a network (or a subnet of it): the owner's readers, and everyone for "
        "shared and external networks.",
    ),
    (
        "network:get_port",
        f"{READER_API} or (role:reader and project_id:%(network_project_id)s)",
        "Show a port: its project's readers and the readers of its network's project.",
    ),
    ("network:update", MEMBER_API, "Update a network, subnet or port of a project."),
    ("network:delete", MEMBER_API, "Delete a network, subnet or port of a project."),
    (
        "network:create_port_on_network",
        f"{MEMBER_API} or 'True':%(shared)s or 'True':%(external)s",
        "Create a port on a network: the network's members, or anyone for shared ones.",
    ),
    (
        "network:subnet_on_network",
        MEMBER_API,
        "Create or change a subnet on a network (the network's project's members).",
    ),
    (
        "network:provider",
        ADMIN_API,
        "See or set provider:network_type, provider:physical_network, provider:segmentation_id.",
    ),
    ("network:shared", ADMIN_API, "Set a network's shared and router:external attributes."),
    (
        "network:port_binding",
        ADMIN_API,
        "See or set a port's binding:host_id, binding:vif_type, binding:vif_details, "
        "binding:profile.",
    ),
    (
        "network:port_device_owner",
        f"{ADMIN_API} or project_id:%(network_project_id)s",
        "Give a port a network:* device_owner (the network's project, or an admin).",
    ),
    ("network:quotas:show", READER_API, "Show a project's network quotas."),
    ("network:quotas:update", ADMIN_API, "Change or reset a project's network quotas."),
    ("network:quotas:list", ADMIN_API, "List the projects' non-default network quotas."),
    ("network:ip_availability", ADMIN_API, "List and show network IP availabilities."),
    ("network:extensions", ANY_READER, "List and show the Networking API extensions."),
    ("network:get_security_group", READER_API, "List and show a project's security groups."),
    ("network:create_security_group", MEMBER_API, "Create a security group in a project."),
    ("network:update_security_group", MEMBER_API, "Rename or describe a security group."),
    ("network:delete_security_group", MEMBER_API, "Delete a security group."),
    (
        "network:get_security_group_rule",
        READER_API,
        "List and show the rules of a project's security groups.",
    ),
    ("network:create_security_group_rule", MEMBER_API, "Add a rule to a security group."),
    ("network:delete_security_group_rule", MEMBER_API, "Delete a security group rule."),
    ("network:get_router", READER_API, "List and show a project's routers."),
    ("network:create_router", MEMBER_API, "Create a router in a project."),
    ("network:update_router", MEMBER_API, "Change a router (name, gateway, routes)."),
    ("network:delete_router", MEMBER_API, "Delete a router."),
    (
        "network:router_interface",
        MEMBER_API,
        "Add or remove a router's interface (add_router_interface, remove_router_interface).",
    ),
    (
        "network:router_gateway_details",
        ADMIN_API,
        "Set a router gateway's enable_snat or external_fixed_ips.",
    ),
    ("network:get_floatingip", READER_API, "List and show a project's floating IPs."),
    ("network:create_floatingip", MEMBER_API, "Allocate a floating IP in a project."),
    (
        "network:floatingip_address",
        ADMIN_API,
        "Choose a floating IP's address (floating_ip_address) on create.",
    ),
    ("network:update_floatingip", MEMBER_API, "Associate, move or disassociate a floating IP."),
    ("network:delete_floatingip", MEMBER_API, "Release a floating IP."),
    ("network:get_port_forwarding", READER_API, "List and show a floating IP's port forwardings."),
    (
        "network:manage_port_forwarding",
        MEMBER_API,
        "Create, change or delete a floating IP's port forwardings.",
    ),
    ("compute:quota_classes:show", ADMIN_API, "Show a quota class's limits."),
    ("compute:quota_classes:update", ADMIN_API, "Change a quota class's limits."),
    ("compute:usage:list", ADMIN_API, "List every project's usage (os-simple-tenant-usage)."),
    ("compute:usage:show", READER_API, "Show a project's usage (os-simple-tenant-usage)."),
    ("compute:images", ANY_READER, "List and show images through the compute images proxy."),
]

_extra_rules: list[policy.RuleDefault] = []


def register(name: str, check: str, description: str) -> None:
    """Let another API module add its rules (images, servers, scheduler resources)."""
    _extra_rules.append(policy.RuleDefault(name, check, description))
    enforcer.cache_clear()


def list_rules() -> list[policy.RuleDefault]:
    """Entry point for ``oslopolicy-sample-generator`` (namespace ``stratus``)."""
    from stratus.api import app  # importing every API module registers its rules

    app.extra_routers()
    return BASE_RULES + [policy.RuleDefault(*rule) for rule in OPERATION_RULES] + _extra_rules


@functools.cache
def enforcer() -> policy.Enforcer:
    enforcer = policy.Enforcer(CONF)
    enforcer.register_defaults(list_rules())
    return enforcer


def authorize(rule: str, context: Any, target: dict[str, Any] | None = None) -> None:
    """Raise 403 unless ``context`` may perform ``rule`` on ``target``."""
    target = target if target is not None else {"project_id": context.project_id}
    if not enforcer().enforce(rule, target, context.credentials()):
        raise Forbidden(f"Policy doesn't allow {rule} to be performed.")
