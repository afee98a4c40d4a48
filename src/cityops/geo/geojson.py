"""GeoJSON for map display: bbox parsing, simplification in metres, output coordinate system.

Pure functions, no database. The map API (regions, grids, components) uses them the same way:

    bbox = bbox_to_wgs84(parse_bbox(text), crs)          # the client's view, in its map's CRS
    ... query storage (WGS-84) with ``bbox`` ...
    feature(for_map(geom, simplify=5, crs=crs), props)  # simplified, converted, rounded

A bbox given by a client is in the same coordinate system as the output it asks for: a map on
an Amap/Tencent base layer (GCJ-02) sends its view in GCJ-02 and draws the answer in GCJ-02.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

from cityops.core.errors import ValidationFailed
from cityops.geo.boundaries import CHINA_LAT, CHINA_LON
from cityops.geo.crs import Crs, FloatArray, parse_crs, transform

Bbox = tuple[float, float, float, float]  # min_lon, min_lat, max_lon, max_lat

BBOX_FORMAT = "minLon,minLat,maxLon,maxLat"

# Douglas–Peucker tolerance used when the client does not choose one: a district drawn at city
# zoom loses nothing visible at 20 m; streets and communities are drawn closer; unit grids are
# ~100 m squares whose only extra vertices are where a community boundary clips them.
DEFAULT_SIMPLIFY_M: dict[str, float] = {
    "city": 50.0,
    "district": 20.0,
    "street": 5.0,
    "community": 5.0,
    "grid": 1.0,
}

# 7 decimals of a degree ≈ 1 cm: far below what a map shows, and half the JSON of full floats.
COORD_DIGITS = 7


def _bad_bbox(zh: str, en: str, text: str) -> ValidationFailed:
    return ValidationFailed(
        f"bbox 参数不正确：{zh}；格式为 最小经度,最小纬度,最大经度,最大纬度",
        en=f"bad bbox: {en}; the format is {BBOX_FORMAT}",
        code="bad_bbox",
        details={"bbox": text, "expected": BBOX_FORMAT},
    )


def _within(value: float, bounds: tuple[float, float]) -> bool:
    return bounds[0] <= value <= bounds[1]


def parse_bbox(text: str) -> Bbox:
    """``"minLon,minLat,maxLon,maxLat"`` → four floats, or ``ValidationFailed`` (``bad_bbox``).

    Refused: not four numbers, NaN/infinity, a longitude outside ±180 or latitude outside ±90,
    a minimum above its maximum, and a box that is plainly latitude-first (its "longitudes" lie
    in China's latitudes 3..54 and its "latitudes" in China's longitudes 73..136).
    """
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 4:
        raise _bad_bbox(
            f"应有 4 个数，实际 {len(parts)} 个", f"expected 4 numbers, got {len(parts)}", text
        )
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise _bad_bbox("含有非数字", "not all parts are numbers", text) from None
    if not all(math.isfinite(v) for v in values):
        raise _bad_bbox("含有非有限数", "not all parts are finite numbers", text)
    min_lon, min_lat, max_lon, max_lat = values
    lons, lats = (min_lon, max_lon), (min_lat, max_lat)
    if all(_within(v, CHINA_LAT) for v in lons) and all(_within(v, CHINA_LON) for v in lats):
        raise _bad_bbox(
            "经纬度似乎写反了（先经度后纬度）",
            "longitude and latitude look swapped (longitude comes first)",
            text,
        )
    if not all(-180.0 <= v <= 180.0 for v in lons):
        raise _bad_bbox("经度须在 -180 到 180 之间", "longitudes must lie in -180..180", text)
    if not all(-90.0 <= v <= 90.0 for v in lats):
        raise _bad_bbox("纬度须在 -90 到 90 之间", "latitudes must lie in -90..90", text)
    if min_lon > max_lon or min_lat > max_lat:
        raise _bad_bbox("最小值大于最大值", "a minimum is greater than its maximum", text)
    return min_lon, min_lat, max_lon, max_lat


def _is_wgs84(crs: Crs) -> bool:
    # CGCS2000 and WGS-84 differ by centimetres; cityops stores one for both.
    return crs in (Crs.wgs84, Crs.cgcs2000)


def bbox_to_wgs84(bbox: Bbox, crs: Crs | str) -> Bbox:
    """A bbox given in ``crs`` as the WGS-84 box enclosing it (corners and edge midpoints)."""
    c = crs if isinstance(crs, Crs) else parse_crs(crs)
    if _is_wgs84(c):
        return bbox
    x0, y0, x1, y1 = bbox
    xm, ym = (x0 + x1) / 2, (y0 + y1) / 2
    xs = np.array([x0, xm, x1, x0, x1, x0, xm, x1])
    ys = np.array([y0, y0, y0, ym, ym, y1, y1, y1])
    lon, lat = transform(xs, ys, c, Crs.wgs84)
    return float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max())


def bbox_polygon(bbox: Bbox) -> BaseGeometry:
    return shapely.box(*bbox)


def metres_per_degree(lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Length in metres of one degree of longitude and of latitude at ``lat`` (WGS-84)."""
    phi = np.radians(np.asarray(lat, dtype=np.float64))
    per_lon = 111412.84 * np.cos(phi) - 93.5 * np.cos(3 * phi)
    per_lat = 111132.92 - 559.82 * np.cos(2 * phi) + 1.175 * np.cos(4 * phi)
    return per_lon, per_lat


def _geometry_array(geoms: Sequence[BaseGeometry | None]) -> npt.NDArray[np.object_]:
    arr = np.empty(len(geoms), dtype=object)
    arr[:] = list(geoms)
    return arr


def _scale_each(
    geoms: npt.NDArray[np.object_], factors: FloatArray, *, inverse: bool = False
) -> npt.NDArray[np.object_]:
    """Multiply (or divide) each geometry's x and y by its own row of ``factors`` (n × 2)."""
    coords, which = shapely.get_coordinates(geoms, return_index=True)
    f = factors[which]
    return shapely.set_coordinates(geoms.copy(), coords / f if inverse else coords * f)  # type: ignore[no-any-return]


def simplify_many(
    geoms: Sequence[BaseGeometry | None], metres: float | Sequence[float]
) -> list[BaseGeometry | None]:
    """Douglas–Peucker with tolerances in metres on the ground; a tolerance <= 0 keeps every
    vertex. Vectorised: one pass over all coordinates, however many geometries.

    A degree of longitude is shorter than a degree of latitude (by cos φ: 18 % at Kaifeng), so one
    tolerance in degrees would be wrong in one direction. Each geometry is stretched into a local
    equirectangular frame at its own latitude (x·m/°lon, y·m/°lat), simplified there by
    ``shapely.simplify(…, preserve_topology=True)`` with the tolerance in metres, and shrunk back.
    ``preserve_topology`` keeps polygons valid: rings do not cross, no polygon vanishes.
    """
    arr = _geometry_array(geoms)
    tol = np.broadcast_to(np.asarray(metres, dtype=np.float64), arr.shape)
    todo = (tol > 0) & ~shapely.is_missing(arr) & ~shapely.is_empty(arr)
    if todo.any():
        part = arr[todo]
        bounds = shapely.bounds(part)
        per_lon, per_lat = metres_per_degree((bounds[:, 1] + bounds[:, 3]) / 2)
        factors = np.column_stack([per_lon, per_lat])
        local = _scale_each(part, factors)
        simple = shapely.simplify(local, tol[todo], preserve_topology=True)
        arr[todo] = _scale_each(simple, factors, inverse=True)
    return list(arr)


def simplify_m(geom: BaseGeometry, metres: float) -> BaseGeometry:
    """One geometry, ``metres`` tolerance on the ground (see ``simplify_many``)."""
    out = simplify_many([geom], metres)[0]
    assert out is not None
    return out


def _convert_xy(crs: Crs) -> Callable[[FloatArray], FloatArray]:
    def conv(xy: FloatArray) -> FloatArray:
        lon, lat = transform(xy[:, 0], xy[:, 1], Crs.wgs84, crs)
        return np.column_stack([lon, lat])

    return conv


def to_output_crs(geom: BaseGeometry, crs: Crs | str) -> BaseGeometry:
    """A stored (WGS-84) geometry in the client's coordinate system (e.g. GCJ-02 for Amap)."""
    c = crs if isinstance(crs, Crs) else parse_crs(crs)
    if _is_wgs84(c):
        return geom
    return shapely.transform(geom, _convert_xy(c))


def round_coords(geom: BaseGeometry, digits: int = COORD_DIGITS) -> BaseGeometry:
    return shapely.transform(geom, lambda xy: np.round(xy, digits))


def for_map_many(
    geoms: Sequence[BaseGeometry | None],
    *,
    simplify: float | Sequence[float] = 0.0,
    crs: Crs | str = Crs.wgs84,
) -> list[BaseGeometry | None]:
    """A map layer's geometries: simplified (metres, measured in WGS-84), converted to ``crs``
    and rounded to ~1 cm, in three vectorised passes. ``None`` stays ``None``."""
    c = crs if isinstance(crs, Crs) else parse_crs(crs)
    arr = _geometry_array(simplify_many(geoms, simplify))
    if not _is_wgs84(c):
        arr = shapely.transform(arr, _convert_xy(c))
    arr = shapely.transform(arr, lambda xy: np.round(xy, COORD_DIGITS))
    return list(arr)


def for_map(
    geom: BaseGeometry, *, simplify: float = 0.0, crs: Crs | str = Crs.wgs84
) -> BaseGeometry:
    """One geometry for the map (see ``for_map_many``)."""
    out = for_map_many([geom], simplify=simplify, crs=crs)[0]
    assert out is not None
    return out


def feature(
    geom: BaseGeometry | None, props: Mapping[str, Any], *, id: str | None = None
) -> dict[str, Any]:
    """One GeoJSON Feature; a missing geometry is ``null`` as RFC 7946 allows."""
    out: dict[str, Any] = {"type": "Feature"}
    if id is not None:
        out["id"] = id
    out["properties"] = dict(props)
    out["geometry"] = None if geom is None or geom.is_empty else mapping(geom)
    return out


def feature_collection(features: Iterable[dict[str, Any]], **members: Any) -> dict[str, Any]:
    """A FeatureCollection; ``members`` become foreign members (e.g. ``coordinate_system``)."""
    return {"type": "FeatureCollection", **members, "features": list(features)}
