"""Read-side geography for maps and lists: regions and grids in a view, one grid's context,
responsibility grids with their supervisors.

Storage holds WGS-84 WKB plus bbox columns (D3), so a view is an SQL overlap test on the bbox
columns (index-friendly on both databases) followed by an exact ``shapely.intersects``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import ColumnElement, Select, and_, func, select
from sqlalchemy.orm import Session

from cityops.core.errors import NotFound, ValidationFailed
from cityops.geo.geojson import Bbox, bbox_polygon
from cityops.geo.index import codes_of
from cityops.services.geography import assign_supervisor
from cityops.services.regions import get_region, unknown_region
from cityops.services.users import get_user
from cityops.store.schema import (
    Grid,
    Region,
    ResponsibilityGrid,
    ResponsibilityGridMember,
    User,
)

MAX_GRIDS = 10_000

_Row = TypeVar("_Row", Region, Grid)


def _overlaps(model: type[Region] | type[Grid], bbox: Bbox) -> ColumnElement[bool]:
    min_lon, min_lat, max_lon, max_lat = bbox
    return and_(
        model.min_lon <= max_lon,
        model.max_lon >= min_lon,
        model.min_lat <= max_lat,
        model.max_lat >= min_lat,
    )


def _exact(rows: list[_Row], bbox: Bbox | None) -> list[tuple[_Row, BaseGeometry | None]]:
    """Decode the rows' WKB; with a bbox keep those that really intersect it (vectorised)."""
    if not rows:
        return []
    geoms = shapely.from_wkb([r.geometry for r in rows])
    if bbox is None:
        return list(zip(rows, geoms, strict=True))
    hit = shapely.intersects(geoms, bbox_polygon(bbox))
    return [(r, g) for r, g, h in zip(rows, geoms, hit, strict=True) if h]


def regions_in_view(
    session: Session,
    *,
    level: str | None = None,
    parent: str | None = None,
    bbox: Bbox | None = None,
) -> list[tuple[Region, BaseGeometry | None]]:
    """Regions (with decoded geometry) by level/parent; with ``bbox`` (WGS-84) only those whose
    boundary intersects it. Regions without a boundary are left out when a bbox is given."""
    q = select(Region).order_by(Region.code)
    if level:
        q = q.where(Region.level == level)
    if parent:
        q = q.where(Region.parent_code == parent)
    if bbox is not None:
        q = q.where(_overlaps(Region, bbox))
    return _exact(list(session.scalars(q)), bbox)


def _community(session: Session, code: str) -> Region:
    region = get_region(session, code)
    if region.level != "community":
        raise unknown_region(code)
    return region


def grids_in_view(
    session: Session,
    *,
    bbox: Bbox | None = None,
    community: str | None = None,
    limit: int = MAX_GRIDS,
) -> list[tuple[Grid, BaseGeometry]]:
    """Unit grids in a view (WGS-84 bbox) and/or of one community, in code order.

    More than ``limit`` candidates is an error asking the user to zoom in: a city's tens of
    thousands of grids are not one map layer.
    """
    if bbox is None and community is None:
        raise ValidationFailed(
            "须给出 bbox 或 community 参数（全市网格太多，不能一次返回）",
            en="give bbox or community (a whole city's grids are too many for one answer)",
            code="bbox_or_community_required",
        )
    conditions: list[ColumnElement[bool]] = []
    if community is not None:
        _community(session, community)
        conditions.append(Grid.community_code == community)
    if bbox is not None:
        conditions.append(_overlaps(Grid, bbox))
    count = session.scalar(select(func.count()).select_from(Grid).where(*conditions)) or 0
    if count > limit:
        raise ValidationFailed(
            f"该范围内约有 {count} 个单元网格，超过上限 {limit}：请放大地图（缩小范围）后再试",
            en=f"about {count} unit grids in this view, more than the limit of {limit}: "
            "zoom in (a smaller bbox) and try again",
            code="too_many_grids",
            details={"count": count, "limit": limit},
        )
    rows = list(session.scalars(select(Grid).where(*conditions).order_by(Grid.code)))
    return [(g, geom) for g, geom in _exact(rows, bbox) if geom is not None]


@dataclass(frozen=True)
class ResponsibilityGridSummary:
    code: str
    name: str
    supervisor: str | None  # user name
    grids: int


@dataclass(frozen=True)
class GridDetail:
    grid: Grid
    geometry: BaseGeometry
    names: dict[str, tuple[str, str]]  # level → (code, name)
    responsibility_grid: ResponsibilityGridSummary | None


def _summaries() -> Select[str, str, str, int]:
    return (
        select(
            ResponsibilityGrid.code,
            ResponsibilityGrid.name,
            User.username,
            func.count(ResponsibilityGridMember.grid_code),
        )
        .outerjoin(ResponsibilityGridMember)
        .outerjoin(User, User.id == ResponsibilityGrid.supervisor_id)
        .group_by(ResponsibilityGrid.code, ResponsibilityGrid.name, User.username)
        .order_by(ResponsibilityGrid.code)
    )


def responsibility_grid_summaries(
    session: Session, region: str | None = None
) -> list[ResponsibilityGridSummary]:
    """Responsibility grids with supervisor and unit-grid count; ``region`` limits to a subtree
    (their codes are ``R`` + the community code)."""
    q = _summaries()
    if region:
        q = q.where(ResponsibilityGrid.code.like(f"R{region}%"))
    # The supervisor column is NULL when nobody is assigned (outer join).
    return [
        ResponsibilityGridSummary(code, name, user, int(n))
        for code, name, user, n in session.execute(q).all()
    ]


def _summary(session: Session, code: str) -> ResponsibilityGridSummary:
    rg_code, name, user, n = session.execute(
        _summaries().where(ResponsibilityGrid.code == code)
    ).one()
    return ResponsibilityGridSummary(rg_code, name, user, int(n))


def set_supervisor(session: Session, code: str, username: str | None) -> ResponsibilityGridSummary:
    """Assign (or with ``None`` clear) the supervisor of a responsibility grid.

    The user must be active and hold the supervisor role: an acceptor or a disabled account
    patrolling a grid would leave it unpatrolled while the list says otherwise.
    """
    supervisor_id = None
    if username is not None:
        user = get_user(session, username)
        if "supervisor" not in user.role_names:
            raise ValidationFailed(
                f"{username} 不是监督员，不能负责责任网格",
                en=f"{username} is not a supervisor",
                code="not_a_supervisor",
                details={"username": username, "roles": user.role_names},
            )
        if not user.active:
            raise ValidationFailed(
                f"用户 {username} 已停用",
                en=f"user {username} is disabled",
                code="inactive_user",
                details={"username": username},
            )
        supervisor_id = user.id
    assign_supervisor(session, code, supervisor_id)
    return _summary(session, code)


def grid_detail(session: Session, code: str) -> GridDetail:
    grid = session.get(Grid, code)
    if grid is None:
        raise NotFound(
            f"没有编码为 {code} 的单元网格", en=f"no unit grid {code}", code="unknown_grid"
        )
    district, street, community = codes_of(code)
    names = dict(
        session.execute(
            select(Region.code, Region.name).where(Region.code.in_([district, street, community]))
        ).all()
    )
    rg_code = session.scalar(
        select(ResponsibilityGrid.code)
        .join(ResponsibilityGridMember)
        .where(ResponsibilityGridMember.grid_code == code)
    )
    return GridDetail(
        grid=grid,
        geometry=shapely.from_wkb(grid.geometry),
        names={
            "district": (district, names.get(district, "")),
            "street": (street, names.get(street, "")),
            "community": (community, names.get(community, "")),
        },
        responsibility_grid=_summary(session, rg_code) if rg_code else None,
    )
