"""[network] options of the host data plane: the network agent on compute and
network hosts (bridges, VXLAN devices, DHCP namespaces with dnsmasq)."""

from oslo_config import cfg

GROUP = "network"

OPTS = [
    cfg.ListOpt(
        "physical_interface_mappings",
        default=[],
        help="Physical networks of this host and the interface each one is on, as "
        "'<physical_network>:<interface>' (for example 'physnet1:eth1'). A flat "
        "network's bridge enslaves the interface; a vlan network uses a VLAN "
        "sub-interface of it.",
    ),
    cfg.HostAddressOpt(
        "local_ip",
        help="This host's VXLAN tunnel endpoint (VTEP) address. Unset means the host "
        "takes no part in vxlan networks.",
    ),
    cfg.StrOpt(
        "vxlan_dev",
        default="",
        help="Interface the VXLAN devices send on; empty lets the kernel route by the "
        "remote endpoint's address.",
    ),
    cfg.PortOpt(
        "vxlan_udp_port",
        default=4789,
        help="UDP port of VXLAN traffic between the hosts (the IANA port).",
    ),
    cfg.StrOpt(
        "state_path",
        help="Directory of the data plane's state: per network, dnsmasq's pid file, "
        "hostsfile and options file, and the host's data-plane lock. Unset: "
        "'network' under [DEFAULT] state_path.",
    ),
    cfg.StrOpt(
        "dnsmasq_binary",
        default="dnsmasq",
        help="The dnsmasq executable that serves DHCP inside each network's namespace.",
    ),
    cfg.ListOpt(
        "dns_servers",
        default=[],
        help="DNS servers handed to guests by DHCP for subnets that name none of their own.",
    ),
    cfg.BoolOpt(
        "dhcp_agent",
        default=False,
        help="Whether this host's stratus-network-agent serves DHCP: it then runs a "
        "DHCP namespace with dnsmasq for every network with a DHCP-enabled subnet "
        "(true on network hosts; in the all-in-one, the controller).",
    ),
    cfg.FloatOpt(
        "agent_resync_interval",
        default=60.0,
        min=1.0,
        help="Seconds between the network agent's full resyncs of its desired state "
        "(besides the ones that network changes trigger).",
    ),
    cfg.IntOpt(
        "dhcp_lease_duration",
        default=86400,
        min=120,
        help="DHCP lease time in seconds.",
    ),
]
