"""network_data.json as cloud-init reads it: Debian's cloud-init package (not on
PyPI, so it is fetched with ``apt-get download`` like the test image's packages and
unpacked, never installed) converts our document with its own OpenStack helper
(``convert_net_json``) and parses the result with its network state parser, which
refuse link and network types or fields they do not know. Its optional
``configobj`` import (used only for NetworkManager files) is stubbed."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from stratus.metadata import base

ROOT = Path(__file__).resolve().parents[2]
DEBS = ROOT / "tests/images/cache/debs"

CHECK = """
import json, sys
from cloudinit.net import network_state
from cloudinit.sources.helpers import openstack
doc = json.load(open(sys.argv[1]))
macs = {link["ethernet_mac_address"]: "eth%d" % i for i, link in enumerate(doc["links"])}
config = openstack.convert_net_json(doc, known_macs=macs)
state = network_state.parse_net_config_data(config)
print(json.dumps({
    "interfaces": {
        i["name"]: {"mac": i["mac_address"], "mtu": i["mtu"], "subnets": i["subnets"]}
        for i in state.iter_interfaces()
    },
    "dns": state.dns_nameservers,
}, default=str))
"""


@pytest.fixture(scope="module")
def cloudinit_root() -> Iterator[Path]:
    if shutil.which("apt-get") is None:
        pytest.skip("needs apt-get (Debian) to fetch the cloud-init package")
    DEBS.mkdir(parents=True, exist_ok=True)
    if not list(DEBS.glob("cloud-init_*.deb")):
        scratch = Path(tempfile.mkdtemp())
        scratch.chmod(0o777)  # _apt downloads into it
        subprocess.run(["apt-get", "download", "-qq", "cloud-init"], cwd=scratch, check=True)
        for deb in scratch.glob("*.deb"):
            shutil.move(str(deb), DEBS / deb.name)
        shutil.rmtree(scratch)
    root = Path(tempfile.mkdtemp(prefix="cloudinit-"))
    deb = sorted(DEBS.glob("cloud-init_*.deb"))[-1]
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    (root / "stub").mkdir()
    (root / "stub/configobj.py").write_text("class ConfigObj:\n    pass\n")
    yield root
    shutil.rmtree(root)


def test_cloud_init_reads_network_data(cloudinit_root: Path, tmp_path: Path) -> None:
    subnet4 = {
        "cidr": "10.0.0.0/24",
        "gateway_ip": "10.0.0.1",
        "dns_nameservers": ["192.0.2.53"],
        "host_routes": [{"destination": "172.16.0.0/16", "nexthop": "10.0.0.254"}],
        "enable_dhcp": True,
        "ipv6_address_mode": None,
    }
    subnet6 = {**subnet4, "cidr": "2001:db8::/64", "gateway_ip": "2001:db8::1"}
    subnet6["host_routes"] = []
    instance = {
        "network_info": [
            {
                "port_id": "a1b2c3d4-e5f6-0000-0000-000000000001",
                "network_id": "n1",
                "mac_address": "fa:16:3e:00:00:01",
                "mtu": 1450,
                "fixed_ips": [
                    {"ip_address": "10.0.0.5", "version": 4, "subnet_id": "s4", "subnet": subnet4},
                    {"ip_address": "2001:db8::5", "version": 6, "subnet_id": "s6",
                     "subnet": subnet6},
                ],
            },
            {
                "port_id": "b1b2c3d4-e5f6-0000-0000-000000000002",
                "network_id": "n2",
                "mac_address": "fa:16:3e:00:00:02",
                "mtu": 1500,
                "fixed_ips": [
                    {"ip_address": "10.1.0.7", "version": 4, "subnet_id": "s5",
                     "subnet": {**subnet4, "cidr": "10.1.0.0/16", "gateway_ip": None,
                                "host_routes": [], "dns_nameservers": []}},
                ],
            },
        ]
    }  # fmt: skip
    doc = tmp_path / "network_data.json"
    doc.write_text(base.dump(base.network_data(instance)))
    site = cloudinit_root / "usr/lib/python3/dist-packages"
    done = subprocess.run(
        [sys.executable, "-c", CHECK, str(doc)],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": f"{site}:{cloudinit_root / 'stub'}", "PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    state = json.loads(done.stdout)
    eth0, eth1 = state["interfaces"]["eth0"], state["interfaces"]["eth1"]
    assert (eth0["mac"], eth0["mtu"], eth1["mac"], eth1["mtu"]) == (
        "fa:16:3e:00:00:01", 1450, "fa:16:3e:00:00:02", 1500,
    )  # fmt: skip
    v4, v6 = eth0["subnets"]
    assert (v4["type"], v4["address"], v4["netmask"]) == ("static", "10.0.0.5", "255.255.255.0")
    assert [(r["network"], r["prefix"], r["gateway"]) for r in v4["routes"]] == [
        ("0.0.0.0", 0, "10.0.0.1"),
        ("172.16.0.0", 16, "10.0.0.254"),
    ]
    assert (v6["type"], v6["address"]) == ("static6", "2001:db8::5")
    assert [(r["network"], r["gateway"]) for r in v6["routes"]] == [("::", "2001:db8::1")]
    (eth1_v4,) = eth1["subnets"]
    assert (eth1_v4["address"], eth1_v4["netmask"], eth1_v4["routes"]) == (
        "10.1.0.7", "255.255.0.0", [],
    )  # fmt: skip
    assert state["dns"] == ["192.0.2.53"]
