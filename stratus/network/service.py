"""The Networking service layer as its callers use it (the Networking API's handlers,
the compute API and the conductor): stratus.network.api, with each write that
changes what a host's data plane should look like followed by a ``network_changed``
cast to the network agents (fanout), so that bridges and DHCP follow at once.

Reads and everything else are stratus.network.api's own functions.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from oslo_config import cfg

from stratus.conf import CONF
from stratus.network import api as _api
from stratus.network import routers as _l3
from stratus.rpc.network_agent_rpcapi import NetworkAgentAPI

LOG = logging.getLogger(__name__)


@functools.cache
def _agents() -> NetworkAgentAPI:
    return NetworkAgentAPI()


def network_changed(network_id: str) -> None:
    """Tell every network agent that ``network_id``'s desired state changed; a broker
    outage does not fail the write (the agents' periodic resync catches up). Without
    a configured message bus (``transport_url`` not set: an API-only process) there
    are no agents to tell."""
    agents = _agents()  # registers oslo.messaging's options, connects to nothing yet
    if CONF.get_location("transport_url").location == cfg.Locations.opt_default:
        return
    try:
        agents.network_changed({"request_id": ""}, network_id=network_id)
    except Exception:
        LOG.exception("could not tell the network agents that %s changed", network_id)


def __getattr__(name: str) -> Any:
    return getattr(_api, name)


def update_network(context: Any, network_id: str, values: dict[str, Any]) -> dict[str, Any]:
    network = _api.update_network(context, network_id, values)
    network_changed(network_id)
    return network


def delete_network(context: Any, network_id: str) -> None:
    _api.delete_network(context, network_id)
    network_changed(network_id)


def create_subnet(context: Any, values: dict[str, Any]) -> dict[str, Any]:
    subnet = _api.create_subnet(context, values)
    network_changed(subnet["network_id"])
    return subnet


def update_subnet(context: Any, subnet_id: str, values: dict[str, Any]) -> dict[str, Any]:
    subnet = _api.update_subnet(context, subnet_id, values)
    network_changed(subnet["network_id"])
    return subnet


def delete_subnet(context: Any, subnet_id: str) -> None:
    network_id = _api.get_subnet(context, subnet_id)["network_id"]
    _api.delete_subnet(context, subnet_id)
    network_changed(network_id)


def _groups_changed(group_ids: set[str], *network_ids: str) -> None:
    """Tell the agents about ``network_ids`` and every network whose ports' filtering
    depends on the groups ``group_ids`` (their members or their rules changed)."""
    for network_id in sorted(set(network_ids) | _api.networks_watching_security_groups(group_ids)):
        network_changed(network_id)


def create_port(context: Any, values: dict[str, Any]) -> dict[str, Any]:
    port = _api.create_port(context, values)
    _groups_changed(set(port["security_groups"]), port["network_id"])
    return port


def update_port(context: Any, port_id: str, values: dict[str, Any]) -> dict[str, Any]:
    before = set(_api.get_port(context, port_id)["security_groups"])
    port = _api.update_port(context, port_id, values)
    _groups_changed(before | set(port["security_groups"]), port["network_id"])
    return port


def delete_port(context: Any, port_id: str) -> None:
    port = _api.get_port(context, port_id)
    watching = _api.networks_watching_security_groups(set(port["security_groups"]))
    routed = _api.delete_port(context, port_id)
    for network_id in sorted(watching | routed | {port["network_id"]}):
        network_changed(network_id)


def create_security_group_rule(context: Any, values: dict[str, Any]) -> dict[str, Any]:
    rule = _api.create_security_group_rule(context, values)
    _groups_changed({rule["security_group_id"]})
    return rule


def delete_security_group_rule(context: Any, rule_id: str) -> None:
    group_id = _api.get_security_group_rule(context, rule_id)["security_group_id"]
    watching = _api.networks_watching_security_groups({group_id})
    _api.delete_security_group_rule(context, rule_id)
    for network_id in sorted(watching):
        network_changed(network_id)


def delete_security_group(context: Any, group_id: str) -> None:
    """A group in use cannot go; the rules naming it as remote group go with it."""
    watching = _api.networks_watching_security_groups({group_id})
    _api.delete_security_group(context, group_id)
    for network_id in sorted(watching):
        network_changed(network_id)


def bind_port(port_id: str, host: str) -> dict[str, Any]:
    port = _api.bind_port(port_id, host)
    network_changed(port["network_id"])
    return port


# --- routers and floating IPs ------------------------------------------------------------
#
# Reads are stratus.network.routers' own; each write tells the agents about every
# network of the routers it touched (before and after), whose host carries them.


def _networks_changed(network_ids: set[str]) -> None:
    for network_id in sorted(network_ids):
        network_changed(network_id)


list_routers = _l3.list_routers
get_router = _l3.get_router
list_floatingips = _l3.list_floatingips
get_floatingip = _l3.get_floatingip
list_port_forwardings = _l3.list_port_forwardings
get_port_forwarding = _l3.get_port_forwarding
floating_addresses = _l3.floating_addresses


def create_router(context: Any, values: dict[str, Any]) -> dict[str, Any]:
    router = _l3.create_router(context, values)
    _networks_changed(_l3.router_networks(context, router["id"]))
    return router


def update_router(context: Any, router_id: str, values: dict[str, Any]) -> dict[str, Any]:
    before = _l3.router_networks(context, router_id)
    router = _l3.update_router(context, router_id, values)
    _networks_changed(before | _l3.router_networks(context, router_id))
    return router


def delete_router(context: Any, router_id: str) -> None:
    before = _l3.router_networks(context, router_id)
    _l3.delete_router(context, router_id)
    _networks_changed(before)


def add_router_interface(context: Any, router_id: str, body: Any) -> dict[str, Any]:
    info = _l3.add_router_interface(context, router_id, body)
    _networks_changed(_l3.router_networks(context, router_id))
    return info


def remove_router_interface(context: Any, router_id: str, body: Any) -> dict[str, Any]:
    before = _l3.router_networks(context, router_id)
    info = _l3.remove_router_interface(context, router_id, body)
    _networks_changed(before)
    return info


def create_floatingip(context: Any, values: dict[str, Any]) -> dict[str, Any]:
    fip = _l3.create_floatingip(context, values)
    _networks_changed(_l3.floatingip_networks(context, fip["id"]))
    return fip


def update_floatingip(context: Any, fip_id: str, values: dict[str, Any]) -> dict[str, Any]:
    before = _l3.floatingip_networks(context, fip_id)
    fip = _l3.update_floatingip(context, fip_id, values)
    _networks_changed(before | _l3.floatingip_networks(context, fip_id))
    return fip


def delete_floatingip(context: Any, fip_id: str) -> None:
    before = _l3.floatingip_networks(context, fip_id)
    _l3.delete_floatingip(context, fip_id)
    _networks_changed(before)


def create_port_forwarding(context: Any, fip_id: str, values: dict[str, Any]) -> dict[str, Any]:
    forwarding = _l3.create_port_forwarding(context, fip_id, values)
    _networks_changed(_l3.floatingip_networks(context, fip_id))
    return forwarding


def update_port_forwarding(
    context: Any, fip_id: str, pf_id: str, values: dict[str, Any]
) -> dict[str, Any]:
    forwarding = _l3.update_port_forwarding(context, fip_id, pf_id, values)
    _networks_changed(_l3.floatingip_networks(context, fip_id))
    return forwarding


def delete_port_forwarding(context: Any, fip_id: str, pf_id: str) -> None:
    before = _l3.floatingip_networks(context, fip_id)
    _l3.delete_port_forwarding(context, fip_id, pf_id)
    _networks_changed(before)
