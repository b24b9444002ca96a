"""Domain errors. Each carries a message a person can act on; the API maps the
classes to OpenStack's HTTP error shapes (``stratus/api/errors.py``)."""

from __future__ import annotations


class StratusException(Exception):
    """Base of the domain errors."""

    msg = "An unknown error occurred."

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.msg
        super().__init__(self.message)


class Invalid(StratusException):
    """The request cannot be carried out as asked (bad or unknown input)."""


class Forbidden(StratusException):
    """The caller may not do this."""


class OverQuota(StratusException):
    """A quota would be exceeded."""


class QuotaExceeded(OverQuota):
    """``resource``'s quota would be exceeded: ``requested`` more, ``used`` of ``limit``."""

    def __init__(self, resource: str, requested: int, used: int, limit: int) -> None:
        super().__init__(
            f"Quota exceeded for {resource}: requested {requested}, but already used "
            f"{used} of {limit} {resource}."
        )
        self.resource, self.requested, self.used, self.limit = resource, requested, used, limit


class NotFound(StratusException):
    """A resource does not exist (or the caller may not see it)."""


class InstanceNotFound(NotFound):
    def __init__(self, instance_id: str) -> None:
        super().__init__(f"Instance {instance_id} could not be found.")
        self.instance_id = instance_id


class Conflict(StratusException):
    """The resource's current state does not allow the request."""


class InstanceInvalidState(Conflict):
    """An action may not start from the instance's vm_state and task_state."""

    def __init__(
        self, instance_uuid: str, action: str, vm_state: str, task_state: str | None
    ) -> None:
        super().__init__(
            f"Cannot '{action}' instance {instance_uuid} while it is in vm_state {vm_state}"
            + (f" and task_state {task_state}" if task_state else "")
            + "."
        )
        self.instance_uuid, self.action = instance_uuid, action
        self.vm_state, self.task_state = vm_state, task_state


class UnexpectedState(Conflict):
    """The instance is gone or not in the state the change expected."""


class InstanceLocked(Conflict):
    def __init__(self, instance_uuid: str) -> None:
        super().__init__(f"Instance {instance_uuid} is locked.")
        self.instance_uuid = instance_uuid


class OverLimit(StratusException):
    msg = "A limit on the number of items was reached."
