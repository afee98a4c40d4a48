"""Plot a city's districts, streets, communities and unit grids to a PNG (for docs and review).

Usage: CITYOPS_DATA_DIR=... .venv/bin/python scripts/plot_grids.py OUT.png [--zoom LON,LAT]
Reads the configured database (after `cityops city init`). Needs matplotlib (a dev dependency)
and a CJK font (Debian fonts-noto-cjk) for the labels.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import shapely
from matplotlib.axes import Axes
from sqlalchemy import select

from cityops.geo.crs import Crs, transform
from cityops.settings import get_settings
from cityops.store.db import make_engine, session_factory
from cityops.store.schema import Grid, Region

plt.rcParams["font.family"] = ["Noto Sans CJK SC", "DejaVu Sans"]


def _draw(ax: Axes, geom: shapely.Geometry, **style: object) -> None:
    for poly in shapely.get_parts(geom):
        for ring in [poly.exterior, *poly.interiors]:
            xs, ys = ring.xy
            ax.plot(xs, ys, **style)  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--zoom", default="114.3490,34.7930", help="GCJ-02 centre of the zoom")
    parser.add_argument("--zoom-km", type=float, default=1.6)
    args = parser.parse_args()

    engine = make_engine(get_settings().effective_database_url)
    with session_factory(engine)() as s:
        regions = list(s.scalars(select(Region).where(Region.level != "city")))
        lon, lat = (float(v) for v in args.zoom.split(","))
        c_lon, c_lat = transform(lon, lat, Crs.gcj02, Crs.wgs84)
        half_lat = args.zoom_km / 2 / 111.0
        half_lon = half_lat / 0.82
        zoom_box = shapely.box(
            c_lon - half_lon, c_lat - half_lat, c_lon + half_lon, c_lat + half_lat
        )
        grids = list(
            s.scalars(
                select(Grid).where(
                    Grid.max_lon >= zoom_box.bounds[0],
                    Grid.min_lon <= zoom_box.bounds[2],
                    Grid.max_lat >= zoom_box.bounds[1],
                    Grid.min_lat <= zoom_box.bounds[3],
                )
            )
        )
        n_grids = s.query(Grid).count()

    fig, (left, right) = plt.subplots(1, 2, figsize=(16, 8.6), dpi=110)
    colors = {
        "district": ("#1f3b73", 1.6),
        "street": ("#d1495b", 0.7),
        "community": ("#9aa5b1", 0.25),
    }
    for level in ("community", "street", "district"):
        color, width = colors[level]
        for r in regions:
            if r.level == level and r.geometry:
                _draw(left, shapely.from_wkb(r.geometry), color=color, linewidth=width)
    for r in regions:
        if r.level == "district" and r.geometry:
            p = shapely.from_wkb(r.geometry).representative_point()
            left.text(p.x, p.y, r.name, fontsize=13, ha="center", color="#1f3b73", weight="bold")
    _draw(left, zoom_box, color="black", linewidth=1.2, linestyle="--")
    n_streets = sum(r.level == "street" for r in regions)
    n_comm = sum(r.level == "community" for r in regions)
    left.set_title(
        f"开封市核心四区：区界（蓝）、模拟街道（红）{n_streets} 个、模拟社区（灰）{n_comm} 个；"
        f"单元网格 {n_grids:,} 个",
        fontsize=11,
    )
    left.set_aspect(1 / 0.82)
    left.set_xlabel("经度 longitude (WGS-84)")
    left.set_ylabel("纬度 latitude (WGS-84)")

    for g in grids:
        geom = shapely.from_wkb(g.geometry)
        _draw(right, geom, color="#5b7083", linewidth=0.5)
    for r in regions:
        if r.level in ("community", "street", "district") and r.geometry:
            color, width = colors[r.level]
            geom = shapely.from_wkb(r.geometry).intersection(zoom_box.buffer(0.002))
            if not geom.is_empty:
                _draw(
                    right,
                    geom,
                    color=color,
                    linewidth=width * 2.2 if r.level != "community" else 1.4,
                )
    for g in grids:
        geom = shapely.from_wkb(g.geometry)
        if zoom_box.contains(geom.centroid) and geom.area > 4e-7:
            p = geom.representative_point()
            right.text(p.x, p.y, g.code[-3:], fontsize=5.5, ha="center", va="center", color="#333")
    right.plot([c_lon], [c_lat], marker="*", markersize=16, color="#e07a00")
    right.text(c_lon, c_lat + half_lat * 0.06, "开封府", fontsize=11, ha="center", color="#e07a00")
    right.set_xlim(zoom_box.bounds[0], zoom_box.bounds[2])
    right.set_ylim(zoom_box.bounds[1], zoom_box.bounds[3])
    right.set_aspect(1 / 0.82)
    right.ticklabel_format(useOffset=False)
    right.set_title(
        f"放大 {args.zoom_km} km：100 m 单元网格，编码末三位自西向东、自北向南（社区边界灰色粗线）",
        fontsize=11,
    )
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
