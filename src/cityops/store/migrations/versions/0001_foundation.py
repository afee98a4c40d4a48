"""foundation: catalog types, regions, organisation units, users and roles

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-25 03:40:25.223677
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cityops.store.types

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "catalog_type",
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("code", sa.String(length=5), nullable=False),
        sa.Column("major_code", sa.String(length=2), nullable=False),
        sa.Column("major_name", sa.String(length=50), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=True),
        sa.Column("keywords", sa.String(length=200), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("origin", sa.String(length=10), nullable=False),
        sa.Column("updated_at", cityops.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind in ('component', 'matter')", name=op.f("ck_catalog_type_kind")),
        sa.CheckConstraint("origin in ('standard', 'local')", name=op.f("ck_catalog_type_origin")),
        sa.PrimaryKeyConstraint("kind", "code", name=op.f("pk_catalog_type")),
    )
    with op.batch_alter_table("catalog_type", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_catalog_type_major_code"), ["major_code"], unique=False
        )

    op.create_table(
        "region",
        sa.Column("code", sa.String(length=12), nullable=False),
        sa.Column("level", sa.String(length=10), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("parent_code", sa.String(length=12), nullable=True),
        sa.Column("synthetic", sa.Boolean(), nullable=False),
        sa.Column("geometry", sa.LargeBinary(), nullable=True),
        sa.Column("min_lon", sa.Float(), nullable=True),
        sa.Column("min_lat", sa.Float(), nullable=True),
        sa.Column("max_lon", sa.Float(), nullable=True),
        sa.Column("max_lat", sa.Float(), nullable=True),
        sa.Column("area_m2", sa.Float(), nullable=True),
        sa.CheckConstraint(
            "level in ('city', 'district', 'street', 'community')", name=op.f("ck_region_level")
        ),
        sa.ForeignKeyConstraint(
            ["parent_code"],
            ["region.code"],
            name=op.f("fk_region_parent_code_region"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_region")),
    )
    with op.batch_alter_table("region", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_region_level"), ["level"], unique=False)
        batch_op.create_index(batch_op.f("ix_region_parent_code"), ["parent_code"], unique=False)

    op.create_table(
        "org_unit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("region_code", sa.String(length=12), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.CheckConstraint(
            "kind in ('centre', 'department', 'district_office', 'street_office')",
            name=op.f("ck_org_unit_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["org_unit.id"], name=op.f("fk_org_unit_parent_id_org_unit")
        ),
        sa.ForeignKeyConstraint(
            ["region_code"], ["region.code"], name=op.f("fk_org_unit_region_code_region")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_org_unit")),
        sa.UniqueConstraint("code", name=op.f("uq_org_unit_code")),
    )
    with op.batch_alter_table("org_unit", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_org_unit_parent_id"), ["parent_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_org_unit_region_code"), ["region_code"], unique=False)

    op.create_table(
        "app_user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("org_unit_id", sa.Integer(), nullable=True),
        sa.Column("scope_region_code", sa.String(length=12), nullable=True),
        sa.Column("scope_org_unit_id", sa.Integer(), nullable=True),
        sa.Column("phone", sa.String(length=20), nullable=True),
        sa.Column("locale", sa.String(length=10), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("token_version", sa.Integer(), nullable=False),
        sa.Column("created_at", cityops.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_unit_id"], ["org_unit.id"], name=op.f("fk_app_user_org_unit_id_org_unit")
        ),
        sa.ForeignKeyConstraint(
            ["scope_org_unit_id"],
            ["org_unit.id"],
            name=op.f("fk_app_user_scope_org_unit_id_org_unit"),
        ),
        sa.ForeignKeyConstraint(
            ["scope_region_code"],
            ["region.code"],
            name=op.f("fk_app_user_scope_region_code_region"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_app_user")),
        sa.UniqueConstraint("username", name=op.f("uq_app_user_username")),
    )
    with op.batch_alter_table("app_user", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_app_user_org_unit_id"), ["org_unit_id"], unique=False)

    op.create_table(
        "user_role",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.CheckConstraint(
            "role in ('supervisor', 'acceptor', 'shift_leader', 'dispatcher', 'department', 'handler', 'leader', 'evaluator', 'admin')",
            name=op.f("ck_user_role_role"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["app_user.id"],
            name=op.f("fk_user_role_user_id_app_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "role", name=op.f("pk_user_role")),
    )
    with op.batch_alter_table("user_role", schema=None) as batch_op:
        batch_op.create_index("ix_user_role_role", ["role"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("user_role", schema=None) as batch_op:
        batch_op.drop_index("ix_user_role_role")

    op.drop_table("user_role")
    with op.batch_alter_table("app_user", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_app_user_org_unit_id"))

    op.drop_table("app_user")
    with op.batch_alter_table("org_unit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_org_unit_region_code"))
        batch_op.drop_index(batch_op.f("ix_org_unit_parent_id"))

    op.drop_table("org_unit")
    with op.batch_alter_table("region", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_region_parent_code"))
        batch_op.drop_index(batch_op.f("ix_region_level"))

    op.drop_table("region")
    with op.batch_alter_table("catalog_type", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_catalog_type_major_code"))

    op.drop_table("catalog_type")
