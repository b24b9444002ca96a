"""[network] options of the Networking API: segments, MTU, DHCP and quotas."""

from oslo_config import cfg

GROUP = "network"

OPTS = [
    cfg.ListOpt(
        "tenant_network_types",
        default=["vxlan"],
        help="Network types given, in order, to networks created without provider "
        "attributes (flat, vlan or vxlan).",
    ),
    cfg.ListOpt(
        "vni_ranges",
        default=["1:65535"],
        help="VXLAN network identifiers (VNIs) given to tenant vxlan networks, as "
        "<min>:<max> ranges (1 to 16777215).",
    ),
    cfg.ListOpt(
        "flat_networks",
        default=["*"],
        help="Physical networks on which flat networks may be created; `*` allows "
        "any physical network named in physical_network_mappings.",
    ),
    cfg.ListOpt(
        "network_vlan_ranges",
        default=[],
        help="Physical networks that carry vlan networks, each as <physnet> or "
        "<physnet>:<min>:<max> (vlan ids 1 to 4094; the range is what tenant vlan "
        "networks get).",
    ),
    cfg.ListOpt(
        "physical_network_mappings",
        default=[],
        help="Physical networks known to the cloud, as <physnet>:<interface> (the "
        "interface is the host's; the API uses the names to validate requests).",
    ),
    cfg.IntOpt(
        "global_physnet_mtu",
        default=1500,
        min=68,
        help="MTU of the physical networks; vxlan networks get 50 bytes less.",
    ),
    cfg.StrOpt(
        "default_availability_zone",
        default="nova",
        help="Availability zone that networks report.",
    ),
    cfg.StrOpt(
        "base_mac",
        default="fa:16:3e:00:00:00",
        help="Ports' generated MAC addresses start with the first three octets of this.",
    ),
    cfg.IntOpt(
        "ip_allocation_retries",
        default=30,
        min=1,
        help="Times an address allocation is retried when another request took the "
        "address (or held the database) first.",
    ),
    cfg.IntOpt("quota_network", default=100, min=-1, help="Networks per project."),
    cfg.IntOpt("quota_subnet", default=100, min=-1, help="Subnets per project."),
    cfg.IntOpt("quota_port", default=500, min=-1, help="Ports per project."),
    cfg.IntOpt("quota_security_group", default=10, min=-1, help="Security groups per project."),
    cfg.IntOpt(
        "quota_security_group_rule",
        default=100,
        min=-1,
        help="Security group rules per project.",
    ),
    cfg.IntOpt("quota_router", default=10, min=-1, help="Routers per project."),
    cfg.IntOpt("quota_floatingip", default=50, min=-1, help="Floating IPs per project."),
    cfg.IntOpt(
        "max_allowed_address_pair",
        default=10,
        min=0,
        help="Allowed address pairs a port may carry.",
    ),
]
