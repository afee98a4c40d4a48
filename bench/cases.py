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
import json
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import httpx
import psycopg
from fastapi import Header, Request, Response
from sqlalchemy import Engine, func, select, text, update
from sqlalchemy.engine import make_url

from bench.harness import (
    CLIENTS,
    Call,
    Figure,
    Suite,
    free_port,
    load,
    percentile,
    serve,
    serve_cityops,
    uvicorn_options,
)
from cityops.api.v1.cases import CaseIn  # the bare baseline validates the intake's own body
from cityops.core.workflow import OPEN_STATES, State
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
OPEN = [s.value for s in State if s in OPEN_STATES]  # in the enum's order


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
    name = os.environ.get("CITYOPS_BENCH_PG_DB") or f"cityops_bench_{_label(n).lower()}"
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
    if have > n:  # the history and the reports earlier intake runs posted
        _forget_posts(engine, n)
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

SECRET = "bench-secret-key-that-is-long-enough-0123456789"


def _forget_posts(engine: Engine, n: int) -> None:
    """Remove the cases earlier intake runs posted (ids after the history's): every run starts
    from the same history, and posts do not pile up as open duplicate candidates of today."""
    with engine.begin() as conn:
        posted = conn.execute(text("SELECT count(*) FROM cases WHERE id > :n"), {"n": n}).scalar()
        if posted:
            t0 = time.perf_counter()
            conn.execute(text("DELETE FROM public_submission WHERE case_id > :n"), {"n": n})
            for table in ("outbox", "task", "case_stage", "case_log"):
                conn.execute(text(f"DELETE FROM {table} WHERE case_id > :n"), {"n": n})
            conn.execute(text("DELETE FROM cases WHERE id > :n"), {"n": n})
            print(f"  removed {posted:,} posted cases in {time.perf_counter() - t0:.1f} s")


def _open311_key(engine: Engine) -> str:
    """An Open311 API key allowing 1,000,000 POSTs a minute (plain text kept in the database
    directory's key file: a throw-away database)."""
    from cityops.services import open311
    from cityops.store.schema import ApiKey

    sessions = session_factory(engine)
    with transaction(sessions) as s:
        for row in s.scalars(select(ApiKey).where(ApiKey.name == "bench-intake")):
            row.revoked_at = END  # keys of earlier runs (only the hash is stored)
        row, key = open311.create_key(s, "bench-intake", rate_per_minute=10_000)
        s.execute(update(ApiKey).where(ApiKey.id == row.id).values(rate_per_minute=1_000_000))
    return key


def draw_places(engine: Engine, n: int, rng: random.Random) -> list[tuple[float, float, str]]:
    """Places and types of cases drawn at random from the history, moved by up to ~20 m: the
    city's own spread of places and problems (the duplicate probe sees realistic neighbours)."""
    from cityops.geo.index import OutsideCity
    from cityops.services.geography import spatial_index

    ids = rng.sample(range(1, n + 1), min(4000, n))
    with session_factory(engine)() as s:
        index = spatial_index(s)
        drawn = s.execute(
            select(Case.lon, Case.lat, Case.type_code).where(
                Case.id.in_(ids), Case.type_code.is_not(None), Case.lon.is_not(None)
            )
        ).all()
    places = []
    for lon, lat, code in drawn:
        p = (lon + rng.uniform(-2e-4, 2e-4), lat + rng.uniform(-2e-4, 2e-4))
        try:
            index.locate(*p)
        except OutsideCity:
            continue
        places.append((p[0], p[1], code))
    return places


def intake_calls(
    token: str, places: list[tuple[float, float, str]], run_id: int, count: int
) -> list[Call]:
    """``count`` different reports for POST /api/v1/cases, each with its own Idempotency-Key."""
    calls = []
    for i in range(count):
        lon, lat, code = places[i % len(places)]
        body = {
            "source": "patrol",
            "type_code": code,
            "description": f"基准测试：监督员上报 {run_id}-{i}，请尽快处理",
            "lon": round(lon, 7),
            "lat": round(lat, 7),
            "address": "基准测试地址",
        }
        headers = (("Authorization", f"Bearer {token}"), ("Idempotency-Key", f"bench-{run_id}-{i}"))
        calls.append(
            Call(
                "POST",
                "/api/v1/cases",
                json.dumps(body, ensure_ascii=False),
                "application/json",
                headers,
            )
        )
    return calls


def open311_calls(
    key: str, places: list[tuple[float, float, str]], run_id: int, count: int
) -> list[Call]:
    """``count`` different form-encoded Open311 reports (public source)."""
    calls = []
    for i in range(count):
        lon, lat, code = places[(i * 7 + 3) % len(places)]
        form = {
            "api_key": key,
            "service_code": code,
            "lat": f"{lat:.6f}",
            "long": f"{lon:.6f}",
            "description": f"基准测试上报 {run_id:05d}-{i}：井盖松动，请尽快处理",
            "email": "bench@example.com",
            "first_name": "测",
            "last_name": "试",
        }
        calls.append(Call("POST", "/open311/v2/requests.json", urlencode(form)))
    return calls


def _baseline_main(port: int, body_file: str) -> None:
    """The bare FastAPI app: the intake's own request model (``CaseIn``, the same validation)
    and Idempotency-Key header, an ``async`` handler answering the app's own response bytes;
    the Open311 POST parses the form. The floor of HTTP + framework + body validation."""
    import uvicorn
    from fastapi import FastAPI

    from cityops.api.server import uvicorn_options

    json_type = "application/json"
    answer = Path(body_file).read_bytes()
    app = FastAPI()

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/api/v1/cases", status_code=201)
    async def create(
        body: CaseIn,
        idempotency_key: Annotated[
            str | None, Header(alias="Idempotency-Key", max_length=100)
        ] = None,
    ) -> Response:
        return Response(answer, status_code=201, media_type=json_type)

    @app.post("/open311/v2/requests.json")
    async def post(request: Request) -> Response:
        form = await request.form()
        out = f'[{{"service_request_id":"{len(form)}","service_notice":"ok"}}]'
        return Response(out.encode(), media_type=json_type)

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", **uvicorn_options())


def _verify_sample(engine: Engine, n: int, k: int = 50) -> str:
    """Audit of ``k`` of the cases the run created: hash chain and log replay."""
    sessions = session_factory(engine)
    with sessions() as s:
        ids = list(s.scalars(select(Case.id).where(Case.id > n).order_by(func.random()).limit(k)))
        bad = sum(1 for i in ids if svc.verify_case(s, i))
        total = s.scalar(select(func.count()).select_from(Case).where(Case.id > n)) or 0
    return f"{total:,} cases created, audit of {len(ids)}: {bad} with problems"


def intake(
    url: str,
    n: int,
    suite: Suite,
    *,
    seconds: float = 10.0,
    warmup: float = 2.0,
    client: str = "raw",
) -> None:
    engine = make_engine(url)
    _forget_posts(engine, n)
    run_id = int(time.time()) % 1_000_000
    places = draw_places(engine, n, random.Random(run_id))
    key = _open311_key(engine)
    data_dir = Path(tempfile.mkdtemp(prefix="cityops-bench-intake-"))
    (data_dir / "open311.toml").write_text(
        "# bench: no per-address limit, no repeat rule (the figures are of the intake itself)\n"
        "ip_rate_per_minute = 0\nduplicate_window_minutes = 0\n",
        "utf-8",
    )
    env = {"CITYOPS_DATABASE_URL": url, "CITYOPS_DATA_DIR": str(data_dir)}
    env["CITYOPS_SECRET_KEY"] = SECRET
    count = 60_000  # more than 16 clients post in warm-up + measurement: every report is new
    pg = engine.dialect.name == "postgresql"
    target_rps = 800 if pg else 1000
    with serve_cityops(env) as app:
        token = httpx.post(
            f"{app.base}/api/v1/auth/token",
            data={"username": BENCH_USER, "password": BENCH_PASSWORD},
            timeout=30,
        ).json()["access_token"]
        cases_calls = intake_calls(token, places, run_id, count)
        o311_calls = open311_calls(key, places, run_id, count)
        # Warm: the spatial index (67k grids), calendars, rules, the token cache; the app's own
        # answer (one intake) is what the baseline sends back.
        warm = httpx.post(
            f"{app.base}/api/v1/cases",
            content=json.dumps({**json.loads(cases_calls[-1].body), "description": "warm"}),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            timeout=60,
        )
        warm.raise_for_status()
        r = httpx.post(
            f"{app.base}/open311/v2/requests.json",
            content=o311_calls[-1].body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            timeout=60,
        )
        r.raise_for_status()
        with tempfile.NamedTemporaryFile(suffix=".json") as answer:
            answer.write(warm.content)
            answer.flush()
            port = free_port()
            cmd = [sys.executable, "-m", "bench.cases", "baseline", str(port), answer.name]
            with serve(cmd, dict(os.environ), port) as bare:
                bare_cases = load(bare, cases_calls, seconds=seconds, warmup=warmup, client=client)
                print(f"  POST /api/v1/cases: baseline {bare_cases.summary()}", flush=True)
                bare_o311 = load(bare, o311_calls, seconds=seconds, warmup=warmup, client=client)
                print(f"  POST open311: baseline {bare_o311.summary()}", flush=True)
                bare_rss = bare.peak_rss_mib()
        got = load(app, cases_calls, seconds=seconds, warmup=warmup, client=client)
        got311 = load(app, o311_calls, seconds=seconds, warmup=warmup, client=client)
        # Reads on the same server before reading its peak memory: a department's queue.
        with httpx.Client(base_url=app.base, headers={"Authorization": f"Bearer {token}"}) as h:
            for _ in range(50):
                h.get("/api/v1/cases", params={"page_size": 50})
        rss = app.peak_rss_mib()
    audit = _verify_sample(engine, n)
    raw = raw_insert_loop(engine, 2000, per_row_commit=True)
    engine.dispose()
    shutil.rmtree(data_dir, ignore_errors=True)
    for name, a, b, target in (
        ("POST /api/v1/cases (JSON, staff token, Idempotency-Key)", got, bare_cases, target_rps),
        ("POST /open311/v2/requests.json (form, api_key)", got311, bare_o311, 800),
    ):
        error = f"; e.g. {a.sample_error[:160]}" if a.errors else ""
        p99_target = name.startswith("POST /api/v1/cases")
        suite.add(
            Figure(
                f"{name}, {CLIENTS} clients",
                a.rps,
                "req/s",
                f"bare FastAPI validating the same body: {b.summary()}",
                f"≥ {target:,} req/s" + (", p99 < 50 ms" if p99_target else ""),
                a.errors == 0 and a.rps >= target and (not p99_target or a.ms(99) < 50),
                f"p50 {a.ms(50):.1f} ms, p95 {a.ms(95):.1f} ms, p99 {a.ms(99):.1f} ms; "
                f"{len(a.latencies):,} requests, {a.errors} errors{error}",
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
            f"{audit}; raw one-row insert + commit loop on the same database: {raw:,.0f} rows/s",
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
        raw = raw_timed(engine, box_sql, params, 20)
        with engine.connect() as conn:
            found = len(conn.execute(text(box_sql), params).all())
        view = (params["a"], params["b"], params["c"], params["d"])
        zoom = 18  # cells of ~38 m: nearly every cluster is one case, drawn as its point
        try:
            from cityops.services import casemap

            pts = samples(
                lambda: casemap.clusters(s, leader, view, zoom, casemap.CaseFilter(), END), 20
            )
            cells, _cut = casemap.clusters(s, leader, view, zoom, casemap.CaseFilter(), END)
            how = (
                f"casemap.clusters at zoom {zoom} (the map's query): {len(cells)} cells, "
                f"{sum(c.count == 1 for c in cells)} of them single points; "
                f"{found} open cases in 5.5 × 5.5 km around 开封府"
            )
        except (ImportError, AttributeError):
            pts, how = raw, f"{found} points in 5.5 × 5.5 km around 开封府 (raw SQL)"
        suite.add(
            Figure(
                "map: open case points in a bbox (≤ 2,000)",
                ms(pts, 50),
                "ms",
                f"raw SQL, state IN (open states): {ms(raw, 50):.1f} ms",
                "< 50 ms",
                ms(pts, 50) < 50,
                how,
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


def run(
    backend: str,
    n: int,
    fresh: bool,
    *,
    only: str = "all",
    seconds: float = 10.0,
    warmup: float = 2.0,
    client: str = "raw",
) -> list[Suite]:
    load_avg = f"Load average at the start: {os.getloadavg()[0]:.1f} (the 2 cores may be shared)."
    suite = Suite(
        f"cases-{backend}-{_label(n)}",
        f"{backend}, {n:,} cases of history (bulk generator, Kaifeng's four districts, 100 m "
        "grids, ~3,000 cases a day ending 2026-11-25). Queries run in the benchmark process "
        f"through the services; intake figures are in section intake-{backend}-{_label(n)}. "
        + load_avg,
    )
    opts = uvicorn_options()
    stack = f"uvicorn, {opts.get('loop', 'asyncio')} + {opts.get('http', 'h11')}"
    intake_suite = Suite(
        f"intake-{backend}-{_label(n)}",
        f"Case intake on {backend} with {n:,} cases of history (the database of section "
        f"cases-{backend}-{_label(n)}). The app is one `cityops serve` process ({stack}, "
        "access log to /dev/null); the baseline is a bare FastAPI app in its own process on the "
        "same server stack whose async handlers validate the same body (the intake's own "
        "`CaseIn` model and Idempotency-Key header; the Open311 POST parses the form) and "
        "answer the app's own response bytes: the floor of HTTP + framework + validation. The "
        f"load is bench/harness.py's client, one separate process with {CLIENTS} keep-alive "
        + (
            "connections (asyncio, requests written to the sockets directly)"
            if client == "raw"
            else "connections (httpx.AsyncClient)"
        )
        + f", {warmup:.0f} s of warm-up then {seconds:.0f} s measured per figure; client and "
        "server share the machine's cores. Every request is a new report (its own "
        "Idempotency-Key) at the place and of the type of a random case of the history, moved "
        "by up to 20 m; /api/v1/cases as a supervisor (patrol, bearer token), Open311 as the "
        "public (api_key). " + load_avg,
    )
    print(f"== {suite.name}", flush=True)
    url = database_url(backend, n, fresh)
    engine = make_engine(url)
    prepare(engine, n, suite)
    out = []
    if only in ("all", "queries"):
        queries(engine, suite)
        out.append(suite)
    engine.dispose()
    if only in ("all", "intake"):
        print(f"== {intake_suite.name}", flush=True)
        intake(url, n, intake_suite, seconds=seconds, warmup=warmup, client=client)
        out.append(intake_suite)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", nargs="?", default="run", choices=["run", "baseline"])
    parser.add_argument("args", nargs="*", help=argparse.SUPPRESS)
    parser.add_argument("--cases", type=int, action="append", help="history size; repeat")
    parser.add_argument("--backend", action="append", choices=["sqlite", "postgresql"])
    parser.add_argument("--fresh", action="store_true", help="rebuild the databases")
    parser.add_argument(
        "--only",
        choices=["all", "queries", "intake"],
        default="all",
        help="queries (section cases-…) or intake over HTTP (section intake-…); default both",
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="measured per HTTP figure")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up per HTTP figure")
    parser.add_argument("--client", choices=["raw", "httpx"], default="raw", help="load client")
    parser.add_argument("--no-write", action="store_true", help="leave docs/benchmarks.md alone")
    args = parser.parse_args(argv)
    if args.mode == "baseline":
        _baseline_main(int(args.args[0]), args.args[1])
        return
    for n in args.cases or [1_000_000]:
        for backend in args.backend or ["sqlite", "postgresql"]:
            for suite in run(
                backend,
                n,
                args.fresh,
                only=args.only,
                seconds=args.seconds,
                warmup=args.warmup,
                client=args.client,
            ):
                if not args.no_write:
                    suite.write()
                print(
                    json.dumps(
                        {f.name: round(f.value, 3) for f in suite.figures}, ensure_ascii=False
                    )
                )


if __name__ == "__main__":
    main()
