"""cityops.geo.geojson: bbox parsing, simplification in ground metres, output CRS, features.

Distances are checked in the city's Gauss–Krüger frame (``MetricFrame``), independently of the
degree arithmetic the module uses, so a wrong metres-per-degree would show.
"""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from shapely import affinity
from shapely.geometry import LineString, Point, Polygon

from cityops.core.errors import ValidationFailed
from cityops.geo.crs import Crs, MetricFrame, parse_crs, transform
from cityops.geo.geojson import (
    DEFAULT_SIMPLIFY_M,
    bbox_to_wgs84,
    feature,
    feature_collection,
    for_map,
    for_map_many,
    metres_per_degree,
    parse_bbox,
    simplify_m,
    simplify_many,
    to_output_crs,
)

KAIFENG = (114.35, 34.79)
FRAME = MetricFrame(KAIFENG[0])


def _from_metric(geom: shapely.Geometry) -> shapely.Geometry:
    return FRAME.to_wgs84(geom)


def _around_kaifeng(geom_m: shapely.Geometry) -> shapely.Geometry:
    """A shape drawn in metres relative to Kaifeng, as WGS-84."""
    x0, y0 = FRAME.points_to_metric([KAIFENG[0]], [KAIFENG[1]])
    return _from_metric(affinity.translate(geom_m, float(x0[0]), float(y0[0])))


def _vertices(geom: shapely.Geometry) -> int:
    return int(shapely.get_num_coordinates(geom))


# --- bbox -----------------------------------------------------------------------------------------


def test_parse_bbox_accepts_spaces_and_degenerate_boxes() -> None:
    assert parse_bbox(" 114.3, 34.7 ,114.4,34.8 ") == (114.3, 34.7, 114.4, 34.8)
    assert parse_bbox("114.3,34.7,114.3,34.7") == (114.3, 34.7, 114.3, 34.7)  # a point
    assert parse_bbox("-74.1,40.6,-73.9,40.8") == (-74.1, 40.6, -73.9, 40.8)  # not only China


@pytest.mark.parametrize(
    ("text", "why"),
    [
        pytest.param("114.3,34.7,114.4", "expected 4 numbers, got 3", id="three"),
        pytest.param("114.3,34.7,114.4,34.8,1", "expected 4 numbers, got 5", id="five"),
        pytest.param("", "expected 4 numbers, got 1", id="empty"),
        pytest.param("114.3,34.7,114.4,north", "not all parts are numbers", id="word"),
        pytest.param("114.3;34.7;114.4;34.8", "expected 4 numbers, got 1", id="semicolons"),
        pytest.param("114.3,nan,114.4,34.8", "finite", id="nan"),
        pytest.param("114.3,34.7,inf,34.8", "finite", id="inf"),
        pytest.param("114.4,34.7,114.3,34.8", "minimum is greater", id="lon-reversed"),
        pytest.param("114.3,34.8,114.4,34.7", "minimum is greater", id="lat-reversed"),
        pytest.param("114.3,34.7,190,34.8", "longitudes must lie", id="lon-range"),
        pytest.param("-10,-95,10,10", "latitudes must lie", id="lat-range"),
        pytest.param("34.7,114.3,34.8,114.4", "swapped", id="lat-lon-swapped"),
        pytest.param("34.7,80.0,34.8,85.0", "swapped", id="swapped-within-range"),
    ],
)
def test_parse_bbox_rejects(text: str, why: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        parse_bbox(text)
    err = info.value
    assert err.code == "bad_bbox" and err.status == 422
    assert why in (err.message_en or "")
    assert "最小经度,最小纬度,最大经度,最大纬度" in err.message
    assert err.details == {"bbox": text, "expected": "minLon,minLat,maxLon,maxLat"}


def test_unknown_crs_is_a_422() -> None:
    assert parse_crs("GCJ-02") is Crs.gcj02
    assert parse_crs("baidu") is Crs.bd09
    with pytest.raises(ValidationFailed) as info:
        parse_crs("mars")
    assert info.value.code == "unknown_crs" and info.value.status == 422
    assert info.value.details == {"crs": "mars"}


def test_bbox_in_gcj02_is_the_enclosing_wgs84_box() -> None:
    box = (114.34, 34.78, 114.36, 34.80)
    assert bbox_to_wgs84(box, "wgs84") == box
    assert bbox_to_wgs84(box, Crs.cgcs2000) == box
    w = bbox_to_wgs84(box, "gcj02")
    # Every point of the GCJ-02 box, converted, lies in the WGS-84 box (to float noise).
    xs, ys = np.meshgrid(np.linspace(box[0], box[2], 9), np.linspace(box[1], box[3], 9))
    lon, lat = transform(xs.ravel(), ys.ravel(), Crs.gcj02, Crs.wgs84)
    eps = 1e-9
    assert lon.min() >= w[0] - eps and lat.min() >= w[1] - eps
    assert lon.max() <= w[2] + eps and lat.max() <= w[3] + eps
    # ... and it is shifted (the GCJ-02 offset near Kaifeng is several hundred metres), while its
    # size changes only by the offset's variation across 2 km (a few metres).
    assert w[0] < box[0] - 0.003
    assert (w[2] - w[0]) == pytest.approx(box[2] - box[0], abs=1e-4)
    assert (w[3] - w[1]) == pytest.approx(box[3] - box[1], abs=1e-4)


# --- simplification -------------------------------------------------------------------------------


def test_metres_per_degree_at_kaifeng() -> None:
    per_lon, per_lat = metres_per_degree(34.79)
    assert float(per_lon) == pytest.approx(111_320 * np.cos(np.radians(34.79)), rel=2e-3)
    assert 110_900 < float(per_lat) < 111_000
    # Measured independently: 0.01° east and north in the Gauss–Krüger frame.
    x, y = FRAME.points_to_metric([114.35, 114.36, 114.35], [34.79, 34.79, 34.80])
    assert float(np.hypot(x[1] - x[0], y[1] - y[0])) == pytest.approx(per_lon / 100, rel=1e-3)
    assert float(np.hypot(x[2] - x[0], y[2] - y[0])) == pytest.approx(per_lat / 100, rel=1e-3)


def test_simplify_reduces_vertices_keeps_validity_and_stays_within_tolerance() -> None:
    circle = _around_kaifeng(Point(0, 0).buffer(500, quad_segs=128))  # 513 vertices, r = 500 m
    assert _vertices(circle) > 500
    previous = _vertices(circle)
    for metres in (0.5, 2, 5, 20, 100):
        simple = simplify_m(circle, metres)
        n = _vertices(simple)
        assert 4 <= n < previous, metres
        previous = n
        assert simple.is_valid and simple.geom_type == "Polygon"
        # Hausdorff distance on the ground stays within the tolerance.
        gap = FRAME.to_metric(circle).hausdorff_distance(FRAME.to_metric(simple))
        assert gap <= metres * 1.01, (metres, gap)
    assert simplify_m(circle, 0) is circle
    assert simplify_m(circle, -1) is circle


def test_tolerance_is_metres_in_both_directions() -> None:
    """A 4.5 m bump goes at 5 m tolerance whichever way it points; a 5.5 m bump stays.

    Working in degrees with one conversion factor gets one of these wrong: a degree of longitude
    is 18 % shorter than a degree of latitude at Kaifeng.
    """

    def bump(east: float, north: float) -> shapely.Geometry:
        # A straight 400 m line with one vertex pushed sideways (east) or forward (north).
        sideways = [(0, -200), (east, 0), (0, 200)]
        forward = [(-200, 0), (0, north), (200, 0)]
        return _around_kaifeng(LineString(sideways if east else forward))

    for size, kept in ((4.5, False), (5.5, True)):
        for line in (bump(size, 0), bump(0, size)):
            assert (_vertices(simplify_m(line, 5)) == 3) is kept, size


def test_simplify_keeps_a_comb_valid() -> None:
    """Preserve-topology: teeth 2 m apart, tolerance 50 m: no self-intersection, no collapse."""
    teeth = [shapely.box(4 * i, 0, 4 * i + 2, 60) for i in range(40)]
    comb = shapely.union_all([shapely.box(0, -10, 158, 0.5), *teeth])
    assert comb.is_valid and comb.geom_type == "Polygon"
    geom = _around_kaifeng(comb)
    simple = simplify_m(geom, 50)
    assert simple.is_valid and not simple.is_empty and simple.geom_type == "Polygon"
    assert _vertices(simple) < _vertices(geom) / 2


def test_simplify_many_mixes_tolerances_and_missing_geometries() -> None:
    circle = _around_kaifeng(Point(0, 0).buffer(300, quad_segs=64))
    out = simplify_many([circle, None, circle, Polygon()], [0, 20, 20, 20])
    assert out[0] is circle
    assert out[1] is None
    assert out[2] is not None and _vertices(out[2]) < _vertices(circle)
    assert out[2].equals_exact(simplify_m(circle, 20), 0)
    assert out[3] is not None and out[3].is_empty


def test_default_tolerances_grow_with_the_area_drawn() -> None:
    d = DEFAULT_SIMPLIFY_M
    assert d["grid"] <= d["community"] <= d["street"] <= d["district"] <= d["city"]


# --- output coordinate system ---------------------------------------------------------------------


def test_output_crs_round_trip() -> None:
    square = _around_kaifeng(Polygon([(0, 0), (100, 0), (100, 100), (0, 100)]))
    assert to_output_crs(square, "wgs84") is square
    assert to_output_crs(square, Crs.cgcs2000) is square
    for crs in (Crs.gcj02, Crs.bd09):
        out = to_output_crs(square, crs)
        assert _vertices(out) == _vertices(square)
        # Each vertex is the point transform of the stored one ...
        xy = shapely.get_coordinates(square)
        lon, lat = transform(xy[:, 0], xy[:, 1], Crs.wgs84, crs)
        np.testing.assert_allclose(shapely.get_coordinates(out), np.column_stack([lon, lat]))
        # ... visibly moved, and back to WGS-84 within a millimetre.
        assert out.centroid.distance(square.centroid) > 0.003
        back = shapely.get_coordinates(out)
        b_lon, b_lat = transform(back[:, 0], back[:, 1], crs, Crs.wgs84)
        np.testing.assert_allclose(np.column_stack([b_lon, b_lat]), xy, atol=1e-8)
    with pytest.raises(ValidationFailed):
        to_output_crs(square, "utm")


def test_for_map_rounds_to_about_a_centimetre() -> None:
    p = Point(114.123456789, 34.987654321)
    assert for_map(p).coords[0] == (114.1234568, 34.9876543)
    g = for_map(p, crs="gcj02")
    expected = transform(p.x, p.y, "wgs84", "gcj02")
    assert g.coords[0] == pytest.approx(expected, abs=6e-8)
    many = for_map_many([p, None], crs="gcj02")
    assert many[1] is None and many[0] is not None and many[0].equals_exact(g, 0)


# --- features -------------------------------------------------------------------------------------


def test_feature_and_collection() -> None:
    props = {"code": "410204", "name": "鼓楼区"}
    f = feature(Point(114.35, 34.79), props, id="410204")
    assert f == {
        "type": "Feature",
        "id": "410204",
        "properties": props,
        "geometry": {"type": "Point", "coordinates": (114.35, 34.79)},
    }
    assert f["properties"] is not props  # a copy
    assert feature(None, {})["geometry"] is None
    assert feature(Polygon(), {})["geometry"] is None
    assert "id" not in feature(None, {})
    fc = feature_collection(iter([f]), coordinate_system="gcj02")
    assert fc == {"type": "FeatureCollection", "coordinate_system": "gcj02", "features": [f]}
