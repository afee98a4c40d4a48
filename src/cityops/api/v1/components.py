"""The component inventory (部件) for the map and for status changes.

Any signed-in staff member may read; administrators, departments and field supervisors change a
component's status, within their data scope.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from cityops.api.deps import CurrentUser, Db, require_roles
from cityops.api.geojson import GeoJSONResponse
from cityops.api.v1.regions import BboxParam, CrsParam
from cityops.core.roles import Role
from cityops.geo.geojson import parse_bbox
from cityops.services import components as svc
from cityops.store.schema import Component, ComponentStatusChange, User

router = APIRouter(prefix="/components", tags=["components"])
StatusChanger = Annotated[
    User, Depends(require_roles(Role.admin, Role.department, Role.supervisor))
]


class StatusChangeOut(BaseModel):
    from_status: str | None
    to_status: str
    at: datetime
    reason: str
    source: str
    user_id: int | None

    @classmethod
    def of(cls, h: ComponentStatusChange) -> StatusChangeOut:
        return cls(
            from_status=h.from_status,
            to_status=h.to_status,
            at=h.at,
            reason=h.reason,
            source=h.source,
            user_id=h.user_id,
        )


class ComponentOut(BaseModel):
    id: str
    type_code: str
    name: str
    lon: float
    lat: float
    grid_code: str
    owner_department: str
    owner_org_unit_id: int | None
    maintenance_unit: str
    maintenance_org_unit_id: int | None
    status: str
    status_label: str
    installed_on: date | None
    surveyed_on: date | None
    external_id: str | None
    updated_at: datetime
    history: list[StatusChangeOut]

    @classmethod
    def of(cls, c: Component, history: list[ComponentStatusChange]) -> ComponentOut:
        return cls(
            id=c.id,
            type_code=c.type_code,
            name=c.name,
            lon=c.lon,
            lat=c.lat,
            grid_code=c.grid_code,
            owner_department=c.owner_department,
            owner_org_unit_id=c.owner_org_unit_id,
            maintenance_unit=c.maintenance_unit,
            maintenance_org_unit_id=c.maintenance_org_unit_id,
            status=c.status,
            status_label=svc.STATUS_LABELS.get(c.status, c.status),
            installed_on=c.installed_on,
            surveyed_on=c.surveyed_on,
            external_id=c.external_id,
            updated_at=c.updated_at,
            history=[StatusChangeOut.of(h) for h in history],
        )


class StatusIn(BaseModel):
    status: str = Field(
        min_length=1, max_length=20, description="完好 破损 丢失 废弃 移除 or the English id"
    )
    reason: str = Field(min_length=1, max_length=200)


@router.get(
    "",
    response_class=GeoJSONResponse,
    summary="Components in a view, as a GeoJSON FeatureCollection",
    responses={200: {"content": {"application/geo+json": {}}}},
)
def list_components(
    session: Db,
    _user: CurrentUser,
    bbox: BboxParam = None,
    type: Annotated[
        str | None, Query(pattern=r"^\d{5}$", description="5-digit component type code")
    ] = None,
    status: Annotated[
        str | None,
        Query(max_length=20, description="intact damaged lost abandoned removed, or 完好 破损 …"),
    ] = None,
    crs: CrsParam = "wgs84",
    limit: Annotated[
        int, Query(ge=1, le=svc.MAP_LIMIT, description="most features to return")
    ] = svc.MAP_LIMIT,
) -> GeoJSONResponse:
    """Point features in id order with properties id, type_code, type_name, name, grid_code,
    owner_department, maintenance_unit, status, status_label, installed_on, surveyed_on,
    external_id. The foreign member `truncated` is true when more components matched than
    `limit` (zoom in)."""
    box = parse_bbox(bbox) if bbox is not None else None
    doc = svc.components_geojson(session, box, type, status, limit=limit, crs=crs)
    return GeoJSONResponse(doc)


@router.get("/{component_id}", response_model=ComponentOut, summary="One component with history")
def get_component(component_id: str, session: Db, _user: CurrentUser) -> ComponentOut:
    c = svc.get_component(session, component_id)
    return ComponentOut.of(c, svc.component_history(session, component_id))


@router.post(
    "/{component_id}/status", response_model=ComponentOut, summary="Change a component's status"
)
def change_status(
    component_id: str, body: StatusIn, session: Db, user: StatusChanger
) -> ComponentOut:
    c = svc.get_component(session, component_id)
    svc.ensure_in_scope(user, c)
    c = svc.set_status(session, component_id, body.status, body.reason, user.id, source="api")
    return ComponentOut.of(c, svc.component_history(session, component_id))
