"""The network agent service of a host (``stratus-network-agent``): the RPC endpoint
that keeps the host's data plane (stratus.network.agent) at its desired state.

On start it reports the host's VTEP address and physical networks to the conductor,
fetches the host's whole desired state through it (network hosts hold no database
credentials) and reconciles. ``network_changed`` casts (fanout, from the Networking
API's service layer and the conductor) wake one worker thread that fetches and
reconciles again; casts that arrive while it works are coalesced into one more
round, so a burst of port changes costs at most two reconciles. A periodic resync
repairs what a lost cast or a failed round left behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import oslo_messaging as messaging

from stratus.network.agent import AgentConfig, NetworkAgent
from stratus.rpc.conductor_rpcapi import ConductorAPI

LOG = logging.getLogger(__name__)
BINARY = "stratus-network-agent"


@contextlib.contextmanager
def data_plane_lock(config: AgentConfig) -> Iterator[None]:
    """The host's data-plane lock (a file lock under ``state_path``), held by the
    compute while it sets up a network's bridge for a guest, and by the agent only
    to remove: from fetching the state that decides what is stale to the end of the
    removal. A removal can thus never act on a state fetched before a port was bound
    after the compute made that port's bridge: a state fetched under the lock after
    the bridge was made names it (the conductor binds the port before it hands the
    build over). Creating needs no lock (what any state names is wanted), so a
    guest's boot never waits for a reconcile that its own port set off."""
    os.makedirs(config.state_path, exist_ok=True)
    with open(os.path.join(config.state_path, "data-plane.lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def agent_state(state: dict[str, Any], dhcp: bool) -> dict[str, Any]:
    """The data plane's desired-state shape (stratus.network.agent) of the conductor's
    host state (stratus.network.api.host_state): ports carry their ``host``, DHCP is
    served where ``dhcp`` says, and a vxlan network's remote VTEPs carry the MACs of
    the ports bound behind them."""
    networks = []
    for network in state.get("networks", []):
        ports = [{**p, "host": p.get("binding_host_id") or None} for p in network["ports"]]
        remote = [
            {
                "ip": address,
                "macs": [p["mac_address"] for p in ports if p["host"] == peer],
            }
            for peer, address in sorted(network.get("vteps", {}).items())
            if address
        ]
        networks.append(
            {
                **network,
                "ports": ports,
                "remote_vteps": remote,
                "dhcp": dhcp and any(s.get("enable_dhcp") for s in network["subnets"]),
            }
        )
    return {
        "host": state["host"],
        "vtep_ip": state.get("vtep_address"),
        "networks": networks,
        "security_groups": state.get("security_groups") or {},
        "routers": state.get("routers") or [],
    }


class NetworkAgentManager:
    # The interface version of stratus.rpc.network_agent_rpcapi.NetworkAgentAPI.
    target = messaging.Target(version="1.0")

    def __init__(
        self,
        host: str,
        config: AgentConfig,
        dhcp: bool,
        conductor: ConductorAPI | None = None,
        netns: str | None = None,
    ) -> None:
        self.host = host
        self.config = config
        self.dhcp = dhcp
        self.conductor = conductor or ConductorAPI()
        self.agent = NetworkAgent(host, config, netns=netns)
        self._wanted = threading.Event()
        self._stopping = threading.Event()
        self._worker: threading.Thread | None = None
        self.rounds = 0

    def _ctxt(self) -> dict[str, Any]:
        return {"request_id": "", "host": self.host}

    # --- service life -----------------------------------------------------------------

    def register(self) -> int:
        """Report the host, reconcile once, start the worker; returns the service id."""
        service_id = self.conductor.service_register(
            self._ctxt(), host=self.host, binary=BINARY, topic="network_agent"
        )
        self.conductor.network_host_report(
            self._ctxt(),
            host=self.host,
            vtep_address=self.config.local_ip,
            physical_networks=sorted(self.config.physical_interface_mappings),
        )
        self.sync()
        self._worker = threading.Thread(target=self._work, daemon=True, name="reconcile")
        self._worker.start()
        return service_id

    def heartbeat(self, service_id: int) -> None:
        self.conductor.service_heartbeat(self._ctxt(), service_id=service_id)

    def stop(self) -> None:
        self._stopping.set()
        self._wanted.set()

    def resync(self) -> None:
        """The periodic full resync."""
        self._wanted.set()

    # --- reconciling ------------------------------------------------------------------

    def _desired(self) -> dict[str, Any]:
        state = self.conductor.network_host_state(self._ctxt(), host=self.host, dhcp=self.dhcp)
        return agent_state(state, self.dhcp)

    def sync(self) -> None:
        """Fetch this host's desired state and make the data plane match it: create
        and update without the data-plane lock; if that leaves something stale,
        fetch again under the lock and remove what that state leaves out."""
        started = time.monotonic()
        state = self._desired()
        result = self.agent.reconcile(state, prune=False)
        if result.stale:
            with data_plane_lock(self.config):
                state = self._desired()
                result = result.then(self.agent.reconcile(state))
        self.rounds += 1
        LOG.info(
            "reconciled %d network(s) in %.0f ms: created %s, removed %s, reloaded %s%s",
            len(state.get("networks", [])),
            (time.monotonic() - started) * 1000,
            result.created or "nothing",
            result.removed or "nothing",
            result.reloaded or "nothing",
            f", errors {result.errors}" if result.errors else "",
        )

    def _work(self) -> None:
        while not self._stopping.is_set():
            self._wanted.wait()
            if self._stopping.is_set():
                return
            self._wanted.clear()  # casts from now on ask for another round
            try:
                self.sync()
            except Exception:  # the next cast or resync tries again
                LOG.exception("reconcile failed")

    # --- RPC ----------------------------------------------------------------------------

    def network_changed(self, ctxt: dict, network_id: str) -> None:
        LOG.debug("network %s changed", network_id)
        self._wanted.set()
