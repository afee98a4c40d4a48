"""The evaluation fixture city: fifteen cases across two departments and two streets, driven
through the services with explicit times. The timeline and every figure computed by hand are in
the docstring of tests/integration/test_evaluation_store.py; the API and CLI tests reuse it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import shapely
from sqlalchemy import Engine, delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from cityops.services import cases, rules
from cityops.services.catalog import ensure_standard_catalog
from cityops.services.geography import GridSettings, init_city
from cityops.services.orgs import add_org
from cityops.services.users import add_user, get_user
from cityops.store.db import make_engine, session_factory, transaction
from cityops.store.migrate import upgrade
from cityops.store.schema import (
    Attachment,
    EvaluationSnapshot,
    Grid,
    Region,
    ResponsibilityGrid,
    ResponsibilityGridMember,
)

TZ = ZoneInfo("Asia/Shanghai")
PW = "Grid-Work-2026"
NOV_END = datetime(2026, 12, 1, 9, 0, tzinfo=TZ)  # "now" when November is evaluated
DEPT_USER = {"KF-SZ": "shizheng", "KF-HW": "huanwei"}
RULES = "类型代码,区域,部件权属,责任部门,自动派遣\n06010,全市,,KF-HW,是\n06,全市,,KF-HW,否\n"


def t(month: int, day: int, h: int, mi: int = 0) -> datetime:
    return datetime(2026, month, day, h, mi, tzinfo=TZ)


@dataclass
class World:
    sessions: sessionmaker[Session]
    s1: str
    s2: str
    q1: str
    q2: str
    g1: str
    g2: str
    points: dict[str, tuple[float, float]] = field(default_factory=dict)  # grid → lon, lat
    users: dict[str, int] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)  # C1 → case id
    numbers: dict[str, str] = field(default_factory=dict)  # C1 → case number

    def name_of(self, number: str | None) -> str:
        return {v: k for k, v in self.numbers.items()}[number or ""]


def build_world(sessions: sessionmaker[Session], tmp: Path) -> World:
    with transaction(sessions) as s:
        ensure_standard_catalog(s)
        init_city(s, "410200", districts=["410204"], settings=GridSettings(grid_size_m=250))
        add_org(s, "KF-CENTRE", "指挥中心", "centre", region_code="410200")
        add_org(s, "KF-SZ", "市政", "department", parent_code="KF-CENTRE")
        add_org(s, "KF-HW", "环卫", "department", parent_code="KF-CENTRE")
        for user, role, dept in (
            ("zhang", "supervisor", None),
            ("lisi", "supervisor", None),
            ("shouli", "acceptor", None),
            ("paiqian", "dispatcher", None),
            ("lingdao", "leader", None),
            ("shizheng", "department", "KF-SZ"),
            ("huanwei", "department", "KF-HW"),
        ):
            add_user(s, user, PW, [role], org_code=dept or "KF-CENTRE", scope_department=dept)
        data = Path(str(rules.__file__)).parents[1] / "data"
        rules.import_standards(s, data / "standards" / "default_standards.csv")
        csv = tmp / "rules.csv"
        csv.write_text(RULES, encoding="utf-8")
        rules.import_rules(s, csv)
        streets = list(
            s.scalars(select(Region.code).where(Region.level == "street").order_by(Region.code))
        )
        s1, s2 = streets[0], streets[1]
        g1 = s.scalars(
            select(Grid.code).where(Grid.code.like(f"{s1}%")).order_by(Grid.code)
        ).first()
        g2 = s.scalars(
            select(Grid.code).where(Grid.code.like(f"{s2}%")).order_by(Grid.code)
        ).first()
        assert g1 and g2
        w = World(sessions, s1, s2, g1[:12], g2[:12], g1, g2)
        for name in ("zhang", "lisi", "shouli", "paiqian", "lingdao"):
            w.users[name] = get_user(s, name).id
        for who, grid in (("zhang", g1), ("lisi", g2)):  # city init made the responsibility grids
            rg = s.scalar(
                select(ResponsibilityGridMember.responsibility_grid_id).where(
                    ResponsibilityGridMember.grid_code == grid
                )
            )
            s.execute(
                update(ResponsibilityGrid)
                .where(ResponsibilityGrid.id == rg)
                .values(supervisor_id=w.users[who])
            )
        for a in ("before", "after"):
            s.add(Attachment(id=a, sha256=a * 8, content_type="image/jpeg", size=1))
        for g in (g1, g2):
            geom = shapely.from_wkb(s.scalar(select(Grid.geometry).where(Grid.code == g)))
            p = geom.representative_point()
            w.points[g] = (p.x, p.y)
    points = w.points

    def report(
        name: str,
        who: str | None,
        when: datetime,
        grid: str,
        type_code: str = "06036",
        source: str = "patrol",
        **kw: Any,
    ) -> None:
        with transaction(sessions) as s:
            user = get_user(s, who) if who else None
            lon, lat = points[grid]
            new = cases.NewCase(
                source=source, type_code=type_code, description=name, lon=lon, lat=lat, **kw
            )
            row = cases.create_case(s, user, new, now=when).case
            w.ids[name], w.numbers[name] = row.id, row.number

    def act(name: str, who: str, action: str, when: datetime, **kw: Any) -> None:
        with transaction(sessions) as s:
            req = cases.ActionRequest(**kw)
            cases.act(s, w.ids[name], action, get_user(s, who), req, now=when)

    def loop(name: str, day: tuple[int, int], reg: str, disp: str, dept: str) -> None:
        """Register, dispatch, and the department accepts a minute later."""
        m, d = day
        act(name, "shouli", "register", t(m, d, *_hm(reg)), condition="1")
        sent = t(m, d, *_hm(disp))
        act(name, "paiqian", "dispatch", sent, department=dept)
        act(name, DEPT_USER[dept], "accept", sent + timedelta(minutes=1))

    def verify(name: str, who: str, req: datetime, done: datetime, ok: bool = True) -> None:
        act(name, "shouli", "request_verify", req, supervisor=who)
        act(name, who, "complete_verify", done, result=ok)

    # C11 first: October.
    report("C11", "lisi", t(10, 28, 9), g2)
    loop("C11", (10, 28), "09:05", "09:10", "KF-SZ")
    report("C15", "shouli", t(10, 31, 23, 50), g2, source="hotline")
    act("C15", "shouli", "register", t(11, 1, 0, 5), condition="1")
    act("C15", "paiqian", "dispatch", t(11, 1, 0, 10), department="KF-HW")
    act("C15", "huanwei", "accept", t(11, 2, 8, 30))
    act("C15", "huanwei", "report_done", t(11, 2, 11), note="已清理")

    report("C1", "zhang", t(11, 2, 9), g1, type_code="06013")
    loop("C1", (11, 2), "09:05", "09:10", "KF-SZ")
    report("C3", "lisi", t(11, 2, 10), g2, type_code="06042")
    loop("C3", (11, 2), "10:30", "10:40", "KF-SZ")
    act("C3", "shizheng", "report_done", t(11, 2, 16), note="已清运")
    act("C3", "shouli", "request_verify", t(11, 2, 16, 10), supervisor="lisi")
    act("C3", "lisi", "complete_verify", t(11, 3, 9), result=True)
    act("C3", "shouli", "close", t(11, 3, 9, 10))

    report("C2", "zhang", t(11, 3, 9), g1)
    loop("C2", (11, 3), "09:05", "09:10", "KF-SZ")
    act("C2", "shizheng", "report_done", t(11, 3, 16), note="已清理")
    verify("C2", "zhang", t(11, 3, 16, 5), t(11, 3, 16, 30), ok=False)
    act("C2", "paiqian", "rework", t(11, 3, 16, 40), reason="仍有杂物")
    act("C2", "shizheng", "report_done", t(11, 4, 10), note="已彻底清理")
    verify("C2", "zhang", t(11, 4, 10, 5), t(11, 4, 10, 30))
    act("C2", "shouli", "close", t(11, 4, 10, 40))

    act("C11", "shizheng", "report_done", t(11, 3, 10), note="迟到的处置")
    verify("C11", "lisi", t(11, 3, 10, 5), t(11, 3, 10, 30))
    act("C11", "shouli", "close", t(11, 3, 11))

    act("C1", "shizheng", "report_done", t(11, 4, 10), note="已修复")
    verify("C1", "zhang", t(11, 4, 10, 5), t(11, 4, 11))
    act("C1", "shouli", "close", t(11, 4, 11, 10))

    report("C4", "lisi", t(11, 4, 9), g2, type_code="06010")
    act("C4", "shouli", "register", t(11, 4, 9, 5), condition="1")  # auto-dispatched to KF-HW
    act("C4", "huanwei", "accept", t(11, 4, 9, 6))
    act("C4", "huanwei", "report_done", t(11, 4, 14), note="已清除")
    verify("C4", "lisi", t(11, 4, 14, 5), t(11, 4, 14, 30))
    act("C4", "shouli", "close", t(11, 4, 14, 40))

    report("C5", None, t(11, 5, 9), g1, source="public")
    act("C5", "shouli", "request_check", t(11, 5, 9, 2), supervisor="zhang")
    act("C5", "zhang", "complete_check", t(11, 5, 9, 30), result=True)
    act("C5", "shouli", "register", t(11, 5, 9, 40), condition="1")
    act("C5", "paiqian", "dispatch", t(11, 5, 9, 45), department="KF-SZ")
    act("C5", "shizheng", "return", t(11, 5, 10), reason="不属本单位")
    act("C5", "paiqian", "dispatch", t(11, 5, 10, 10), department="KF-HW")
    act("C5", "huanwei", "accept", t(11, 5, 10, 11))
    act("C5", "huanwei", "report_done", t(11, 6, 9), note="已清理")
    verify("C5", "zhang", t(11, 6, 9, 5), t(11, 6, 9, 30))
    act("C5", "shouli", "close", t(11, 6, 9, 40))

    report("C6", "lisi", t(11, 9, 9), g2)
    loop("C6", (11, 9), "09:05", "09:10", "KF-HW")
    act(
        "C6", "huanwei", "request_extension", t(11, 9, 15), extension="1工作日", reason="需协调车辆"
    )
    act("C6", "paiqian", "approve_extension", t(11, 9, 15, 10))
    act("C6", "huanwei", "report_done", t(11, 10, 16), note="已清理")
    verify("C6", "lisi", t(11, 10, 16, 5), t(11, 10, 16, 30))
    act("C6", "shouli", "close", t(11, 10, 16, 40))

    report("C7", "zhang", t(11, 10, 9), g1, type_code="06013")
    loop("C7", (11, 10), "09:05", "09:10", "KF-SZ")
    act("C7", "shizheng", "request_suspension", t(11, 11, 10), reason="等待产权单位确认")
    act("C7", "paiqian", "suspend", t(11, 11, 10, 10), reason="同意挂账")
    act("C7", "paiqian", "resume", t(11, 16, 10, 10))
    act("C7", "shizheng", "report_done", t(11, 17, 15), note="已修复")
    verify("C7", "zhang", t(11, 17, 15, 5), t(11, 17, 15, 30))
    act("C7", "shouli", "close", t(11, 17, 15, 40))

    report("C10", "zhang", t(11, 16, 9), g1)
    loop("C10", (11, 16), "09:05", "09:10", "KF-HW")
    act("C10", "paiqian", "suspend", t(11, 18, 10), reason="等待配合")

    report("C12", "zhang", t(11, 18, 9), g1)
    act("C12", "shouli", "void", t(11, 18, 9, 10), reason="非城管问题")

    report("C13", "lisi", t(11, 19, 9), g2)
    act("C13", "shouli", "request_check", t(11, 19, 9, 1), supervisor="lisi")
    act("C13", "lisi", "complete_check", t(11, 19, 11, 30), result=True)
    act("C13", "shouli", "register", t(11, 19, 11, 35), condition="1")
    act("C13", "paiqian", "return", t(11, 19, 11, 40), reason="非本中心受理范围")
    act("C13", "shouli", "void", t(11, 19, 11, 45), reason="非城管问题")

    report(
        "C14",
        "zhang",
        t(11, 20, 9),
        g1,
        self_handled=True,
        photos=("before",),
        photos_after=("after",),
    )

    report("C8", "lisi", t(11, 23, 9), g2)
    loop("C8", (11, 23), "09:05", "09:30", "KF-SZ")
    act("C8", "paiqian", "urge", t(11, 25, 10), note="请尽快处置")
    act("C8", "lingdao", "supervise", t(11, 26, 10), note="督办")

    report("C9", "zhang", t(11, 23, 10), g1)
    loop("C9", (11, 23), "10:05", "10:10", "KF-HW")
    act("C9", "paiqian", "suspend", t(11, 23, 15), reason="施工影响")
    return w


def _hm(text: str) -> tuple[int, int]:
    h, m = text.split(":")
    return int(h), int(m)


# One fixture city per backend and test process, in a database of its own (so the tests of other
# modules, which empty the shared database after each test, never touch it). The integration, API
# and CLI tests of the evaluation share it; each puts back what it changes (snapshots).
_WORLDS: dict[str, tuple[World, Engine]] = {}


def shared_world(
    backend: str, fresh_db_url: Callable[[str], str], tmp_path_factory: pytest.TempPathFactory
) -> tuple[World, Engine]:
    if backend not in _WORLDS:
        engine = make_engine(fresh_db_url(backend))
        upgrade(engine)
        sessions = session_factory(engine)
        world = build_world(sessions, tmp_path_factory.mktemp("rules"))
        with transaction(sessions) as s:
            add_user(s, "pingjia", PW, ["evaluator"], org_code="KF-CENTRE")
        _WORLDS[backend] = (world, engine)
    return _WORLDS[backend]


def forget_snapshots(world: World) -> None:
    with transaction(world.sessions) as s:
        s.execute(delete(EvaluationSnapshot))
