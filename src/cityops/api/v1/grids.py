"""Unit grids (GeoJSON), responsibility grids and their supervisors, and locating a position."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from cityops.api.deps import CurrentUser, Db, require_roles
from cityops.api.geojson import GeoJSONResponse
from cityops.api.v1.models import (
    LocateOut,
    LonLat,
    RegionRef,
    ResponsibilityGridOut,
    SupervisorIn,
)
from cityops.api.v1.regions import BboxParam, CrsParam, simplify_param
from cityops.core.roles import Role
from cityops.geo.crs import parse_crs
from cityops.geo.geojson import (
    DEFAULT_SIMPLIFY_M,
    bbox_to_wgs84,
    feature,
    feature_collection,
    for_map,
    for_map_many,
    parse_bbox,
)
from cityops.services import geography, mapdata
from cityops.store.schema import Grid, User

router = APIRouter()
Admin = Annotated[User, Depends(require_roles(Role.admin))]


def _grid_props(g: Grid) -> dict[str, object]:
    return {
        "code": g.code,
        "community_code": g.community_code,
        "area_m2": round(g.area_m2, 1),
        "synthetic": g.synthetic,
    }


@router.get(
    "/grids.geojson",
    response_class=GeoJSONResponse,
    tags=["grids"],
    summary="Unit grids in a view or of a community, as a GeoJSON FeatureCollection",
    responses={200: {"content": {"application/geo+json": {}}}},
)
def grids_geojson(
    session: Db,
    _user: CurrentUser,
    bbox: BboxParam = None,
    community: Annotated[
        str | None, Query(pattern=r"^\d{12}$", description="12-digit community code")
    ] = None,
    simplify: Annotated[float | None, simplify_param("1 m")] = None,
    crs: CrsParam = "wgs84",
    limit: Annotated[
        int,
        Query(
            ge=1,
            le=mapdata.MAX_GRIDS,
            description="most grids to return; a view holding more is a 422 too_many_grids "
            "asking to zoom in",
        ),
    ] = mapdata.MAX_GRIDS,
) -> GeoJSONResponse:
    """Grids intersecting `bbox` and/or of one `community` (one of them is required).

    Properties: code, community_code, area_m2, synthetic.
    """
    out_crs = parse_crs(crs)
    box = bbox_to_wgs84(parse_bbox(bbox), out_crs) if bbox is not None else None
    rows = mapdata.grids_in_view(session, bbox=box, community=community, limit=limit)
    tol = DEFAULT_SIMPLIFY_M["grid"] if simplify is None else simplify
    geoms = for_map_many([geom for _, geom in rows], simplify=tol, crs=out_crs)
    features = [
        feature(geom, _grid_props(g), id=g.code) for (g, _), geom in zip(rows, geoms, strict=True)
    ]
    return GeoJSONResponse(feature_collection(features, coordinate_system=out_crs.value))


@router.get(
    "/grids/{code}",
    response_class=GeoJSONResponse,
    tags=["grids"],
    summary="One unit grid as a GeoJSON Feature, with its regions and responsibility grid",
    responses={200: {"content": {"application/geo+json": {}}}},
)
def get_grid(
    code: Annotated[str, Path(pattern=r"^\d{15}$", description="15-digit grid code")],
    session: Db,
    _user: CurrentUser,
    simplify: Annotated[float | None, simplify_param("0 (full detail)")] = None,
    crs: CrsParam = "wgs84",
) -> GeoJSONResponse:
    """Properties: code, community_code, area_m2, synthetic, district/street/community as
    `{code, name}`, responsibility_grid as `{code, name, supervisor}` or null."""
    out_crs = parse_crs(crs)
    d = mapdata.grid_detail(session, code)
    props: dict[str, object] = _grid_props(d.grid)
    for level in ("district", "street", "community"):
        rcode, name = d.names[level]
        props[level] = {"code": rcode, "name": name}
    rg = d.responsibility_grid
    props["responsibility_grid"] = (
        None if rg is None else {"code": rg.code, "name": rg.name, "supervisor": rg.supervisor}
    )
    geom = for_map(d.geometry, simplify=simplify or 0.0, crs=out_crs)
    return GeoJSONResponse(feature(geom, props, id=d.grid.code))


def _rg_out(s: mapdata.ResponsibilityGridSummary) -> ResponsibilityGridOut:
    return ResponsibilityGridOut(
        code=s.code, name=s.name, supervisor=s.supervisor, grid_count=s.grids
    )


@router.get(
    "/responsibility-grids",
    response_model=list[ResponsibilityGridOut],
    tags=["grids"],
    summary="Responsibility grids (责任网格) with supervisor and unit-grid count",
)
def list_responsibility_grids(
    session: Db,
    _user: CurrentUser,
    region: Annotated[
        str | None, Query(pattern=r"^\d{6,12}$", description="only under this region code")
    ] = None,
) -> list[ResponsibilityGridOut]:
    return [_rg_out(s) for s in mapdata.responsibility_grid_summaries(session, region)]


@router.put(
    "/responsibility-grids/{code}/supervisor",
    response_model=ResponsibilityGridOut,
    tags=["grids"],
    summary="Assign or clear a responsibility grid's supervisor (administrators)",
)
def put_supervisor(
    code: str, body: SupervisorIn, session: Db, _admin: Admin
) -> ResponsibilityGridOut:
    """`{"username": "..."}` assigns a user holding the supervisor role; `null` unassigns."""
    return _rg_out(mapdata.set_supervisor(session, code, body.username))


@router.get("/locate", response_model=LocateOut, tags=["grids"], summary="Locate a position")
def locate(
    session: Db,
    lon: Annotated[float, Query(ge=-180, le=180, allow_inf_nan=False, description="longitude")],
    lat: Annotated[float, Query(ge=-90, le=90, allow_inf_nan=False, description="latitude")],
    crs: Annotated[
        str,
        Query(
            max_length=20,
            description="coordinate system of lon/lat: wgs84 (default, also cgcs2000), gcj02 "
            "(Amap, Tencent, most phones' map SDKs) or bd09 (Baidu)",
        ),
    ] = "wgs84",
) -> LocateOut:
    """The unit grid, community, street and district containing a position.

    No sign-in required: the public reporting page places a citizen's report before anyone is
    signed in, and the answer (which grid and region a point lies in) is public knowledge, not
    case data. A position outside every grid is a 422 ``outside_city``, never a null.
    """
    found = geography.locate(session, lon, lat, parse_crs(crs))
    loc, names = found.location, found.names
    return LocateOut(
        grid=loc.grid,
        community=RegionRef(code=loc.community, name=names["community"]),
        street=RegionRef(code=loc.street, name=names["street"]),
        district=RegionRef(code=loc.district, name=names["district"]),
        wgs84=LonLat(lon=loc.lon, lat=loc.lat),
    )
