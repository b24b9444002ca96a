# Copyright: Stratus contributors
# Apache License 2.0 (see pyproject.toml at the root of the Stratus repository)
"""The errors of the Stratus Ansible modules' shared code.

Every failure a module reports is a ``StratusError``: ``StratusModule.execute``
turns it into ``fail_json`` with its ``message`` as ``msg`` and its ``extra`` beside
it. The configuration (``stratus_config``), the HTTP connection (``stratus_http``)
and the module base (``stratus_module``) raise the subclasses below.
"""

from __future__ import annotations


class StratusError(Exception):
    """A failure the module reports with ``fail_json``: ``message`` says what and why;
    ``extra`` is returned beside it (e.g. the resource as it was left)."""

    def __init__(self, message: str, **extra) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra


class StratusAPIError(StratusError):
    """The API answered with an error status."""

    def __init__(self, message: str, status: int, api_message: str, **extra) -> None:
        super().__init__(message, **extra)
        self.status = status
        self.api_message = api_message


class StratusConfigError(StratusError):
    """The credentials or cloud configuration are missing or wrong."""


class StratusTimeout(StratusError):
    """A wait ran out of time."""
