"""Administrative regions (city → district → street → community), as JSON and as GeoJSON."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from cityops.api.deps import CurrentUser, Db
from cityops.api.geojson import GeoJSONResponse
from cityops.api.v1.models import RegionOut
from cityops.geo.crs import parse_crs
from cityops.geo.geojson import (
    DEFAULT_SIMPLIFY_M,
    bbox_to_wgs84,
    feature,
    feature_collection,
    for_map_many,
    parse_bbox,
)
from cityops.services import mapdata
from cityops.services import regions as svc

router = APIRouter(tags=["regions"])

Level = Literal["city", "district", "street", "community"]
ParentCode = Annotated[str | None, Query(pattern=r"^\d{6,12}$")]

# Shared by the GeoJSON endpoints (regions, grids).
BboxParam = Annotated[
    str | None,
    Query(
        max_length=200,
        description="minLon,minLat,maxLon,maxLat in the coordinate system of `crs`",
        examples=["114.30,34.76,114.38,34.82"],
    ),
]
CrsParam = Annotated[
    str,
    Query(
        max_length=20,
        description="coordinate system of the output and of `bbox`: wgs84 (default, also "
        "cgcs2000), gcj02 (Amap, Tencent) or bd09 (Baidu)",
    ),
]


def simplify_param(default_doc: str) -> object:
    return Query(
        ge=0,
        le=10_000,
        description="Douglas–Peucker tolerance in metres on the ground; 0 = full detail; "
        f"default {default_doc}",
    )


@router.get("/regions", response_model=list[RegionOut], summary="List regions")
def list_regions(
    session: Db,
    _user: CurrentUser,
    level: Level | None = None,
    parent: ParentCode = None,
) -> list[RegionOut]:
    return [RegionOut.of(r) for r in svc.list_regions(session, level=level, parent=parent)]


@router.get(
    "/regions.geojson",
    response_class=GeoJSONResponse,
    summary="Regions as a GeoJSON FeatureCollection for the map",
    responses={200: {"content": {"application/geo+json": {}}}},
)
def regions_geojson(
    session: Db,
    _user: CurrentUser,
    level: Level | None = None,
    parent: ParentCode = None,
    bbox: BboxParam = None,
    simplify: Annotated[
        float | None, simplify_param("by level: district 20 m, street/community 5 m, city 50 m")
    ] = None,
    crs: CrsParam = "wgs84",
) -> GeoJSONResponse:
    """Regions whose boundary intersects `bbox` (all when absent), simplified for display.

    Properties: code, name, level, parent_code, synthetic, area_km2. Regions without a stored
    boundary have a null geometry (and are left out when a bbox is given).
    """
    out_crs = parse_crs(crs)
    box = bbox_to_wgs84(parse_bbox(bbox), out_crs) if bbox is not None else None
    rows = mapdata.regions_in_view(session, level=level, parent=parent, bbox=box)
    tolerances = [
        DEFAULT_SIMPLIFY_M.get(r.level, 0.0) if simplify is None else simplify for r, _ in rows
    ]
    geoms = for_map_many([g for _, g in rows], simplify=tolerances, crs=out_crs)
    features = [
        feature(geom, RegionOut.of(r).model_dump(), id=r.code)
        for (r, _), geom in zip(rows, geoms, strict=True)
    ]
    return GeoJSONResponse(feature_collection(features, coordinate_system=out_crs.value))


@router.get("/regions/{code}", response_model=RegionOut, summary="One region")
def get_region(code: str, session: Db, _user: CurrentUser) -> RegionOut:
    return RegionOut.of(svc.get_region(session, code))
