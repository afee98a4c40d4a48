"""The demo city: Kaifeng's core districts, the catalog, organisation units and one user per role.

Demo passwords are random, generated on first set-up and kept in ``<data_dir>/demo-users.json``
(mode 0600) so that every later `make demo` prints the same ones.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityops.core.roles import STAFF_ROLES, Role
from cityops.services.catalog import ensure_standard_catalog
from cityops.services.geography import assign_supervisor, init_city, locate
from cityops.services.orgs import add_org
from cityops.services.users import add_user, set_password
from cityops.store.schema import CatalogType, Grid, OrgUnit, Region, ResponsibilityGrid, User

DEMO_CITY = "410200"
# The four urban districts a Kaifeng platform covers: 龙亭, 顺河回族, 鼓楼, 禹王台.
DEMO_DISTRICTS = ("410202", "410203", "410204", "410205")

DEMO_PATROL_POINT_GCJ02 = (114.3490, 34.7930)  # 开封府, as a phone (Amap) reports it

DEMO_ORGS: tuple[tuple[str, str, str, str | None, str | None], ...] = (
    # code, name, kind, parent code, region code
    ("KF-CENTRE", "开封市城市运行管理指挥中心", "centre", None, DEMO_CITY),
    ("KF-SZ", "市政工程管理处", "department", "KF-CENTRE", DEMO_CITY),
    ("KF-HW", "环境卫生管理处", "department", "KF-CENTRE", DEMO_CITY),
    ("KF-YL", "园林绿化管理处", "department", "KF-CENTRE", DEMO_CITY),
    ("KF-ZF", "城市管理综合行政执法支队", "department", "KF-CENTRE", DEMO_CITY),
    ("KF-LD", "路灯管理所", "department", "KF-CENTRE", DEMO_CITY),
    # The district bureau handles 鼓楼区's 市容环境 cases itself (see kaifeng_rules.csv): a department.
    ("KF-GL", "鼓楼区城市管理局", "department", "KF-CENTRE", "410204"),
)

# role → (username, display name, org unit, scope region, scope department)
DEMO_USERS: dict[Role, tuple[str, str, str, str | None, str | None]] = {
    Role.supervisor: ("jiandu", "监督员 张伟", "KF-CENTRE", "410204", None),
    Role.acceptor: ("shouli", "受理员 李娜", "KF-CENTRE", None, None),
    Role.shift_leader: ("zhiban", "值班长 王强", "KF-CENTRE", None, None),
    Role.dispatcher: ("paiqian", "派遣员 刘洋", "KF-CENTRE", None, None),
    Role.department: ("shizheng", "市政工程管理处 陈静", "KF-SZ", None, "KF-SZ"),
    Role.handler: ("chuzhi", "处置人员 杨磊", "KF-SZ", None, "KF-SZ"),
    Role.leader: ("lingdao", "领导 赵敏", "KF-CENTRE", None, None),
    Role.evaluator: ("kaoping", "考评员 黄涛", "KF-CENTRE", None, None),
    Role.admin: ("guanli", "管理员 周杰", "KF-CENTRE", None, None),
}


@dataclass(frozen=True)
class DemoUser:
    role: str
    role_label: str
    username: str
    password: str


@dataclass(frozen=True)
class DemoResult:
    city_name: str
    regions: dict[str, int]  # level → count
    grids: int
    catalog_types: int
    users: list[DemoUser]


def _password() -> str:
    # Three groups of four from an unambiguous alphabet, plus a fixed symbol/upper/digit mix.
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    groups = ["".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(3)]
    return "Kf-" + "-".join(groups) + "-9"


def _load_passwords(path: Path) -> dict[str, str]:
    if path.exists():
        return {u["username"]: u["password"] for u in json.loads(path.read_text())}
    return {}


def _save(path: Path, users: list[DemoUser]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump([asdict(u) for u in users], f, ensure_ascii=False, indent=2)
    tmp.replace(path)


def _assign_demo_patrol(session: Session) -> None:
    """The demo supervisor patrols the responsibility grid around 开封府 (鼓楼区)."""
    username = DEMO_USERS[Role.supervisor][0]
    supervisor = session.scalar(select(User).where(User.username == username))
    if supervisor is None or session.scalar(
        select(ResponsibilityGrid.id).where(ResponsibilityGrid.supervisor_id == supervisor.id)
    ):
        return
    lon, lat = DEMO_PATROL_POINT_GCJ02
    grid = locate(session, lon, lat, "gcj02").location
    assign_supervisor(session, f"R{grid.community}", supervisor.id)


def setup_demo(session: Session, data_dir: Path) -> DemoResult:
    """Idempotent: creates what is missing, keeps what exists (and its passwords)."""
    ensure_standard_catalog(session)
    if session.scalar(select(Grid.code).limit(1)) is None:
        init_city(session, DEMO_CITY, districts=list(DEMO_DISTRICTS))
    city = session.get(Region, DEMO_CITY)
    assert city is not None
    have_orgs = set(session.scalars(select(OrgUnit.code)))
    for code, name, kind, parent, region in DEMO_ORGS:
        if code not in have_orgs:
            add_org(session, code, name, kind, parent_code=parent, region_code=region)

    path = data_dir / "demo-users.json"
    known = _load_passwords(path)
    have_users = set(session.scalars(select(User.username)))
    out: list[DemoUser] = []
    for role in STAFF_ROLES:
        username, display, org, region, dept = DEMO_USERS[role]
        password = known.get(username) or _password()
        if username not in have_users:
            add_user(
                session,
                username,
                password,
                [role.value],
                display_name=display,
                org_code=org,
                scope_region=region,
                scope_department=dept,
            )
        elif username not in known:  # data dir lost but database kept: reset to a known one
            set_password(session, username, password)
        out.append(DemoUser(role.value, role.label_zh, username, password))
    _save(path, out)
    _assign_demo_patrol(session)
    types = len(list(session.scalars(select(CatalogType.code))))
    levels = dict(session.execute(select(Region.level, func.count()).group_by(Region.level)).all())
    grids = session.scalar(select(func.count()).select_from(Grid)) or 0
    return DemoResult(city.name, levels, grids, types, out)
