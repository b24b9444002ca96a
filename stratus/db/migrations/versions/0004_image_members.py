"""image members

Revision ID: 0004_image_members
Revises: 0003_server_access_ips
Create Date: 2026-12-07 15:10:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_image_members"
down_revision = "0003_server_access_ips"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "image_members",
        sa.Column("image_id", sa.String(length=36), nullable=False),
        sa.Column("member_id", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["image_id"], ["images.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("image_id", "member_id"),
    )
    with op.batch_alter_table("image_members", schema=None) as batch_op:
        batch_op.create_index("ix_image_members_member_id", ["member_id"], unique=False)


def downgrade() -> None:
    op.drop_table("image_members")
