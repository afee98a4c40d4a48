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
GROUP BY per figure, whatever the number of cases.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, exists, func, select
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


def _handling_runs(p: Period, *, late: bool | None = None) -> Any:
    cond = [
        CaseStageRow.case_id == Case.id,
        CaseStageRow.stage == "handling",
        CaseStageRow.ended_at >= p.start,
        CaseStageRow.ended_at < p.end,
    ]
    if late:
        cond.append(CaseStageRow.ended_at > CaseStageRow.due_at)
    return exists().where(*cond)


def _logged(action: str, p: Period) -> Any:
    return Case.id.in_(
        select(CaseLogRow.case_id).where(
            CaseLogRow.action == action, CaseLogRow.at >= p.start, CaseLogRow.at < p.end
        )
    )


def metric_filter(metric: str, p: Period, now: datetime) -> list[Any]:
    """The WHERE clauses of a metric (module docstring)."""
    if metric == "reported":
        return [Case.reported_at >= p.start, Case.reported_at < p.end]
    if metric in ("registered", "dispatched"):
        return [_logged(metric[:-2] if metric == "registered" else "dispatch", p)]
    if metric == "closed":
        return [Case.state == State.closed.value, Case.closed_at >= p.start, Case.closed_at < p.end]
    if metric == "handled":
        return [_handling_runs(p)]
    if metric == "on_time":
        return [_handling_runs(p), ~_handling_runs(p, late=True)]
    if metric == "late":
        return [_handling_runs(p, late=True)]
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
    where = [*_base(session, user), *metric_filter(metric, p, now), *dims.where()]
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
    return Kpis(p, {m: count(session, user, m, p, now) for m in METRICS})


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
    late = _handling_runs(p, late=True)
    handled = session.execute(
        select(
            Case.department,
            func.count(),
            func.sum(case((late, 0), else_=1)),
        )
        .where(*base, _handling_runs(p), Case.department.is_not(None))
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
    where = [*_base(session, user), *metric_filter(metric, p, now), *dims.where()]
    total = session.scalar(select(func.count()).select_from(Case).where(*where)) or 0
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
