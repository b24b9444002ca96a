"""Flavor queries."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from stratus.db.models import Flavor, FlavorExtraSpec, FlavorProject

SORT_KEYS = (
    "created_at",
    "description",
    "disabled",
    "ephemeral_gb",
    "flavorid",
    "id",
    "is_public",
    "memory_mb",
    "name",
    "root_gb",
    "rxtx_factor",
    "swap",
    "updated_at",
    "vcpus",
)


def get(session: Session, flavorid: str) -> Flavor | None:
    return session.scalar(sa.select(Flavor).where(Flavor.flavorid == flavorid))


def visible(flavor: Flavor, project_id: str | None, is_admin: bool) -> bool:
    return is_admin or flavor.is_public or any(p.project_id == project_id for p in flavor.projects)


class FlavorRecord:
    """A flavor read for listing: plain attributes (no ORM state), specs as a dict."""

    def __init__(self, row: dict, extra_specs: dict[str, str]) -> None:
        self.__dict__.update(row)
        self.extra_specs = extra_specs


def query(
    session: Session,
    *,
    is_public: bool | None,
    project_id: str | None,
    min_ram: int | None = None,
    min_disk: int | None = None,
    include_disabled: bool = True,
    sort_key: str = "flavorid",
    sort_dir: str = "asc",
    marker: Flavor | None = None,
    limit: int | None = None,
    with_specs: bool = True,
) -> list[FlavorRecord]:
    """Flavors as Nova lists them: ``is_public=True`` means public ones plus the
    private ones ``project_id`` has access to; ``None`` means all."""
    # Timestamps are not shown and are costly to parse for a thousand rows.
    shown = [c for c in Flavor.__table__.columns if c.name not in ("created_at", "updated_at")]
    stmt = sa.select(*shown)
    if is_public is not None:
        access = sa.select(FlavorProject.flavor_id).where(FlavorProject.project_id == project_id)
        if is_public:
            stmt = stmt.where(sa.or_(Flavor.is_public.is_(True), Flavor.id.in_(access)))
        else:
            stmt = stmt.where(Flavor.is_public.is_(False))
    if min_ram is not None:
        stmt = stmt.where(Flavor.memory_mb >= min_ram)
    if min_disk is not None:
        stmt = stmt.where(Flavor.root_gb >= min_disk)
    if not include_disabled:
        stmt = stmt.where(Flavor.disabled.is_(False))
    column = getattr(Flavor, sort_key)
    order = column.desc() if sort_dir == "desc" else column.asc()
    tiebreak = Flavor.id.desc() if sort_dir == "desc" else Flavor.id.asc()
    if marker is not None:
        marker_value = getattr(marker, sort_key)
        after = column < marker_value if sort_dir == "desc" else column > marker_value
        same = sa.and_(
            column == marker_value,
            Flavor.id < marker.id if sort_dir == "desc" else Flavor.id > marker.id,
        )
        stmt = stmt.where(sa.or_(after, same))
    stmt = stmt.order_by(order, tiebreak)
    if limit is not None:
        stmt = stmt.limit(limit)
    rows = session.execute(stmt).mappings().all()
    specs: dict[int, dict[str, str]] = {row["id"]: {} for row in rows}
    if with_specs and rows:
        for flavor_id, key, value in session.execute(
            sa.select(FlavorExtraSpec.flavor_id, FlavorExtraSpec.key, FlavorExtraSpec.value).where(
                FlavorExtraSpec.flavor_id.in_(specs)
            )
        ):
            specs[flavor_id][key] = value
    return [FlavorRecord(dict(row), specs[row["id"]]) for row in rows]
