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


@router.get("/compute")
@router.get("/compute/")
def versions(request: Request) -> dict[str, Any]:
    base = base_url(request)
    v20 = {
        "id": "v2.0",
        "status": "DEPRECATED",
        "version": "",
        "min_version": "",
        "updated": "2025-07-04T12:00:00Z",
        "links": [{"rel": "self", "href": f"{base}/compute/v2/"}],
    }
    return {"versions": [v20, {k: v for k, v in _v21(base).items() if k != "media-types"}]}


@router.get("/compute/v2.1")
@router.get("/compute/v2.1/")
def version(request: Request) -> dict[str, Any]:
    return {"version": _v21(base_url(request))}
