"""Likely duplicates (疑似重复): a new report near an open case of the same type, close in time.

The acceptor decides whether to merge; this module only proposes candidates, nearest first. The
storage layer prefilters with ``DuplicatePolicy.bbox`` and ``DuplicatePolicy.time_range`` (plain
indexed column comparisons) and hands the few rows left to ``find_duplicate_candidates``.

Distances are great-circle (haversine) on the mean Earth radius: at duplicate-check radii (tens of
metres) the difference to the WGS-84 ellipsoid is below 0.5 %, i.e. centimetres, and it keeps the
core free of pyproj.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from cityops.core.errors import ValidationFailed

EARTH_RADIUS_M = 6_371_008.8  # IUGG mean radius
MAX_RADIUS_M = 10_000.0  # beyond this "the same problem" stops making sense
MAX_WINDOW = timedelta(days=90)

BBox = tuple[float, float, float, float]  # (min_lon, min_lat, max_lon, max_lat)


@dataclass(frozen=True)
class CaseSketch:
    """What duplicate detection needs of a case: WGS-84 position and an aware report time."""

    id: str | int
    type_code: str
    lon: float
    lat: float
    reported_at: datetime
    open: bool = True

    def __post_init__(self) -> None:
        if not (-180.0 <= self.lon <= 180.0 and -90.0 <= self.lat <= 90.0):
            raise ValidationFailed(
                f"案件 {self.id} 的坐标 ({self.lon}, {self.lat}) 超出范围",
                en=f"case {self.id}: coordinates ({self.lon}, {self.lat}) out of range",
                code="bad_coordinates",
            )
        if self.reported_at.utcoffset() is None:
            raise ValidationFailed(
                f"案件 {self.id} 的上报时间缺少时区",
                en=f"case {self.id}: reported_at has no time zone",
                code="naive_datetime",
            )


@dataclass(frozen=True)
class Candidate:
    """A likely duplicate: the earlier (or later) case, how far away and how far apart in time."""

    case: CaseSketch
    distance_m: float
    time_gap: timedelta


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in metres (haversine, stable for small distances)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def bounding_box(lon: float, lat: float, radius_m: float) -> BBox:
    """A lon/lat box holding every point within ``radius_m`` of (lon, lat), for an index prefilter.

    Exact on the sphere (the widest longitude is not at the centre's latitude), padded by a
    millionth against rounding. Near a pole or across the antimeridian it widens to all
    longitudes rather than wrap: still a superset, and never the case in China.
    """
    r = radius_m * (1 + 1e-6) / EARTH_RADIUS_M
    dlat = math.degrees(r)
    min_lat, max_lat = lat - dlat, lat + dlat
    if min_lat <= -90.0 or max_lat >= 90.0:
        return (-180.0, max(min_lat, -90.0), 180.0, min(max_lat, 90.0))
    dlon = math.degrees(math.asin(min(1.0, math.sin(r) / math.cos(math.radians(lat)))))
    min_lon, max_lon = lon - dlon, lon + dlon
    if min_lon < -180.0 or max_lon > 180.0:
        return (-180.0, min_lat, 180.0, max_lat)
    return (min_lon, min_lat, max_lon, max_lat)


def _check(radius_m: float, window: timedelta) -> None:
    if not (math.isfinite(radius_m) and 0 < radius_m <= MAX_RADIUS_M):
        raise ValidationFailed(
            f"疑似重复的判定半径应在 0 到 {MAX_RADIUS_M:.0f} 米之间，实为 {radius_m}",
            en=f"duplicate radius must be in (0, {MAX_RADIUS_M:.0f}] m, got {radius_m}",
            code="bad_duplicate_policy",
        )
    if not (timedelta(0) < window <= MAX_WINDOW):
        raise ValidationFailed(
            f"疑似重复的时间窗口应在 0 到 {MAX_WINDOW.days} 天之间，实为 {window}",
            en=f"duplicate window must be in (0, {MAX_WINDOW.days} days], got {window}",
            code="bad_duplicate_policy",
        )


def find_duplicate_candidates(
    new: CaseSketch,
    recent: Iterable[CaseSketch],
    *,
    radius_m: float = 50.0,
    window: timedelta = timedelta(hours=24),
    same_type_only: bool = True,
) -> list[Candidate]:
    """Open cases within ``radius_m`` and within ``window`` either side of the new report.

    Either side, so that re-checking an older report (or one that arrived late from a phone that
    was offline) finds the newer case too. The new case itself (same id) is never a candidate.
    Sorted by distance, then time gap, then id, so the order is stable.
    """
    _check(radius_m, window)
    out: list[Candidate] = []
    for case in recent:
        if not case.open or case.id == new.id:
            continue
        if same_type_only and case.type_code != new.type_code:
            continue
        gap = abs(case.reported_at - new.reported_at)
        if gap > window:
            continue
        d = distance_m(new.lon, new.lat, case.lon, case.lat)
        if d <= radius_m:
            out.append(Candidate(case, d, gap))
    out.sort(key=lambda c: (c.distance_m, c.time_gap, str(c.case.id)))
    return out


@dataclass(frozen=True)
class DuplicatePolicy:
    """A city's duplicate rule (defaults: 50 m, 24 h, same type). Validated on construction."""

    radius_m: float = 50.0
    window: timedelta = timedelta(hours=24)
    same_type_only: bool = True

    def __post_init__(self) -> None:
        _check(self.radius_m, self.window)

    def find(self, new: CaseSketch, recent: Iterable[CaseSketch]) -> list[Candidate]:
        return find_duplicate_candidates(
            new,
            recent,
            radius_m=self.radius_m,
            window=self.window,
            same_type_only=self.same_type_only,
        )

    def bbox(self, lon: float, lat: float) -> BBox:
        return bounding_box(lon, lat, self.radius_m)

    def time_range(self, at: datetime) -> tuple[datetime, datetime]:
        """Report times (inclusive) a candidate may have, for the storage prefilter."""
        return (at - self.window, at + self.window)
