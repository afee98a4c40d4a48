"""Unit grids (万米单元网格): square cells clipped to community boundaries, coded and ordered.

Cells come from one lattice per city, laid in its Gauss–Krüger metric frame and aligned to
multiples of the cell size, so neighbouring communities' cells line up. A cell cut by a community
border becomes one grid on each side; a leftover sliver smaller than ``min_fraction`` of a cell is
merged into the neighbour in the same community that shares the longest edge with it, because a
grid of a few square metres is useless to a supervisor. Codes: community (12) + sequence (3),
sequence in west→east, north→south order (rows from the north, west to east within a row).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from cityops.core.errors import ValidationFailed

MAX_PER_COMMUNITY = 999


@dataclass(frozen=True)
class GridCell:
    code: str
    geometry: BaseGeometry  # metric frame
    row: int  # lattice row, counted from the north
    col: int  # lattice column, counted from the west


def _cells_for(community: BaseGeometry, size: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lattice cells meeting the community: (pieces, rows, cols); rows grow southward."""
    min_x, min_y, max_x, max_y = community.bounds
    c0, c1 = int(np.floor(min_x / size)), int(np.ceil(max_x / size))
    r0, r1 = int(np.floor(min_y / size)), int(np.ceil(max_y / size))
    col_grid, row_grid = np.meshgrid(np.arange(c0, c1), np.arange(r0, r1))
    cols, rows_up = col_grid.ravel(), row_grid.ravel()
    boxes = shapely.box(cols * size, rows_up * size, (cols + 1) * size, (rows_up + 1) * size)
    shapely.prepare(community)
    inside = shapely.contains_properly(community, boxes)
    meets = shapely.intersects(community, boxes)
    pieces = boxes.copy()
    cut = meets & ~inside
    pieces[cut] = shapely.intersection(boxes[cut], community)
    keep = meets & (shapely.area(pieces) > 0)
    return pieces[keep], -rows_up[keep], cols[keep]


def _areal(geom: BaseGeometry) -> BaseGeometry:
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [g for g in shapely.get_parts(geom) if g.geom_type == "Polygon"]
    return shapely.multipolygons(parts) if len(parts) > 1 else parts[0]


def _merge_slivers(
    pieces: np.ndarray, rows: np.ndarray, cols: np.ndarray, min_area: float
) -> tuple[list[BaseGeometry], list[int], list[int]]:
    geoms = [_areal(g) for g in pieces]
    areas = [g.area for g in geoms]
    alive = [True] * len(geoms)
    at = {(int(r), int(c)): i for i, (r, c) in enumerate(zip(rows, cols, strict=True))}
    for i in sorted(range(len(geoms)), key=lambda k: areas[k]):
        if areas[i] >= min_area:
            break
        r, c = int(rows[i]), int(cols[i])
        best, best_len = -1, 0.0
        for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):
            j = at.get((r + dr, c + dc), -1)
            if j < 0 or not alive[j] or areas[j] < min_area:
                continue
            shared = shapely.intersection(geoms[i].boundary, geoms[j].boundary).length
            if shared > best_len:
                best, best_len = j, shared
        if best >= 0:
            geoms[best] = _areal(shapely.union(geoms[best], geoms[i]))
            areas[best] = geoms[best].area
            alive[i] = False
    keep = [k for k in range(len(geoms)) if alive[k]]
    return [geoms[k] for k in keep], [int(rows[k]) for k in keep], [int(cols[k]) for k in keep]


def grid_community(
    community_code: str,
    community: BaseGeometry,
    *,
    size: float = 100.0,
    min_fraction: float = 0.2,
) -> list[GridCell]:
    """The unit grids of one community (metric geometry in, metric geometry out)."""
    pieces, rows, cols = _cells_for(community, size)
    geoms, rws, cls = _merge_slivers(pieces, rows, cols, min_fraction * size * size)
    order = sorted(range(len(geoms)), key=lambda k: (rws[k], cls[k]))
    if len(order) > MAX_PER_COMMUNITY:
        raise ValidationFailed(
            f"社区 {community_code} 需要 {len(order)} 个网格，超过编码上限 999；请加大网格尺寸",
            en=f"community {community_code} needs {len(order)} grids, over the 999 the code "
            "allows; use a larger grid size",
            code="too_many_grids",
        )
    return [
        GridCell(f"{community_code}{n:03d}", geoms[k], rws[k], cls[k])
        for n, k in enumerate(order, start=1)
    ]
