"""The IPAM rules (stratus/network/ipam.py): subnets, pools, SLAAC, MACs."""

from __future__ import annotations

import netaddr
import pytest

from stratus.network import ipam
from stratus.network.exceptions import InvalidInput


def test_default_subnet_has_gateway_first_and_pool_without_it() -> None:
    spec = ipam.validate_subnet(cidr="10.0.0.0/24", ip_version=4)
    assert spec.gateway_ip == "10.0.0.1"
    assert spec.allocation_pools == [{"start": "10.0.0.2", "end": "10.0.0.254"}]
    middle = ipam.validate_subnet(cidr="10.0.0.0/24", ip_version=4, gateway_ip="10.0.0.100")
    assert middle.allocation_pools == [
        {"start": "10.0.0.1", "end": "10.0.0.99"},
        {"start": "10.0.0.101", "end": "10.0.0.254"},
    ]
    none = ipam.validate_subnet(cidr="10.0.0.0/30", ip_version=4, gateway_ip=None)
    assert none.gateway_ip is None and ipam.pool_size(none.allocation_pools) == 2


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"cidr": "10.0.0.0/33"}, "cidr"),
        ({"cidr": "10.0.0.7/24"}, "cidr"),
        ({"cidr": "banana"}, "cidr"),
        ({"cidr": "10.0.0.0"}, "cidr"),
        ({"cidr": "2001:db8::/64"}, "cidr"),  # not IPv4
        ({"cidr": "10.0.0.0/24", "ip_version": 5}, "ip_version"),
        ({"cidr": "10.0.0.0/24", "gateway_ip": "10.0.1.1"}, "gateway_ip"),
        ({"cidr": "10.0.0.0/24", "gateway_ip": "10.0.0.255"}, "gateway_ip"),
        ({"cidr": "10.0.0.0/24", "gateway_ip": "x"}, "gateway_ip"),
        ({"cidr": "10.0.0.0/24", "allocation_pools": [{"start": "10.0.0.2"}]}, "allocation_pools"),
        (
            {"cidr": "10.0.0.0/24", "allocation_pools": [{"start": "10.0.0.9", "end": "10.0.0.3"}]},
            "allocation_pools",
        ),
        (
            {
                "cidr": "10.0.0.0/24",
                "allocation_pools": [{"start": "10.0.0.2", "end": "10.0.0.255"}],
            },
            "allocation_pools",
        ),
        (
            {"cidr": "10.0.0.0/24", "allocation_pools": [{"start": "10.0.0.1", "end": "10.0.0.5"}]},
            "allocation_pools",
        ),
        (
            {
                "cidr": "10.0.0.0/24",
                "allocation_pools": [
                    {"start": "10.0.0.2", "end": "10.0.0.9"},
                    {"start": "10.0.0.9", "end": "10.0.0.20"},
                ],
            },
            "allocation_pools",
        ),
        ({"cidr": "10.0.0.0/24", "dns_nameservers": ["1.1.1.1", "1.1.1.1"]}, "dns_nameservers"),
        (
            {"cidr": "10.0.0.0/24", "host_routes": [{"destination": "x", "nexthop": "10.0.0.9"}]},
            "host_routes",
        ),
        ({"cidr": "10.0.0.0/24", "ipv6_address_mode": "slaac"}, "ipv6_address_mode"),
        ({"cidr": "10.0.0.0/24", "other_cidrs": ["10.0.0.128/25"]}, "cidr"),
    ],
)
def test_bad_subnets_name_the_field(values: dict, field: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        ipam.validate_subnet(**{"ip_version": 4, **values})
    assert raised.value.field == field


def test_ipv6_subnets() -> None:
    spec = ipam.validate_subnet(
        cidr="2001:db8:1::/64",
        ip_version=6,
        ipv6_address_mode="slaac",
        ipv6_ra_mode="slaac",
        other_cidrs=["10.0.0.0/24"],  # another family never overlaps
    )
    assert spec.gateway_ip == "2001:db8:1::1"
    assert ipam.is_slaac(6, "slaac") and ipam.is_slaac(6, "dhcpv6-stateless")
    assert not ipam.is_slaac(6, "dhcpv6-stateful") and not ipam.is_slaac(4, None)
    with pytest.raises(InvalidInput):
        ipam.validate_subnet(cidr="2001:db8::/80", ip_version=6, ipv6_address_mode="slaac")
    with pytest.raises(InvalidInput):
        ipam.validate_subnet(
            cidr="2001:db8::/64",
            ip_version=6,
            ipv6_address_mode="slaac",
            ipv6_ra_mode="dhcpv6-stateful",
        )


def test_eui64_is_the_modified_eui64_of_the_mac() -> None:
    # The universal/local bit of the first octet flips; ff:fe goes in the middle.
    assert (
        ipam.eui64_address("2001:db8::/64", "fa:16:3e:12:34:56") == "2001:db8::f816:3eff:fe12:3456"
    )
    assert ipam.eui64_address("fd00:1::/64", "00:11:22:33:44:55") == "fd00:1::211:22ff:fe33:4455"


def test_pick_address_skips_used_and_reports_exhaustion() -> None:
    pools = [{"start": "10.0.0.2", "end": "10.0.0.4"}, {"start": "10.0.0.10", "end": "10.0.0.10"}]
    assert ipam.pick_address(pools, set(), first=True) == "10.0.0.2"
    assert ipam.pick_address(pools, {"10.0.0.2", "10.0.0.3"}, first=True) == "10.0.0.4"
    assert ipam.pick_address(pools, {"10.0.0.2", "10.0.0.3", "10.0.0.4"}) == "10.0.0.10"
    assert ipam.pick_address(pools, {"10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.10"}) is None
    picked = {ipam.pick_address(pools, {"10.0.0.2"}) for _ in range(200)}
    assert picked == {"10.0.0.3", "10.0.0.4", "10.0.0.10"}
    assert ipam.pool_size(pools) == 4


def test_address_in_subnet_excludes_network_and_broadcast() -> None:
    assert ipam.address_in_subnet("10.0.0.1", "10.0.0.0/24")
    assert not ipam.address_in_subnet("10.0.0.0", "10.0.0.0/24")
    assert not ipam.address_in_subnet("10.0.0.255", "10.0.0.0/24")
    assert not ipam.address_in_subnet("10.0.1.1", "10.0.0.0/24")
    assert not ipam.address_in_subnet("2001:db8::1", "10.0.0.0/24")


def test_macs() -> None:
    for _ in range(50):
        mac = ipam.generate_mac("fa:16:3e:00:00:00")
        assert mac.startswith("fa:16:3e:") and ipam.validate_mac(mac) == mac
    assert ipam.validate_mac("FA-16-3E-01-02-03") == "fa:16:3e:01:02:03"
    for bad in ("01:00:5e:00:00:01", "nope", 42):
        with pytest.raises(InvalidInput):
            ipam.validate_mac(bad)
    assert netaddr.EUI(ipam.generate_mac("02:00:00:00:00:00")).words[0] == 2
