"""Building a city into storage (both databases): counts, codes, hierarchy, files, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import shapely
from shapely.geometry import box, mapping
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from cityops.core.errors import CityopsError, NotFound, ValidationFailed
from cityops.geo.boundaries import load_city
from cityops.services.geography import (
    GridSettings,
    export_grids,
    import_grids,
    init_city,
    locate,
)
from cityops.store.db import transaction
from cityops.store.schema import Grid, Region, ResponsibilityGrid, ResponsibilityGridMember

GULOU = "410204"
COARSE = GridSettings(grid_size_m=250)


def _count(session: Session, model: type, *where: object) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where)) or 0  # type: ignore[arg-type]


def test_init_builds_the_tree_with_codes_and_the_done_when_point(
    sessions: sessionmaker[Session],
) -> None:
    with transaction(sessions) as s:
        report = init_city(s, "410200", districts=[GULOU])
    (d,) = report.districts
    assert (d.code, d.name, d.synthetic) == (GULOU, "鼓楼区", True)
    # 鼓楼区 is about 58.6 km²: ~12 streets of 5 km², ~117 communities of 0.5 km², ~6,000+ grids.
    assert 10 <= d.streets <= 14 and 100 <= d.communities <= 135 and 5_900 <= d.grids <= 7_500

    with sessions() as s:
        assert _count(s, Region, Region.level == "street") == d.streets
        assert _count(s, Region, Region.level == "community") == d.communities
        assert _count(s, Grid) == d.grids
        assert _count(s, ResponsibilityGrid) == d.communities
        assert _count(s, ResponsibilityGridMember) == d.grids
        streets = list(s.scalars(select(Region).where(Region.level == "street")))
        assert all(
            r.synthetic and r.parent_code == GULOU and len(r.code) == 9 and "模拟" in r.name
            for r in streets
        )
        communities = list(s.scalars(select(Region).where(Region.level == "community")))
        assert all(len(c.code) == 12 and c.parent_code == c.code[:9] for c in communities)
        codes = list(s.scalars(select(Grid.code).order_by(Grid.code)))
        assert all(len(c) == 15 and c.startswith(GULOU) and c[-3:] != "000" for c in codes)
        grids_of_first = [c for c in codes if c.startswith(communities[0].code)]
        assert grids_of_first[0].endswith("001")
        assert int(grids_of_first[-1][-3:]) == len(grids_of_first)  # consecutive sequence
        # The grids tile the district: their areas (m², measured in the metric frame) sum to it.
        district = s.get(Region, GULOU)
        assert district is not None and district.area_m2 is not None
        total = s.scalar(select(func.sum(Grid.area_m2)))
        assert total == pytest.approx(district.area_m2, rel=2e-3)

        found = locate(s, 114.3490, 34.7930, "gcj02")  # near 开封府, in GCJ-02
        assert found.location.district == GULOU and found.names["district"] == "鼓楼区"
        assert found.location.grid.startswith(GULOU) and len(found.location.grid) == 15
        assert found.names["community"] and found.names["street"]


def test_reinit_is_deterministic_and_replaces(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        init_city(s, "410200", districts=[GULOU], settings=COARSE)
    with sessions() as s:
        first = list(s.scalars(select(Grid.code).order_by(Grid.code)))
        wkb = s.scalar(select(Grid.geometry).where(Grid.code == first[0]))
    with transaction(sessions) as s:
        init_city(s, "410200", districts=[GULOU], settings=COARSE)
    with sessions() as s:
        assert list(s.scalars(select(Grid.code).order_by(Grid.code))) == first
        assert s.scalar(select(Grid.geometry).where(Grid.code == first[0])) == wkb


def _write(path: Path, features: list[dict[str, object]]) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), "utf-8")
    return path


def test_real_streets_are_used_and_communities_generated_inside_them(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    gulou = next(d for d in load_city("410200").districts if d.adcode == GULOU)
    min_x, min_y, max_x, max_y = gulou.geometry.bounds
    mid = (min_x + max_x) / 2
    west = gulou.geometry.intersection(box(min_x, min_y, mid, max_y))
    east = gulou.geometry.intersection(box(mid, min_y, max_x, max_y))
    streets = _write(
        tmp_path / "streets.geojson",
        [
            {
                "type": "Feature",
                "properties": {"code": "410204001", "name": "相国寺街道"},
                "geometry": mapping(west),
            },
            {
                "type": "Feature",
                "properties": {"code": "410204002", "name": "新华街道"},
                "geometry": mapping(east),
            },
        ],
    )
    with transaction(sessions) as s:
        report = init_city(s, "410200", districts=[GULOU], streets_file=streets, settings=COARSE)
    assert report.streets == 2 and not report.districts[0].synthetic
    with sessions() as s:
        rows = {r.code: r for r in s.scalars(select(Region).where(Region.level == "street"))}
        assert rows["410204001"].name == "相国寺街道" and not rows["410204001"].synthetic
        comm = list(s.scalars(select(Region).where(Region.level == "community")))
        assert comm and all(c.synthetic and c.parent_code in rows for c in comm)


def test_bad_input_writes_nothing(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    with pytest.raises(NotFound) as err, transaction(sessions) as s:
        init_city(s, "410200", districts=["410299"])
    assert err.value.code == "unknown_district" and "410204" in err.value.message

    bad = _write(
        tmp_path / "streets.geojson",
        [
            {
                "type": "Feature",
                "properties": {"code": "410204001"},
                "geometry": mapping(box(114.30, 34.75, 114.31, 34.76)),
            },
            {
                "type": "Feature",
                "properties": {"code": "410299001"},  # not in a chosen district
                "geometry": mapping(box(114.31, 34.75, 114.32, 34.76)),
            },
            {
                "type": "Feature",
                "properties": {"name": "无编码"},
                "geometry": mapping(box(114.32, 34.75, 114.33, 34.76)),
            },
        ],
    )
    with pytest.raises(ValidationFailed) as verr, transaction(sessions) as s:
        init_city(s, "410200", districts=[GULOU], streets_file=bad)
    assert verr.value.code == "bad_boundaries"
    assert [d["row"] for d in verr.value.details] == [3]  # type: ignore[index, union-attr]
    with sessions() as s:
        assert _count(s, Region) == 0 and _count(s, Grid) == 0

    with pytest.raises(CityopsError) as cerr, sessions() as s:
        locate(s, 114.349, 34.793, "gcj02")
    assert cerr.value.code == "no_grids"


def test_outside_point_is_an_error(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        init_city(s, "410200", districts=[GULOU], settings=COARSE)
    with pytest.raises(CityopsError) as err, sessions() as s:
        locate(s, 114.45, 34.90, "wgs84")  # 龙亭区 north, not on the platform
    assert err.value.code == "outside_city"


def test_grids_export_import_round_trip_and_bad_file(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    with transaction(sessions) as s:
        init_city(s, "410200", districts=[GULOU], settings=COARSE)
        community = s.scalar(select(Region.code).where(Region.level == "community").limit(1))
        assert community is not None
    out = tmp_path / "grids.geojson"
    with sessions() as s:
        n = export_grids(s, out, community)
    doc = json.loads(out.read_text("utf-8"))
    assert n == len(doc["features"]) > 0
    # Merge the community's grids into two halves and import them back.
    geoms = [shapely.geometry.shape(f["geometry"]) for f in doc["features"]]
    whole = shapely.union_all(geoms)
    cx = whole.centroid.x
    a, b = whole.bounds[0], whole.bounds[2]
    halves = [
        whole.intersection(box(a - 1, -90, cx, 90)),
        whole.intersection(box(cx, -90, b + 1, 90)),
    ]
    new = _write(
        tmp_path / "new.geojson",
        [
            {
                "type": "Feature",
                "properties": {"code": f"{community}{i:03d}"},
                "geometry": mapping(h),
            }
            for i, h in enumerate(halves, start=1)
        ],
    )
    with transaction(sessions) as s:
        assert import_grids(s, new) == 2
    with sessions() as s:
        assert _count(s, Grid, Grid.community_code == community) == 2

    wrong = _write(
        tmp_path / "wrong.geojson",
        [
            {
                "type": "Feature",
                "properties": {"code": "410204999999001"},
                "geometry": mapping(halves[0]),
            },
            {"type": "Feature", "properties": {"code": "4102"}, "geometry": mapping(halves[1])},
        ],
    )
    with pytest.raises(ValidationFailed) as err, transaction(sessions) as s:
        import_grids(s, wrong)
    assert err.value.code == "import_rejected"
    assert {d["row"] for d in err.value.details} == {1, 2}  # type: ignore[union-attr, index]
    with sessions() as s:
        assert _count(s, Grid, Grid.community_code == community) == 2
