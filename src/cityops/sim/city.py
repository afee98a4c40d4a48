"""The simulated city: geography, departments, standards and rules, a component inventory, staff.

Everything goes through the services (``init_city``, ``add_org``, ``import_standards``,
``import_rules``, ``import_components``, ``add_user``, ``set_supervisor``), so a simulated city is
one an operator could have built by hand. Deterministic for a seed: the same seed gives the same
grids, components (ids, positions) and staff.

What it adds to a bare ``city init``:

- the departments of the demo (``services.demo.DEMO_ORGS``), the shipped default case standards
  and the Kaifeng responsibility list (``data/demo/kaifeng_rules.csv``) when none are loaded;
- a synthetic component inventory (井盖, 路灯, 垃圾箱, 行道树) placed in the unit grids, denser in
  busy communities, with owner and maintenance department, imported as a CSV file;
- staff: a supervisor for every group of about ``communities_per_supervisor`` communities of a
  district (their responsibility grids), acceptors, dispatchers, a leader, and for each department
  one department user and ``handlers_per_department`` handlers. Users that exist already (the
  demo's one user per role) are kept and take part.
"""

from __future__ import annotations

import bisect
import csv
import math
import random
import secrets
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityops.core.roles import Role
from cityops.geo.crs import Crs, transform
from cityops.services.catalog import ensure_standard_catalog
from cityops.services.components import import_components
from cityops.services.demo import DEMO_ORGS, DEMO_PATROL_POINT_GCJ02
from cityops.services.geography import GridSettings, init_city
from cityops.services.mapdata import set_supervisor
from cityops.services.orgs import add_org
from cityops.services.rules import import_rules, import_standards
from cityops.services.users import add_user
from cityops.store.schema import (
    CaseStandardRow,
    Component,
    DispatchRuleRow,
    Grid,
    OrgUnit,
    Region,
    ResponsibilityGrid,
    ResponsibilityGridMember,
    User,
    UserRole,
)

# Component types of the synthetic inventory: code → (name, per community, owner = maintenance).
INVENTORY: dict[str, tuple[str, float, str]] = {
    "01002": ("污水井盖", 1.4, "KF-SZ"),
    "01003": ("雨水井盖", 1.4, "KF-SZ"),
    "01037": ("路灯", 1.8, "KF-LD"),
    "03005": ("垃圾箱", 1.0, "KF-HW"),
    "04002": ("行道树", 0.8, "KF-YL"),
}

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程魏苏吕丁任沈姚卢"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建文辉鹏飞斌宇浩凯"


@dataclass(frozen=True)
class CitySpec:
    city: str = "410200"
    districts: tuple[str, ...] = ("410202", "410203", "410204", "410205")
    grid_size_m: float = 100.0
    seed: int = 1
    communities_per_supervisor: int = 25
    handlers_per_department: int = 3
    acceptors: int = 3
    dispatchers: int = 2
    component_density: float = 1.0  # × the per-community counts of INVENTORY


@dataclass
class Staff:
    """Who does what in the simulation, by user name."""

    supervisors: list[str] = field(default_factory=list)
    acceptors: list[str] = field(default_factory=list)
    dispatchers: list[str] = field(default_factory=list)
    leaders: list[str] = field(default_factory=list)
    department_user: dict[str, str] = field(default_factory=dict)  # org code → user name
    handlers: dict[str, list[str]] = field(default_factory=dict)  # org code → user names
    grid_supervisor: dict[str, str] = field(default_factory=dict)  # unit grid → user name
    patrol: dict[str, list[str]] = field(default_factory=dict)  # supervisor → unit grids


@dataclass(frozen=True)
class CitySetup:
    grids: int
    communities: int
    components: int
    users_added: int
    staff: Staff


def _password() -> str:
    """Simulated staff get a random password nobody knows (they are not meant to sign in)."""
    return "Sim-" + secrets.token_urlsafe(12) + "-7a"


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))


class GridSampler:
    """Positions in the unit grids of the city, with a per-community activity weight.

    Activity is a log-normal draw per community times a decay with the distance from the city
    centre (开封府 for Kaifeng, else the centroid of the grids): busy old-town streets get more
    components and more reports than fields at the edge of a district.
    """

    def __init__(self, session: Session, seed: int, prefixes: tuple[str, ...] = ()) -> None:
        q = select(Grid.code, Grid.geometry).order_by(Grid.code)
        rows = [(c, g) for c, g in session.execute(q) if not prefixes or c.startswith(prefixes)]
        self.codes: list[str] = [c for c, _ in rows]
        self.geoms: list[BaseGeometry] = list(shapely.from_wkb([g for _, g in rows]))
        self.bounds = shapely.bounds(np.array(self.geoms, dtype=object))
        self.index = {c: i for i, c in enumerate(self.codes)}
        by_comm: dict[str, list[int]] = defaultdict(list)
        for i, c in enumerate(self.codes):
            by_comm[c[:12]].append(i)
        self.communities: list[str] = sorted(by_comm)
        self.by_community = dict(by_comm)
        rng = random.Random(seed * 7919 + 17)
        cx, cy = self._centre(session)
        weights = []
        for comm in self.communities:
            i = self.by_community[comm][len(self.by_community[comm]) // 2]
            b = self.bounds[i]
            d_km = math.hypot(((b[0] + b[2]) / 2 - cx) * 91.5, ((b[1] + b[3]) / 2 - cy) * 111.0)
            weights.append(rng.lognormvariate(0.0, 0.8) * (math.exp(-d_km / 5.0) + 0.08))
        self.weights = weights
        self._cum = list(np.cumsum(weights))

    def _centre(self, session: Session) -> tuple[float, float]:
        if self.codes and self.codes[0].startswith("4102"):
            lon, lat = transform(*DEMO_PATROL_POINT_GCJ02, Crs.gcj02, Crs.wgs84)
            return float(lon), float(lat)
        b = self.bounds
        return float(b[:, 0].mean() + b[:, 2].mean()) / 2, float(
            b[:, 1].mean() + b[:, 3].mean()
        ) / 2

    def community(self, rng: random.Random) -> str:
        x = rng.random() * self._cum[-1]
        lo, hi = 0, len(self._cum) - 1
        while lo < hi:
            mid = (lo + hi) // 2
            if self._cum[mid] < x:
                lo = mid + 1
            else:
                hi = mid
        return self.communities[lo]

    def point_in(self, i: int, rng: random.Random) -> tuple[float, float]:
        """A uniform point inside grid ``i`` (WGS-84)."""
        b = self.bounds[i]
        geom = self.geoms[i]
        for _ in range(30):
            x = b[0] + rng.random() * (b[2] - b[0])
            y = b[1] + rng.random() * (b[3] - b[1])
            if shapely.contains_xy(geom, x, y):
                return round(x, 7), round(y, 7)
        p = geom.representative_point()
        return round(p.x, 7), round(p.y, 7)

    def point(self, rng: random.Random, community: str | None = None) -> tuple[float, float]:
        comm = community or self.community(rng)
        grids = self.by_community[comm]
        return self.point_in(grids[rng.randrange(len(grids))], rng)


def _ensure_orgs(session: Session, city: str) -> None:
    have = set(session.scalars(select(OrgUnit.code)))
    for code, name, kind, parent, region in DEMO_ORGS:
        if code not in have:
            region_code = city if region is not None and region.endswith("00") else region
            if region_code and session.get(Region, region_code) is None:
                region_code = None
            add_org(session, code, name, kind, parent_code=parent, region_code=region_code)


def _ensure_standards_and_rules(session: Session) -> None:
    data = files("cityops.data")
    if session.scalar(select(func.count()).select_from(CaseStandardRow)) == 0:
        import_standards(session, Path(str(data / "standards" / "default_standards.csv")))
    if session.scalar(select(func.count()).select_from(DispatchRuleRow)) == 0:
        import_rules(session, Path(str(data / "demo" / "kaifeng_rules.csv")))


def _ensure_components(session: Session, sampler: GridSampler, spec: CitySpec) -> int:
    if session.scalar(select(func.count()).select_from(Component)):
        return 0
    rng = random.Random(spec.seed * 104729 + 3)
    n_comm = len(sampler.communities)
    orgs = set(session.scalars(select(OrgUnit.code)))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "components.csv"
        with path.open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["部件类型代码", "名称", "经度", "纬度", "主管部门", "养护单位", "外部编号"])
            for code, (name, per_community, owner) in INVENTORY.items():
                count = round(per_community * n_comm * spec.component_density)
                dept = owner if owner in orgs else ""
                for k in range(1, count + 1):
                    lon, lat = sampler.point(rng)
                    w.writerow(
                        [code, f"{name}{k:05d}", lon, lat, dept, dept, f"SIM-{code}-{k:06d}"]
                    )
        report = import_components(session, path)
    return report.added


def _add(
    session: Session,
    username: str,
    role: Role,
    display: str,
    org: str,
    *,
    scope_region: str | None = None,
    scope_department: str | None = None,
) -> None:
    add_user(
        session,
        username,
        _password(),
        [role.value],
        display_name=display,
        org_code=org,
        scope_region=scope_region,
        scope_department=scope_department,
    )


def _users_by_role(session: Session) -> dict[str, list[User]]:
    out: dict[str, list[User]] = defaultdict(list)
    q = (
        select(UserRole.role, User)
        .join(User, User.id == UserRole.user_id)
        .where(User.active.is_(True))
        .order_by(User.username)
    )
    for role, user in session.execute(q).all():
        out[role].append(user)
    return out


def _ensure_staff(session: Session, sampler: GridSampler, spec: CitySpec) -> tuple[int, Staff]:
    rng = random.Random(spec.seed * 15485863 + 11)
    added = 0
    centre = "KF-CENTRE"
    departments = list(
        session.scalars(
            select(OrgUnit.code).where(OrgUnit.kind == "department").order_by(OrgUnit.code)
        )
    )
    have = set(session.scalars(select(User.username)))

    def add(username: str, role: Role, label: str, org: str, **kw: str | None) -> None:
        nonlocal added
        if username not in have:
            _add(session, username, role, f"{label} {_name(rng)}", org, **kw)
            have.add(username)
            added += 1

    for i in range(1, spec.acceptors + 1):
        add(f"sim.sl{i:02d}", Role.acceptor, "受理员", centre)
    for i in range(1, spec.dispatchers + 1):
        add(f"sim.pq{i:02d}", Role.dispatcher, "派遣员", centre)
    add("sim.ld01", Role.leader, "领导", centre)
    for dept in departments:
        add(f"sim.{dept.lower()}.bm", Role.department, "部门受理", dept, scope_department=dept)
        for i in range(1, spec.handlers_per_department + 1):
            add(
                f"sim.{dept.lower()}.cz{i:02d}",
                Role.handler,
                "处置人员",
                dept,
                scope_department=dept,
            )

    # Responsibility grids already held by someone (the demo supervisor) stay theirs.
    held = dict(
        session.execute(
            select(ResponsibilityGrid.code, User.username)
            .join(User, User.id == ResponsibilityGrid.supervisor_id)
            .where(ResponsibilityGrid.supervisor_id.is_not(None))
        ).all()
    )
    by_district: dict[str, list[str]] = defaultdict(list)
    holders: dict[str, list[tuple[str, str]]] = defaultdict(list)  # district → (community, user)
    for comm in sampler.communities:
        if f"R{comm}" not in held:
            by_district[comm[:6]].append(comm)
        else:
            holders[comm[:6]].append((comm, held[f"R{comm}"]))
    for district, comms in sorted(by_district.items()):
        groups = max(1, round(len(comms) / spec.communities_per_supervisor))
        size = math.ceil(len(comms) / groups)
        # A supervisor who already patrols here (the demo's) takes the neighbouring group.
        owner: dict[int, str] = {}
        for comm, user in holders.get(district, []):
            owner.setdefault(min(bisect.bisect_left(comms, comm) // size, groups - 1), user)
        for g in range(groups):
            username = owner.get(g) or f"sim.jd{district[-2:]}{g + 1:02d}"
            add(username, Role.supervisor, "监督员", centre, scope_region=district)
            for comm in comms[g * size : (g + 1) * size]:
                if (
                    session.scalar(
                        select(ResponsibilityGrid.supervisor_id).where(
                            ResponsibilityGrid.code == f"R{comm}"
                        )
                    )
                    is None
                ):
                    set_supervisor(session, f"R{comm}", username)
    session.flush()
    return added, staff_of(session)


def staff_of(session: Session) -> Staff:
    """The staff as stored: every active user by role, departments, patrol grids."""
    roles = _users_by_role(session)
    staff = Staff()
    staff.acceptors = [u.username for u in roles.get("acceptor", [])]
    staff.dispatchers = [u.username for u in roles.get("dispatcher", [])]
    staff.leaders = [u.username for u in roles.get("leader", [])]
    dept_code = dict(session.execute(select(OrgUnit.id, OrgUnit.code)).all())
    for u in roles.get("department", []):
        code = dept_code.get(u.scope_org_unit_id or u.org_unit_id or -1)
        # The demo's own department user (no "sim." prefix) is preferred: it shows the queue.
        if code and (code not in staff.department_user or not u.username.startswith("sim.")):
            staff.department_user[code] = u.username
    for u in roles.get("handler", []):
        code = dept_code.get(u.scope_org_unit_id or u.org_unit_id or -1)
        if code:
            staff.handlers.setdefault(code, []).append(u.username)
    q = (
        select(ResponsibilityGridMember.grid_code, User.username)
        .join(
            ResponsibilityGrid,
            ResponsibilityGrid.id == ResponsibilityGridMember.responsibility_grid_id,
        )
        .join(User, User.id == ResponsibilityGrid.supervisor_id)
        .order_by(ResponsibilityGridMember.grid_code)
    )
    for grid, username in session.execute(q).all():
        staff.grid_supervisor[grid] = username
        staff.patrol.setdefault(username, []).append(grid)
    staff.supervisors = sorted(staff.patrol) or [u.username for u in roles.get("supervisor", [])]
    return staff


def setup_city(session: Session, spec: CitySpec) -> CitySetup:
    """Build what is missing of the simulated city; idempotent (a second call adds nothing)."""
    ensure_standard_catalog(session)
    if session.scalar(select(Grid.code).limit(1)) is None:
        init_city(
            session,
            spec.city,
            districts=list(spec.districts),
            settings=GridSettings(grid_size_m=spec.grid_size_m, seed=spec.seed),
        )
    _ensure_orgs(session, spec.city)
    _ensure_standards_and_rules(session)
    sampler = GridSampler(session, spec.seed)
    components = _ensure_components(session, sampler, spec)
    added, staff = _ensure_staff(session, sampler, spec)
    return CitySetup(
        grids=len(sampler.codes),
        communities=len(sampler.communities),
        components=components,
        users_added=added,
        staff=staff,
    )
