"""instance network info cache

Revision ID: 0007_instance_network_info
Revises: 0006_quota_classes
Create Date: 2026-12-07 15:20:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_instance_network_info"
down_revision = "0006_quota_classes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("instances") as batch:
        batch.add_column(sa.Column("network_info", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("instances") as batch:
        batch.drop_column("network_info")
