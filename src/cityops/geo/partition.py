"""A plausible synthetic partition of a district into streets and of a street into communities.

Real street (街道) and community (社区) boundaries are not public. When a city does not supply its
own, we cut each area into cells of about the requested size: seeds spread over the area, a few
rounds of Lloyd relaxation (seed → centroid of its Voronoi cell) so that sizes even out, then the
Voronoi cells clipped to the area. Deterministic for a seed. Everything made here is marked
synthetic in storage and shown as 模拟 in names, so nobody mistakes it for real boundaries.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import MultiPoint
from shapely.geometry.base import BaseGeometry

LLOYD_ROUNDS = 6


@dataclass(frozen=True)
class Part:
    geometry: BaseGeometry  # metric (projected) coordinates, like the input
    centroid: tuple[float, float]


def _polygonal(geom: BaseGeometry) -> BaseGeometry:
    """Keep only the areal parts of an intersection (drops stray lines and points)."""
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    polys = [g for g in shapely.get_parts(geom) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(polys) if polys else shapely.Polygon()


def _random_points_in(area: BaseGeometry, n: int, rng: np.random.Generator) -> np.ndarray:
    min_x, min_y, max_x, max_y = area.bounds
    shapely.prepare(area)
    out: list[np.ndarray] = []
    have = 0
    while have < n:
        batch = max(64, 4 * (n - have))
        xs = rng.uniform(min_x, max_x, batch)
        ys = rng.uniform(min_y, max_y, batch)
        inside = shapely.contains_xy(area, xs, ys)
        pts = np.column_stack([xs[inside], ys[inside]])
        out.append(pts)
        have += len(pts)
    return np.concatenate(out)[:n]


def _voronoi_cells(area: BaseGeometry, seeds: np.ndarray) -> list[BaseGeometry]:
    """One clipped cell per seed, in seed order."""
    if len(seeds) == 1:
        return [area]
    cells = shapely.get_parts(
        shapely.voronoi_polygons(MultiPoint(seeds), extend_to=area.envelope.buffer(1.0))
    )
    # voronoi_polygons does not keep input order: match cells back to seeds by containment.
    tree = shapely.STRtree(cells)
    seed_idx, cell_idx = tree.query(shapely.points(seeds), predicate="within")
    ordered = np.empty(len(seeds), dtype=object)
    ordered[seed_idx] = cells[cell_idx]
    clipped = shapely.intersection(ordered, area)
    return [_polygonal(g) for g in clipped]


def partition(area: BaseGeometry, target_m2: float, *, seed: int, min_parts: int = 1) -> list[Part]:
    """Cut a metric polygon into about ``area / target_m2`` parts of similar size.

    Parts are returned north→south, then west→east by centroid, the order codes are given in.
    """
    n = max(min_parts, round(area.area / target_m2))
    if n <= 1:
        c = area.centroid
        return [Part(area, (c.x, c.y))]
    rng = np.random.default_rng(seed)
    seeds = _random_points_in(area, n, rng)
    cells = _voronoi_cells(area, seeds)
    for _ in range(LLOYD_ROUNDS):
        cents = shapely.centroid(np.asarray(cells, dtype=object))
        xy = shapely.get_coordinates(cents)
        # A centroid can fall outside a concave cell (and the area): keep the old seed there.
        ok = shapely.contains_xy(area, xy[:, 0], xy[:, 1])
        seeds = np.where(ok[:, None], xy, seeds)
        cells = _voronoi_cells(area, seeds)
    parts = [Part(g, (g.centroid.x, g.centroid.y)) for g in cells if not g.is_empty and g.area > 0]
    band = float(np.sqrt(target_m2))  # rows about one part high, then west→east within a row
    parts.sort(key=lambda p: (-round(p.centroid[1] / band), p.centroid[0]))
    return parts
