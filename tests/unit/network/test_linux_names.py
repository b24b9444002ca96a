"""Names of the data plane's kernel objects, and the owner tag in device aliases."""

from stratus.network.linux import names

NET = "3f1c2e4a-9b7d-4c1e-8f2a-0123456789ab"
PORT = "d2b7c0de-1111-2222-3333-444455556666"


def test_bridge_is_brq_and_eleven_characters_of_the_network_id() -> None:
    assert names.bridge_name(NET) == "brq3f1c2e4a-9b"
    assert len(names.bridge_name(NET)) == 14


def test_every_interface_name_fits_ifnamsiz() -> None:
    for name in (
        names.bridge_name(NET),
        names.tap_name(PORT),
        names.ns_device_name(PORT),
        names.vxlan_name(16777215),
        names.vlan_name(4094),
    ):
        assert len(name) <= names.IFNAMSIZ, name


def test_port_devices_and_namespace() -> None:
    assert names.tap_name(PORT) == "tapd2b7c0de-11"
    assert names.ns_device_name(PORT) == "ns-d2b7c0de-11"
    assert names.dhcp_namespace(NET) == "qdhcp-" + NET
    assert names.vxlan_name(1001) == "vxlan-1001"


def test_owner_alias_round_trip_and_foreign_aliases() -> None:
    alias = names.owner_alias("compute-1.example", NET)
    assert names.parse_owner_alias(alias) == ("compute-1.example", NET)
    assert names.parse_owner_alias(None) is None
    assert names.parse_owner_alias("uplink to the rack switch") is None
    assert names.parse_owner_alias("stratus:") is None


def test_only_stratus_prefixes_are_stratus_devices() -> None:
    assert names.is_stratus_device(names.bridge_name(NET))
    assert names.is_stratus_device("vxlan-7")
    assert not names.is_stratus_device("eth0")
    assert not names.is_stratus_device("virbr0")
