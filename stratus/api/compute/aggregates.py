"""os-aggregates: host aggregates, their hosts and metadata, and availability zones.

Administrators only. A zone is the aggregate metadata ``availability_zone``; the
rules Nova applies to it hold however it is set (create, update, set_metadata,
add_host): it cannot be emptied, a host cannot end up in two zones, and the zone of
hosts that run instances cannot be changed.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from stratus.api import policy
from stratus.api.compute import common
from stratus.api.context import RequestContext, get_context
from stratus.api.errors import BadRequest, Conflict, NotFound
from stratus.api.policy import authorize
from stratus.conf import CONF
from stratus.db import aggregates as db_aggregates
from stratus.db import services as db_services
from stratus.db.models import Aggregate, Service, utcnow
from stratus.db.session import transaction

router = APIRouter(prefix=common.PREFIX)

RULE = "compute:aggregates:{}"
for _action, _what in (
    ("index", "List aggregates."),
    ("show", "Show an aggregate."),
    ("create", "Create an aggregate."),
    ("update", "Rename an aggregate or change its availability zone."),
    ("delete", "Delete an empty aggregate."),
    ("add_host", "Add a compute host to an aggregate."),
    ("remove_host", "Remove a host from an aggregate."),
    ("set_metadata", "Set or delete aggregate metadata."),
):
    policy.register(RULE.format(_action), policy.ADMIN_API, _what)

AZ_KEY = db_aggregates.AZ_KEY
_NAME_RE = re.compile(r"^(?!\s)[^\x00-\x1f\x7f]+(?<!\s)$")
_ZONE_RE = re.compile(r"^(?!\s)[^:\x00-\x1f\x7f]+(?<!\s)$")
_META_KEY_RE = re.compile(r"^[a-zA-Z0-9-_:. ]{1,255}$")


def _check_name(value: str) -> str:
    if not _NAME_RE.match(value):
        raise ValueError("must not start or end with whitespace or contain control characters")
    return value


def _check_zone(value: str | None) -> str | None:
    if value is not None and not _ZONE_RE.match(value):
        raise ValueError(
            "an availability zone must not contain ':', control characters, or "
            "leading or trailing whitespace"
        )
    return value


class AggregateCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=255)
    availability_zone: str | None = Field(default=None, min_length=1, max_length=255)

    _name = field_validator("name")(_check_name)
    _zone = field_validator("availability_zone")(_check_zone)


class AggregateUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=255)
    availability_zone: str | None = Field(default=None, min_length=1, max_length=255)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is None:
            raise ValueError("must be a string, not null")
        return _check_name(value)

    _zone = field_validator("availability_zone")(_check_zone)


class HostRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    host: str = Field(min_length=1, max_length=255)


class MetadataBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    metadata: dict[str, str | None]

    @field_validator("metadata")
    @classmethod
    def _items(cls, value: dict[str, str | None]) -> dict[str, str | None]:
        for key, item in value.items():
            if not _META_KEY_RE.match(key):
                raise ValueError(f"key {key!r} must be 1 to 255 letters, digits, spaces or '-_:.'")
            if item is not None and len(item) > 255:
                raise ValueError(f"the value of {key!r} is longer than 255 characters")
        if value.get(AZ_KEY) is not None:
            _check_zone(value[AZ_KEY])
        return value


class AggregateCreateRequest(BaseModel):
    """``POST /os-aggregates``."""

    model_config = ConfigDict(extra="forbid")
    aggregate: AggregateCreate


class AggregateUpdateRequest(BaseModel):
    """``PUT /os-aggregates/{id}``."""

    model_config = ConfigDict(extra="forbid")
    aggregate: AggregateUpdate


class AggregateActionRequest(BaseModel):
    """``POST /os-aggregates/{id}/action``: exactly one of the actions."""

    model_config = ConfigDict(extra="forbid")
    add_host: HostRef | None = None
    remove_host: HostRef | None = None
    set_metadata: MetadataBody | None = None

    @model_validator(mode="before")
    @classmethod
    def _one(cls, data: Any) -> Any:
        if not isinstance(data, dict) or len(data) != 1 or next(iter(data)) not in _ACTION_NAMES:
            raise ValueError(
                "the body must hold exactly one action: add_host, remove_host or set_metadata"
            )
        if next(iter(data.values())) is None:
            raise ValueError(f"'{next(iter(data))}' must be an object")
        return data


_ACTION_NAMES = ("add_host", "remove_host", "set_metadata")


def aggregate_view(
    context: RequestContext, aggregate: Aggregate, members: bool = True
) -> dict[str, Any]:
    """An aggregate as Nova shows it; the create response alone has no ``hosts`` and
    ``metadata`` (``members=False``)."""
    metadata = db_aggregates.metadata_of(aggregate)
    body: dict[str, Any] = {
        "id": aggregate.id,
        "name": aggregate.name,
        "availability_zone": metadata.get(AZ_KEY),
    }
    if members:
        body["hosts"] = db_aggregates.hosts_of(aggregate)
        body["metadata"] = metadata
    body.update(
        {
            "created_at": common.iso(aggregate.created_at),
            "updated_at": common.iso(aggregate.updated_at),
            "deleted": False,
            "deleted_at": None,
        }
    )
    if context.api_version >= "2.41":
        body["uuid"] = aggregate.uuid
    return body


def _get(session: Session, raw_id: str) -> Aggregate:
    """The aggregate with id ``raw_id``: a number that is not an integer is a 400 (as
    in Nova), one that names no aggregate (however large) a 404."""
    ident = common.db_id(raw_id, "id")
    aggregate = db_aggregates.get(session, ident) if ident is not None else None
    if aggregate is None:
        raise NotFound(f"Aggregate {raw_id} could not be found.")
    return aggregate


def _check_not_internal(zone: str) -> None:
    if zone == CONF.internal_service_availability_zone:
        raise BadRequest(f"The availability zone {zone!r} is reserved for internal services.")


def _check_zone_change(session: Session, aggregate: Aggregate, updates: dict[str, Any]) -> None:
    """Nova's is_safe_to_update_az for a change of the aggregate's own metadata."""
    if AZ_KEY not in updates:
        return
    zone = updates[AZ_KEY]
    if not zone:
        raise BadRequest(
            f"Aggregate {aggregate.name} does not support empty named availability zone."
        )
    _check_not_internal(zone)
    conflicts = db_aggregates.conflicting_zones(session, aggregate, zone)
    if conflicts:
        raise BadRequest(
            f"Cannot update aggregate {aggregate.id}: one or more hosts already in "
            f"availability zone(s) {conflicts}."
        )
    if zone != db_aggregates.zone_of(aggregate) and db_aggregates.instances_on_hosts(
        session, db_aggregates.hosts_of(aggregate)
    ):
        raise BadRequest(
            f"Cannot update aggregate {aggregate.id}: one or more hosts contain instances "
            "in this zone."
        )


def _flush_name(session: Session, name: str) -> None:
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(f"Aggregate {name} already exists.") from None


def _check_name_free(session: Session, name: str, aggregate: Aggregate | None = None) -> None:
    existing = db_aggregates.get_by_name(session, name)
    if existing is not None and existing is not aggregate:
        raise Conflict(f"Aggregate {name} already exists.")


@router.get("/os-aggregates")
def list_aggregates(context: RequestContext = Depends(get_context)) -> dict:
    authorize(RULE.format("index"), context, {})
    with transaction() as session:
        return {"aggregates": [aggregate_view(context, a) for a in db_aggregates.list_all(session)]}


@router.post("/os-aggregates")
def create_aggregate(
    body: AggregateCreateRequest, context: RequestContext = Depends(get_context)
) -> dict:
    authorize(RULE.format("create"), context, {})
    data = body.aggregate
    if data.availability_zone is not None:
        _check_not_internal(data.availability_zone)
    with transaction() as session:
        _check_name_free(session, data.name)
        try:
            aggregate = db_aggregates.create(session, data.name, data.availability_zone)
        except IntegrityError:
            raise Conflict(f"Aggregate {data.name} already exists.") from None
        return {"aggregate": aggregate_view(context, aggregate, members=False)}


@router.get("/os-aggregates/{aggregate_id}")
def show_aggregate(aggregate_id: str, context: RequestContext = Depends(get_context)) -> dict:
    authorize(RULE.format("show"), context, {})
    with transaction() as session:
        return {"aggregate": aggregate_view(context, _get(session, aggregate_id))}


@router.put("/os-aggregates/{aggregate_id}")
def update_aggregate(
    aggregate_id: str,
    body: AggregateUpdateRequest,
    context: RequestContext = Depends(get_context),
) -> dict:
    authorize(RULE.format("update"), context, {})
    updates = body.aggregate.model_dump(exclude_unset=True)
    if not updates:
        raise BadRequest("Send at least one of 'aggregate.name' or 'aggregate.availability_zone'.")
    with transaction() as session:
        aggregate = _get(session, aggregate_id)
        if "name" in updates and updates["name"] != aggregate.name:
            _check_name_free(session, updates["name"], aggregate)
            aggregate.name = updates["name"]
            _flush_name(session, updates["name"])
        if AZ_KEY in updates:
            _check_zone_change(session, aggregate, {AZ_KEY: updates[AZ_KEY]})
            db_aggregates.update_metadata(aggregate, {AZ_KEY: updates[AZ_KEY]})
        aggregate.updated_at = utcnow()
        session.flush()
        return {"aggregate": aggregate_view(context, aggregate)}


@router.delete("/os-aggregates/{aggregate_id}")
def delete_aggregate(aggregate_id: str, context: RequestContext = Depends(get_context)) -> Response:
    authorize(RULE.format("delete"), context, {})
    with transaction() as session:
        aggregate = _get(session, aggregate_id)
        if aggregate.hosts:
            raise BadRequest(
                f"Cannot delete aggregate {aggregate.id}: host aggregate is not empty "
                f"(hosts: {', '.join(db_aggregates.hosts_of(aggregate))})."
            )
        db_aggregates.delete(session, aggregate)
    return Response(status_code=200)


# --- actions ----------------------------------------------------------------------------


def _compute_service(session: Session, host: str) -> Service | None:
    for service in db_services.list_services(session, host, db_services.COMPUTE_BINARY):
        # The comparison is exact even where the database collation is not.
        if service.host == host:
            return service
    return None


def _add_host(session: Session, aggregate: Aggregate, payload: HostRef) -> None:
    host = payload.host
    if _compute_service(session, host) is None:
        raise NotFound(f"Compute host {host} could not be found.")
    if host in db_aggregates.hosts_of(aggregate):
        raise Conflict(f"Aggregate {aggregate.id} already has host {host}.")
    zone = db_aggregates.zone_of(aggregate)
    if zone is not None:
        conflicts = db_aggregates.conflicting_zones(session, aggregate, zone, [host])
        if conflicts:
            raise Conflict(
                f"Cannot add host {host} to aggregate {aggregate.id}: the host is already "
                f"in availability zone(s) {conflicts}."
            )
    db_aggregates.add_host(aggregate, host)


def _remove_host(session: Session, aggregate: Aggregate, payload: HostRef) -> None:
    # Unlike add_host, a member whose compute service has been deleted can still be
    # removed, so that an aggregate never keeps a host nobody can take out.
    host = payload.host
    if not db_aggregates.remove_host(aggregate, host):
        raise NotFound(
            f"Cannot remove host {host} in aggregate {aggregate.id}: the host is not a member."
        )


def _set_metadata(session: Session, aggregate: Aggregate, payload: MetadataBody) -> None:
    updates = payload.metadata
    _check_zone_change(session, aggregate, updates)
    db_aggregates.update_metadata(aggregate, updates)
    aggregate.updated_at = utcnow()


_ACTIONS = {"add_host": _add_host, "remove_host": _remove_host, "set_metadata": _set_metadata}


@router.post("/os-aggregates/{aggregate_id}/action")
def aggregate_action(
    aggregate_id: str,
    body: AggregateActionRequest,
    context: RequestContext = Depends(get_context),
) -> dict:
    action = next(iter(body.model_fields_set))
    authorize(RULE.format(action), context, {})
    with transaction() as session:
        aggregate = _get(session, aggregate_id)
        _ACTIONS[action](session, aggregate, getattr(body, action))
        session.flush()
        return {"aggregate": aggregate_view(context, aggregate)}
