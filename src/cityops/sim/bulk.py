"""Bulk history for benchmarks: millions of cases in the row shapes the services write, fast.

Not through the services (they manage a few hundred calls a second, see docs/simulation.md).
In batches of whole days:

1. ``sim.bulk_flow.simulate`` (this process): the case flow of a batch as NumPy arrays — the
   shares, delays and exceptional paths of ``sim/flow.py`` (checks, voids, duplicates,
   self-handling, auto-dispatch, returns, extensions, suspensions, urges, 督办, reworks), cut at
   the end of the history; ids and case numbers are given here, in order.
2. ``sim.bulk_rows.Renderer`` (worker processes): the rows — case rows, stage clock runs, tasks
   and log entries as ``core.workflow`` writes them, hash-chained as ``services.cases`` chains
   them, so ``cityops audit verify`` (hash chains and log replay) passes on the result.
3. The same workers write: on PostgreSQL with ``COPY``, each on its own connection; on SQLite
   with ``executemany``, taking turns in batch order (one writer at a time), so one renders while
   the other writes.

Into an empty database (``defer_indexes``, the default then) the secondary indexes of the four
tables are dropped and built again once at the end (on PostgreSQL two at a time, one per core,
with more ``maintenance_work_mem``; on SQLite with the sorter on every core), foreign-key
checks are off during the load (the rows are consistent by construction) and SQLite writes
without a journal: a run killed midway leaves the indexes missing (and the SQLite file possibly
unusable). Then the planner statistics are refreshed.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import shapely
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from cityops.core.clock import TimeLimit
from cityops.services import cityconfig
from cityops.services.calendar import city_clock
from cityops.services.rules import rule_set
from cityops.sim import bulk_rows
from cityops.sim.bulk_flow import Flow, FlowModel, WorkMinutes, limit_minutes, simulate
from cityops.sim.bulk_rows import BatchIds, Rendered, Renderer, Texts
from cityops.sim.city import GridSampler, staff_of
from cityops.sim.flow import DEFAULT_SPEED, DEPARTMENT_SPEED, TYPES
from cityops.store.schema import (
    Case,
    CaseLogRow,
    CaseNumberSeq,
    CaseStageRow,
    CaseStandardRow,
    OrgUnit,
    TaskRow,
    User,
)

TABLES = ("cases", "case_stage", "case_log", "task")
MAX_BATCH = 25_000  # cases a batch at most: a worker holds a batch's rows (~1 GB at 50,000)


@dataclass(frozen=True)
class BulkConfig:
    cases: int
    end: datetime
    seed: int = 1
    per_day: int = 3000
    batch: int = 20_000  # cases per batch (at most MAX_BATCH), rounded to whole days
    # Drop the secondary indexes of the four tables and build them again at the end, foreign-key
    # checks off, SQLite without a journal. None: when the case tables are empty.
    defer_indexes: bool | None = None
    # Processes that render and write the batches: None = 2 (one per core); 0 = this process.
    workers: int | None = None


@dataclass
class BulkResult:
    cases: int = 0
    logs: int = 0
    stages: int = 0
    tasks: int = 0
    seconds: float = 0.0  # everything, indexes and statistics included
    load_seconds: float = 0.0  # the batches simulated, rendered and written
    index_seconds: float = 0.0  # the indexes built again
    phases: dict[str, float] = field(default_factory=dict)  # CPU seconds by step (all processes)

    @property
    def cases_per_s(self) -> float:
        return self.cases / self.seconds if self.seconds else 0.0


# --- the city, loaded once ---------------------------------------------------------------------------


def _load(session: Session, seed: int, first: date, last: date) -> tuple[FlowModel, Texts]:
    sampler = GridSampler(session, seed)
    codes = sampler.codes
    grid_geom = np.array(sampler.geoms, dtype=object)
    inner = shapely.point_on_surface(grid_geom)
    weights = np.zeros(len(codes))
    for w, comm in zip(sampler.weights, sampler.communities, strict=True):
        idx = sampler.by_community[comm]
        weights[idx] = w / len(idx)
    districts = sorted({c[:6] for c in codes})
    d_index = {d: i for i, d in enumerate(districts)}
    conds: dict[str, list[tuple[str, TimeLimit]]] = {}
    for r in session.scalars(select(CaseStandardRow).order_by(CaseStandardRow.seq)):
        conds.setdefault(r.type_code, []).append((r.condition, TimeLimit.parse(r.time_limit)))
    types = [t for t in TYPES if t.code in conds]
    combo_first: list[int] = []
    combo_cond: list[str] = []
    combo_limit: list[str] = []
    combo_extra: list[str] = []
    combo_min: list[float] = []
    combo_working: list[bool] = []
    combo_extra_min: list[float] = []
    width = max(len(conds[t.code]) for t in types)
    combo_cum = np.ones((len(types), width))
    for i, t in enumerate(types):
        combo_first.append(len(combo_cond))
        weight = np.array([0.8**j for j in range(len(conds[t.code]))])
        combo_cum[i, : len(weight)] = np.cumsum(weight) / weight.sum()
        for cond, limit in conds[t.code]:
            extra = "2工作日" if limit.unit.value == "工作日" else "1工作日"
            minutes, working = limit_minutes(limit)
            combo_cond.append(cond)
            combo_limit.append(str(limit))
            combo_extra.append(extra)
            combo_min.append(minutes)
            combo_working.append(working)
            combo_extra_min.append(limit_minutes(TimeLimit.parse(extra))[0])
    combo_cum[:, -1] = 1.0
    staff = staff_of(session)
    ids = dict(session.execute(select(User.username, User.id)).all())
    rules = rule_set(session)
    known = set(session.scalars(select(OrgUnit.code).where(OrgUnit.kind == "department")))
    depts = sorted(d for d in staff.department_user if d in known) or sorted(staff.department_user)
    if not depts:
        raise ValueError("the city has no department with a department user (sim.city)")
    dept_index = {d: i for i, d in enumerate(depts)}
    dept = np.zeros((len(types), len(districts)), dtype=np.int32)
    auto = np.zeros((len(types), len(districts)), dtype=bool)
    auto_note = np.full((len(types), len(districts)), -1, dtype=np.int32)
    notes: list[str] = []
    for i, t in enumerate(types):
        for j, d in enumerate(districts):
            s = rules.resolve(t.code, t.code[:2], d, None, None)
            ok = s.department in dept_index
            dept[i, j] = dept_index[s.department] if ok and s.department else 0
            if ok and s.auto_dispatch:
                auto[i, j] = True
                auto_note[i, j] = len(notes)
                notes.append(f"自动派遣：{s.reason}")
    handlers = [
        [ids[u] for u in staff.handlers.get(d, [])] or [ids[staff.department_user[d]]]
        for d in depts
    ]
    hmax = max(len(h) for h in handlers)
    dept_handlers = np.array([h + [h[0]] * (hmax - len(h)) for h in handlers], dtype=np.int64)
    sup_of = staff.grid_supervisor
    fallback_sup = ids[staff.supervisors[0]]
    grid_sup = np.array([ids.get(sup_of.get(c, ""), fallback_sup) for c in codes], np.int64)
    clock = city_clock(session)
    limits = cityconfig.active().stage_limits
    offset = clock.tz.utcoffset(datetime(first.year, first.month, first.day))
    model = FlowModel(
        grid_p=weights / weights.sum(),
        grid_box=sampler.bounds,
        grid_geom=grid_geom,
        grid_inner=np.column_stack((shapely.get_x(inner), shapely.get_y(inner))),
        grid_district=np.array([d_index[c[:6]] for c in codes], dtype=np.int32),
        grid_sup=grid_sup,
        type_p_patrol=_p([t.patrol for t in types]),
        type_p_public=_p([t.public for t in types]),
        type_self_handle=np.array([t.self_handle for t in types]),
        combo_first=np.array(combo_first, dtype=np.int32),
        combo_cum=combo_cum,
        combo_limit_min=np.array(combo_min),
        combo_limit_working=np.array(combo_working),
        combo_extra_min=np.array(combo_extra_min),
        dept=dept,
        auto=auto,
        dept_user=np.array([ids[staff.department_user[d]] for d in depts], dtype=np.int64),
        dept_handlers=dept_handlers,
        dept_handler_count=np.array([len(h) for h in handlers], dtype=np.int64),
        dept_speed=np.array([DEPARTMENT_SPEED.get(d, DEFAULT_SPEED) for d in depts]),
        acceptors=np.array([ids[u] for u in staff.acceptors], dtype=np.int64),
        dispatchers=np.array([ids[u] for u in staff.dispatchers], dtype=np.int64),
        leaders=np.array([ids[u] for u in staff.leaders], dtype=np.int64),
        reg_limit=limit_minutes(limits.register),
        dis_limit=limit_minutes(limits.dispatch),
        ver_limit=limit_minutes(limits.verify),
        work=WorkMinutes(clock, first, last),
        utc_offset=int(offset.total_seconds()) if offset else 0,
    )
    texts = Texts(
        grid_codes=np.array([c.encode() for c in codes], dtype="S15"),
        districts=districts,
        type_codes=np.array([t.code.encode() for t in types], dtype="S5"),
        type_names=[t.name for t in types],
        combo_condition=combo_cond,
        combo_limit=combo_limit,
        combo_extra=combo_extra,
        dept_codes=depts,
        auto_note=auto_note,
        notes=notes,
        reg_limit=str(limits.register),
        dis_limit=str(limits.dispatch),
        ver_limit=str(limits.verify),
    )
    return model, texts


def _p(weights: list[float]) -> np.ndarray[Any, Any]:
    a: np.ndarray[Any, Any] = np.array(weights, dtype=float)
    return a / float(a.sum())


# --- batches ------------------------------------------------------------------------------------------


@dataclass
class _Batch:
    index: int
    flow: Flow
    ids: BatchIds


class _Numbers:
    """Case numbers continue the stored per-district, per-local-day sequences."""

    def __init__(self, seqs: dict[str, int], districts: list[str]) -> None:
        self.seqs = seqs
        self.districts = np.array(districts)

    def assign(self, district: np.ndarray[Any, Any], local_day: np.ndarray[Any, Any]) -> Any:
        key = district.astype(np.int64) * 100_000_000 + local_day
        uniq, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
        order = np.argsort(inverse, kind="stable")
        rank = np.empty(len(key), dtype=np.int64)
        starts = np.r_[0, np.cumsum(counts)[:-1]]
        rank[order] = np.arange(len(key)) - np.repeat(starts, counts)
        base = np.zeros(len(uniq), dtype=np.int64)
        for i, (k, c) in enumerate(zip(uniq.tolist(), counts.tolist(), strict=True)):
            prefix = f"{self.districts[k // 100_000_000]}-{k % 100_000_000}"
            base[i] = self.seqs.get(prefix, 0)
            self.seqs[prefix] = int(base[i]) + c
        return base[inverse] + rank + 1


def _batches(
    config: BulkConfig, model: FlowModel, next_ids: list[int], numbers: _Numbers
) -> Iterator[_Batch]:
    """The batches in order: the flow of whole days of cases, with their ids and numbers."""
    days = max(1, math.ceil(config.cases / config.per_day))
    end = int(config.end.timestamp())
    last_local = datetime.fromtimestamp(end + model.utc_offset, UTC).date()
    first_day = (last_local - date(1970, 1, 1)).days - (days - 1)
    edges = np.arange(days + 1, dtype=np.int64) * config.cases // days
    per_batch = max(1, min(config.batch, MAX_BATCH) // max(1, config.per_day))
    district = model.grid_district
    for b, d0 in enumerate(range(0, days, per_batch)):
        d1 = min(days, d0 + per_batch)
        counts = np.diff(edges[d0 : d1 + 1])
        day = np.repeat((first_day + np.arange(d0, d1, dtype=np.int64)) * 86400, counts)
        rng = np.random.default_rng([config.seed, b])
        flow = simulate(model, rng, day, next_ids[0], end)
        days_local = (flow.t0 + model.utc_offset) // 86400
        ymd_of = _ymd_table(int(days_local.min()), int(days_local.max()))
        local_day = ymd_of[days_local - int(days_local.min())]
        seq = numbers.assign(district[flow.grid], local_day)
        logs, stages, tasks = bulk_rows.counts(flow)
        ids = BatchIds(next_ids[1], next_ids[2], next_ids[3], seq, local_day)
        next_ids[0] += flow.n
        next_ids[1] += logs
        next_ids[2] += stages
        next_ids[3] += tasks
        yield _Batch(b, flow, ids)


def _ymd_table(lo: int, hi: int) -> np.ndarray[Any, Any]:
    return np.array(
        [int((date(1970, 1, 1) + timedelta(days=d)).strftime("%Y%m%d")) for d in range(lo, hi + 1)],
        dtype=np.int64,
    )


# --- writing ------------------------------------------------------------------------------------------


def _conninfo(engine: Engine) -> str:
    """The engine's PostgreSQL URL as a libpq connection string (for the workers' own
    connections)."""
    from psycopg.conninfo import make_conninfo

    url = engine.url
    parts: dict[str, Any] = {
        "host": url.host,
        "port": url.port,
        "user": url.username,
        "password": url.password,
        "dbname": url.database,
    }
    parts |= {k: v for k, v in url.query.items() if isinstance(v, str)}
    return make_conninfo(**{k: v for k, v in parts.items() if v is not None})


def _backend_cpu(pid: int | None) -> float:
    """CPU seconds of a local PostgreSQL backend process (0 when it is not on this host)."""
    if pid is None:
        return 0.0
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


class _PgWriter:
    """One connection; a batch is one transaction of four ``COPY``s."""

    def __init__(self, conninfo: str, fast: bool) -> None:
        import psycopg

        self.conn = psycopg.connect(conninfo)
        with self.conn.cursor() as cur:
            cur.execute("SET synchronous_commit = off")
            if fast:
                try:  # foreign-key triggers off (superuser only); the rows are consistent
                    cur.execute("SET session_replication_role = replica")
                except psycopg.Error:
                    self.conn.rollback()
                    cur.execute("SET synchronous_commit = off")
            cur.execute(
                "SELECT pg_backend_pid(), inet_server_addr() IS NULL OR "
                "host(inet_server_addr()) IN ('127.0.0.1', '::1')"
            )
            row = cur.fetchone()
        self.conn.commit()
        local = bool(row and row[1])
        self.pid = int(row[0]) if row and local and os.path.exists(f"/proc/{row[0]}") else None

    def write(self, rendered: Rendered, index: int) -> dict[str, float]:
        c0, s0 = _cpu(), _backend_cpu(self.pid)
        with self.conn.cursor() as cur:
            for table in rendered.tables:
                if not table.rows:
                    continue
                names = ", ".join(name for name, _kind, _v in table.columns)
                data = bulk_rows.copy_text(table)
                with cur.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
                    view = memoryview(data)
                    for start in range(0, len(data), 1 << 22):
                        copy.write(view[start : start + (1 << 22)])
        self.conn.commit()
        return {"copy": _cpu() - c0, "server": _backend_cpu(self.pid) - s0}

    def close(self) -> None:
        self.conn.close()


class _SqliteWriter:
    """Its own connection; writers take turns in batch order (SQLite has one writer at a time),
    so one renders the next batch while the other writes."""

    def __init__(self, path: str, fast: bool, turn: Any) -> None:
        import sqlite3

        self.conn = sqlite3.connect(path, isolation_level=None, timeout=3600)
        for pragma in (
            "foreign_keys = OFF",
            "synchronous = OFF",
            "cache_size = -400000",
            "mmap_size = 68719476736",  # pages read from the OS cache in place, after a turn
            "temp_store = MEMORY",
            *(["journal_mode = OFF"] if fast else []),
        ):
            self.conn.execute(f"PRAGMA {pragma}")
        self.turn = turn

    def write(self, rendered: Rendered, index: int) -> dict[str, float]:
        statements = [bulk_rows.sqlite_insert(t) for t in rendered.tables if t.rows]
        with self.turn:
            self.turn.wait_for(lambda: self.turn.value == index)
        c0 = _cpu()
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            for sql, rows in statements:
                self.conn.executemany(sql, rows)
            self.conn.execute("COMMIT")
        finally:
            with self.turn:
                self.turn.value = index + 1
                self.turn.notify_all()
        return {"sqlite": _cpu() - c0}

    def close(self) -> None:
        self.conn.close()


def _cpu() -> float:
    return time.process_time()


@dataclass(frozen=True)
class _Target:
    """Where the rows go: a PostgreSQL conninfo or an SQLite file."""

    pg: bool
    location: str
    fast: bool

    def writer(self, turn: Any) -> _PgWriter | _SqliteWriter:
        if self.pg:
            return _PgWriter(self.location, self.fast)
        return _SqliteWriter(self.location, self.fast, turn)


class _Turn:
    """The turn of writing in this process (no other writer)."""

    value = 0

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None

    def wait_for(self, predicate: Callable[[], bool]) -> bool:
        return True

    def notify_all(self) -> None:
        return None


def _worker(texts: Texts, target: _Target, turn: Any, tasks: Any, results: Any) -> None:
    """A worker process: renders the batches it takes and writes them."""
    renderer = Renderer(texts)
    writer = target.writer(turn)
    try:
        while True:
            batch = tasks.get()
            if batch is None:
                break
            c0 = _cpu()
            rendered = renderer.render(batch.flow, batch.ids, target.pg)
            cpu = {"render": _cpu() - c0} | writer.write(rendered, batch.index)
            counts = Rendered([], rendered.logs, rendered.stages, rendered.tasks)
            results.put((batch.index, counts, cpu))
    except BaseException as exc:  # report it: the parent must not wait forever
        results.put((-1, repr(exc), {}))
        raise
    finally:
        writer.close()


# --- indexes and settings around the load --------------------------------------------------------


def _empty(engine: Engine) -> bool:
    with Session(engine) as s:
        return all(
            s.scalar(select(model.id).limit(1)) is None
            for model in (Case, CaseLogRow, CaseStageRow, TaskRow)
        )


def _say(progress: Callable[[str], None] | None, line: str) -> None:
    if progress:
        progress(line)


# --- the run ------------------------------------------------------------------------------------------


def generate(
    engine: Engine,
    config: BulkConfig,
    *,
    progress: Callable[[str], None] | None = None,
) -> BulkResult:
    """Write ``config.cases`` cases of history ending at ``config.end`` (the city and its staff
    must exist: ``sim.city.setup_city``)."""
    t_start = time.perf_counter()
    days = max(1, math.ceil(config.cases / config.per_day))
    first = (config.end - timedelta(days=days + 2)).astimezone(UTC).date()
    last = (config.end + timedelta(days=90)).astimezone(UTC).date()
    pg = engine.dialect.name == "postgresql"
    with Session(engine) as session:
        model, texts = _load(session, config.seed, first, last)
        next_ids = [
            (session.scalar(select(func.max(m.id))) or 0) + 1
            for m in (Case, CaseLogRow, CaseStageRow, TaskRow)
        ]
        seqs = dict(session.execute(select(CaseNumberSeq.prefix, CaseNumberSeq.last)).all())
    fast = _empty(engine) if config.defer_indexes is None else config.defer_indexes
    workers = config.workers if config.workers is not None else 2
    if workers and "fork" not in mp.get_all_start_methods():
        workers = 0
    numbers = _Numbers(seqs, texts.districts)
    result = BulkResult()
    batches = _batches(config, model, next_ids, numbers)
    if pg:
        target = _Target(True, _conninfo(engine), fast)
        load = _pg_load(target, result, progress)
    else:
        database = engine.url.database
        if not database or database == ":memory:":
            raise ValueError("bulk generation needs an SQLite database file")
        if fast and not _sole_connection(engine, database):
            fast = False  # someone else holds the file open: the ordinary (slower) load
        target = _Target(False, database, fast)
        load = _sqlite_load(engine, target, result, progress)
    with load:
        _run(texts, target, batches, workers, result, progress)
    _finish(engine, numbers.seqs, pg)
    result.seconds = time.perf_counter() - t_start
    return result


def _run(
    texts: Texts,
    target: _Target,
    batches: Iterator[_Batch],
    workers: int,
    result: BulkResult,
    progress: Callable[[str], None] | None,
) -> None:
    sizes: dict[int, int] = {}
    t0 = time.perf_counter()
    for index, counts, cpu in _pool(texts, target, batches, workers, sizes, result.phases):
        for k, v in cpu.items():
            result.phases[k] = result.phases.get(k, 0.0) + v
        result.logs += counts.logs
        result.stages += counts.stages
        result.tasks += counts.tasks
        result.cases += sizes.pop(index)
        el = time.perf_counter() - t0
        _say(progress, f"{result.cases:,} cases, {result.logs:,} log rows, "
                       f"{result.cases / el:,.0f} cases/s")  # fmt: skip
    result.load_seconds = time.perf_counter() - t0


def _pool(
    texts: Texts,
    target: _Target,
    batches: Iterator[_Batch],
    workers: int,
    sizes: dict[int, int],
    phases: dict[str, float],
) -> Iterator[tuple[int, Rendered, dict[str, float]]]:
    """Batches simulated here (in order), rendered and written by ``workers`` processes (or here
    with none), at most two a worker in flight."""

    def timed() -> Iterator[_Batch]:
        while True:
            c0 = _cpu()
            batch = next(batches, None)
            phases["simulate"] = phases.get("simulate", 0.0) + _cpu() - c0
            if batch is None:
                return
            sizes[batch.index] = batch.flow.n
            yield batch

    if workers == 0:
        renderer, writer = Renderer(texts), target.writer(_Turn())
        try:
            for batch in timed():
                c0 = _cpu()
                rendered = renderer.render(batch.flow, batch.ids, target.pg)
                cpu = {"render": _cpu() - c0} | writer.write(rendered, batch.index)
                yield batch.index, Rendered([], rendered.logs, rendered.stages, rendered.tasks), cpu
        finally:
            writer.close()
        return
    ctx = mp.get_context("fork")
    tasks = ctx.Queue(maxsize=workers)
    results = ctx.Queue()
    turn = ctx.Condition()
    shared = ctx.Value("l", 0, lock=False)
    guard = _SharedTurn(turn, shared)
    procs = [
        ctx.Process(target=_worker, args=(texts, target, guard, tasks, results), daemon=True)
        for _ in range(workers)
    ]
    for p in procs:
        p.start()
    sent = received = 0
    try:
        for batch in timed():
            while True:
                try:
                    tasks.put(batch, timeout=0.05)
                    break
                except queue.Full:
                    while True:  # hand back what is done meanwhile
                        try:
                            item = results.get_nowait()
                        except queue.Empty:
                            break
                        received += 1
                        yield _checked(item)
            sent += 1
        for _ in procs:
            tasks.put(None)
        while received < sent:
            item = results.get()
            received += 1
            yield _checked(item)
    finally:
        for p in procs:
            p.join(timeout=5 if received < sent else 600)
            if p.is_alive():
                p.terminate()


class _SharedTurn:
    """The batch whose turn it is to be written, shared by the worker processes."""

    def __init__(self, cond: Any, value: Any) -> None:
        self.cond, self.shared = cond, value

    @property
    def value(self) -> int:
        return int(self.shared.value)

    @value.setter
    def value(self, v: int) -> None:
        self.shared.value = v

    def __enter__(self) -> Any:
        return self.cond.__enter__()

    def __exit__(self, *exc: object) -> Any:
        return self.cond.__exit__(*exc)

    def wait_for(self, predicate: Callable[[], bool]) -> bool:
        return bool(self.cond.wait_for(predicate))

    def notify_all(self) -> None:
        self.cond.notify_all()


def _checked(item: tuple[int, Any, dict[str, float]]) -> tuple[int, Rendered, dict[str, float]]:
    if item[0] < 0:
        raise RuntimeError(f"bulk worker failed: {item[1]}")
    return item


# SQLite keeps the log's indexes up during the load: their keys arrive in order (case, seq),
# nearly in order (time; action and time) or at a few hundred places (actor), so each insert
# touches pages in the cache, while building one again reads the whole log table — the widest,
# 7 GB at 1M cases — from the disk when the OS cache cannot hold it (measured at 1M: 4 scans,
# ~180 s of the 260 s rebuild).
SQLITE_KEEP = ("case_log",)


def _sqlite_indexes(conn: Any) -> list[tuple[str, str]]:
    """(name, CREATE statement) of the indexes to drop for the load (not the log's, nor the
    ones of UNIQUE constraints, which cannot be dropped)."""
    tables = [t for t in TABLES if t not in SQLITE_KEEP]
    rows = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
        f"AND tbl_name IN ({', '.join(repr(t) for t in tables)}) ORDER BY tbl_name, name"
    ).fetchall()
    return [(name, sql) for name, sql in rows]


def _pg_indexes(cur: Any) -> list[tuple[str, str, str]]:
    """(table, drop statement, create statement) of the indexes of the four tables but the
    primary keys (unique constraints as constraints)."""
    cur.execute(
        """
        SELECT c.relname, i.relname, pg_get_indexdef(i.oid), con.conname,
               pg_get_constraintdef(con.oid)
        FROM pg_index x
        JOIN pg_class i ON i.oid = x.indexrelid
        JOIN pg_class c ON c.oid = x.indrelid
        LEFT JOIN pg_constraint con ON con.conindid = i.oid AND con.contype = 'u'
        WHERE c.relname = ANY(%s) AND NOT x.indisprimary
          AND c.relnamespace = 'public'::regnamespace
        ORDER BY c.relname, i.relname
        """,
        (list(TABLES),),
    )
    out = []
    for table, index, indexdef, constraint, condef in cur.fetchall():
        if constraint:
            drop = f'ALTER TABLE {table} DROP CONSTRAINT "{constraint}"'
            create = f'ALTER TABLE {table} ADD CONSTRAINT "{constraint}" {condef}'
        else:
            drop, create = f'DROP INDEX "{index}"', indexdef
        out.append((table, drop, create))
    return out


# Largest tables first, so the two builders finish together.
_BUILD_ORDER = {"case_log": 0, "case_stage": 1, "cases": 2, "task": 3}


@contextmanager
def _pg_load(
    target: _Target, result: BulkResult, progress: Callable[[str], None] | None
) -> Iterator[None]:
    import psycopg

    dropped: list[tuple[str, str, str]] = []
    if target.fast:
        with psycopg.connect(target.location, autocommit=True) as conn, conn.cursor() as cur:
            dropped = _pg_indexes(cur)
            for _table, drop, _create in dropped:
                cur.execute(drop)
    yield
    if not dropped:
        return
    t0 = time.perf_counter()
    _say(progress, f"building {len(dropped)} indexes again")
    jobs: queue.Queue[str] = queue.Queue()
    for _table, _drop, create in sorted(dropped, key=lambda d: _BUILD_ORDER[d[0]]):
        jobs.put(create)

    def build() -> None:  # one connection a core; each index sorted in memory
        with psycopg.connect(target.location, autocommit=True) as conn:
            conn.execute("SET maintenance_work_mem = '512MB'")
            conn.execute("SET max_parallel_maintenance_workers = 0")
            while True:
                try:
                    sql = jobs.get_nowait()
                except queue.Empty:
                    return
                conn.execute(sql)

    builders = [threading.Thread(target=build) for _ in range(2)]
    for b in builders:
        b.start()
    for b in builders:
        b.join()
    if not jobs.empty():
        raise RuntimeError("building the indexes again failed")
    result.index_seconds = time.perf_counter() - t0


def _sole_connection(engine: Engine, database: str) -> bool:
    """Whether the fast load may leave WAL mode: SQLite allows it only to the one connection to
    the file, and a caller may still hold another (a test's session, a server's writer)."""
    import sqlite3

    engine.dispose()
    conn = sqlite3.connect(database, isolation_level=None, timeout=5)
    try:
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        try:
            conn.execute("PRAGMA journal_mode = DELETE")
        except sqlite3.OperationalError:
            return False
        conn.execute(f"PRAGMA journal_mode = {mode}")
        return True
    finally:
        conn.close()


@contextmanager
def _sqlite_load(
    engine: Engine, target: _Target, result: BulkResult, progress: Callable[[str], None] | None
) -> Iterator[None]:
    """Out of WAL mode during the load (the writers run without a journal), the indexes built
    again after, WAL again."""
    import sqlite3

    if not target.fast:
        yield
        return
    engine.dispose()  # leaving WAL mode needs the only connection
    conn = sqlite3.connect(target.location, isolation_level=None, timeout=600)
    try:
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        conn.execute("PRAGMA journal_mode = DELETE")
        dropped = _sqlite_indexes(conn)
        for name, _sql in dropped:
            conn.execute(f'DROP INDEX "{name}"')
        yield
        t0 = time.perf_counter()
        _say(progress, f"building {len(dropped)} indexes again")
        for pragma in (
            f"threads = {os.cpu_count() or 2}",  # the sorter's helper threads
            "cache_size = -1000000",
            "mmap_size = 68719476736",
            "journal_mode = OFF",
            "synchronous = OFF",
        ):
            conn.execute(f"PRAGMA {pragma}")
        for _name, sql in dropped:
            conn.execute(sql)
        conn.execute(f"PRAGMA journal_mode = {mode}")
        result.index_seconds = time.perf_counter() - t0
    finally:
        conn.close()
        engine.dispose()


def _finish(engine: Engine, seqs: dict[str, int], pg: bool) -> None:
    """Bring the number sequences up to date; fresh planner statistics."""
    with engine.begin() as conn:
        rows = [{"prefix": p, "last": v} for p, v in seqs.items()]
        conn.execute(text("DELETE FROM case_number_seq"))
        for start in range(0, len(rows), 5000):
            conn.execute(
                text("INSERT INTO case_number_seq (prefix, last) VALUES (:prefix, :last)"),
                rows[start : start + 5000],
            )
        if pg:
            for table in TABLES:
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                  f"(SELECT coalesce(max(id), 1) FROM {table}))"))  # fmt: skip
    if pg:  # VACUUM too: sets the visibility map, as autovacuum would in a live database,
        # so that the covering indexes are read without the table (index-only scans)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f"VACUUM (ANALYZE) {', '.join(TABLES)}"))
    else:
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
