"""Compute API microversions: negotiation from the request headers.

``MAX_VERSION`` is the highest microversion whose behaviour Stratus implements for
every Compute resource it serves.

The version is taken from the request headers by ``microversion_parse`` (as Nova
and Placement do): ``OpenStack-API-Version: compute X.Y`` first, then the legacy
``X-OpenStack-Nova-API-Version``. As in Nova, the value itself is checked here
against the strict ``X.Y`` form, so ``+2.5`` or ``2 . 5`` stay malformed (400).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering

import microversion_parse

from stratus.api.errors import BadRequest, NotAcceptable


@total_ordering
@dataclass(frozen=True)
class APIVersion:
    major: int
    minor: int

    @classmethod
    def parse(cls, text: str) -> APIVersion:
        match = re.fullmatch(r"\s*(\d+)\.(\d+)\s*", text)
        if not match:
            raise BadRequest(
                f"Invalid microversion '{text}': use the form 'X.Y' (e.g. 2.61) or 'latest'."
            )
        return cls(int(match.group(1)), int(match.group(2)))

    def __lt__(self, other: object) -> bool:
        if isinstance(other, str):
            other = APIVersion.parse(other)
        if not isinstance(other, APIVersion):
            return NotImplemented
        return (self.major, self.minor) < (other.major, other.minor)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            other = APIVersion.parse(other)
        if not isinstance(other, APIVersion):
            return NotImplemented
        return (self.major, self.minor) == (other.major, other.minor)

    def __hash__(self) -> int:
        return hash((self.major, self.minor))

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"


MIN_VERSION = APIVersion(2, 1)
MAX_VERSION = APIVersion(2, 100)

SERVICE = "compute"
HEADER = "openstack-api-version"
LEGACY_HEADER = "x-openstack-nova-api-version"
VARY = "OpenStack-API-Version, X-OpenStack-Nova-API-Version"


def requested_text(headers: dict[str, str]) -> str | None:
    """The microversion a request asks for, from either header (the new one wins)."""
    return microversion_parse.get_version(headers, SERVICE, legacy_headers=[LEGACY_HEADER])


def negotiate(headers: dict[str, str]) -> APIVersion:
    text = requested_text(headers)
    if not text:
        return MIN_VERSION
    if text.strip().lower() == "latest":
        return MAX_VERSION
    version = APIVersion.parse(text)
    if not MIN_VERSION <= version <= MAX_VERSION:
        raise NotAcceptable(
            f"Version {version} is not supported by the API. "
            f"Minimum is {MIN_VERSION} and maximum is {MAX_VERSION}."
        )
    return version


def response_headers(version: APIVersion) -> list[tuple[bytes, bytes]]:
    return [
        (b"openstack-api-version", f"{SERVICE} {version}".encode()),
        (b"x-openstack-nova-api-version", str(version).encode()),
        (b"vary", VARY.encode()),
    ]
