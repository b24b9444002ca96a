"""dnsmasq's command line, hostsfile and options file rendered from a desired state."""

from __future__ import annotations

from typing import Any

from stratus.network.linux import dhcp

FILES = dhcp.DnsmasqFiles("/var/lib/stratus/network/dhcp/net-1")


def _network(**extra: Any) -> dict[str, Any]:
    network: dict[str, Any] = {
        "id": "net-1",
        "mtu": 1450,
        "network_type": "vxlan",
        "segmentation_id": 1001,
        "dhcp": True,
        "subnets": [
            {
                "id": "sub-4",
                "cidr": "10.0.0.0/24",
                "ip_version": 4,
                "gateway_ip": "10.0.0.1",
                "dns_nameservers": ["192.0.2.53", "192.0.2.54"],
                "host_routes": [],
                "enable_dhcp": True,
                "ipv6_address_mode": None,
                "ipv6_ra_mode": None,
            }
        ],
        "ports": [
            {
                "id": "port-dhcp",
                "mac_address": "FA:16:3E:00:00:02",
                "fixed_ips": [{"subnet_id": "sub-4", "ip_address": "10.0.0.2"}],
                "device_owner": "network:dhcp",
                "host": "net-host",
            },
            {
                "id": "port-vm",
                "mac_address": "FA:16:3E:00:00:0A",
                "fixed_ips": [{"subnet_id": "sub-4", "ip_address": "10.0.0.10"}],
                "device_owner": "compute:nova",
                "host": "compute-1",
            },
        ],
        "remote_vteps": [],
    }
    network.update(extra)
    return network


def test_hostsfile_has_exactly_the_ports_addresses_by_mac() -> None:
    assert dhcp.hosts_file(_network()) == "fa:16:3e:00:00:0a,host-10-0-0-10,10.0.0.10\n"


def test_static_range_only_no_dynamic_pool() -> None:
    argv = dhcp.command(_network(), FILES, "ns-port-dhcp", lease=600)
    ranges = [a for a in argv if a.startswith("--dhcp-range=")]
    assert ranges == ["--dhcp-range=set:subnet-sub-4,10.0.0.0,static,255.255.255.0,600s"]
    assert f"--dhcp-hostsfile={FILES.hosts}" in argv
    assert f"--dhcp-optsfile={FILES.opts}" in argv
    assert f"--pid-file={FILES.pid}" in argv
    assert "--interface=ns-port-dhcp" in argv
    assert "--port=0" in argv  # DHCP only, no DNS server
    assert "--enable-ra" not in argv


def test_options_gateway_dns_and_classless_routes() -> None:
    network = _network()
    assert dhcp.opts_file(network) == (
        "tag:subnet-sub-4,option:dns-server,192.0.2.53,192.0.2.54\n"
        "tag:subnet-sub-4,option:router,10.0.0.1\n"
    )
    network["subnets"][0]["host_routes"] = [
        {"destination": "172.16.0.0/16", "nexthop": "10.0.0.254"}
    ]
    network["subnets"][0]["dns_nameservers"] = []
    assert dhcp.opts_file(network, dns_servers=["198.51.100.1"]) == (
        "tag:subnet-sub-4,option:dns-server,198.51.100.1\n"
        "tag:subnet-sub-4,option:router,10.0.0.1\n"
        "tag:subnet-sub-4,option:classless-static-route,"
        "172.16.0.0/16,10.0.0.254,0.0.0.0/0,10.0.0.1\n"
    )


def test_no_gateway_sends_an_empty_router_option() -> None:
    network = _network()
    network["subnets"][0]["gateway_ip"] = None
    network["subnets"][0]["dns_nameservers"] = []
    assert dhcp.opts_file(network) == "tag:subnet-sub-4,option:router\n"


def test_subnet_without_dhcp_is_not_served() -> None:
    network = _network()
    network["subnets"][0]["enable_dhcp"] = False
    assert dhcp.hosts_file(network) == ""
    assert not [a for a in dhcp.command(network, FILES, "ns-x") if a.startswith("--dhcp-range")]


def test_ipv6_modes() -> None:
    v6 = {
        "id": "sub-6",
        "cidr": "2001:db8:1::/64",
        "ip_version": 6,
        "gateway_ip": "2001:db8:1::1",
        "dns_nameservers": ["2001:db8::53"],
        "host_routes": [],
        "enable_dhcp": True,
        "ipv6_address_mode": "dhcpv6-stateful",
        "ipv6_ra_mode": "dhcpv6-stateful",
    }
    network = _network()
    network["subnets"].append(v6)
    network["ports"][1]["fixed_ips"].append({"subnet_id": "sub-6", "ip_address": "2001:db8:1::a"})
    argv = dhcp.command(network, FILES, "ns-x", lease=600)
    assert "--dhcp-range=set:subnet-sub-6,2001:db8:1::,static,64,600s" in argv
    assert "--enable-ra" in argv
    assert "fa:16:3e:00:00:0a,host-2001-db8-1--a,[2001:db8:1::a]\n" in dhcp.hosts_file(network)
    assert "tag:subnet-sub-6,option6:dns-server,[2001:db8::53]\n" in dhcp.opts_file(network)

    v6["ipv6_address_mode"] = v6["ipv6_ra_mode"] = "slaac"
    argv = dhcp.command(network, FILES, "ns-x", lease=600)
    assert "--dhcp-range=set:subnet-sub-6,2001:db8:1::,ra-only,64,600s" in argv
    # SLAAC addresses are the guest's own: no lease for them
    assert "2001:db8:1::a" not in dhcp.hosts_file(network)


def test_dhcp_port_and_its_interface_addresses() -> None:
    network = _network()
    port = dhcp.dhcp_port(network, "net-host")
    assert port is not None and port["id"] == "port-dhcp"
    assert dhcp.interface_addresses(network, port) == ["10.0.0.2/24"]
    network["ports"] = network["ports"][1:]
    assert dhcp.dhcp_port(network, "net-host") is None
