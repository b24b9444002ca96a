"""PhysicalNetworkFilter: hosts without the physical network of an instance's flat
or vlan network are filtered out; requests on vxlan networks only pass every host."""

from __future__ import annotations

from stratus.scheduler import RequestSpec

from .factories import host, passing, spec

HOSTS = [
    host("both", capabilities={"physical_networks": ["physnet1", "physnet2"]}),
    host("one", capabilities={"physical_networks": ["physnet1"]}),
    host("none"),
]


def test_hosts_without_the_physical_network_are_filtered_out() -> None:
    assert passing("PhysicalNetworkFilter", HOSTS, spec(physical_networks=["physnet1"])) == [
        "both",
        "one",
    ]
    assert passing(
        "PhysicalNetworkFilter", HOSTS, spec(physical_networks=["physnet1", "physnet2"])
    ) == ["both"]
    assert passing("PhysicalNetworkFilter", HOSTS, spec(physical_networks=["physnet9"])) == []


def test_a_request_without_physical_networks_passes_every_host() -> None:
    assert passing("PhysicalNetworkFilter", HOSTS, spec()) == ["both", "one", "none"]


def test_the_request_spec_carries_them_over_the_wire() -> None:
    request = spec(physical_networks=["physnet1"])
    assert RequestSpec.from_dict(request.to_dict()).physical_networks == ["physnet1"]
