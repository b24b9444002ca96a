"""Client of stratus-conductor (topic ``conductor``): the API asks it to build, and
compute nodes use it as their database proxy (they hold no database credentials)."""

from __future__ import annotations

from typing import Any

from stratus.rpc import RPCAPI

TOPIC = "conductor"
# "No expectation" for instance_update's expected states (None is a real state).
ANY = "<any>"


def _admin_pass(admin_pass: str | None) -> dict:
    """The arguments a build call adds for ``admin_pass``: none without one (the
    call stays at 1.0), else the password at 1.2."""
    return {"version": "1.2", "admin_pass": admin_pass} if admin_pass else {}


class ConductorAPI(RPCAPI):
    """Version history:

    * 1.0 - build_instances (with the request spec), build_failed; the database
      proxy: service_register, service_heartbeat, compute_node_update,
      instance_get, instances_on_host, instance_update (with an optional action
      event), instance_destroyed, action_event, instance_fault
    * 1.1 - the network hosts' proxy: network_host_report, network_host_state,
      ports_plugged
    * 1.2 - build_instances and build_failed: optional admin_pass (sent at 1.2
      only when given, so a build without one still reaches a 1.0 conductor)
    """

    TOPIC = TOPIC
    VERSION = "1.2"

    # --- builds ---------------------------------------------------------------------------

    def build_instances(
        self, ctxt: dict, instance_uuids: list[str], spec: dict, admin_pass: str | None = None
    ) -> None:
        """Schedule and build the instances that the API recorded with request spec
        ``spec`` (sent along, so the conductor need not read it back); ``admin_pass``
        travels beside the spec, never in it (the spec is stored)."""
        self._cast(
            ctxt,
            "build_instances",
            instance_uuids=instance_uuids,
            spec=spec,
            **_admin_pass(admin_pass),
        )

    def build_failed(
        self,
        ctxt: dict,
        instance_uuid: str,
        host: str,
        alternates: list[dict],
        attempt: int,
        message: str,
        details: str = "",
        admin_pass: str | None = None,
    ) -> None:
        """``host`` could not build: reschedule to an alternate (with the build's
        ``admin_pass``) or fail the instance."""
        self._cast(
            ctxt,
            "build_failed",
            instance_uuid=instance_uuid,
            host=host,
            alternates=alternates,
            attempt=attempt,
            message=message,
            details=details,
            **_admin_pass(admin_pass),
        )

    # --- the database proxy for compute nodes ---------------------------------------------

    def service_register(self, ctxt: dict, host: str, binary: str, topic: str) -> int:
        return self._call(ctxt, "service_register", host=host, binary=binary, topic=topic)

    def service_heartbeat(self, ctxt: dict, service_id: int) -> None:
        self._call(ctxt, "service_heartbeat", service_id=service_id)

    def compute_node_update(self, ctxt: dict, service_id: int, node: dict) -> str:
        return self._call(ctxt, "compute_node_update", service_id=service_id, node=node)

    def instance_get(self, ctxt: dict, instance_uuid: str) -> dict | None:
        return self._call(ctxt, "instance_get", instance_uuid=instance_uuid)

    def instances_on_host(self, ctxt: dict, host: str) -> list[dict]:
        return self._call(ctxt, "instances_on_host", host=host)

    def instance_update(
        self,
        ctxt: dict,
        instance_uuid: str,
        values: dict,
        expected_task_state: Any = ANY,
        expected_vm_state: Any = ANY,
        event: dict | None = None,
    ) -> bool:
        """Apply a state change if the instance is in the expected states."""
        return self._call(
            ctxt,
            "instance_update",
            instance_uuid=instance_uuid,
            values=values,
            expected_task_state=expected_task_state,
            expected_vm_state=expected_vm_state,
            event=event,
        )

    def instance_destroyed(self, ctxt: dict, instance_uuid: str) -> None:
        self._call(ctxt, "instance_destroyed", instance_uuid=instance_uuid)

    def action_event(
        self,
        ctxt: dict,
        instance_uuid: str,
        event: str,
        host: str,
        result: str | None = None,
        details: str | None = None,
    ) -> None:
        self._call(
            ctxt,
            "action_event",
            instance_uuid=instance_uuid,
            event=event,
            host=host,
            result=result,
            details=details,
        )

    def instance_fault(
        self, ctxt: dict, instance_uuid: str, code: int, message: str, details: str, host: str
    ) -> None:
        self._call(
            ctxt,
            "instance_fault",
            instance_uuid=instance_uuid,
            code=code,
            message=message,
            details=details,
            host=host,
        )

    # --- the network hosts' proxy (agents and computes hold no database credentials) ------

    def network_host_report(
        self, ctxt: dict, host: str, vtep_address: str | None, physical_networks: list[str]
    ) -> None:
        """A network agent starts: record its VTEP address and physical networks."""
        self._call(
            ctxt,
            "network_host_report",
            version="1.1",
            host=host,
            vtep_address=vtep_address,
            physical_networks=physical_networks,
        )

    def network_host_state(self, ctxt: dict, host: str, dhcp: bool) -> dict:
        """The desired data-plane state of ``host`` (see stratus.network.api.host_state)."""
        return self._call(ctxt, "network_host_state", version="1.1", host=host, dhcp=dhcp)

    def ports_plugged(self, ctxt: dict, port_ids: list[str], status: str) -> None:
        """A compute plugged (ACTIVE) or unplugged (DOWN) these ports."""
        self._call(ctxt, "ports_plugged", version="1.1", port_ids=port_ids, status=status)
