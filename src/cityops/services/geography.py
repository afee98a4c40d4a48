"""Building a city's geography (districts → streets → communities → unit grids), and locating.

One transaction per call: ``init_city`` either writes the whole tree for the chosen districts or
nothing. Streets and communities come from the user's files when given, else from the synthetic
partition (marked synthetic); grids are always cut from the community boundaries.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry
from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from cityops.core.errors import Conflict, NotFound, RowError, ValidationFailed
from cityops.geo.boundaries import Area, CityBoundaries, load_city, parse_areas, read_features
from cityops.geo.crs import Crs, MetricFrame, parse_crs
from cityops.geo.grids import grid_community
from cityops.geo.index import Location, SpatialIndex
from cityops.geo.partition import partition
from cityops.services.cache import StampedCache
from cityops.services.regions import geometry_columns, install_city
from cityops.store.schema import (
    Component,
    Grid,
    Region,
    ResponsibilityGrid,
    ResponsibilityGridMember,
)


@dataclass(frozen=True)
class GridSettings:
    grid_size_m: float = 100.0
    street_km2: float = 5.0
    community_km2: float = 0.5
    min_fraction: float = 0.2
    seed: int = 1


@dataclass
class DistrictReport:
    code: str
    name: str
    area_km2: float
    streets: int = 0
    communities: int = 0
    grids: int = 0
    synthetic: bool = True


@dataclass
class CityReport:
    code: str
    name: str
    districts: list[DistrictReport] = field(default_factory=list)

    @property
    def streets(self) -> int:
        return sum(d.streets for d in self.districts)

    @property
    def communities(self) -> int:
        return sum(d.communities for d in self.districts)

    @property
    def grids(self) -> int:
        return sum(d.grids for d in self.districts)


def _load_subareas(
    path: Path | None, crs: Crs, code_len: int, what_zh: str, what_en: str
) -> dict[str, Area]:
    if path is None:
        return {}
    parsed, errors = parse_areas(read_features(path), crs, code_len=code_len)
    if errors:
        raise ValidationFailed(
            f"{what_zh}文件有 {len(errors)} 处错误，未导入任何数据",
            en=f"{len(errors)} problem(s) in the {what_en} file; nothing imported",
            code="bad_boundaries",
            details=[e.to_dict() for e in errors],
        )
    return {a.adcode: a for a, _ in parsed}


def _check_parents(children: dict[str, Area], parents: set[str], what: str) -> None:
    errors = [
        RowError(i, "adcode", f"{code} 不属于任何所选上级区域")
        for i, code in enumerate(sorted(children), start=1)
        if code[: len(code) - 3] not in parents
    ]
    if errors:
        raise ValidationFailed(
            f"{what}代码与上级区域不符：{len(errors)} 处",
            en=f"{len(errors)} {what} code(s) match no chosen parent region",
            code="bad_boundaries",
            details=[e.to_dict() for e in errors],
        )


def _clear_districts(session: Session, codes: list[str]) -> None:
    for code in codes:
        used = session.scalar(
            select(func.count()).select_from(Component).where(Component.grid_code.like(f"{code}%"))
        )
        if used:
            raise Conflict(
                f"{code} 已有 {used} 个部件登记在网格上，不能重建网格；请先导出并删除部件",
                en=f"{code} has {used} components on its grids; export and remove them first",
                code="grids_in_use",
            )
        session.execute(delete(ResponsibilityGrid).where(ResponsibilityGrid.code.like(f"R{code}%")))
        session.execute(delete(Grid).where(Grid.code.like(f"{code}%")))
        session.execute(
            delete(Region).where(Region.level == "community", Region.code.like(f"{code}%"))
        )
        session.execute(
            delete(Region).where(Region.level == "street", Region.code.like(f"{code}%"))
        )


def _region_row(
    code: str, level: str, name: str, parent: str, geom: BaseGeometry, synthetic: bool
) -> dict[str, Any]:
    return {
        "code": code,
        "level": level,
        "name": name,
        "parent_code": parent,
        "synthetic": synthetic,
        **geometry_columns(geom),
    }


def init_city(
    session: Session,
    adcode: str,
    *,
    districts: list[str] | None = None,
    boundaries: Path | None = None,
    crs: str | None = None,
    streets_file: Path | None = None,
    communities_file: Path | None = None,
    settings: GridSettings | None = None,
) -> CityReport:
    """Install a city and build its streets, communities, grids and responsibility grids."""
    cfg = settings or GridSettings()
    src_crs = parse_crs(crs) if crs else None
    city: CityBoundaries = load_city(adcode, path=boundaries, crs=src_crs)
    installed = install_city(session, city, districts=districts)
    file_crs = src_crs or Crs.wgs84
    real_streets = _load_subareas(streets_file, file_crs, 9, "街道", "street")
    real_communities = _load_subareas(communities_file, file_crs, 12, "社区", "community")
    _check_parents(real_streets, set(installed.district_codes), "街道")
    if real_communities:
        if not real_streets:
            raise ValidationFailed(
                "导入社区时也须提供街道文件（--streets）",
                en="communities need their streets file too (--streets)",
                code="bad_boundaries",
            )
        _check_parents(real_communities, set(real_streets), "社区")

    frame = MetricFrame(city.geometry.centroid.x)
    _clear_districts(session, installed.district_codes)
    report = CityReport(city.adcode, city.name)
    by_code = {d.adcode: d for d in city.districts}
    region_rows: list[dict[str, Any]] = []
    grid_rows: list[dict[str, Any]] = []
    resp_rows: list[dict[str, Any]] = []
    for dcode in installed.district_codes:
        district = by_code[dcode]
        d_metric = frame.to_metric(district.geometry)
        rep = DistrictReport(dcode, district.name, round(d_metric.area / 1e6, 1))
        streets = _streets_of(dcode, district.name, d_metric, real_streets, frame, cfg)
        rep.synthetic = not real_streets
        for s_code, s_name, s_metric, s_syn in streets:
            region_rows.append(
                _region_row(s_code, "street", s_name, dcode, frame.to_wgs84(s_metric), s_syn)
            )
            comms = _communities_of(s_code, s_metric, real_communities, frame, cfg)
            for c_code, c_name, c_metric, c_syn in comms:
                region_rows.append(
                    _region_row(
                        c_code, "community", c_name, s_code, frame.to_wgs84(c_metric), c_syn
                    )
                )
                cells = grid_community(
                    c_code, c_metric, size=cfg.grid_size_m, min_fraction=cfg.min_fraction
                )
                for cell in cells:
                    g = frame.to_wgs84(cell.geometry)
                    cols = geometry_columns(g)
                    cols["area_m2"] = cell.geometry.area
                    grid_rows.append(
                        {"code": cell.code, "community_code": c_code, "synthetic": True, **cols}
                    )
                resp_rows.append(
                    {
                        "code": f"R{c_code}",
                        "name": f"{c_name}责任网格",
                        "grids": [c.code for c in cells],
                    }
                )
                rep.communities += 1
                rep.grids += len(cells)
            rep.streets += 1
        report.districts.append(rep)

    session.execute(insert(Region), region_rows)
    for start in range(0, len(grid_rows), 5000):
        session.execute(insert(Grid), grid_rows[start : start + 5000])
    _insert_responsibility_grids(session, resp_rows)
    session.flush()
    _index_cache.invalidate()
    return report


def _streets_of(
    dcode: str,
    dname: str,
    d_metric: BaseGeometry,
    real: dict[str, Area],
    frame: MetricFrame,
    cfg: GridSettings,
) -> list[tuple[str, str, BaseGeometry, bool]]:
    if real:
        return [
            (code, a.name, frame.to_metric(a.geometry).intersection(d_metric), False)
            for code, a in sorted(real.items())
            if code.startswith(dcode)
        ]
    parts = partition(d_metric, cfg.street_km2 * 1e6, seed=cfg.seed * 1_000_003 + int(dcode))
    return [
        (f"{dcode}{n:03d}", f"{dname}模拟街道{n:02d}", p.geometry, True)
        for n, p in enumerate(parts, start=1)
    ]


def _communities_of(
    s_code: str,
    s_metric: BaseGeometry,
    real: dict[str, Area],
    frame: MetricFrame,
    cfg: GridSettings,
) -> list[tuple[str, str, BaseGeometry, bool]]:
    mine = {c: a for c, a in real.items() if c.startswith(s_code)}
    if mine:
        return [
            (code, a.name, frame.to_metric(a.geometry).intersection(s_metric), False)
            for code, a in sorted(mine.items())
        ]
    parts = partition(s_metric, cfg.community_km2 * 1e6, seed=cfg.seed * 1_000_003 + int(s_code))
    return [
        (f"{s_code}{n:03d}", f"模拟社区{int(s_code[-3:]):02d}-{n:02d}", p.geometry, True)
        for n, p in enumerate(parts, start=1)
    ]


def _insert_responsibility_grids(session: Session, rows: list[dict[str, Any]]) -> None:
    """One responsibility grid per community by default; admins regroup and assign them later."""
    if not rows:
        return
    session.execute(
        insert(ResponsibilityGrid), [{"code": r["code"], "name": r["name"]} for r in rows]
    )
    ids = dict(
        session.execute(
            select(ResponsibilityGrid.code, ResponsibilityGrid.id).where(
                ResponsibilityGrid.code.in_([r["code"] for r in rows])
            )
        ).all()
    )
    members = [
        {"responsibility_grid_id": ids[r["code"]], "grid_code": g} for r in rows for g in r["grids"]
    ]
    for start in range(0, len(members), 5000):
        session.execute(insert(ResponsibilityGridMember), members[start : start + 5000])


# --- the spatial index, cached per database and grid set ------------------------------------------


def _grid_stamp(session: Session) -> tuple[int, str | None]:
    count, top = session.execute(select(func.count(), func.max(Grid.code))).one()
    return int(count), top


def _build_index(session: Session) -> SpatialIndex:
    codes, blobs = [], []
    for code, blob in session.execute(select(Grid.code, Grid.geometry)):
        codes.append(code)
        blobs.append(blob)
    return SpatialIndex(codes, list(shapely.from_wkb(blobs)) if blobs else [])


_index_cache: StampedCache[SpatialIndex] = StampedCache(_grid_stamp, _build_index)


def spatial_index(session: Session) -> SpatialIndex:
    """The grids' index, rebuilt when the grid set changed (count or highest code differ)."""
    return _index_cache.get(session)


@dataclass(frozen=True)
class NamedLocation:
    location: Location
    names: dict[str, str]  # level → name


def locate(session: Session, lon: float, lat: float, crs: str = "wgs84") -> NamedLocation:
    if not session.scalar(select(func.count()).select_from(Grid)):
        raise NotFound(
            "尚未生成单元网格：请先运行 cityops city init",
            en="no unit grids yet: run cityops city init first",
            code="no_grids",
        )
    loc = spatial_index(session).locate(lon, lat, parse_crs(crs))
    names = dict(
        session.execute(
            select(Region.code, Region.name).where(
                Region.code.in_([loc.district, loc.street, loc.community])
            )
        ).all()
    )
    return NamedLocation(
        loc,
        {
            "district": names.get(loc.district, ""),
            "street": names.get(loc.street, ""),
            "community": names.get(loc.community, ""),
        },
    )


# --- GeoJSON exchange of grids ---------------------------------------------------------------------


def iter_grid_features(session: Session, prefix: str = "") -> Iterator[dict[str, Any]]:
    q = select(Grid).order_by(Grid.code)
    if prefix:
        q = q.where(Grid.code.like(f"{prefix}%"))
    for g in session.scalars(q):
        yield {
            "type": "Feature",
            "properties": {
                "code": g.code,
                "community_code": g.community_code,
                "area_m2": round(g.area_m2, 1),
                "synthetic": g.synthetic,
            },
            "geometry": mapping(shapely.from_wkb(g.geometry)),
        }


def export_grids(session: Session, path: Path, prefix: str = "") -> int:
    features = list(iter_grid_features(session, prefix))
    doc = {"type": "FeatureCollection", "features": features}
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return len(features)


def import_grids(session: Session, path: Path, crs: str | None = None) -> int:
    """Replace the grids of the communities named in the file; 15-character codes required."""
    parsed, errors = parse_areas(read_features(path), parse_crs(crs or "wgs84"), code_len=15)
    communities = {a.adcode[:12] for a, _ in parsed}
    known = set(session.scalars(select(Region.code).where(Region.code.in_(communities))))
    for i, (a, _props) in enumerate(parsed, start=1):
        if a.adcode[:12] not in known:
            errors.append(RowError(i, "code", f"{a.adcode}: 社区 {a.adcode[:12]} 不存在"))
    if errors:
        raise ValidationFailed(
            f"网格文件有 {len(errors)} 处错误，未导入任何数据",
            en=f"{len(errors)} problem(s) in the grid file; nothing imported",
            code="import_rejected",
            details=[e.to_dict() for e in sorted(errors, key=lambda e: e.row)],
        )
    for c in sorted(communities):
        used = session.scalar(
            select(func.count()).select_from(Component).where(Component.grid_code.like(f"{c}%"))
        )
        if used:
            raise Conflict(
                f"社区 {c} 已有部件登记在网格上，不能替换网格",
                en=f"community {c} has components on its grids; cannot replace them",
                code="grids_in_use",
            )
        session.execute(delete(Grid).where(Grid.community_code == c))
    rows = []
    for a, _props in parsed:
        cols = geometry_columns(a.geometry)
        rows.append({"code": a.adcode, "community_code": a.adcode[:12], "synthetic": False, **cols})
    session.execute(insert(Grid), rows)
    session.flush()
    _index_cache.invalidate()
    return len(rows)


def assign_supervisor(
    session: Session, resp_code: str, supervisor_id: int | None
) -> ResponsibilityGrid:
    rg = session.scalar(select(ResponsibilityGrid).where(ResponsibilityGrid.code == resp_code))
    if rg is None:
        raise NotFound(
            f"没有编码为 {resp_code} 的责任网格",
            en=f"no responsibility grid {resp_code}",
            code="unknown_responsibility_grid",
        )
    rg.supervisor_id = supervisor_id
    session.flush()
    return rg
