"""Case use-cases: intake, actions, reads, audit. One transaction each (the caller's session).

Every change goes ``core.workflow.decide`` → ``evolve`` → one optimistic UPDATE of the case row
(``WHERE version = expected``), one hash-chained log row, the stage clocks it touched, and the
tasks and outbox events it asked for. A stale version or a concurrent writer loses with 409.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    String,
    and_,
    bindparam,
    func,
    insert,
    inspect,
    or_,
    select,
    text,
    update,
)
from sqlalchemy import case as sql_case
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import instance_state, set_committed_value
from sqlalchemy.sql.elements import ColumnElement

from cityops.core.case_numbers import format_case_number
from cityops.core.clock import TimeLimit
from cityops.core.duplicates import CaseSketch
from cityops.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from cityops.core.regions import subtree_prefix
from cityops.core.roles import Role
from cityops.core.workflow import (
    OPEN_STATES,
    Action,
    ActionInput,
    Actor,
    CaseState,
    Context,
    Intake,
    LogEntry,
    StageClock,
    State,
    Task,
    allowed_actions,
    decide,
    entry_hash,
    evolve,
    open_case,
    rebuild,
)
from cityops.services import cityconfig
from cityops.services.calendar import city_clock
from cityops.services.geography import spatial_index
from cityops.services.rules import rule_set, stage_limits
from cityops.store.fast import Prepared, dbapi_cursor, pipelined
from cityops.store.schema import (
    Attachment,
    Case,
    CaseLogRow,
    CaseNumberSeq,
    CaseStageRow,
    CaseStandardRow,
    CatalogType,
    Component,
    OrgUnit,
    OutboxEvent,
    TaskRow,
    User,
)

SOURCES: dict[str, tuple[str, str]] = {
    "patrol": ("监督员上报", "supervisor patrol"),
    "public": ("公众举报", "public report"),
    "hotline": ("12345热线", "12345 hotline"),
    "leader": ("领导交办", "leader instruction"),
    "sensor": ("视频/传感器告警", "video or sensor alarm"),
    "inspection": ("督查暗访", "inspection"),
}
GENESIS = "0" * 64
# prev_hash and hash of log rows written by the benchmark bulk generator (sim/bulk.py): no chain.
BULK_HASH = "bulk".ljust(64, "-")


# --- who is acting -----------------------------------------------------------------------------------


def actor_of(session: Session, user: User | None) -> Actor:
    """The workflow's view of a user: roles, region scope, department (org unit code)."""
    if user is None:
        return Actor(None, frozenset({Role.public}))
    department = None
    if user.scope_org_unit_id is not None:
        department = session.scalar(
            select(OrgUnit.code).where(OrgUnit.id == user.scope_org_unit_id)
        )
    elif user.org_unit is not None and user.org_unit.kind == "department":
        department = user.org_unit.code
    return Actor(
        user.id,
        frozenset(Role(r) for r in user.role_names),
        scope_region=subtree_prefix(user.scope_region_code) if user.scope_region_code else None,
        department=department,
    )


def _context(session: Session, actor: Actor, at: datetime, inputs: ActionInput) -> Context:
    return Context(actor, at, city_clock(session), stage_limits(session), inputs)


# --- mapping between the row and the workflow's CaseState ---------------------------------------------

_STATE_COLUMNS = [
    "reported_at",
    "grid_code",
    "district_code",
    "reporter_id",
    "source",
    "self_handled",
    "type_code",
    "condition",
    "handling_limit",
    "department",
    "handler_id",
    "check_result",
    "verify_result",
    "pending_extension",
    "pending_suspension",
    "parent_id",
    "close_reason",
    "registered_at",
    "dispatched_at",
    "handled_at",
    "closed_at",
    "returns",
    "reworks",
    "extensions",
    "urges",
    "supervisions",
]


def _clock_of(row: CaseStageRow) -> StageClock:
    from cityops.core.workflow import Stage

    pauses = tuple(
        (datetime.fromisoformat(a), datetime.fromisoformat(b)) for a, b in json.loads(row.pauses)
    )
    return StageClock(
        Stage(row.stage),
        row.started_at,
        row.time_limit,
        row.due_at,
        row.warn_at,
        row.ended_at,
        row.paused_at,
        pauses,
    )


def state_of(session: Session, row: Case) -> CaseState:
    stages = session.scalars(
        select(CaseStageRow).where(CaseStageRow.case_id == row.id).order_by(CaseStageRow.id)
    )
    task = (
        Task(row.task_kind, row.task_assignee_id, row.task_opened_at)
        if row.task_kind and row.task_assignee_id is not None and row.task_opened_at
        else None
    )
    return CaseState(
        state=State(row.state),
        version=row.version,
        task=task,
        suspended_from=State(row.suspended_from) if row.suspended_from else None,
        stages=tuple(_clock_of(s) for s in stages),
        **{c: getattr(row, c) for c in _STATE_COLUMNS},
    )


def _row_values(cs: CaseState) -> dict[str, Any]:
    open_clock = cs.open_stage
    return {
        **{c: getattr(cs, c) for c in _STATE_COLUMNS},
        "state": cs.state.value,
        "version": cs.version,
        "task_kind": cs.task.kind if cs.task else None,
        "task_assignee_id": cs.task.assignee_id if cs.task else None,
        "task_opened_at": cs.task.opened_at if cs.task else None,
        "suspended_from": cs.suspended_from.value if cs.suspended_from else None,
        "stage": open_clock.stage.value if open_clock else None,
        "due_at": open_clock.due_at if open_clock else None,
        "warn_at": open_clock.warn_at if open_clock else None,
        "paused": bool(open_clock and open_clock.paused_at),
    }


def _stage_values(case_id: int, c: StageClock) -> dict[str, Any]:
    return {
        "case_id": case_id,
        "stage": c.stage.value,
        "started_at": c.started_at,
        "time_limit": c.limit,
        "due_at": c.due_at,
        "warn_at": c.warn_at,
        "ended_at": c.ended_at,
        "paused_at": c.paused_at,
        "pauses": json.dumps([[a.isoformat(), b.isoformat()] for a, b in c.pauses]),
    }


def _append(
    session: Session,
    row: Case,
    entry: LogEntry,
    seq: int,
    before: CaseState | None = None,
    *,
    prev: str | None = None,
) -> None:
    """Log row (hash chained), stage clocks, task, outbox: everything an entry asks for.

    ``before`` is the case the entry was decided on: its clocks tell a new stage run (insert)
    from a changed one (update), without reading the stage rows back. ``prev`` is the hash of
    the case's previous entry when the caller knows it (else it is read).
    """
    if prev is None:
        prev = GENESIS
        if seq > 1:
            prev = (
                session.scalar(
                    select(CaseLogRow.hash).where(
                        CaseLogRow.case_id == row.id, CaseLogRow.seq == seq - 1
                    )
                )
                or GENESIS
            )
    sql = _sql(session)
    as_json = entry.to_json()
    cursor = dbapi_cursor(session)
    sql.log.execute(
        cursor,
        {
            "case_id": row.id,
            "seq": seq,
            "action": entry.action.value,
            "at": entry.at,
            "actor_id": entry.actor_id,
            "actor_role": entry.actor_role,
            "from_state": entry.from_state.value if entry.from_state else None,
            "to_state": entry.to_state.value,
            "entry": json.dumps(as_json, ensure_ascii=False, sort_keys=True),
            "prev_hash": prev,
            "hash": entry_hash(prev, row.id, seq, entry, as_json=as_json),
        },
    )
    known = {(c.stage, c.started_at) for c in before.stages} if before else set()
    for c in entry.clocks:
        values = _stage_values(row.id, c)
        if (c.stage, c.started_at) not in known:  # a new run of a stage
            sql.stage.execute(cursor, {**values, "overdue_notified_at": None})
            continue
        session.execute(  # a run the case already had: ended, paused, re-dated
            update(CaseStageRow)
            .where(
                CaseStageRow.case_id == row.id,
                CaseStageRow.stage == c.stage.value,
                CaseStageRow.started_at == c.started_at,
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
    if entry.action in (Action.complete_check, Action.complete_verify):
        open_task = session.scalar(
            select(TaskRow).where(TaskRow.case_id == row.id, TaskRow.completed_at.is_(None))
        )
        if open_task is not None:
            open_task.completed_at = entry.at
            open_task.result = bool(entry.sets.get("check_result", entry.sets.get("verify_result")))
            open_task.note = entry.note
    if entry.action is Action.rework:
        for t in session.scalars(
            select(TaskRow).where(TaskRow.case_id == row.id, TaskRow.completed_at.is_(None))
        ):
            t.completed_at = entry.at
            t.note = "返工，任务取消 / cancelled by rework"
    if entry.task is not None:
        kind, assignee = entry.task
        due = next((c.due_at for c in entry.clocks if c.stage.value == "verify"), None)
        session.add(
            TaskRow(case_id=row.id, kind=kind, assignee_id=assignee, opened_at=entry.at, due_at=due)
        )
        session.add(
            OutboxEvent(
                event=f"task_{kind}",
                case_id=row.id,
                recipient=f"user:{assignee}",
                payload=json.dumps({"number": row.number}, ensure_ascii=False),
                created_at=entry.at,
            )
        )
    for recipient in entry.notify:
        session.add(
            OutboxEvent(
                event=entry.action.value,
                case_id=row.id,
                recipient=recipient,
                payload=json.dumps(
                    {"number": row.number, "reason": entry.reason, "note": entry.note},
                    ensure_ascii=False,
                ),
                created_at=entry.at,
            )
        )


# --- intake ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewCase:
    source: str
    description: str
    type_code: str | None = None
    lon: float | None = None
    lat: float | None = None
    crs: str = "wgs84"
    address: str = ""
    component_id: str | None = None
    photos: tuple[str, ...] = ()
    photos_after: tuple[str, ...] = ()
    reporter_name: str = ""
    reporter_phone: str = ""
    reporter_contact: str = ""
    urgent: bool = False
    self_handled: bool = False


@dataclass
class Created:
    case: Case
    created: bool  # False: the same idempotency key had already created it
    duplicate_candidates: list[int] = field(default_factory=list)
    suggestion: dict[str, Any] | None = None


def _bad(zh: str, en: str, field_name: str, code: str = "invalid_case") -> ValidationFailed:
    return ValidationFailed(zh, en=en, code=code, details={"field": field_name})


# Statements of the intake's hot path, compiled once per dialect and run on the DBAPI cursor
# (store/fast.py): SQLAlchemy's per-execution work (building the statement, its cache key, the
# execution context) cost more than SQLite's own work on these one-row statements.

_NEW_CASE_COLUMNS = tuple(c.name for c in Case.__table__.columns if c.name != "id")
_LOG_COLUMNS = tuple(c.name for c in CaseLogRow.__table__.columns if c.name != "id")
_STAGE_COLUMNS = tuple(c.name for c in CaseStageRow.__table__.columns if c.name != "id")
_OPEN_STATES_SQL = ", ".join(f"'{s.value}'" for s in OPEN_STATES)  # constants, not input


@dataclass(frozen=True)
class _IntakeSql:
    by_key: Prepared
    matter: Prepared
    number: Prepared
    case: Prepared
    log: Prepared
    stage: Prepared
    near: Prepared
    # PostgreSQL: the number's upsert and the case row in one statement (one round trip)
    numbered_case: Prepared | None


_intake_sql: dict[tuple[str, str], _IntakeSql] = {}


def _sql(session: Session) -> _IntakeSql:
    dialect = session.get_bind().dialect
    built = _intake_sql.get((dialect.name, dialect.driver))
    if built is not None:
        return built
    ins = (pg_insert if dialect.name == "postgresql" else sqlite_insert)(CaseNumberSeq)
    cases_t = Case.__table__
    near = (
        select(Case.id, Case.type_code, Case.lon, Case.lat, Case.reported_at)
        .where(
            Case.type_code == bindparam("type_code"),
            Case.id != bindparam("id"),
            text(f"cases.state IN ({_OPEN_STATES_SQL})"),
            Case.reported_at.between(bindparam("lo"), bindparam("hi")),
            Case.lon.between(bindparam("min_lon"), bindparam("max_lon")),
            Case.lat.between(bindparam("min_lat"), bindparam("max_lat")),
        )
        # The nearest in time first; a pile of reports at one spot is bounded, not all read.
        .order_by(Case.reported_at.desc())
        .limit(50)
    )
    built = _IntakeSql(
        by_key=Prepared(select(Case.id).where(Case.idempotency_key == bindparam("key")), dialect),
        matter=Prepared(
            select(CatalogType.enabled, CatalogType.public).where(
                CatalogType.kind == "matter", CatalogType.code == bindparam("code")
            ),
            dialect,
        ),
        number=Prepared(
            ins.values(prefix=bindparam("prefix"), last=1)
            .on_conflict_do_update(index_elements=["prefix"], set_={"last": CaseNumberSeq.last + 1})
            .returning(CaseNumberSeq.last),
            dialect,
        ),
        case=Prepared(insert(cases_t).returning(cases_t.c.id), dialect, _NEW_CASE_COLUMNS),  # type: ignore[arg-type]
        log=Prepared(insert(CaseLogRow.__table__), dialect, _LOG_COLUMNS),  # type: ignore[arg-type]
        stage=Prepared(insert(CaseStageRow.__table__), dialect, _STAGE_COLUMNS),  # type: ignore[arg-type]
        near=Prepared(near, dialect),
        numbered_case=_numbered_case(dialect) if dialect.name == "postgresql" else None,
    )
    _intake_sql[(dialect.name, dialect.driver)] = built
    return built


def _numbered_case(dialect: Any) -> Prepared:
    """``WITH n AS (upsert of the district-day's number RETURNING last) INSERT INTO cases …
    SELECT <number made of n.last>, … FROM n RETURNING id, number``: the number formatted as
    core.case_numbers.format_case_number does (4 digits at least, more when needed)."""
    n = (
        pg_insert(CaseNumberSeq)
        .values(prefix=bindparam("seq_prefix", type_=String), last=1)
        .on_conflict_do_update(index_elements=["prefix"], set_={"last": CaseNumberSeq.last + 1})
        .returning(CaseNumberSeq.last)
        .cte("n")
    )
    seq = n.c.last
    as_text = sql_cast(seq, String)
    number = (
        bindparam("seq_prefix", type_=String)
        + "-"
        + sql_case((seq < 10000, func.lpad(as_text, 4, "0")), else_=as_text)
    )
    cases_t = Case.__table__
    columns = [c for c in _NEW_CASE_COLUMNS if c != "number"]
    rows = select(number, *(bindparam(c, type_=cases_t.c[c].type) for c in columns)).select_from(n)
    statement = (
        insert(cases_t)  # type: ignore[arg-type]
        .from_select(["number", *columns], rows)
        .returning(cases_t.c.id, cases_t.c.number)
    )
    return Prepared(statement, dialect)


def _check_matter(session: Session, code: str, *, public: bool) -> None:
    _matter_refusal(
        _sql(session).matter.one(dbapi_cursor(session), {"code": code}), code, public=public
    )


def _matter_refusal(flags: tuple[Any, ...] | None, code: str, *, public: bool) -> None:
    """Refuse a type that is unknown, disabled, or (for the public) not public; ``flags`` is
    (enabled, public) of the type's catalog row, None without one."""
    if flags is None or not flags[0]:
        raise _bad(
            f"未知或已停用的案件类型：{code}",
            en=f"unknown or disabled case type {code}",
            field_name="type_code",
            code="unknown_catalog_code",
        )
    if public and not flags[1]:
        raise _bad(
            f"类型 {code} 不接受公众上报",
            en=f"type {code} cannot be reported by the public",
            field_name="type_code",
            code="type_not_public",
        )


def _check_attachments(session: Session, ids: Sequence[str], field_name: str) -> None:
    if not ids:
        return
    found = set(session.scalars(select(Attachment.id).where(Attachment.id.in_(list(ids)))))
    missing = [i for i in ids if i not in found]
    if missing:
        raise _bad(
            f"附件不存在：{', '.join(missing)}",
            en=f"unknown attachment(s): {', '.join(missing)}",
            field_name=field_name,
            code="unknown_attachment",
        )


def _next_number(session: Session, district: str, at: datetime, tz: ZoneInfo) -> str:
    """Per district and local day; an atomic upsert, so concurrent intakes never share one."""
    day = at.astimezone(tz).date()
    prefix = f"{district}-{day:%Y%m%d}"
    row = _sql(session).number.one(dbapi_cursor(session), {"prefix": prefix})
    assert row is not None
    seq = int(row[0])
    return format_case_number(district, day, seq)


# Columns of a new case row that the intake does not derive from the workflow's CaseState.
_NEW_ROW_DEFAULTS: dict[str, Any] = {
    "method_721": None,
    "rating": None,
    "rating_comment": "",
}


@dataclass(frozen=True)
class IntakePlan:
    """A checked intake, ready to be written (``write_intake``): everything read and refused
    before it, nothing written yet."""

    actor: Actor
    new: NewCase
    idempotency_key: str | None
    at: datetime
    tz: ZoneInfo
    entry: LogEntry
    state: CaseState
    district: str
    values: dict[str, Any]  # the case row's columns, except number and id
    duplicates: bool


def prepare_intake(
    session: Session,
    actor: Actor,
    new: NewCase,
    *,
    idempotency_key: str | None = None,
    now: datetime | None = None,
    duplicates: bool = True,
    type_checked: bool = False,
) -> IntakePlan | Created:
    """Check an intake (reads only; refusals raise, nothing is written). A retried submission
    with the same key answers the first case at once (``Created``, created False)."""
    if idempotency_key and len(idempotency_key) > 100:
        raise _bad(
            "Idempotency-Key 过长（上限 100 字符）",
            en="Idempotency-Key too long (100 characters at most)",
            field_name="Idempotency-Key",
        )
    # The two look-ups of the database before the checks, sent together (one round trip on
    # PostgreSQL); their refusals come in the usual order below.
    sql = _sql(session)
    check_type = bool(new.type_code and not type_checked)
    flags: tuple[Any, ...] | None = None
    found: tuple[Any, ...] | None = None
    if idempotency_key or check_type:
        cursor = dbapi_cursor(session)
        other = cursor.connection.cursor()
        with pipelined(session):
            if idempotency_key:
                sql.by_key.execute(cursor, {"key": idempotency_key})
            if check_type:
                sql.matter.execute(other, {"code": new.type_code})
            found = sql.by_key.first(cursor) if idempotency_key else None
            if check_type:
                flags = sql.matter.first(other)
    if idempotency_key and found is not None:
        existing = session.get(Case, found[0])
        assert existing is not None
        return Created(existing, created=False)
    clock = city_clock(session)
    at = now or datetime.now(clock.tz)
    is_public = actor.user_id is None
    if new.source not in SOURCES:
        raise _bad(
            f"未知来源 {new.source}；可选：{', '.join(SOURCES)}",
            en=f"unknown source {new.source}; use one of {', '.join(SOURCES)}",
            field_name="source",
        )
    if is_public and new.source != "public":
        raise _bad(
            "公众只能以 public 来源上报",
            en="the public reports as source public",
            field_name="source",
        )
    if not new.description.strip() and not new.type_code:
        raise _bad(
            "请描述问题或选择类型",
            en="describe the problem or choose a type",
            field_name="description",
        )
    if len(new.description) > 4000:
        raise _bad(
            "问题描述过长（上限 4000 字）",
            en="description too long (4,000 characters at most)",
            field_name="description",
        )
    if new.type_code and check_type:
        _matter_refusal(flags, new.type_code, public=is_public)
    component = None
    if new.component_id:
        component = session.get(Component, new.component_id)
        if component is None:
            raise _bad(
                f"部件 {new.component_id} 不存在",
                en=f"no component {new.component_id}",
                field_name="component_id",
                code="unknown_component",
            )
    lon, lat, crs = new.lon, new.lat, new.crs
    if (lon is None or lat is None) and component is not None:
        lon, lat, crs = component.lon, component.lat, "wgs84"
    if lon is None or lat is None:
        raise _bad("缺少位置（经纬度）", en="a position (lon/lat) is required", field_name="lon")
    loc = spatial_index(session).locate(lon, lat, crs)
    _check_attachments(session, new.photos, "photos")
    _check_attachments(session, new.photos_after, "photos_after")
    if new.self_handled:
        if Role.supervisor not in actor.roles:
            raise Forbidden(
                "只有监督员可以自行处置",
                en="only supervisors handle problems themselves",
                code="wrong_role",
            )
        if not new.type_code or not new.photos or not new.photos_after:
            raise _bad(
                "自行处置需要类型、处置前照片和处置后照片",
                en="a self-handled report needs a type, before photos and after photos",
                field_name="photos_after",
            )
    reporter_role = "public" if is_public else sorted(r.value for r in actor.roles)[0]
    if Role.supervisor in actor.roles:
        reporter_role = "supervisor"
    description = new.description.strip()
    entry = open_case(
        Intake(
            at=at,
            source=new.source,
            grid_code=loc.grid,
            district_code=loc.district,
            reporter_id=actor.user_id,
            reporter_role=reporter_role,
            type_code=new.type_code,
            self_handled=new.self_handled,
            description=description,
            attachments=new.photos,
        ),
        stage_limits(session),
        clock,
    )
    cs = evolve(None, entry)
    values = {
        "description": description,
        "address": new.address.strip()[:200],
        "lon": loc.lon,
        "lat": loc.lat,
        "community_code": loc.community,
        "street_code": loc.street,
        "component_id": new.component_id,
        "reporter_name": new.reporter_name.strip()[:50],
        "reporter_phone": new.reporter_phone.strip()[:30],
        "reporter_contact": new.reporter_contact.strip()[:200],
        "urgent": new.urgent,
        "idempotency_key": idempotency_key,
        "updated_at": at,
        **_NEW_ROW_DEFAULTS,
        **_row_values(cs),
    }
    return IntakePlan(
        actor, new, idempotency_key, at, clock.tz, entry, cs, loc.district, values, duplicates
    )


def write_intake(
    session: Session,
    plan: IntakePlan,
    *,
    also: Callable[[Any, Case], None] | None = None,
) -> Created:
    """Write a prepared intake: case number, case row, first log entry, register clock (and the
    close of a self-handled report). Prepared statements on the DBAPI cursor, no ORM flush;
    the returned ``Case`` is attached to the session as loaded, without a read back.

    ``also(cursor, row)`` writes what the caller adds (with Prepared statements only): on
    PostgreSQL the statements whose results are not read go out in one round trip with the
    next one that is (store/fast.py ``pipelined``)."""
    with pipelined(session):  # Prepared statements only inside
        sql = _sql(session)
        cursor = dbapi_cursor(session)
        if sql.numbered_case is not None:  # one round trip for number and row
            day = plan.at.astimezone(plan.tz).date()
            format_case_number(plan.district, day, 1)  # (checks the parts)
            prefix = f"{plan.district}-{day:%Y%m%d}"
            inserted = sql.numbered_case.one(cursor, {"seq_prefix": prefix, **plan.values})
            assert inserted is not None
            values = {"number": inserted[1], **plan.values}
        else:
            values = {
                "number": _next_number(session, plan.district, plan.at, plan.tz),
                **plan.values,
            }
            inserted = sql.case.one(cursor, values)
            assert inserted is not None
        case_id = int(inserted[0])
        row = _loaded(session, case_id, values)
        _append(session, row, plan.entry, 1, prev=GENESIS)
        if also is not None:
            also(cursor, row)
        duplicates = _duplicates(session, row) if plan.duplicates else []
    if plan.new.self_handled:
        _apply(
            session,
            row,
            plan.state,
            Action.close,
            plan.actor,
            ActionInput(photos_before=plan.new.photos, photos_after=plan.new.photos_after),
            plan.at,
            prev=plan_hash(plan, case_id),
        )
    return Created(row, True, duplicates, None)


_CASE_MAPPER = inspect(Case)


def _loaded(session: Session, case_id: int, values: dict[str, Any]) -> Case:
    """The written row as the ORM would load it: every column set, nothing pending, in the
    session's identity map (no attribute events: a freshly loaded instance's state)."""
    row: Case = _CASE_MAPPER.class_manager.new_instance()
    state = instance_state(row)
    state.dict.update(values)
    state.dict["id"] = case_id
    make_transient_to_detached(row)
    session.add(row)
    return row


def plan_hash(plan: IntakePlan, case_id: int) -> str:
    """The hash of an intake's first log entry (the chain's first link)."""
    return entry_hash(GENESIS, case_id, 1, plan.entry)


def create_case(
    session: Session,
    user: User | None,
    new: NewCase,
    *,
    idempotency_key: str | None = None,
    now: datetime | None = None,
    actor: Actor | None = None,
    duplicates: bool = True,
    type_checked: bool = False,
) -> Created:
    """Intake from any channel. A retried submission with the same key returns the first case.

    ``actor`` (the workflow's view of ``user``) may be given when the caller has it;
    ``duplicates=False`` skips the probe for likely duplicates (for callers that do not show
    them); ``type_checked`` says the caller has checked the type (enabled, public if public)."""
    plan = prepare_intake(
        session,
        actor or actor_of(session, user),
        new,
        idempotency_key=idempotency_key,
        now=now,
        duplicates=duplicates,
        type_checked=type_checked,
    )
    if isinstance(plan, Created):
        return plan
    return write_intake(session, plan)


def _duplicates(session: Session, row: Case) -> list[int]:
    if not row.type_code or row.lon is None or row.lat is None:
        return []
    policy = cityconfig.active().duplicates
    min_lon, min_lat, max_lon, max_lat = policy.bbox(row.lon, row.lat)
    near = _sql(session).near.all(
        dbapi_cursor(session),
        {
            "type_code": row.type_code,
            "id": row.id,
            "lo": row.reported_at - policy.window,
            "hi": row.reported_at + policy.window,
            "min_lon": min_lon,
            "max_lon": max_lon,
            "min_lat": min_lat,
            "max_lat": max_lat,
        },
    )
    new = CaseSketch(row.id, row.type_code, row.lon, row.lat, row.reported_at)
    return [
        int(c.case.id)
        for c in policy.find(
            new,
            (
                CaseSketch(i, t, x, y, r)
                for i, t, x, y, r in near
                if t is not None and x is not None and y is not None
            ),
        )
    ]


# --- actions ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActionRequest:
    reason: str = ""
    note: str = ""
    type_code: str | None = None
    condition: str | None = None
    department: str | None = None
    handler: str | None = None  # user name
    supervisor: str | None = None  # user name
    result: bool | None = None
    extension: str | None = None  # e.g. "1工作日"
    parent: str | None = None  # case number or id
    photos_before: tuple[str, ...] = ()
    photos_after: tuple[str, ...] = ()
    attachments: tuple[str, ...] = ()


def get_case(session: Session, ref: str | int, *, lock: bool = False) -> Case:
    """By id or by case number."""
    q = select(Case)
    if isinstance(ref, int) or str(ref).isdigit():
        q = q.where(Case.id == int(ref))
    else:
        q = q.where(Case.number == str(ref))
    if lock:
        q = q.with_for_update()
    row = session.scalar(q)
    if row is None:
        raise NotFound(f"没有案件 {ref}", en=f"no case {ref}", code="unknown_case")
    return row


def _user_by_name(session: Session, username: str, role: Role, field_name: str) -> User:
    u = session.scalar(select(User).where(User.username == username))
    if u is None or not u.active:
        raise _bad(
            f"用户 {username} 不存在或已停用",
            en=f"no active user {username}",
            field_name=field_name,
            code="unknown_user",
        )
    if role.value not in u.role_names:
        raise _bad(
            f"{username} 不是{role.label_zh}",
            en=f"{username} is not a {role.label_en}",
            field_name=field_name,
            code=f"not_a_{role.value}",
        )
    return u


def _resolve_inputs(session: Session, row: Case, action: Action, req: ActionRequest) -> ActionInput:
    """Names in the request → ids and limits the workflow works with; every name checked."""
    handling_limit = None
    type_code = req.type_code or row.type_code
    if action is Action.register:
        if not type_code:
            raise _bad(
                "立案需要选择案件类型",
                en="registering needs a case type",
                field_name="type_code",
                code="missing_input",
            )
        _check_matter(session, type_code, public=False)
        conditions = list(
            session.scalars(
                select(CaseStandardRow)
                .where(CaseStandardRow.type_code == type_code)
                .order_by(CaseStandardRow.seq)
            )
        )
        if not conditions:
            raise _bad(
                f"类型 {type_code} 没有立结案标准，请管理员先导入",
                en=f"type {type_code} has no case standard; an admin must import one",
                field_name="condition",
                code="no_case_standard",
            )
        chosen = next((c for c in conditions if req.condition in (c.condition, str(c.seq))), None)
        if req.condition and chosen is None:
            raise ValidationFailed(
                f"类型 {type_code} 没有立案条件「{req.condition}」",
                en=f"type {type_code} has no condition {req.condition!r}",
                code="unknown_condition",
                details={"field": "condition", "choices": [c.condition for c in conditions]},
            )
        if chosen is not None:
            handling_limit = TimeLimit.parse(chosen.time_limit)
            req = ActionRequest(**{**_asdict(req), "condition": chosen.condition})
    department = None
    if req.department:
        org = session.scalar(select(OrgUnit).where(OrgUnit.code == req.department))
        if org is None or not org.active:
            raise _bad(
                f"未知部门 {req.department}",
                en=f"unknown department {req.department}",
                field_name="department",
                code="unknown_department",
            )
        department = org.code
    handler = (
        _user_by_name(session, req.handler, Role.handler, "handler").id if req.handler else None
    )
    supervisor = (
        _user_by_name(session, req.supervisor, Role.supervisor, "supervisor").id
        if req.supervisor
        else None
    )
    parent = None
    if req.parent:
        p = get_case(session, req.parent)
        if p.id == row.id:
            raise _bad(
                "不能与自身合并", en="a case cannot be merged into itself", field_name="parent"
            )
        if p.state in (State.voided.value,):
            raise _bad("主案件已作废", en="the parent case is voided", field_name="parent")
        parent = p.id
    for ids, name in (
        (req.photos_before, "photos_before"),
        (req.photos_after, "photos_after"),
        (req.attachments, "attachments"),
    ):
        _check_attachments(session, ids, name)
    return ActionInput(
        reason=req.reason,
        note=req.note,
        type_code=type_code if action is Action.register else req.type_code,
        condition=req.condition,
        handling_limit=handling_limit,
        department=department,
        handler=handler,
        supervisor=supervisor,
        result=req.result,
        extension=TimeLimit.parse(req.extension) if req.extension else None,
        parent=parent,
        photos_before=req.photos_before,
        photos_after=req.photos_after,
        attachments=req.attachments,
    )


def _asdict(req: ActionRequest) -> dict[str, Any]:
    return {f.name: getattr(req, f.name) for f in fields(req)}


def _apply(
    session: Session,
    row: Case,
    current: CaseState,
    action: Action,
    actor: Actor,
    inputs: ActionInput,
    at: datetime,
    *,
    prev: str | None = None,
) -> CaseState:
    entry = decide(current, action, _context(session, actor, at, inputs))
    new = evolve(current, entry)
    values = _row_values(new)
    values["updated_at"] = at
    result = session.execute(
        update(Case)
        .where(Case.id == row.id, Case.version == current.version)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(
            "案件已被他人更新，请刷新后重试",
            en="the case was changed by someone else; reload and try again",
            code="stale_version",
        )
    _append(session, row, entry, new.version, current, prev=prev)
    session.flush()
    for key, value in values.items():  # the row now holds what was written, no re-read
        set_committed_value(row, key, value)
    return new


def act(
    session: Session,
    case_ref: str | int,
    action_name: str,
    user: User,
    req: ActionRequest,
    *,
    expected_version: int | None = None,
    now: datetime | None = None,
) -> Case:
    """Take one action on a case as ``user``; refused actions raise with the reason."""
    try:
        action = Action(action_name)
    except ValueError:
        raise NotFound(
            f"未知操作 {action_name}",
            en=f"unknown action {action_name}",
            code="unknown_action",
            details={"actions": [a.value for a in Action if a is not Action.report]},
        ) from None
    if action is Action.report:
        raise _bad(
            "上报请用 POST /api/v1/cases",
            en="report through POST /api/v1/cases",
            field_name="action",
        )
    row = get_case(session, case_ref)
    current = state_of(session, row)
    if expected_version is not None and expected_version != current.version:
        raise Conflict(
            f"案件版本已变化（您的版本 {expected_version}，当前 {current.version}），请刷新",
            en=f"stale version {expected_version}; the case is now at {current.version}",
            code="stale_version",
            details={"version": current.version, "state": current.state.value},
        )
    actor = actor_of(session, user)
    inputs = _resolve_inputs(session, row, action, req)
    at = now or datetime.now(city_clock(session).tz)
    new = _apply(session, row, current, action, actor, inputs, at)
    if action is Action.register:
        _maybe_auto_dispatch(session, row, new, at)
    return row


def suggestion_for(session: Session, row: Case) -> dict[str, Any]:
    owner = maint = None
    if row.component_id:
        comp = session.get(Component, row.component_id)
        if comp is not None:
            ids = [i for i in (comp.owner_org_unit_id, comp.maintenance_org_unit_id) if i]
            codes = (
                dict(
                    session.execute(
                        select(OrgUnit.id, OrgUnit.code).where(OrgUnit.id.in_(ids))
                    ).all()
                )
                if ids
                else {}
            )
            owner = codes.get(comp.owner_org_unit_id) if comp.owner_org_unit_id else None
            maint = (
                codes.get(comp.maintenance_org_unit_id) if comp.maintenance_org_unit_id else None
            )
    s = rule_set(session).resolve(
        row.type_code, row.type_code[:2] if row.type_code else None, row.grid_code, owner, maint
    )
    return {
        "department": s.department,
        "auto_dispatch": s.auto_dispatch,
        "source": s.source,
        "reason": s.reason,
        "reason_en": s.reason_en,
    }


def _maybe_auto_dispatch(session: Session, row: Case, cs: CaseState, at: datetime) -> None:
    s = suggestion_for(session, row)
    if not (s["auto_dispatch"] and s["department"]):
        return
    system = Actor(None, frozenset({Role.dispatcher}))
    _apply(
        session,
        row,
        cs,
        Action.dispatch,
        system,
        ActionInput(department=s["department"], note=f"自动派遣：{s['reason']}"),
        at,
    )


def actions_for(session: Session, row: Case, user: User) -> list[str]:
    return [a.value for a in allowed_actions(state_of(session, row), actor_of(session, user))]


# --- reads -----------------------------------------------------------------------------------------------


def can_see(session: Session, row: Case, user: User) -> bool:
    actor = actor_of(session, user)
    if actor.scope_region and not (row.grid_code or row.district_code or "").startswith(
        actor.scope_region
    ):
        return False
    roles = actor.roles
    if roles & {
        Role.acceptor,
        Role.shift_leader,
        Role.dispatcher,
        Role.leader,
        Role.evaluator,
        Role.admin,
    }:
        return True
    if (
        roles & {Role.department, Role.handler}
        and actor.department
        and row.department == actor.department
    ):
        return True
    if Role.supervisor in roles and (row.reporter_id == user.id or row.task_assignee_id == user.id):
        return True
    return bool(actor.scope_region) and bool(roles & {Role.supervisor})


def visible(session: Session, row: Case, user: User) -> Case:
    if not can_see(session, row, user):
        raise Forbidden(
            "该案件不在您的数据范围内",
            en="this case is outside your data scope",
            code="outside_scope",
        )
    return row


def log_of(session: Session, case_id: int) -> list[CaseLogRow]:
    return list(
        session.scalars(
            select(CaseLogRow).where(CaseLogRow.case_id == case_id).order_by(CaseLogRow.seq)
        )
    )


@dataclass(frozen=True)
class CaseQuery:
    state: list[str] | None = None
    stage: str | None = None
    type_code: str | None = None
    region: str | None = None
    department: str | None = None
    source: str | None = None
    overdue: bool | None = None
    light: str | None = None
    text: str | None = None
    mine: bool = False
    sort: str = "due_at"
    page: int = 1
    page_size: int = 50


SORTS: dict[str, tuple[ColumnElement[Any], ...]] = {
    # Cases with no running clock (handled, verified) sort after every deadline, on both
    # databases (SQLite and PostgreSQL put NULLs at opposite ends by default).
    "due_at": (Case.due_at.asc().nulls_last(), Case.id.asc()),
    "-due_at": (Case.due_at.desc().nulls_last(), Case.id.desc()),
    "reported_at": (Case.reported_at.asc(), Case.id.asc()),
    "-reported_at": (Case.reported_at.desc(), Case.id.desc()),
    "number": (Case.number.asc(),),
}


def scope_filter(actor: Actor, user: User) -> list[Any]:
    """WHERE clauses on ``Case`` for the cases ``user`` may see (lists, map, dashboard)."""
    where: list[Any] = []
    if actor.scope_region:
        where.append(
            or_(
                Case.grid_code.like(f"{actor.scope_region}%"),
                Case.district_code.like(f"{actor.scope_region}%"),
            )
        )
    centre = {
        Role.acceptor,
        Role.shift_leader,
        Role.dispatcher,
        Role.leader,
        Role.evaluator,
        Role.admin,
    }
    if not actor.roles & centre:
        own = []
        if actor.department:
            own.append(Case.department == actor.department)
        if user.id is not None:
            own.extend(
                [
                    Case.reporter_id == user.id,
                    Case.task_assignee_id == user.id,
                    Case.handler_id == user.id,
                ]
            )
        where.append(or_(*own))
    return where


def list_cases(
    session: Session, user: User, q: CaseQuery, *, now: datetime | None = None
) -> tuple[list[Case], int]:
    """Cases the user may see, filtered and paged; the total for the pager."""
    at = now or datetime.now(city_clock(session).tz)
    actor = actor_of(session, user)
    where = scope_filter(actor, user)
    if q.mine:
        where.append(_mine(actor))
    if q.state:
        where.append(Case.state.in_(q.state))
    if q.stage:
        where.append(Case.stage == q.stage)
    if q.type_code:
        where.append(Case.type_code.like(f"{q.type_code}%"))
    if q.region:
        where.append(Case.grid_code.like(f"{q.region}%"))
    if q.department:
        where.append(Case.department == q.department)
    if q.source:
        where.append(Case.source == q.source)
    if q.overdue is True:
        where.append(and_(Case.due_at < at, Case.paused.is_(False)))
    elif q.overdue is False:
        where.append(or_(Case.due_at.is_(None), Case.due_at >= at))
    if q.text:
        like = f"%{q.text.strip()}%"
        where.append(
            or_(Case.number.like(like), Case.description.like(like), Case.address.like(like))
        )
    if q.light:
        where.append(_light_filter(q.light, at))
    total = session.scalar(select(func.count()).select_from(Case).where(*where)) or 0
    order = SORTS.get(q.sort)
    if order is None:
        raise _bad(f"未知排序 {q.sort}", en=f"unknown sort {q.sort}", field_name="sort")
    rows = list(
        session.scalars(
            select(Case)
            .where(*where)
            .order_by(*order)
            .offset((q.page - 1) * q.page_size)
            .limit(q.page_size)
        )
    )
    return rows, total


def _mine(actor: Actor) -> Any:
    """Cases waiting for this actor's move (the work queue)."""
    parts: list[ColumnElement[bool]] = []
    roles = actor.roles
    if roles & {Role.acceptor, Role.shift_leader}:
        parts.append(Case.state.in_([State.reported.value, State.verifying.value]))
    if roles & {Role.dispatcher, Role.shift_leader}:
        parts.append(Case.state.in_([State.pending_dispatch.value, State.handled.value]))
        parts.append(Case.pending_extension.is_not(None))
        parts.append(Case.pending_suspension.is_not(None))
    if Role.department in roles and actor.department:
        parts.append(
            and_(
                Case.department == actor.department,
                Case.state.in_([State.dispatched.value, State.handling.value]),
            )
        )
    if Role.handler in roles and actor.user_id is not None:
        parts.append(and_(Case.handler_id == actor.user_id, Case.state == State.handling.value))
    if Role.supervisor in roles and actor.user_id is not None:
        parts.append(Case.task_assignee_id == actor.user_id)
    return or_(*parts) if parts else Case.id.is_(None)


def _light_filter(light: str, at: datetime) -> Any:
    """Lights from the open stage's stored instants: yellow at 80 % of the limit, red past due."""
    if light not in ("green", "yellow", "red"):
        raise _bad(
            "light 应为 green、yellow 或 red",
            en="light must be green, yellow or red",
            field_name="light",
        )
    running = Case.paused.is_(False)
    if light == "red":
        return and_(running, Case.due_at < at)
    if light == "yellow":
        return and_(running, Case.warn_at <= at, Case.due_at >= at)
    return and_(Case.due_at.is_not(None), or_(Case.paused.is_(True), Case.warn_at > at))


# --- audit -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditProblem:
    case_id: int
    seq: int | None
    problem: str


def verify_case(session: Session, case_id: int) -> list[AuditProblem]:
    """Re-hash the chain and replay the log: both must match the stored rows."""
    problems: list[AuditProblem] = []
    prev = GENESIS
    entries: list[LogEntry] = []
    for i, r in enumerate(log_of(session, case_id), start=1):
        if r.hash == BULK_HASH:
            return [
                AuditProblem(
                    case_id,
                    None,
                    "批量生成的基准数据，没有哈希链（bulk-generated benchmark data, no hash chain）",
                )
            ]
        if r.seq != i:
            problems.append(AuditProblem(case_id, r.seq, f"序号不连续：期望 {i}"))
        entry = LogEntry.from_json(json.loads(r.entry))
        entries.append(entry)
        if r.prev_hash != prev:
            problems.append(AuditProblem(case_id, r.seq, "prev_hash 与上一条不符（链断裂）"))
        if entry_hash(r.prev_hash, case_id, r.seq, entry) != r.hash:
            problems.append(AuditProblem(case_id, r.seq, "内容与哈希不符（记录被改动）"))
        # The indexed columns repeat the entry for queries: they must say the same.
        columns = (r.action, r.at, r.actor_id, r.actor_role, r.from_state, r.to_state)
        recorded = (
            entry.action.value,
            entry.at,
            entry.actor_id,
            entry.actor_role,
            entry.from_state.value if entry.from_state else None,
            entry.to_state.value,
        )
        if columns != recorded:
            problems.append(AuditProblem(case_id, r.seq, "列值与记录内容不符（列被改动）"))
        prev = r.hash
    if not entries:
        return [AuditProblem(case_id, None, "案件没有日志")]
    row = session.get(Case, case_id)
    assert row is not None
    if rebuild(entries) != state_of(session, row):
        problems.append(AuditProblem(case_id, None, "案件当前状态与日志重放结果不符"))
    return problems


def verify_all(session: Session, batch: int = 1000) -> tuple[int, list[AuditProblem]]:
    ids = list(session.scalars(select(Case.id).order_by(Case.id)))
    problems: list[AuditProblem] = []
    for case_id in ids:
        problems.extend(verify_case(session, case_id))
    return len(ids), problems


# --- supervisor tasks ------------------------------------------------------------------------------


def tasks_of(session: Session, user: User, *, open_only: bool = True) -> list[tuple[TaskRow, str]]:
    q = (
        select(TaskRow, Case.number)
        .join(Case, Case.id == TaskRow.case_id)
        .where(TaskRow.assignee_id == user.id)
        .order_by(TaskRow.opened_at)
    )
    if open_only:
        q = q.where(TaskRow.completed_at.is_(None))
    return [(t, n) for t, n in session.execute(q).all()]


def complete_task(
    session: Session,
    task_id: int,
    user: User,
    result: bool,
    note: str,
    photos: tuple[str, ...],
    expected_version: int | None = None,
    *,
    now: datetime | None = None,
) -> Case:
    task = session.get(TaskRow, task_id)
    if task is None:
        raise NotFound(f"没有任务 {task_id}", en=f"no task {task_id}", code="unknown_task")
    if task.assignee_id != user.id:
        raise Forbidden("这不是您的任务", en="this task is not yours", code="not_your_task")
    if task.completed_at is not None:
        raise Conflict("任务已完成", en="the task is already completed", code="task_completed")
    action = "complete_check" if task.kind == "check" else "complete_verify"
    return act(
        session,
        task.case_id,
        action,
        user,
        ActionRequest(result=result, note=note, attachments=photos),
        expected_version=expected_version,
        now=now,
    )


# --- the overdue sweep -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepResult:
    open_stages: int
    newly_overdue: int


def sweep_overdue(session: Session, *, now: datetime | None = None) -> SweepResult:
    """Announce every open, running stage past its deadline once (an ``overdue`` outbox event
    to the case's current holder) and count the open stages checked. Set-based: two queries
    whatever the number of cases, so it can run every minute."""
    at = now or datetime.now(city_clock(session).tz)
    open_stages = (
        session.scalar(
            select(func.count()).select_from(CaseStageRow).where(CaseStageRow.ended_at.is_(None))
        )
        or 0
    )
    due = session.execute(
        select(
            CaseStageRow.id,
            CaseStageRow.stage,
            CaseStageRow.due_at,
            Case.id,
            Case.number,
            Case.department,
            Case.handler_id,
            Case.task_assignee_id,
        )
        .join(Case, Case.id == CaseStageRow.case_id)
        .where(
            CaseStageRow.ended_at.is_(None),
            CaseStageRow.paused_at.is_(None),
            CaseStageRow.due_at < at,
            CaseStageRow.overdue_notified_at.is_(None),
        )
    ).all()
    events = []
    for _stage_id, stage, due_at, case_id, number, dept, handler, assignee in due:
        if stage in ("register", "dispatch"):
            recipient = "centre"
        elif stage == "verify" and assignee:
            recipient = f"user:{assignee}"
        elif handler:
            recipient = f"user:{handler}"
        else:
            recipient = f"department:{dept}" if dept else "centre"
        events.append(
            {
                "event": "overdue",
                "case_id": case_id,
                "recipient": recipient,
                "payload": json.dumps(
                    {"number": number, "stage": stage, "due_at": due_at.isoformat()},
                    ensure_ascii=False,
                ),
                "created_at": at,
            }
        )
    if events:
        session.execute(insert(OutboxEvent), events)
        session.execute(
            update(CaseStageRow)
            .where(CaseStageRow.id.in_([d[0] for d in due]))
            .values(overdue_notified_at=at)
            .execution_options(synchronize_session=False)
        )
    session.flush()
    return SweepResult(open_stages, len(events))
