"""Likely duplicates: same type, open, within the radius and the time window; nearest first."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod

from cityops.core.duplicates import (
    EARTH_RADIUS_M,
    CaseSketch,
    DuplicatePolicy,
    bounding_box,
    distance_m,
    find_duplicate_candidates,
)
from cityops.core.errors import CityopsError

CST = timezone(timedelta(hours=8))
T0 = datetime(2026, 11, 25, 10, 0, tzinfo=CST)
LON, LAT = 114.3500, 34.7900  # 开封 鼓楼区


def _moved(lon: float, lat: float, east_m: float, north_m: float) -> tuple[float, float]:
    """A point so many metres east and north (small offsets, spherical)."""
    dlat = math.degrees(north_m / EARTH_RADIUS_M)
    dlon = math.degrees(east_m / (EARTH_RADIUS_M * math.cos(math.radians(lat))))
    return lon + dlon, lat + dlat


def _case(
    cid: str,
    east_m: float,
    *,
    hours: float = -1,
    type_code: str = "06010",
    open_: bool = True,
    north_m: float = 0.0,
) -> CaseSketch:
    lon, lat = _moved(LON, LAT, east_m, north_m)
    return CaseSketch(cid, type_code, lon, lat, T0 + timedelta(hours=hours), open_)


def test_hand_worked_example() -> None:
    new = CaseSketch("new", "06010", LON, LAT, T0)
    recent = [
        _case("A", 30),  # 30 m east, 1 h earlier: candidate
        _case("B", 60),  # outside 50 m
        _case("C", 10, open_=False),  # closed
        _case("D", 20, type_code="06020"),  # another type
        _case("E", 5, hours=-25),  # outside 24 h
        _case("F", 0, north_m=-12, hours=-3),  # 12 m south: candidate, nearest
        _case("G", 30, hours=+0.5, north_m=0.0),  # reported later (offline phone): candidate
        CaseSketch("new", "06010", LON, LAT, T0),  # the new case itself
    ]
    got = find_duplicate_candidates(new, recent)
    assert [c.case.id for c in got] == ["F", "G", "A"]  # nearest, then closest in time
    assert got[0].distance_m == pytest.approx(12, abs=0.01)
    assert got[1].time_gap == timedelta(minutes=30)
    any_type = find_duplicate_candidates(new, recent, same_type_only=False)
    assert [c.case.id for c in any_type] == ["F", "D", "G", "A"]
    wider = DuplicatePolicy(radius_m=100, window=timedelta(hours=48)).find(new, recent)
    assert [c.case.id for c in wider] == ["E", "F", "G", "A", "B"]


def test_edges_are_inclusive_and_time_zones_do_not_matter() -> None:
    new = CaseSketch(1, "06010", LON, LAT, T0)
    edge = CaseSketch(2, "06010", LON, LAT, (T0 - timedelta(hours=24)).astimezone(UTC))
    assert [c.case.id for c in find_duplicate_candidates(new, [edge])] == [2]
    just_out = CaseSketch(3, "06010", LON, LAT, T0 - timedelta(hours=24, seconds=1))
    assert find_duplicate_candidates(new, [just_out]) == []


def test_one_degree_of_latitude() -> None:
    assert distance_m(LON, 34.0, LON, 35.0) == pytest.approx(111_195, rel=1e-4)
    assert distance_m(LON, LAT, LON, LAT) == 0.0


@settings(max_examples=200, deadline=None)
@given(
    lon=st.floats(73.0, 135.0),
    lat=st.floats(18.0, 53.0),
    east=st.floats(-1000.0, 1000.0),
    north=st.floats(-1000.0, 1000.0),
)
def test_haversine_is_within_half_a_percent_of_the_ellipsoid(
    lon: float, lat: float, east: float, north: float
) -> None:
    lon2, lat2 = _moved(lon, lat, east, north)
    _, _, geodesic = Geod(ellps="WGS84").inv(lon, lat, lon2, lat2)
    ours = distance_m(lon, lat, lon2, lat2)
    assert ours == pytest.approx(geodesic, rel=5e-3, abs=1e-3)


def _destination(lon: float, lat: float, bearing: float, d: float) -> tuple[float, float]:
    """Spherical direct problem (independent of bounding_box's formula)."""
    p1, l1, b, r = math.radians(lat), math.radians(lon), math.radians(bearing), d / EARTH_RADIUS_M
    p2 = math.asin(math.sin(p1) * math.cos(r) + math.cos(p1) * math.sin(r) * math.cos(b))
    l2 = l1 + math.atan2(
        math.sin(b) * math.sin(r) * math.cos(p1), math.cos(r) - math.sin(p1) * math.sin(p2)
    )
    return math.degrees(l2), math.degrees(p2)


@settings(max_examples=300, deadline=None)
@given(
    lon=st.floats(-179.0, 179.0),
    lat=st.floats(-89.0, 89.0),
    bearing=st.floats(0.0, 360.0),
    radius=st.floats(1.0, 10_000.0),
    share=st.one_of(st.floats(0.0, 1.0), st.floats(0.999999, 1.0)),
)
def test_bounding_box_holds_every_point_within_the_radius(
    lon: float, lat: float, bearing: float, radius: float, share: float
) -> None:
    min_lon, min_lat, max_lon, max_lat = bounding_box(lon, lat, radius)
    plon, plat = _destination(lon, lat, bearing, radius * share)
    d = distance_m(lon, lat, plon, plat)
    assert d == pytest.approx(radius * share, rel=1e-6, abs=1e-6)  # the helper is right
    if d > radius:
        return  # rounding put the point just outside: the filter would drop it anyway
    assert min_lat <= plat <= max_lat
    wrapped = (plon + 180.0) % 360.0 - 180.0
    assert min_lon <= wrapped <= max_lon


def test_bounding_box_is_tight_in_china_and_widens_at_the_edges() -> None:
    min_lon, min_lat, max_lon, max_lat = bounding_box(LON, LAT, 50)
    assert distance_m(LON, min_lat, LON, max_lat) == pytest.approx(100, rel=1e-4)
    assert distance_m(min_lon, LAT, max_lon, LAT) == pytest.approx(100, rel=1e-3)
    assert bounding_box(0.0, 89.9999, 50)[0::2] == (-180.0, 180.0)
    assert bounding_box(179.9999, 0.0, 50)[0::2] == (-180.0, 180.0)


def test_policy_is_validated() -> None:
    for radius, window in (
        (0.0, timedelta(hours=1)),
        (-5.0, timedelta(hours=1)),
        (math.nan, timedelta(hours=1)),
        (20_000.0, timedelta(hours=1)),
        (50.0, timedelta(0)),
        (50.0, timedelta(hours=-1)),
        (50.0, timedelta(days=365)),
    ):
        with pytest.raises(CityopsError) as exc:
            DuplicatePolicy(radius, window)
        assert exc.value.code == "bad_duplicate_policy"
    with pytest.raises(CityopsError):
        find_duplicate_candidates(CaseSketch(1, "06010", LON, LAT, T0), [], radius_m=0)
    p = DuplicatePolicy()
    assert (p.radius_m, p.window, p.same_type_only) == (50.0, timedelta(hours=24), True)
    assert p.time_range(T0) == (T0 - timedelta(hours=24), T0 + timedelta(hours=24))
    assert p.bbox(LON, LAT) == bounding_box(LON, LAT, 50.0)


def test_sketch_needs_an_aware_time_and_valid_coordinates() -> None:
    with pytest.raises(CityopsError) as exc:
        CaseSketch(1, "06010", LON, LAT, datetime(2026, 11, 25, 10, 0))
    assert exc.value.code == "naive_datetime"
    with pytest.raises(CityopsError) as exc:
        CaseSketch(1, "06010", LAT, LON + 100, T0)
    assert exc.value.code == "bad_coordinates"


@settings(max_examples=100, deadline=None)
@given(
    offsets=st.lists(
        st.tuples(
            st.floats(-120, 120),
            st.floats(-120, 120),
            st.floats(-48, 48),
            st.booleans(),
            st.sampled_from(["06010", "06020"]),
        ),
        max_size=30,
    )
)
def test_candidates_are_exactly_the_filtered_cases_in_order(
    offsets: list[tuple[float, float, float, bool, str]],
) -> None:
    new = CaseSketch("new", "06010", LON, LAT, T0)
    recent = [
        _case(str(i), e, north_m=n, hours=h, open_=o, type_code=t)
        for i, (e, n, h, o, t) in enumerate(offsets)
    ]
    got = find_duplicate_candidates(new, recent)
    expected = {
        c.id
        for c in recent
        if c.open
        and c.type_code == "06010"
        and abs(c.reported_at - T0) <= timedelta(hours=24)
        and distance_m(LON, LAT, c.lon, c.lat) <= 50
    }
    assert {c.case.id for c in got} == expected
    assert [c.distance_m for c in got] == sorted(c.distance_m for c in got)
    box = bounding_box(LON, LAT, 50)
    for c in got:
        assert box[0] <= c.case.lon <= box[2] and box[1] <= c.case.lat <= box[3]
