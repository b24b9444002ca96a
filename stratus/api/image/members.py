"""Image members (Glance v2 sharing) under ``/image/v2/images/{id}/members``.

The owner offers a ``shared`` image to other projects (``openstack image add
project``); each member accepts or rejects it (``openstack image set --accept``).
The rules live in ``stratus.image.members``; these handlers parse, authorise and
render.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field, StrictStr

from stratus.api import policy
from stratus.api.context import RequestContext, get_context
from stratus.api.image import views
from stratus.api.policy import authorize
from stratus.db.session import transaction
from stratus.image import members

PREFIX = "/image/v2"
router = APIRouter()

#: A member of the image owner's project (or an admin); the target's
#: ``project_id`` is the owner, or for status changes the member project.
RULES = (
    ("image:get_members", policy.ANY_READER, "List the members of a visible image."),
    ("image:get_member", policy.ANY_READER, "Show one member of a visible image."),
    ("image:add_member", policy.MEMBER_API, "Share an image with another project."),
    ("image:delete_member", policy.MEMBER_API, "Stop sharing an image with a project."),
    ("image:modify_member", policy.MEMBER_API, "Accept or reject an image shared with you."),
)
for _rule in RULES:
    policy.register(*_rule)


class MemberCreate(BaseModel):
    """``POST /v2/images/{image_id}/members``: the project to share the image with
    (other keys are ignored, as Glance does)."""

    model_config = ConfigDict(extra="ignore")
    member: StrictStr = Field(
        min_length=1, max_length=members.MAX_MEMBER_ID, description="The project ID."
    )


class MemberUpdate(BaseModel):
    """``PUT /v2/images/{image_id}/members/{member_id}``: the member's answer. Other
    keys are ignored, as Glance does: ``openstack image set --accept`` sends the
    member's ID along."""

    model_config = ConfigDict(extra="ignore")
    status: Literal["pending", "accepted", "rejected"]


@router.get(f"{PREFIX}/schemas/member")
def member_schema(context: RequestContext = Depends(get_context)) -> dict[str, Any]:
    return views.member_schema()


@router.get(f"{PREFIX}/schemas/members")
def members_schema(context: RequestContext = Depends(get_context)) -> dict[str, Any]:
    return views.members_schema()


@router.post(f"{PREFIX}/images/{{image_id}}/members")
def add_member(
    image_id: str, body: MemberCreate, context: RequestContext = Depends(get_context)
) -> dict[str, Any]:
    with transaction() as session:
        image = members.visible_image(session, image_id, context.project_id, context.is_admin)
        authorize("image:add_member", context, {"project_id": image.owner})
        return views.member_view(members.add(session, image, body.member))


@router.get(f"{PREFIX}/images/{{image_id}}/members")
def list_members(image_id: str, context: RequestContext = Depends(get_context)) -> dict[str, Any]:
    authorize("image:get_members", context)
    with transaction() as session:
        image = members.visible_image(session, image_id, context.project_id, context.is_admin)
        rows = members.listing(session, image, context.project_id, context.is_admin)
        return {"members": [views.member_view(m) for m in rows], "schema": "/v2/schemas/members"}


@router.get(f"{PREFIX}/images/{{image_id}}/members/{{member_id}}")
def show_member(
    image_id: str, member_id: str, context: RequestContext = Depends(get_context)
) -> dict[str, Any]:
    authorize("image:get_member", context)
    with transaction() as session:
        image = members.visible_image(session, image_id, context.project_id, context.is_admin)
        member = members.get(session, image, member_id, context.project_id, context.is_admin)
        return views.member_view(member)


@router.put(f"{PREFIX}/images/{{image_id}}/members/{{member_id}}")
def update_member(
    image_id: str,
    member_id: str,
    body: MemberUpdate,
    context: RequestContext = Depends(get_context),
) -> dict[str, Any]:
    with transaction() as session:
        image = members.visible_image(session, image_id, context.project_id, context.is_admin)
        authorize("image:modify_member", context, {"project_id": member_id})
        member = members.set_status(session, image, member_id, body.status, context.project_id)
        return views.member_view(member)


@router.delete(f"{PREFIX}/images/{{image_id}}/members/{{member_id}}", status_code=204)
def delete_member(
    image_id: str, member_id: str, context: RequestContext = Depends(get_context)
) -> Response:
    with transaction() as session:
        image = members.visible_image(session, image_id, context.project_id, context.is_admin)
        authorize("image:delete_member", context, {"project_id": image.owner})
        members.remove(session, image, member_id)
    return Response(status_code=204)
