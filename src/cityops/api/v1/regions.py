"""Administrative regions (city → district → street → community)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from cityops.api.deps import CurrentUser, Db
from cityops.api.v1.models import RegionOut
from cityops.services import regions as svc

router = APIRouter(prefix="/regions", tags=["regions"])


@router.get("", response_model=list[RegionOut], summary="List regions")
def list_regions(
    session: Db,
    _user: CurrentUser,
    level: Literal["city", "district", "street", "community"] | None = None,
    parent: Annotated[str | None, Query(pattern=r"^\d{6,12}$")] = None,
) -> list[RegionOut]:
    return [RegionOut.of(r) for r in svc.list_regions(session, level=level, parent=parent)]


@router.get("/{code}", response_model=RegionOut, summary="One region")
def get_region(code: str, session: Db, _user: CurrentUser) -> RegionOut:
    return RegionOut.of(svc.get_region(session, code))
