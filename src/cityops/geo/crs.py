"""Coordinate systems used in China: WGS-84/CGCS2000, GCJ-02 and BD-09.

cityops stores WGS-84 (CGCS2000 differs by centimetres, well under a grid's 100 m). Consumer maps
and phones in China report GCJ-02 (Amap, Tencent, the shipped boundaries) or BD-09 (Baidu), so
every input path converts on the way in and every map output can convert on the way out.

The GCJ-02 offset is the widely published public formula (Krasovsky ellipsoid, the same constants
as the eviltransform/prcoords projects); its inverse has no closed form and is found by fixed-point
iteration to better than 1e-9 degrees (about 0.1 mm). Everything works on NumPy arrays so that
bulk imports convert hundreds of thousands of points in one call; PyPI's converters are scalar,
pure-Python loops (see docs/decisions.md D7).
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any, overload

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry.base import BaseGeometry

from cityops.core.errors import ValidationFailed

FloatArray = npt.NDArray[np.float64]

_A = 6378245.0  # Krasovsky 1940 semi-major axis used by GCJ-02
_EE = 0.00669342162296594323  # its first eccentricity squared
_BD_X_PI = np.pi * 3000.0 / 180.0


class Crs(StrEnum):
    wgs84 = "wgs84"
    cgcs2000 = "cgcs2000"
    gcj02 = "gcj02"
    bd09 = "bd09"


_ALIASES = {
    "wgs84": Crs.wgs84,
    "wgs-84": Crs.wgs84,
    "epsg:4326": Crs.wgs84,
    "4326": Crs.wgs84,
    "cgcs2000": Crs.cgcs2000,
    "epsg:4490": Crs.cgcs2000,
    "4490": Crs.cgcs2000,
    "gcj02": Crs.gcj02,
    "gcj-02": Crs.gcj02,
    "amap": Crs.gcj02,
    "bd09": Crs.bd09,
    "bd-09": Crs.bd09,
    "baidu": Crs.bd09,
}


def parse_crs(name: str) -> Crs:
    """Accepts the usual spellings (``gcj-02``, ``EPSG:4326``, ``baidu``…); rejects the rest."""
    crs = _ALIASES.get(name.strip().lower())
    if crs is None:
        raise ValidationFailed(
            f"不支持的坐标系 {name!r}；可用：wgs84、cgcs2000、gcj02、bd09",
            en=f"unsupported coordinate system {name!r}; use wgs84, cgcs2000, gcj02 or bd09",
            code="unknown_crs",
            details={"crs": name},
        )
    return crs


def _offset(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """GCJ-02 minus WGS-84 at a WGS-84 position, in degrees."""
    x = lon - 105.0
    y = lat - 35.0
    sqrt_abs_x = np.sqrt(np.abs(x))
    d_lat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt_abs_x
    d_lon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt_abs_x
    common = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    d_lat = d_lat + common
    d_lon = d_lon + common
    d_lat += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    d_lon += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    d_lat += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    d_lon += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    rad_lat = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    d_lat = (d_lat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * np.pi)
    d_lon = (d_lon * 180.0) / (_A / sqrt_magic * np.cos(rad_lat) * np.pi)
    return d_lon, d_lat


def _wgs84_to_gcj02(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    d_lon, d_lat = _offset(lon, lat)
    return lon + d_lon, lat + d_lat


Forward = Callable[[FloatArray, FloatArray], tuple[FloatArray, FloatArray]]


def _invert(
    forward: Forward, lon: FloatArray, lat: FloatArray, x: FloatArray, y: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Fixed point: refine (x, y) until forward(x, y) = (lon, lat) within 1e-10 degrees.

    The offsets are smooth and small, so each step gains about six digits; a dozen is plenty.
    """
    x, y = x.copy(), y.copy()
    for _ in range(12):
        f_lon, f_lat = forward(x, y)
        e_lon, e_lat = f_lon - lon, f_lat - lat
        x -= e_lon
        y -= e_lat
        worst = max(
            float(np.max(np.abs(e_lon), initial=0.0)), float(np.max(np.abs(e_lat), initial=0.0))
        )
        if worst < 1e-10:
            break
    return x, y


def _gcj02_to_wgs84(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    return _invert(_wgs84_to_gcj02, lon, lat, lon, lat)


def _gcj02_to_bd09(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    z = np.sqrt(lon * lon + lat * lat) + 0.00002 * np.sin(lat * _BD_X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _BD_X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def _bd09_to_gcj02(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    # The published closed form is only an approximate inverse (errors up to ~2e-6 degrees,
    # 0.2 m); refine it by the same fixed point as the GCJ-02 inverse (~4 steps to 1e-12).
    x = lon - 0.0065
    y = lat - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _BD_X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _BD_X_PI)
    return _invert(_gcj02_to_bd09, lon, lat, z * np.cos(theta), z * np.sin(theta))


def _to_wgs84(crs: Crs, lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    if crs is Crs.gcj02:
        return _gcj02_to_wgs84(lon, lat)
    if crs is Crs.bd09:
        return _gcj02_to_wgs84(*_bd09_to_gcj02(lon, lat))
    return lon, lat


def _from_wgs84(crs: Crs, lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    if crs is Crs.gcj02:
        return _wgs84_to_gcj02(lon, lat)
    if crs is Crs.bd09:
        return _gcj02_to_bd09(*_wgs84_to_gcj02(lon, lat))
    return lon, lat


@overload
def transform(lon: float, lat: float, src: Crs | str, dst: Crs | str) -> tuple[float, float]: ...
@overload
def transform(
    lon: npt.ArrayLike, lat: npt.ArrayLike, src: Crs | str, dst: Crs | str
) -> tuple[FloatArray, FloatArray]: ...
def transform(
    lon: npt.ArrayLike | float, lat: npt.ArrayLike | float, src: Crs | str, dst: Crs | str
) -> tuple[FloatArray, FloatArray] | tuple[float, float]:
    """Convert positions between systems; scalars in give floats out, arrays give arrays.

    The GCJ-02 offset is defined everywhere, so it is applied everywhere (cityops serves Chinese
    cities; the "outside China" cut-off some libraries apply would only misplace border points).
    """
    s = src if isinstance(src, Crs) else parse_crs(src)
    d = dst if isinstance(dst, Crs) else parse_crs(dst)
    scalar = np.ndim(lon) == 0 and np.ndim(lat) == 0
    x = np.array(lon, dtype=np.float64, ndmin=1)
    y = np.array(lat, dtype=np.float64, ndmin=1)
    if s is not d:
        x, y = _from_wgs84(d, *_to_wgs84(s, x, y))
    if scalar:
        return float(x[0]), float(y[0])
    return x, y


def to_wgs84(lon: float, lat: float, src: Crs | str) -> tuple[float, float]:
    return transform(lon, lat, src, Crs.wgs84)


class MetricFrame:
    """A CGCS2000 3-degree Gauss–Krüger zone (transverse Mercator) around a city, in metres.

    Chinese surveying uses these zones; grid cells of 100 m × 100 m are laid out in it, so that a
    cell is square on the ground wherever the city lies.
    """

    def __init__(self, lon: float) -> None:
        from pyproj import Transformer

        self.central_meridian = round(lon / 3.0) * 3
        proj = (
            f"+proj=tmerc +lat_0=0 +lon_0={self.central_meridian} +k=1 +x_0=500000 +y_0=0 "
            "+ellps=GRS80 +units=m +no_defs"
        )
        self._fwd = Transformer.from_crs("EPSG:4326", proj, always_xy=True)
        self._inv = Transformer.from_crs(proj, "EPSG:4326", always_xy=True)

    def _apply(self, fn: Any, geom: BaseGeometry) -> BaseGeometry:
        def conv(xy: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
            x, y = fn(xy[:, 0], xy[:, 1])
            return np.column_stack([x, y])

        return shapely.transform(geom, conv)

    def to_metric(self, geom: BaseGeometry) -> BaseGeometry:
        return self._apply(self._fwd.transform, geom)

    def to_wgs84(self, geom: BaseGeometry) -> BaseGeometry:
        return self._apply(self._inv.transform, geom)

    def points_to_metric(
        self, lon: npt.ArrayLike, lat: npt.ArrayLike
    ) -> tuple[FloatArray, FloatArray]:
        x, y = self._fwd.transform(
            np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
        )
        return np.asarray(x), np.asarray(y)
