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


# --- the case loop ---------------------------------------------------------------------------------


class CaseStandardRow(Base):
    """One condition of a catalog type's case standard (立结案标准)."""

    __tablename__ = "case_standard"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    type_code: Mapped[str] = mapped_column(String(5), index=True)
    seq: Mapped[int] = mapped_column(Integer, default=1)
    condition: Mapped[str] = mapped_column(String(300))
    closing_condition: Mapped[str] = mapped_column(String(300), default="")
    time_limit: Mapped[str] = mapped_column(String(40))
    handling_unit: Mapped[str] = mapped_column(String(100), default="")
    supervising_department: Mapped[str] = mapped_column(String(100), default="")

    __table_args__ = (
        Index("uq_case_standard_type_condition", "type_code", "condition", unique=True),
    )


class DispatchRuleRow(Base):
    """One line of the 权责清单: (type or major class) × area [× component owner] → department."""

    __tablename__ = "dispatch_rule"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    type_code: Mapped[str | None] = mapped_column(String(5))
    major_code: Mapped[str | None] = mapped_column(String(2))
    area: Mapped[str | None] = mapped_column(String(15))
    component_owner: Mapped[str | None] = mapped_column(String(32))
    department: Mapped[str] = mapped_column(String(32))
    auto_dispatch: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str] = mapped_column(String(200), default="")


class CalendarDay(Base):
    """A holiday or extra working day an admin adds (beside the chinesecalendar data)."""

    __tablename__ = "calendar_day"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))
    note: Mapped[str] = mapped_column(String(100), default="")

    __table_args__ = (CheckConstraint("kind in ('holiday', 'workday')", name="kind"),)


class Case(Base):
    """The current state of a case: a projection of its log (rebuildable, see core.workflow)."""

    __tablename__ = "cases"  # plural: CASE is an SQL keyword

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    state: Mapped[str] = mapped_column(String(20))  # ix_cases_state_due leads with it
    version: Mapped[int] = mapped_column(Integer, default=1)
    source: Mapped[str] = mapped_column(String(20))  # six values: no index
    type_code: Mapped[str | None] = mapped_column(String(5))
    condition: Mapped[str | None] = mapped_column(String(300))
    handling_limit: Mapped[str | None] = mapped_column(String(80))
    description: Mapped[str] = mapped_column(Text, default="")
    address: Mapped[str] = mapped_column(String(200), default="")
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    grid_code: Mapped[str | None] = mapped_column(String(15), index=True)
    community_code: Mapped[str | None] = mapped_column(String(12), index=True)
    street_code: Mapped[str | None] = mapped_column(String(9), index=True)
    district_code: Mapped[str | None] = mapped_column(String(6), index=True)
    component_id: Mapped[str | None] = mapped_column(String(17), index=True)
    department: Mapped[str | None] = mapped_column(String(32))  # see the composite below
    handler_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), index=True)
    reporter_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), index=True)
    reporter_name: Mapped[str] = mapped_column(String(50), default="")
    reporter_phone: Mapped[str] = mapped_column(String(30), default="")
    reporter_contact: Mapped[str] = mapped_column(String(200), default="")
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    self_handled: Mapped[bool] = mapped_column(Boolean, default=False)
    task_kind: Mapped[str | None] = mapped_column(String(10))
    task_assignee_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), index=True)
    task_opened_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    check_result: Mapped[bool | None] = mapped_column(Boolean)
    verify_result: Mapped[bool | None] = mapped_column(Boolean)
    pending_extension: Mapped[str | None] = mapped_column(String(40))
    pending_suspension: Mapped[str | None] = mapped_column(String(300))
    suspended_from: Mapped[str | None] = mapped_column(String(20))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    close_reason: Mapped[str | None] = mapped_column(String(20))
    returns: Mapped[int] = mapped_column(Integer, default=0)
    reworks: Mapped[int] = mapped_column(Integer, default=0)
    extensions: Mapped[int] = mapped_column(Integer, default=0)
    urges: Mapped[int] = mapped_column(Integer, default=0)
    supervisions: Mapped[int] = mapped_column(Integer, default=0)
    reported_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    registered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    dispatched_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    handled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # The open stage and its deadline, for queues sorted by time left and the overdue sweep.
    stage: Mapped[str | None] = mapped_column(String(10))
    warn_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    due_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    # "721" classification of enforcement work: service / management / enforcement.
    method_721: Mapped[str | None] = mapped_column(String(12))
    # The reporter's rating of the result (1–5) and comment, from the public page.
    rating: Mapped[int | None] = mapped_column(Integer)
    rating_comment: Mapped[str] = mapped_column(String(500), default="")
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # A retried submission (flaky network) carries the same key and gets the same case.
    idempotency_key: Mapped[str | None] = mapped_column(String(100), unique=True)

    __table_args__ = (
        Index("ix_cases_department_state_due", "department", "state", "due_at"),
        Index("ix_cases_state_due", "state", "due_at"),
        # Closed in a period (dashboard, evaluation) and open (closed_at IS NULL: the map), with
        # the state in the index: counting them reads no case row (migration 0004 widened the
        # former ix_cases_closed_at).
        Index("ix_cases_closed_at_state", "closed_at", "state"),
        # Duplicate candidates (services/cases.py _duplicates: same type, open, near, ±24 h): the
        # whole filter in the index, so the probe reads no table rows (replaces the former
        # ix_cases_type_reported on type_code, reported_at, a prefix of this one).
        Index("ix_cases_type_reported_position", "type_code", "reported_at", "lon", "lat", "state"),
    )


class CaseStageRow(Base):
    """One run of a stage clock (a stage can run again after a return or rework)."""

    __tablename__ = "case_stage"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    stage: Mapped[str] = mapped_column(String(10))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    time_limit: Mapped[str] = mapped_column(String(80))
    due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    warn_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    paused_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    pauses: Mapped[str] = mapped_column(Text, default="[]")  # JSON [[start, end], …]
    # Set when the overdue sweep has announced this run of the stage (once per run).
    overdue_notified_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (
        Index("uq_case_stage_case_stage_start", "case_id", "stage", "started_at", unique=True),
        Index("ix_case_stage_open_due", "ended_at", "due_at"),
        # Runs of a stage that ended in a period, with their case and deadline: the dashboard's
        # handled / on time / late read this index alone (migration 0004 widened it).
        Index("ix_case_stage_stage_ended_cover", "stage", "ended_at", "case_id", "due_at"),
    )


class CaseLogRow(Base):
    """The append-only case log; ``hash`` chains each entry to the one before."""

    __tablename__ = "case_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(24))
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), index=True)
    actor_role: Mapped[str] = mapped_column(String(20))
    from_state: Mapped[str | None] = mapped_column(String(20))
    to_state: Mapped[str] = mapped_column(String(20))
    entry: Mapped[str] = mapped_column(Text)  # canonical JSON of core.workflow.LogEntry
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        Index("uq_case_log_case_seq", "case_id", "seq", unique=True),
        # "Dispatched in May" and by whom: the evaluation and the dashboard read the period's log
        # entries of an action from this index alone (migration 0004 widened it).
        Index("ix_case_log_action_at_cover", "action", "at", "case_id", "actor_id"),
    )


class TaskRow(Base):
    """A supervisor's 核查 (check) or 核实 (verify) task on a case."""

    __tablename__ = "task"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    assignee_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime)
    due_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    result: Mapped[bool | None] = mapped_column(Boolean)
    note: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (
        Index("ix_task_assignee_open", "assignee_id", "completed_at"),
        CheckConstraint("kind in ('check', 'verify')", name="kind"),
    )


class Attachment(Base):
    """An uploaded photo or file, stored by content hash behind the blob store interface."""

    __tablename__ = "attachment"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    content_type: Mapped[str] = mapped_column(String(50))
    size: Mapped[int] = mapped_column(Integer)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    filename: Mapped[str] = mapped_column(String(200), default="")
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class OutboxEvent(Base):
    """Notifications as events, written in the same transaction as the change they announce."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event: Mapped[str] = mapped_column(String(30))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    recipient: Mapped[str] = mapped_column(String(60))
    payload: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (Index("ix_outbox_pending", "delivered_at", "id"),)


class CaseNumberSeq(Base):
    """The last sequence number given per district and local day (case numbers)."""

    __tablename__ = "case_number_seq"

    prefix: Mapped[str] = mapped_column(String(20), primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


# --- public interfaces and evaluation ---------------------------------------------------------------


class ApiKey(Base):
    """A key for Open311 clients (citizen apps, integrators); only its SHA-256 is stored."""

    __tablename__ = "api_key"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))  # shown in lists to tell keys apart
    name: Mapped[str] = mapped_column(String(100))
    contact: Mapped[str] = mapped_column(String(200), default="")
    rate_per_minute: Mapped[int] = mapped_column(Integer, default=30)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class PublicSubmission(Base):
    """A public report held for screening (Open311 token) until it becomes a case or is refused."""

    __tablename__ = "public_submission"

    token: Mapped[str] = mapped_column(String(40), primary_key=True)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    payload: Mapped[str] = mapped_column(Text)  # JSON of the request as received
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_key.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    note: Mapped[str] = mapped_column(String(300), default="")

    __table_args__ = (
        CheckConstraint("status in ('pending', 'accepted', 'rejected')", name="status"),
    )


class EvaluationSnapshot(Base):
    """A published evaluation, frozen with its scheme: later edits never change it silently."""

    __tablename__ = "evaluation_snapshot"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    period: Mapped[str] = mapped_column(String(30), index=True)  # 2026-10, 2026-Q3, 2026-10-01..
    subject_type: Mapped[str] = mapped_column(String(20))
    scheme_name: Mapped[str] = mapped_column(String(60))
    scheme_version: Mapped[str] = mapped_column(String(64))  # hash of the scheme's content
    scheme: Mapped[str] = mapped_column(Text)  # the scheme as used (TOML/JSON text)
    results: Mapped[str] = mapped_column(Text)  # JSON: rows, figures, case ids per figure
    published_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    published_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    superseded_by: Mapped[int | None] = mapped_column(ForeignKey("evaluation_snapshot.id"))

    __table_args__ = (Index("ix_evaluation_snapshot_period_subject", "period", "subject_type"),)
