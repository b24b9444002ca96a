"""server access IPs

Revision ID: 0003_server_access_ips
Revises: 0002
Create Date: 2026-12-07 15:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_server_access_ips"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("instances") as batch:
        batch.add_column(sa.Column("access_ip_v4", sa.String(length=39), nullable=True))
        batch.add_column(sa.Column("access_ip_v6", sa.String(length=39), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("instances") as batch:
        batch.drop_column("access_ip_v6")
        batch.drop_column("access_ip_v4")
