"""The citizen's side of a case: report from the public page, follow it by number, rate the result.

Nothing here reveals who reported a case or who worked on it: the status shows the public stages
(上报 → 立案 → 派遣 → 处置 → 核实 → 结案) with their times, the type, the place, and photos —
only their EXIF-stripped copies, and only photos attached to the case's report, handling result
or verification.

The reading of a case's log behind the status (``public_trail``: the steps citizens see, when
each public stage was reached, the public photos) is shared with Open311 (services/open311.py),
whose request notes are the same steps.

Rating needs the case number and a *rating secret* given to the reporter at submission. The
secret is an HMAC of the case number under the deployment's key: nothing extra is stored, a
retried submission (same idempotency key, same case) gets the same secret, and nobody can rate a
case they did not report. A case is rated once, after it is closed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from cityops.core.errors import Conflict, NotFound, ValidationFailed
from cityops.core.workflow import State
from cityops.services.cases import Created, NewCase, create_case
from cityops.store.schema import Case, CaseLogRow, CatalogType

PUBLIC_STAGES = ("report", "register", "dispatch", "handle", "verify", "close")
STAGE_LABELS = {
    "report": ("上报", "reported"),
    "register": ("立案", "registered"),
    "dispatch": ("派遣", "dispatched"),
    "handle": ("处置", "handled"),
    "verify": ("核实", "verified"),
    "close": ("结案", "closed"),
}
# Which log actions mark a public stage as reached (the first of them in the log).
_STAGE_OF_ACTION = {
    "report": "report",
    "register": "register",
    "dispatch": "dispatch",
    "report_done": "handle",
    "complete_verify": "verify",
    "close": "close",
    "merge_duplicate": "close",
    "void": "close",
}
# Photos the public may see: the report's, the handling result's, the verification's.
_PHOTO_KINDS = {"report": "before", "report_done": "after", "complete_verify": "after"}


def rating_secret(key: str, number: str) -> str:
    mac = hmac.new(key.encode(), f"rating:{number}".encode(), hashlib.sha256).digest()
    return base64.b32encode(mac[:10]).decode().lower()


@dataclass(frozen=True)
class PublicReport:
    type_code: str
    description: str
    lon: float
    lat: float
    crs: str = "wgs84"
    address: str = ""
    photos: tuple[str, ...] = ()
    contact_phone: str = ""


@dataclass(frozen=True)
class Submitted:
    number: str
    secret: str
    created: bool


def submit(
    session: Session,
    report: PublicReport,
    *,
    key: str,
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> Submitted:
    """A citizen's report: a ``public`` case without a user (the type must be public)."""
    created: Created = create_case(
        session,
        None,
        NewCase(
            source="public",
            type_code=report.type_code,
            description=report.description,
            lon=report.lon,
            lat=report.lat,
            crs=report.crs,
            address=report.address,
            photos=report.photos,
            reporter_phone=report.contact_phone,
        ),
        idempotency_key=f"public:{idempotency_key}" if idempotency_key else None,
        now=now,
    )
    number = created.case.number
    return Submitted(number, rating_secret(key, number), created.created)


_MOBILE = re.compile(r"(?<!\d)(1[3-9]\d)\d{4}(\d{4})(?!\d)")
_LANDLINE = re.compile(r"(?<!\d)(0\d{2,3})[- ]?\d{3,4}(\d{4})(?!\d)")
_MAIL_IN_TEXT = re.compile(
    r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"
)  # ASCII: 或a@b.c keeps 或
_MAYBE_CONTACT = re.compile(r"[\d@]")  # what the three patterns above need at least


def scrub(text: str, reporter_name: str = "") -> str:
    """Free text as the public may read it: phone numbers, e-mail addresses and the reporter's
    name masked (a citizen who wrote "call me on 138…" is not published)."""
    if _MAYBE_CONTACT.search(text):
        text = _MOBILE.sub(r"\1****\2", text)
        text = _LANDLINE.sub(r"\1-****\2", text)
        text = _MAIL_IN_TEXT.sub("***@***", text)
    name = reporter_name.strip()
    if len(name) >= 2:
        text = text.replace(name, name[0] + "*" * (len(name) - 1))
    return text


def public_case_only() -> list[Any]:
    """Conditions of a statement that reads one case for the public: its type is one the city
    shows the public (decision D18: the status page and Open311 agree; a case not typed yet or
    of a hidden type is "no case", whoever asks). The type is looked up on the catalog's unique
    index instead of listing every hidden code (~150 rows) to test one."""
    hidden = exists().where(
        CatalogType.kind == "matter",
        CatalogType.code == Case.type_code,
        CatalogType.public.is_(False),
    )
    return [Case.type_code.is_not(None), ~hidden]


def _public_case(session: Session, number: str) -> Case:
    row = session.scalar(select(Case).where(Case.number == number, *public_case_only()))
    if row is None:
        raise NotFound(f"没有案件 {number}", en=f"no case {number}", code="unknown_case")
    return row


@dataclass(frozen=True)
class StageMark:
    stage: str
    label: str
    label_en: str
    at: datetime | None


@dataclass(frozen=True)
class PublicStatus:
    number: str
    state: str
    stage: str
    stage_label: str
    stage_label_en: str
    type_name: str
    description: str
    address: str
    lon: float | None
    lat: float | None
    reported_at: datetime
    closed_at: datetime | None
    voided: bool
    timeline: list[StageMark]
    photos_before: list[str] = field(default_factory=list)
    photos_after: list[str] = field(default_factory=list)
    rating: int | None = None
    rating_comment: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "stage": self.stage,
            "stage_label": self.stage_label,
            "type_name": self.type_name,
            "description": self.description,
            "address": self.address,
            "reported_at": self.reported_at.isoformat(),
            "closed_at": self.closed_at.isoformat() if self.closed_at else None,
            "voided": self.voided,
            "timeline": [
                {"stage": m.stage, "label": m.label, "at": m.at.isoformat() if m.at else None}
                for m in self.timeline
            ],
            "photos_before": self.photos_before,
            "photos_after": self.photos_after,
            "rating": self.rating,
        }


# --- what the public sees of a case's log (the status page here, notes in Open311) ---------------


class LogRow(Protocol):
    """A row of the case log with the columns ``public_trail`` reads (in ``seq`` order)."""

    @property
    def seq(self) -> int: ...
    @property
    def action(self) -> str: ...
    @property
    def at(self) -> datetime: ...
    @property
    def from_state(self) -> str: ...
    @property
    def to_state(self) -> str: ...
    @property
    def entry(self) -> str: ...


LOG_COLUMNS = (
    CaseLogRow.seq,
    CaseLogRow.action,
    CaseLogRow.at,
    CaseLogRow.from_state,
    CaseLogRow.to_state,
    CaseLogRow.entry,
)


@dataclass(frozen=True)
class PublicStep:
    """A step of the log citizens see: the report, and every step that moved the case (urges,
    directives, tasks and requests stay internal). It never says who acted."""

    seq: int
    action: str
    at: datetime
    to_state: str
    entry: Mapping[str, Any]  # the log entry: its reason, note, what it set (a department)


@dataclass(frozen=True)
class PublicTrail:
    steps: list[PublicStep]
    reached: dict[str, datetime]  # public stage → when the log first reached it
    photos_before: list[str]  # the report's photos
    photos_after: list[str]  # the handling result's and the verification's


def public_trail(log: Iterable[LogRow]) -> PublicTrail:
    """What citizens may see of a case's log (rows in ``seq`` order): the public status page
    (``status``) and Open311's notes (services/open311.py) are both read from this."""
    steps: list[PublicStep] = []
    reached: dict[str, datetime] = {}
    before: list[str] = []
    after: list[str] = []
    for row in log:
        moved = row.seq == 1 or row.from_state != row.to_state
        kind = _PHOTO_KINDS.get(row.action)
        entry: dict[str, Any] = json.loads(row.entry) if moved or kind else {}
        stage = _STAGE_OF_ACTION.get(row.action)
        if stage and stage not in reached:
            reached[stage] = row.at
        if kind == "before":
            before.extend(entry.get("attachments", ()))
        elif kind == "after":
            after.extend(entry.get("attachments", ()))
        if moved:
            steps.append(PublicStep(row.seq, row.action, row.at, row.to_state, entry))
    return PublicTrail(steps, reached, before, after)


def _trail(session: Session, case_id: int) -> PublicTrail:
    rows = session.execute(
        select(*LOG_COLUMNS).where(CaseLogRow.case_id == case_id).order_by(CaseLogRow.seq)
    )
    return public_trail(rows)


def status(session: Session, number: str) -> PublicStatus:
    """What a citizen may know about a case: stages and times, type, place, public photos."""
    row = _public_case(session, number)
    state = State(row.state)
    trail = _trail(session, row.id)
    reached = trail.reached
    t = session.get(CatalogType, ("matter", row.type_code)) if row.type_code is not None else None
    zh, en = STAGE_LABELS[state.public_stage]
    if state is State.voided:
        zh, en = "不予立案", "not registered"
    return PublicStatus(
        number=row.number,
        state=row.state,
        stage=state.public_stage,
        stage_label=zh,
        stage_label_en=en,
        type_name=(t.display_name or t.name) if t else "",
        description=scrub(row.description, row.reporter_name),
        address=scrub(row.address, row.reporter_name),
        lon=row.lon,
        lat=row.lat,
        reported_at=row.reported_at,
        closed_at=row.closed_at,
        voided=state is State.voided,
        timeline=[
            StageMark(s, *STAGE_LABELS[s], reached.get(s))
            for s in PUBLIC_STAGES
            if not (state is State.voided and s not in reached)
        ],
        photos_before=trail.photos_before,
        photos_after=trail.photos_after,
        rating=row.rating,
        rating_comment=row.rating_comment,
    )


def public_photo(session: Session, number: str, attachment_id: str) -> bool:
    """Whether the attachment is one of the case's publicly visible photos."""
    st = status(session, number)
    return attachment_id in (*st.photos_before, *st.photos_after)


def rate(
    session: Session,
    number: str,
    secret: str,
    rating: int,
    comment: str = "",
    *,
    key: str,
) -> Case:
    """The reporter rates a closed case once (1–5 stars and an optional comment)."""
    row = _public_case(session, number)
    if not hmac.compare_digest(rating_secret(key, number), secret.strip().lower()):
        raise ValidationFailed("评价凭证不正确", en="wrong rating code", code="wrong_rating_secret")
    if not 1 <= rating <= 5:
        raise ValidationFailed(
            "评分应为 1 到 5", en="the rating must be 1 to 5", code="invalid_rating"
        )
    if len(comment) > 500:
        raise ValidationFailed(
            "评价内容过长（上限 500 字）",
            en="comment too long (500 characters at most)",
            code="invalid_rating",
        )
    if row.state != State.closed.value:
        raise Conflict(
            "案件结案后才能评价", en="a case can be rated once it is closed", code="not_closed"
        )
    if row.rating is not None:
        raise Conflict("该案件已评价", en="this case has already been rated", code="already_rated")
    row.rating = rating
    row.rating_comment = comment.strip()
    session.flush()
    return row


@dataclass(frozen=True)
class TypeChoice:
    code: str
    name: str


@dataclass(frozen=True)
class TypeGroup:
    key: str
    label: str
    label_en: str
    icon: str
    types: list[TypeChoice]


def public_type_groups(session: Session, groups: list[dict[str, Any]]) -> list[TypeGroup]:
    """Plain-language groups (from the web configuration) with the types of each that are
    enabled and open to public reporting in this city; empty groups are left out."""
    wanted = [c for g in groups for c in g["types"]]
    rows = {
        t.code: t
        for t in session.scalars(
            select(CatalogType).where(
                CatalogType.kind == "matter",
                CatalogType.code.in_(wanted),
                CatalogType.enabled.is_(True),
                CatalogType.public.is_(True),
            )
        )
    }
    out = []
    for g in groups:
        types = [
            TypeChoice(c, rows[c].display_name or rows[c].name) for c in g["types"] if c in rows
        ]
        if types:
            out.append(TypeGroup(g["key"], g["label"], g["label_en"], g.get("icon", ""), types))
    return out
