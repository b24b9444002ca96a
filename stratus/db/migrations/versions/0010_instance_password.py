"""the password a guest posts to the metadata service

Revision ID: 0010_instance_password
Revises: 0009_routers
Create Date: 2026-12-07 23:20:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_instance_password"
down_revision = "0009_routers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("instances", schema=None) as batch_op:
        batch_op.add_column(sa.Column("password", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("instances", schema=None) as batch_op:
        batch_op.drop_column("password")
