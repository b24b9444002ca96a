"""The metadata trees and the config drive, from a made-up instance."""

from __future__ import annotations

import base64
import io
import json

import pycdlib
import pytest

from stratus.metadata import base, configdrive

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBpwWJKV6bOkgbfbCZ2vvBv8yhnM0X/vnz4bTHp8ZgRy me@example"
SCRIPT = b"#!/bin/sh\necho hello\n"


def _instance(**overrides):
    instance = {
        "uuid": "0d3c4a2e-1111-2222-3333-444455556666",
        "display_name": "web 1",
        "hostname": "web-1",
        "project_id": "p1",
        "availability_zone": "az1",
        "metadata": {"role": "web"},
        "key_name": "mykey",
        "key_data": KEY,
        "user_data": base64.b64encode(SCRIPT).decode(),
        "launch_index": 2,
        "reservation_id": "r-12345678",
        "security_groups": ["default", "web"],
        "image_ref": "9f1b3a7c-0000-0000-0000-000000000000",
        "flavor": {"name": "m1.tiny"},
        "network_info": [
            {
                "port_id": "a1b2c3d4-e5f6-0000-0000-000000000001",
                "network_id": "n1",
                "mac_address": "fa:16:3e:00:00:01",
                "mtu": 1450,
                "fixed_ips": [
                    {
                        "ip_address": "10.0.0.5",
                        "version": 4,
                        "subnet_id": "s4",
                        "subnet": {
                            "cidr": "10.0.0.0/24",
                            "gateway_ip": "10.0.0.1",
                            "dns_nameservers": ["192.0.2.53"],
                            "host_routes": [
                                {"destination": "172.16.0.0/16", "nexthop": "10.0.0.254"}
                            ],
                            "enable_dhcp": True,
                            "ipv6_address_mode": None,
                        },
                    },
                    {
                        "ip_address": "2001:db8::5",
                        "version": 6,
                        "subnet_id": "s6",
                        "subnet": {
                            "cidr": "2001:db8::/64",
                            "gateway_ip": None,
                            "dns_nameservers": ["192.0.2.53"],
                            "host_routes": [],
                            "enable_dhcp": False,
                            "ipv6_address_mode": None,
                        },
                    },
                ],
            }
        ],
    }
    instance.update(overrides)
    return instance


def test_meta_data_latest() -> None:
    md = base.meta_data(_instance(), random_seed=b"x")
    assert md["uuid"] == "0d3c4a2e-1111-2222-3333-444455556666"
    assert md["hostname"] == "web-1.novalocal"
    assert md["name"] == "web 1"
    assert md["meta"] == {"role": "web"}
    assert md["public_keys"] == {"mykey": KEY}
    assert md["keys"] == [{"name": "mykey", "type": "ssh", "data": KEY}]
    assert md["launch_index"] == 2
    assert md["availability_zone"] == "az1"
    assert md["project_id"] == "p1"
    assert md["random_seed"] == base64.b64encode(b"x").decode()
    assert md["devices"] == []


def test_meta_data_oldest_version_has_no_newer_keys() -> None:
    md = base.meta_data(_instance(), "2012-08-10")
    assert "keys" not in md and "random_seed" not in md and "project_id" not in md
    assert md["public_keys"] == {"mykey": KEY}


def test_hostname_rules() -> None:
    # A single label (2.90) gets the DHCP domain; an FQDN (2.94) is kept as it is.
    assert base.guest_hostname({"uuid": "u", "hostname": "db"}) == "db.novalocal"
    assert base.guest_hostname({"uuid": "u", "hostname": "db.example.org"}) == "db.example.org"
    assert base.guest_hostname({"uuid": "u", "hostname": "db"}, "") == "db"


def test_no_key_no_user_data() -> None:
    instance = _instance(key_data=None, key_name=None, user_data=None)
    md = base.meta_data(instance)
    assert "public_keys" not in md and "keys" not in md
    assert "user_data" not in base.openstack_files(instance)
    assert "public-keys" not in base.ec2_meta_data(instance)
    with pytest.raises(base.InvalidPath):
        base.ec2_path(instance, "user-data")


def test_network_data_shape() -> None:
    nd = base.network_data(_instance())
    assert nd["links"] == [
        {
            "id": "tapa1b2c3d4-e5",
            "vif_id": "a1b2c3d4-e5f6-0000-0000-000000000001",
            "type": "bridge",
            "ethernet_mac_address": "fa:16:3e:00:00:01",
            "mtu": 1450,
        }
    ]
    v4, v6 = nd["networks"]
    assert v4 == {
        "id": "network0",
        "type": "ipv4",
        "link": "tapa1b2c3d4-e5",
        "ip_address": "10.0.0.5",
        "netmask": "255.255.255.0",
        "routes": [
            {"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": "10.0.0.1"},
            {"network": "172.16.0.0", "netmask": "255.255.0.0", "gateway": "10.0.0.254"},
        ],
        "network_id": "n1",
        "services": [{"type": "dns", "address": "192.0.2.53"}],
    }
    assert v6["type"] == "ipv6" and v6["netmask"] == "ffff:ffff:ffff:ffff::"
    assert v6["routes"] == []
    assert nd["services"] == [{"type": "dns", "address": "192.0.2.53"}]


def test_openstack_listings() -> None:
    instance = _instance()
    versions = base.openstack_path(instance, "").split("\n")
    assert versions[0] == "2012-08-10" and versions[-1] == "latest"
    assert base.openstack_path(instance, "2012-08-10").split("\n") == [
        "meta_data.json",
        "user_data",
    ]
    assert set(base.openstack_path(instance, "latest/").split("\n")) == {
        "meta_data.json",
        "network_data.json",
        "password",
        "user_data",
        "vendor_data.json",
        "vendor_data2.json",
    }
    assert base.openstack_path(instance, "latest/user_data") == SCRIPT
    assert json.loads(base.openstack_path(instance, "latest/vendor_data2.json")) == {}
    for bad in ("1999-01-01", "latest/nothing", "latest/meta_data.json/x"):
        with pytest.raises(base.InvalidPath):
            base.openstack_path(instance, bad)


def test_ec2_tree() -> None:
    instance = _instance()
    assert base.ec2_versions().split("\n")[-2:] == ["2009-04-04", "latest"]
    assert base.ec2_path(instance, "") == "meta-data/\nuser-data"
    listing = base.ec2_path(instance, "meta-data/").split("\n")
    for entry in ("instance-id", "hostname", "local-ipv4", "public-ipv4", "placement/"):
        assert entry in listing
    assert "public-keys/" in listing
    assert base.ec2_path(instance, "meta-data/instance-id") == "i-0d3c4a2e"
    assert base.ec2_path(instance, "meta-data/hostname") == "web-1.novalocal"
    assert base.ec2_path(instance, "meta-data/local-ipv4") == "10.0.0.5"
    # The public address is a floating one, never the fixed one.
    assert base.ec2_path(instance, "meta-data/public-ipv4") == ""
    with_fip = {**instance, "floating_ips": ["2001:db8::7", "203.0.113.7", "203.0.113.8"]}
    assert base.ec2_path(with_fip, "meta-data/public-ipv4") == "203.0.113.7"
    assert base.ec2_path(instance, "meta-data/placement/availability-zone") == "az1"
    assert base.ec2_path(instance, "meta-data/ami-launch-index") == "2"
    assert base.ec2_path(instance, "meta-data/reservation-id") == "r-12345678"
    assert base.ec2_path(instance, "meta-data/security-groups") == "default\nweb"
    assert base.ec2_path(instance, "meta-data/public-keys/") == "0=mykey"
    assert base.ec2_path(instance, "meta-data/public-keys/0/") == "openssh-key"
    assert base.ec2_path(instance, "meta-data/public-keys/0/openssh-key") == KEY
    assert base.ec2_path(instance, "user-data") == SCRIPT.decode()
    for bad in ("meta-data/nothing", "meta-data/public-keys/1", "meta-data/hostname/x"):
        with pytest.raises(base.InvalidPath):
            base.ec2_path(instance, bad)


def test_documents_one_key_per_line() -> None:
    # The test guest reads meta_data.json with sed: top-level keys at two spaces.
    text = base.openstack_files(_instance())["meta_data.json"].decode()
    assert '\n  "uuid": "0d3c4a2e-1111-2222-3333-444455556666"' in text
    assert f'\n      "data": "{KEY}"' in text


def test_config_drive_iso(tmp_path) -> None:
    files = base.config_drive_files(_instance(), random_seed=b"seed")
    path = tmp_path / "disk.config"
    configdrive.make_iso(files, path)
    iso = pycdlib.PyCdlib()
    iso.open(str(path))
    try:
        assert iso.pvd.volume_identifier.decode().strip() == "config-2"
        assert iso.has_rock_ridge() and iso.has_joliet()
        for name, body in files.items():
            for where in ("rr_path", "joliet_path"):
                out = io.BytesIO()
                iso.get_file_from_iso_fp(out, **{where: "/" + name})
                assert out.getvalue() == body, (where, name)
    finally:
        iso.close()
    assert "openstack/2012-08-10/meta_data.json" in files
    assert "ec2/latest/meta-data.json" in files and "ec2/2009-04-04/user-data" in files
    ec2 = json.loads(files["ec2/latest/meta-data.json"])
    assert ec2["public-keys"] == {"0": {"openssh-key": KEY}}
    assert not list(tmp_path.glob("*.tmp"))
