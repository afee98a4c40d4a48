"""The component inventory on both databases: import (CSV, GBK, XLSX, GeoJSON), ids, grids, row
errors, all-or-nothing, idempotent re-import, status history, export round trip, statistics, map."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import shapely
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from cityops.core.catalog import Kind
from cityops.core.errors import NotFound, RowError, ValidationFailed
from cityops.geo.crs import transform
from cityops.services import components as svc
from cityops.services.catalog import ensure_standard_catalog, update_type
from cityops.services.geography import GridSettings, init_city
from cityops.services.orgs import add_org
from cityops.store.schema import Component, ComponentStatusChange, Grid

DISTRICT = "410204"
HEADER = "部件类型代码,经度,纬度,名称,主管部门,养护单位,状态,安装日期,普查日期,外部编号"


@pytest.fixture
def city(session: Session) -> dict[str, tuple[float, float]]:
    """Kaifeng's 鼓楼区 with 250 m grids and the catalog; returns grid code → a point inside it."""
    ensure_standard_catalog(session)
    init_city(session, "410200", districts=[DISTRICT], settings=GridSettings(grid_size_m=250))
    add_org(session, "KF-SZ", "市政工程管理处", "department")
    grids = session.scalars(select(Grid).order_by(Grid.code).limit(400)).all()
    points = {}
    for g in grids[::40]:
        p = shapely.from_wkb(g.geometry).representative_point()
        points[g.code] = (p.x, p.y)
    return points


def _pt(city: dict[str, tuple[float, float]], n: int) -> tuple[str, float, float]:
    code = sorted(city)[n]
    return code, *city[code]


def _csv(tmp_path: Path, lines: list[str], name: str = "c.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def _count(session: Session, model: type[Any] = Component) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _rejected(session: Session, path: Path, **kw: Any) -> list[tuple[int, str | None]]:
    with pytest.raises(ValidationFailed) as info:
        svc.import_components(session, path, **kw)
    assert info.value.code == "import_rejected"
    details = info.value.details
    assert isinstance(details, list)
    return [(d["row"], d["column"]) for d in details]


def _ids(session: Session) -> list[str]:
    return list(session.scalars(select(Component.id).order_by(Component.id)))


def test_ids_grids_and_sequences(session: Session, city: dict[str, Any], tmp_path: Path) -> None:
    g0, x0, y0 = _pt(city, 0)
    g1, x1, y1 = _pt(city, 1)
    path = _csv(
        tmp_path,
        [
            HEADER,
            f"01001,{x0},{y0},供水井盖,KF-SZ,开封水务,完好,2019-05-01,2024-03-12,S-1",
            f"01001,{x1},{y1},供水井盖,市政工程管理处,,破损,,,S-2",
            f"02001,{x0},{y0},停车场,未登记的单位,,,,,S-3",
        ],
    )
    report = svc.import_components(session, path)
    assert (report.added, report.updated, report.skipped) == (3, 0, [])
    assert _ids(session) == [
        f"{DISTRICT}01001000001",
        f"{DISTRICT}01001000002",
        f"{DISTRICT}02001000001",
    ]
    c = svc.get_component(session, f"{DISTRICT}01001000001")
    assert c.grid_code == g0 and len(c.id) == 17
    assert (c.lon, c.lat) == (x0, y0)
    assert c.owner_department == "市政工程管理处" and c.owner_org_unit_id is not None
    assert c.maintenance_unit == "开封水务" and c.maintenance_org_unit_id is None
    assert (c.installed_on, c.surveyed_on, c.external_id) == (
        date(2019, 5, 1),
        date(2024, 3, 12),
        "S-1",
    )
    c2 = svc.get_component(session, f"{DISTRICT}01001000002")
    assert c2.grid_code == g1 and c2.status == "damaged"
    assert c2.owner_org_unit_id == c.owner_org_unit_id  # matched by name
    c3 = svc.get_component(session, f"{DISTRICT}02001000001")
    assert c3.status == "intact" and c3.owner_org_unit_id is None
    assert c3.owner_department == "未登记的单位"
    # the initial status of every new component is its first history entry
    assert [h.to_status for h in svc.component_history(session, c2.id)] == ["damaged"]

    # sequences continue across imports, per district and type
    more = _csv(tmp_path, ["type_code,lon,lat", f"01001,{x1},{y1}", f"1001,{x0},{y0}"], "m.csv")
    assert svc.import_components(session, more).unkeyed == 2
    assert _ids(session)[-3:-1] == [f"{DISTRICT}01001000003", f"{DISTRICT}01001000004"]


def test_gcj02_positions_are_stored_as_wgs84(
    session: Session, city: dict[str, Any], tmp_path: Path
) -> None:
    grid, x, y = _pt(city, 2)
    gx, gy = transform(x, y, "wgs84", "gcj02")
    path = _csv(tmp_path, ["type_code,lon,lat", f"01001,{gx!r},{gy!r}"])
    svc.import_components(session, path, crs="gcj02")
    c = session.scalars(select(Component)).one()
    assert c.grid_code == grid
    assert abs(c.lon - x) < 1e-8 and abs(c.lat - y) < 1e-8


def test_bad_rows_reject_the_whole_file(
    session: Session, city: dict[str, Any], tmp_path: Path
) -> None:
    _, x, y = _pt(city, 0)
    lines = [
        "type_code,lon,lat,status,installed_on,external_id",
        f"01001,{x},{y},完好,2020-01-01,OK-1",  # row 2: good
        "01001,116.40,39.90,,,",  # 3: Beijing, outside the city
        f"06010,{x},{y},,,",  # 4: a matter code
        f"99999,{x},{y},,,",  # 5: not in the catalog
        f"01001,{x},{y},坏了,2020-13-01,",  # 6: bad status and bad date
        f",{x},{y},,,",  # 7: no type for a new component
        "01001,abc,,,,",  # 8: not a number, latitude missing
        f"01001,{x},{y},,,OK-1",  # 9: external id repeated
        f"01001,{x},{y},damaged,2019-02-03,OK-2",  # 10: good
    ]
    path = _csv(tmp_path, lines)
    assert _rejected(session, path) == [
        (3, "lon/lat"),
        (4, "type_code"),
        (5, "type_code"),
        (6, "installed_on"),
        (6, "status"),
        (7, "type_code"),
        (8, "lat"),
        (8, "lon"),
        (9, "external_id"),
    ]
    assert _count(session) == 0 and _count(session, ComponentStatusChange) == 0

    report = svc.import_components(session, path, skip_bad=True)
    assert (report.added, report.skipped_rows) == (2, 7)
    assert {c.external_id for c in session.scalars(select(Component))} == {"OK-1", "OK-2"}
    assert all(isinstance(e, RowError) for e in report.skipped)


def test_disabled_type_and_file_level_errors(
    session: Session, city: dict[str, Any], tmp_path: Path
) -> None:
    _, x, y = _pt(city, 0)
    update_type(session, "01002", kind=Kind.component, enabled=False)
    assert _rejected(session, _csv(tmp_path, ["type_code,lon,lat", f"01002,{x},{y}"])) == [
        (2, "type_code")
    ]
    with pytest.raises(ValidationFailed) as info:
        svc.import_components(session, _csv(tmp_path, ["部件类型代码,经度", f"01001,{x}"]))
    assert info.value.code == "missing_column" and "纬度" in info.value.message
    with pytest.raises(ValidationFailed) as info:
        svc.import_components(session, _csv(tmp_path, ["经度,纬度", f"{x},{y}"]))
    assert info.value.code == "missing_column"
    with pytest.raises(ValidationFailed) as info:
        svc.import_components(session, _csv(tmp_path, ["type_code,lon,lat,colour", "01001,1,2,x"]))
    assert info.value.code == "unknown_columns"
    with pytest.raises(ValidationFailed) as info:
        svc.import_components(session, _csv(tmp_path, ["x"], name="c.pdf"))
    assert info.value.code == "bad_file"
    assert _count(session) == 0


def test_reimport_by_external_id_is_idempotent(
    session: Session, city: dict[str, Any], tmp_path: Path
) -> None:
    _, x0, y0 = _pt(city, 0)
    g1, x1, y1 = _pt(city, 1)
    rows = [
        "external_id,type_code,lon,lat,status,name",
        f"E-1,01001,{x0},{y0},完好,甲",
        f"E-2,01001,{x0},{y0},完好,乙",
    ]
    path = _csv(tmp_path, rows)
    svc.import_components(session, path)
    again = svc.import_components(session, path)
    assert (again.added, again.updated, again.unchanged, again.status_changes) == (0, 0, 2, 0)
    assert _count(session) == 2

    # a later survey: E-1 damaged and moved, E-2 unchanged; blank cells keep the stored value
    survey = _csv(
        tmp_path,
        ["外部编号,部件类型代码,经度,纬度,状态,名称", f"E-1,,{x1},{y1},破损,", "E-2,,,,,"],
        "survey.csv",
    )
    report = svc.import_components(session, survey)
    assert (report.added, report.updated, report.unchanged, report.status_changes) == (0, 1, 1, 1)
    e1 = session.scalars(select(Component).where(Component.external_id == "E-1")).one()
    assert (e1.status, e1.name, e1.grid_code, e1.lon) == ("damaged", "甲", g1, x1)
    assert e1.id == f"{DISTRICT}01001000001"  # the id stays
    history = svc.component_history(session, e1.id)
    assert [(h.from_status, h.to_status, h.source) for h in history] == [
        (None, "intact", "import"),
        ("intact", "damaged", "import"),
    ]


def test_update_by_id_and_ids_from_a_previous_system(
    session: Session, city: dict[str, Any], tmp_path: Path
) -> None:
    _, x, y = _pt(city, 0)
    legacy = f"{DISTRICT}01001000050"
    path = _csv(tmp_path, ["部件编号,部件类型代码,经度,纬度", f"{legacy},01001,{x},{y}"])
    svc.import_components(session, path)
    # a new component continues after the kept id
    svc.import_components(session, _csv(tmp_path, ["type_code,lon,lat", f"01001,{x},{y}"], "n.csv"))
    assert _ids(session) == [legacy, f"{DISTRICT}01001000051"]

    status_only = _csv(tmp_path, ["id,status", f"{legacy},丢失"], "s.csv")
    assert svc.import_components(session, status_only).updated == 1
    c = svc.get_component(session, legacy)
    assert c.status == "lost" and c.type_code == "01001" and c.lon == x

    wrong = _csv(
        tmp_path,
        [
            "id,type_code,lon,lat",
            f"41020201001000001,01001,{x},{y}",  # another district's id for a point here
            f"{legacy},01002,,",  # the type of an existing component cannot change
            "4102040100100000,01001,,",  # 16 digits
        ],
        "w.csv",
    )
    assert _rejected(session, wrong) == [(2, "id"), (3, "type_code"), (4, "id")]


def test_status_changes_keep_history(
    session: Session, city: dict[str, Any], tmp_path: Path
) -> None:
    _, x, y = _pt(city, 0)
    svc.import_components(session, _csv(tmp_path, ["type_code,lon,lat", f"01001,{x},{y}"]))
    cid = f"{DISTRICT}01001000001"
    svc.set_status(session, cid, "破损", "巡查发现井盖破裂")
    svc.set_status(session, cid, "damaged", "重复提交")  # same status: nothing recorded
    svc.set_status(session, cid, "removed", "道路改造拆除", source="api")
    history = svc.component_history(session, cid)
    assert [(h.from_status, h.to_status, h.reason) for h in history] == [
        (None, "intact", "导入新增"),
        ("intact", "damaged", "巡查发现井盖破裂"),
        ("damaged", "removed", "道路改造拆除"),
    ]
    assert history[-1].source == "api" and isinstance(history[-1].at, datetime)
    assert svc.get_component(session, cid).status == "removed"
    with pytest.raises(ValidationFailed, match="完好") as info:
        svc.set_status(session, cid, "broken", "x")
    assert info.value.code == "bad_status"
    with pytest.raises(ValidationFailed) as info:
        svc.set_status(session, cid, "intact", "  ")
    assert info.value.code == "reason_required"
    with pytest.raises(NotFound):
        svc.set_status(session, f"{DISTRICT}01001000999", "intact", "x")
    with pytest.raises(NotFound):
        svc.get_component(session, "not-an-id")


def test_gbk_csv_xlsx_and_geojson_inputs(
    session: Session, city: dict[str, Any], tmp_path: Path
) -> None:
    g0, x0, y0 = _pt(city, 0)
    _, x1, y1 = _pt(city, 1)
    gbk = _csv(tmp_path, [HEADER, f"01001,{x0},{y0},供水井盖,,,完好,,,G-1"], encoding="gbk")
    assert svc.import_components(session, gbk).added == 1

    xlsx = tmp_path / "survey.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["部件类型代码", "经度", "纬度", "状态", "安装日期", "外部编号"])
    ws.append([1001, x0, y0, "破损", datetime(2018, 7, 1), "X-1"])  # Excel: number, date cell
    ws.append([1001, 200.0, y0, "完好", "2018-07-01", "X-2"])  # row 3: longitude out of range
    ws.append([1001, x1, y1, "intact", "yesterday", "X-3"])  # row 4: bad date
    wb.save(xlsx)
    assert _rejected(session, xlsx) == [(3, "经度"), (4, "安装日期")]
    assert svc.import_components(session, xlsx, skip_bad=True).added == 1
    x_1 = session.scalars(select(Component).where(Component.external_id == "X-1")).one()
    assert (x_1.type_code, x_1.status, x_1.installed_on) == ("01001", "damaged", date(2018, 7, 1))

    def point(lon: float, lat: float, **props: Any) -> dict[str, Any]:
        geometry = {"type": "Point", "coordinates": [lon, lat]}
        return {"type": "Feature", "geometry": geometry, "properties": props}

    doc = {
        "type": "FeatureCollection",
        "features": [
            point(x0, y0, type_code="01005", external_id="J-1", OBJECTID=7),
            {"type": "Feature", "geometry": {"type": "LineString", "coordinates": []}},
            point(x1, y1, type_code="06010"),
            point(x1, y1, 类型代码=1001, 状态="丢失", 外部编号="J-2"),
            {"type": "Feature", "geometry": None, "properties": {"type_code": "01001"}},
        ],
    }
    gj = tmp_path / "survey.geojson"
    gj.write_text(json.dumps(doc, ensure_ascii=False), "utf-8")
    assert _rejected(session, gj) == [(2, "geometry"), (3, "type_code"), (5, "geometry")]
    assert svc.import_components(session, gj, skip_bad=True).added == 2
    j1 = session.scalars(select(Component).where(Component.external_id == "J-1")).one()
    assert (j1.id[:11], j1.grid_code) == (f"{DISTRICT}01005", g0)
    j2 = session.scalars(select(Component).where(Component.external_id == "J-2")).one()
    assert (j2.type_code, j2.status) == ("01001", "lost")
    # an update needs no geometry
    update = {
        "type": "Feature",
        "geometry": None,
        "properties": {"external_id": "J-2", "状态": "完好"},
    }
    gj.write_text(json.dumps({"type": "FeatureCollection", "features": [update]}), "utf-8")
    assert svc.import_components(session, gj).updated == 1
    session.refresh(j2)
    assert j2.status == "intact"


def _snapshot(session: Session) -> list[tuple[Any, ...]]:
    """Every stored column but the time stamp; positions to 1e-9° (XLSX keeps 16 digits)."""
    cols = [c for c in Component.__table__.columns if c.name != "updated_at"]
    return [
        tuple(round(v, 9) if isinstance(v, float) else v for v in r)
        for r in session.execute(select(*cols).order_by(Component.id))
    ]


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "geojson"])
def test_export_import_round_trip(
    session: Session, city: dict[str, Any], tmp_path: Path, fmt: str
) -> None:
    lines = [HEADER]
    for n, code in enumerate(sorted(city)[:6]):
        x, y = city[code]
        status = ["完好", "破损", "丢失", "废弃", "移除", "完好"][n]
        lines.append(
            f"0100{n % 3 + 1},{x},{y},井盖{n},KF-SZ,养护{n},{status},2019-0{n + 1}-02,,R-{n}"
        )
    lines.append(f"02001,{city[sorted(city)[0]][0]},{city[sorted(city)[0]][1]},,,,,,,")
    svc.import_components(session, _csv(tmp_path, lines))
    before = _snapshot(session)
    out = tmp_path / f"out.{fmt}"
    assert svc.export_components(session, out) == 7

    again = svc.import_components(session, out)  # into the same inventory: nothing changes
    assert (again.added, again.updated, again.unchanged) == (0, 0, 7)

    session.execute(delete(ComponentStatusChange))
    session.execute(delete(Component))
    report = svc.import_components(session, out)  # into an empty one: the same components
    assert report.added == 7
    assert _snapshot(session) == before


def test_export_in_gcj02_and_by_region(
    session: Session, city: dict[str, Any], tmp_path: Path
) -> None:
    g, x, y = _pt(city, 3)
    svc.import_components(session, _csv(tmp_path, ["type_code,lon,lat", f"01001,{x},{y}"]))
    out = tmp_path / "out.txt"
    assert svc.export_components(session, out, "geojson", crs="gcj02", region=g[:9]) == 1
    feature = json.loads(out.read_text("utf-8"))["features"][0]
    gx, gy = transform(x, y, "wgs84", "gcj02")
    assert feature["geometry"]["coordinates"] == pytest.approx([gx, gy], abs=1e-9)
    assert svc.export_components(session, tmp_path / "none.csv", region="410205") == 0
    with pytest.raises(ValidationFailed):
        svc.export_components(session, tmp_path / "out.pdf")


def test_stats(session: Session, city: dict[str, Any], tmp_path: Path) -> None:
    g0, x0, y0 = _pt(city, 0)
    _, x1, y1 = _pt(city, 1)
    path = _csv(
        tmp_path,
        [
            "type_code,lon,lat,status",
            f"01001,{x0},{y0},完好",
            f"01001,{x0},{y0},破损",
            f"01005,{x1},{y1},破损",
        ],
    )
    svc.import_components(session, path)
    [district] = svc.component_stats(session, "district")
    assert (district.key, district.name, district.total) == (DISTRICT, "鼓楼区", 3)
    assert district.by_status == {
        "intact": 1,
        "damaged": 2,
        "lost": 0,
        "abandoned": 0,
        "removed": 0,
    }
    by_type = {r.key: (r.name, r.total) for r in svc.component_stats(session, "type")}
    assert by_type == {"01001": ("供水井盖", 2), "01005": ("电力井盖", 1)}
    assert [(r.key, r.total) for r in svc.component_stats(session, "status")] == [
        ("intact", 1),
        ("damaged", 2),
    ]
    assert svc.component_stats(session, "grid")[0].key == g0
    with pytest.raises(ValidationFailed):
        svc.component_stats(session, "colour")


def test_components_geojson(session: Session, city: dict[str, Any], tmp_path: Path) -> None:
    _, x0, y0 = _pt(city, 0)
    _, x1, y1 = _pt(city, 5)
    path = _csv(
        tmp_path,
        ["type_code,lon,lat,status", f"01001,{x0},{y0},完好", f"01005,{x1},{y1},破损"],
    )
    svc.import_components(session, path)
    everything = svc.components_geojson(session)
    assert everything["type"] == "FeatureCollection" and len(everything["features"]) == 2
    box = (x0 - 1e-4, y0 - 1e-4, x0 + 1e-4, y0 + 1e-4)
    [f] = svc.components_geojson(session, box)["features"]
    assert f["properties"]["type_code"] == "01001" and f["geometry"]["type"] == "Point"
    assert f["properties"]["status_label"] == "完好"
    assert svc.components_geojson(session, type_code="01005")["features"][0]["id"].endswith(
        "01005000001"
    )
    assert len(svc.components_geojson(session, status="破损")["features"]) == 1
    limited = svc.components_geojson(session, limit=1)
    assert limited["truncated"] is True and len(limited["features"]) == 1
    # a GCJ-02 view of the point finds it and answers in GCJ-02
    gx, gy = transform(x0, y0, "wgs84", "gcj02")
    gbox = (gx - 1e-4, gy - 1e-4, gx + 1e-4, gy + 1e-4)
    [g] = svc.components_geojson(session, gbox, crs="gcj02")["features"]
    assert g["geometry"]["coordinates"] == pytest.approx([gx, gy], abs=1e-6)
    with pytest.raises(ValidationFailed):
        svc.components_geojson(session, limit=5001)
    with pytest.raises(ValidationFailed):
        svc.components_geojson(session, status="broken")


def test_bulk_import(session: Session, city: dict[str, Any], tmp_path: Path) -> None:
    """Ten thousand rows in one go (one spatial call, executemany); re-import is all unchanged."""
    codes = sorted(city)
    lines = ["type_code,lon,lat,external_id"]
    for n in range(10_000):
        x, y = city[codes[n % len(codes)]]
        lines.append(f"{('01001', '02001', '03005', '04002', '05002')[n % 5]},{x},{y},B-{n}")
    path = _csv(tmp_path, lines)
    assert svc.import_components(session, path).added == 10_000
    assert _count(session) == 10_000 and _count(session, ComponentStatusChange) == 10_000
    assert svc.import_components(session, path).unchanged == 10_000
