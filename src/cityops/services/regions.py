"""Regions in storage: lookup, listing, and installing a city's districts from boundaries."""

from __future__ import annotations

from dataclasses import dataclass

import shapely
from pyproj import Geod
from shapely.geometry.base import BaseGeometry
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityops.core.errors import NotFound
from cityops.geo.boundaries import CityBoundaries
from cityops.store.schema import Region

_GEOD = Geod(ellps="WGS84")


def unknown_region(code: str) -> NotFound:
    return NotFound(
        f"没有代码为 {code} 的行政区域", en=f"no region with code {code}", code="unknown_region"
    )


def get_region(session: Session, code: str) -> Region:
    region = session.get(Region, code)
    if region is None:
        raise unknown_region(code)
    return region


def list_regions(
    session: Session, *, level: str | None = None, parent: str | None = None
) -> list[Region]:
    q = select(Region).order_by(Region.code)
    if level:
        q = q.where(Region.level == level)
    if parent:
        q = q.where(Region.parent_code == parent)
    return list(session.scalars(q))


@dataclass(frozen=True)
class InstalledCity:
    code: str
    name: str
    district_codes: list[str]

    @property
    def districts(self) -> int:
        return len(self.district_codes)


def geometry_columns(geom: BaseGeometry) -> dict[str, object]:
    min_lon, min_lat, max_lon, max_lat = geom.bounds
    area, _perimeter = _GEOD.geometry_area_perimeter(geom)
    return {
        "geometry": shapely.to_wkb(geom),
        "min_lon": min_lon,
        "min_lat": min_lat,
        "max_lon": max_lon,
        "max_lat": max_lat,
        "area_m2": abs(area),
    }


def install_city(
    session: Session, city: CityBoundaries, *, districts: list[str] | None = None
) -> InstalledCity:
    """Create or refresh the city and its districts from loaded (WGS-84) boundaries.

    ``districts`` limits the platform to some districts (e.g. the urban ones); an unknown district
    code is an error naming the ones that exist.
    """
    by_code = {d.adcode: d for d in city.districts}
    wanted = districts or sorted(by_code)
    unknown = [c for c in wanted if c not in by_code]
    if unknown:
        raise NotFound(
            f"{city.name}没有这些区县：{', '.join(unknown)}；可选：{', '.join(sorted(by_code))}",
            en=f"{city.name} has no district {', '.join(unknown)}; "
            f"known: {', '.join(sorted(by_code))}",
            code="unknown_district",
        )
    session.merge(
        Region(
            code=city.adcode,
            level="city",
            name=city.name,
            parent_code=None,
            synthetic=False,
            **geometry_columns(city.geometry),
        )
    )
    session.flush()
    for code in wanted:
        d = by_code[code]
        session.merge(
            Region(
                code=d.adcode,
                level="district",
                name=d.name,
                parent_code=city.adcode,
                synthetic=False,
                **geometry_columns(d.geometry),
            )
        )
    session.flush()
    return InstalledCity(city.adcode, city.name, list(wanted))
