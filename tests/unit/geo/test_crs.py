"""cityops.geo.crs against published reference pairs and an independent implementation (prcoords).

No expected value here was produced by cityops itself: each comes from another project's test
file (cited beside it), or from `prcoords`, or is a property (round trip, identity) that needs no
reference at all.
"""

from __future__ import annotations

import warnings

import numpy as np
import prcoords
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cityops.core.errors import CityopsError
from cityops.geo.crs import Crs, parse_crs, to_wgs84, transform

# ---------------------------------------------------------------------------------------------
# Published pairs. All given here as (lon, lat).

# googollee/eviltransform, python/test.py and go/transform_test.go, list TESTS
# (stored there as wgsLat, wgsLng, gcjLat, gcjLng): the GCJ-02 values are the formula's own
# output to full double precision.
EVILTRANSFORM_WGS_GCJ = [
    pytest.param((121.5272106, 31.1774276), (121.531541859215, 31.17530398364597), id="shanghai"),
    pytest.param((113.912316, 22.543847), (113.9171764808363, 22.540796131694766), id="shenzhen"),
    pytest.param((116.377817, 39.911954), (116.38404722455657, 39.91334545536069), id="beijing"),
]

# wandergis/coordtransform, test/app.js (the same numbers are asserted by the coordtransform-rs
# port and by hutool's CoordinateUtilTest): each function applied to (116.404, 39.915).
COORDTRANSFORM_INPUT = (116.404, 39.915)
COORDTRANSFORM_WGS84_TO_GCJ02 = (116.41024449916938, 39.91640428150164)
COORDTRANSFORM_GCJ02_TO_BD09 = (116.41036949371029, 39.92133699351021)
# These two are the projects' one-step *approximate* inverses, not exact ones:
COORDTRANSFORM_BD09_TO_GCJ02 = (116.39762729119315, 39.90865673957631)
COORDTRANSFORM_GCJ02_TO_WGS84 = (116.39775550083061, 39.91359571849836)

# hujiulong/gcoord, test/fixtures/china-cities.json: (WGS84, GCJ02, BD09) triples of city centres,
# rounded to 7 decimals. They agree with the formulas to about 5e-6 degrees (0.5 m), and gcoord
# itself checks them to 4 decimals, so 1e-5 degrees (about 1 m) is the honest tolerance here.
GCOORD_TRIPLES = [
    pytest.param(
        (113.6192856, 34.7478004), (113.6253334, 34.7466173), (113.6317519, 34.7528605), id="郑州"
    ),
    pytest.param(
        (112.1935849, 31.0376011), (112.1994301, 31.0354012), (112.2058231, 31.0417338), id="荆门"
    ),
    pytest.param(
        (92.0499619, 31.4784436), (92.0512438, 31.4762063), (92.0576832, 31.4824421), id="那曲"
    ),
    pytest.param(
        (123.4253306, 41.8032629), (123.4314787, 41.8057023), (123.438095, 41.8114013), id="沈阳"
    ),
    pytest.param(
        (101.5265949, 25.048566), (101.5280737, 25.0455363), (101.5344863, 25.0518094), id="楚雄"
    ),
]
GCOORD_TOL = 1e-5

Pair = tuple[float, float]


def _close(got: Pair, expected: Pair, tol: float) -> None:
    assert got[0] == pytest.approx(expected[0], abs=tol), (got, expected)
    assert got[1] == pytest.approx(expected[1], abs=tol), (got, expected)


@pytest.mark.parametrize(("wgs", "gcj"), EVILTRANSFORM_WGS_GCJ)
def test_wgs84_to_gcj02_matches_eviltransform(wgs: Pair, gcj: Pair) -> None:
    _close(transform(*wgs, Crs.wgs84, Crs.gcj02), gcj, 1e-9)


@pytest.mark.parametrize(("wgs", "gcj"), EVILTRANSFORM_WGS_GCJ)
def test_gcj02_to_wgs84_recovers_eviltransform_point(wgs: Pair, gcj: Pair) -> None:
    # eviltransform only asks < 0.5 m of its exact inverse; ours is an exact inverse.
    _close(transform(*gcj, Crs.gcj02, Crs.wgs84), wgs, 1e-9)


def test_matches_coordtransform_forward_formulas() -> None:
    _close(transform(*COORDTRANSFORM_INPUT, "wgs84", "gcj02"), COORDTRANSFORM_WGS84_TO_GCJ02, 1e-9)
    _close(transform(*COORDTRANSFORM_INPUT, "gcj02", "bd09"), COORDTRANSFORM_GCJ02_TO_BD09, 1e-9)


def test_inverses_refine_coordtransform_approximations() -> None:
    """Near the published one-step inverses, and exact where they are not."""
    gcj = transform(*COORDTRANSFORM_INPUT, "bd09", "gcj02")
    _close(gcj, COORDTRANSFORM_BD09_TO_GCJ02, 3e-6)
    _close(transform(*gcj, "gcj02", "bd09"), COORDTRANSFORM_INPUT, 1e-9)

    wgs = transform(*COORDTRANSFORM_INPUT, "gcj02", "wgs84")
    _close(wgs, COORDTRANSFORM_GCJ02_TO_WGS84, 3e-6)
    _close(transform(*wgs, "wgs84", "gcj02"), COORDTRANSFORM_INPUT, 1e-9)


@pytest.mark.parametrize(("wgs", "gcj", "bd"), GCOORD_TRIPLES)
def test_matches_gcoord_city_triples(wgs: Pair, gcj: Pair, bd: Pair) -> None:
    _close(transform(*wgs, Crs.wgs84, Crs.gcj02), gcj, GCOORD_TOL)
    _close(transform(*wgs, Crs.wgs84, Crs.bd09), bd, GCOORD_TOL)
    _close(transform(*gcj, Crs.gcj02, Crs.bd09), bd, GCOORD_TOL)
    _close(transform(*gcj, Crs.gcj02, Crs.wgs84), wgs, GCOORD_TOL)
    _close(transform(*bd, Crs.bd09, Crs.gcj02), gcj, GCOORD_TOL)
    _close(transform(*bd, Crs.bd09, Crs.wgs84), wgs, GCOORD_TOL)
    _close(to_wgs84(*bd, "bd09"), wgs, GCOORD_TOL)


def test_offset_is_a_few_hundred_metres() -> None:
    """GCJ-02 is the WGS-84 position moved by roughly 100–700 m, never by nothing."""
    lon, lat = 114.3490, 34.7930  # Kaifeng
    g_lon, g_lat = transform(lon, lat, "wgs84", "gcj02")
    dx = (g_lon - lon) * 111_320 * np.cos(np.radians(lat))
    dy = (g_lat - lat) * 110_574
    assert 100 < float(np.hypot(dx, dy)) < 1000


# ---------------------------------------------------------------------------------------------
# Independent implementation: prcoords (takes and returns (lat, lon)).

china_lon = st.floats(min_value=73.7, max_value=134.9, allow_nan=False, allow_infinity=False)
china_lat = st.floats(min_value=18.2, max_value=53.4, allow_nan=False, allow_infinity=False)
FAST = settings(max_examples=150, deadline=None)


@FAST
@given(china_lon, china_lat)
def test_wgs84_to_gcj02_agrees_with_prcoords(lon: float, lat: float) -> None:
    ref = prcoords.wgs_gcj((lat, lon))
    _close(transform(lon, lat, "wgs84", "gcj02"), (ref.lon, ref.lat), 1e-10)


@FAST
@given(china_lon, china_lat)
def test_gcj02_to_wgs84_agrees_with_prcoords(lon: float, lat: float) -> None:
    # prcoords' iteration stops once a step is below 1e-5 degrees, leaving up to ~1e-7.
    ref = prcoords.gcj_wgs_bored((lat, lon))
    _close(transform(lon, lat, "gcj02", "wgs84"), (ref.lon, ref.lat), 2e-7)


@FAST
@given(china_lon, china_lat)
def test_gcj02_to_bd09_agrees_with_prcoords(lon: float, lat: float) -> None:
    ref = prcoords.gcj_bd((lat, lon))
    _close(transform(lon, lat, "gcj02", "bd09"), (ref.lon, ref.lat), 1e-10)


@FAST
@given(china_lon, china_lat)
def test_bd09_to_gcj02_agrees_with_prcoords(lon: float, lat: float) -> None:
    got = transform(lon, lat, "bd09", "gcj02")
    # prcoords.bd_gcj is the closed-form approximation (errors up to ~2e-6 degrees) ...
    approx = prcoords.bd_gcj((lat, lon))
    _close(got, (approx.lon, approx.lat), 3e-6)
    # ... and bd_gcj_bored its iterated refinement, which ours must match much more closely.
    exact = prcoords.bd_gcj_bored((lat, lon))
    _close(got, (exact.lon, exact.lat), 1e-7)


@FAST
@given(china_lon, china_lat)
def test_round_trips_within_1e_7_degrees(lon: float, lat: float) -> None:
    for via in (Crs.gcj02, Crs.bd09):
        there = transform(lon, lat, Crs.wgs84, via)
        back = transform(*there, via, Crs.wgs84)
        _close(back, (lon, lat), 1e-7)
    back = transform(*transform(lon, lat, "gcj02", "bd09"), "bd09", "gcj02")
    _close(back, (lon, lat), 1e-7)


def test_prcoords_is_used_inside_its_china_box() -> None:
    """Guard for the strategies above: prcoords returns points outside China unchanged."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        prcoords.wgs_gcj((18.2, 73.7))
        prcoords.wgs_gcj((53.4, 134.9))


# ---------------------------------------------------------------------------------------------
# Arrays and scalars.

ALL = list(Crs)


@pytest.mark.parametrize("src", ALL)
@pytest.mark.parametrize("dst", ALL)
def test_arrays_give_the_same_answer_as_scalars(src: Crs, dst: Crs) -> None:
    rng = np.random.default_rng(20240601)
    lon = rng.uniform(73.7, 134.9, 200)
    lat = rng.uniform(18.2, 53.4, 200)
    a_lon, a_lat = transform(lon, lat, src, dst)
    assert isinstance(a_lon, np.ndarray) and a_lon.shape == (200,) and a_lon.dtype == np.float64
    assert isinstance(a_lat, np.ndarray) and a_lat.shape == (200,)
    for i in range(0, 200, 7):
        s_lon, s_lat = transform(float(lon[i]), float(lat[i]), src, dst)
        assert type(s_lon) is float and type(s_lat) is float
        # the inverse iterations run until the whole array has converged: identical to 1e-11
        assert s_lon == pytest.approx(a_lon[i], abs=1e-11)
        assert s_lat == pytest.approx(a_lat[i], abs=1e-11)


def test_array_input_is_not_modified_and_lists_work() -> None:
    lon = np.array([114.349, 113.62])
    lat = np.array([34.793, 34.75])
    keep = (lon.copy(), lat.copy())
    out = transform(lon, lat, "gcj02", "wgs84")
    np.testing.assert_array_equal(lon, keep[0])
    np.testing.assert_array_equal(lat, keep[1])
    from_lists = transform([114.349, 113.62], [34.793, 34.75], "gcj02", "wgs84")
    np.testing.assert_array_equal(from_lists[0], out[0])
    np.testing.assert_array_equal(from_lists[1], out[1])


def test_empty_arrays() -> None:
    lon, lat = transform(np.array([]), np.array([]), "bd09", "wgs84")
    assert lon.shape == (0,) and lat.shape == (0,)


# ---------------------------------------------------------------------------------------------
# Names and identities.


@pytest.mark.parametrize(
    ("name", "crs"),
    [
        ("gcj-02", Crs.gcj02),
        ("GCJ02", Crs.gcj02),
        ("amap", Crs.gcj02),
        ("EPSG:4326", Crs.wgs84),
        ("epsg:4326", Crs.wgs84),
        ("4326", Crs.wgs84),
        (" WGS-84 ", Crs.wgs84),
        ("baidu", Crs.bd09),
        ("BD-09", Crs.bd09),
        ("cgcs2000", Crs.cgcs2000),
        ("EPSG:4490", Crs.cgcs2000),
    ],
)
def test_parse_crs_accepts_aliases(name: str, crs: Crs) -> None:
    assert parse_crs(name) is crs


@pytest.mark.parametrize("name", ["", "mars", "EPSG:3857", "gcj-03", "utm50n"])
def test_parse_crs_rejects_unknown_names(name: str) -> None:
    with pytest.raises(CityopsError) as info:
        parse_crs(name)
    assert info.value.code == "unknown_crs"
    assert info.value.message_en and "wgs84" in info.value.message_en


def test_transform_rejects_unknown_names() -> None:
    with pytest.raises(CityopsError) as info:
        transform(114.0, 34.0, "wgs84", "mercator")
    assert info.value.code == "unknown_crs"


@FAST
@given(china_lon, china_lat)
def test_wgs84_and_cgcs2000_are_identical(lon: float, lat: float) -> None:
    assert transform(lon, lat, "wgs84", "cgcs2000") == (lon, lat)
    assert transform(lon, lat, "cgcs2000", "wgs84") == (lon, lat)
    # and CGCS2000 converts to the consumer systems exactly as WGS-84 does
    assert transform(lon, lat, "cgcs2000", "gcj02") == transform(lon, lat, "wgs84", "gcj02")
    assert transform(lon, lat, "bd09", "cgcs2000") == transform(lon, lat, "bd09", "wgs84")


@pytest.mark.parametrize("crs", ALL)
def test_same_system_is_identity(crs: Crs) -> None:
    assert transform(114.349, 34.793, crs, crs) == (114.349, 34.793)
