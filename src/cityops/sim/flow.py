"""A month of the case loop, as a discrete-event simulation through the real services.

Every event is one service call (``create_case``, ``act``, ``complete_task``, ``suggestion_for``)
with ``now=`` set to the simulated instant, in its own transaction; the priority queue holds the
next moves of every case in simulated time. Nothing is written to the tables directly, so the
log, the stage clocks, the tasks and the outbox are exactly what real staff would have produced,
and ``services.cases.verify_all`` passes on the result.

Realism (defaults of ``FlowConfig``, see docs/simulation.md):

- arrivals: supervisors patrol their responsibility grids on working days (fewer on days off),
  public reports follow an hour-of-day profile with evening peaks and more at weekends, 12345
  hotline transfers follow office hours; positions favour busy communities; phones report GCJ-02;
- a type mix (暴露垃圾, 乱堆杂物, 占道经营, 机动车乱停放, 非法小广告, 道路破损, 井盖, 路灯 …), the
  component types on a real component of the inventory;
- the command centre works shifts (07:30–22:30 every day), departments, handlers and supervisors
  the working calendar; handling takes a log-normal share of the standard's limit per department,
  some beyond it (overdue, then urged);
- shares: self-handled ~10 % of patrol reports, voids ~5 %, duplicates ~3 % (merged), check
  tasks for half the public reports, returns (wrong department) ~3 %, reworks ~4 %, extensions ~2 %,
  suspensions ~1 %, leader directives ~1 %.

Deterministic: one ``random.Random(seed)``; no wall clock (the end instant is a parameter). The
same seed, end and city give the same case numbers, states and log on SQLite and PostgreSQL.
"""

from __future__ import annotations

import heapq
import io
import math
import random
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from cityops.core.clock import CalendarNotCovered, TimeLimit, TimeUnit, WorkingCalendar
from cityops.core.errors import CityopsError
from cityops.geo.crs import Crs, transform
from cityops.services import cases
from cityops.services.attachments import save_upload
from cityops.services.calendar import city_clock
from cityops.sim.city import GridSampler, Staff, staff_of
from cityops.store.blobs import DiskBlobStore
from cityops.store.schema import Case, CaseStandardRow, Component, TaskRow, User


@dataclass(frozen=True)
class CaseType:
    code: str
    name: str
    patrol: float  # weight among supervisor reports
    public: float  # weight among public and hotline reports
    self_handle: bool = False  # a supervisor can fix it on the spot (劝离, 清理)
    component: bool = False  # reported on a component of the inventory


# A mix close to published monthly reports of city-management centres (市容环境 and 街面秩序 lead).
TYPES: tuple[CaseType, ...] = (
    CaseType("06010", "暴露垃圾", 16, 12, self_handle=True),
    CaseType("06036", "乱堆杂物", 12, 8, self_handle=True),
    CaseType("09006", "占道经营", 12, 14, self_handle=True),
    CaseType("09009", "机动车乱停放", 6, 12),
    CaseType("07001", "非法小广告", 10, 3, self_handle=True),
    CaseType("06012", "道路不洁", 6, 5, self_handle=True),
    CaseType("09010", "非机动车乱停放", 5, 4, self_handle=True),
    CaseType("09001", "无照经营游商", 3, 4, self_handle=True),
    CaseType("06013", "道路破损", 4, 6),
    CaseType("06042", "垃圾站（箱）满溢", 4, 5),
    CaseType("06001", "私搭乱建", 3, 6),
    CaseType("06017", "绿地脏乱", 3, 2),
    CaseType("06011", "积存垃圾渣土", 2, 2),
    CaseType("08004", "工地扬尘", 2, 5),
    CaseType("07003", "违规户外广告", 1, 1),
    CaseType("01002", "污水井盖异常", 3, 3, component=True),
    CaseType("01003", "雨水井盖异常", 3, 2, component=True),
    CaseType("01037", "路灯异常", 4, 5, component=True),
    CaseType("03005", "垃圾箱异常", 2, 1, component=True),
    CaseType("04002", "行道树异常", 1, 2, component=True),
)

# Relative report rates by hour of day (0–23).
PUBLIC_BY_HOUR = (
    0.2, 0.1, 0.05, 0.05, 0.05, 0.2, 0.5, 1.0, 1.6, 1.8, 1.7, 1.5,
    1.2, 1.1, 1.4, 1.6, 1.6, 1.7, 1.9, 2.1, 2.0, 1.6, 1.0, 0.5,
)  # fmt: skip
HOTLINE_BY_HOUR = (
    0.1, 0.05, 0.05, 0.05, 0.05, 0.1, 0.3, 0.8, 1.8, 2.2, 2.2, 1.9,
    1.2, 1.0, 1.8, 2.1, 2.0, 1.8, 1.4, 1.0, 0.8, 0.6, 0.3, 0.2,
)  # fmt: skip
PUBLIC_BY_WEEKDAY = (1.0, 0.95, 0.95, 1.0, 1.05, 1.3, 1.25)  # Monday … Sunday

# Department → median share of the handling limit used, and its spread (log-normal sigma).
DEPARTMENT_SPEED: dict[str, tuple[float, float]] = {
    "KF-HW": (0.35, 0.55),
    "KF-ZF": (0.45, 0.6),
    "KF-SZ": (0.5, 0.6),
    "KF-LD": (0.45, 0.55),
    "KF-YL": (0.5, 0.6),
    "KF-GL": (0.4, 0.6),
}
DEFAULT_SPEED = (0.5, 0.6)

ROADS = (
    "中山路", "自由路", "鼓楼街", "书店街", "西门大街", "宋都御街", "解放大道", "夷山大街", "金明大道",
    "东京大道", "汴京路", "大梁路", "包公湖北路", "曹门大街", "五一路", "集英街", "河道街", "双龙巷",
    "南土街", "北土街", "寺后街", "财政厅街", "相国寺街", "理事厅街", "晋安路", "郑开大道", "五大街",
)  # fmt: skip
RETURN_REASONS = ("不属本单位职责，请改派", "该路段养护权属不在本单位", "非本部门管辖范围")
VOID_REASONS = (
    "非城市管理问题，已告知来电人向相关部门反映",
    "描述不清，无法定位",
    "现场核查不属实",
)
EXTENSION_REASONS = ("需采购材料，申请延期", "需协调产权单位，申请延期", "工程量较大，申请延期")
SUSPENSION_REASONS = ("涉及产权纠纷，待法院裁定", "需列入年度维修计划", "待规划部门认定")
REWORK_REASONS = ("现场核实未处置到位", "处置后照片与现场不符", "仍有部分未清理")


@dataclass(frozen=True)
class FlowConfig:
    end: datetime  # the simulation stops here (aware); "30 days ending today" = now
    days: int = 30
    seed: int = 1
    cases_per_day: float = 150.0  # mean reports per day, every channel
    share_patrol: float = 0.6
    share_public: float = 0.25  # the rest: 12345 hotline transfers
    centre_hours: tuple[int, int] = (7 * 60 + 30, 22 * 60 + 30)  # minutes of day the centre works
    p_self_handled: float = 0.10  # of patrol reports
    p_void: float = 0.05
    p_duplicate: float = 0.03
    p_check: float = 0.5  # of public and hotline reports: a 核查 task first
    p_return: float = 0.03
    p_rework: float = 0.04
    p_extension: float = 0.02
    p_suspension: float = 0.01
    p_supervise: float = 0.01
    p_urge_overdue: float = 0.5
    weekend_patrol: float = 0.3  # share of supervisors on duty on a day off
    suspension_days: tuple[float, float] = (2.0, 9.0)  # how long a suspended case waits

    @property
    def start(self) -> datetime:
        return self.end - timedelta(days=self.days)


@dataclass
class SimCase:
    """What the simulation knows and has decided about one case."""

    key: int
    source: str
    type: CaseType
    reporter: str | None
    lon: float
    lat: float
    crs: str
    component_id: str | None = None
    id: int = 0
    number: str = ""
    grid: str | None = None
    limit: TimeLimit | None = None
    department: str | None = None
    dispatched_at: datetime | None = None
    handler: str | None = None
    gen: int = 0  # bumped when a plan changes; older scheduled events then do nothing
    reworks_left: int = 0
    extend: bool = False
    suspend: bool = False
    wrong_department: bool = False
    open: bool = True
    reported_at: datetime | None = None


@dataclass
class SimReport:
    start: datetime
    end: datetime
    reports: int = 0
    calls: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    actions: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    states: dict[str, int] = field(default_factory=dict)
    sources: dict[str, int] = field(default_factory=dict)
    close_reasons: dict[str, int] = field(default_factory=dict)
    overdue_open: int = 0

    @property
    def calls_per_s(self) -> float:
        return self.calls / self.seconds if self.seconds else 0.0


Event = tuple[datetime, int, Callable[..., None], tuple[Any, ...]]


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    threshold, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= threshold:
            return k
        k += 1


def _png(colour: tuple[int, int, int]) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(out, format="PNG")
    return out.getvalue()


class Simulation:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        config: FlowConfig,
        data_dir: Path,
        *,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.cfg = config
        self.rng = random.Random(config.seed)
        self.s = sessions()
        self.clock: WorkingCalendar = city_clock(self.s)
        self.tz = self.clock.tz
        self.staff: Staff = staff_of(self.s)
        self.users: dict[str, User] = {u.username: u for u in self.s.scalars(select(User))}
        self.sampler = GridSampler(self.s, config.seed)
        self.conditions: dict[str, list[tuple[str, TimeLimit]]] = {}
        for r in self.s.scalars(select(CaseStandardRow).order_by(CaseStandardRow.seq)):
            self.conditions.setdefault(r.type_code, []).append(
                (r.condition, TimeLimit.parse(r.time_limit))
            )
        self.types = [t for t in TYPES if t.code in self.conditions]
        self.components: dict[str, list[tuple[str, float, float]]] = {}
        for cid, tcode, lon, lat in self.s.execute(
            select(Component.id, Component.type_code, Component.lon, Component.lat).order_by(
                Component.id
            )
        ):
            self.components.setdefault(tcode, []).append((cid, lon, lat))
        self.store = DiskBlobStore(data_dir / "blobs")
        self.photos = self._photos()
        self.s.commit()
        self.heap: list[Event] = []
        self.seq = 0
        self.keys = 0
        self.recent: deque[SimCase] = deque(maxlen=400)
        self.duplicates: dict[int, list[int]] = {}  # case key → candidates flagged at intake
        patrol_total = sum(t.patrol for t in self.types)
        self.self_handle_share = sum(t.patrol for t in self.types if t.self_handle) / patrol_total
        self.report = SimReport(config.start, config.end)
        self.progress = progress
        if not self.staff.supervisors or not self.staff.acceptors or not self.staff.dispatchers:
            raise CityopsError(
                "模拟需要监督员、受理员和派遣员：请先建立城市与人员（sim.city.setup_city）",
                en="the simulation needs supervisors, acceptors and dispatchers: set up the city",
                code="sim_no_staff",
            )

    # -- plumbing ----------------------------------------------------------------------------

    def _photos(self) -> tuple[str, str]:
        before = save_upload(self.s, self.store, _png((150, 120, 90)), "before.png", None)
        after = save_upload(self.s, self.store, _png((90, 160, 110)), "after.png", None)
        return before.id, after.id

    def at(self, when: datetime, fn: Callable[..., None], *args: Any) -> None:
        if when < self.cfg.end:
            self.seq += 1
            heapq.heappush(self.heap, (when, self.seq, fn, args))

    def call(self, what: str, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        try:
            out = fn(self.s, *args, **kw)
            self.s.commit()
        except CityopsError as exc:
            self.s.rollback()
            self.report.refused[f"{what}:{exc.code}"] += 1
            return None
        self.report.calls += 1
        self.report.actions[what] += 1
        return out

    def act(self, c: SimCase, action: str, user: str, when: datetime, **req: Any) -> Case | None:
        row: Case | None = self.call(
            action,
            cases.act,
            c.id,
            action,
            self.users[user],
            cases.ActionRequest(**req),
            now=when,
        )
        return row

    def pick(self, names: list[str]) -> str:
        return names[self.rng.randrange(len(names))]

    # -- time ------------------------------------------------------------------------------------

    def working(self, t: datetime, minutes: float) -> datetime:
        """``minutes`` of working time after ``t`` (departments, handlers, supervisors)."""
        amount = Decimal(str(round(max(minutes, 0.5), 2)))
        return self._add(t, TimeLimit(amount, TimeUnit.working_minute))

    def _add(self, t: datetime, limit: TimeLimit) -> datetime:
        """The calendar's instant; past the years the holiday data covers, a plain estimate
        (a working hour is about 4.2 wall-clock hours over a week) — for planning moves only."""
        try:
            return self.clock.add(t, limit)
        except CalendarNotCovered:
            minutes = {TimeUnit.working_minute: 1, TimeUnit.working_hour: 60}.get(limit.unit, 480)
            return t + timedelta(minutes=float(limit.amount) * minutes * 4.2)

    def centre(self, t: datetime, minutes: float) -> datetime:
        """The centre answers ``minutes`` later, or at the start of its next shift."""
        t = t + timedelta(minutes=max(minutes, 0.5))
        local = t.astimezone(self.tz)
        start, end = self.cfg.centre_hours
        m = local.hour * 60 + local.minute
        if m < start or m >= end:
            day = local.date() + timedelta(days=1 if m >= end else 0)
            opening = datetime(
                day.year, day.month, day.day, start // 60, start % 60, tzinfo=self.tz
            )
            t = opening + timedelta(minutes=self.rng.expovariate(1 / 12))
        return t

    def share_of(self, t: datetime, limit: TimeLimit, share: float) -> datetime:
        amount = limit.amount * Decimal(str(round(min(max(share, 0.01), 3.0), 3)))
        return self._add(t, TimeLimit(amount, limit.unit))

    # -- arrivals ---------------------------------------------------------------------------------

    def schedule_arrivals(self) -> None:
        cfg = self.cfg
        start_local = cfg.start.astimezone(self.tz)
        day0 = start_local.date()
        per_day = cfg.cases_per_day
        public_day = per_day * cfg.share_public
        hotline_day = per_day * (1 - cfg.share_patrol - cfg.share_public)
        # Patrol: spread a week's reports over the working days, a few on days off.
        working_days = 5 + 2 * cfg.weekend_patrol
        per_sup_day = per_day * cfg.share_patrol * 7 / working_days / len(self.staff.supervisors)
        pub_norm = sum(PUBLIC_BY_HOUR) * sum(PUBLIC_BY_WEEKDAY) / 7
        hot_norm = sum(HOTLINE_BY_HOUR)
        for d in range(cfg.days + 1):
            day = day0 + timedelta(days=d)
            periods = self.clock.periods_on(day)
            on_duty = 1.0 if periods else cfg.weekend_patrol
            periods = periods or self.clock.config.periods_for(day)
            for sup in self.staff.supervisors:
                for _ in range(_poisson(self.rng, per_sup_day * on_duty)):
                    self.at(self._in_periods(day, periods), self.arrive_patrol, sup)
            wd = PUBLIC_BY_WEEKDAY[day.weekday()]
            for h in range(24):
                lam_p = public_day * PUBLIC_BY_HOUR[h] * wd / pub_norm
                for _ in range(_poisson(self.rng, lam_p)):
                    self.at(self._in_hour(day, h), self.arrive_public, "public")
                lam_h = hotline_day * HOTLINE_BY_HOUR[h] / hot_norm
                for _ in range(_poisson(self.rng, lam_h)):
                    self.at(self._in_hour(day, h), self.arrive_public, "hotline")

    def _in_hour(self, day: date, hour: int) -> datetime:
        base = datetime(day.year, day.month, day.day, hour, tzinfo=self.tz)
        return base + timedelta(seconds=self.rng.randrange(3600))

    def _in_periods(self, day: date, periods: Any) -> datetime:
        spans = [
            (
                datetime.combine(day, p.start, self.tz),
                datetime.combine(day, p.end, self.tz),
            )
            for p in periods
        ]
        total = sum((b - a).total_seconds() for a, b in spans)
        x = self.rng.random() * total
        for a, b in spans:
            length = (b - a).total_seconds()
            if x < length:
                return a + timedelta(seconds=int(x))
            x -= length
        return spans[-1][0]

    def _type(self, patrol: bool) -> CaseType:
        weights = [t.patrol if patrol else t.public for t in self.types]
        return self.rng.choices(self.types, weights)[0]

    def _position(
        self, ctype: CaseType, grids: list[str] | None
    ) -> tuple[float, float, str | None]:
        if ctype.component and self.components.get(ctype.code):
            pool = self.components[ctype.code]
            if grids:  # a supervisor reports components of their own district
                mine = {g[:12] for g in grids}
                comp = next(
                    (
                        c
                        for c in (pool[self.rng.randrange(len(pool))] for _ in range(40))
                        if self._in_district(c[0], mine)
                    ),
                    None,
                )
                if comp is not None:
                    return comp[1], comp[2], comp[0]
            comp = pool[self.rng.randrange(len(pool))]
            return comp[1], comp[2], comp[0]
        if grids:
            idx = self.sampler.index[grids[self.rng.randrange(len(grids))]]
            lon, lat = self.sampler.point_in(idx, self.rng)
        else:
            lon, lat = self.sampler.point(self.rng)
        return lon, lat, None

    def _in_district(self, component_id: str, communities: set[str]) -> bool:
        """A component of the supervisor's district (its id starts with the district code)."""
        return any(c.startswith(component_id[:6]) for c in communities)

    # -- the case loop ------------------------------------------------------------------------

    def arrive_patrol(self, t: datetime, supervisor: str) -> None:
        ctype = self._type(patrol=True)
        grids = self.staff.patrol.get(supervisor)
        lon, lat, comp = self._position(ctype, grids)
        c = self._new(t, "patrol", ctype, supervisor, lon, lat, "wgs84", comp)
        if (
            ctype.self_handle
            and self.rng.random() < self.cfg.p_self_handled / self.self_handle_share
        ):
            self._create(t, c, self_handled=True)
            return
        if self._create(t, c):
            self.at(self.centre(t, self.rng.expovariate(1 / 6)), self.intake, c, None)

    def arrive_public(self, t: datetime, source: str) -> None:
        rng = self.rng
        parent = self._duplicate_of(t) if rng.random() < self.cfg.p_duplicate * 2.2 else None
        if parent is not None:  # the same problem reported again, a few metres away
            ctype, comp = parent.type, parent.component_id
            dx, dy = rng.uniform(-15, 15) / 91_500, rng.uniform(-15, 15) / 111_000
            lon, lat = parent.lon + dx, parent.lat + dy
            if parent.crs == "wgs84":
                g = transform(lon, lat, Crs.wgs84, Crs.gcj02)
                lon, lat = float(g[0]), float(g[1])
            lon, lat = round(lon, 7), round(lat, 7)
        else:
            ctype = self._type(patrol=False)
            wlon, wlat, comp = self._position(ctype, None)
            g = transform(wlon, wlat, Crs.wgs84, Crs.gcj02)  # phones and Amap report GCJ-02
            lon, lat = round(float(g[0]), 7), round(float(g[1]), 7)
        reporter = None if source == "public" else self.pick(self.staff.acceptors)
        c = self._new(t, source, ctype, reporter, lon, lat, "gcj02", comp)
        if self._create(t, c):
            self.at(self.centre(t, rng.expovariate(1 / 8)), self.intake, c, None)

    def _duplicate_of(self, t: datetime) -> SimCase | None:
        window = t - timedelta(hours=20)
        live = [c for c in self.recent if c.open and c.reported_at and c.reported_at > window]
        return live[self.rng.randrange(len(live))] if live else None

    def _new(
        self,
        t: datetime,
        source: str,
        ctype: CaseType,
        reporter: str | None,
        lon: float,
        lat: float,
        crs: str,
        comp: str | None,
    ) -> SimCase:
        self.keys += 1
        return SimCase(self.keys, source, ctype, reporter, lon, lat, crs, comp, reported_at=t)

    def _describe(self, c: SimCase) -> tuple[str, str]:
        road = self.pick(list(ROADS))
        address = f"{road}{self.rng.randrange(1, 300)}号附近"
        prefix = {"hotline": "12345转办：", "public": "市民反映："}.get(c.source, "")
        return f"{prefix}{address}{c.type.name}", address

    def _create(self, t: datetime, c: SimCase, *, self_handled: bool = False) -> bool:
        description, address = self._describe(c)
        rng = self.rng
        new = cases.NewCase(
            source=c.source,
            description=description,
            type_code=c.type.code,
            lon=None if c.component_id else c.lon,
            lat=None if c.component_id else c.lat,
            crs=c.crs,
            address=address,
            component_id=c.component_id,
            photos=(self.photos[0],) if c.source == "patrol" else (),
            photos_after=(self.photos[1],) if self_handled else (),
            reporter_name=(rng.choice("王李张刘陈杨赵黄") + rng.choice(("先生", "女士")))
            if c.source != "patrol"
            else "",
            reporter_phone=f"1{rng.choice('3589')}{rng.randrange(10**9):09d}"
            if c.source != "patrol"
            else "",
            self_handled=self_handled,
        )
        user = self.users[c.reporter] if c.reporter else None
        created: cases.Created | None = self.call("report", cases.create_case, user, new, now=t)
        if created is None:
            return False
        self.report.reports += 1
        row = created.case
        c.id, c.number, c.grid = row.id, row.number, row.grid_code
        if self_handled:
            c.open = False
            return False
        self.duplicates[c.key] = created.duplicate_candidates
        self.recent.append(c)
        return True

    def _supervisor_for(self, c: SimCase) -> str:
        return self.staff.grid_supervisor.get(c.grid or "") or self.pick(self.staff.supervisors)

    def intake(self, t: datetime, c: SimCase, checked: bool | None) -> None:
        """The acceptor's decision: merge a duplicate, void, send a check, or register."""
        rng, cfg = self.rng, self.cfg
        acceptor = self.pick(self.staff.acceptors)
        candidates = self.duplicates.pop(c.key, [])
        merged = (
            candidates
            and checked is None
            and self.act(
                c,
                "merge_duplicate",
                acceptor,
                t,
                parent=str(candidates[0]),
                reason="同一问题重复上报，合并",
            )
        )
        if merged:
            c.open = False
            return
        public = c.source != "patrol"
        if checked is None and public and rng.random() < cfg.p_check:
            sup = self._supervisor_for(c)
            if self.act(c, "request_check", acceptor, t, supervisor=sup):
                self.at(self.working(t, rng.lognormvariate(math.log(40), 0.6)), self.check, c, sup)
                return
        p_void = cfg.p_void * (1.6 if public else 0.4)
        if checked is False or (checked is None and rng.random() < p_void):
            if self.act(c, "void", acceptor, t, reason=rng.choice(VOID_REASONS)):
                c.open = False
            return
        conds = self.conditions[c.type.code]
        weights = [0.8**i for i in range(len(conds))]
        condition, limit = rng.choices(conds, weights)[0]
        row = self.act(c, "register", acceptor, t, condition=condition)
        if row is None:
            return
        c.limit = limit
        if row.state == "dispatched":  # auto-dispatch by the responsibility list
            c.department, c.dispatched_at = row.department, t
            self._dispatched(t, c)
        else:
            self.at(self.centre(t, rng.expovariate(1 / 6)), self.dispatch, c)

    def check(self, t: datetime, c: SimCase, supervisor: str) -> None:
        ok = self.rng.random() > 0.12
        task_id = self.s.scalar(
            select(func.max(TaskRow.id)).where(
                TaskRow.case_id == c.id, TaskRow.completed_at.is_(None)
            )
        )
        if task_id is None:
            return
        done = self.call(
            "complete_check",
            cases.complete_task,
            task_id,
            self.users[supervisor],
            ok,
            "现场核查属实" if ok else "现场未发现该问题",
            (),
            now=t,
        )
        if done is not None:
            self.at(self.centre(t, self.rng.expovariate(1 / 8)), self.intake, c, ok)

    def dispatch(self, t: datetime, c: SimCase) -> None:
        rng = self.rng
        dispatcher = self.pick(self.staff.dispatchers)
        row = self.s.get(Case, c.id)
        if row is None:
            return
        suggestion = self.call("suggest", cases.suggestion_for, row)
        right = (suggestion or {}).get("department") or "KF-SZ"
        if right not in self.staff.department_user:
            right = next(iter(sorted(self.staff.department_user)))
        target = right
        if not c.wrong_department and rng.random() < self.cfg.p_return:
            others = sorted(d for d in self.staff.department_user if d != right)
            if others:
                target = rng.choice(others)
                c.wrong_department = True
        if self.act(c, "dispatch", dispatcher, t, department=target) is None:
            return
        c.department, c.dispatched_at = target, t
        if target != right:
            user = self.staff.department_user[target]
            self.at(self.working(t, rng.expovariate(1 / 40)), self.give_back, c, user, c.gen)
            return
        self._dispatched(t, c)

    def give_back(self, t: datetime, c: SimCase, user: str, gen: int) -> None:
        if gen != c.gen:
            return
        if self.act(c, "return", user, t, reason=self.rng.choice(RETURN_REASONS)):
            c.department = None
            self.at(self.centre(t, self.rng.expovariate(1 / 10)), self.dispatch, c)

    def _dispatched(self, t: datetime, c: SimCase) -> None:
        """Plan the department's part: accept, assign, and the exceptional requests."""
        rng, cfg = self.rng, self.cfg
        c.gen += 1
        c.reworks_left = 1 if rng.random() < cfg.p_rework else 0
        c.extend = rng.random() < cfg.p_extension
        c.suspend = not c.extend and rng.random() < cfg.p_suspension
        self.at(self.working(t, rng.lognormvariate(math.log(20), 0.7)), self.accept, c, c.gen)
        if rng.random() < cfg.p_supervise and self.staff.leaders:
            later = self.centre(t + timedelta(hours=rng.uniform(2, 30)), 0)
            self.at(later, self.supervise, c)

    def accept(self, t: datetime, c: SimCase, gen: int) -> None:
        if gen != c.gen or c.department is None:
            return
        dept = c.department
        user = self.staff.department_user.get(dept)
        handlers = self.staff.handlers.get(dept)
        if user is None or not handlers:
            return
        if self.act(c, "accept", user, t) is None:
            return
        c.handler = self.pick(handlers)
        t2 = self.working(t, self.rng.uniform(1, 15))
        self.at(t2, self.assign, c, user, gen)

    def assign(self, t: datetime, c: SimCase, user: str, gen: int) -> None:
        if gen != c.gen or self.act(c, "assign", user, t, handler=c.handler) is None:
            return
        assert c.limit is not None and c.dispatched_at is not None
        rng = self.rng
        median, sigma = DEPARTMENT_SPEED.get(c.department or "", DEFAULT_SPEED)
        share = rng.lognormvariate(math.log(median), sigma)
        if c.extend:
            share = max(share, rng.uniform(1.05, 1.5))
            ask = max(self.share_of(c.dispatched_at, c.limit, 0.6), self.working(t, 5))
            self.at(ask, self.ask_extension, c, user, gen)
        if c.suspend:
            ask = max(self.share_of(c.dispatched_at, c.limit, 0.3), self.working(t, 5))
            self.at(ask, self.ask_suspension, c, user, gen)
            return
        done = max(self.share_of(c.dispatched_at, c.limit, share), self.working(t, 10))
        self.at(done, self.report_done, c, gen)
        due = self.share_of(c.dispatched_at, c.limit, 1.0)
        if done > due and not c.extend and rng.random() < self.cfg.p_urge_overdue:
            self.at(self.centre(due, rng.uniform(30, 240)), self.urge, c, gen)

    def ask_extension(self, t: datetime, c: SimCase, user: str, gen: int) -> None:
        if gen != c.gen:
            return
        extra = "1工作日" if c.limit and c.limit.unit is not TimeUnit.working_day else "2工作日"
        if self.act(
            c, "request_extension", user, t, extension=extra,
            reason=self.rng.choice(EXTENSION_REASONS),
        ):  # fmt: skip
            self.at(self.centre(t, self.rng.uniform(10, 90)), self.decide_extension, c, gen)

    def decide_extension(self, t: datetime, c: SimCase, gen: int) -> None:
        if gen != c.gen:
            return
        dispatcher = self.pick(self.staff.dispatchers)
        if self.rng.random() < 0.85:
            self.act(c, "approve_extension", dispatcher, t)
        else:
            self.act(c, "reject_extension", dispatcher, t, reason="理由不充分，请按期处置")

    def ask_suspension(self, t: datetime, c: SimCase, user: str, gen: int) -> None:
        if gen != c.gen:
            return
        reason = self.rng.choice(SUSPENSION_REASONS)
        if self.act(c, "request_suspension", user, t, reason=reason):
            later = self.centre(t, self.rng.uniform(15, 120))
            self.at(later, self.suspend, c, reason, gen)

    def suspend(self, t: datetime, c: SimCase, reason: str, gen: int) -> None:
        if gen != c.gen:
            return
        if self.act(c, "suspend", self.pick(self.staff.dispatchers), t, reason=reason):
            back = self.centre(t + timedelta(days=self.rng.uniform(*self.cfg.suspension_days)), 0)
            self.at(back, self.resume, c, gen)

    def resume(self, t: datetime, c: SimCase, gen: int) -> None:
        if gen != c.gen:
            return
        if self.act(c, "resume", self.pick(self.staff.dispatchers), t) and c.limit:
            c.gen += 1
            done = self.share_of(t, c.limit, self.rng.uniform(0.2, 0.7))
            self.at(done, self.report_done, c, c.gen)

    def urge(self, t: datetime, c: SimCase, gen: int) -> None:
        if gen == c.gen:
            self.act(c, "urge", self.pick(self.staff.dispatchers), t, note="已超期，请尽快处置")

    def supervise(self, t: datetime, c: SimCase) -> None:
        if c.open:
            self.act(
                c, "supervise", self.pick(self.staff.leaders), t, note="群众反映强烈，限期办结"
            )

    def report_done(self, t: datetime, c: SimCase, gen: int) -> None:
        if gen != c.gen or c.handler is None:
            return
        c.gen += 1
        if self.act(c, "report_done", c.handler, t, note="已按标准处置完毕"):
            self.at(self.centre(t, self.rng.expovariate(1 / 15)), self.send_verify, c, c.gen)

    def send_verify(self, t: datetime, c: SimCase, gen: int) -> None:
        if gen != c.gen:
            return
        sup = self._supervisor_for(c)
        if self.act(c, "request_verify", self.pick(self.staff.acceptors), t, supervisor=sup):
            later = self.working(t, self.rng.lognormvariate(math.log(45), 0.6))
            self.at(later, self.verify, c, sup, gen)

    def verify(self, t: datetime, c: SimCase, supervisor: str, gen: int) -> None:
        if gen != c.gen:
            return
        task_id = self.s.scalar(
            select(func.max(TaskRow.id)).where(
                TaskRow.case_id == c.id, TaskRow.completed_at.is_(None)
            )
        )
        if task_id is None:
            return
        ok = c.reworks_left == 0
        done = self.call(
            "complete_verify",
            cases.complete_task,
            task_id,
            self.users[supervisor],
            ok,
            "现场核实已处置" if ok else "现场核实未处置到位",
            (),
            now=t,
        )
        if done is None:
            return
        nxt = self.centre(t, self.rng.expovariate(1 / 12))
        self.at(nxt, self.close if ok else self.rework, c, gen)

    def rework(self, t: datetime, c: SimCase, gen: int) -> None:
        if gen != c.gen:
            return
        reason = self.rng.choice(REWORK_REASONS)
        if self.act(c, "rework", self.pick(self.staff.dispatchers), t, reason=reason) and c.limit:
            c.reworks_left -= 1
            c.gen += 1
            done = self.share_of(t, c.limit, self.rng.uniform(0.1, 0.6))
            self.at(done, self.report_done, c, c.gen)

    def close(self, t: datetime, c: SimCase, gen: int) -> None:
        if gen == c.gen and self.act(c, "close", self.pick(self.staff.acceptors), t):
            c.open = False

    # -- run ---------------------------------------------------------------------------------------

    def run(self) -> SimReport:
        t0 = time.perf_counter()
        self.schedule_arrivals()
        n = 0
        last = time.perf_counter()
        while self.heap:
            when, _seq, fn, args = heapq.heappop(self.heap)
            fn(when, *args)
            n += 1
            if n % 256 == 0:
                self.s.expunge_all()
                self.users = {u.username: u for u in self.s.scalars(select(User))}
                self.s.commit()
                if self.progress and time.perf_counter() - last > 5:
                    last = time.perf_counter()
                    self.progress(
                        f"{when.astimezone(self.tz):%Y-%m-%d %H:%M}  {self.report.reports} reports, "
                        f"{self.report.calls} calls, {self.report.calls / (last - t0):.0f} calls/s"
                    )
        self.report.seconds = time.perf_counter() - t0
        self._summarise()
        self.s.close()
        return self.report

    def _summarise(self) -> None:
        s, r = self.s, self.report
        r.states = dict(s.execute(select(Case.state, func.count()).group_by(Case.state)).all())
        r.sources = dict(s.execute(select(Case.source, func.count()).group_by(Case.source)).all())
        r.close_reasons = {
            k or "": v
            for k, v in s.execute(
                select(Case.close_reason, func.count())
                .where(Case.close_reason.is_not(None))
                .group_by(Case.close_reason)
            ).all()
        }
        r.overdue_open = (
            s.scalar(
                select(func.count())
                .select_from(Case)
                .where(Case.due_at < self.cfg.end, Case.paused.is_(False))
            )
            or 0
        )


def simulate(
    sessions: sessionmaker[Session],
    config: FlowConfig,
    data_dir: Path,
    *,
    progress: Callable[[str], None] | None = None,
) -> SimReport:
    """Run the month; the city and staff must exist (``sim.city.setup_city``)."""
    return Simulation(sessions, config, data_dir, progress=progress).run()
