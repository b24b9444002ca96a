"""Domain errors of the Networking service. Each names the Neutron error type the
API shows (``{"NeutronError": {"type": ..., "message": ..., "detail": ""}}``)."""

from __future__ import annotations

from stratus import exception


class NetworkError(exception.StratusException):
    """Mixin base: ``neutron_type`` is the ``type`` the API reports."""

    neutron_type = "NeutronError"


class InvalidInput(NetworkError, exception.Invalid):
    """400: a request field is malformed or inconsistent; the message names it."""

    neutron_type = "InvalidInput"

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"Invalid input for {field}. Reason: {reason}")
        self.field = field


class NotFound(NetworkError, exception.NotFound):
    neutron_type = "NotFound"

    def __init__(self, kind: str, resource_id: str) -> None:
        super().__init__(f"{kind} {resource_id} could not be found.")
        self.neutron_type = kind.replace(" ", "") + "NotFound"


class Conflict(NetworkError, exception.Conflict):
    """409 with the Neutron type given."""

    def __init__(self, neutron_type: str, message: str) -> None:
        super().__init__(message)
        self.neutron_type = neutron_type


class IpAddressGenerationFailure(Conflict):
    def __init__(self, network_id: str) -> None:
        super().__init__(
            "IpAddressGenerationFailure",
            f"No more IP addresses available on network {network_id}.",
        )


class IpAddressAlreadyAllocated(Conflict):
    def __init__(self, ip_address: str, subnet_id: str) -> None:
        super().__init__(
            "IpAddressAlreadyAllocated",
            f"IP address {ip_address} already allocated in subnet {subnet_id}",
        )


class OverQuota(Conflict):
    """Neutron answers an exceeded quota with 409 ``OverQuota``."""

    def __init__(self, resource: str, limit: int) -> None:
        super().__init__(
            "OverQuota", f"Quota exceeded for resources: ['{resource}'] (limit {limit})."
        )
        self.resource, self.limit = resource, limit


class PolicyNotAuthorized(NetworkError, exception.Forbidden):
    neutron_type = "PolicyNotAuthorized"
