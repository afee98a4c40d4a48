"""Open311 benchmark at scale: the four GeoReport v2 endpoints of issue 7 over a large history.

Run: `.venv/bin/python -m bench.open311` (default 1,000,000 cases of history), or
`--cases 100000` for a quicker development run; `--seconds` sets each measurement's length,
`--fresh` rebuilds the database, `--no-write` leaves docs/benchmarks.md alone.

What it does:

- **History.** Kaifeng's four core districts (100 m grids, staff, standards and rules) and N
  cases written by the bulk generator (`cityops simulate --bulk`, sim/bulk.py: 3,000 cases a day,
  a quarter of them from the public; every case of a public matter type is what Open311 lists),
  on SQLite under $CITYOPS_BENCH_DIR (default /tmp/cityops-bench). The database, its data
  directory (an ``open311.toml`` with the per-address limit off and the repeat rule off) and an
  API key of 1,000,000 POSTs a minute are kept and reused by later runs (``ready.json`` marks a
  finished build; a killed build is started again).
- **Servers.** The app is `cityops serve` (uvicorn, one process, as shipped: uvloop + httptools
  when installed, see api/server.py; access log on to /dev/null). The baseline is a bare FastAPI app in its own uvicorn process with the
  same settings, answering the same four paths from ``async`` handlers that do no work: the
  GETs with the app's own bodies captured before measuring (same bytes on the wire), the POST
  by parsing the form and answering a one-element array. It is the floor of HTTP + framework.
- **Load.** bench/harness.py's load client: a separate process (its own interpreter, so it does
  not share the server's GIL) keeps 16 HTTP/1.1 keep-alive connections busy from asyncio for a
  fixed time after a warm-up, and reports requests/s and p50/p95/p99 latency. By default the
  requests are written to the sockets directly (a few tens of µs of client CPU per request:
  client and server share the machine's two cores, and a heavier client takes CPU from the
  server under test); `--client httpx` drives the same plan through `httpx.AsyncClient`.
- **Requests.** `GET requests.json` for a 30-day window of the history (start_date/end_date, the
  default page of 500, the window's end moving by whole hours so successive requests do not ask
  for the same page); `GET requests/{id}.json` for case numbers drawn at random from the whole
  history; `GET services.json`; `POST requests.json` form-encoded as the specification says,
  each a different report at the place and of the type of a random case of the history (each
  becomes a case).
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
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import httpx

from bench.harness import (
    CLIENTS,
    Call,
    Figure,
    Load,
    Server,
    Suite,
    free_port,
    load,
    serve,
    serve_cityops,
    uvicorn_options,
)

TZ = ZoneInfo("Asia/Shanghai")
ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = Path(os.environ.get("CITYOPS_BENCH_DIR", "/tmp/cityops-bench"))
PREFIX = "/open311/v2"
WINDOW_DAYS = 30
SECRET = "bench-secret-key-that-is-long-enough-0311-0311"


def _label(n: int) -> str:
    if n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)


# --- the database -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bench:
    url: str
    data_dir: Path
    key: str  # the bench's API key (plain text: a throw-away database)
    end: datetime  # the last instant of the generated history
    cases: int


def prepare(n: int, fresh: bool) -> Bench:
    """The database with ``n`` cases of history and its data directory (reused when built)."""
    from sqlalchemy import func, select, update

    from cityops.services import open311
    from cityops.sim.bulk import BulkConfig, generate
    from cityops.sim.city import CitySpec, setup_city
    from cityops.store.db import make_engine, session_factory, transaction
    from cityops.store.migrate import upgrade
    from cityops.store.schema import ApiKey, Case

    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    db = BENCH_DIR / f"open311-{_label(n)}.db"
    data_dir = BENCH_DIR / f"open311-{_label(n)}-data"
    ready = data_dir / "ready.json"
    url = f"sqlite:///{db}"
    if ready.exists() and not fresh:
        info = json.loads(ready.read_text("utf-8"))
        print(f"  reusing {db} ({info['cases']:,} cases of history)", flush=True)
        _forget_posts(url, info["cases"])
        _schema_indexes(url)
        return Bench(url, data_dir, info["key"], datetime.fromisoformat(info["end"]), n)
    for p in BENCH_DIR.glob(f"{db.name}*"):
        p.unlink()
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    end = datetime.now(TZ).replace(second=0, microsecond=0)
    engine = make_engine(url)
    upgrade(engine)
    sessions = session_factory(engine)
    t0 = time.perf_counter()
    with transaction(sessions) as s:
        setup_city(s, CitySpec())
        row, key = open311.create_key(s, "bench", rate_per_minute=10_000)
        # create_key allows at most 10,000 a minute; the bench posts faster than that
        s.execute(update(ApiKey).where(ApiKey.id == row.id).values(rate_per_minute=1_000_000))
    print(f"  city ready in {time.perf_counter() - t0:.1f} s", flush=True)
    result = generate(
        engine,
        BulkConfig(cases=n, end=end, seed=1, per_day=3000, batch=50_000, defer_indexes=True),
        progress=lambda line: print(f"  {line}", flush=True),
    )
    with sessions() as s:
        have = s.scalar(select(func.count()).select_from(Case)) or 0
    engine.dispose()
    print(f"  {have:,} cases in {result.seconds:.0f} s", flush=True)
    (data_dir / "open311.toml").write_text(
        "# bench: no per-address limit, no repeat rule (the figures are of the intake itself)\n"
        "ip_rate_per_minute = 0\nduplicate_window_minutes = 0\n",
        "utf-8",
    )
    _schema_indexes(url)
    ready.write_text(
        json.dumps({"cases": n, "end": end.isoformat(), "key": key, "url": url}), "utf-8"
    )
    return Bench(url, data_dir, key, end, n)


def _forget_posts(url: str, n: int) -> None:
    """Remove the cases earlier runs posted (ids after the history's): every run starts from
    the same history, and reports do not pile up as open duplicate candidates of today."""
    from sqlalchemy import text

    from cityops.store.db import make_engine

    engine = make_engine(url)  # foreign keys on: logs, stage clocks, tasks, events go along
    with engine.begin() as conn:
        posted = conn.execute(text("SELECT count(*) FROM cases WHERE id > :n"), {"n": n}).scalar()
        if posted:
            t0 = time.perf_counter()
            conn.execute(text("DELETE FROM public_submission WHERE case_id > :n"), {"n": n})
            conn.execute(text("DELETE FROM cases WHERE id > :n"), {"n": n})
            print(f"  removed {posted:,} posted cases in {time.perf_counter() - t0:.1f} s")
    engine.dispose()


def _schema_indexes(url: str) -> None:
    """The indexes schema.py declares on ``cases`` that the database lacks (one whose migration
    is not written yet), built as the bulk generator builds its deferred indexes: the bench
    measures the schema of the source tree."""
    from sqlalchemy import inspect

    from cityops.store.db import make_engine
    from cityops.store.schema import Base

    engine = make_engine(url)
    have = {ix["name"] for ix in inspect(engine).get_indexes("cases")}
    with engine.begin() as conn:
        for index in Base.metadata.tables["cases"].indexes:
            if index.name not in have:
                t0 = time.perf_counter()
                index.create(conn)
                print(f"  built {index.name} in {time.perf_counter() - t0:.1f} s", flush=True)
    engine.dispose()


# --- the servers ----------------------------------------------------------------------------------


def _app_env(bench: Bench) -> dict[str, str]:
    return {
        "CITYOPS_DATABASE_URL": bench.url,
        "CITYOPS_DATA_DIR": str(bench.data_dir),
        "CITYOPS_SECRET_KEY": SECRET,
    }


def serve_app(bench: Bench) -> Any:
    """`cityops serve` (the console script's module) on a free port."""
    return serve_cityops(_app_env(bench))


def serve_baseline(bodies: Path) -> Any:
    port = free_port()
    cmd = [sys.executable, "-m", "bench.open311", "baseline", str(port), str(bodies)]
    return serve(cmd, {**os.environ}, port)


def _stack() -> str:
    opts = uvicorn_options()
    return f"{opts.get('loop', 'asyncio')} + {opts.get('http', 'h11')}"


def _baseline_main(port: int, bodies_dir: str) -> None:
    """The bare FastAPI app: the same paths, no work, ``async`` handlers (no thread hand-off):
    the floor of HTTP and framework on this machine for bodies of the same size."""
    import uvicorn
    from fastapi import FastAPI, Request, Response

    json_type = "application/json; charset=utf-8"
    bodies = {p.stem: p.read_bytes() for p in Path(bodies_dir).glob("*.json")}
    app = FastAPI()

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(f"{PREFIX}/services.json")
    async def services() -> Response:
        return Response(bodies["services"], media_type=json_type)

    @app.get(f"{PREFIX}/requests/{{service_request_id}}.json")
    async def one(service_request_id: str) -> Response:
        return Response(bodies["request"], media_type=json_type)

    @app.get(f"{PREFIX}/requests.json")
    async def many(start_date: str = "", end_date: str = "") -> Response:
        return Response(bodies["requests"], media_type=json_type)

    @app.post(f"{PREFIX}/requests.json")
    async def post(request: Request) -> Response:
        form = await request.form()
        body = f'[{{"service_request_id":"{len(form)}","service_notice":"ok"}}]'
        return Response(body.encode(), media_type=json_type)

    # the server stack `cityops serve` uses (event loop, HTTP parser)
    uvicorn.run(app, host="127.0.0.1", port=port, **uvicorn_options())


# --- the requests ------------------------------------------------------------------------------------


def _w3(at: datetime) -> str:
    return at.isoformat(timespec="seconds")


def list_calls(bench: Bench) -> list[Call]:
    """30-day windows of the history, ending on each of its last 240 hours (newest first)."""
    calls = []
    for h in range(240):
        end = bench.end - timedelta(hours=h)
        q = urlencode({"start_date": _w3(end - timedelta(days=WINDOW_DAYS)), "end_date": _w3(end)})
        calls.append(Call("GET", f"{PREFIX}/requests.json?{q}"))
    return calls


def cold_list_calls(bench: Bench, n: int = 2000) -> list[Call]:
    """30-day windows whose pages nobody asked for before: ending every 4 hours (a page of 500
    is about 4 hours of reports) from 250 hours before the end of the history back: each
    request renders its 500 requests afresh (the render cache cannot help). A short history
    has fewer such pages, and they repeat (the figure's note says how many)."""
    span_hours = bench.cases / 3000 * 24  # the bulk history: 3,000 cases a day
    calls = []
    for k in range(max(1, min(n, int((span_hours - 250 - 48) / 4)))):
        end = bench.end - timedelta(hours=250 + 4 * k)
        q = urlencode({"start_date": _w3(end - timedelta(days=WINDOW_DAYS)), "end_date": _w3(end)})
        calls.append(Call("GET", f"{PREFIX}/requests.json?{q}"))
    return calls


def one_calls(bench: Bench, n: int = 5000) -> list[Call]:
    """Case numbers drawn at random from the whole history."""
    from sqlalchemy import select

    from cityops.store.db import make_engine
    from cityops.store.schema import Case

    engine = make_engine(bench.url)
    rng = random.Random(7)
    ids = rng.sample(range(1, bench.cases + 1), min(n, bench.cases))
    numbers: list[str] = []
    with engine.connect() as conn:
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            numbers += conn.scalars(select(Case.number).where(Case.id.in_(chunk))).all()
    engine.dispose()
    rng.shuffle(numbers)
    return [Call("GET", f"{PREFIX}/requests/{number}.json") for number in numbers]


def post_calls(bench: Bench, n: int = 60_000) -> list[Call]:
    """Different reports at the places and of the types of cases drawn from the history
    (``bench.cases.draw_places``); a new seed every run, so repeated runs do not pile reports
    onto the same spots."""
    from bench.cases import draw_places, open311_calls
    from cityops.store.db import make_engine

    engine = make_engine(bench.url)
    run = int(time.time())
    places = draw_places(engine, bench.cases, random.Random(run))
    engine.dispose()
    return open311_calls(bench.key, places, run % 100_000, n)


# --- the run --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    name: str
    calls: list[Call]
    target_rps: float | None  # None: measured for information
    target_p99_ms: float | None = None
    baseline: str = ""  # the key of the endpoint whose baseline applies (default: its own)

    @property
    def target(self) -> str:
        if self.target_rps is None:
            return ""
        t = f"≥ {self.target_rps:,.0f} req/s"
        return t + (f", p99 < {self.target_p99_ms:.0f} ms" if self.target_p99_ms else "")

    def met(self, r: Load) -> bool | None:
        if self.target_rps is None:
            return None
        return (
            r.errors == 0
            and r.rps >= self.target_rps
            and (self.target_p99_ms is None or r.ms(99) < self.target_p99_ms)
        )


def _capture(app: Server, endpoints: dict[str, Endpoint], into: Path) -> dict[str, int]:
    """The app's own bodies for the baseline to answer (one of each GET), and their sizes."""
    sizes = {}
    with httpx.Client(base_url=app.base, timeout=120) as http:
        for key, name in (("services", "services"), ("request", "one"), ("requests", "list")):
            call = endpoints[name].calls[0]
            r = http.get(call.path)
            r.raise_for_status()
            (into / f"{key}.json").write_bytes(r.content)
            sizes[name] = len(r.content)
    return sizes


def run(
    n: int, *, fresh: bool = False, seconds: float = 10.0, warmup: float = 2.0, client: str = "raw"
) -> Suite:
    bench = prepare(n, fresh)
    endpoints = {
        "list": Endpoint(
            f"GET requests.json, {WINDOW_DAYS}-day window", list_calls(bench), 200, 150
        ),
        "cold": Endpoint(
            f"GET requests.json, {WINDOW_DAYS}-day window, pages never asked for before",
            cold_list_calls(bench),
            None,
            baseline="list",
        ),
        "one": Endpoint("GET requests/{id}.json", one_calls(bench), 2000),
        "services": Endpoint("GET services.json", [Call("GET", f"{PREFIX}/services.json")], 2500),
        "post": Endpoint("POST requests.json", post_calls(bench), 800),
    }
    suite = Suite(
        f"open311-sqlite-{_label(n)}",
        f"Open311 GeoReport v2 on SQLite with {n:,} cases of history (bulk generator: Kaifeng's "
        "four districts, 100 m grids, 3,000 cases a day, a quarter reported by the public; every "
        "case of a public matter type is listed by Open311). The app is one `cityops serve` "
        f"process (uvicorn, {_stack()}, access log to /dev/null); the baseline is a bare "
        "FastAPI app in its own uvicorn process answering the same paths from async handlers "
        "with the app's own bodies (the POST parses the form): the floor of HTTP + framework. "
        "The load is one separate process with "
        f"{CLIENTS} concurrent keep-alive connections "
        + (
            "(asyncio, requests written to the sockets directly)"
            if client == "raw"
            else "(httpx.AsyncClient)"
        )
        + f", {warmup:.0f} s of warm-up then {seconds:.0f} s measured per figure. The machine "
        f"has {os.cpu_count()} cores and the client and the server share them (load average "
        "when measuring began: LOAD). Requests: `requests.json` asks for a "
        f"{WINDOW_DAYS}-day window (start_date/end_date, default page of 500) ending on one of "
        "the history's last 240 hours; `requests/{id}` a case number drawn from the whole "
        "history; POST a different form-encoded report each time, at the place and of the type "
        "of a random case of the history (each a new case). Targets from issue 7.",
    )
    suite.description = suite.description.replace("LOAD", f"{os.getloadavg()[0]:.1f}")
    print(f"== {suite.name}", flush=True)
    with serve_app(bench) as app:
        with httpx.Client(base_url=app.base + PREFIX, timeout=120) as http:
            # warm: the spatial index (67k grids), calendars, caches, the database pages
            for call in (endpoints["post"].calls[-1], endpoints["list"].calls[0]):
                r = (
                    http.post(
                        call.path[len(PREFIX) :],
                        content=call.body,
                        headers={"Content-Type": "application/x-www-form-urlencoded"},
                    )
                    if call.method == "POST"
                    else http.get(call.path[len(PREFIX) :])
                )
                r.raise_for_status()
        with tempfile.TemporaryDirectory() as tmp:
            sizes = _capture(app, endpoints, Path(tmp))
            with serve_baseline(Path(tmp)) as bare:
                baselines: dict[str, Load] = {}
                for key in ("services", "one", "list", "cold", "post"):
                    ep = endpoints[key]
                    b = baselines.get(ep.baseline or key)
                    if b is None:
                        b = load(bare, ep.calls, seconds=seconds, warmup=warmup, client=client)
                        baselines[key] = b
                        print(f"  {ep.name}: baseline {b.summary()}", flush=True)
                    a = load(app, ep.calls, seconds=seconds, warmup=warmup, client=client)
                    size = f"; {sizes[key]:,} bytes a response" if key in sizes else ""
                    if key == "list":
                        size += "; render cache warm after the warm-up"
                    if key == "cold":
                        size += f"; {len(ep.calls):,} different pages, no target"
                    error = f"; e.g. {a.sample_error[:200]}" if a.errors else ""
                    figure = suite.add(
                        Figure(
                            ep.name,
                            a.rps,
                            "req/s",
                            f"bare FastAPI: {b.summary()}",
                            ep.target,
                            ep.met(a),
                            f"p50 {a.ms(50):.1f} ms, p95 {a.ms(95):.1f} ms, p99 "
                            f"{a.ms(99):.1f} ms; {len(a.latencies):,} requests, {a.errors} "
                            f"errors{size}{error}",
                        )
                    )
                    verdict = {True: "met", False: "MISSED", None: "-"}[figure.met]
                    print(f"    {verdict} ({figure.target or 'no target'}): {figure.note}")
                bare_rss = bare.peak_rss_mib()
        rss = app.peak_rss_mib()
    suite.add(
        Figure("server peak RSS", rss, "MiB", f"bare FastAPI: {bare_rss:.0f} MiB", "", None, "")
    )
    return suite


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", nargs="?", default="run", choices=["run", "prepare", "baseline"])
    parser.add_argument("args", nargs="*")
    parser.add_argument("--cases", type=int, default=1_000_000, help="history size")
    parser.add_argument("--fresh", action="store_true", help="rebuild the database")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured per figure")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up per figure")
    parser.add_argument("--client", choices=["raw", "httpx"], default="raw")
    parser.add_argument("--no-write", action="store_true", help="leave docs/benchmarks.md alone")
    ns = parser.parse_args()
    if ns.mode == "prepare":
        prepare(ns.cases, ns.fresh)
    elif ns.mode == "baseline":
        _baseline_main(int(ns.args[0]), ns.args[1])
    else:
        suite = run(
            ns.cases, fresh=ns.fresh, seconds=ns.seconds, warmup=ns.warmup, client=ns.client
        )
        if not ns.no_write:
            suite.write()


if __name__ == "__main__":
    main()
