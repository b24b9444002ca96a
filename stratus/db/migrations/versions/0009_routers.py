"""routers, their network hosts, floating IPs and port forwardings

Revision ID: 0009_routers
Revises: 0008_security_groups
Create Date: 2026-12-07 22:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_routers"
down_revision = "0008_security_groups"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "router_hosts",
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("host"),
    )
    op.create_table(
        "routers",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("admin_state_up", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("gw_port_id", sa.String(length=36), nullable=True),
        sa.Column("enable_snat", sa.Boolean(), nullable=False),
        sa.Column("routes", sa.JSON(), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("revision_number", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["gw_port_id"], ["ports.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("routers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_routers_host"), ["host"], unique=False)
        batch_op.create_index(batch_op.f("ix_routers_project_id"), ["project_id"], unique=False)

    op.create_table(
        "floatingips",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("floating_network_id", sa.String(length=36), nullable=False),
        sa.Column("floating_port_id", sa.String(length=36), nullable=False),
        sa.Column("floating_ip_address", sa.String(length=64), nullable=False),
        sa.Column("fixed_port_id", sa.String(length=36), nullable=True),
        sa.Column("fixed_ip_address", sa.String(length=64), nullable=True),
        sa.Column("router_id", sa.String(length=36), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("revision_number", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["fixed_port_id"], ["ports.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(
            ["floating_network_id"],
            ["networks.id"],
        ),
        sa.ForeignKeyConstraint(["floating_port_id"], ["ports.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["router_id"], ["routers.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("floating_network_id", "fixed_port_id", "fixed_ip_address"),
        sa.UniqueConstraint("floating_port_id"),
    )
    with op.batch_alter_table("floatingips", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_floatingips_fixed_port_id"), ["fixed_port_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_floatingips_floating_network_id"), ["floating_network_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_floatingips_project_id"), ["project_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_floatingips_router_id"), ["router_id"], unique=False)

    op.create_table(
        "port_forwardings",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("floatingip_id", sa.String(length=36), nullable=False),
        sa.Column("internal_port_id", sa.String(length=36), nullable=False),
        sa.Column("internal_ip_address", sa.String(length=64), nullable=False),
        sa.Column("internal_port", sa.Integer(), nullable=False),
        sa.Column("external_port", sa.Integer(), nullable=False),
        sa.Column("protocol", sa.String(length=16), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["floatingip_id"], ["floatingips.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["internal_port_id"], ["ports.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("floatingip_id", "external_port", "protocol"),
        sa.UniqueConstraint("internal_port_id", "internal_ip_address", "internal_port", "protocol"),
    )
    with op.batch_alter_table("port_forwardings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_port_forwardings_floatingip_id"), ["floatingip_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("port_forwardings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_port_forwardings_floatingip_id"))

    op.drop_table("port_forwardings")
    with op.batch_alter_table("floatingips", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_floatingips_router_id"))
        batch_op.drop_index(batch_op.f("ix_floatingips_project_id"))
        batch_op.drop_index(batch_op.f("ix_floatingips_floating_network_id"))
        batch_op.drop_index(batch_op.f("ix_floatingips_fixed_port_id"))

    op.drop_table("floatingips")
    with op.batch_alter_table("routers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_routers_project_id"))
        batch_op.drop_index(batch_op.f("ix_routers_host"))

    op.drop_table("routers")
    op.drop_table("router_hosts")
