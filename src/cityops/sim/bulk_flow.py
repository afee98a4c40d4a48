"""Bulk history, step 1: what happens to every case of a batch, as NumPy arrays (no text yet).

The case loop of ``sim/flow.py`` with its shares, delays, working calendar and centre hours,
vectorised. Every case follows one chain of possible events (``KINDS``): a 核查 check first
(half of public and hotline reports), then void, merge as a duplicate, close as self-handled or
register; auto-dispatch by the responsibility list or a dispatcher's dispatch, sometimes to the
wrong department, which returns it; accept and assign; an extension asked and approved or
rejected, or a suspension asked, granted and lifted; report done; verification, failed before a
rework and a second round; close. Each optional event is drawn with its probability and each
instant is the previous one plus a delay (working minutes for departments and supervisors, the
centre's shift hours for acceptors and dispatchers, shares of the time limit for handling).
Events after ``end`` have not happened, so the history ends with cases open in every stage, some
overdue. Two events float: an urge (催办) after the handling deadline of a late case, and a
leader's 督办 on some dispatched cases; they fall where their instant lands.

The instants are whole seconds since the epoch (the log's ISO instants carry no fraction).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray

from cityops.core.clock import CalendarNotCovered, TimeLimit, TimeUnit, WorkingCalendar
from cityops.sim.flow import HOTLINE_BY_HOUR, PUBLIC_BY_HOUR

I64 = NDArray[np.int64]
F64 = NDArray[np.float64]
B = NDArray[np.bool_]

# --- shares, as in sim/flow.py's FlowConfig defaults -----------------------------------------------
SHARE_PATROL, SHARE_PUBLIC = 0.6, 0.25  # the rest: 12345 hotline
P_SELF_HANDLED = 0.10  # of patrol reports (of the types a supervisor can fix on the spot)
P_VOID = 0.05  # ×1.6 for public and hotline reports, ×0.4 for patrol
P_DUPLICATE = 0.03 * 2.2  # of public and hotline reports: the same problem again, nearby
P_CHECK, P_CHECK_FAILS = 0.5, 0.12
P_RETURN, P_REWORK, P_EXTENSION, P_EXTENSION_OK = 0.03, 0.04, 0.02, 0.85
P_SUSPENSION, P_SUPERVISE, P_URGE_LATE = 0.01, 0.01, 0.5
CENTRE_HOURS = (7 * 60 + 30, 22 * 60 + 30)  # minutes of the local day the centre works
SUSPENSION_DAYS = (2.0, 9.0)
DUPLICATE_WINDOW_S = 20 * 3600

# --- event kinds, in chain order (ties at one instant keep this order) -----------------------------
KINDS = (
    "report",
    "request_check",
    "complete_check",
    "void",
    "merge_duplicate",
    "self_close",
    "register",
    "dispatch_wrong",  # to a department that is not responsible …
    "return",  # … which gives it back
    "dispatch",  # to the responsible department (by the responsibility list or a dispatcher)
    "accept",
    "assign",
    "request_extension",
    "approve_extension",
    "reject_extension",
    "request_suspension",
    "suspend",
    "resume",
    "urge",
    "report_done",
    "request_verify",
    "complete_verify",
    "rework",
    "report_done_2",
    "request_verify_2",
    "complete_verify_2",
    "close",
    "supervise",  # floats: a leader's 督办 wherever its instant falls
)
K = {name: i for i, name in enumerate(KINDS)}
N_KINDS = len(KINDS)
# The states each kind moves a case between (None: the state it finds, for the floating ones).
FROM_TO: dict[str, tuple[str | None, str | None]] = {
    "report": (None, "reported"),
    "request_check": ("reported", "reported"),
    "complete_check": ("reported", "reported"),
    "void": ("reported", "voided"),
    "merge_duplicate": ("reported", "closed"),
    "self_close": ("reported", "closed"),
    "register": ("reported", "pending_dispatch"),
    "dispatch_wrong": ("pending_dispatch", "dispatched"),
    "return": ("dispatched", "pending_dispatch"),
    "dispatch": ("pending_dispatch", "dispatched"),
    "accept": ("dispatched", "handling"),
    "assign": ("handling", "handling"),
    "request_extension": ("handling", "handling"),
    "approve_extension": ("handling", "handling"),
    "reject_extension": ("handling", "handling"),
    "request_suspension": ("handling", "handling"),
    "suspend": ("handling", "suspended"),
    "resume": ("suspended", "handling"),
    "urge": ("handling", "handling"),
    "report_done": ("handling", "handled"),
    "request_verify": ("handled", "verifying"),
    "complete_verify": ("verifying", "verifying"),
    "rework": ("verifying", "handling"),
    "report_done_2": ("handling", "handled"),
    "request_verify_2": ("handled", "verifying"),
    "complete_verify_2": ("verifying", "verifying"),
    "close": ("verifying", "closed"),
    "supervise": (None, None),
}
# Who holds the case after an event, for the notifications of a floating 督办:
# 0 nobody, 1 the department it was dispatched to first, 2 the responsible one, 3 the handler.
HOLDER_AFTER = np.array(
    [
        {"dispatch_wrong": 1, "dispatch": 2, "accept": 2}.get(k, 3 if K[k] >= K["assign"] else 0)
        for k in KINDS
    ],
    dtype=np.int8,
)

# --- stage clock runs, in the order a case starts them ---------------------------------------------
RUNS = ("register", "dispatch", "handling", "dispatch", "handling", "verify", "handling", "verify")
R_REG, R_DIS1, R_HANW, R_DIS2, R_HAN, R_VER1, R_HANR, R_VER2 = range(8)
N_RUNS = len(RUNS)


class WorkMinutes:
    """Cumulative working minutes per minute of a period: working-time deadlines, vectorised.

    Minute resolution; 工作日 counts as 8 working hours (the real clock counts positions in the
    working day); days the holiday data does not cover work Monday to Friday.
    """

    def __init__(self, clock: WorkingCalendar, first: date, last: date) -> None:
        self.origin = int(datetime(first.year, first.month, first.day, tzinfo=UTC).timestamp())
        days = (last - first).days + 1
        working = np.zeros(days * 1440, dtype=np.int8)
        for d in range(days):
            day = first + timedelta(days=d)
            try:
                periods = clock.periods_on(day)
            except CalendarNotCovered:
                periods = clock.config.periods_for(day) if day.weekday() < 5 else ()
            for p in periods:
                a = datetime.combine(day, p.start, clock.tz).timestamp()
                b = datetime.combine(day, p.end, clock.tz).timestamp()
                i, j = (int(a) - self.origin) // 60, (int(b) - self.origin) // 60
                working[max(i, 0) : max(min(j, days * 1440), 0)] = 1
        self.cum = np.concatenate(([0], np.cumsum(working, dtype=np.int64)))
        self.size = len(working)

    def _idx(self, t: I64) -> I64:
        return np.clip((t - self.origin) // 60, 0, self.size)

    def add(self, start: I64, minutes: F64) -> I64:
        """The earliest instant with ``minutes`` working minutes counted from ``start``."""
        target = self.cum[self._idx(start)] + np.ceil(minutes).astype(np.int64)
        pos = np.minimum(np.searchsorted(self.cum, target, side="left"), self.size)
        out: I64 = np.maximum(self.origin + pos * 60, start)
        return out

    def between(self, a: I64, b: I64) -> I64:
        """Working minutes in [a, b)."""
        out: I64 = np.maximum(self.cum[self._idx(b)] - self.cum[self._idx(a)], 0)
        return out


def limit_minutes(limit: TimeLimit) -> tuple[float, bool]:
    """(minutes, counted in working time?) of a limit."""
    per = {
        TimeUnit.working_minute: 1,
        TimeUnit.working_hour: 60,
        TimeUnit.working_day: 480,
        TimeUnit.natural_minute: 1,
        TimeUnit.natural_hour: 60,
        TimeUnit.natural_day: 1440,
        TimeUnit.urgent_hour: 60,
    }[limit.unit]
    return float(limit.amount) * per, limit.unit.is_working


@dataclass
class FlowModel:
    """What the flow needs of the city, as arrays (built once, see ``sim/bulk.py``)."""

    grid_p: F64  # probability of a report in each unit grid
    grid_box: F64  # (grids, 4) bounds
    grid_geom: NDArray[Any]  # shapely polygons
    grid_inner: F64  # (grids, 2) a point inside each grid
    grid_district: NDArray[np.int32]  # index into the districts
    grid_sup: I64  # the grid's supervisor (user id)
    type_p_patrol: F64
    type_p_public: F64
    type_self_handle: B
    # (type, condition) combinations: every condition of a type's standard, with its limit.
    combo_first: NDArray[np.int32]  # first combo of each type
    combo_cum: F64  # (types, max conditions) cumulative choice weights (0.8^i), padded with 1
    combo_limit_min: F64
    combo_limit_working: B
    combo_extra_min: F64  # an extension asked: 1工作日, or 2 for limits in 工作日
    dept: NDArray[np.int32]  # (types, districts) responsible department (index)
    auto: B  # (types, districts) dispatched automatically by the responsibility list
    dept_user: I64  # per department
    dept_handlers: I64  # (departments, max handlers), padded with the first
    dept_handler_count: I64
    dept_speed: F64  # (departments, 2): median share of the limit used, sigma
    acceptors: I64
    dispatchers: I64
    leaders: I64
    reg_limit: tuple[float, bool]
    dis_limit: tuple[float, bool]
    ver_limit: tuple[float, bool]
    work: WorkMinutes
    utc_offset: int  # seconds, the city's (fixed) offset


@dataclass
class Flow:
    """One batch of cases: per-case draws and instants, the events that happened, the runs."""

    n: int
    ids: I64
    t0: I64  # reported at
    grid: I64
    lon: F64
    lat: F64
    typ: I64
    combo: I64
    source: NDArray[np.int8]  # 0 patrol, 1 public, 2 hotline
    reporter: I64  # 0: a member of the public
    sup: I64
    dept_first: NDArray[np.int32]  # where the first dispatch sent it (== dept unless returned)
    dept: NDArray[np.int32]  # the responsible department
    handler: I64
    parent: NDArray[np.int64]  # merged into this case (index in the batch, -1 none)
    check_ok: B
    verify_ok: B  # the first verification passes (no rework)
    auto: B
    pick: NDArray[np.int64]  # (n, 8) random choices of texts (reasons, roads, names)
    t: I64  # (n, kinds) instant of each kind (meaningful where ``on``)
    on: B  # (n, kinds) the event is part of the case's chain
    happened: B  # (n, kinds) … and took place by the end
    actor: I64  # (n, kinds) who acted (0: nobody — the public, the system)
    # Stage clock runs (n, runs): start, deadline and warning instant as started.
    run_start: I64
    run_due: I64
    run_warn: I64
    # The responsible handling run re-dated by an approved extension or a resumption.
    han_due2: I64
    han_warn2: I64
    # Events that happened, in (case, seq) order.
    ev_case: NDArray[np.int64]
    ev_kind: NDArray[np.int64]
    ev_t: I64
    ev_seq: I64
    ev_from: NDArray[np.int64]  # index into STATES
    ev_to: NDArray[np.int64]
    ev_holder: NDArray[np.int8]  # for a floating 督办: who holds the case (HOLDER_AFTER)
    last: NDArray[np.int64]  # per case: index of its last event in ev_*


STATES = (
    "reported",
    "pending_dispatch",
    "dispatched",
    "handling",
    "handled",
    "verifying",
    "suspended",
    "closed",
    "voided",
)
S = {s: i for i, s in enumerate(STATES)}


def _pick(rng: np.random.Generator, pool: I64, n: int) -> I64:
    if len(pool) == 0:
        return np.zeros(n, dtype=np.int64)
    return pool[rng.integers(0, len(pool), n)]


def _report_instants(
    rng: np.random.Generator, day: I64, source: NDArray[np.int64], end: int, utc_offset: int
) -> I64:
    """Instants of the reports made on ``day`` (local midnights): supervisors in the working
    periods, the public and the hotline by hour of day (``sim.flow`` profiles)."""
    n = len(day)
    hour_p = {
        1: np.array(PUBLIC_BY_HOUR) / sum(PUBLIC_BY_HOUR),
        2: np.array(HOTLINE_BY_HOUR) / sum(HOTLINE_BY_HOUR),
    }
    tod = np.zeros(n, dtype=np.int64)
    for src, p in hour_p.items():
        sel = source == src
        tod[sel] = rng.choice(24, int(sel.sum()), p=p) * 3600
    minute = rng.integers(0, 480, n)  # 08:00–12:00 and 14:00–18:00
    patrol_tod = (8 * 60 + minute + np.where(minute >= 240, 120, 0)) * 60
    tod = np.where(source == 0, patrol_tod, tod) + rng.integers(0, 3600, n) * (source != 0)
    tod += rng.integers(0, 60, n) * (source == 0)
    t0 = day - utc_offset + tod
    # The last day is cut at the end: those reports fall somewhere before it.
    late = t0 > end
    lo = np.maximum(day - utc_offset, end - 86400)
    out: I64 = np.where(late, lo + (rng.random(n) * (end - lo + 1)).astype(np.int64), t0)
    return out


def simulate(m: FlowModel, rng: np.random.Generator, day: I64, first_id: int, end: int) -> Flow:
    """The flow of one case for each entry of ``day`` (the local midnight of the day it is
    reported), cut at ``end``. Cases are numbered from ``first_id`` in order of report."""
    n = len(day)
    exp, uni, lognorm = rng.exponential, rng.uniform, rng.lognormal
    u = rng.random(n)
    source = np.where(u < SHARE_PATROL, 0, np.where(u < SHARE_PATROL + SHARE_PUBLIC, 1, 2))
    t0 = _report_instants(rng, day, source, end, m.utc_offset)
    order = np.argsort(t0, kind="stable")
    t0, source = t0[order], source[order]
    ids = np.arange(first_id, first_id + n, dtype=np.int64)

    def working(t: I64, minutes: F64) -> I64:
        return m.work.add(t, np.maximum(minutes, 0.5))

    def centre(t: I64, minutes: F64 | float) -> I64:
        """``minutes`` later, or the start of the centre's next shift (+ a few minutes)."""
        t = t + (np.maximum(minutes, 0.5) * 60).astype(np.int64)
        local = t + m.utc_offset
        minute = (local % 86400) // 60
        opens, closes = CENTRE_HOURS
        closed = (minute < opens) | (minute >= closes)
        opening = (
            local
            - local % 86400
            + opens * 60
            + np.where(minute >= closes, 86400, 0)
            - m.utc_offset
            + (exp(12, len(t)) * 60).astype(np.int64)
        )
        return np.where(closed, opening, t)

    # -- what is reported, where, by whom ---------------------------------------------------------
    patrol = source == 0
    grid = rng.choice(len(m.grid_p), n, p=m.grid_p)
    typ = np.where(
        patrol,
        rng.choice(len(m.type_p_patrol), n, p=m.type_p_patrol),
        rng.choice(len(m.type_p_public), n, p=m.type_p_public),
    )
    box = m.grid_box[grid]
    lon = np.round(box[:, 0] + rng.random(n) * (box[:, 2] - box[:, 0]), 7)
    lat = np.round(box[:, 1] + rng.random(n) * (box[:, 3] - box[:, 1]), 7)
    # A point of the grid's bbox may lie outside the grid (edge grids): use a point inside.
    outside = ~shapely.contains_xy(m.grid_geom[grid], lon, lat)
    lon = np.where(outside, np.round(m.grid_inner[grid, 0], 7), lon)
    lat = np.where(outside, np.round(m.grid_inner[grid, 1], 7), lat)

    # The same problem reported again by the public: a recent case's type and place, a few metres
    # away; the acceptor merges it.
    span = int(t0[-1] - t0[0]) + 1 if n else 1
    recent = max(1, int(DUPLICATE_WINDOW_S * n / span))
    parent = np.arange(n) - rng.integers(1, recent + 1, n)
    pi = np.maximum(parent, 0)
    u_self = rng.random(n)
    self_share = float(m.type_p_patrol[m.type_self_handle].sum()) or 1.0
    selfh = patrol & m.type_self_handle[typ] & (u_self < P_SELF_HANDLED / self_share)
    dup = (~patrol) & (rng.random(n) < P_DUPLICATE) & (parent >= 0)
    # … of a report still open (not closed on the spot), from the last 20 hours.
    dup &= ~selfh[pi] & (t0 - t0[pi] <= DUPLICATE_WINDOW_S)
    parent = np.where(dup, parent, -1)
    jx = rng.uniform(-15, 15, n) / 91_500
    jy = rng.uniform(-15, 15, n) / 111_000
    # A duplicate of a duplicate is merged into the first report (parents come earlier).
    while True:
        pi = np.maximum(parent, 0)
        chained = dup & dup[pi]
        if not chained.any():
            break
        parent = np.where(chained, parent[pi], parent)
    typ = np.where(dup, typ[pi], typ)
    grid = np.where(dup, grid[pi], grid)
    dlon, dlat = np.round(lon[pi] + jx, 7), np.round(lat[pi] + jy, 7)
    inside = shapely.contains_xy(m.grid_geom[grid], dlon, dlat)
    lon = np.where(dup, np.where(inside, dlon, lon[pi]), lon)
    lat = np.where(dup, np.where(inside, dlat, lat[pi]), lat)
    district = m.grid_district[grid]
    sup = m.grid_sup[grid]
    hotline_acceptor = _pick(rng, m.acceptors, n)
    reporter = np.where(patrol, sup, np.where(source == 2, hotline_acceptor, 0))

    # The condition registered: the standard's first 80 % of the time, then the next ones.
    cond = (rng.random(n)[:, None] > m.combo_cum[typ]).sum(axis=1)
    combo = m.combo_first[typ] + cond
    limit_min = m.combo_limit_min[combo]
    limit_working = m.combo_limit_working[combo]

    # -- which path -----------------------------------------------------------------------------
    check = (~patrol) & ~dup & (rng.random(n) < P_CHECK)
    check_ok = rng.random(n) >= P_CHECK_FAILS
    p_void = np.where(patrol, P_VOID * 0.4, P_VOID * 1.6)
    void = ~selfh & ~dup & np.where(check, ~check_ok, rng.random(n) < p_void)
    normal = ~(selfh | dup | void)
    dept = m.dept[typ, district]
    auto = normal & m.auto[typ, district]
    n_depts = len(m.dept_user)
    ret = normal & ~auto & (rng.random(n) < P_RETURN) & (n_depts > 1)
    other = (dept + rng.integers(1, max(n_depts, 2), n)) % max(n_depts, 1)
    dept_first = np.where(ret, other, dept).astype(np.int32)
    handler = m.dept_handlers[dept, rng.integers(0, 1 << 30, n) % m.dept_handler_count[dept]]
    rework = normal & (rng.random(n) < P_REWORK)
    ext = normal & (rng.random(n) < P_EXTENSION)
    ext_ok = rng.random(n) < P_EXTENSION_OK
    susp = normal & ~ext & (rng.random(n) < P_SUSPENSION)
    supervise = normal & (rng.random(n) < P_SUPERVISE) & (len(m.leaders) > 0)
    urge_draw = rng.random(n) < P_URGE_LATE

    def deadline(start: I64, minutes: F64, wk: B) -> I64:
        natural = start + np.round(minutes * 60).astype(np.int64)
        return np.where(wk, m.work.add(start, minutes), natural)

    def share_of(start: I64, share: F64) -> I64:
        return deadline(start, limit_min * np.clip(share, 0.01, 3.0), limit_working)

    def stage(start: I64, limit: tuple[float, bool], share: float = 1.0) -> I64:
        return deadline(start, np.full(n, limit[0] * share), np.full(n, limit[1]))

    # -- instants --------------------------------------------------------------------------------
    t = np.zeros((n, N_KINDS), dtype=np.int64)
    on = np.zeros((n, N_KINDS), dtype=bool)
    t[:, K["report"]], on[:, K["report"]] = t0, True
    intake = centre(t0, exp(np.where(patrol, 6.0, 8.0)))
    t_cc = working(intake, lognorm(math.log(40), 0.6, n))
    decide = np.where(check, centre(t_cc, exp(8.0, n)), intake)
    t[:, K["request_check"]], on[:, K["request_check"]] = intake, check
    t[:, K["complete_check"]], on[:, K["complete_check"]] = t_cc, check
    t[:, K["void"]], on[:, K["void"]] = decide, void
    t[:, K["merge_duplicate"]], on[:, K["merge_duplicate"]] = intake, dup
    t[:, K["self_close"]], on[:, K["self_close"]] = t0, selfh
    t_reg = decide
    t[:, K["register"]], on[:, K["register"]] = t_reg, normal
    t_d1 = np.where(auto, t_reg, centre(t_reg, exp(6.0, n)))
    t_ret = working(t_d1, exp(40.0, n))
    t_disp = np.where(ret, centre(t_ret, exp(10.0, n)), t_d1)
    t[:, K["dispatch_wrong"]], on[:, K["dispatch_wrong"]] = t_d1, ret
    t[:, K["return"]], on[:, K["return"]] = t_ret, ret
    t[:, K["dispatch"]], on[:, K["dispatch"]] = t_disp, normal
    t_acc = working(t_disp, lognorm(math.log(20), 0.7, n))
    t_as = working(t_acc, uni(1, 15, n))
    t[:, K["accept"]], on[:, K["accept"]] = t_acc, normal
    t[:, K["assign"]], on[:, K["assign"]] = t_as, normal
    median, sigma = m.dept_speed[dept, 0], m.dept_speed[dept, 1]
    share = np.exp(np.log(median) + sigma * rng.standard_normal(n))
    share = np.where(ext, np.maximum(share, uni(1.05, 1.5, n)), share)
    t_done = np.maximum(share_of(t_disp, share), working(t_as, np.full(n, 10.0)))
    # Extension: asked at 60 % of the limit, decided by a dispatcher within the hour or so.
    t_rx = np.maximum(share_of(t_disp, np.full(n, 0.6)), working(t_as, np.full(n, 5.0)))
    t_dx = centre(t_rx, uni(10, 90, n))
    t[:, K["request_extension"]], on[:, K["request_extension"]] = t_rx, ext
    t[:, K["approve_extension"]], on[:, K["approve_extension"]] = t_dx, ext & ext_ok
    t[:, K["reject_extension"]], on[:, K["reject_extension"]] = t_dx, ext & ~ext_ok
    t_done = np.where(ext, np.maximum(t_done, t_dx + 60), t_done)
    # Suspension: asked at 30 % of the limit, granted, lifted 2–9 days later; then the rest.
    t_rs = np.maximum(share_of(t_disp, np.full(n, 0.3)), working(t_as, np.full(n, 5.0)))
    t_sp = centre(t_rs, uni(15, 120, n))
    t_rsm = centre(t_sp + (uni(*SUSPENSION_DAYS, n) * 86400).astype(np.int64), 0.0)
    t[:, K["request_suspension"]], on[:, K["request_suspension"]] = t_rs, susp
    t[:, K["suspend"]], on[:, K["suspend"]] = t_sp, susp
    t[:, K["resume"]], on[:, K["resume"]] = t_rsm, susp
    t_done = np.where(susp, np.maximum(share_of(t_rsm, uni(0.2, 0.7, n)), t_rsm + 60), t_done)
    # Urge: half of the late cases, a few hours after the deadline, if still not done.
    han_due = deadline(t_disp, limit_min, limit_working)
    t_urge = np.maximum(centre(han_due, uni(30, 240, n)), t_as)
    urge = normal & ~ext & ~susp & (t_done > han_due) & urge_draw & (t_urge < t_done)
    t[:, K["urge"]], on[:, K["urge"]] = t_urge, urge
    t[:, K["report_done"]], on[:, K["report_done"]] = t_done, normal
    t_rv = centre(t_done, exp(15.0, n))
    t_v = working(t_rv, lognorm(math.log(45), 0.6, n))
    t_next = centre(t_v, exp(12.0, n))
    t[:, K["request_verify"]], on[:, K["request_verify"]] = t_rv, normal
    t[:, K["complete_verify"]], on[:, K["complete_verify"]] = t_v, normal
    t[:, K["rework"]], on[:, K["rework"]] = t_next, rework
    t_done2 = np.maximum(share_of(t_next, uni(0.1, 0.6, n)), t_next + 60)
    t_rv2 = centre(t_done2, exp(15.0, n))
    t_v2 = working(t_rv2, lognorm(math.log(45), 0.6, n))
    t[:, K["report_done_2"]], on[:, K["report_done_2"]] = t_done2, rework
    t[:, K["request_verify_2"]], on[:, K["request_verify_2"]] = t_rv2, rework
    t[:, K["complete_verify_2"]], on[:, K["complete_verify_2"]] = t_v2, rework
    t_close = np.where(rework, centre(t_v2, exp(12.0, n)), t_next)
    t[:, K["close"]], on[:, K["close"]] = t_close, normal
    t_sv = centre(t_disp + (uni(2, 30, n) * 3600).astype(np.int64), 0.0)
    t[:, K["supervise"]], on[:, K["supervise"]] = t_sv, supervise & (t_sv < t_close)
    happened = on & (t <= end)

    # -- who acted -------------------------------------------------------------------------------
    actor = np.zeros((n, N_KINDS), dtype=np.int64)
    acc = {
        k: _pick(rng, m.acceptors, n)
        for k in ("check", "void", "merge", "register", "rv", "rv2", "close")
    }
    dis = {k: _pick(rng, m.dispatchers, n) for k in ("d1", "d", "x", "s", "r", "u", "rw")}
    du, dw = m.dept_user[dept], m.dept_user[dept_first]
    for kind, who in (
        ("report", reporter),
        ("request_check", acc["check"]),
        ("complete_check", sup),
        ("void", acc["void"]),
        ("merge_duplicate", acc["merge"]),
        ("self_close", sup),
        ("register", acc["register"]),
        ("dispatch_wrong", dis["d1"]),
        ("return", dw),
        ("dispatch", np.where(auto, 0, dis["d"])),
        ("accept", du),
        ("assign", du),
        ("request_extension", du),
        ("approve_extension", dis["x"]),
        ("reject_extension", dis["x"]),
        ("request_suspension", du),
        ("suspend", dis["s"]),
        ("resume", dis["r"]),
        ("urge", dis["u"]),
        ("report_done", handler),
        ("request_verify", acc["rv"]),
        ("complete_verify", sup),
        ("rework", dis["rw"]),
        ("report_done_2", handler),
        ("request_verify_2", acc["rv2"]),
        ("complete_verify_2", sup),
        ("close", acc["close"]),
        ("supervise", _pick(rng, m.leaders, n)),
    ):
        actor[:, K[kind]] = who

    # -- stage clock runs --------------------------------------------------------------------------
    run_start = np.zeros((n, N_RUNS), dtype=np.int64)
    run_due = np.zeros((n, N_RUNS), dtype=np.int64)
    run_warn = np.zeros((n, N_RUNS), dtype=np.int64)
    for r, start, limit in (
        (R_REG, t0, m.reg_limit),
        (R_DIS1, t_reg, m.dis_limit),
        (R_DIS2, t_ret, m.dis_limit),
        (R_VER1, t_rv, m.ver_limit),
        (R_VER2, t_rv2, m.ver_limit),
    ):
        run_start[:, r] = start
        run_due[:, r] = stage(start, limit)
        run_warn[:, r] = stage(start, limit, 0.8)
    for r, start in ((R_HANW, t_d1), (R_HAN, t_disp), (R_HANR, t_next)):
        run_start[:, r] = start
        run_due[:, r] = deadline(start, limit_min, limit_working)
        run_warn[:, r] = deadline(start, limit_min * 0.8, limit_working)
    # Re-dated handling: an extension adds its days to the deadline and the warning instant
    # (core.workflow._redate: limit by limit from the start); a suspension moves them by the
    # time the clock stood still, when it stopped before them.
    due0, warn0 = run_due[:, R_HAN], run_warn[:, R_HAN]
    extra = m.combo_extra_min[combo]
    all_working = np.ones(n, dtype=bool)
    due_x = deadline(due0, extra, all_working)
    warn_x = deadline(warn0, extra * 0.8, all_working)
    worked = m.work.between(t_disp, t_sp)
    due_p = np.where(
        limit_working,
        m.work.add(t_rsm, np.maximum(limit_min - worked, 0)),
        due0 + (t_rsm - t_sp),
    )
    warn_p = np.where(
        limit_working,
        m.work.add(t_rsm, np.maximum(limit_min * 0.8 - worked, 0)),
        warn0 + (t_rsm - t_sp),
    )
    due_p = np.where(due0 <= t_sp, due0, due_p)
    warn_p = np.where(warn0 <= t_sp, warn0, warn_p)
    han_due2 = np.where(ext, due_x, np.where(susp, due_p, due0))
    han_warn2 = np.where(ext, warn_x, np.where(susp, warn_p, warn0))

    # -- the events that happened, in order --------------------------------------------------------
    ci, ki = np.nonzero(happened)
    et = t[ci, ki]
    order = np.lexsort((ki, et, ci))
    ci, ki, et = ci[order], ki[order], et[order]
    first = np.r_[True, ci[1:] != ci[:-1]] if len(ci) else np.zeros(0, dtype=bool)
    starts = np.nonzero(first)[0]
    seq = np.arange(len(ci)) - np.repeat(starts, np.diff(np.r_[starts, len(ci)])) + 1
    frm = np.array([S.get(FROM_TO[k][0] or "", -1) for k in KINDS])[ki]
    to = np.array([S.get(FROM_TO[k][1] or "", -1) for k in KINDS])[ki]
    holder = HOLDER_AFTER[ki]
    # A floating event takes the state and holder its predecessor left (cases do not start with
    # one, so the predecessor belongs to the same case).
    for i in np.nonzero(to < 0)[0]:
        to[i] = frm[i] = to[i - 1]
        holder[i] = holder[i - 1]
    last = np.r_[starts[1:], len(ci)] - 1
    pick = rng.integers(0, 1 << 20, (n, 8))
    return Flow(
        n=n,
        ids=ids,
        t0=t0,
        grid=grid,
        lon=lon,
        lat=lat,
        typ=typ,
        combo=combo,
        source=source.astype(np.int8),
        reporter=reporter,
        sup=sup,
        dept_first=dept_first,
        dept=dept.astype(np.int32),
        handler=handler,
        parent=parent,
        check_ok=check_ok,
        verify_ok=~rework,
        auto=auto,
        pick=pick,
        t=t,
        on=on,
        happened=happened,
        actor=actor,
        run_start=run_start,
        run_due=run_due,
        run_warn=run_warn,
        han_due2=han_due2,
        han_warn2=han_warn2,
        ev_case=ci,
        ev_kind=ki,
        ev_t=et,
        ev_seq=seq,
        ev_from=frm,
        ev_to=to,
        ev_holder=holder,
        last=last,
    )
