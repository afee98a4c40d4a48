"""Spatial index: a point → unit grid, and through the grid code its community, street, district.

Grid codes embed the region codes (6 + 3 + 3 + 3), so one polygon lookup answers all levels.
A point on a border shared by several grids resolves to the grid with the smallest code: the
tree holds grids in code order and we keep the lowest index that matches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry.base import BaseGeometry

from cityops.core.errors import CityopsError
from cityops.geo.crs import Crs, transform

OUTSIDE = -1


class OutsideCity(CityopsError):
    status = 422
    code = "outside_city"


@dataclass(frozen=True)
class Location:
    grid: str
    community: str
    street: str
    district: str
    lon: float  # WGS-84
    lat: float


def codes_of(grid_code: str) -> tuple[str, str, str]:
    """(district, street, community) codes contained in a 15-character grid code."""
    return grid_code[:6], grid_code[:9], grid_code[:12]


class SpatialIndex:
    """An STRtree over the unit grids (WGS-84), built once and shared read-only."""

    def __init__(self, codes: Sequence[str], geometries: Sequence[BaseGeometry]) -> None:
        order = sorted(range(len(codes)), key=lambda i: codes[i])
        self.codes = np.array([codes[i] for i in order], dtype=object)
        geoms = np.array([geometries[i] for i in order], dtype=object)
        self.tree = shapely.STRtree(geoms)

    def __len__(self) -> int:
        return len(self.codes)

    def lookup_many(
        self, lon: npt.ArrayLike, lat: npt.ArrayLike, crs: Crs | str = Crs.wgs84
    ) -> npt.NDArray[np.int64]:
        """Index into ``self.codes`` of each point's grid, or ``OUTSIDE``; vectorised."""
        x, y = transform(lon, lat, crs, Crs.wgs84)
        x = np.atleast_1d(x)
        y = np.atleast_1d(y)
        result = np.full(len(x), np.iinfo(np.int64).max, dtype=np.int64)
        if len(x) and len(self.codes):
            point_idx, tree_idx = self.tree.query(shapely.points(x, y), predicate="intersects")
            np.minimum.at(result, point_idx, tree_idx)
        result[result == np.iinfo(np.int64).max] = OUTSIDE
        return result

    def grid_codes(
        self, lon: npt.ArrayLike, lat: npt.ArrayLike, crs: Crs | str = Crs.wgs84
    ) -> list[str | None]:
        idx = self.lookup_many(lon, lat, crs)
        return [None if i == OUTSIDE else str(self.codes[i]) for i in idx]

    def locate(self, lon: float, lat: float, crs: Crs | str = Crs.wgs84) -> Location:
        """One point; outside every grid is an error that says where the point was."""
        w_lon, w_lat = transform(lon, lat, crs, Crs.wgs84)
        hits = self.tree.query(shapely.Point(w_lon, w_lat), predicate="intersects")
        if len(hits) == 0:
            raise OutsideCity(
                f"位置 ({lon}, {lat}) 不在本市任何单元网格内",
                en=f"position ({lon}, {lat}) is outside every unit grid of the city",
                details={"lon": lon, "lat": lat, "crs": str(crs), "wgs84": [w_lon, w_lat]},
            )
        code = str(self.codes[int(np.min(hits))])
        district, street, community = codes_of(code)
        return Location(code, community, street, district, w_lon, w_lat)
