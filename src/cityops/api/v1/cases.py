"""Cases: intake, queues and search, detail, log, the actions a user may take, tasks, photos."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import fields
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, File, Header, Query, Request, Response, UploadFile
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from cityops.api.deps import CurrentUser, Db, IntakePrincipal, intake_writer
from cityops.core.errors import ValidationFailed
from cityops.core.roles import Role
from cityops.core.workflow import State
from cityops.services import attachments as att
from cityops.services import cases as svc
from cityops.services.principals import Principal
from cityops.store.blobs import DiskBlobStore
from cityops.store.schema import Case, CaseLogRow, User

router = APIRouter(tags=["cases"])

D = TypeVar("D")
Source = Literal["patrol", "public", "hotline", "leader", "sensor", "inspection"]


class CaseIn(BaseModel):
    source: Source = "patrol"
    type_code: str | None = Field(default=None, pattern=r"^\d{5}$")
    description: str = Field(default="", max_length=4000)
    lon: float | None = Field(default=None, ge=-180, le=180)
    lat: float | None = Field(default=None, ge=-90, le=90)
    crs: str = "wgs84"
    address: str = Field(default="", max_length=200)
    component_id: str | None = Field(default=None, pattern=r"^\d{17}$")
    photos: list[str] = Field(default_factory=list, max_length=9)
    photos_after: list[str] = Field(default_factory=list, max_length=9)
    reporter_name: str = Field(default="", max_length=50)
    reporter_phone: str = Field(default="", max_length=30)
    reporter_contact: str = Field(default="", max_length=200)
    urgent: bool = False
    self_handled: bool = False


class StageOut(BaseModel):
    stage: str | None
    due_at: datetime | None
    warn_at: datetime | None
    light: str | None
    paused: bool


class CaseOut(BaseModel):
    id: int
    number: str
    version: int
    state: str
    state_label: str
    public_stage: str
    source: str
    type_code: str | None
    condition: str | None
    handling_limit: str | None
    description: str
    address: str
    lon: float | None
    lat: float | None
    grid_code: str | None
    community_code: str | None
    street_code: str | None
    district_code: str | None
    component_id: str | None
    department: str | None
    handler_id: int | None
    reporter_name: str
    reporter_phone: str
    urgent: bool
    self_handled: bool
    task: dict[str, Any] | None
    pending_extension: str | None
    pending_suspension: str | None
    verify_result: bool | None
    close_reason: str | None
    parent_id: int | None
    counts: dict[str, int]
    reported_at: datetime
    registered_at: datetime | None
    dispatched_at: datetime | None
    handled_at: datetime | None
    closed_at: datetime | None
    current: StageOut

    @classmethod
    def of(cls, row: Case, viewer: User | Principal | None, now: datetime) -> CaseOut:
        state = State(row.state)
        sees_contact = viewer is not None and bool(
            {Role.acceptor.value, Role.shift_leader.value} & set(viewer.role_names)
        )
        return cls(
            id=row.id,
            number=row.number,
            version=row.version,
            state=row.state,
            state_label=state.label_zh,
            public_stage=state.public_stage,
            source=row.source,
            type_code=row.type_code,
            condition=row.condition,
            handling_limit=row.handling_limit,
            description=row.description,
            address=row.address,
            lon=row.lon,
            lat=row.lat,
            grid_code=row.grid_code,
            community_code=row.community_code,
            street_code=row.street_code,
            district_code=row.district_code,
            component_id=row.component_id,
            department=row.department,
            handler_id=row.handler_id,
            reporter_name=row.reporter_name if sees_contact else mask_name(row.reporter_name),
            reporter_phone=row.reporter_phone if sees_contact else mask_phone(row.reporter_phone),
            urgent=row.urgent,
            self_handled=row.self_handled,
            task=(
                {"kind": row.task_kind, "assignee_id": row.task_assignee_id}
                if row.task_kind
                else None
            ),
            pending_extension=row.pending_extension,
            pending_suspension=row.pending_suspension,
            verify_result=row.verify_result,
            close_reason=row.close_reason,
            parent_id=row.parent_id,
            counts={
                "returns": row.returns,
                "reworks": row.reworks,
                "extensions": row.extensions,
                "urges": row.urges,
                "supervisions": row.supervisions,
            },
            reported_at=row.reported_at,
            registered_at=row.registered_at,
            dispatched_at=row.dispatched_at,
            handled_at=row.handled_at,
            closed_at=row.closed_at,
            current=StageOut(
                stage=row.stage,
                due_at=row.due_at,
                warn_at=row.warn_at,
                light=stage_light(row, now),
                paused=row.paused,
            ),
        )


def stage_light(row: Case, now: datetime) -> str | None:
    if row.due_at is None or row.warn_at is None:
        return None
    if row.paused:
        return "paused"
    if now > row.due_at:
        return "red"
    return "yellow" if now >= row.warn_at else "green"


def mask_phone(phone: str) -> str:
    """138****1234: enough to recognise, not enough to call."""
    digits = phone.strip()
    if len(digits) < 7:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def mask_name(name: str) -> str:
    return name[:1] + "*" * (len(name) - 1) if name else ""


class CreatedOut(BaseModel):
    case: CaseOut
    created: bool
    duplicate_candidates: list[int]


class CasePage(BaseModel):
    total: int
    page: int
    page_size: int
    items: list[CaseOut]


class LogOut(BaseModel):
    seq: int
    action: str
    at: datetime
    actor_id: int | None
    actor_role: str
    from_state: str | None
    to_state: str
    reason: str
    note: str
    attachments: list[str]
    stages: list[dict[str, Any]]
    hash: str

    @classmethod
    def of(cls, r: CaseLogRow) -> LogOut:
        e = json.loads(r.entry)
        return cls(
            seq=r.seq,
            action=r.action,
            at=r.at,
            actor_id=r.actor_id,
            actor_role=r.actor_role,
            from_state=r.from_state,
            to_state=r.to_state,
            reason=e["reason"],
            note=e["note"],
            attachments=e["attachments"],
            stages=[
                {k: c[k] for k in ("stage", "limit", "started_at", "due_at", "ended_at")}
                for c in e["clocks"]
            ],
            hash=r.hash,
        )


class ActionIn(BaseModel):
    version: int | None = Field(default=None, description="The case version you saw (409 if stale)")
    reason: str = Field(default="", max_length=1000)
    note: str = Field(default="", max_length=2000)
    type_code: str | None = Field(default=None, pattern=r"^\d{5}$")
    condition: str | None = Field(default=None, max_length=300)
    department: str | None = Field(default=None, max_length=32)
    handler: str | None = Field(default=None, max_length=64)
    supervisor: str | None = Field(default=None, max_length=64)
    result: bool | None = None
    extension: str | None = Field(default=None, max_length=40, examples=["1工作日"])
    parent: str | None = Field(default=None, max_length=32)
    photos_before: list[str] = Field(default_factory=list, max_length=9)
    photos_after: list[str] = Field(default_factory=list, max_length=9)
    attachments: list[str] = Field(default_factory=list, max_length=9)


class ActionsOut(BaseModel):
    version: int
    state: str
    actions: list[str]
    suggestion: dict[str, Any] | None


_FIELDS: dict[type, frozenset[str]] = {}


def _to(cls: type[D], body: BaseModel) -> D:
    """The service's request from an API body that uses its field names (lists become tuples),
    so a field added to both cannot be forgotten in between."""
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = frozenset(f.name for f in fields(cls))  # type: ignore[arg-type]
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in body if k in names})


def _now() -> datetime:
    """Only compared with stored aware instants (lights), so the zone does not matter."""
    return datetime.now(UTC)


@router.post(
    "/cases",
    response_model=CreatedOut,
    status_code=201,
    summary="Report a case (any channel)",
    responses={200: {"model": CreatedOut, "description": "The case an earlier try created"}},
)
async def create_case(
    body: CaseIn,
    request: Request,
    principal: IntakePrincipal,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=100)] = None,
) -> Response:
    """A retry with the same `Idempotency-Key` returns the first case (200 instead of 201).

    Written by the database's group writer (services/writer.py): several concurrent reports
    share one transaction, each with its own answer."""
    new = _to(svc.NewCase, body)

    def prepare(session: Session) -> Callable[[Session], svc.Created]:
        plan = svc.prepare_intake(session, principal.actor, new, idempotency_key=idempotency_key)
        if isinstance(plan, svc.Created):
            return lambda _session: plan
        return lambda session: svc.write_intake(session, plan)

    created = await intake_writer(request).arun(prepare)
    out = CreatedOut(
        case=CaseOut.of(created.case, principal, _now()),
        created=created.created,
        duplicate_candidates=created.duplicate_candidates,
    )
    return Response(
        out.model_dump_json(),
        status_code=201 if created.created else 200,
        media_type="application/json",
    )


@router.get("/cases", response_model=CasePage, summary="Search cases / my work queue")
def list_cases(
    session: Db,
    user: CurrentUser,
    state: Annotated[list[str] | None, Query()] = None,
    stage: str | None = None,
    type_code: Annotated[str | None, Query(alias="type", pattern=r"^\d{2,5}$")] = None,
    region: Annotated[str | None, Query(pattern=r"^\d{6,15}$")] = None,
    department: str | None = None,
    source: str | None = None,
    overdue: bool | None = None,
    light: Literal["green", "yellow", "red"] | None = None,
    text: Annotated[str | None, Query(max_length=100)] = None,
    mine: bool = False,
    sort: Literal["due_at", "-due_at", "reported_at", "-reported_at", "number"] = "due_at",
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> CasePage:
    if state:
        bad = [s for s in state if s not in {x.value for x in State}]
        if bad:
            raise ValidationFailed(
                f"未知状态：{', '.join(bad)}",
                en=f"unknown state(s): {', '.join(bad)}",
                code="invalid_request",
                details={"valid": [x.value for x in State]},
            )
    now = _now()
    rows, total = svc.list_cases(
        session,
        user,
        svc.CaseQuery(
            state=state,
            stage=stage,
            type_code=type_code,
            region=region,
            department=department,
            source=source,
            overdue=overdue,
            light=light,
            text=text,
            mine=mine,
            sort=sort,
            page=page,
            page_size=page_size,
        ),
        now=now,
    )
    return CasePage(
        total=total, page=page, page_size=page_size, items=[CaseOut.of(r, user, now) for r in rows]
    )


@router.get("/cases/{ref}", response_model=CaseOut, summary="One case (by id or number)")
def get_case(ref: str, session: Db, user: CurrentUser) -> CaseOut:
    row = svc.visible(session, svc.get_case(session, ref), user)
    return CaseOut.of(row, user, _now())


@router.get("/cases/{ref}/log", response_model=list[LogOut], summary="The case log")
def get_log(ref: str, session: Db, user: CurrentUser) -> list[LogOut]:
    row = svc.visible(session, svc.get_case(session, ref), user)
    return [LogOut.of(r) for r in svc.log_of(session, row.id)]


@router.get("/cases/{ref}/actions", response_model=ActionsOut, summary="What I may do now")
def get_actions(ref: str, session: Db, user: CurrentUser) -> ActionsOut:
    row = svc.visible(session, svc.get_case(session, ref), user)
    suggestion = svc.suggestion_for(session, row) if row.state == "pending_dispatch" else None
    return ActionsOut(
        version=row.version,
        state=row.state,
        actions=svc.actions_for(session, row, user),
        suggestion=suggestion,
    )


@router.post(
    "/cases/{ref}/actions/{action}", response_model=CaseOut, summary="Take an action on a case"
)
def take_action(ref: str, action: str, body: ActionIn, session: Db, user: CurrentUser) -> CaseOut:
    row = svc.act(
        session,
        ref,
        action,
        user,
        _to(svc.ActionRequest, body),
        expected_version=body.version,
    )
    return CaseOut.of(row, user, _now())


# --- supervisor tasks ------------------------------------------------------------------------------


class TaskOut(BaseModel):
    id: int
    case_id: int
    case_number: str
    kind: str
    opened_at: datetime
    due_at: datetime | None
    completed_at: datetime | None
    result: bool | None


class TaskDone(BaseModel):
    result: bool
    note: str = Field(default="", max_length=2000)
    photos: list[str] = Field(default_factory=list, max_length=9)
    version: int | None = None


@router.get("/tasks", response_model=list[TaskOut], summary="My 核查/核实 tasks")
def my_tasks(session: Db, user: CurrentUser, open_only: bool = True) -> list[TaskOut]:
    return [
        TaskOut(
            id=t.id,
            case_id=t.case_id,
            case_number=number,
            kind=t.kind,
            opened_at=t.opened_at,
            due_at=t.due_at,
            completed_at=t.completed_at,
            result=t.result,
        )
        for t, number in svc.tasks_of(session, user, open_only=open_only)
    ]


@router.post("/tasks/{task_id}/complete", response_model=CaseOut, summary="Report a task's result")
def complete_task(task_id: int, body: TaskDone, session: Db, user: CurrentUser) -> CaseOut:
    row = svc.complete_task(
        session, task_id, user, body.result, body.note, tuple(body.photos), body.version
    )
    return CaseOut.of(row, user, _now())


# --- attachments -----------------------------------------------------------------------------------


class AttachmentOut(BaseModel):
    id: str
    content_type: str
    size: int
    width: int
    height: int


def _store(request: Request) -> DiskBlobStore:
    return DiskBlobStore(request.app.state.settings.data_dir / "blobs")


@router.post(
    "/attachments", response_model=AttachmentOut, status_code=201, summary="Upload a photo"
)
async def upload(
    request: Request, session: Db, user: CurrentUser, file: Annotated[UploadFile, File()]
) -> AttachmentOut:
    data = await file.read(att.MAX_BYTES + 1)
    up = att.save_upload(session, _store(request), data, file.filename or "", user.id)
    return AttachmentOut(
        id=up.id, content_type=up.content_type, size=up.size, width=up.width, height=up.height
    )


@router.get("/attachments/{attachment_id}", summary="A photo (original, for staff)")
def download(attachment_id: str, request: Request, session: Db, _user: CurrentUser) -> Response:
    row = att.get_attachment(session, attachment_id)
    return Response(
        att.read_attachment(_store(request), row, public=False), media_type=row.content_type
    )
