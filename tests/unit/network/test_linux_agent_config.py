"""The agent's settings from ``[network]``."""

import pytest
from oslo_config import cfg

from stratus import conf as stratus_conf
from stratus.network.agent import AgentConfig


def _conf(**overrides: object) -> cfg.ConfigOpts:
    conf = cfg.ConfigOpts()
    stratus_conf.register_opts(conf)
    conf([], project="stratus", default_config_files=[])
    for name, value in overrides.items():
        conf.set_override(name, value, group="network")
    return conf


def test_defaults_and_mappings() -> None:
    config = AgentConfig.from_conf(
        _conf(
            physical_interface_mappings=["physnet1:eth1", "provider: bond0"], local_ip="192.0.2.7"
        )
    )
    assert config.physical_interface_mappings == {"physnet1": "eth1", "provider": "bond0"}
    assert config.local_ip == "192.0.2.7"
    assert config.state_path == "/var/lib/stratus/network"
    assert (config.vxlan_udp_port, config.vxlan_dev, config.dnsmasq_binary) == (
        4789,
        None,
        "dnsmasq",
    )


@pytest.mark.parametrize("bad", ["eth1", "physnet1:", ":eth1"])
def test_malformed_mapping_names_the_option(bad: str) -> None:
    with pytest.raises(ValueError, match="physical_interface_mappings"):
        AgentConfig.from_conf(_conf(physical_interface_mappings=[bad]))
