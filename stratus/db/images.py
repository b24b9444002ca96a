"""Image queries: lookups, visibility, listing with filters and keyset paging, and
the conditional status changes that keep two uploads from racing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, object_session

from stratus.db.models import Image, ImageMember, ImageProperty, ImageTag, utcnow

#: Columns a list may be sorted by (Glance's set).
SORT_KEYS: tuple[str, ...] = (
    "name",
    "status",
    "container_format",
    "disk_format",
    "size",
    "id",
    "created_at",
    "updated_at",
)


def get(session: Session, image_id: str) -> Image | None:
    return session.get(Image, image_id)


def visible(image: Image, project_id: str | None, is_admin: bool) -> bool:
    """Whether a caller may see ``image`` at all (show, download): admins, the owner,
    anyone for public and community images, and the members (whatever their status)
    of a shared image."""
    if is_admin or image.visibility in ("public", "community"):
        return True
    if project_id is None:
        return False
    if image.owner == project_id:
        return True
    session = object_session(image)
    return (
        image.visibility == "shared"
        and session is not None
        and get_member(session, image.id, project_id) is not None
    )


# --- members ---------------------------------------------------------------------------


def get_member(session: Session, image_id: str, member_id: str) -> ImageMember | None:
    return session.get(ImageMember, (image_id, member_id))


def list_members(
    session: Session, image_id: str, member_id: str | None = None
) -> list[ImageMember]:
    """The members of ``image_id`` (only ``member_id``'s entry when given)."""
    stmt = sa.select(ImageMember).where(ImageMember.image_id == image_id)
    if member_id is not None:
        stmt = stmt.where(ImageMember.member_id == member_id)
    return list(session.scalars(stmt.order_by(ImageMember.created_at, ImageMember.member_id)))


def count_members(session: Session, image_id: str) -> int:
    stmt = sa.select(sa.func.count()).where(ImageMember.image_id == image_id)
    return int(session.scalar(stmt) or 0)


def add_member(session: Session, image_id: str, member_id: str) -> ImageMember:
    """Add a pending member (flushed; IntegrityError if it is already one)."""
    member = ImageMember(image_id=image_id, member_id=member_id, status="pending")
    session.add(member)
    session.flush()
    return member


def delete_member(session: Session, member: ImageMember) -> None:
    session.delete(member)
    session.flush()


def boot_meta(image: Image) -> dict[str, Any]:
    """What booting from ``image`` needs to know of it: the API records this in the
    server's request spec and compute nodes fetch and check the image by it."""
    return {
        "id": image.id,
        "name": image.name,
        "disk_format": image.disk_format,
        "container_format": image.container_format,
        "size": image.size,
        "checksum": image.checksum,
        "os_hash_algo": image.os_hash_algo,
        "os_hash_value": image.os_hash_value,
        "min_disk": image.min_disk,
        "min_ram": image.min_ram,
        "properties": {p.name: p.value for p in image.properties},
    }


def create(
    session: Session,
    values: dict[str, Any],
    properties: dict[str, str],
    tags: Iterable[str],
) -> Image:
    """Add an image row with its properties and tags (flushed, not committed)."""
    image = Image(**values)
    image.properties = [ImageProperty(name=k, value=v) for k, v in properties.items()]
    image.tags = [ImageTag(value=t) for t in dict.fromkeys(tags)]
    session.add(image)
    session.flush()
    return image


def _flush_removals(image: Image) -> None:
    # Delete before insert: a name may come back in another letter case, which
    # MariaDB's collation takes for the same key.
    session = object_session(image)
    if session is not None:
        session.flush()


def set_properties(image: Image, properties: dict[str, str]) -> None:
    """Make ``image``'s extra properties exactly ``properties``."""
    current = {p.name: p for p in image.properties}
    for name, prop in current.items():
        if name not in properties:
            image.properties.remove(prop)
    if set(current) - set(properties):
        _flush_removals(image)
    for name, value in properties.items():
        if name in current:
            current[name].value = value
        else:
            image.properties.append(ImageProperty(name=name, value=value))


def set_tags(image: Image, tags: Iterable[str]) -> None:
    """Make ``image``'s tags exactly ``tags`` (duplicates dropped)."""
    wanted = list(dict.fromkeys(tags))
    current = {t.value: t for t in image.tags}
    for value, tag in current.items():
        if value not in wanted:
            image.tags.remove(tag)
    if set(current) - set(wanted):
        _flush_removals(image)
    for value in wanted:
        if value not in current:
            image.tags.append(ImageTag(value=value))


def touch(image: Image) -> None:
    """Record a change that did not touch the images row itself (tags, properties)."""
    image.updated_at = utcnow()


def change_status(
    session: Session,
    image_id: str,
    expected: str | Sequence[str],
    status: str,
    **values: Any,
) -> bool:
    """``UPDATE images SET status=... WHERE id=... AND status IN expected``.

    True if the row changed: the caller won the race for the transition.
    """
    allowed = [expected] if isinstance(expected, str) else list(expected)
    result = session.execute(
        sa.update(Image)
        .where(Image.id == image_id, Image.status.in_(allowed))
        .values(status=status, updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def delete(session: Session, image: Image) -> None:
    session.execute(sa.delete(ImageMember).where(ImageMember.image_id == image.id))
    session.delete(image)
    session.flush()


# --- listing -------------------------------------------------------------------------


@dataclass
class Filters:
    """What a list asks for; every field is optional."""

    visibility: str | None = None
    #: Which shared images a member lists: those it accepted (the default),
    #: pending, rejected or all.
    member_status: str = "accepted"
    exact: dict[str, Any] = field(default_factory=dict)
    one_of: dict[str, list[str]] = field(default_factory=dict)
    size_min: int | None = None
    size_max: int | None = None
    tags: list[str] = field(default_factory=list)
    properties: dict[str, str] = field(default_factory=dict)
    os_hidden: bool | None = False
    times: list[tuple[str, str, dt.datetime]] = field(default_factory=list)


_COMPARE = {
    "eq": lambda c, v: c == v,
    "neq": lambda c, v: c != v,
    "gt": lambda c, v: c > v,
    "gte": lambda c, v: c >= v,
    "lt": lambda c, v: c < v,
    "lte": lambda c, v: c <= v,
}

TIME_OPERATORS: tuple[str, ...] = tuple(_COMPARE)


def _scope(stmt: sa.Select, filters: Filters, project_id: str | None, is_admin: bool) -> sa.Select:
    owned = Image.owner == project_id if project_id is not None else sa.false()
    vis = filters.visibility
    if is_admin:
        if vis not in (None, "all"):
            stmt = stmt.where(Image.visibility == vis)
        return stmt
    membership = sa.select(ImageMember.image_id).where(ImageMember.member_id == project_id)
    if filters.member_status != "all":
        membership = membership.where(ImageMember.status == filters.member_status)
    shared_with_me = sa.and_(Image.visibility == "shared", Image.id.in_(membership))
    if project_id is None:
        shared_with_me = sa.false()
    if vis is None:
        return stmt.where(sa.or_(owned, Image.visibility == "public", shared_with_me))
    if vis == "all":
        return stmt.where(
            sa.or_(owned, Image.visibility.in_(("public", "community")), shared_with_me)
        )
    if vis in ("public", "community"):
        return stmt.where(Image.visibility == vis)
    if vis == "shared":
        return stmt.where(Image.visibility == "shared", sa.or_(owned, shared_with_me))
    return stmt.where(owned, Image.visibility == vis)


def _after_marker(keys: list[tuple[str, str]], marker: Image) -> sa.ColumnElement[bool]:
    """Rows that come after ``marker`` in the order ``keys`` (NULLs sort first)."""
    alternatives = []
    equal_so_far: list[sa.ColumnElement[bool]] = []
    for key, direction in keys:
        column = getattr(Image, key)
        value = getattr(marker, key)
        if value is None:
            after = column.is_not(None) if direction == "asc" else sa.false()
            same = column.is_(None)
        else:
            after = (
                column > value if direction == "asc" else sa.or_(column < value, column.is_(None))
            )
            same = column == value
        alternatives.append(sa.and_(*equal_so_far, after))
        equal_so_far.append(same)
    return sa.or_(*alternatives)


def query(
    session: Session,
    filters: Filters,
    *,
    project_id: str | None,
    is_admin: bool,
    sort: list[tuple[str, str]],
    marker: Image | None = None,
    limit: int | None = None,
) -> list[Image]:
    """Images ``project_id`` may list, filtered, in ``sort`` order (id breaks ties)."""
    stmt = _scope(sa.select(Image), filters, project_id, is_admin)
    for name, value in filters.exact.items():
        stmt = stmt.where(getattr(Image, name) == value)
    for name, values in filters.one_of.items():
        stmt = stmt.where(getattr(Image, name).in_(values))
    if filters.size_min is not None:
        stmt = stmt.where(Image.size >= filters.size_min)
    if filters.size_max is not None:
        stmt = stmt.where(Image.size <= filters.size_max)
    if filters.os_hidden is not None:
        stmt = stmt.where(Image.os_hidden.is_(filters.os_hidden))
    for name, operator, value in filters.times:
        stmt = stmt.where(_COMPARE[operator](getattr(Image, name), value))
    for tag in filters.tags:
        stmt = stmt.where(sa.exists().where(ImageTag.image_id == Image.id, ImageTag.value == tag))
    for name, value in filters.properties.items():
        stmt = stmt.where(
            sa.exists().where(
                ImageProperty.image_id == Image.id,
                ImageProperty.name == name,
                ImageProperty.value == value,
            )
        )
    keys = list(sort)
    if "id" not in {k for k, _ in keys}:
        keys.append(("id", keys[-1][1] if keys else "desc"))
    if marker is not None:
        stmt = stmt.where(_after_marker(keys, marker))
    order = [getattr(Image, k).desc() if d == "desc" else getattr(Image, k).asc() for k, d in keys]
    stmt = stmt.order_by(*order)
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(session.scalars(stmt))
