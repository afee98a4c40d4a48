"""Geography benchmark: `city init` of Kaifeng's four core districts, point → grid lookups.

Run: `.venv/bin/python -m bench.geo` (or `make bench`). Builds the city on a throw-away SQLite
database, then measures on the index the server uses. Baselines in the same run: the bare
GCJ-02 → WGS-84 conversion of the same points (the floor for a lookup that takes phone
positions), and a plain Shapely point-in-polygon over the same points against one district
polygon (what any lookup costs at least per point).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import shapely
from sqlalchemy import func, select

from bench.harness import Figure, Suite, percentile
from cityops.geo.crs import Crs, transform
from cityops.services.catalog import ensure_standard_catalog
from cityops.services.geography import init_city, spatial_index
from cityops.store.db import make_engine, session_factory, transaction
from cityops.store.migrate import upgrade
from cityops.store.schema import Grid, Region

CITY = "410200"
DISTRICTS = ["410202", "410203", "410204", "410205"]
N_BULK = 1_000_000
N_SINGLE = 20_000


def run() -> Suite:
    suite = Suite(
        "geography",
        "Kaifeng's four core districts (龙亭、顺河、鼓楼、禹王台), synthetic streets and communities, "
        "100 m unit grids; SQLite database. Points uniform over the districts' bounding box "
        "(about a third fall outside the city and must be recognised as outside).",
    )
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        upgrade(engine)
        sessions = session_factory(engine)
        with transaction(sessions) as s:
            ensure_standard_catalog(s)
        t0 = time.perf_counter()
        with transaction(sessions) as s:
            report = init_city(s, CITY, districts=DISTRICTS)
        init_s = time.perf_counter() - t0
        suite.add(
            Figure(
                "city init (4 districts, grids, commit)",
                init_s,
                "s",
                f"{report.streets} streets, {report.communities} communities, "
                f"{report.grids:,} grids",
                "< 60 s",
                init_s < 60,
            )
        )
        with sessions() as s:
            t0 = time.perf_counter()
            index = spatial_index(s)
            load_s = time.perf_counter() - t0
            bounds = s.execute(
                select(
                    func.min(Grid.min_lon),
                    func.min(Grid.min_lat),
                    func.max(Grid.max_lon),
                    func.max(Grid.max_lat),
                )
            ).one()
            district = shapely.union_all(
                shapely.from_wkb(
                    list(s.scalars(select(Region.geometry).where(Region.level == "district")))
                )
            )
        suite.add(Figure("index load from database", load_s, "s", f"{len(index):,} grids"))

        rng = np.random.default_rng(7)
        lon = rng.uniform(bounds[0], bounds[2], N_BULK)
        lat = rng.uniform(bounds[1], bounds[3], N_BULK)
        g_lon, g_lat = transform(lon, lat, Crs.wgs84, Crs.gcj02)

        t0 = time.perf_counter()
        transform(g_lon, g_lat, Crs.gcj02, Crs.wgs84)
        conv_s = time.perf_counter() - t0

        shapely.prepare(district)
        t0 = time.perf_counter()
        shapely.contains_xy(district, lon, lat)
        pip_s = time.perf_counter() - t0

        t0 = time.perf_counter()
        found = index.lookup_many(lon, lat)
        bulk_s = time.perf_counter() - t0
        inside = int((found >= 0).sum())
        suite.add(
            Figure(
                "bulk point → grid (WGS-84)",
                N_BULK / bulk_s,
                "points/s",
                f"prepared point-in-polygon on the 4-district union: {N_BULK / pip_s:,.0f} points/s",
                "≥ 500,000 points/s",
                N_BULK / bulk_s >= 500_000,
                f"{N_BULK:,} points, {inside:,} inside",
            )
        )
        t0 = time.perf_counter()
        index.lookup_many(g_lon, g_lat, Crs.gcj02)
        bulk_gcj_s = time.perf_counter() - t0
        suite.add(
            Figure(
                "bulk point → grid (GCJ-02 in)",
                N_BULK / bulk_gcj_s,
                "points/s",
                f"GCJ-02 → WGS-84 alone: {N_BULK / conv_s:,.0f} points/s",
                "≥ 500,000 points/s",
                N_BULK / bulk_gcj_s >= 500_000,
            )
        )

        inside_idx = np.flatnonzero(found >= 0)[:N_SINGLE]
        samples = []
        for i in inside_idx:
            t = time.perf_counter()
            index.locate(float(lon[i]), float(lat[i]))
            samples.append(time.perf_counter() - t)
        base = []
        for i in inside_idx[:5000]:
            t = time.perf_counter()
            shapely.Point(float(lon[i]), float(lat[i]))
            base.append(time.perf_counter() - t)
        p50 = percentile(samples, 50) * 1e6
        p99 = percentile(samples, 99) * 1e6
        suite.add(
            Figure(
                "single lookup p50",
                p50,
                "µs",
                f"creating the Point alone: {percentile(base, 50) * 1e6:.2f} µs",
                "< 20 µs",
                p50 < 20,
                f"p99 {p99:.1f} µs over {len(samples):,} lookups",
            )
        )
        engine.dispose()
    return suite


if __name__ == "__main__":
    result = run()
    result.write()
    print(f"written to {Path('docs/benchmarks.md')}")
