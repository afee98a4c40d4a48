"""The city map's case layers (clusters, open cases per grid) and the dashboard figures."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from cityops.api.deps import CurrentUser, Db
from cityops.core.errors import ValidationFailed
from cityops.geo.geojson import parse_bbox
from cityops.services import casemap, dashboard
from cityops.services.calendar import city_clock

router = APIRouter(tags=["overview"])

Light = Literal["green", "yellow", "red"]
TypeParam = Annotated[
    str | None, Query(alias="type", pattern=r"^\d{2,5}$", description="type code or class prefix")
]
BboxQ = Annotated[
    str,
    Query(max_length=200, description="minLon,minLat,maxLon,maxLat (WGS-84)"),
]


def _box(bbox: str) -> tuple[float, float, float, float]:
    box = parse_bbox(bbox)
    if box[2] - box[0] > 5 or box[3] - box[1] > 5:
        raise ValidationFailed(
            "视图过大，请放大地图", en="view too large; zoom in", code="view_too_large"
        )
    return box


@router.get("/map/cases", summary="Cases in a view, clustered for the map (一张图)")
def map_cases(
    session: Db,
    user: CurrentUser,
    bbox: BboxQ,
    zoom: Annotated[int, Query(ge=0, le=22)] = 14,
    type_code: TypeParam = None,
    source: Annotated[str | None, Query(max_length=20)] = None,
    light: Light | None = None,
    state: Annotated[str | None, Query(max_length=20)] = None,
) -> dict[str, Any]:
    """Open cases you may see in `bbox`, grouped in cells of ~64 px at `zoom`. Each item:
    lon, lat, count, red (overdue among them) and, for a cell holding one case, its id,
    number, type_code and state. `truncated` is true past 2,000 cells."""
    now = datetime.now(city_clock(session).tz)
    f = casemap.CaseFilter(type=type_code, source=source, light=light, state=state)
    items, truncated = casemap.clusters(session, user, _box(bbox), zoom, f, now)
    return {"clusters": [c.to_json() for c in items], "truncated": truncated}


@router.get("/map/grid-cases", summary="Open cases per unit grid in a view")
def map_grid_cases(
    session: Db,
    user: CurrentUser,
    bbox: BboxQ,
    type_code: TypeParam = None,
    source: Annotated[str | None, Query(max_length=20)] = None,
    light: Light | None = None,
) -> dict[str, Any]:
    """`{"grids": {code: [open cases, overdue]}}` for grids with at least one visible case."""
    now = datetime.now(city_clock(session).tz)
    f = casemap.CaseFilter(type=type_code, source=source, light=light)
    counts = casemap.open_by_grid(session, user, _box(bbox), f, now)
    return {"grids": {g: list(v) for g, v in counts.items()}}


@router.get("/dashboard", summary="KPIs, trend, top types, sources, departments, districts")
def get_dashboard(
    session: Db,
    user: CurrentUser,
    period: Annotated[
        str, Query(max_length=10, description="today, month, YYYY-MM, YYYY-MM-DD")
    ] = "month",
) -> dict[str, Any]:
    """Every count is of a metric (see `services/dashboard.py`); the same metric and filters
    on `/cases?metric=…&period=…` list the cases behind it."""
    tz = city_clock(session).tz
    now = datetime.now(tz)
    p = dashboard.period_of(period, now, tz)
    k = dashboard.kpis(session, user, p, now)
    tr = dashboard.trend(session, user, now)

    def buckets(by: str) -> list[dict[str, Any]]:
        return [
            {"key": b.key, "label": b.label, "count": b.count}
            for b in dashboard.breakdown(session, user, "reported", by, p, now)
        ]

    return {
        "period": {"key": p.key, "start": p.start.isoformat(), "end": p.end.isoformat()},
        "counts": k.counts,
        "on_time_rate": k.on_time_rate,
        "trend": {
            "days": [d.isoformat() for d in tr.days],
            "reported": tr.reported,
            "closed": tr.closed,
        },
        "by_type": buckets("type"),
        "by_source": buckets("source"),
        "by_district": buckets("district"),
        "departments": [
            {
                "code": r.code,
                "name": r.name,
                "handled": r.handled,
                "on_time": r.on_time,
                "rate": r.rate,
                "open": r.open,
            }
            for r in dashboard.department_ranking(session, user, p, now)
        ],
    }
