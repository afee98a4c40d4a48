"""Cases on the city map (一张图): points clustered in the database, open cases per grid.

Clustering is a GROUP BY over square cells whose size follows the zoom (about 64 screen pixels),
so a view over a city with tens of thousands of open cases costs one aggregate query and returns
at most a few hundred clusters; a cell holding one case comes back as that case.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from cityops.core.workflow import OPEN_STATES
from cityops.geo.geojson import Bbox
from cityops.services.cases import actor_of, scope_filter
from cityops.store.schema import Case, User

MAX_CELLS = 2000
_OPEN = [s.value for s in OPEN_STATES]


@dataclass(frozen=True)
class CaseFilter:
    type: str | None = None  # code or major-class prefix
    source: str | None = None
    light: str | None = None  # green, yellow, red
    state: str | None = None  # default: every open state

    def where(self, now: datetime) -> list[Any]:
        # closed_at IS NULL says "open" again in a form SQLite's planner can use: it has no
        # histograms, so state IN (seven states) looks like most of the table (1M cases:
        # 2 s → 4 ms for the grid aggregation of a district).
        out: list[Any] = (
            [Case.state == self.state]
            if self.state
            else [Case.state.in_(_OPEN), Case.closed_at.is_(None)]
        )
        if self.type:
            out.append(Case.type_code.like(f"{self.type}%"))
        if self.source:
            out.append(Case.source == self.source)
        if self.light == "red":
            out += [Case.paused.is_(False), Case.due_at < now]
        elif self.light == "yellow":
            out += [Case.paused.is_(False), Case.warn_at <= now, Case.due_at >= now]
        elif self.light == "green":
            out += [Case.due_at.is_not(None), Case.warn_at > now]
        return out


@dataclass(frozen=True)
class Cluster:
    lon: float
    lat: float
    count: int
    red: int
    case_id: int | None  # the case, when the cell holds exactly one
    number: str | None = None
    type_code: str | None = None
    state: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "lon": round(self.lon, 7),
            "lat": round(self.lat, 7),
            "count": self.count,
            "red": self.red,
            "id": self.case_id,
            "number": self.number,
            "type_code": self.type_code,
            "state": self.state,
        }


def _overdue_sum(now: datetime) -> Any:
    return func.sum(case((and_(Case.paused.is_(False), Case.due_at < now), 1), else_=0))


def cell_size(zoom: int) -> float:
    """Degrees of longitude covered by ~64 px at a Web-Mercator zoom level."""
    return 360.0 / float(2 ** max(0, min(zoom, 22))) / 4


def clusters(
    session: Session, user: User, bbox: Bbox, zoom: int, f: CaseFilter, now: datetime
) -> tuple[list[Cluster], bool]:
    """Clusters of the visible cases in ``bbox`` (WGS-84); True when cells were cut at
    ``MAX_CELLS``."""
    min_lon, min_lat, max_lon, max_lat = bbox
    size = cell_size(zoom)
    where = [
        *scope_filter(actor_of(session, user), user),
        *f.where(now),
        Case.lon.between(min_lon, max_lon),
        Case.lat.between(min_lat, max_lat),
    ]
    cx = func.floor((Case.lon - min_lon) / size)
    cy = func.floor((Case.lat - min_lat) / size)
    red = _overdue_sum(now)
    rows = session.execute(
        select(
            func.avg(Case.lon),
            func.avg(Case.lat),
            func.count(),
            red,
            func.min(Case.id),
        )
        .where(*where)
        .group_by(cx, cy)
        .order_by(func.count().desc())
        .limit(MAX_CELLS + 1)
    ).all()
    truncated = len(rows) > MAX_CELLS
    rows = rows[:MAX_CELLS]
    singles = [int(r[4]) for r in rows if r[2] == 1]
    detail = {
        i: (n, t, s)
        for i, n, t, s in session.execute(
            select(Case.id, Case.number, Case.type_code, Case.state).where(Case.id.in_(singles))
        ).all()
    }
    out = []
    for lon, lat, n, r, first in rows:
        if n == 1:
            num, t, s = detail[int(first)]
            out.append(Cluster(float(lon), float(lat), 1, int(r or 0), int(first), num, t, s))
        else:
            out.append(Cluster(float(lon), float(lat), int(n), int(r or 0), None))
    return out, truncated


def open_by_grid(
    session: Session, user: User, bbox: Bbox, f: CaseFilter, now: datetime
) -> dict[str, tuple[int, int]]:
    """grid code → (cases, overdue) for the visible cases in ``bbox``."""
    min_lon, min_lat, max_lon, max_lat = bbox
    red = _overdue_sum(now)
    rows = session.execute(
        select(Case.grid_code, func.count(), red)
        .where(
            *scope_filter(actor_of(session, user), user),
            *f.where(now),
            Case.grid_code.is_not(None),
            Case.lon.between(min_lon, max_lon),
            Case.lat.between(min_lat, max_lat),
        )
        .group_by(Case.grid_code)
    ).all()
    return {g: (int(n), int(r or 0)) for g, n, r in rows if g}
