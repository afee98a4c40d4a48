"""A small city for the browser tests: 鼓楼区 with 250 m grids, the centre, departments, one user
per role, the shipped standards and Kaifeng's dispatch rules, and (optionally) a few dozen cases
in every state with deadlines met and missed, so the pages have something to show."""

from __future__ import annotations

import io
import random
from datetime import datetime, timedelta
from importlib.resources import files
from pathlib import Path
from zoneinfo import ZoneInfo

from PIL import Image, ImageDraw
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityops.services import rules
from cityops.services.cases import ActionRequest, NewCase, act, create_case
from cityops.services.catalog import ensure_standard_catalog
from cityops.services.geography import GridSettings, assign_supervisor, init_city, locate
from cityops.services.orgs import add_org
from cityops.services.users import add_user
from cityops.store.schema import Grid, User

PW = "Grid-Work-2026"
TZ = ZoneInfo("Asia/Shanghai")
KAIFENG_FU_GCJ = (114.3490, 34.7930)
DEPARTMENTS = {
    "KF-SZ": "市政工程管理处",
    "KF-HW": "环境卫生管理处",
    "KF-YL": "园林绿化管理处",
    "KF-ZF": "城市管理综合行政执法支队",
    "KF-LD": "路灯管理所",
    "KF-GL": "鼓楼区城市管理局",
}
STAFF = {
    # user: (role, display name, department scope, region scope)
    "jiandu": ("supervisor", "监督员 张伟", None, "410204"),
    "shouli": ("acceptor", "受理员 李娜", None, None),
    "paiqian": ("dispatcher", "派遣员 刘洋", None, None),
    "shizheng": ("department", "市政处 陈静", "KF-SZ", None),
    "chuzhi": ("handler", "处置人员 杨磊", "KF-SZ", None),
    "lingdao": ("leader", "领导 赵敏", None, None),
    "guanli": ("admin", "管理员 周杰", None, None),
}


def photo_bytes(label: str = "", colour: tuple[int, int, int] = (90, 120, 150)) -> bytes:
    """A small JPEG that looks like a photo placeholder (with EXIF, which must be stripped)."""
    im = Image.new("RGB", (480, 360), colour)
    d = ImageDraw.Draw(im)
    for i in range(0, 480, 24):
        d.line([(i, 360), (i + 120, 180)], fill=(colour[0] + 30, colour[1] + 30, colour[2] + 30))
    d.rectangle([150, 150, 330, 260], fill=(200, 190, 170))
    d.text((20, 20), label, fill=(255, 255, 255))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    out = io.BytesIO()
    im.save(out, format="JPEG", quality=80, exif=exif)
    return out.getvalue()


def seed_city(session: Session) -> None:
    data = files("cityops.data")
    ensure_standard_catalog(session)
    init_city(session, "410200", districts=["410204"], settings=GridSettings(grid_size_m=250))
    add_org(session, "KF-CENTRE", "开封市城市运行管理指挥中心", "centre")
    for code, name in DEPARTMENTS.items():
        add_org(session, code, name, "department", parent_code="KF-CENTRE")
    for name, (role, display, dept, region) in STAFF.items():
        add_user(
            session,
            name,
            PW,
            [role],
            display_name=display,
            org_code=dept or "KF-CENTRE",
            scope_department=dept,
            scope_region=region,
        )
    rules.import_standards(session, Path(str(data / "standards" / "default_standards.csv")))
    rules.import_rules(session, Path(str(data / "demo" / "kaifeng_rules.csv")))
    supervisor = session.scalar(select(User).where(User.username == "jiandu"))
    assert supervisor is not None
    grid = locate(session, *KAIFENG_FU_GCJ, "gcj02").location
    assign_supervisor(session, f"R{grid.community}", supervisor.id)


BACKGROUND_TYPES = [
    ("06010", ("路口东侧绿化带旁有暴露垃圾", "垃圾袋堆在人行道边")),
    ("06036", ("楼道口乱堆旧家具", "人行道上堆放建筑杂物")),
    ("09006", ("早点摊占用人行道经营", "水果摊占道")),
    ("06013", ("人行道地砖松动破损", "路面坑洼积水")),
    ("06012", ("路面油污未清理", "落叶堆积未清扫")),
    ("07001", ("电线杆上张贴小广告", "墙面喷涂办证广告")),
    ("01037", ("路灯夜间不亮", "路灯杆灯罩脱落")),
    ("06017", ("绿地内有生活垃圾", "绿地被踩踏杂乱")),
    ("09009", ("机动车占用盲道停放", "车辆堵塞小区出入口")),
    ("06042", ("垃圾箱满溢未清运", "垃圾站周边脏乱")),
]


def seed_cases(session: Session, n: int = 48, seed: int = 7) -> None:
    """Cases in every state, reported over the last ten days, some overdue."""
    rnd = random.Random(seed)
    users = {u.username: u for u in session.scalars(select(User))}
    grids = list(
        session.execute(
            select(Grid.min_lon, Grid.min_lat, Grid.max_lon, Grid.max_lat).order_by(Grid.code)
        )
    )
    now = datetime.now(TZ)
    sources = ["patrol"] * 5 + ["public"] * 2 + ["hotline"] * 2 + ["leader", "sensor"]
    for i in range(n):
        g = grids[rnd.randrange(len(grids))]
        lon = (g[0] + g[2]) / 2
        lat = (g[1] + g[3]) / 2
        type_code, texts = BACKGROUND_TYPES[i % len(BACKGROUND_TYPES)]
        source = sources[i % len(sources)]
        recent = rnd.random() < 0.55
        at = now - timedelta(hours=rnd.uniform(0.05, 6) if recent else rnd.uniform(6, 24 * 9))
        reporter = (
            None if source == "public" else users["jiandu" if source == "patrol" else "shouli"]
        )
        created = create_case(
            session,
            reporter,
            NewCase(
                source=source,
                type_code=type_code,
                description=rnd.choice(texts),
                lon=lon,
                lat=lat,
                reporter_name="王小明" if source == "hotline" else "",
                reporter_phone="13812345678" if source == "hotline" else "",
            ),
            now=at,
        )
        ref = created.case.id
        steps = rnd.choice([0, 1, 2, 3, 3, 4, 4, 5, 6, 6])
        t = at
        for step in range(steps):
            gap = rnd.uniform(2, 25) if step < 2 else rnd.uniform(10, 60 if recent else 900)
            t = t + timedelta(minutes=gap)
            if t > now:
                break
            if step == 0:
                act(session, ref, "register", users["shouli"], ActionRequest(condition="1"), now=t)
            elif step == 1:
                row = session.get(type(created.case), ref)
                if row is not None and row.state == "pending_dispatch":
                    dept = "KF-SZ" if i % 3 == 0 else rnd.choice(list(DEPARTMENTS))
                    act(
                        session,
                        ref,
                        "dispatch",
                        users["paiqian"],
                        ActionRequest(department=dept),
                        now=t,
                    )
            elif step == 2:
                row = session.get(type(created.case), ref)
                if row is None or row.department != "KF-SZ":
                    break
                act(session, ref, "accept", users["shizheng"], ActionRequest(), now=t)
            elif step == 3:
                act(
                    session,
                    ref,
                    "report_done",
                    users["shizheng"],
                    ActionRequest(note="已处理"),
                    now=t,
                )
            elif step == 4:
                row = session.get(type(created.case), ref)
                if row is None or not (row.grid_code or "").startswith("410204"):
                    break  # the supervisor patrols 鼓楼区 only
                act(
                    session,
                    ref,
                    "request_verify",
                    users["shouli"],
                    ActionRequest(supervisor="jiandu"),
                    now=t,
                )
            elif step == 5:
                act(
                    session,
                    ref,
                    "complete_verify",
                    users["jiandu"],
                    ActionRequest(result=True, note="现场已整改"),
                    now=t,
                )
                t = t + timedelta(minutes=5)
                if t < now:
                    act(session, ref, "close", users["shouli"], ActionRequest(), now=t)
