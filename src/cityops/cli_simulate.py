"""`cityops simulate` (a month of the case loop through the services, or bulk history for
benchmarks) and `cityops bench` (the case benchmarks of bench/cases.py, from a source checkout)."""

from __future__ import annotations

import importlib
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cityops.cli import app, console, ctx, say
from cityops.core.errors import CityopsError

DEMO_DAYS = 30
# A real Kaifeng centre registers a few hundred cases a day; 150 reports a day keeps `make demo`
# within its 5 minutes on 2 cores (≈ 8.5 service calls per report, ~400 calls/s on SQLite).
DEMO_CASES_PER_DAY = 150.0


def _parse_end(end: str | None) -> datetime:
    from cityops.services.calendar import city_clock

    with ctx.session() as s:
        tz = city_clock(s).tz
    if end is None:
        return datetime.now(tz).replace(second=0, microsecond=0)
    try:
        value = datetime.fromisoformat(end)
    except ValueError as exc:
        raise CityopsError(
            f"无法识别的时间 {end}（示例 2026-11-25T12:00）",
            en=f"cannot read the instant {end} (e.g. 2026-11-25T12:00)",
            code="bad_end",
        ) from exc
    return value if value.tzinfo else value.replace(tzinfo=tz)


def run_simulation(
    *,
    city: str = "410200",
    districts: list[str] | None = None,
    days: int = DEMO_DAYS,
    seed: int = 1,
    end: str | None = None,
    cases_per_day: float = DEMO_CASES_PER_DAY,
    grid_size: float = 100.0,
    only_if_empty: bool = False,
) -> None:
    """Set up what the simulated city lacks, then simulate ``days`` up to ``end`` (now)."""
    from sqlalchemy import func, select

    from cityops.services.demo import DEMO_CITY, DEMO_DISTRICTS
    from cityops.sim.city import CitySpec, setup_city
    from cityops.sim.flow import FlowConfig, simulate
    from cityops.store.db import session_factory
    from cityops.store.migrate import upgrade
    from cityops.store.schema import Case

    upgrade(ctx.engine)
    end_at = _parse_end(end)
    chosen = tuple(districts or (DEMO_DISTRICTS if city == DEMO_CITY else ()))
    spec = CitySpec(city=city, districts=chosen, grid_size_m=grid_size, seed=seed)
    t0 = time.perf_counter()
    with ctx.session() as s:
        have = s.scalar(select(func.count()).select_from(Case)) or 0
        if only_if_empty and have:
            console.print(
                say(
                    f"数据库已有 {have} 个案件，跳过模拟",
                    f"the database already holds {have} cases; simulation skipped",
                )
            )
            return
        setup = setup_city(s, spec)
    console.print(
        say(
            f"城市就绪：{setup.grids} 个单元网格、{setup.communities} 个社区，新增部件 "
            f"{setup.components} 个、人员 {setup.users_added} 名，监督员 "
            f"{len(setup.staff.supervisors)} 名（{time.perf_counter() - t0:.1f} 秒）",
            f"city ready: {setup.grids} grids, {setup.communities} communities, "
            f"{setup.components} components and {setup.users_added} users added, "
            f"{len(setup.staff.supervisors)} supervisors ({time.perf_counter() - t0:.1f} s)",
        )
    )
    config = FlowConfig(end=end_at, days=days, seed=seed, cases_per_day=cases_per_day)
    console.print(
        say(
            f"模拟 {config.start:%Y-%m-%d %H:%M} 至 {config.end:%Y-%m-%d %H:%M}，"
            f"每天约 {cases_per_day:.0f} 件上报，随机种子 {seed}",
            f"simulating {config.start:%Y-%m-%d %H:%M} to {config.end:%Y-%m-%d %H:%M}, "
            f"about {cases_per_day:.0f} reports a day, seed {seed}",
        )
    )
    from cityops.services import cityconfig

    cityconfig.configure(ctx.settings.city_config)
    report = simulate(
        session_factory(ctx.engine),
        config,
        ctx.settings.data_dir,
        progress=lambda line: console.print(f"  {line}", markup=False),
    )
    table = Table(title=say("模拟结果", "Simulation"))
    table.add_column("")
    table.add_column("")
    table.add_row(say("上报", "reports"), f"{report.reports:,}")
    table.add_row(
        say("服务调用", "service calls"),
        f"{report.calls:,} ({report.calls_per_s:,.0f}/s, {report.seconds:.1f} s)",
    )
    table.add_row(say("来源", "sources"), ", ".join(f"{k} {v}" for k, v in report.sources.items()))
    table.add_row(say("状态", "states"), ", ".join(f"{k} {v}" for k, v in report.states.items()))
    table.add_row(
        say("结案方式", "closed as"), ", ".join(f"{k} {v}" for k, v in report.close_reasons.items())
    )
    table.add_row(say("超期未办", "open and overdue"), str(report.overdue_open))
    table.add_row(
        say("操作", "actions"),
        ", ".join(f"{k} {v}" for k, v in sorted(report.actions.items())),
    )
    if report.refused:
        table.add_row(
            say("被拒绝", "refused"), ", ".join(f"{k} {v}" for k, v in report.refused.items())
        )
    console.print(table)


def run_bulk(
    *, cases: int, seed: int, end: str | None, per_day: int, batch: int, grid_size: float
) -> None:
    from cityops.services.demo import DEMO_CITY, DEMO_DISTRICTS
    from cityops.sim.bulk import BulkConfig, generate
    from cityops.sim.city import CitySpec, setup_city
    from cityops.store.migrate import upgrade

    upgrade(ctx.engine)
    end_at = _parse_end(end)
    with ctx.session() as s:
        setup_city(
            s,
            CitySpec(city=DEMO_CITY, districts=DEMO_DISTRICTS, grid_size_m=grid_size, seed=seed),
        )
    config = BulkConfig(cases=cases, seed=seed, end=end_at, per_day=per_day, batch=batch)
    result = generate(
        ctx.engine,
        config,
        progress=lambda line: console.print(f"  {line}", markup=False),
    )
    console.print(
        say(
            f"批量生成 {result.cases:,} 个案件（日志 {result.logs:,} 条、时限 {result.stages:,} 条、"
            f"任务 {result.tasks:,} 个），用时 {result.seconds:.1f} 秒：{result.cases_per_s:,.0f} 件/秒",
            f"bulk: {result.cases:,} cases ({result.logs:,} log rows, {result.stages:,} stage "
            f"clocks, {result.tasks:,} tasks) in {result.seconds:.1f} s: "
            f"{result.cases_per_s:,.0f} cases/s",
        )
    )


@app.command("simulate")
def simulate_cmd(
    city: Annotated[str, typer.Option(help="City code (GB/T 2260)")] = "410200",
    district: Annotated[
        list[str] | None,
        typer.Option("--district", "-d", help="District code; repeat. Default: Kaifeng's four"),
    ] = None,
    days: Annotated[int, typer.Option(min=1, max=366, help="Days simulated")] = DEMO_DAYS,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same month")] = 1,
    end: Annotated[
        str | None, typer.Option(help="Last simulated instant (ISO); default now")
    ] = None,
    cases_per_day: Annotated[
        float, typer.Option(min=1, help="Mean reports a day, all channels")
    ] = DEMO_CASES_PER_DAY,
    grid_size: Annotated[float, typer.Option(help="Grid size (m) if the city is built")] = 100.0,
    bulk: Annotated[
        bool, typer.Option("--bulk", help="Bulk history for benchmarks (not through services)")
    ] = False,
    cases: Annotated[int, typer.Option(min=1, help="--bulk: number of cases")] = 1_000_000,
    per_day: Annotated[int, typer.Option(min=1, help="--bulk: cases a day of history")] = 3000,
    batch: Annotated[int, typer.Option(min=1000, help="--bulk: cases per batch")] = 20_000,
) -> None:
    """Simulate a month of the case loop through the real services (deterministic for a seed),
    or with --bulk write a large history fast for benchmarks."""
    if bulk:
        run_bulk(cases=cases, seed=seed, end=end, per_day=per_day, batch=batch, grid_size=grid_size)
        return
    run_simulation(
        city=city,
        districts=district,
        days=days,
        seed=seed,
        end=end,
        cases_per_day=cases_per_day,
        grid_size=grid_size,
    )


@app.command("bench")
def bench_cmd(
    cases: Annotated[
        list[int] | None, typer.Option("--cases", help="History sizes; repeat (default 1000000)")
    ] = None,
    backend: Annotated[
        list[str] | None, typer.Option("--backend", help="sqlite and/or postgresql")
    ] = None,
    fresh: Annotated[bool, typer.Option("--fresh", help="Rebuild the benchmark databases")] = False,
) -> None:
    """Case benchmarks (intake over HTTP, queues, search, map, KPIs, overdue sweep) on SQLite
    and PostgreSQL → docs/benchmarks.md. Runs from a source checkout (bench/cases.py)."""
    root = Path.cwd()
    if not (root / "bench" / "cases.py").exists():
        raise CityopsError(
            "请在源码目录中运行（需要 bench/cases.py）",
            en="run from a source checkout (bench/cases.py is needed)",
            code="bench_not_found",
        )
    sys.path.insert(0, str(root))
    bench_cases = importlib.import_module("bench.cases")

    args = [f"--cases={n}" for n in (cases or [])] + [f"--backend={b}" for b in (backend or [])]
    if fresh:
        args.append("--fresh")
    bench_cases.main(args)
