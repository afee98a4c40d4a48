"""Open311 benchmark: POST requests.json throughput and GET requests.json latency on SQLite.

Run: `.venv/bin/python -m bench.open311` (optionally `--cases N`, default 5,000 seeded reports).
Builds 鼓楼区 with 250 m grids and the shipped standards on a throw-away SQLite database, seeds
N public reports over the last 60 days, then serves the real app from a separate process (so
the client does not share the server's interpreter) with access logs off, and measures over
HTTP on 127.0.0.1. Baseline in the same run: a bare FastAPI app, served the same way, whose
POST parses the same form and answers a one-element JSON array, and whose GET answers a
pre-rendered JSON array of the same size as the real page — the floor of HTTP + framework.

Rate limits are raised for the run (a key of 10,000/min, no per-address limit) and the
duplicate-text rule is off: the figures are of the intake path itself.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from importlib.resources import files
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
from fastapi import FastAPI, Request, Response

from bench.harness import Figure, Suite, percentile

TZ = ZoneInfo("Asia/Shanghai")
BOX = (114.3300, 34.7800, 114.3550, 34.7950)  # WGS-84, around 开封府 in 鼓楼区
CODES = ("06010", "06012", "06036", "06001", "09006")
N_POST = 400
_POINTS: list[tuple[float, float]] = []
N_GET = 200
CONCURRENCY = 4


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- the two servers (run as `python -m bench.open311 serve-app|serve-baseline PORT`) -------------


def _serve_app(port: int) -> None:
    import uvicorn

    from cityops.api.app import create_app

    uvicorn.run(create_app(), host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _serve_baseline(port: int, page_dir: str) -> None:
    import uvicorn

    pages = {int(p.stem): p.read_bytes() for p in Path(page_dir).glob("*.json")}
    app = FastAPI()

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/requests.json")
    async def post(request: Request) -> Response:
        form = await request.form()
        body = f'[{{"service_request_id":"{len(form)}","service_notice":"ok"}}]'
        return Response(body.encode(), media_type="application/json; charset=utf-8")

    @app.get("/requests.json")
    def get(page_size: int = 100) -> Response:
        return Response(pages[page_size], media_type="application/json; charset=utf-8")

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _start(args: list[str], env: dict[str, str], health: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.open311", *args],
        env=env,
        cwd=Path(__file__).resolve().parents[1],
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(health, timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"server {args} exited with {proc.returncode}")
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"server {args} did not start")


# --- seeding ------------------------------------------------------------------------------------


def _seed(url: str, data_dir: Path, n_cases: int) -> str:
    import random

    from cityops.geo.index import OutsideCity
    from cityops.services import cases, open311, rules
    from cityops.services.catalog import ensure_standard_catalog
    from cityops.services.geography import GridSettings, init_city, spatial_index
    from cityops.services.orgs import add_org
    from cityops.store.db import make_engine, session_factory, transaction
    from cityops.store.migrate import upgrade

    engine = make_engine(url)
    upgrade(engine)
    sessions = session_factory(engine)
    data = files("cityops.data")
    with transaction(sessions) as s:
        ensure_standard_catalog(s)
        init_city(s, "410200", districts=["410204"], settings=GridSettings(grid_size_m=250))
        add_org(s, "KF-CENTRE", "指挥中心", "centre", region_code="410200")
        for code in ("KF-SZ", "KF-HW", "KF-ZF", "KF-GL", "KF-YL", "KF-LD"):
            add_org(s, code, code, "department", parent_code="KF-CENTRE")
        rules.import_standards(s, Path(str(data / "standards" / "default_standards.csv")))
        rules.import_rules(s, Path(str(data / "demo" / "kaifeng_rules.csv")))
        _, key = open311.create_key(s, "bench", rate_per_minute=10_000)
    rng = random.Random(311)
    now = datetime.now(TZ)
    with sessions() as s:
        index = spatial_index(s)
    points: list[tuple[float, float]] = []
    while len(points) < 500:  # positions inside the district (its outline is not a box)
        p = (rng.uniform(BOX[0], BOX[2]), rng.uniform(BOX[1], BOX[3]))
        try:
            index.locate(*p)
        except OutsideCity:
            continue
        points.append(p)
    batch = 1000
    for start in range(0, n_cases, batch):
        with transaction(sessions) as s:
            for i in range(start, min(start + batch, n_cases)):
                at = now - timedelta(seconds=rng.uniform(0, 60 * 86400))
                cases.create_case(
                    s,
                    None,
                    cases.NewCase(
                        source="public",
                        type_code=rng.choice(CODES),
                        description=f"公众上报第 {i} 件：路边有垃圾堆放，影响通行",
                        lon=points[i % len(points)][0],
                        lat=points[i % len(points)][1],
                        address="鼓楼区",
                    ),
                    now=at,
                )
    engine.dispose()
    _POINTS[:] = points
    (data_dir / "open311.toml").write_text(
        "ip_rate_per_minute = 1000000\nduplicate_window_minutes = 0\n", "utf-8"
    )
    return key


# --- measuring ------------------------------------------------------------------------------------


def _form(key: str, i: int) -> dict[str, str]:
    return {
        "api_key": key,
        "service_code": CODES[i % len(CODES)],
        "lat": f"{_POINTS[i % len(_POINTS)][1]:.6f}",
        "long": f"{_POINTS[i % len(_POINTS)][0]:.6f}",
        "description": f"基准测试上报 {i}：井盖松动，请尽快处理",
        "email": "bench@example.com",
        "first_name": "测",
        "last_name": "试",
    }


def _posts(base: str, key: str, n: int, workers: int) -> float:
    """Requests per second for n POSTs spread over ``workers`` clients (each its own connection)."""
    per = n // workers
    errors: list[str] = []

    def work(w: int) -> None:
        with httpx.Client(base_url=base, timeout=30) as c:
            for i in range(per):
                r = c.post("/requests.json", data=_form(key, w * per + i))
                if r.status_code != 200:
                    errors.append(r.text)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(workers)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.perf_counter() - t0
    if errors:
        raise RuntimeError(f"{len(errors)} POSTs failed, e.g. {errors[0]}")
    return per * workers / took


def _latencies(fetch: Callable[[], httpx.Response], n: int) -> list[float]:
    fetch()  # warm-up
    out = []
    for _ in range(n):
        t = time.perf_counter()
        r = fetch()
        out.append(time.perf_counter() - t)
        if r.status_code != 200:
            raise RuntimeError(r.text)
    return out


def run(n_cases: int = 5000) -> Suite:
    suite = Suite(
        "open311",
        f"Open311 GeoReport v2 on SQLite: 鼓楼区 with 250 m grids, {n_cases:,} public reports "
        "seeded over the last 60 days. The app and the baseline (a bare FastAPI app answering "
        "the same shapes) each run in their own uvicorn process, access log off; the client "
        "is httpx over 127.0.0.1 in the benchmark process. Rate limits raised for the run.",
    )
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "var"
        data_dir.mkdir()
        url = f"sqlite:///{data_dir / 'cityops.db'}"
        t0 = time.perf_counter()
        key = _seed(url, data_dir, n_cases)
        print(f"  seeded {n_cases:,} cases in {time.perf_counter() - t0:.1f} s", flush=True)
        env = {
            **os.environ,
            "CITYOPS_DATABASE_URL": url,
            "CITYOPS_DATA_DIR": str(data_dir),
            "CITYOPS_SECRET_KEY": "bench-secret-key-that-is-long-enough-0001",
        }
        app_port, base_port = _free_port(), _free_port()
        app = _start(["serve-app", str(app_port)], env, f"http://127.0.0.1:{app_port}/healthz")
        app_base = f"http://127.0.0.1:{app_port}/open311/v2"
        try:
            pages = data_dir / "pages"
            pages.mkdir()
            with httpx.Client(base_url=app_base, timeout=30) as c:
                for size in (100, 500):
                    page = c.get("/requests.json", params={"page_size": size}).content
                    (pages / f"{size}.json").write_bytes(page)
            baseline = _start(
                ["serve-baseline", str(base_port), str(pages)],
                env,
                f"http://127.0.0.1:{base_port}/healthz",
            )
            bare = f"http://127.0.0.1:{base_port}"
            load = os.getloadavg()[0]
            suite.description += (
                f" Load average when measuring began: {load:.1f} on {os.cpu_count()} cores "
                "(other work on the machine slows both sides alike)."
            )
            try:
                _posts(app_base, key, 20, 1)  # warm-up: imports, index, calendar caches
                _posts(bare, key, 20, 1)
                seq = _posts(app_base, key, N_POST, 1)
                seq_base = _posts(bare, key, N_POST, 1)
                suite.add(
                    Figure(
                        "POST requests.json, 1 client",
                        seq,
                        "requests/s",
                        f"bare FastAPI form POST: {seq_base:,.0f} requests/s",
                        "≥ 50 requests/s",
                        seq >= 50,
                        f"{N_POST} form-encoded reports, each a case with its log, stage clock "
                        "and receipt; ms per report "
                        f"{1000 / seq:.1f}",
                    )
                )
                par = _posts(app_base, key, N_POST, CONCURRENCY)
                par_base = _posts(bare, key, N_POST, CONCURRENCY)
                suite.add(
                    Figure(
                        f"POST requests.json, {CONCURRENCY} clients",
                        par,
                        "requests/s",
                        f"bare FastAPI form POST: {par_base:,.0f} requests/s",
                        "",
                        None,
                        "one server process; SQLite takes one writer at a time",
                    )
                )
                with (
                    httpx.Client(base_url=app_base, timeout=30) as c,
                    httpx.Client(base_url=bare, timeout=30) as b,
                ):
                    total = c.get("/requests.json", params={"page_size": 1}).headers[
                        "X-Total-Count"
                    ]
                    for size in (100, 500):
                        lat = _latencies(
                            lambda size=size: c.get("/requests.json", params={"page_size": size}),
                            N_GET if size == 100 else N_GET // 4,
                        )
                        base_lat = _latencies(
                            lambda size=size: b.get("/requests.json", params={"page_size": size}),
                            N_GET,
                        )
                        p50, p95 = percentile(lat, 50) * 1000, percentile(lat, 95) * 1000
                        suite.add(
                            Figure(
                                f"GET requests.json p50, page of {size}",
                                p50,
                                "ms",
                                "bare FastAPI, the same body pre-rendered: "
                                f"{percentile(base_lat, 50) * 1000:.2f} ms",
                                "p95 < 100 ms" if size == 100 else "",
                                p95 < 100 if size == 100 else None,
                                f"p95 {p95:.1f} ms; default query (last 90 days, newest "
                                f"first) over {int(total):,} matching reports",
                            )
                        )
                    lat = _latencies(
                        lambda: c.get(
                            "/requests.xml", params={"page_size": 100, "extensions": "true"}
                        ),
                        N_GET // 2,
                    )
                    suite.add(
                        Figure(
                            "GET requests.xml?extensions=true p50, page of 100",
                            percentile(lat, 50) * 1000,
                            "ms",
                            "",
                            "",
                            None,
                            f"p95 {percentile(lat, 95) * 1000:.1f} ms; with the case log as notes",
                        )
                    )
                    radius = {"lat": 34.7925, "long": 114.3425, "radius": 300, "page_size": 100}
                    lat = _latencies(lambda: c.get("/requests.json", params=radius), N_GET // 2)
                    suite.add(
                        Figure(
                            "GET requests.json near a point (300 m) p50",
                            percentile(lat, 50) * 1000,
                            "ms",
                            "",
                            "",
                            None,
                            f"p95 {percentile(lat, 95) * 1000:.1f} ms",
                        )
                    )
            finally:
                baseline.terminate()
                baseline.wait(10)
        finally:
            app.terminate()
            app.wait(10)
    return suite


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", nargs="?", default="run")
    parser.add_argument("args", nargs="*")
    parser.add_argument("--cases", type=int, default=5000)
    ns = parser.parse_args()
    if ns.mode == "serve-app":
        _serve_app(int(ns.args[0]))
    elif ns.mode == "serve-baseline":
        _serve_baseline(int(ns.args[0]), ns.args[1])
    else:
        suite = run(ns.cases)
        suite.write()
        print("written to docs/benchmarks.md")


if __name__ == "__main__":
    main()
