"""The Networking API extensions Stratus implements, as ``GET /extensions`` lists
them: exactly these, so that clients do not expect more."""

from __future__ import annotations

from typing import Any

_UPDATED = "2026-12-07T00:00:00-00:00"

_ALL = (
    ("provider", "Provider Network", "Networks' segments: type, physical network, id."),
    ("external-net", "External Network", "The router:external attribute of networks."),
    ("binding", "Port Binding", "Ports' binding:host_id, vif type and details, vnic type."),
    ("quotas", "Quotas", "Network, subnet, port, security group, router, floating IP quotas."),
    ("quota_details", "Quota Details", "Quota limits with their usage per project."),
    ("network-ip-availability", "Network IP Availability", "Used and total addresses."),
    ("net-mtu", "Network MTU", "The mtu attribute of networks."),
    ("net-mtu-writable", "Writable Network MTU", "Networks' mtu can be set and changed."),
    ("network_availability_zone", "Network Availability Zone", "Networks' zones and hints."),
    ("port-security", "Port Security", "The port_security_enabled attribute."),
    ("security-group", "Security Group", "Security groups and their rules; ports' groups."),
    ("allowed-address-pairs", "Allowed Address Pairs", "More addresses a port may send from."),
    ("router", "Neutron L3 Router", "Routers, their interfaces and gateways; floating IPs."),
    ("ext-gw-mode", "Neutron L3 Configurable external gateway mode", "enable_snat of gateways."),
    ("extraroute", "Neutron Extra Route", "Static routes of routers."),
    ("fip-port-details", "Floating IP Port Details", "Floating IPs show their port's details."),
    (
        "floating-ip-port-forwarding",
        "Floating IP Port Forwarding",
        "Forward ports of a floating IP to fixed addresses and ports.",
    ),
    ("project-id", "Project ID", "Resources carry project_id beside tenant_id."),
    ("standard-attr-description", "Descriptions", "Resources carry a description."),
    ("standard-attr-revisions", "Revision Numbers", "Resources carry a revision_number."),
    ("standard-attr-timestamp", "Timestamps", "Resources carry created_at and updated_at."),
    ("standard-attr-tag", "Tags", "Networks, subnets, ports, routers, floating IPs: tags."),
    ("pagination", "Pagination", "Lists page with limit and marker."),
    ("sorting", "Sorting", "Lists sort with sort_key and sort_dir."),
    ("filter-validation", "Filter Validation", "Unknown list filters are refused."),
)

EXTENSIONS: list[dict[str, Any]] = [
    {"alias": alias, "name": name, "description": description, "updated": _UPDATED, "links": []}
    for alias, name, description in _ALL
]
