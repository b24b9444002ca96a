"""Image sharing: the projects a ``shared`` image is offered to, and each member's
answer (pending, accepted, rejected).

The owner adds and removes members; a member sees the image whatever its answer,
lists it by default only once it accepted, and changes only its own status. Who
may call each operation is the API's policy; these functions keep the rules that
hold whoever calls.
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from stratus import exception
from stratus.db import images as db_images
from stratus.db.models import Image, ImageMember, utcnow

STATUSES: tuple[str, ...] = ("pending", "accepted", "rejected")
#: Most members one image may have.
MAX_MEMBERS = 128
MAX_MEMBER_ID = 255


def visible_image(session: Session, image_id: str, project_id: str | None, is_admin: bool) -> Image:
    """The image, if the caller may see it (404 otherwise, as if it did not exist)."""
    image = db_images.get(session, image_id)
    if image is None or not db_images.visible(image, project_id, is_admin):
        raise exception.NotFound(f"No image found with ID {image_id}.")
    return image


def _may_see_all(image: Image, project_id: str | None, is_admin: bool) -> bool:
    return is_admin or (project_id is not None and image.owner == project_id)


def add(session: Session, image: Image, member_id: str) -> ImageMember:
    """Offer ``image`` to project ``member_id`` (status ``pending``)."""
    if not member_id or len(member_id) > MAX_MEMBER_ID:
        raise exception.Invalid(
            f"Invalid value for 'member': a project ID of 1 to {MAX_MEMBER_ID} characters."
        )
    if image.visibility != "shared":
        raise exception.Forbidden(
            f"Only shared images have members; image {image.id} is {image.visibility} "
            "(openstack image set --shared)."
        )
    if db_images.get_member(session, image.id, member_id) is not None:
        raise exception.Conflict(f"Member {member_id} already associated with image {image.id}.")
    if db_images.count_members(session, image.id) >= MAX_MEMBERS:
        raise exception.OverLimit(f"An image may have at most {MAX_MEMBERS} members.")
    try:
        return db_images.add_member(session, image.id, member_id)
    except IntegrityError:
        raise exception.Conflict(
            f"Member {member_id} already associated with image {image.id}."
        ) from None


def listing(
    session: Session, image: Image, project_id: str | None, is_admin: bool
) -> list[ImageMember]:
    """The members the caller may see: all for the owner, its own entry for a member."""
    if _may_see_all(image, project_id, is_admin):
        return db_images.list_members(session, image.id)
    if project_id is None:
        return []
    return db_images.list_members(session, image.id, project_id)


def get(
    session: Session, image: Image, member_id: str, project_id: str | None, is_admin: bool
) -> ImageMember:
    """One member; a project other than the owner sees only its own entry."""
    member = db_images.get_member(session, image.id, member_id)
    if member is None or not (_may_see_all(image, project_id, is_admin) or member_id == project_id):
        raise exception.NotFound(f"Project {member_id} is not a member of image {image.id}.")
    return member


def set_status(
    session: Session, image: Image, member_id: str, status: str, project_id: str | None
) -> ImageMember:
    """The member's answer to the offer; only the member itself gives it."""
    if status not in STATUSES:
        raise exception.Invalid(
            f"Invalid value for 'status': {status!r}; use one of {', '.join(STATUSES)}."
        )
    member = db_images.get_member(session, image.id, member_id)
    if member is None:
        raise exception.NotFound(f"Project {member_id} is not a member of image {image.id}.")
    if member_id != project_id:
        raise exception.Forbidden(
            f"Only project {member_id} may accept or reject the image shared with it."
        )
    if member.status != status:
        member.status = status
        member.updated_at = utcnow()
        session.flush()
    return member


def remove(session: Session, image: Image, member_id: str) -> None:
    member = db_images.get_member(session, image.id, member_id)
    if member is None:
        raise exception.NotFound(f"Project {member_id} is not a member of image {image.id}.")
    db_images.delete_member(session, member)
