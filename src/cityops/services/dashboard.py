"""Dashboard figures: today's and this month's KPIs, trend, top types, sources, departments,
districts. Every figure is a count of cases under one *metric* (a named WHERE on ``cases``), so
the list behind any number is the same WHERE with paging (`metric_cases`): what is counted is
exactly what a click shows.

Metrics over a period P = [start, end) in the city's time zone:

| metric | a case counts when |
|---|---|
| reported | it was reported in P (``reported_at``) |
| registered | it has a ``register`` log entry in P |
| dispatched | it has a ``dispatch`` log entry in P |
| closed | it is closed and ``closed_at`` is in P |
| handled | a handling run of it ended in P (the department reported the result) |
| on_time | handled in P, and no handling run that ended in P ended after its deadline |
| late | handled in P, and some handling run that ended in P ended after its deadline |
| overdue | it is open now and its open stage is past its deadline (not paused); P is ignored |
| open | it is open now; P is ignored |

On-time rate = on_time / handled (None when nothing was handled). Set-based: one COUNT or one
GROUP BY per figure, whatever the number of cases. The period's metrics are driven by the
period's rows, never by the whole history: registered and dispatched by the log's (action, at,
case_id, …) index, handled, on time and late by the stage runs' (stage, ended_at, case_id,
due_at) index, reported and closed by the case's own instants. Unfiltered (a centre user, no
drill-down filter) they are counted on those indexes alone as distinct case ids.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import CompoundSelect, Select, and_, case, exists, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from cityops.core.errors import ValidationFailed
from cityops.core.workflow import OPEN_STATES, State
from cityops.services.calendar import city_clock
from cityops.services.cases import SORTS, SOURCES, actor_of, scope_filter
from cityops.store.schema import Case, CaseLogRow, CaseStageRow, CatalogType, OrgUnit, Region, User

METRICS = (
    "reported",
    "registered",
    "dispatched",
    "closed",
    "handled",
    "on_time",
    "late",
    "overdue",
    "open",
)
DIMENSIONS = ("type", "source", "department", "district")
_OPEN = [s.value for s in OPEN_STATES]


@dataclass(frozen=True)
class Period:
    key: str  # "today", "month", "2026-11", "2026-11-24"
    start: datetime
    end: datetime

    @property
    def days(self) -> int:
        return max(1, round((self.end - self.start).total_seconds() / 86400))


def _bad(zh: str, en: str, field: str) -> ValidationFailed:
    return ValidationFailed(zh, en=en, code="invalid_request", details={"field": field})


def period_of(key: str, now: datetime, tz: ZoneInfo) -> Period:
    """``today``, ``month``, ``YYYY-MM`` or ``YYYY-MM-DD``, in local time."""
    local = now.astimezone(tz)
    if key == "today":
        day = local.date()
        return _day(key, day, tz)
    if key == "month":
        return _month(key, local.year, local.month, tz)
    if re.fullmatch(r"\d{4}-\d{2}", key):
        year, month = (int(x) for x in key.split("-"))
        if 1 <= month <= 12:
            return _month(key, year, month, tz)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", key):
        try:
            return _day(key, date.fromisoformat(key), tz)
        except ValueError:
            pass
    raise _bad(
        f"无法识别的统计周期：{key}（today、month、YYYY-MM 或 YYYY-MM-DD）",
        f"unknown period {key} (today, month, YYYY-MM or YYYY-MM-DD)",
        "period",
    )


def _day(key: str, day: date, tz: ZoneInfo) -> Period:
    start = datetime(day.year, day.month, day.day, tzinfo=tz)
    return Period(key, start, start + timedelta(days=1))


def _month(key: str, year: int, month: int, tz: ZoneInfo) -> Period:
    start = datetime(year, month, 1, tzinfo=tz)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=tz)
    return Period(key, start, end)


def _handling_ended(p: Period, *, late: bool = False) -> Select[int]:
    """Ids of the cases with a handling run that ended in P (after its deadline, if ``late``):
    read from ``ix_case_stage_stage_ended`` alone (it holds case_id and due_at too)."""
    q = select(CaseStageRow.case_id).where(
        CaseStageRow.stage == "handling",
        CaseStageRow.ended_at >= p.start,
        CaseStageRow.ended_at < p.end,
    )
    if late:
        q = q.where(CaseStageRow.ended_at > CaseStageRow.due_at)
    return q


def _logged(action: str, p: Period) -> Select[int]:
    """Ids of the cases with an ``action`` log entry in P: from ``ix_case_log_action_at``."""
    return select(CaseLogRow.case_id).where(
        CaseLogRow.action == action, CaseLogRow.at >= p.start, CaseLogRow.at < p.end
    )


def _late_run(p: Period) -> Any:
    """The case has a handling run that ended in P after its deadline (correlated: an anti-join
    on PostgreSQL, an index probe per candidate on SQLite)."""
    return exists().where(
        CaseStageRow.case_id == Case.id,
        CaseStageRow.stage == "handling",
        CaseStageRow.ended_at >= p.start,
        CaseStageRow.ended_at < p.end,
        CaseStageRow.ended_at > CaseStageRow.due_at,
    )


def _ids(metric: str, p: Period) -> CompoundSelect[int] | Select[int] | None:
    """The ids of a metric's cases from the log or the stage runs alone, when the metric is
    defined by them (no column of the case needed): the fast way to count it unfiltered."""
    if metric in ("registered", "dispatched"):
        return _logged("register" if metric == "registered" else "dispatch", p)
    if metric == "handled":
        return _handling_ended(p)
    if metric == "late":
        return _handling_ended(p, late=True)
    if metric == "on_time":
        return _handling_ended(p).except_(_handling_ended(p, late=True))
    return None


def metric_filter(metric: str, p: Period, now: datetime) -> list[Any]:
    """The WHERE clauses of a metric (module docstring)."""
    if metric == "reported":
        return [Case.reported_at >= p.start, Case.reported_at < p.end]
    if metric in ("registered", "dispatched"):
        return [Case.id.in_(_logged("register" if metric == "registered" else "dispatch", p))]
    if metric == "closed":
        return [Case.state == State.closed.value, Case.closed_at >= p.start, Case.closed_at < p.end]
    if metric == "handled":
        return [Case.id.in_(_handling_ended(p))]
    if metric == "on_time":
        return [Case.id.in_(_handling_ended(p)), ~_late_run(p)]
    if metric == "late":
        return [Case.id.in_(_handling_ended(p, late=True))]
    if metric == "overdue":
        return [Case.state.in_(_OPEN), Case.paused.is_(False), Case.due_at < now]
    if metric == "open":
        return [Case.state.in_(_OPEN)]
    raise _bad(
        f"未知指标 {metric}；可选：{'、'.join(METRICS)}",
        f"unknown metric {metric}; use one of {', '.join(METRICS)}",
        "metric",
    )


@dataclass(frozen=True)
class Dims:
    """Drill-down filters: type code or major-class prefix, source, department, region prefix."""

    type: str | None = None
    source: str | None = None
    department: str | None = None
    district: str | None = None

    def where(self) -> list[Any]:
        out: list[Any] = []
        if self.type:
            out.append(Case.type_code.like(f"{self.type}%"))
        if self.source:
            out.append(Case.source == self.source)
        if self.department:
            out.append(Case.department == self.department)
        if self.district:
            out.append(Case.grid_code.like(f"{self.district}%"))
        return out

    def params(self) -> dict[str, str]:
        return {k: v for k, v in vars(self).items() if v}


def _base(session: Session, user: User) -> list[Any]:
    return scope_filter(actor_of(session, user), user)


def count(
    session: Session, user: User, metric: str, p: Period, now: datetime, dims: Dims = Dims()
) -> int:
    return _count(session, _base(session, user), metric, p, now, dims)


def _count(
    session: Session, base: list[Any], metric: str, p: Period, now: datetime, dims: Dims
) -> int:
    """COUNT of the metric's WHERE; without a scope or a filter on the case, a metric defined by
    the log or the stage runs counts the distinct case ids there (same set: every log entry and
    stage run belongs to a case) and never reads ``cases``."""
    ids = _ids(metric, p)
    where = [*base, *dims.where()]
    if ids is not None and not where:
        distinct = ids.subquery() if isinstance(ids, CompoundSelect) else ids.distinct().subquery()
        return session.scalar(select(func.count()).select_from(distinct)) or 0
    where += metric_filter(metric, p, now)
    return session.scalar(select(func.count()).select_from(Case).where(*where)) or 0


@dataclass(frozen=True)
class Kpis:
    period: Period
    counts: dict[str, int]

    @property
    def on_time_rate(self) -> float | None:
        handled = self.counts.get("handled", 0)
        return self.counts.get("on_time", 0) / handled if handled else None


def kpis(session: Session, user: User, p: Period, now: datetime) -> Kpis:
    base = _base(session, user)
    if base:
        return Kpis(p, {m: _count(session, base, m, p, now, Dims()) for m in METRICS})
    # Unscoped: the log and stage metrics in two passes over their indexes instead of five. A
    # case is late when one of its runs that ended in P ended late (max of the flags), on time
    # when handled and not late — the definitions of `metric_filter`, counted per case.
    counts = {m: _count(session, base, m, p, now, Dims()) for m in ("reported", "closed")}
    per_case = (
        select(
            func.max(case((CaseStageRow.ended_at > CaseStageRow.due_at, 1), else_=0)).label("late")
        )
        .where(
            CaseStageRow.stage == "handling",
            CaseStageRow.ended_at >= p.start,
            CaseStageRow.ended_at < p.end,
        )
        .group_by(CaseStageRow.case_id)
        .subquery()
    )
    handled, late = session.execute(
        select(func.count(), func.coalesce(func.sum(per_case.c.late), 0))
    ).one()
    logged = (
        select(CaseLogRow.action, CaseLogRow.case_id)
        .where(
            CaseLogRow.action.in_(("register", "dispatch")),
            CaseLogRow.at >= p.start,
            CaseLogRow.at < p.end,
        )
        .distinct()
        .subquery()
    )
    by_action: dict[str, int] = dict(
        session.execute(select(logged.c.action, func.count()).group_by(logged.c.action)).all()
    )
    counts["registered"] = int(by_action.get("register", 0))
    counts["dispatched"] = int(by_action.get("dispatch", 0))
    counts.update(handled=int(handled), on_time=int(handled) - int(late), late=int(late))
    for m in ("overdue", "open"):
        counts[m] = _count(session, base, m, p, now, Dims())
    return Kpis(p, {m: counts[m] for m in METRICS})


@dataclass(frozen=True)
class Bucket:
    key: str
    label: str
    count: int


def _labels(session: Session, by: str, keys: list[str]) -> dict[str, str]:
    if not keys:
        return {}
    if by == "type":
        rows = session.execute(
            select(CatalogType.code, CatalogType.display_name, CatalogType.name).where(
                CatalogType.kind == "matter", CatalogType.code.in_(keys)
            )
        ).all()
        return {code: display or name for code, display, name in rows}
    if by == "department":
        return dict(
            session.execute(select(OrgUnit.code, OrgUnit.name).where(OrgUnit.code.in_(keys))).all()
        )
    if by == "district":
        return dict(
            session.execute(select(Region.code, Region.name).where(Region.code.in_(keys))).all()
        )
    return {k: SOURCES[k][0] for k in keys if k in SOURCES}


_GROUP = {
    "type": Case.type_code,
    "source": Case.source,
    "department": Case.department,
    "district": Case.district_code,
}


def breakdown(
    session: Session,
    user: User,
    metric: str,
    by: str,
    p: Period,
    now: datetime,
    *,
    limit: int = 10,
) -> list[Bucket]:
    """Counts of a metric grouped by type, source, department or district, largest first."""
    if by not in _GROUP:
        raise _bad(
            f"未知分组 {by}", f"unknown grouping {by}; use one of {', '.join(DIMENSIONS)}", "by"
        )
    col = _GROUP[by]
    n = func.count().label("n")
    rows = session.execute(
        select(col, n)
        .where(*_base(session, user), *metric_filter(metric, p, now), col.is_not(None))
        .group_by(col)
        .order_by(n.desc(), col)
        .limit(limit)
    ).all()
    keys = [str(k) for k, _ in rows]
    labels = _labels(session, by, keys)
    return [Bucket(k, labels.get(k, k), int(c)) for k, (_, c) in zip(keys, rows, strict=True)]


@dataclass(frozen=True)
class DepartmentRank:
    code: str
    name: str
    handled: int
    on_time: int
    open: int

    @property
    def rate(self) -> float | None:
        return self.on_time / self.handled if self.handled else None


def department_ranking(
    session: Session, user: User, p: Period, now: datetime
) -> list[DepartmentRank]:
    """Per department: cases handled in P, of which on time, and open now; best rate first."""
    base = _base(session, user)
    handled = session.execute(
        select(
            Case.department,
            func.count(),
            func.sum(case((_late_run(p), 0), else_=1)),
        )
        .where(*base, *metric_filter("handled", p, now), Case.department.is_not(None))
        .group_by(Case.department)
    ).all()
    open_now = dict(
        session.execute(
            select(Case.department, func.count())
            .where(*base, Case.state.in_(_OPEN), Case.department.is_not(None))
            .group_by(Case.department)
        ).all()
    )
    stats: dict[str, tuple[int, int]] = {str(d): (int(h), int(o or 0)) for d, h, o in handled}
    opened: dict[str, int] = {str(d): int(n) for d, n in open_now.items()}
    codes = sorted(set(stats) | set(opened))
    names = _labels(session, "department", codes)
    ranks = [
        DepartmentRank(
            c, names.get(c, c), stats.get(c, (0, 0))[0], stats.get(c, (0, 0))[1], opened.get(c, 0)
        )
        for c in codes
    ]
    return sorted(
        ranks, key=lambda r: (-(r.rate if r.rate is not None else -1), -r.handled, r.code)
    )


@dataclass(frozen=True)
class Trend:
    days: list[date]
    reported: list[int]
    closed: list[int]


def trend(session: Session, user: User, now: datetime, days: int = 30) -> Trend:
    """Reported and closed per local day for the last ``days`` days (today included): one
    query per series, one conditional sum per day."""
    tz = city_clock(session).tz
    today = now.astimezone(tz).date()
    first = today - timedelta(days=days - 1)
    starts = [datetime(d.year, d.month, d.day, tzinfo=tz) for d in _dates(first, days + 1)]
    base = _base(session, user)

    def series(col: Any, extra: list[Any]) -> list[int]:
        sums: list[ColumnElement[Any]] = [
            func.sum(case((and_(col >= a, col < b), 1), else_=0))
            for a, b in itertools.pairwise(starts)
        ]
        row = session.execute(
            select(*sums).where(*base, *extra, col >= starts[0], col < starts[-1])
        ).one()
        return [int(v or 0) for v in row]

    return Trend(
        days=_dates(first, days),
        reported=series(Case.reported_at, []),
        closed=series(Case.closed_at, [Case.state == State.closed.value]),
    )


def _dates(first: date, n: int) -> list[date]:
    return [first + timedelta(days=i) for i in range(n)]


def metric_cases(
    session: Session,
    user: User,
    metric: str,
    p: Period,
    now: datetime,
    dims: Dims = Dims(),
    *,
    sort: str = "-reported_at",
    page: int = 1,
    page_size: int = 50,
) -> tuple[list[Case], int]:
    """The cases behind a figure: the same WHERE as `count`, paged."""
    base = _base(session, user)
    where = [*base, *metric_filter(metric, p, now), *dims.where()]
    total = _count(session, base, metric, p, now, dims)
    order = SORTS.get(sort, SORTS["-reported_at"])
    rows = list(
        session.scalars(
            select(Case)
            .where(*where)
            .order_by(*order)
            .offset((page - 1) * page_size)
            .limit(page_size)
        )
    )
    return rows, total
