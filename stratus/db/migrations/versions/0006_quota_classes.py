"""quota classes, per-user quotas; the API's name injected_file_path_bytes for stored limits

Revision ID: 0006_quota_classes
Revises: 0005_networking
Create Date: 2026-12-07 15:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_quota_classes"
down_revision = "0005_networking"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "quota_classes",
        sa.Column("class_name", sa.String(length=255), nullable=False),
        sa.Column("resource", sa.String(length=255), nullable=False),
        sa.Column("hard_limit", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("class_name", "resource"),
    )
    op.create_table(
        "project_user_quotas",
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("resource", sa.String(length=255), nullable=False),
        sa.Column("hard_limit", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("project_id", "user_id", "resource"),
    )
    op.execute(
        "UPDATE quotas SET resource = 'injected_file_path_bytes' "
        "WHERE resource = 'injected_file_path_length'"
    )


def downgrade() -> None:
    op.execute(
        "UPDATE quotas SET resource = 'injected_file_path_length' "
        "WHERE resource = 'injected_file_path_bytes'"
    )
    op.drop_table("project_user_quotas")
    op.drop_table("quota_classes")
