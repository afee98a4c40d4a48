"""The relational schema. One module so Alembic autogenerate and readers see it whole.

Geometries are stored as WKB (WGS-84) with a bounding box in plain columns, so the same schema
runs on SQLite and on PostgreSQL without PostGIS.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from cityops.core.roles import STAFF_ROLES
from cityops.store.types import UtcDateTime, utcnow

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class CatalogType(Base):
    """One type of the 管理部件和事项目录, standard or local, with the city's overrides.

    Identified by (kind, code): a matter "‹component›异常" shares its component type's code.
    """

    __tablename__ = "catalog_type"

    kind: Mapped[str] = mapped_column(String(10), primary_key=True)
    code: Mapped[str] = mapped_column(String(5), primary_key=True)
    major_code: Mapped[str] = mapped_column(String(2), index=True)
    major_name: Mapped[str] = mapped_column(String(50))
    name: Mapped[str] = mapped_column(String(100))
    display_name: Mapped[str | None] = mapped_column(String(100))
    keywords: Mapped[str] = mapped_column(String(200), default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    origin: Mapped[str] = mapped_column(String(10), default="standard")
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (
        CheckConstraint("kind in ('component', 'matter')", name="kind"),
        CheckConstraint("origin in ('standard', 'local')", name="origin"),
    )


class Region(Base):
    """City → district → street → community; the code is the GB/T 2260 code (+3 +3)."""

    __tablename__ = "region"

    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    level: Mapped[str] = mapped_column(String(10), index=True)
    name: Mapped[str] = mapped_column(String(100))
    parent_code: Mapped[str | None] = mapped_column(
        ForeignKey("region.code", ondelete="CASCADE"), index=True
    )
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False)
    geometry: Mapped[bytes | None] = mapped_column(LargeBinary)
    min_lon: Mapped[float | None] = mapped_column(Float)
    min_lat: Mapped[float | None] = mapped_column(Float)
    max_lon: Mapped[float | None] = mapped_column(Float)
    max_lat: Mapped[float | None] = mapped_column(Float)
    area_m2: Mapped[float | None] = mapped_column(Float)

    __table_args__ = (
        CheckConstraint("level in ('city', 'district', 'street', 'community')", name="level"),
    )


class OrgUnit(Base):
    """An organisation unit: the command centre, a department, a district or street office."""

    __tablename__ = "org_unit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id"), index=True)
    region_code: Mapped[str | None] = mapped_column(ForeignKey("region.code"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    __table_args__ = (
        CheckConstraint(
            "kind in ('centre', 'department', 'district_office', 'street_office')", name="kind"
        ),
    )


class User(Base):
    """A staff account. Its data scope is a region subtree and/or a department (NULL = no limit)."""

    __tablename__ = "app_user"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(Text)
    org_unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id"), index=True)
    scope_region_code: Mapped[str | None] = mapped_column(ForeignKey("region.code"))
    scope_org_unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id"))
    phone: Mapped[str | None] = mapped_column(String(20))
    locale: Mapped[str] = mapped_column(String(10), default="zh-CN")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Bumped when the password changes, so tokens issued before stop working.
    token_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    roles: Mapped[list[UserRole]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )
    org_unit: Mapped[OrgUnit | None] = relationship(foreign_keys=[org_unit_id], lazy="joined")

    @property
    def role_names(self) -> list[str]:
        return sorted(r.role for r in self.roles)


class UserRole(Base):
    __tablename__ = "user_role"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("app_user.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(20), primary_key=True)

    user: Mapped[User] = relationship(back_populates="roles")

    __table_args__ = (
        Index("ix_user_role_role", "role"),
        CheckConstraint(
            "role in (" + ", ".join(f"'{r.value}'" for r in STAFF_ROLES) + ")", name="role"
        ),
    )


class Grid(Base):
    """A unit grid (万米单元网格): 15-character code = community (12) + sequence (3)."""

    __tablename__ = "grid"

    code: Mapped[str] = mapped_column(String(15), primary_key=True)
    community_code: Mapped[str] = mapped_column(
        ForeignKey("region.code", ondelete="CASCADE"), index=True
    )
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False)
    geometry: Mapped[bytes] = mapped_column(LargeBinary)
    min_lon: Mapped[float] = mapped_column(Float)
    min_lat: Mapped[float] = mapped_column(Float)
    max_lon: Mapped[float] = mapped_column(Float)
    max_lat: Mapped[float] = mapped_column(Float)
    area_m2: Mapped[float] = mapped_column(Float)

    __table_args__ = (Index("ix_grid_bbox", "min_lon", "min_lat"),)


class ResponsibilityGrid(Base):
    """A set of unit grids patrolled by one supervisor (责任网格)."""

    __tablename__ = "responsibility_grid"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    supervisor_id: Mapped[int | None] = mapped_column(
        ForeignKey("app_user.id", ondelete="SET NULL"), index=True
    )


class ResponsibilityGridMember(Base):
    __tablename__ = "responsibility_grid_member"

    responsibility_grid_id: Mapped[int] = mapped_column(
        ForeignKey("responsibility_grid.id", ondelete="CASCADE"), primary_key=True
    )
    # A unit grid belongs to at most one responsibility grid.
    grid_code: Mapped[str] = mapped_column(
        ForeignKey("grid.code", ondelete="CASCADE"), primary_key=True, unique=True
    )


COMPONENT_STATUSES = ("intact", "damaged", "lost", "abandoned", "removed")


class Component(Base):
    """One physical asset (部件); id = district (6) + component type (5) + sequence (6)."""

    __tablename__ = "component"

    id: Mapped[str] = mapped_column(String(17), primary_key=True)
    type_code: Mapped[str] = mapped_column(String(5), index=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    grid_code: Mapped[str] = mapped_column(ForeignKey("grid.code"), index=True)
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    owner_department: Mapped[str] = mapped_column(String(100), default="")
    owner_org_unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id"))
    maintenance_unit: Mapped[str] = mapped_column(String(100), default="")
    maintenance_org_unit_id: Mapped[int | None] = mapped_column(
        ForeignKey("org_unit.id"), index=True
    )
    status: Mapped[str] = mapped_column(String(10), default="intact")
    installed_on: Mapped[date | None] = mapped_column(Date)
    surveyed_on: Mapped[date | None] = mapped_column(Date)
    external_id: Mapped[str | None] = mapped_column(String(64), index=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (
        CheckConstraint(
            "status in (" + ", ".join(f"'{s}'" for s in COMPONENT_STATUSES) + ")", name="status"
        ),
        Index("ix_component_lon_lat", "lon", "lat"),
    )


class ComponentStatusChange(Base):
    """History of a component's status; append-only."""

    __tablename__ = "component_status_change"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    component_id: Mapped[str] = mapped_column(
        ForeignKey("component.id", ondelete="CASCADE"), index=True
    )
    from_status: Mapped[str | None] = mapped_column(String(10))
    to_status: Mapped[str] = mapped_column(String(10))
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    reason: Mapped[str] = mapped_column(String(200), default="")
    source: Mapped[str] = mapped_column(String(20), default="import")
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
