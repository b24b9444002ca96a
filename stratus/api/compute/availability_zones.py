"""os-availability-zone and its detail."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from stratus.api.compute import common
from stratus.api.context import RequestContext, get_context
from stratus.api.policy import authorize
from stratus.conf import CONF
from stratus.db import services as db_services
from stratus.db.session import transaction

router = APIRouter(prefix=common.PREFIX)

LIST_RULE = "compute:availability_zones:list"
DETAIL_RULE = "compute:availability_zones:detail"


def _zones(with_internal: bool) -> dict[str, dict[str, dict[str, Any]]]:
    """zone -> host -> binary -> state, for enabled services."""
    zones: dict[str, dict[str, dict[str, Any]]] = {}
    with transaction() as session:
        host_zones = db_services.host_zones(session)
        for service in db_services.list_services(session):
            zone = db_services.zone_of(service, host_zones)
            if zone == CONF.internal_service_availability_zone and not with_internal:
                continue
            for name in zone.split(","):
                zones.setdefault(name, {}).setdefault(service.host, {})[service.binary] = {
                    "available": db_services.is_up(service) and not service.disabled,
                    "active": not service.disabled,
                    "updated_at": common.iso(service.updated_at or service.created_at),
                }
    return zones


@router.get("/os-availability-zone")
def list_zones(context: RequestContext = Depends(get_context)) -> dict:
    authorize(LIST_RULE, context, {})
    return {
        "availabilityZoneInfo": [
            {
                "zoneName": name,
                "zoneState": {
                    "available": any(s["available"] for h in hosts.values() for s in h.values())
                },
                "hosts": None,
            }
            for name, hosts in sorted(_zones(with_internal=False).items())
        ]
    }


@router.get("/os-availability-zone/detail")
def detail_zones(context: RequestContext = Depends(get_context)) -> dict:
    authorize(DETAIL_RULE, context, {})
    return {
        "availabilityZoneInfo": [
            {
                "zoneName": name,
                "zoneState": {
                    "available": any(s["available"] for h in hosts.values() for s in h.values())
                },
                "hosts": hosts,
            }
            for name, hosts in sorted(_zones(with_internal=True).items())
        ]
    }
