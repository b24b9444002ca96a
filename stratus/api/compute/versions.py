"""Compute version discovery at /compute and /compute/v2.1."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from stratus.api.microversion import MAX_VERSION, MIN_VERSION
from stratus.api.urls import base_url

router = APIRouter()

_MEDIA = [
    {"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2.1"}
]


def _v21(base: str) -> dict[str, Any]:
    return {
        "id": "v2.1",
        "status": "CURRENT",
        "version": str(MAX_VERSION),
        "min_version": str(MIN_VERSION),
        "updated": "2013-07-23T11:33:21Z",
        "links": [
            {"rel": "self", "href": f"{base}/compute/v2.1/"},
            {"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"},
        ],
        "media-types": _MEDIA,
    }


def _v20(base: str) -> dict[str, Any]:
    """The legacy v2 API as Nova lists it: no microversions (empty version fields).
    Stratus answers its version document (clients then use v2.1 for resources)."""
    return {
        "id": "v2.0",
        "status": "SUPPORTED",
        "version": "",
        "min_version": "",
        "updated": "2011-01-21T11:33:21Z",
        "links": [
            {"rel": "self", "href": f"{base}/compute/v2/"},
            {"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"},
        ],
        "media-types": [
            {"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2"}
        ],
    }


def _listed(version: dict[str, Any]) -> dict[str, Any]:
    """A version as the list shows it: without its media types."""
    return {k: v for k, v in version.items() if k != "media-types"}


@router.get("/compute")
@router.get("/compute/")
def versions(request: Request) -> dict[str, Any]:
    base = base_url(request)
    return {"versions": [_listed(_v20(base)), _listed(_v21(base))]}


@router.get("/compute/v2")
@router.get("/compute/v2/")
def legacy_version(request: Request) -> dict[str, Any]:
    return {"version": _v20(base_url(request))}


@router.get("/compute/v2.1")
@router.get("/compute/v2.1/")
def version(request: Request) -> dict[str, Any]:
    return {"version": _v21(base_url(request))}
