"""geography: grids, responsibility grids, components

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 03:50:36.101047
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cityops.store.types

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "grid",
        sa.Column("code", sa.String(length=15), nullable=False),
        sa.Column("community_code", sa.String(length=12), nullable=False),
        sa.Column("synthetic", sa.Boolean(), nullable=False),
        sa.Column("geometry", sa.LargeBinary(), nullable=False),
        sa.Column("min_lon", sa.Float(), nullable=False),
        sa.Column("min_lat", sa.Float(), nullable=False),
        sa.Column("max_lon", sa.Float(), nullable=False),
        sa.Column("max_lat", sa.Float(), nullable=False),
        sa.Column("area_m2", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_code"],
            ["region.code"],
            name=op.f("fk_grid_community_code_region"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_grid")),
    )
    with op.batch_alter_table("grid", schema=None) as batch_op:
        batch_op.create_index("ix_grid_bbox", ["min_lon", "min_lat"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_grid_community_code"), ["community_code"], unique=False
        )

    op.create_table(
        "component",
        sa.Column("id", sa.String(length=17), nullable=False),
        sa.Column("type_code", sa.String(length=5), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("grid_code", sa.String(length=15), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("owner_department", sa.String(length=100), nullable=False),
        sa.Column("owner_org_unit_id", sa.Integer(), nullable=True),
        sa.Column("maintenance_unit", sa.String(length=100), nullable=False),
        sa.Column("maintenance_org_unit_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("installed_on", sa.Date(), nullable=True),
        sa.Column("surveyed_on", sa.Date(), nullable=True),
        sa.Column("external_id", sa.String(length=64), nullable=True),
        sa.Column("updated_at", cityops.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status in ('intact', 'damaged', 'lost', 'abandoned', 'removed')",
            name=op.f("ck_component_status"),
        ),
        sa.ForeignKeyConstraint(
            ["grid_code"], ["grid.code"], name=op.f("fk_component_grid_code_grid")
        ),
        sa.ForeignKeyConstraint(
            ["maintenance_org_unit_id"],
            ["org_unit.id"],
            name=op.f("fk_component_maintenance_org_unit_id_org_unit"),
        ),
        sa.ForeignKeyConstraint(
            ["owner_org_unit_id"],
            ["org_unit.id"],
            name=op.f("fk_component_owner_org_unit_id_org_unit"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_component")),
    )
    with op.batch_alter_table("component", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_component_external_id"), ["external_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_component_grid_code"), ["grid_code"], unique=False)
        batch_op.create_index("ix_component_lon_lat", ["lon", "lat"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_component_maintenance_org_unit_id"),
            ["maintenance_org_unit_id"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_component_type_code"), ["type_code"], unique=False)

    op.create_table(
        "component_status_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("component_id", sa.String(length=17), nullable=False),
        sa.Column("from_status", sa.String(length=10), nullable=True),
        sa.Column("to_status", sa.String(length=10), nullable=False),
        sa.Column("at", cityops.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["component_id"],
            ["component.id"],
            name=op.f("fk_component_status_change_component_id_component"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["app_user.id"],
            name=op.f("fk_component_status_change_user_id_app_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_component_status_change")),
    )
    with op.batch_alter_table("component_status_change", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_component_status_change_component_id"), ["component_id"], unique=False
        )

    op.create_table(
        "responsibility_grid",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("supervisor_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["supervisor_id"],
            ["app_user.id"],
            name=op.f("fk_responsibility_grid_supervisor_id_app_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_responsibility_grid")),
        sa.UniqueConstraint("code", name=op.f("uq_responsibility_grid_code")),
    )
    with op.batch_alter_table("responsibility_grid", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_responsibility_grid_supervisor_id"), ["supervisor_id"], unique=False
        )

    op.create_table(
        "responsibility_grid_member",
        sa.Column("responsibility_grid_id", sa.Integer(), nullable=False),
        sa.Column("grid_code", sa.String(length=15), nullable=False),
        sa.ForeignKeyConstraint(
            ["grid_code"],
            ["grid.code"],
            name=op.f("fk_responsibility_grid_member_grid_code_grid"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["responsibility_grid_id"],
            ["responsibility_grid.id"],
            name=op.f("fk_responsibility_grid_member_responsibility_grid_id_responsibility_grid"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "responsibility_grid_id", "grid_code", name=op.f("pk_responsibility_grid_member")
        ),
        sa.UniqueConstraint("grid_code", name=op.f("uq_responsibility_grid_member_grid_code")),
    )


def downgrade() -> None:

    op.drop_table("responsibility_grid_member")
    with op.batch_alter_table("responsibility_grid", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_responsibility_grid_supervisor_id"))

    op.drop_table("responsibility_grid")
    with op.batch_alter_table("component_status_change", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_component_status_change_component_id"))

    op.drop_table("component_status_change")
    with op.batch_alter_table("component", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_component_type_code"))
        batch_op.drop_index(batch_op.f("ix_component_maintenance_org_unit_id"))
        batch_op.drop_index("ix_component_lon_lat")
        batch_op.drop_index(batch_op.f("ix_component_grid_code"))
        batch_op.drop_index(batch_op.f("ix_component_external_id"))

    op.drop_table("component")
    with op.batch_alter_table("grid", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_grid_community_code"))
        batch_op.drop_index("ix_grid_bbox")

    op.drop_table("grid")
