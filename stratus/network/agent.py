"""The network agent of a host: reconciles the host's data plane to a desired state.

The desired state of one host is plain data (the conductor builds it from the
database; see docs/architecture.md, "Network data plane")::

    {"host": str, "vtep_ip": str | None,
     "networks": [{"id", "mtu", "network_type": "flat" | "vxlan" | "vlan",
                   "physical_network", "segmentation_id", "dhcp": bool,
                   "subnets": [{"id", "cidr", "ip_version", "gateway_ip",
                                "dns_nameservers", "host_routes", "enable_dhcp",
                                "ipv6_address_mode", "ipv6_ra_mode"}],
                   "ports": [{"id", "mac_address", "fixed_ips", "device_owner", "host",
                              "device_id", "project_id"}],
                   "remote_vteps": [{"ip", "macs": [...]}]}],
     "security_groups": {group id: {"rules": [...], "members": {"IPv4", "IPv6"}}},
     "routers": [...]}

The ``routers`` (those placed on this host, shape in stratus.network.linux.router)
get ``qrouter-<router id>`` namespaces with their interfaces, gateway, routes and
NAT; the routers that the state no longer names (directories under
``state_path/router``) are removed with the rest.

Ports may carry ``port_security_enabled``, ``security_groups`` and
``allowed_address_pairs``; the ports bound to this host with port security get
nftables chains (stratus.network.linux.firewall), absent keys meaning none.

:meth:`NetworkAgent.reconcile` makes the host match it and is idempotent: per
network a bridge (``brq…``), then the segment (a VXLAN device whose forwarding
entries are one flooding entry per remote VTEP plus one entry per remote MAC, as
l2population does; the physical interface of a flat network; a VLAN
sub-interface for vlan), and when ``dhcp`` is set a ``qdhcp-<network id>``
namespace whose veth end carries the DHCP port's addresses and a dnsmasq that
serves the network's ports, and with ``[metadata] metadata_url`` and
``shared_secret`` a metadata proxy on 169.254.169.254 in that namespace
(stratus.network.linux.metadata_proxy). Then it removes what it owns and the state no
longer names: devices whose alias carries this agent's host name, and DHCP
namespaces and dnsmasq processes that have a directory under ``state_path``.
Objects of other agents or tools are never touched. A network that cannot be
set up (a vlan network on a kernel without 802.1Q, an unmapped physical
network, no VTEP address) is reported in the result and does not stop the
others.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import pwd
import shutil
import signal
import time
from dataclasses import dataclass, field
from typing import Any

from oslo_config import cfg

from stratus.network.linux import dhcp, firewall, metadata_proxy, names, privileged, router

LOG = logging.getLogger(__name__)
ZERO_MAC = "00:00:00:00:00:00"
DEFAULT_MTU = 1500


class NetworkSetupError(Exception):
    """One network of the desired state cannot be set up on this host."""


@dataclass
class AgentConfig:
    """What the agent takes from ``[network]`` (see stratus/conf/network_agent.py)."""

    state_path: str
    physical_interface_mappings: dict[str, str] = field(default_factory=dict)
    local_ip: str | None = None
    vxlan_dev: str | None = None
    vxlan_udp_port: int = 4789
    dnsmasq_binary: str = "dnsmasq"
    dns_servers: list[str] = field(default_factory=list)
    dhcp_lease_duration: int = 86400
    # [metadata] metadata_url and shared_secret: both set, each DHCP namespace
    # runs a metadata proxy (stratus.network.linux.metadata_proxy).
    metadata_url: str | None = None
    metadata_secret: str = ""

    @property
    def metadata_proxy(self) -> bool:
        return bool(self.metadata_url and self.metadata_secret)

    @classmethod
    def from_conf(cls, conf: cfg.ConfigOpts) -> AgentConfig:
        group = conf.network
        mappings = {}
        for item in group.physical_interface_mappings:
            physnet, sep, interface = item.partition(":")
            if not sep or not physnet or not interface:
                raise ValueError(
                    f"[network] physical_interface_mappings: {item!r} is not "
                    "'<physical_network>:<interface>'"
                )
            mappings[physnet.strip()] = interface.strip()
        return cls(
            state_path=group.state_path or os.path.join(conf.state_path, "network"),
            physical_interface_mappings=mappings,
            local_ip=group.local_ip,
            vxlan_dev=group.vxlan_dev or None,
            vxlan_udp_port=group.vxlan_udp_port,
            dnsmasq_binary=group.dnsmasq_binary,
            dns_servers=list(group.dns_servers),
            dhcp_lease_duration=group.dhcp_lease_duration,
            metadata_url=conf.metadata.metadata_url or None,
            metadata_secret=conf.metadata.shared_secret or "",
        )


@dataclass
class ReconcileResult:
    """What one reconcile did, and the networks it could not set up (id -> reason)."""

    created: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    reloaded: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    # What a reconcile without pruning found and left: devices and DHCP servers
    # that its state no longer names.
    stale: list[str] = field(default_factory=list)

    def then(self, later: ReconcileResult) -> ReconcileResult:
        """This round followed by ``later`` (whose errors and stale list stand)."""
        return ReconcileResult(
            created=self.created + later.created,
            removed=self.removed + later.removed,
            reloaded=self.reloaded + later.reloaded,
            errors=later.errors,
            stale=later.stale,
        )


class NetworkAgent:
    """Reconciles one host's bridges, segments and DHCP servers.

    ``netns`` names the network namespace that stands for the host (None: the
    agent's own, as in production; tests run two "hosts" in two namespaces).
    """

    def __init__(self, host: str, config: AgentConfig, netns: str | None = None) -> None:
        self.host = host
        self.config = config
        self.netns = netns
        self._vlan_supported: bool | None = None
        self.firewall = firewall.Firewall(netns)
        self.routers = router.Routers(netns, os.path.join(config.state_path, "router"))

    # --- entry point ---------------------------------------------------------

    def reconcile(self, state: dict[str, Any], prune: bool = True) -> ReconcileResult:
        """Make the host match ``state``: create and update what it names and, with
        ``prune``, remove what it does not (without, only list that in ``stale``:
        stratus.network.agent_manager removes under the data-plane lock, from a state
        fetched under it)."""
        result = ReconcileResult()
        networks = {n["id"]: n for n in state.get("networks", [])}
        vtep = state.get("vtep_ip") or self.config.local_ip
        wanted_links: set[str] = set()
        wanted_dhcp: set[str] = set()
        for network in networks.values():
            try:
                wanted_links |= self._network(network, vtep, result)
                if self._dhcp_wanted(network):
                    wanted_dhcp.add(network["id"])
                    self._dhcp(network, result)
            except Exception as exc:  # one network's failure must not stop the others
                LOG.error("network %s: %s", network["id"], exc)
                result.errors[network["id"]] = str(exc)
                wanted_links |= self._links_of(network)  # keep what it has
                if network["id"] in self._dhcp_dirs():
                    wanted_dhcp.add(network["id"])
        self._security_groups(state, result)
        # after the bridges their ports plug into; prunes (or lists) its own
        stale_routers = self.routers.reconcile(state.get("routers") or [], result, prune)
        stale_links = self._stale_links(wanted_links)
        stale_dhcp = sorted(self._dhcp_dirs() - wanted_dhcp)
        if prune:
            self._remove_links(stale_links, result)
            self._remove_dhcp(stale_dhcp, result)
        else:
            result.stale = stale_links + [f"dhcp:{net_id}" for net_id in stale_dhcp] + stale_routers
        return result

    # --- security groups -----------------------------------------------------

    def _security_groups(self, state: dict[str, Any], result: ReconcileResult) -> None:
        """The nftables rules of this host's ports (after their bridges exist).
        The first reconcile of the agent replaces the tables whole, which removes
        the chains of ports that left while it was down; later ones send only
        what changed. A failure is reported under ``firewall`` and retried whole
        on the next reconcile."""
        ruleset = firewall.render(
            firewall.host_ports(state, self.host), state.get("security_groups") or {}
        )
        try:
            if self.firewall.apply(ruleset):
                result.reloaded.append("firewall")
        except Exception as exc:
            LOG.error("security groups: %s", exc)
            result.errors["firewall"] = str(exc)

    def plug_network(self, network: dict[str, Any]) -> list[str]:
        """Set up one network's bridge and segment now if they are missing, removing
        nothing (a compute host about to plug a guest's VIF into the bridge); the
        devices created. Devices that exist are left to the reconcile (their VXLAN
        forwarding entries come from the whole state, which this call does not have)."""
        present = {link["name"] for link in privileged.list_links(self.netns)}
        if self._links_of(network) <= present:
            return []
        result = ReconcileResult()
        self._network(network, self.config.local_ip, result)
        return result.created

    # --- L2 ------------------------------------------------------------------

    def vlan_supported(self) -> bool:
        if self._vlan_supported is None:
            self._vlan_supported = privileged.kernel_has_vlan()
        return self._vlan_supported

    def _links_of(self, network: dict[str, Any]) -> set[str]:
        links = {names.bridge_name(network["id"])}
        if network.get("network_type") == "vxlan" and network.get("segmentation_id"):
            links.add(names.vxlan_name(network["segmentation_id"]))
        if network.get("network_type") == "vlan" and network.get("segmentation_id"):
            links.add(names.vlan_name(network["segmentation_id"]))
        return links

    def _network(
        self, network: dict[str, Any], vtep: str | None, result: ReconcileResult
    ) -> set[str]:
        net_id = network["id"]
        kind = network.get("network_type")
        mtu = int(network.get("mtu") or DEFAULT_MTU)
        alias = names.owner_alias(self.host, net_id)
        bridge = names.bridge_name(net_id)
        if kind == "vlan" and not self.vlan_supported():
            raise NetworkSetupError(
                "vlan networks need 802.1Q (VLAN) support, which this host's kernel does not have"
            )
        if kind in ("flat", "vlan"):
            physnet = network.get("physical_network")
            physical = self.config.physical_interface_mappings.get(physnet or "")
            if physical is None:
                raise NetworkSetupError(
                    f"physical network {physnet!r} has no interface on this host "
                    "([network] physical_interface_mappings)"
                )
        elif kind == "vxlan":
            if not vtep:
                raise NetworkSetupError("vxlan network but this host has no VTEP address")
        else:
            raise NetworkSetupError(f"unknown network_type {kind!r}")
        if privileged.ensure_bridge(bridge, mtu, alias, self.netns):
            result.created.append(bridge)
        links = {bridge}
        if kind == "flat":
            privileged.enslave(physical, bridge, self.netns)
        elif kind == "vlan":
            name = names.vlan_name(network["segmentation_id"])
            if privileged.ensure_vlan(
                name, physical, int(network["segmentation_id"]), mtu, bridge, alias, self.netns
            ):
                result.created.append(name)
            links.add(name)
        else:
            name = names.vxlan_name(network["segmentation_id"])
            if privileged.ensure_vxlan(
                name,
                int(network["segmentation_id"]),
                vtep,
                self.config.vxlan_dev,
                self.config.vxlan_udp_port,
                mtu,
                bridge,
                alias,
                self.netns,
            ):
                result.created.append(name)
            links.add(name)
            self._fdb(name, network, vtep)
        return links

    def _fdb(self, dev: str, network: dict[str, Any], vtep: str) -> None:
        want = set()
        for remote in network.get("remote_vteps", []):
            if remote["ip"] == vtep:
                continue
            want.add((ZERO_MAC, remote["ip"]))
            want.update((str(mac).lower(), remote["ip"]) for mac in remote.get("macs", []))
        have = {tuple(e) for e in privileged.fdb_entries(dev, self.netns)}
        for mac, dst in sorted(have - want):
            privileged.fdb_delete(dev, mac, dst, self.netns)
        for mac, dst in sorted(want - have):
            privileged.fdb_add(dev, mac, dst, self.netns)

    def _stale_links(self, wanted: set[str]) -> list[str]:
        """This agent's devices that are not ``wanted``: segments first, then bridges
        (a flat network's physical interface is released by the bridge's deletion and
        stays on the host)."""
        links = privileged.list_links(self.netns)
        return [
            link["name"]
            for link in sorted(links, key=lambda item: item.get("kind") == "bridge")
            if (owner := names.parse_owner_alias(link.get("alias"))) is not None
            and owner[0] == self.host
            and link["name"] not in wanted
            and names.is_stratus_device(link["name"])
        ]

    def _remove_links(self, stale: list[str], result: ReconcileResult) -> None:
        for name in stale:
            if privileged.delete_link(name, self.netns):
                result.removed.append(name)

    # --- DHCP ----------------------------------------------------------------

    def _dhcp_wanted(self, network: dict[str, Any]) -> bool:
        return bool(
            network.get("dhcp")
            and dhcp.dhcp_subnets(network)
            and dhcp.dhcp_port(network, self.host) is not None
        )

    def _dhcp_root(self) -> str:
        return os.path.join(self.config.state_path, "dhcp")

    def _dhcp_dirs(self) -> set[str]:
        try:
            return set(os.listdir(self._dhcp_root()))
        except FileNotFoundError:
            return set()

    def _files(self, network_id: str) -> dhcp.DnsmasqFiles:
        return dhcp.DnsmasqFiles(os.path.join(self._dhcp_root(), network_id))

    def _dhcp(self, network: dict[str, Any], result: ReconcileResult) -> None:
        net_id = network["id"]
        port = dhcp.dhcp_port(network, self.host)
        assert port is not None
        namespace = names.dhcp_namespace(net_id)
        files = self._files(net_id)
        # dnsmasq drops to this process's user (dhcp.command's --user), which owns
        # these files: the state directories stay private.
        os.makedirs(files.directory, exist_ok=True)
        if privileged.ensure_namespace(namespace):
            result.created.append(namespace)
        ns_dev = names.ns_device_name(port["id"])
        for link in privileged.list_links(namespace):
            if link["name"].startswith(names.NS_DEVICE_PREFIX) and link["name"] != ns_dev:
                privileged.delete_link(link["name"], namespace)  # an older DHCP port
        privileged.plug_namespace_port(
            namespace,
            ns_dev,
            names.tap_name(port["id"]),
            names.bridge_name(net_id),
            str(port["mac_address"]).lower(),
            int(network.get("mtu") or DEFAULT_MTU),
            dhcp.interface_addresses(network, port)
            + ([metadata_proxy.METADATA_CIDR] if self.config.metadata_proxy else []),
            self.netns,
        )
        argv = dhcp.command(
            network,
            files,
            ns_dev,
            binary=self.config.dnsmasq_binary,
            lease=self.config.dhcp_lease_duration,
            user=pwd.getpwuid(os.geteuid()).pw_name,
        )
        changed = _write(files.hosts, dhcp.hosts_file(network))
        changed |= _write(
            files.opts,
            dhcp.opts_file(
                network,
                self.config.dns_servers,
                metadata_port=port if self.config.metadata_proxy else None,
            ),
        )
        self._metadata_proxy(network, files, result)
        same_command = _write(files.cmdline, json.dumps(argv) + "\n") is False
        running = privileged.process_running(files.pid)
        if running and same_command:
            if changed and privileged.signal_dnsmasq(files.pid, int(signal.SIGHUP)):
                result.reloaded.append(f"dnsmasq:{net_id}")
            return
        if running:
            self._stop_dnsmasq(files)
        privileged.start_dnsmasq(namespace, argv, files.pid)
        result.created.append(f"dnsmasq:{net_id}")

    def _metadata_proxy(
        self, network: dict[str, Any], files: dhcp.DnsmasqFiles, result: ReconcileResult
    ) -> None:
        """The network's metadata proxy: its file (address -> instance, the service's
        URL and the secret; the proxy re-reads it when it changes) and its process,
        started when it is not running; stopped when no proxy is configured."""
        config = os.path.join(files.directory, metadata_proxy.CONFIG_NAME)
        pid_file = os.path.join(files.directory, metadata_proxy.PID_NAME)
        if not self.config.metadata_proxy:
            self._stop_metadata_proxy(files, result)
            return
        document = metadata_proxy.config_document(
            network, str(self.config.metadata_url), self.config.metadata_secret
        )
        if _write(config, document, mode=0o600):
            result.reloaded.append(f"metadata-proxy-map:{network['id']}")
        if privileged.metadata_proxy_running(pid_file) is None:
            privileged.start_metadata_proxy(
                names.dhcp_namespace(network["id"]),
                config,
                pid_file,
                pwd.getpwuid(os.geteuid()).pw_name,
            )
            result.created.append(f"metadata-proxy:{network['id']}")

    def _stop_metadata_proxy(self, files: dhcp.DnsmasqFiles, result: ReconcileResult) -> None:
        pid_file = os.path.join(files.directory, metadata_proxy.PID_NAME)
        if privileged.stop_metadata_proxy(pid_file):
            result.removed.append(f"metadata-proxy:{os.path.basename(files.directory)}")
            deadline = time.monotonic() + 10
            while privileged.metadata_proxy_running(pid_file) and time.monotonic() < deadline:
                time.sleep(0.05)
        for name in (metadata_proxy.CONFIG_NAME, metadata_proxy.PID_NAME):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(files.directory, name))

    def _stop_dnsmasq(self, files: dhcp.DnsmasqFiles) -> None:
        privileged.stop_dnsmasq(files.pid)
        deadline = time.monotonic() + 10
        while privileged.process_running(files.pid) and time.monotonic() < deadline:
            time.sleep(0.05)

    def _remove_dhcp(self, stale: list[str], result: ReconcileResult) -> None:
        for net_id in stale:
            files = self._files(net_id)
            self._stop_metadata_proxy(files, result)
            if privileged.process_running(files.pid):
                self._stop_dnsmasq(files)
                result.removed.append(f"dnsmasq:{net_id}")
            if privileged.delete_namespace(names.dhcp_namespace(net_id)):
                result.removed.append(names.dhcp_namespace(net_id))
            shutil.rmtree(files.directory, ignore_errors=True)


def _write(path: str, content: str, mode: int = 0o644) -> bool:
    """Write ``content`` if it differs from the file's; True if written."""
    try:
        with open(path) as f:
            if f.read() == content:
                return False
    except FileNotFoundError:
        pass
    tmp = path + ".tmp"
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode), "w") as f:
        f.write(content)
    os.chmod(tmp, mode)
    os.replace(tmp, path)
    return True
