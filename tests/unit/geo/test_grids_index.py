"""Grid generation, synthetic partition and the spatial index, on hand-made metric shapes."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from shapely.geometry import Point, Polygon, box

from cityops.core.errors import ValidationFailed
from cityops.geo.crs import Crs, MetricFrame, transform
from cityops.geo.grids import grid_community
from cityops.geo.index import OUTSIDE, OutsideCity, SpatialIndex
from cityops.geo.partition import partition

COMMUNITY = "410204001002"


def test_aligned_square_gives_full_cells_coded_west_to_east_north_to_south() -> None:
    # 1 km × 1 km on lattice lines: exactly 10 × 10 full cells.
    cells = grid_community(COMMUNITY, box(0, 0, 1000, 1000), size=100)
    assert len(cells) == 100
    assert all(len(c.code) == 15 and c.code.startswith(COMMUNITY) for c in cells)
    assert [c.code[-3:] for c in cells[:3]] == ["001", "002", "003"]
    assert cells[-1].code.endswith("100")
    assert all(c.geometry.area == pytest.approx(10_000) for c in cells)
    # 001 is the north-west corner, 002 east of it, 011 the first cell of the second row.
    assert cells[0].geometry.bounds == (0, 900, 100, 1000)
    assert cells[1].geometry.bounds == (100, 900, 200, 1000)
    assert cells[10].geometry.bounds == (0, 800, 100, 900)
    assert cells[-1].geometry.bounds == (900, 0, 1000, 100)


def test_order_is_row_major_from_north_for_any_shape() -> None:
    shape = Point(5_000, 5_000).buffer(420)  # a disc: clipped cells on every side
    cells = grid_community(COMMUNITY, shape, size=100)
    keys = [(c.row, c.col) for c in cells]
    assert keys == sorted(keys)
    ys = [c.geometry.centroid.y for c in cells]
    rows = [c.row for c in cells]
    for a, b in zip(range(len(cells)), range(1, len(cells)), strict=False):
        if rows[a] < rows[b]:
            assert ys[a] > ys[b]  # a later row lies further south
    # Grids tile the community exactly: no gap, no overlap.
    union = shapely.union_all([c.geometry for c in cells])
    assert union.symmetric_difference(shape).area < 1e-6
    assert sum(c.geometry.area for c in cells) == pytest.approx(shape.area)


def test_slivers_merge_into_their_neighbour() -> None:
    # 1010 m wide: the eastern 10 m strip (1,000 m² per cell, < 20 % of a cell) joins the column
    # west of it, so there are still 100 grids and the last column covers 110 m × 100 m.
    cells = grid_community(COMMUNITY, box(0, 0, 1010, 1000), size=100, min_fraction=0.2)
    assert len(cells) == 100
    east = [c for c in cells if c.geometry.bounds[2] == 1010]
    assert len(east) == 10
    assert all(c.geometry.area == pytest.approx(11_000) for c in east)
    assert all(c.geometry.geom_type == "Polygon" for c in east)
    # With min_fraction 0 the strip stays as its own grids.
    assert len(grid_community(COMMUNITY, box(0, 0, 1010, 1000), size=100, min_fraction=0)) == 110


def test_grid_size_is_configurable() -> None:
    assert len(grid_community(COMMUNITY, box(0, 0, 1000, 1000), size=250)) == 16


def test_more_than_999_grids_is_an_error() -> None:
    with pytest.raises(ValidationFailed) as err:
        grid_community(COMMUNITY, box(0, 0, 4000, 3000), size=100)
    assert err.value.code == "too_many_grids"
    assert "1200" in err.value.message


def test_partition_covers_the_area_once_with_sizes_near_target() -> None:
    area = Polygon([(0, 0), (9000, 0), (9000, 4000), (4000, 7000), (0, 6000)])
    parts = partition(area, 5e6, seed=3)
    assert len(parts) == round(area.area / 5e6)
    assert sum(p.geometry.area for p in parts) == pytest.approx(area.area)
    assert shapely.union_all([p.geometry for p in parts]).symmetric_difference(area).area < 1
    sizes = np.array([p.geometry.area for p in parts])
    # Lloyd relaxation evens sizes out: none below a third or above three times the target.
    assert sizes.min() > 5e6 / 3 and sizes.max() < 5e6 * 3
    # Deterministic for a seed, different for another.
    again = partition(area, 5e6, seed=3)
    assert [p.geometry.wkb for p in again] == [p.geometry.wkb for p in parts]
    other = partition(area, 5e6, seed=4)
    assert [p.geometry.wkb for p in other] != [p.geometry.wkb for p in parts]


def test_partition_of_a_small_area_is_the_area_itself() -> None:
    area = box(0, 0, 500, 500)
    parts = partition(area, 5e6, seed=1)
    assert len(parts) == 1 and parts[0].geometry.equals(area)


# --- spatial index ------------------------------------------------------------------------------

FRAME = MetricFrame(114.35)


def _kaifeng_squares() -> tuple[list[str], list[Polygon]]:
    """Two 100 m grids side by side near Kaifeng, in WGS-84, sharing their east/west edge."""
    x0, y0 = FRAME.points_to_metric([114.35], [34.79])
    x, y = float(x0[0]) // 100 * 100, float(y0[0]) // 100 * 100
    west = FRAME.to_wgs84(box(x, y, x + 100, y + 100))
    east = FRAME.to_wgs84(box(x + 100, y, x + 200, y + 100))
    return ["410204001001002", "410204001001001"], [east, west]  # not in code order on purpose


def test_locate_resolves_all_levels_from_the_grid_code() -> None:
    codes, geoms = _kaifeng_squares()
    index = SpatialIndex(codes, geoms)
    c = geoms[0].centroid
    loc = index.locate(c.x, c.y)
    assert loc.grid == "410204001001002"
    assert (loc.community, loc.street, loc.district) == ("410204001001", "410204001", "410204")


def test_a_point_on_a_shared_border_resolves_to_the_smaller_code() -> None:
    codes, geoms = _kaifeng_squares()
    index = SpatialIndex(codes, geoms)
    shared = geoms[0].intersection(geoms[1])
    assert shared.length > 0
    p = shared.interpolate(0.5, normalized=True)
    assert index.locate(p.x, p.y).grid == "410204001001001"
    assert index.grid_codes([p.x], [p.y]) == ["410204001001001"]
    # Whatever order the grids were given in.
    assert SpatialIndex(codes[::-1], geoms[::-1]).locate(p.x, p.y).grid == "410204001001001"


def test_outside_is_an_error_in_single_lookup_and_a_marker_in_bulk() -> None:
    codes, geoms = _kaifeng_squares()
    index = SpatialIndex(codes, geoms)
    with pytest.raises(OutsideCity) as err:
        index.locate(116.397, 39.909)  # Beijing
    assert err.value.code == "outside_city" and err.value.status == 422
    assert index.lookup_many([116.397], [39.909])[0] == OUTSIDE
    assert index.grid_codes([116.397], [39.909]) == [None]


def test_bulk_agrees_with_single_lookups_and_accepts_gcj02() -> None:
    codes, geoms = _kaifeng_squares()
    index = SpatialIndex(codes, geoms)
    min_x, min_y, max_x, max_y = shapely.union_all(geoms).bounds
    rng = np.random.default_rng(0)
    lon = rng.uniform(min_x - 0.001, max_x + 0.001, 500)
    lat = rng.uniform(min_y - 0.001, max_y + 0.001, 500)
    bulk = index.grid_codes(lon, lat)
    for x, y, code in zip(lon, lat, bulk, strict=True):
        if code is None:
            with pytest.raises(OutsideCity):
                index.locate(float(x), float(y))
        else:
            assert index.locate(float(x), float(y)).grid == code
    assert {c for c in bulk if c} == set(codes)
    g_lon, g_lat = transform(lon, lat, Crs.wgs84, Crs.gcj02)
    assert index.grid_codes(g_lon, g_lat, "gcj02") == bulk
