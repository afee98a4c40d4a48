"""Bulk history for benchmarks: millions of cases in the row shapes the services write, fast.

Not through the services (they manage a few hundred calls a second, see docs/simulation.md): the
rows are computed with NumPy in batches and written with PostgreSQL ``COPY`` (psycopg
``cursor.copy``) or SQLite ``executemany`` on the raw connection, one transaction per batch.

What is written per case, as the services would have: the ``cases`` row (number, state, type and
condition, position and grid codes, department, handler, reporter, stamps, open stage with its
deadline and warning instant), one ``case_stage`` row per stage clock started (register,
dispatch, handling, verify), one ``case_log`` row per action taken (report, register, dispatch,
accept, assign, report_done, request_verify, complete_verify, close — or void, merge_duplicate,
close as self-handled), and the supervisor's verify ``task``. Case numbers continue the
per-district, per-day sequences (``case_number_seq`` is brought up to date).

Simplifications, documented so nobody mistakes the history for an audit trail:

- **No hash chain.** Log rows carry ``prev_hash = hash = BULK_HASH`` and the entry
  ``{"bulk": true, …}``; ``services.cases.verify_case`` reports such rows as bulk-generated instead
  of as tampering. Hashing 8 log rows per case would cost more than everything else together.
- Deadlines use the working calendar at minute resolution (a table of cumulative working minutes
  per minute of the period, so 工作时/工作分钟 are exact to the minute; 工作日 counts as 8 working
  hours); no suspensions, extensions, returns or reworks; no outbox events.
- Cases are spread uniformly over ``cases / per_day`` days ending at ``end``; a case whose next
  step would fall after ``end`` is open in that stage, so the queues hold about as many open
  cases as a real centre (a few days' intake).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from sqlalchemy import Engine, Index, func, select, text
from sqlalchemy.orm import Session

from cityops.core.clock import CalendarNotCovered, TimeLimit, TimeUnit
from cityops.services import cityconfig
from cityops.services.calendar import city_clock
from cityops.services.cases import BULK_HASH
from cityops.services.rules import rule_set
from cityops.sim.city import GridSampler, staff_of
from cityops.sim.flow import TYPES
from cityops.store.schema import Base, Case, CaseNumberSeq, CaseStandardRow, OrgUnit, User

_US = 1_000_000
_MIN = 60 * _US

# Outcomes: share of cases, and the actions each takes (normal cases stop where ``end`` cuts).
OUTCOMES = ("normal", "self_handled", "void", "duplicate")
OUTCOME_P = (0.86, 0.06, 0.05, 0.03)
NORMAL_STEPS = (
    ("report", None, "reported"),
    ("register", "reported", "pending_dispatch"),
    ("dispatch", "pending_dispatch", "dispatched"),
    ("accept", "dispatched", "handling"),
    ("assign", "handling", "handling"),
    ("report_done", "handling", "handled"),
    ("request_verify", "handled", "verifying"),
    ("complete_verify", "verifying", "verifying"),
    ("close", "verifying", "closed"),
)
STAGE_OF_STATE = {
    "reported": "register",
    "pending_dispatch": "dispatch",
    "dispatched": "handling",
    "handling": "handling",
    "verifying": "verify",
}
ROLE_OF_STEP = {
    "report": "supervisor",
    "register": "acceptor",
    "dispatch": "dispatcher",
    "accept": "department",
    "assign": "department",
    "report_done": "handler",
    "request_verify": "acceptor",
    "complete_verify": "supervisor",
    "close": "acceptor",
    "void": "acceptor",
    "merge_duplicate": "acceptor",
}

CASE_COLS = (
    "id", "number", "state", "version", "source", "type_code", "condition", "handling_limit",
    "description", "address", "lon", "lat", "grid_code", "community_code", "street_code",
    "district_code", "department", "handler_id", "reporter_id", "reporter_name",
    "reporter_phone", "reporter_contact", "urgent", "self_handled", "returns", "reworks",
    "extensions", "urges", "supervisions", "reported_at", "registered_at", "dispatched_at",
    "handled_at", "closed_at", "close_reason", "stage", "warn_at", "due_at", "paused",
    "updated_at", "rating_comment", "verify_result", "parent_id", "task_kind",
    "task_assignee_id", "task_opened_at",
)  # fmt: skip
STAGE_COLS = (
    "case_id", "stage", "started_at", "time_limit", "due_at", "warn_at", "ended_at", "pauses",
)  # fmt: skip
LOG_COLS = (
    "case_id", "seq", "action", "at", "actor_id", "actor_role", "from_state", "to_state",
    "entry", "prev_hash", "hash",
)  # fmt: skip
TASK_COLS = (
    "case_id",
    "kind",
    "assignee_id",
    "opened_at",
    "due_at",
    "completed_at",
    "result",
    "note",
)


@dataclass(frozen=True)
class BulkConfig:
    cases: int
    end: datetime
    seed: int = 1
    per_day: int = 3000
    batch: int = 50_000
    # Drop the secondary indexes of the four tables and build them again at the end: much faster
    # for a large load into a fresh database; leaves them missing if the run is killed midway.
    defer_indexes: bool = False


@dataclass
class BulkResult:
    cases: int = 0
    logs: int = 0
    stages: int = 0
    tasks: int = 0
    seconds: float = 0.0

    @property
    def cases_per_s(self) -> float:
        return self.cases / self.seconds if self.seconds else 0.0


class WorkMinutes:
    """Cumulative working minutes per minute of a period: working-time deadlines, vectorised."""

    def __init__(self, session: Session, first: date, last: date) -> None:
        clock = city_clock(session)
        self.origin = int(datetime(first.year, first.month, first.day, tzinfo=UTC).timestamp())
        days = (last - first).days + 1
        working = np.zeros(days * 1440, dtype=np.int8)
        for d in range(days):
            day = first + timedelta(days=d)
            try:
                periods = clock.periods_on(day)
            except CalendarNotCovered:  # a year the holiday data lacks: Monday–Friday
                periods = clock.config.periods_for(day) if day.weekday() < 5 else ()
            for p in periods:
                a = datetime.combine(day, p.start, clock.tz).timestamp()
                b = datetime.combine(day, p.end, clock.tz).timestamp()
                i, j = (int(a) - self.origin) // 60, (int(b) - self.origin) // 60
                working[max(i, 0) : max(min(j, days * 1440), 0)] = 1
        self.cum = np.concatenate(([0], np.cumsum(working, dtype=np.int64)))
        self.limit_minutes = len(working)

    def add(self, start_us: NDArray[np.int64], minutes: NDArray[np.float64]) -> NDArray[np.int64]:
        """Instants ``minutes`` working minutes after ``start_us`` (µs since the epoch)."""
        idx = np.clip((start_us // _US - self.origin) // 60, 0, self.limit_minutes)
        target = self.cum[idx] + np.ceil(minutes).astype(np.int64)
        pos = np.searchsorted(self.cum, target, side="left")
        pos = np.minimum(pos, self.limit_minutes)
        return np.maximum((self.origin + pos * 60) * _US, start_us)


def _limit_minutes(limit: TimeLimit) -> tuple[float, bool]:
    """(minutes, counted in working time?) of a limit."""
    amount = float(limit.amount)
    unit = limit.unit
    if unit is TimeUnit.working_minute:
        return amount, True
    if unit is TimeUnit.working_hour:
        return amount * 60, True
    if unit is TimeUnit.working_day:
        return amount * 480, True
    if unit is TimeUnit.natural_minute:
        return amount, False
    if unit is TimeUnit.natural_day:
        return amount * 1440, False
    return amount * 60, False  # natural and urgent hours


def _ts(us: NDArray[np.int64], pg: bool) -> list[str | None]:
    """Timestamps as the databases store them: SQLite naive UTC text, PostgreSQL with +00."""
    s = np.datetime_as_string(us.astype("datetime64[us]"), unit="us")
    out = [v.replace("T", " ") + ("+00" if pg else "") for v in s.tolist()]
    return out


def _ts_or_none(us: NDArray[np.int64], pg: bool) -> list[str | None]:
    vals = _ts(np.where(us > 0, us, 0), pg)
    return [v if ok else None for v, ok in zip(vals, (us > 0).tolist(), strict=True)]


class _Model:
    """Everything loaded once: grids and their weights, types and limits, departments, staff."""

    def __init__(self, session: Session, cfg: BulkConfig, first: date, last: date) -> None:
        sampler = GridSampler(session, cfg.seed)
        self.grid_codes = np.array(sampler.codes, dtype=object)
        self.grid_box = sampler.bounds
        self.grid_geom = np.array(sampler.geoms, dtype=object)
        inner = shapely.point_on_surface(self.grid_geom)
        self.grid_inner = np.column_stack((shapely.get_x(inner), shapely.get_y(inner)))
        weights = np.zeros(len(sampler.codes))
        for w, comm in zip(sampler.weights, sampler.communities, strict=True):
            idx = sampler.by_community[comm]
            weights[idx] = w / len(idx)
        self.grid_p = weights / weights.sum()
        conds: dict[str, tuple[str, TimeLimit]] = {}
        for r in session.scalars(select(CaseStandardRow).order_by(CaseStandardRow.seq)):
            conds.setdefault(r.type_code, (r.condition, TimeLimit.parse(r.time_limit)))
        self.types = [t for t in TYPES if t.code in conds]
        mix = np.array([t.patrol + t.public for t in self.types], dtype=float)
        self.type_p = mix / mix.sum()
        self.type_code = [t.code for t in self.types]
        self.type_name = [t.name for t in self.types]
        self.condition = [conds[t.code][0] for t in self.types]
        self.limit_text = [str(conds[t.code][1]) for t in self.types]
        mins = [_limit_minutes(conds[t.code][1]) for t in self.types]
        self.limit_min = np.array([m for m, _ in mins])
        self.limit_working = np.array([wk for _, wk in mins])
        self.self_handle = np.array([t.self_handle for t in self.types])
        staff = staff_of(session)
        ids = dict(session.execute(select(User.username, User.id)).all())
        self.districts = sorted({c[:6] for c in sampler.codes})
        rules = rule_set(session)
        known = set(session.scalars(select(OrgUnit.code).where(OrgUnit.kind == "department")))
        fallback = sorted(staff.department_user)[0] if staff.department_user else None
        self.dept = np.empty((len(self.types), len(self.districts)), dtype=object)
        for i, t in enumerate(self.types):
            for j, d in enumerate(self.districts):
                s = rules.resolve(t.code, t.code[:2], d, None, None)
                dept = s.department if s.department in known else fallback
                self.dept[i, j] = dept if dept in staff.department_user else fallback
        self.dept_user = {d: ids[u] for d, u in staff.department_user.items()}
        self.handlers = {d: [ids[u] for u in us] for d, us in staff.handlers.items()}
        self.acceptors = np.array([ids[u] for u in staff.acceptors])
        self.dispatchers = np.array([ids[u] for u in staff.dispatchers])
        self.grid_sup = np.array(
            [ids.get(staff.grid_supervisor.get(c, ""), 0) for c in sampler.codes], dtype=np.int64
        )
        fallback_sup = ids[staff.supervisors[0]]
        self.grid_sup[self.grid_sup == 0] = fallback_sup
        self.work = WorkMinutes(session, first, last)
        limits = cityconfig.active().stage_limits
        self.register_min = _limit_minutes(limits.register)
        self.dispatch_min = _limit_minutes(limits.dispatch)
        self.verify_min = _limit_minutes(limits.verify)


def _deadline(
    model: _Model, start: NDArray[np.int64], minutes: NDArray[np.float64], working: NDArray[Any]
) -> NDArray[np.int64]:
    natural = start + (minutes * _MIN).astype(np.int64)
    if not working.any():
        return natural
    return np.where(working, model.work.add(start, minutes), natural)


def _stage_deadline(
    model: _Model, start: NDArray[np.int64], limit: tuple[float, bool], share: float = 1.0
) -> NDArray[np.int64]:
    minutes = np.full(len(start), limit[0] * share)
    return _deadline(model, start, minutes, np.full(len(start), limit[1]))


def generate(
    engine: Engine,
    config: BulkConfig,
    *,
    progress: Callable[[str], None] | None = None,
) -> BulkResult:
    """Write ``config.cases`` cases of history ending at ``config.end``."""
    t0 = time.perf_counter()
    days = max(1, math.ceil(config.cases / config.per_day))
    end_us = int(config.end.timestamp() * _US)
    start_us = end_us - days * 86_400 * _US
    first = (config.end - timedelta(days=days + 2)).astimezone(UTC).date()
    last = (config.end + timedelta(days=60)).astimezone(UTC).date()
    with Session(engine) as session:
        model = _Model(session, config, first, last)
        next_id = (session.scalar(select(func.max(Case.id))) or 0) + 1
        seqs = dict(session.execute(select(CaseNumberSeq.prefix, CaseNumberSeq.last)).all())
        tz = city_clock(session).tz
    pg = engine.dialect.name == "postgresql"
    deferred = _drop_indexes(engine) if config.defer_indexes else []
    rng = np.random.default_rng(config.seed)
    result = BulkResult()
    done = 0
    while done < config.cases:
        n = min(config.batch, config.cases - done)
        # Report instants: evenly through the history, jittered, in order (ids follow time).
        lo = start_us + (end_us - start_us) * done // config.cases
        hi = start_us + (end_us - start_us) * (done + n) // config.cases
        reported = np.sort(rng.integers(lo, max(hi, lo + 1), n))
        batch = _batch(model, rng, reported, next_id, end_us, seqs, tz, pg)
        _write(engine, batch, pg)
        result.cases += n
        result.logs += len(batch["log"])
        result.stages += len(batch["stage"])
        result.tasks += len(batch["task"])
        next_id += n
        done += n
        if progress:
            el = time.perf_counter() - t0
            progress(f"{done:,} cases, {result.logs:,} log rows, {done / el:,.0f} cases/s")
    if deferred:
        if progress:
            progress(f"building {len(deferred)} indexes again")
        with engine.begin() as conn:
            for index in deferred:
                index.create(conn)
    _finish(engine, seqs, pg)
    result.seconds = time.perf_counter() - t0
    return result


def _batch(
    model: _Model,
    rng: np.random.Generator,
    reported: NDArray[np.int64],
    first_id: int,
    end_us: int,
    seqs: dict[str, int],
    tz: Any,
    pg: bool,
) -> dict[str, list[tuple[Any, ...]]]:
    n = len(reported)
    ids = np.arange(first_id, first_id + n)
    grid = rng.choice(len(model.grid_codes), n, p=model.grid_p)
    box = model.grid_box[grid]
    lon = np.round(box[:, 0] + rng.random(n) * (box[:, 2] - box[:, 0]), 7)
    lat = np.round(box[:, 1] + rng.random(n) * (box[:, 3] - box[:, 1]), 7)
    # A point of the grid's bbox may lie outside the grid (edge grids): use a point inside.
    outside = ~shapely.contains_xy(model.grid_geom[grid], lon, lat)
    lon = np.where(outside, np.round(model.grid_inner[grid, 0], 7), lon)
    lat = np.where(outside, np.round(model.grid_inner[grid, 1], 7), lat)
    codes = model.grid_codes[grid]
    district = np.array([c[:6] for c in codes], dtype=object)
    d_idx = np.searchsorted(np.array(model.districts), district)
    typ = rng.choice(len(model.types), n, p=model.type_p)
    src_draw = rng.random(n)
    source = np.where(src_draw < 0.6, "patrol", np.where(src_draw < 0.85, "public", "hotline"))
    outcome = rng.choice(len(OUTCOMES), n, p=OUTCOME_P)
    # Self-handling only for patrol reports of simple problems; others become normal.
    selfh = (outcome == 1) & (source == "patrol") & model.self_handle[typ]
    outcome = np.where((outcome == 1) & ~selfh, 0, outcome)
    sup = model.grid_sup[grid]
    acceptor = model.acceptors[rng.integers(0, len(model.acceptors), n)]
    dispatcher = model.dispatchers[rng.integers(0, len(model.dispatchers), n)]
    reporter = np.where(source == "patrol", sup, np.where(source == "hotline", acceptor, 0))
    dept = model.dept[typ, d_idx]
    limit_min = model.limit_min[typ]
    working = model.limit_working[typ]

    # Step instants (µs); a step after end_us has not happened yet.
    exp = rng.exponential
    t = np.zeros((n, 9), dtype=np.int64)
    t[:, 0] = reported
    t[:, 1] = reported + (exp(7, n) * _MIN).astype(np.int64)
    t[:, 2] = t[:, 1] + (exp(6, n) * _MIN).astype(np.int64)
    t[:, 3] = model.work.add(t[:, 2], exp(25, n) + 1)
    t[:, 4] = t[:, 3] + ((rng.random(n) * 14 + 1) * _MIN).astype(np.int64)
    share = rng.lognormal(math.log(0.45), 0.6, n)
    done_at = _deadline(model, t[:, 2], limit_min * share, working)
    t[:, 5] = np.maximum(done_at, t[:, 4] + 10 * _MIN)
    t[:, 6] = t[:, 5] + (exp(15, n) * _MIN).astype(np.int64)
    t[:, 7] = model.work.add(t[:, 6], rng.lognormal(math.log(45), 0.6, n))
    t[:, 8] = t[:, 7] + (exp(12, n) * _MIN).astype(np.int64)
    steps = np.where(outcome == 0, (t <= end_us).sum(axis=1), 0)
    # Short outcomes: report + one action (void / merge / self-handled close) a few minutes later.
    short_at = reported + np.where(outcome == 1, 0, (exp(8, n) * _MIN).astype(np.int64))
    short_done = short_at <= end_us
    steps = np.where(outcome != 0, np.where(short_done, 2, 1), steps)

    handler = np.zeros(n, dtype=np.int64)
    dept_user = np.zeros(n, dtype=np.int64)
    for d in set(dept.tolist()):
        if d is None:
            continue
        mask = dept == d
        hs = np.array(model.handlers.get(d) or [model.dept_user[d]])
        handler[mask] = hs[rng.integers(0, len(hs), int(mask.sum()))]
        dept_user[mask] = model.dept_user[d]

    # Deadlines of each stage clock.
    reg_due = _stage_deadline(model, t[:, 0], model.register_min)
    reg_warn = _stage_deadline(model, t[:, 0], model.register_min, 0.8)
    dis_due = _stage_deadline(model, t[:, 1], model.dispatch_min)
    dis_warn = _stage_deadline(model, t[:, 1], model.dispatch_min, 0.8)
    han_due = _deadline(model, t[:, 2], limit_min, working)
    han_warn = _deadline(model, t[:, 2], limit_min * 0.8, working)
    ver_due = _stage_deadline(model, t[:, 6], model.verify_min)
    ver_warn = _stage_deadline(model, t[:, 6], model.verify_min, 0.8)

    # Case numbers: per district and local day, continuing the stored sequences.
    local_days = np.datetime_as_string(
        (reported + int(tz.utcoffset(datetime(2000, 1, 1)).total_seconds()) * _US).astype(
            "datetime64[us]"
        ),
        unit="D",
    )
    numbers: list[str] = []
    for dist, day in zip(district.tolist(), local_days.tolist(), strict=True):
        prefix = f"{dist}-{day.replace('-', '')}"
        seq = seqs.get(prefix, 0) + 1
        seqs[prefix] = seq
        numbers.append(f"{prefix}-{seq:04d}")

    ts = {k: _ts(t[:, k], pg) for k in range(9)}
    due = {
        "reg": (_ts(reg_due, pg), _ts(reg_warn, pg)),
        "dis": (_ts(dis_due, pg), _ts(dis_warn, pg)),
        "han": (_ts(han_due, pg), _ts(han_warn, pg)),
        "ver": (_ts(ver_due, pg), _ts(ver_warn, pg)),
    }
    short_ts = _ts(short_at, pg)
    reg_limit, dis_limit = (
        str(cityconfig.active().stage_limits.register),
        str(cityconfig.active().stage_limits.dispatch),
    )
    ver_limit = str(cityconfig.active().stage_limits.verify)

    case_rows: list[tuple[Any, ...]] = []
    stage_rows: list[tuple[Any, ...]] = []
    log_rows: list[tuple[Any, ...]] = []
    task_rows: list[tuple[Any, ...]] = []
    entry = json.dumps({"bulk": True})
    dispatch_entry = {
        d: json.dumps({"bulk": True, "sets": {"department": d}}) for d in set(dept.tolist())
    }
    lst = {
        "id": ids.tolist(),
        "typ": typ.tolist(),
        "src": source.tolist(),
        "out": outcome.tolist(),
        "steps": steps.tolist(),
        "code": codes.tolist(),
        "lon": lon.tolist(),
        "lat": lat.tolist(),
        "dept": dept.tolist(),
        "handler": handler.tolist(),
        "dept_user": dept_user.tolist(),
        "reporter": reporter.tolist(),
        "sup": sup.tolist(),
        "acc": acceptor.tolist(),
        "dis": dispatcher.tolist(),
    }
    false, true = (False, True)
    for i in range(n):
        cid = lst["id"][i]
        ti = lst["typ"][i]
        out = lst["out"][i]
        k = lst["steps"][i]
        src = lst["src"][i]
        code = lst["code"][i]
        rep = lst["reporter"][i] or None
        rep_role = {"patrol": "supervisor", "hotline": "acceptor"}.get(src, "public")
        actor = {
            "supervisor": lst["sup"][i],
            "acceptor": lst["acc"][i],
            "dispatcher": lst["dis"][i],
            "department": lst["dept_user"][i],
            "handler": lst["handler"][i],
        }
        # The log.
        log_rows.append(
            (cid, 1, "report", ts[0][i], rep, rep_role, None, "reported", entry, BULK_HASH,
             BULK_HASH)
        )  # fmt: skip
        state = "reported"
        close_reason = None
        closed_at = None
        if out == 0:
            for s in range(1, k):
                action, frm, to = NORMAL_STEPS[s]
                role = ROLE_OF_STEP[action]
                e = entry if s != 2 else dispatch_entry[lst["dept"][i]]
                log_rows.append(
                    (cid, s + 1, action, ts[s][i], actor[role], role, frm, to, e, BULK_HASH,
                     BULK_HASH)
                )  # fmt: skip
                state = to
            if k == 9:
                close_reason, closed_at = "normal", ts[8][i]
        elif k == 2:
            action, state, close_reason = {
                1: ("close", "closed", "self_handled"),
                2: ("void", "voided", None),
                3: ("merge_duplicate", "closed", "duplicate"),
            }[out]
            role = "supervisor" if out == 1 else "acceptor"
            log_rows.append(
                (cid, 2, action, short_ts[i], actor[role], role, "reported", state, entry,
                 BULK_HASH, BULK_HASH)
            )  # fmt: skip
            closed_at = short_ts[i]
        # Stage clocks started so far (ended when the next one started or the case closed).
        ended_reg = ts[1][i] if (out == 0 and k >= 2) else (short_ts[i] if k == 2 else None)
        stage_rows.append(
            (cid, "register", ts[0][i], reg_limit, due["reg"][0][i], due["reg"][1][i], ended_reg,
             "[]")
        )  # fmt: skip
        if out == 0 and k >= 2:
            stage_rows.append(
                (cid, "dispatch", ts[1][i], dis_limit, due["dis"][0][i], due["dis"][1][i],
                 ts[2][i] if k >= 3 else None, "[]")
            )  # fmt: skip
        if out == 0 and k >= 3:
            stage_rows.append(
                (cid, "handling", ts[2][i], model.limit_text[ti], due["han"][0][i],
                 due["han"][1][i], ts[5][i] if k >= 6 else None, "[]")
            )  # fmt: skip
        if out == 0 and k >= 7:
            stage_rows.append(
                (cid, "verify", ts[6][i], ver_limit, due["ver"][0][i], due["ver"][1][i],
                 ts[7][i] if k >= 8 else None, "[]")
            )  # fmt: skip
            task_rows.append(
                (cid, "verify", lst["sup"][i], ts[6][i], due["ver"][0][i],
                 ts[7][i] if k >= 8 else None, true if k >= 8 else None, "")
            )  # fmt: skip
        open_stage = STAGE_OF_STATE.get(state)
        stage_due: tuple[str | None, str | None] = (None, None)
        if open_stage == "register":
            stage_due = due["reg"][0][i], due["reg"][1][i]
        elif open_stage == "dispatch":
            stage_due = due["dis"][0][i], due["dis"][1][i]
        elif open_stage == "handling" and state != "handled":
            stage_due = due["han"][0][i], due["han"][1][i]
        elif open_stage == "verify":
            stage_due = due["ver"][0][i], due["ver"][1][i]
        registered = out == 0 and k >= 2
        case_rows.append(
            (
                cid, numbers[i], state, k, src,
                model.type_code[ti], model.condition[ti] if registered else None,
                model.limit_text[ti] if registered else None,
                f"批量生成：{model.type_name[ti]}", "", lst["lon"][i], lst["lat"][i], code,
                code[:12], code[:9], code[:6], lst["dept"][i] if k >= 3 and out == 0 else None,
                lst["handler"][i] if k >= 5 and out == 0 else None, rep, "", "", "", false,
                out == 1, 0, 0, 0, 0, 0, ts[0][i], ts[1][i] if registered else None,
                ts[2][i] if k >= 3 and out == 0 else None,
                ts[5][i] if k >= 6 and out == 0 else None, closed_at, close_reason,
                open_stage if stage_due[0] else None, stage_due[1], stage_due[0], false,
                ts[min(k, 9) - 1][i] if out == 0 else (short_ts[i] if k == 2 else ts[0][i]),
                "", true if out == 0 and k >= 8 else None, None,
                "verify" if out == 0 and k == 7 else None,
                lst["sup"][i] if out == 0 and k == 7 else None,
                ts[6][i] if out == 0 and k == 7 else None,
            )
        )  # fmt: skip
    return {"case": case_rows, "stage": stage_rows, "log": log_rows, "task": task_rows}


def _write(engine: Engine, batch: dict[str, list[tuple[Any, ...]]], pg: bool) -> None:
    tables = (
        ("cases", CASE_COLS, batch["case"]),
        ("case_stage", STAGE_COLS, batch["stage"]),
        ("case_log", LOG_COLS, batch["log"]),
        ("task", TASK_COLS, batch["task"]),
    )
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        if pg:
            cur.execute("SET synchronous_commit = off")
            for table, cols, rows in tables:
                with cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
        else:
            # A large page cache: the log's secondary indexes are updated out of order.
            cur.execute("PRAGMA cache_size = -1000000")
            for table, cols, rows in tables:
                marks = ", ".join("?" * len(cols))
                cur.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})", rows)
        raw.commit()
    finally:
        raw.close()


def _drop_indexes(engine: Engine) -> list[Index]:
    """The non-unique secondary indexes of the bulk tables, dropped (to be built again)."""
    dropped: list[Index] = []
    with engine.begin() as conn:
        for table in ("cases", "case_stage", "case_log", "task"):
            for index in sorted(Base.metadata.tables[table].indexes, key=lambda i: str(i.name)):
                if not index.unique:
                    conn.execute(text(f'DROP INDEX IF EXISTS "{index.name}"'))
                    dropped.append(index)
    return dropped


def _finish(engine: Engine, seqs: dict[str, int], pg: bool) -> None:
    """Bring the number sequences up to date; fresh planner statistics on PostgreSQL."""
    with engine.begin() as conn:
        rows = [{"prefix": p, "last": v} for p, v in seqs.items()]
        conn.execute(text("DELETE FROM case_number_seq"))
        for start in range(0, len(rows), 5000):
            conn.execute(
                text("INSERT INTO case_number_seq (prefix, last) VALUES (:prefix, :last)"),
                rows[start : start + 5000],
            )
        if pg:
            conn.execute(text("SELECT setval(pg_get_serial_sequence('cases', 'id'), "
                              "(SELECT max(id) FROM cases))"))  # fmt: skip
    if pg:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE cases, case_stage, case_log, task"))
    else:
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
