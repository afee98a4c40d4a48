"""What the pages show, assembled from the services: names for codes, rows for the queue,
the case detail with its timeline and photos. No rules here: actions go through the API."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityops.api.v1.cases import stage_light
from cityops.core.workflow import State
from cityops.services.cases import SOURCES
from cityops.store.schema import Case as CaseRow
from cityops.store.schema import (
    CaseLogRow,
    CatalogType,
    OrgUnit,
    Region,
    ResponsibilityGrid,
    ResponsibilityGridMember,
    User,
    UserRole,
)
from cityops.web.i18n import Translator


def type_names(session: Session) -> dict[str, str]:
    rows = session.execute(
        select(CatalogType.code, CatalogType.display_name, CatalogType.name).where(
            CatalogType.kind == "matter"
        )
    ).all()
    return {c: d or n for c, d, n in rows}


def major_classes(session: Session) -> list[tuple[str, str]]:
    rows = session.execute(
        select(CatalogType.major_code, CatalogType.major_name)
        .where(CatalogType.kind == "matter")
        .distinct()
        .order_by(CatalogType.major_code)
    ).all()
    return [(c, n) for c, n in rows]


def org_names(session: Session) -> dict[str, str]:
    return dict(session.execute(select(OrgUnit.code, OrgUnit.name)).all())


def departments(session: Session) -> list[tuple[str, str]]:
    rows = session.execute(
        select(OrgUnit.code, OrgUnit.name)
        .where(OrgUnit.kind == "department", OrgUnit.active.is_(True))
        .order_by(OrgUnit.code)
    ).all()
    return [(c, n) for c, n in rows]


def region_names(session: Session, codes: set[str]) -> dict[str, str]:
    codes = {c for c in codes if c}
    if not codes:
        return {}
    return {
        c: n
        for c, n in session.execute(select(Region.code, Region.name).where(Region.code.in_(codes)))
    }


def areas(session: Session) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """Districts with their streets, for the area filter."""
    rows = session.execute(
        select(Region.code, Region.name, Region.level, Region.parent_code)
        .where(Region.level.in_(["district", "street"]))
        .order_by(Region.code)
    ).all()
    out: dict[str, tuple[str, str, list[tuple[str, str]]]] = {}
    for code, name, level, parent in rows:
        if level == "district":
            out[code] = (code, name, [])
        elif parent in out:
            out[parent][2].append((code, name))
    return list(out.values())


def user_names(session: Session, ids: set[int]) -> dict[int, str]:
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    return {
        i: n for i, n in session.execute(select(User.id, User.display_name).where(User.id.in_(ids)))
    }


def users_with_role(
    session: Session, role: str, department: str | None = None
) -> list[tuple[str, str]]:
    q = (
        select(User.username, User.display_name)
        .join(UserRole, UserRole.user_id == User.id)
        .where(UserRole.role == role, User.active.is_(True))
        .order_by(User.username)
    )
    if department:
        q = q.join(OrgUnit, OrgUnit.id == User.scope_org_unit_id).where(OrgUnit.code == department)
    return [(u, d) for u, d in session.execute(q)]


def grid_supervisor(session: Session, grid_code: str | None) -> str | None:
    if not grid_code:
        return None
    return session.scalar(
        select(User.username)
        .join(ResponsibilityGrid, ResponsibilityGrid.supervisor_id == User.id)
        .join(
            ResponsibilityGridMember,
            ResponsibilityGridMember.responsibility_grid_id == ResponsibilityGrid.id,
        )
        .where(ResponsibilityGridMember.grid_code == grid_code)
    )


def fmt_dt(dt: datetime | None, tz: ZoneInfo, *, full: bool = False) -> str:
    if dt is None:
        return ""
    local = dt.astimezone(tz)
    return local.strftime("%Y-%m-%d %H:%M") if full else local.strftime("%m-%d %H:%M")


def duration(seconds: float, t: Translator) -> str:
    minutes = int(abs(seconds) // 60)
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return t("time.dh", d=days, h=hours)
    if hours:
        return t("time.hm", h=hours, m=mins)
    return t("time.m", m=mins)


def time_left(due: datetime | None, paused: bool, now: datetime, t: Translator) -> str:
    if due is None:
        return ""
    if paused:
        return t("time.paused")
    left = (due - now).total_seconds()
    return t("time.left", d=duration(left, t)) if left >= 0 else t("time.over", d=duration(left, t))


@dataclass
class Row:
    id: int
    number: str
    version: int
    state: str
    state_label: str
    light: str | None
    left: str
    type_code: str
    type_name: str
    description: str
    place: str
    source: str
    department: str
    stage: str
    reported: str
    overdue: bool
    urgent: bool


def _capital(text: str) -> str:
    """English labels of the core are lower case (they run inside sentences); a label on its
    own starts with a capital."""
    return text[:1].upper() + text[1:]


def state_label(state: str, t: Translator) -> str:
    s = State(state)
    return _capital(s.label_en) if t.en else s.label_zh


def source_label(source: str, t: Translator) -> str:
    zh, en = SOURCES.get(source, (source, source))
    return _capital(en) if t.en else zh


def source_options(t: Translator) -> list[tuple[str, str]]:
    return [(k, source_label(k, t)) for k in SOURCES]


def rows_for(
    session: Session, cases: list[CaseRow], now: datetime, tz: ZoneInfo, t: Translator
) -> list[Row]:
    types = type_names(session)
    regions = region_names(
        session, {c.street_code or "" for c in cases} | {c.community_code or "" for c in cases}
    )
    orgs = org_names(session)
    out = []
    for c in cases:
        light = stage_light(c, now)
        place = " · ".join(
            x for x in (regions.get(c.street_code or ""), regions.get(c.community_code or "")) if x
        )
        out.append(
            Row(
                id=c.id,
                number=c.number,
                version=c.version,
                state=c.state,
                state_label=state_label(c.state, t),
                light=light,
                left=time_left(c.due_at, c.paused, now, t),
                type_code=c.type_code or "",
                type_name=types.get(c.type_code or "", "") or t("case.untyped"),
                description=c.description,
                place=c.address or place,
                source=source_label(c.source, t),
                department=orgs.get(c.department or "", c.department or ""),
                stage=t(f"stage.{c.stage}") if c.stage else "",
                reported=fmt_dt(c.reported_at, tz),
                overdue=light == "red",
                urgent=c.urgent,
            )
        )
    return out


@dataclass
class LogItem:
    seq: int
    action: str
    label: str
    at: str
    actor: str
    role: str
    from_label: str
    to_label: str
    reason: str
    note: str
    attachments: list[str]
    details: list[str] = field(default_factory=list)


@dataclass
class Detail:
    timeline: list[LogItem]
    photos_before: list[str]
    photos_after: list[str]
    photos_verify: list[str]


_PHOTO_GROUP = {
    "report": "before",
    "complete_check": "before",
    "report_done": "after",
    "close": "after",
    "complete_verify": "verify",
}


def detail(session: Session, case: CaseRow, tz: ZoneInfo, t: Translator) -> Detail:
    rows = list(
        session.scalars(
            select(CaseLogRow).where(CaseLogRow.case_id == case.id).order_by(CaseLogRow.seq)
        )
    )
    names = user_names(session, {r.actor_id for r in rows if r.actor_id is not None})
    orgs = org_names(session)
    groups: dict[str, list[str]] = {"before": [], "after": [], "verify": []}
    items = []
    for r in rows:
        e = json.loads(r.entry)
        sets: dict[str, Any] = e.get("sets", {})
        details = []
        if sets.get("department"):
            details.append(
                f"{t('field.department')}：{orgs.get(sets['department'], sets['department'])}"
            )
        if sets.get("condition"):
            details.append(f"{t('field.condition')}：{sets['condition']}")
        if "verify_result" in sets and sets["verify_result"] is not None:
            details.append(t("result.pass") if sets["verify_result"] else t("result.fail"))
        if "check_result" in sets and sets["check_result"] is not None:
            details.append(t("result.pass") if sets["check_result"] else t("result.fail"))
        if sets.get("pending_extension"):
            details.append(f"{t('field.extension')}：{sets['pending_extension']}")
        group = _PHOTO_GROUP.get(r.action)
        if group:
            groups[group].extend(e["attachments"])
        role = r.actor_role
        items.append(
            LogItem(
                seq=r.seq,
                action=r.action,
                label=t(f"action.{r.action}"),
                at=fmt_dt(r.at, tz, full=True),
                actor=names.get(r.actor_id, "")
                if r.actor_id is not None
                else (t("log.citizen") if role == "public" else t("log.system")),
                role=t(f"role.{role}") if role and role != "public" else "",
                from_label=state_label(r.from_state, t) if r.from_state else "",
                to_label=state_label(r.to_state, t),
                reason=e.get("reason", ""),
                note=e.get("note", ""),
                attachments=list(e["attachments"]),
                details=details,
            )
        )
    return Detail(items, groups["before"], groups["after"], groups["verify"])
