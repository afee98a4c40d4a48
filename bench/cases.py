"""Case benchmarks on SQLite and PostgreSQL at a given history size (default 1M cases).

Run: `.venv/bin/cityops bench [--cases 1000000] [--backend sqlite --backend postgresql]`, or
`python -m bench.cases`, or `make bench`. For each backend and size it builds Kaifeng's four
core districts (100 m grids, components, staff) in a throw-away database, writes the history
with the bulk generator (`cityops simulate --bulk`), then measures:

- bulk generation (cases/s) — baseline: a raw insert loop of bare case rows;
- case intake through HTTP, 16 clients (req/s, p50/p99) against `cityops serve` in its own
  process — baselines: a bare FastAPI POST on the same server stack and client, and a raw
  one-row-per-transaction insert loop on the database; the server's peak RSS;
- a department's queue (open cases by deadline, page of 50) — baseline: the same query in raw SQL;
- search by number (exact, and as the search box does it: text match) and by text;
- map: open cases by grid for a district, and points in a bbox (≤ 2,000);
- the dashboard KPI set of a month; the overdue sweep over all open stages; the monthly
  evaluation (services.evaluation, when present).

Figures go to docs/benchmarks.md (one section per backend and size) with the machine and date.
Databases: SQLite files under $CITYOPS_BENCH_DIR (default /tmp/cityops-bench), PostgreSQL
databases `cityops_bench_<size>` on $CITYOPS_BENCH_PG (default the local server, user postgres);
an existing database with the right number of cases is reused (--fresh rebuilds it).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import psycopg
from sqlalchemy import Engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from bench.harness import Figure, Suite, percentile
from cityops.services import cases as svc
from cityops.services.users import add_user, get_user
from cityops.sim.bulk import BulkConfig, generate
from cityops.sim.city import CitySpec, setup_city
from cityops.store.db import make_engine, session_factory, transaction
from cityops.store.migrate import upgrade
from cityops.store.schema import Case, Region, User

TZ = ZoneInfo("Asia/Shanghai")
END = datetime(2026, 11, 25, 12, 0, tzinfo=TZ)
BENCH_USER, BENCH_PASSWORD = "bench.jd", "Bench-Patrol-2026"
PG_ADMIN = os.environ.get(
    "CITYOPS_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
BENCH_DIR = Path(os.environ.get("CITYOPS_BENCH_DIR", "/tmp/cityops-bench"))
CLIENTS = 16
REQUESTS_PER_CLIENT = 60
OPEN = [
    "reported",
    "pending_dispatch",
    "dispatched",
    "handling",
    "handled",
    "verifying",
    "suspended",
]


def _label(n: int) -> str:
    return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n // 1000}k"


# --- databases -----------------------------------------------------------------------------------


def _pg_conninfo(url: str) -> str:
    u = make_url(url)
    return f"host={u.host} port={u.port or 5432} user={u.username} dbname={u.database}"


def database_url(backend: str, n: int, fresh: bool) -> str:
    if backend == "sqlite":
        BENCH_DIR.mkdir(parents=True, exist_ok=True)
        path = BENCH_DIR / f"cases-{_label(n)}.db"
        if fresh:
            for p in BENCH_DIR.glob(f"cases-{_label(n)}.db*"):
                p.unlink()
        return f"sqlite:///{path}"
    name = f"cityops_bench_{_label(n).lower()}"
    with psycopg.connect(_pg_conninfo(PG_ADMIN), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists and fresh:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = None
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    return make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)


def prepare(engine: Engine, n: int, suite: Suite) -> None:
    """City, staff and ``n`` cases of history (reused when already there)."""
    upgrade(engine)
    sessions = session_factory(engine)
    with sessions() as s:
        have = s.scalar(select(func.count()).select_from(Case)) or 0
    if have == n:
        print(f"  reusing {have:,} cases", flush=True)
        return
    if have:
        raise SystemExit(f"database holds {have:,} cases, not {n:,}: rerun with --fresh")
    t0 = time.perf_counter()
    with transaction(sessions) as s:
        setup_city(s, CitySpec())
        add_user(s, BENCH_USER, BENCH_PASSWORD, ["supervisor"], org_code="KF-CENTRE")
    print(f"  city ready in {time.perf_counter() - t0:.1f} s", flush=True)
    result = generate(
        engine,
        BulkConfig(cases=n, end=END, seed=1, per_day=3000, batch=50_000, defer_indexes=True),
        progress=lambda line: print(f"  {line}", flush=True),
    )
    base = raw_insert_loop(engine, 20_000, per_row_commit=False)
    suite.add(
        Figure(
            "bulk generation",
            result.cases_per_s,
            "cases/s",
            f"raw executemany of bare case rows: {base:,.0f} rows/s",
            "≥ 50,000 cases/s",
            result.cases_per_s >= 50_000,
            f"{result.cases:,} cases, {result.logs:,} log rows, {result.stages:,} stage "
            f"clocks, {result.tasks:,} tasks in {result.seconds:.0f} s",
        )
    )


# --- baselines ---------------------------------------------------------------------------------


def raw_insert_loop(engine: Engine, rows: int, *, per_row_commit: bool) -> float:
    """Rows/s of a plain INSERT of a minimal case-like row, in a scratch table."""
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("DROP TABLE IF EXISTS bench_raw")
        cur.execute(
            "CREATE TABLE bench_raw (id INTEGER PRIMARY KEY, number VARCHAR(32), "
            "state VARCHAR(20), lon FLOAT, lat FLOAT, reported_at VARCHAR(40))"
        )
        raw.commit()
        pg = engine.dialect.name == "postgresql"
        mark = "%s" if pg else "?"
        sql = f"INSERT INTO bench_raw VALUES ({', '.join([mark] * 6)})"
        data = [(i, f"410204-20261125-{i:06d}", "reported", 114.3, 34.8, "x") for i in range(rows)]
        t0 = time.perf_counter()
        if per_row_commit:
            for row in data:
                cur.execute(sql, row)
                raw.commit()
        else:
            cur.executemany(sql, data)
            raw.commit()
        took = time.perf_counter() - t0
        cur.execute("DROP TABLE bench_raw")
        raw.commit()
        return rows / took
    finally:
        raw.close()


# --- HTTP intake ---------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


BARE_APP = """
from fastapi import FastAPI
from pydantic import BaseModel
import uvicorn, sys

class In(BaseModel):
    source: str
    type_code: str
    description: str
    lon: float
    lat: float

app = FastAPI()

@app.post("/api/v1/cases", status_code=201)
def create(body: In) -> dict[str, object]:
    return {"case": {"id": 1, "number": "x", "state": "reported"}}

@app.get("/healthz")
def health() -> dict[str, str]:
    return {"status": "ok"}

uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


@contextlib.contextmanager
def server(url: str | None) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`cityops serve` on ``url`` (or the bare FastAPI app) in its own process."""
    port = _free_port()
    env = {**os.environ, "CITYOPS_DATABASE_URL": url or "", "CITYOPS_PORT": str(port)}
    tmp = tempfile.mkdtemp(prefix="cityops-bench-")
    env["CITYOPS_DATA_DIR"] = tmp
    env["CITYOPS_SECRET_KEY"] = "bench-secret-key-that-is-long-enough-0123456789"
    if url:
        cmd = [sys.executable, "-m", "cityops.cli", "serve", "--port", str(port)]
    else:
        cmd = [sys.executable, "-c", BARE_APP, str(port)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                err = proc.stderr.read().decode() if proc.stderr else ""
                raise RuntimeError(f"server did not start: {err[-2000:]}")
            time.sleep(0.2)
        yield base, proc
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


def peak_rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def load(
    base: str, headers: dict[str, str], make_body: Callable[[int, int], dict[str, Any]]
) -> tuple[float, list[float], int]:
    """``CLIENTS`` threads posting ``REQUESTS_PER_CLIENT`` cases each: (req/s, latencies, errors)."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(CLIENTS)

    def client(k: int) -> None:
        mine: list[float] = []
        bad: list[str] = []
        with httpx.Client(base_url=base, headers=headers, timeout=60) as http:
            barrier.wait()
            for i in range(REQUESTS_PER_CLIENT):
                t = time.perf_counter()
                r = http.post("/api/v1/cases", json=make_body(k, i))
                mine.append(time.perf_counter() - t)
                if r.status_code not in (200, 201):
                    bad.append(f"{r.status_code} {r.text[:200]}")
        with lock:
            latencies.extend(mine)
            errors.extend(bad)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    took = time.perf_counter() - t0
    for e in sorted(set(errors))[:5]:
        print(f"  error: {e}", flush=True)
    return len(latencies) / took, latencies, len(errors)


def intake(url: str, suite: Suite, points: list[tuple[float, float]]) -> None:
    def body(k: int, i: int) -> dict[str, Any]:
        lon, lat = points[(k * REQUESTS_PER_CLIENT + i) % len(points)]
        return {
            "source": "patrol",
            "type_code": "06036",
            "description": f"基准测试：乱堆杂物 {k}-{i}",
            "lon": lon,
            "lat": lat,
        }

    with server(None) as (base, bare_proc):
        bare_rps, bare_lat, _ = load(base, {}, body)
        bare_rss = peak_rss_mib(bare_proc.pid)
    with server(url) as (base, proc):
        token = httpx.post(
            f"{base}/api/v1/auth/token",
            data={"username": BENCH_USER, "password": BENCH_PASSWORD},
            timeout=30,
        ).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        # Warm: the first intake loads the spatial index (67k grids) and the caches. Cold, 16
        # concurrent first requests each build their own index (services/geography.py
        # spatial_index has no lock around the build) and the peak RSS triples.
        httpx.post(f"{base}/api/v1/cases", json=body(99, 0), headers=auth, timeout=60)
        rps, lat, errors = load(base, auth, body)
        # Reads on the same server before reading its peak memory: a department's queue.
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as http:
            for _ in range(50):
                http.get("/api/v1/cases", params={"page_size": 50})
        rss = peak_rss_mib(proc.pid)
    engine = make_engine(url)
    raw = raw_insert_loop(engine, 2000, per_row_commit=True)
    engine.dispose()
    suite.add(
        Figure(
            f"intake over HTTP, {CLIENTS} clients",
            rps,
            "req/s",
            f"bare FastAPI POST: {bare_rps:,.0f} req/s (p50 {percentile(bare_lat, 50) * 1e3:.1f} "
            f"ms); raw insert + commit loop: {raw:,.0f} rows/s",
            "",
            None,
            f"p50 {percentile(lat, 50) * 1e3:.0f} ms, p99 {percentile(lat, 99) * 1e3:.0f} ms, "
            f"{len(lat)} requests, {errors} errors",
        )
    )
    suite.add(
        Figure(
            "server peak RSS (after intake and queue reads)",
            rss,
            "MiB",
            f"bare FastAPI server: {bare_rss:.0f} MiB",
            "< 400 MB",
            rss < 400 / 1.048576,
        )
    )


# --- queries -----------------------------------------------------------------------------------


def samples(fn: Callable[[], object], n: int) -> list[float]:
    fn()
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def ms(xs: list[float], p: float) -> float:
    return percentile(xs, p) * 1e3


def raw_timed(engine: Engine, sql: str, params: dict[str, Any], n: int) -> list[float]:
    with engine.connect() as conn:
        stmt = text(sql)
        return samples(lambda: conn.execute(stmt, params).all(), n)


def queries(engine: Engine, suite: Suite) -> None:
    sessions = session_factory(engine)
    pg = engine.dialect.name == "postgresql"
    with sessions() as s:
        dept, open_n = s.execute(
            select(Case.department, func.count())
            .where(Case.state.in_(["dispatched", "handling"]))
            .group_by(Case.department)
            .order_by(func.count().desc())
            .limit(1)
        ).one()
        dept_user = s.scalar(
            select(User)
            .join(User.roles)
            .where(User.username.like("sim.%.bm"), User.username.like(f"sim.{dept.lower()}%"))
        )
        leader = get_user(s, "sim.ld01")
        assert dept_user is not None
        number = s.scalar(select(Case.number).order_by(Case.id.desc()).offset(1000).limit(1))
        district = s.get(Region, "410204")
        assert district is not None and number is not None

        q = svc.CaseQuery(mine=True, sort="due_at", page_size=50)
        lat = samples(lambda: svc.list_cases(s, dept_user, q, now=END), 50)
        base = raw_timed(
            engine,
            "SELECT id FROM cases WHERE department = :d AND state IN ('dispatched', 'handling') "
            "ORDER BY due_at, id LIMIT 50",
            {"d": dept},
            50,
        )
        suite.add(
            Figure(
                "department queue, page of 50 (p95)",
                ms(lat, 95),
                "ms",
                f"same query in raw SQL: p95 {ms(base, 95):.2f} ms",
                "< 30 ms",
                ms(lat, 95) < 30,
                f"{dept}: {open_n:,} open cases; p50 {ms(lat, 50):.1f} ms (list_cases, with total)",
            )
        )
        exact = samples(lambda: svc.get_case(s, number), 50)
        boxed = samples(lambda: svc.list_cases(s, leader, svc.CaseQuery(text=number), now=END), 5)
        suite.add(
            Figure(
                "search by number (exact)",
                ms(exact, 50),
                "ms",
                f"search box (text match on number, description, address): p50 "
                f"{ms(boxed, 50):,.0f} ms",
                "",
                None,
                "get_case by number (unique index)",
            )
        )
        words = samples(
            lambda: svc.list_cases(s, leader, svc.CaseQuery(text="乱堆杂物"), now=END), 3
        )
        suite.add(
            Figure(
                "search by text (p50)",
                ms(words, 50),
                "ms",
                "",
                "",
                None,
                "list_cases text=乱堆杂物: LIKE '%…%' over number, description, address",
            )
        )
        grid_sql = (
            "SELECT grid_code, count(*) FROM cases WHERE state IN ('"
            + "','".join(OPEN)
            + "') AND grid_code LIKE '410204%' GROUP BY grid_code"
        )
        bbox = (district.min_lon, district.min_lat, district.max_lon, district.max_lat)
        try:
            from cityops.services import casemap

            agg = samples(
                lambda: casemap.open_by_grid(s, leader, bbox, casemap.CaseFilter(), END), 10
            )
            how = "casemap.open_by_grid over the district's bbox"
        except (ImportError, AttributeError):
            agg = raw_timed(engine, grid_sql, {}, 10)
            how = "SQL GROUP BY grid_code (no map service yet)"
        base = raw_timed(engine, grid_sql, {}, 10)
        suite.add(
            Figure(
                "map: open cases by grid, one district",
                ms(agg, 50),
                "ms",
                f"raw GROUP BY grid_code LIKE '410204%': {ms(base, 50):.1f} ms",
                "< 100 ms",
                ms(agg, 50) < 100,
                how,
            )
        )
        cx, cy = 114.3430, 34.7950  # 开封府, WGS-84
        box_sql = (
            "SELECT id, lon, lat, state FROM cases WHERE lon BETWEEN :a AND :c "
            "AND lat BETWEEN :b AND :d AND state IN ('" + "','".join(OPEN) + "') LIMIT 2000"
        )
        params = {"a": cx - 0.03, "b": cy - 0.025, "c": cx + 0.03, "d": cy + 0.025}
        pts = raw_timed(engine, box_sql, params, 20)
        with engine.connect() as conn:
            found = len(conn.execute(text(box_sql), params).all())
        all_sql = box_sql.replace(
            "AND state IN ('" + "','".join(OPEN) + "') ", ""
        )  # every case, open or not: the index-only floor
        floor = raw_timed(engine, all_sql, params, 20)
        suite.add(
            Figure(
                "map: open case points in a bbox (≤ 2,000)",
                ms(pts, 50),
                "ms",
                f"same bbox, any state: {ms(floor, 50):.1f} ms",
                "< 50 ms",
                ms(pts, 50) < 50,
                f"{found} points in 5.5 × 5.5 km around 开封府",
            )
        )
        try:
            from cityops.services import dashboard

            period = dashboard.period_of("2026-10", END, TZ)
            k = samples(lambda: dashboard.kpis(s, leader, period, END), 3)
            suite.add(
                Figure(
                    "dashboard KPIs of a month",
                    ms(k, 50),
                    "ms",
                    "",
                    "< 300 ms",
                    ms(k, 50) < 300,
                    f"dashboard.kpis 2026-10 ({len(dashboard.METRICS)} metrics)",
                )
            )
        except (ImportError, AttributeError) as exc:
            print(f"  dashboard KPIs skipped: {exc}")
        open_stages = "SELECT count(*) FROM case_stage WHERE ended_at IS NULL"
        base = raw_timed(engine, open_stages, {}, 5)
        if hasattr(svc, "sweep_overdue"):

            def sweep() -> None:
                with sessions() as s2:
                    svc.sweep_overdue(s2, now=END)
                    s2.rollback()  # the same work every run

            sw = samples(sweep, 3)
            suite.add(
                Figure(
                    "overdue sweep over all open stages",
                    ms(sw, 50),
                    "ms",
                    f"count of open stages alone: {ms(base, 50):.1f} ms",
                    "< 1,000 ms",
                    ms(sw, 50) < 1000,
                    "cases.sweep_overdue (rolled back after each run)",
                )
            )
        try:
            from cityops.services import evaluation

            ev = samples(lambda: evaluation.evaluate(s, "2026-10", now=END, live=True), 1)
            suite.add(
                Figure(
                    "monthly evaluation (all subjects)",
                    ms(ev, 50) / 1000,
                    "s",
                    "",
                    "",
                    None,
                    "evaluation.evaluate 2026-10, live",
                )
            )
        except (ImportError, AttributeError, TypeError) as exc:
            print(f"  evaluation skipped: {exc}")
        if pg:
            s.rollback()


def intake_points(engine: Engine) -> list[tuple[float, float]]:
    with Session(engine) as s:
        return [
            (float(x), float(y))
            for x, y in s.execute(
                select(Case.lon, Case.lat).where(Case.grid_code.like("410204%")).limit(2000)
            )
        ]


def run(backend: str, n: int, fresh: bool) -> Suite:
    suite = Suite(
        f"cases-{backend}-{_label(n)}",
        f"{backend}, {n:,} cases of history (bulk generator, Kaifeng's four districts, 100 m "
        "grids, ~3,000 cases a day ending 2026-11-25). Queries run in the benchmark process "
        "through the services; intake through `cityops serve` in its own process. "
        f"Load average at the start: {os.getloadavg()[0]:.1f} (the 2 cores may be shared).",
    )
    print(f"== {suite.name}", flush=True)
    url = database_url(backend, n, fresh)
    engine = make_engine(url)
    prepare(engine, n, suite)
    queries(engine, suite)
    intake(url, suite, intake_points(engine))
    engine.dispose()
    return suite


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, action="append", help="history size; repeat")
    parser.add_argument("--backend", action="append", choices=["sqlite", "postgresql"])
    parser.add_argument("--fresh", action="store_true", help="rebuild the databases")
    args = parser.parse_args(argv)
    for n in args.cases or [1_000_000]:
        for backend in args.backend or ["sqlite", "postgresql"]:
            suite = run(backend, n, args.fresh)
            suite.write()
            print(
                json.dumps({f.name: round(f.value, 3) for f in suite.figures}, ensure_ascii=False)
            )


if __name__ == "__main__":
    main()
