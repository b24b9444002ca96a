"""Client of a stratus-compute service (topic ``compute``, server = its host)."""

from __future__ import annotations

from stratus.rpc import RPCAPI

TOPIC = "compute"


class ComputeAPI(RPCAPI):
    """The calls the API and the conductor make to one compute host.

    Version history:

    * 1.0 - build_and_run_instance, terminate_instance, run_action,
      get_console_output
    * 1.1 - get_diagnostics
    * 1.2 - attach_interface, detach_interface
    * 1.3 - build_and_run_instance: optional admin_pass (sent at 1.3 only when
      given, so a build without one still reaches a 1.0 host)
    """

    TOPIC = TOPIC
    VERSION = "1.3"

    def build_and_run_instance(
        self,
        ctxt: dict,
        host: str,
        instance: dict,
        alternates: list[dict],
        attempt: int,
        image_url: str | None,
        admin_pass: str | None = None,
    ) -> None:
        """Spawn ``instance`` (the conductor's view, with its ``images`` to fetch);
        on failure the host casts ``build_failed`` back with the ``alternates``.
        ``admin_pass``, the server's administrative password, goes to its config
        drive only (never stored)."""
        extra: dict = {"version": "1.3", "admin_pass": admin_pass} if admin_pass else {}
        self._cast(
            ctxt,
            "build_and_run_instance",
            server=host,
            instance=instance,
            alternates=alternates,
            attempt=attempt,
            image_url=image_url,
            **extra,
        )

    def terminate_instance(self, ctxt: dict, host: str, instance_uuid: str) -> None:
        self._cast(ctxt, "terminate_instance", server=host, instance_uuid=instance_uuid)

    def run_action(self, ctxt: dict, host: str, instance_uuid: str, action: str) -> None:
        """Carry out a power action of ``stratus.compute.states.TRANSITIONS``."""
        self._cast(ctxt, "run_action", server=host, instance_uuid=instance_uuid, action=action)

    def get_console_output(
        self, ctxt: dict, host: str, instance_uuid: str, length: int | None
    ) -> str:
        return self._call(
            ctxt, "get_console_output", server=host, instance_uuid=instance_uuid, length=length
        )

    def get_diagnostics(self, ctxt: dict, host: str, instance_uuid: str) -> dict | None:
        """The guest's diagnostics in Nova's standard (2.48) form; None if the host's
        hypervisor has no such guest."""
        return self._call(
            ctxt, "get_diagnostics", server=host, version="1.1", instance_uuid=instance_uuid
        )

    def attach_interface(self, ctxt: dict, host: str, instance_uuid: str, vif: dict) -> None:
        """Plug ``vif`` (its port bound to ``host``) into the running or stopped guest."""
        self._call(
            ctxt,
            "attach_interface",
            server=host,
            version="1.2",
            instance_uuid=instance_uuid,
            vif=vif,
        )

    def detach_interface(self, ctxt: dict, host: str, instance_uuid: str, vif: dict) -> None:
        self._call(
            ctxt,
            "detach_interface",
            server=host,
            version="1.2",
            instance_uuid=instance_uuid,
            vif=vif,
        )
