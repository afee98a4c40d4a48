"""The case workflow: one declarative transition table, and the two pure functions around it.

``decide(case, action, ctx)`` checks an action against the table (state, role, data scope,
required inputs, guard) and returns the log entry it would write, with every change spelled out:
the fields it sets, the stage clocks it starts, ends, pauses or re-dates, the tasks and
notifications it asks for. ``evolve(case, entry)`` applies an entry to the case without any rule
or calendar, so replaying the log (`rebuild`) gives back the stored case exactly even after the
calendar or the table changed. Every code path that changes a case goes through ``decide``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol

from cityops.core.clock import TimeLimit
from cityops.core.errors import CityopsError, Conflict, Forbidden, ValidationFailed
from cityops.core.roles import Role
from cityops.core.standards import StageLimits


class State(StrEnum):
    reported = "reported"  # 上报，待受理
    pending_dispatch = "pending_dispatch"  # 已立案，待派遣
    dispatched = "dispatched"  # 已派遣，待部门签收
    handling = "handling"  # 处置中
    handled = "handled"  # 已处置，待核实
    verifying = "verifying"  # 核实中
    suspended = "suspended"  # 挂账/缓办
    closed = "closed"  # 结案
    voided = "voided"  # 作废

    @property
    def label_zh(self) -> str:
        return _STATE_LABELS[self][0]

    @property
    def label_en(self) -> str:
        return _STATE_LABELS[self][1]

    @property
    def public_stage(self) -> str:
        """The stage citizens and upper platforms see (DESIGN §3)."""
        return _PUBLIC_STAGE[self]


_STATE_LABELS = {
    State.reported: ("待受理", "reported"),
    State.pending_dispatch: ("待派遣", "registered, awaiting dispatch"),
    State.dispatched: ("待签收", "dispatched"),
    State.handling: ("处置中", "being handled"),
    State.handled: ("已处置", "handled"),
    State.verifying: ("核实中", "being verified"),
    State.suspended: ("挂账", "suspended"),
    State.closed: ("已结案", "closed"),
    State.voided: ("已作废", "voided"),
}
_PUBLIC_STAGE = {
    State.reported: "report",
    State.pending_dispatch: "register",
    State.dispatched: "dispatch",
    State.handling: "handle",
    State.handled: "handle",
    State.verifying: "verify",
    State.suspended: "handle",
    State.closed: "close",
    State.voided: "close",
}
OPEN_STATES = frozenset(State) - {State.closed, State.voided}


class Stage(StrEnum):
    """Each stage has its own deadline and warning light (DESIGN §3)."""

    register = "register"
    dispatch = "dispatch"
    handling = "handling"
    verify = "verify"


class Action(StrEnum):
    report = "report"  # the first entry of every case (intake)
    register = "register"
    void = "void"
    request_check = "request_check"
    complete_check = "complete_check"
    dispatch = "dispatch"
    return_ = "return"
    accept = "accept"
    assign = "assign"
    report_done = "report_done"
    request_verify = "request_verify"
    complete_verify = "complete_verify"
    rework = "rework"
    close = "close"
    request_suspension = "request_suspension"
    suspend = "suspend"
    resume = "resume"
    request_extension = "request_extension"
    approve_extension = "approve_extension"
    reject_extension = "reject_extension"
    urge = "urge"
    supervise = "supervise"
    merge_duplicate = "merge_duplicate"


class Input(StrEnum):
    reason = "reason"
    note = "note"
    type_code = "type_code"
    condition = "condition"
    department = "department"
    handler = "handler"
    supervisor = "supervisor"
    result = "result"
    extension = "extension"
    parent = "parent"
    photos_before = "photos_before"
    photos_after = "photos_after"


class Scope(StrEnum):
    """Whose data scope an action needs (DESIGN §1)."""

    area = "area"  # the case lies in the actor's region subtree
    department = "department"  # the case is with the actor's department
    handler = "handler"  # the actor is the case's handler (or its department)
    assignee = "assignee"  # the actor holds the case's open task
    reporter = "reporter"  # the actor reported the case


class Guard(StrEnum):
    no_open_task = "no_open_task"
    check_task_open = "check_task_open"
    verify_task_open = "verify_task_open"
    verify_passed = "verify_passed"
    not_verify_passed = "not_verify_passed"
    self_handled = "self_handled"
    extension_pending = "extension_pending"
    no_extension_pending = "no_extension_pending"
    no_suspension_pending = "no_suspension_pending"


class Effect(StrEnum):
    start_register = "start_register"
    start_dispatch = "start_dispatch"
    start_handling = "start_handling"
    start_verify = "start_verify"
    end_register = "end_register"
    end_dispatch = "end_dispatch"
    end_handling = "end_handling"
    end_verify = "end_verify"
    set_type = "set_type"
    set_department = "set_department"
    clear_department = "clear_department"
    set_handler = "set_handler"
    open_check_task = "open_check_task"
    record_check = "record_check"
    open_verify_task = "open_verify_task"
    record_verify = "record_verify"
    clear_verify = "clear_verify"
    count_return = "count_return"
    count_rework = "count_rework"
    count_urge = "count_urge"
    count_supervise = "count_supervise"
    ask_extension = "ask_extension"
    grant_extension = "grant_extension"
    drop_extension = "drop_extension"
    ask_suspension = "ask_suspension"
    pause = "pause"
    unpause = "unpause"
    close_normal = "close_normal"
    close_self_handled = "close_self_handled"
    close_duplicate = "close_duplicate"
    notify_holder = "notify_holder"


@dataclass(frozen=True)
class Transition:
    action: Action
    source: frozenset[State]
    target: State | None  # None: the state does not change (or an effect decides: resume)
    roles: frozenset[Role]
    scope: Scope
    requires: frozenset[Input] = frozenset()
    guard: Guard | None = None
    effects: tuple[Effect, ...] = ()
    label: tuple[str, str] = ("", "")


def _t(
    action: Action,
    source: Iterable[State],
    target: State | None,
    roles: Iterable[Role],
    scope: Scope,
    requires: Iterable[Input] = (),
    guard: Guard | None = None,
    effects: Iterable[Effect] = (),
    label: tuple[str, str] = ("", ""),
) -> Transition:
    return Transition(
        action,
        frozenset(source),
        target,
        frozenset(roles),
        scope,
        frozenset(requires),
        guard,
        tuple(effects),
        label,
    )


S, A, R, In, E, G = State, Action, Role, Input, Effect, Guard
CENTRE = (R.acceptor, R.shift_leader)
DISPATCH = (R.dispatcher, R.shift_leader)
WORKING = (S.pending_dispatch, S.dispatched, S.handling)
OPEN_NOT_SUSPENDED = tuple(s for s in OPEN_STATES if s is not S.suspended)

# fmt: off
TRANSITIONS: tuple[Transition, ...] = (
    _t(A.register, [S.reported], S.pending_dispatch, CENTRE, Scope.area,
       [In.type_code, In.condition], G.no_open_task,
       [E.end_register, E.set_type, E.start_dispatch], ("立案", "register")),
    _t(A.void, [S.reported], S.voided, CENTRE, Scope.area, [In.reason], None,
       [E.end_register], ("作废", "void")),
    _t(A.request_check, [S.reported], None, CENTRE, Scope.area, [In.supervisor], G.no_open_task,
       [E.open_check_task], ("核查", "request check")),
    _t(A.complete_check, [S.reported], None, [R.supervisor], Scope.assignee, [In.result],
       G.check_task_open, [E.record_check], ("核查反馈", "report check")),
    _t(A.dispatch, [S.pending_dispatch], S.dispatched, DISPATCH, Scope.area, [In.department], None,
       [E.end_dispatch, E.set_department, E.start_handling, E.notify_holder], ("派遣", "dispatch")),
    # 回退: one step back to the party that sent it.
    _t(A.return_, [S.pending_dispatch], S.reported, DISPATCH, Scope.area, [In.reason], None,
       [E.end_dispatch, E.count_return, E.start_register], ("回退", "return")),
    _t(A.return_, [S.dispatched, S.handling], S.pending_dispatch, [R.department],
       Scope.department, [In.reason], G.no_extension_pending,
       [E.end_handling, E.clear_department, E.count_return, E.start_dispatch],
       ("回退", "return")),
    _t(A.accept, [S.dispatched], S.handling, [R.department], Scope.department, [], None, [],
       ("签收", "accept")),
    _t(A.assign, [S.dispatched, S.handling], S.handling, [R.department], Scope.department,
       [In.handler], None, [E.set_handler, E.notify_holder], ("分派", "assign")),
    _t(A.report_done, [S.handling], S.handled, [R.department, R.handler], Scope.handler,
       [In.note], None, [E.end_handling, E.drop_extension], ("处置反馈", "report done")),
    _t(A.request_verify, [S.handled], S.verifying, (*CENTRE, R.dispatcher), Scope.area,
       [In.supervisor], None, [E.start_verify, E.open_verify_task], ("核实", "request verify")),
    _t(A.complete_verify, [S.verifying], None, [R.supervisor], Scope.assignee, [In.result],
       G.verify_task_open, [E.end_verify, E.record_verify], ("核实反馈", "report verify")),
    _t(A.rework, [S.handled, S.verifying], S.handling, DISPATCH, Scope.area, [In.reason],
       G.not_verify_passed, [E.end_verify, E.clear_verify, E.count_rework, E.start_handling,
                             E.notify_holder], ("返工", "rework")),
    _t(A.close, [S.verifying], S.closed, CENTRE, Scope.area, [], G.verify_passed,
       [E.close_normal], ("结案", "close")),
    # 自行处置: a supervisor's own report with before/after photos closes at once.
    _t(A.close, [S.reported], S.closed, [R.supervisor], Scope.reporter,
       [In.photos_before, In.photos_after], G.self_handled,
       [E.end_register, E.close_self_handled], ("自行处置结案", "close as self-handled")),
    _t(A.request_suspension, [S.dispatched, S.handling], None, [R.department], Scope.department,
       [In.reason], G.no_suspension_pending, [E.ask_suspension], ("申请挂账", "ask to suspend")),
    _t(A.suspend, WORKING, S.suspended, DISPATCH, Scope.area, [In.reason], None, [E.pause],
       ("挂账", "suspend")),
    _t(A.resume, [S.suspended], None, DISPATCH, Scope.area, [], None, [E.unpause],
       ("恢复", "resume")),
    _t(A.request_extension, [S.dispatched, S.handling], None, [R.department], Scope.department,
       [In.extension, In.reason], G.no_extension_pending, [E.ask_extension],
       ("申请延期", "ask for extension")),
    _t(A.approve_extension, [S.dispatched, S.handling], None, DISPATCH, Scope.area, [],
       G.extension_pending, [E.grant_extension, E.notify_holder], ("批准延期", "approve extension")),
    _t(A.reject_extension, [S.dispatched, S.handling], None, DISPATCH, Scope.area, [In.reason],
       G.extension_pending, [E.drop_extension, E.notify_holder], ("驳回延期", "reject extension")),
    _t(A.urge, OPEN_NOT_SUSPENDED, None, (*DISPATCH, R.leader), Scope.area, [In.note], None,
       [E.count_urge, E.notify_holder], ("催办", "urge")),
    _t(A.supervise, OPEN_STATES, None, [R.leader], Scope.area, [In.note], None,
       [E.count_supervise, E.notify_holder], ("督办", "supervise")),
    _t(A.merge_duplicate, [S.reported], S.closed, CENTRE, Scope.area, [In.parent, In.reason], None,
       [E.end_register, E.close_duplicate], ("合并重复", "merge duplicate")),
)
# fmt: on


def _index(table: Sequence[Transition]) -> dict[tuple[Action, State], Transition]:
    """(action, state) → transition; a pair listed twice is a table error, found at import."""
    out: dict[tuple[Action, State], Transition] = {}
    for t in table:
        for s in t.source:
            if (t.action, s) in out:
                raise ValueError(f"transition table lists {t.action} from {s} twice")
            out[(t.action, s)] = t
    return out


TABLE = _index(TRANSITIONS)


# --- the case as the workflow sees it ---------------------------------------------------------------


@dataclass(frozen=True)
class StageClock:
    stage: Stage
    started_at: datetime
    limit: str  # TimeLimit text, e.g. "4工作时"; extensions are appended as "+1工作日"
    due_at: datetime
    warn_at: datetime  # 80 % of the limit used: the light turns yellow (red after due_at)
    ended_at: datetime | None = None
    paused_at: datetime | None = None
    pauses: tuple[tuple[datetime, datetime], ...] = ()

    @property
    def open(self) -> bool:
        return self.ended_at is None


@dataclass(frozen=True)
class Task:
    kind: str  # check | verify
    assignee_id: int
    opened_at: datetime


@dataclass(frozen=True)
class CaseState:
    """The projection of a case's log: what the current row holds."""

    state: State
    version: int = 0
    reported_at: datetime | None = None
    grid_code: str | None = None
    district_code: str | None = None
    reporter_id: int | None = None
    source: str = ""
    self_handled: bool = False
    type_code: str | None = None
    condition: str | None = None
    handling_limit: str | None = None
    department: str | None = None
    handler_id: int | None = None
    task: Task | None = None
    check_result: bool | None = None
    verify_result: bool | None = None
    pending_extension: str | None = None
    pending_suspension: str | None = None
    suspended_from: State | None = None
    parent_id: int | None = None
    close_reason: str | None = None
    registered_at: datetime | None = None
    dispatched_at: datetime | None = None
    handled_at: datetime | None = None
    closed_at: datetime | None = None
    returns: int = 0
    reworks: int = 0
    extensions: int = 0
    urges: int = 0
    supervisions: int = 0
    stages: tuple[StageClock, ...] = ()

    def current(self, stage: Stage) -> StageClock | None:
        for clock in reversed(self.stages):
            if clock.stage is stage:
                return clock
        return None

    @property
    def open_stage(self) -> StageClock | None:
        return next((c for c in reversed(self.stages) if c.open), None)


# --- actors, inputs, context -------------------------------------------------------------------------


@dataclass(frozen=True)
class Actor:
    user_id: int | None
    roles: frozenset[Role]
    scope_region: str | None = None  # region code prefix, None = whole city
    department: str | None = None  # org unit code of a department user


@dataclass(frozen=True)
class ActionInput:
    reason: str = ""
    note: str = ""
    type_code: str | None = None
    condition: str | None = None
    handling_limit: TimeLimit | None = None  # resolved by the service from the case standard
    department: str | None = None
    handler: int | None = None
    supervisor: int | None = None
    result: bool | None = None
    extension: TimeLimit | None = None
    parent: int | None = None
    photos_before: tuple[str, ...] = ()
    photos_after: tuple[str, ...] = ()
    attachments: tuple[str, ...] = ()

    def has(self, what: Input) -> bool:
        value = getattr(self, what.value)
        if isinstance(value, str):
            return bool(value.strip())
        if isinstance(value, tuple):
            return bool(value)
        return value is not None


class Clock(Protocol):
    """The working-time calendar as the workflow needs it (see core/clock.py)."""

    def add(
        self,
        start: datetime,
        limit: TimeLimit,
        pauses: Sequence[tuple[datetime, datetime | None]] = (),
    ) -> datetime: ...


@dataclass(frozen=True)
class Context:
    actor: Actor
    at: datetime
    clock: Clock
    limits: StageLimits
    inputs: ActionInput = field(default_factory=ActionInput)


# --- the log entry -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogEntry:
    """One append-only log row. ``sets`` and ``clocks`` carry every change, so evolve needs no rules."""

    action: Action
    at: datetime
    actor_id: int | None
    actor_role: str
    from_state: State | None
    to_state: State
    reason: str = ""
    note: str = ""
    sets: Mapping[str, Any] = field(default_factory=dict)
    clocks: tuple[StageClock, ...] = ()  # new or changed stage clocks (replacing same stage+start)
    attachments: tuple[str, ...] = ()
    notify: tuple[str, ...] = ()  # whom to notify: "department:CODE", "user:ID"
    task: tuple[str, int] | None = None  # (kind, assignee) of a task to open

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action.value,
            "at": self.at.isoformat(),
            "actor_id": self.actor_id,
            "actor_role": self.actor_role,
            "from_state": self.from_state.value if self.from_state else None,
            "to_state": self.to_state.value,
            "reason": self.reason,
            "note": self.note,
            "sets": {k: _jsonable(v) for k, v in sorted(self.sets.items())},
            "clocks": [_clock_json(c) for c in self.clocks],
            "attachments": list(self.attachments),
            "notify": list(self.notify),
            "task": list(self.task) if self.task else None,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> LogEntry:
        return cls(
            action=Action(d["action"]),
            at=datetime.fromisoformat(d["at"]),
            actor_id=d["actor_id"],
            actor_role=d["actor_role"],
            from_state=State(d["from_state"]) if d["from_state"] else None,
            to_state=State(d["to_state"]),
            reason=d["reason"],
            note=d["note"],
            sets={k: _from_jsonable(k, v) for k, v in d["sets"].items()},
            clocks=tuple(_clock_from_json(c) for c in d["clocks"]),
            attachments=tuple(d["attachments"]),
            notify=tuple(d["notify"]),
            task=(d["task"][0], int(d["task"][1])) if d["task"] else None,
        )


def _jsonable(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.isoformat()
    if isinstance(v, Task):
        return {"kind": v.kind, "assignee_id": v.assignee_id, "opened_at": v.opened_at.isoformat()}
    if isinstance(v, StrEnum):
        return v.value
    return v


def _from_jsonable(key: str, v: Any) -> Any:
    if key == "task" and v is not None:
        return Task(v["kind"], int(v["assignee_id"]), datetime.fromisoformat(v["opened_at"]))
    if key in ("suspended_from", "state") and v is not None:
        return State(v)
    if key.endswith("_at") and v is not None:
        return datetime.fromisoformat(v)
    return v


def _clock_json(c: StageClock) -> dict[str, Any]:
    return {
        "stage": c.stage.value,
        "started_at": c.started_at.isoformat(),
        "limit": c.limit,
        "due_at": c.due_at.isoformat(),
        "warn_at": c.warn_at.isoformat(),
        "ended_at": c.ended_at.isoformat() if c.ended_at else None,
        "paused_at": c.paused_at.isoformat() if c.paused_at else None,
        "pauses": [[a.isoformat(), b.isoformat()] for a, b in c.pauses],
    }


def _clock_from_json(d: Mapping[str, Any]) -> StageClock:
    def dt(v: str | None) -> datetime | None:
        return datetime.fromisoformat(v) if v else None

    return StageClock(
        stage=Stage(d["stage"]),
        started_at=datetime.fromisoformat(d["started_at"]),
        limit=d["limit"],
        due_at=datetime.fromisoformat(d["due_at"]),
        warn_at=datetime.fromisoformat(d["warn_at"]),
        ended_at=dt(d["ended_at"]),
        paused_at=dt(d["paused_at"]),
        pauses=tuple(
            (datetime.fromisoformat(a), datetime.fromisoformat(b)) for a, b in d["pauses"]
        ),
    )


def entry_hash(
    prev_hash: str,
    case_id: int,
    seq: int,
    entry: LogEntry,
    *,
    as_json: Mapping[str, Any] | None = None,
) -> str:
    """SHA-256 over the previous hash and the entry's canonical JSON: a hash chain per case.
    ``as_json`` is ``entry.to_json()`` when the caller has it already."""
    payload = json.dumps(
        {"case": case_id, "seq": seq, **(entry.to_json() if as_json is None else as_json)},
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256((prev_hash + payload).encode("utf-8")).hexdigest()


# --- errors ------------------------------------------------------------------------------------------


class WrongState(Conflict):
    code = "wrong_state"


def _wrong_state(action: Action, state: State) -> WrongState:
    allowed = sorted({s.label_zh for (a, s) in TABLE if a is action})
    allowed_en = sorted({s.value for (a, s) in TABLE if a is action})
    return WrongState(
        f"案件当前状态为「{state.label_zh}」，不能{_label(action)[0]}（仅限：{'、'.join(allowed)}）",
        en=f"a case that is {state.label_en} cannot be {action.value}ed "
        f"(allowed from: {', '.join(allowed_en)})",
        details={"state": state.value, "action": action.value},
    )


def _label(action: Action) -> tuple[str, str]:
    for t in TRANSITIONS:
        if t.action is action:
            return t.label
    return (action.value, action.value)


# --- decide ------------------------------------------------------------------------------------------


def transition_for(case: CaseState, action: Action) -> Transition:
    t = TABLE.get((action, case.state))
    if t is None:
        raise _wrong_state(action, case.state)
    return t


def _in_scope(case: CaseState, t: Transition, actor: Actor, role: Role) -> bool:
    if actor.scope_region and not (case.grid_code or case.district_code or "").startswith(
        actor.scope_region
    ):
        return False
    if t.scope is Scope.area:
        return True
    if t.scope is Scope.department:
        return actor.department is not None and actor.department == case.department
    if t.scope is Scope.handler:
        if role is Role.handler:
            return actor.user_id is not None and actor.user_id == case.handler_id
        return actor.department is not None and actor.department == case.department
    if t.scope is Scope.assignee:
        return case.task is not None and case.task.assignee_id == actor.user_id
    return actor.user_id is not None and actor.user_id == case.reporter_id  # reporter


def acting_role(case: CaseState, t: Transition, actor: Actor) -> Role:
    """The role under which the actor may take ``t`` (the first that passes), else Forbidden."""
    roles = sorted(actor.roles & t.roles)
    if not roles:
        need = "、".join(r.label_zh for r in sorted(t.roles))
        raise Forbidden(
            f"只有{need}可以{t.label[0]}",
            en=f"only {', '.join(r.label_en for r in sorted(t.roles))} may {t.label[1]}",
            code="wrong_role",
        )
    for role in roles:
        if _in_scope(case, t, actor, role):
            return role
    raise Forbidden(
        f"该案件不在您的数据范围内，不能{t.label[0]}",
        en=f"this case is outside your data scope; you cannot {t.label[1]}",
        code="outside_scope",
    )


_GUARDS: dict[Guard, tuple[Callable[[CaseState], bool], str, str]] = {
    Guard.no_open_task: (
        lambda c: c.task is None,
        "尚有未完成的核查/核实任务",
        "a task is still open",
    ),
    Guard.check_task_open: (
        lambda c: c.task is not None and c.task.kind == "check",
        "没有待完成的核查任务",
        "no check task is open",
    ),
    Guard.verify_task_open: (
        lambda c: c.task is not None and c.task.kind == "verify",
        "没有待完成的核实任务",
        "no verify task is open",
    ),
    Guard.verify_passed: (
        lambda c: c.verify_result is True and c.task is None,
        "核实未通过或尚未核实，不能结案",
        "the case has not passed verification",
    ),
    Guard.not_verify_passed: (
        lambda c: c.verify_result is not True,
        "核实已通过，应结案而非返工",
        "verification passed; close the case instead",
    ),
    Guard.self_handled: (
        lambda c: c.self_handled,
        "只有自行处置的上报可以直接结案",
        "only a self-handled report closes directly",
    ),
    Guard.extension_pending: (
        lambda c: c.pending_extension is not None,
        "没有待审批的延期申请",
        "no extension request is pending",
    ),
    Guard.no_extension_pending: (
        lambda c: c.pending_extension is None,
        "已有待审批的延期申请",
        "an extension request is already pending",
    ),
    Guard.no_suspension_pending: (
        lambda c: c.pending_suspension is None,
        "已有待审批的挂账申请",
        "a suspension request is already pending",
    ),
}


_INPUT_LABELS = {
    Input.reason: ("原因", "reason"),
    Input.note: ("说明", "note"),
    Input.type_code: ("案件类型", "type"),
    Input.condition: ("立案条件", "condition"),
    Input.department: ("处置部门", "department"),
    Input.handler: ("处置人员", "handler"),
    Input.supervisor: ("监督员", "supervisor"),
    Input.result: ("结果", "result"),
    Input.extension: ("延期时长", "extension"),
    Input.parent: ("主案件", "parent case"),
    Input.photos_before: ("处置前照片", "before photos"),
    Input.photos_after: ("处置后照片", "after photos"),
}


def check(case: CaseState, action: Action, actor: Actor, inputs: ActionInput) -> Transition:
    """Everything ``decide`` refuses, in the order a user should hear it."""
    t = transition_for(case, action)
    acting_role(case, t, actor)
    missing = sorted(i for i in t.requires if not inputs.has(i))
    if missing:
        zh = "、".join(_INPUT_LABELS[i][0] for i in missing)
        raise ValidationFailed(
            f"{t.label[0]}需要填写：{zh}",
            en=f"{t.label[1]} requires: {', '.join(_INPUT_LABELS[i][1] for i in missing)}",
            code="missing_input",
            details={"missing": [i.value for i in missing]},
        )
    if action is Action.register and inputs.handling_limit is None:
        raise ValidationFailed(
            "该立案条件没有处置时限", en="the condition has no time limit", code="missing_input"
        )
    if t.guard is not None:
        ok, zh, en = _GUARDS[t.guard]
        if not ok(case):
            raise Conflict(zh, en=en, code="not_allowed_now", details={"guard": t.guard.value})
    return t


def allowed_actions(case: CaseState, actor: Actor) -> list[Action]:
    """What this actor may do now (inputs aside): drives the UI's buttons."""
    out = []
    for (action, state), t in TABLE.items():
        if state is not case.state:
            continue
        try:
            acting_role(case, t, actor)
        except CityopsError:
            continue
        if t.guard is None or _GUARDS[t.guard][0](case):
            out.append(action)
    return sorted(set(out), key=list(Action).index)


WARN_SHARE = Decimal("0.8")


def _scaled(limit: TimeLimit, share: Decimal) -> TimeLimit:
    return TimeLimit(limit.amount * share, limit.unit)


def _start(stage: Stage, at: datetime, limit: TimeLimit, clock: Clock) -> StageClock:
    return StageClock(
        stage, at, str(limit), clock.add(at, limit), clock.add(at, _scaled(limit, WARN_SHARE))
    )


def _end(case: CaseState, stage: Stage, at: datetime) -> StageClock | None:
    c = case.current(stage)
    if c is None or not c.open:
        return None
    return replace(c, ended_at=at)


def _redate(c: StageClock, clock: Clock, extra: Sequence[TimeLimit] = ()) -> StageClock:
    """Due date from the start, every limit in order, and the paused intervals."""
    pauses: list[tuple[datetime, datetime | None]] = list(c.pauses)
    if c.paused_at is not None:
        pauses.append((c.paused_at, None))
    parts = [TimeLimit.parse(p) for p in c.limit.split("+")] + list(extra)

    def run(share: Decimal) -> datetime:
        t = c.started_at
        for part in parts:
            t = clock.add(t, _scaled(part, share), [p for p in pauses if p[1] is None or p[1] > t])
        return t

    limit = "+".join([c.limit, *(str(x) for x in extra)])
    return replace(c, due_at=run(Decimal(1)), warn_at=run(WARN_SHARE), limit=limit)


_STAMPS = {
    Action.register: "registered_at",
    Action.dispatch: "dispatched_at",
    Action.report_done: "handled_at",
}


def decide(case: CaseState, action: Action, ctx: Context) -> LogEntry:
    """The log entry ``action`` writes, or the reason it is refused."""
    t = check(case, action, ctx.actor, ctx.inputs)
    role = acting_role(case, t, ctx.actor)
    inp, at, clock = ctx.inputs, ctx.at, ctx.clock
    sets: dict[str, Any] = {}
    clocks: list[StageClock] = []
    notify: list[str] = []
    task: tuple[str, int] | None = None
    target = t.target or case.state

    def end(stage: Stage) -> None:
        c = _end(case, stage, at)
        if c is not None:
            clocks.append(c)

    for effect in t.effects:
        if effect is Effect.end_register:
            end(Stage.register)
        elif effect is Effect.end_dispatch:
            end(Stage.dispatch)
        elif effect is Effect.end_handling:
            end(Stage.handling)
        elif effect is Effect.end_verify:
            end(Stage.verify)
        elif effect is Effect.start_register:
            clocks.append(_start(Stage.register, at, ctx.limits.register, clock))
        elif effect is Effect.start_dispatch:
            clocks.append(_start(Stage.dispatch, at, ctx.limits.dispatch, clock))
        elif effect is Effect.start_verify:
            clocks.append(_start(Stage.verify, at, ctx.limits.verify, clock))
        elif effect is Effect.start_handling:
            limit = case.handling_limit or sets.get("handling_limit")
            assert limit, "a registered case always has a handling limit"
            clocks.append(_start(Stage.handling, at, TimeLimit.parse(limit), clock))
        elif effect is Effect.set_type:
            assert inp.handling_limit is not None
            sets.update(
                type_code=inp.type_code,
                condition=inp.condition,
                handling_limit=str(inp.handling_limit),
            )
        elif effect is Effect.set_department:
            sets["department"] = inp.department
            notify.append(f"department:{inp.department}")
        elif effect is Effect.clear_department:
            sets.update(department=None, handler_id=None)
        elif effect is Effect.set_handler:
            sets["handler_id"] = inp.handler
            notify.append(f"user:{inp.handler}")
        elif effect is Effect.open_check_task:
            assert inp.supervisor is not None
            task = ("check", inp.supervisor)
            sets["task"] = Task("check", inp.supervisor, at)
            sets["check_result"] = None
        elif effect is Effect.record_check:
            sets.update(task=None, check_result=inp.result)
        elif effect is Effect.open_verify_task:
            assert inp.supervisor is not None
            task = ("verify", inp.supervisor)
            sets["task"] = Task("verify", inp.supervisor, at)
            sets["verify_result"] = None
        elif effect is Effect.record_verify:
            sets.update(task=None, verify_result=inp.result)
        elif effect is Effect.clear_verify:
            sets.update(task=None, verify_result=None)
        elif effect is Effect.count_return:
            sets["returns"] = case.returns + 1
        elif effect is Effect.count_rework:
            sets["reworks"] = case.reworks + 1
        elif effect is Effect.count_urge:
            sets["urges"] = case.urges + 1
        elif effect is Effect.count_supervise:
            sets["supervisions"] = case.supervisions + 1
        elif effect is Effect.ask_extension:
            sets["pending_extension"] = str(inp.extension)
        elif effect is Effect.grant_extension:
            assert case.pending_extension is not None
            c = case.current(Stage.handling)
            if c is not None and c.open:
                clocks.append(_redate(c, clock, [TimeLimit.parse(case.pending_extension)]))
            sets.update(pending_extension=None, extensions=case.extensions + 1)
        elif effect is Effect.drop_extension:
            if case.pending_extension is not None:
                sets["pending_extension"] = None
        elif effect is Effect.ask_suspension:
            sets["pending_suspension"] = inp.reason
        elif effect is Effect.pause:
            sets.update(suspended_from=case.state, pending_suspension=None)
            c = case.open_stage
            if c is not None:
                clocks.append(replace(c, paused_at=at))
        elif effect is Effect.unpause:
            assert case.suspended_from is not None
            target = case.suspended_from
            sets["suspended_from"] = None
            c = case.open_stage
            if c is not None and c.paused_at is not None:
                resumed = replace(c, paused_at=None, pauses=(*c.pauses, (c.paused_at, at)))
                clocks.append(_redate(resumed, clock))
        elif effect is Effect.close_normal:
            sets["close_reason"] = "normal"
        elif effect is Effect.close_self_handled:
            sets["close_reason"] = "self_handled"
        elif effect is Effect.close_duplicate:
            sets.update(close_reason="duplicate", parent_id=inp.parent)
        elif effect is Effect.notify_holder:
            holder = case.handler_id or None
            dept = sets.get("department", case.department)
            if holder:
                notify.append(f"user:{holder}")
            elif dept:
                notify.append(f"department:{dept}")
    stamp = _STAMPS.get(action)
    if stamp:
        sets[stamp] = at
    if target in (State.closed, State.voided):
        sets["closed_at"] = at
        for c in case.stages:
            if c.open and all(
                x.stage is not c.stage or x.started_at != c.started_at for x in clocks
            ):
                clocks.append(replace(c, ended_at=at))
    return LogEntry(
        action=action,
        at=at,
        actor_id=ctx.actor.user_id,
        actor_role=role.value,
        from_state=case.state,
        to_state=target,
        reason=inp.reason.strip(),
        note=inp.note.strip(),
        sets=sets,
        clocks=tuple(clocks),
        attachments=(*inp.photos_before, *inp.photos_after, *inp.attachments),
        notify=tuple(dict.fromkeys(notify)),
        task=task,
    )


@dataclass(frozen=True)
class Intake:
    """What a new report brings (validated by the service: position, type, reporter)."""

    at: datetime
    source: str
    grid_code: str | None
    district_code: str | None
    reporter_id: int | None
    reporter_role: str
    type_code: str | None = None
    self_handled: bool = False
    description: str = ""
    attachments: tuple[str, ...] = ()


def open_case(intake: Intake, limits: StageLimits, clock: Clock) -> LogEntry:
    """The first log entry of a case: reported, with its register clock running."""
    sets: dict[str, Any] = {
        "reported_at": intake.at,
        "grid_code": intake.grid_code,
        "district_code": intake.district_code,
        "reporter_id": intake.reporter_id,
        "source": intake.source,
        "self_handled": intake.self_handled,
        "type_code": intake.type_code,
    }
    return LogEntry(
        action=Action.report,
        at=intake.at,
        actor_id=intake.reporter_id,
        actor_role=intake.reporter_role,
        from_state=None,
        to_state=State.reported,
        note=intake.description,
        sets=sets,
        clocks=(_start(Stage.register, intake.at, limits.register, clock),),
        attachments=intake.attachments,
    )


# --- evolve and rebuild ------------------------------------------------------------------------------

_FIELDS = frozenset(CaseState.__dataclass_fields__) - {"state", "version", "stages"}


def evolve(case: CaseState | None, entry: LogEntry) -> CaseState:
    """Apply a log entry. No rules here: the entry says everything that changes."""
    base = case or CaseState(state=State.reported)
    unknown = set(entry.sets) - _FIELDS
    if unknown:
        raise ValueError(f"log entry sets unknown fields {sorted(unknown)}")
    stages = list(base.stages)
    for c in entry.clocks:
        for i, old in enumerate(stages):
            if old.stage is c.stage and old.started_at == c.started_at:
                stages[i] = c
                break
        else:
            stages.append(c)
    return replace(
        base,
        **dict(entry.sets),
        state=entry.to_state,
        version=base.version + 1,
        stages=tuple(stages),
    )


def rebuild(entries: Iterable[LogEntry]) -> CaseState:
    """The case as its log says it is (the stored row must equal this)."""
    case: CaseState | None = None
    for e in entries:
        case = evolve(case, e)
    if case is None:
        raise ValueError("a case log has at least its report entry")
    return case


def table_markdown() -> str:
    """The transition table as a Markdown table (docs/cases.md embeds it; a test keeps it true)."""
    lines = [
        "| action | 中文 | from | to | roles | scope | requires | guard | effects |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for t in TRANSITIONS:
        lines.append(
            "| "
            + " | ".join(
                [
                    f"`{t.action.value}`",
                    t.label[0],
                    ", ".join(sorted(s.value for s in t.source)),
                    t.target.value if t.target else "(same)",
                    ", ".join(sorted(r.value for r in t.roles)),
                    t.scope.value,
                    ", ".join(sorted(i.value for i in t.requires)) or "—",
                    t.guard.value if t.guard else "—",
                    ", ".join(e.value for e in t.effects) or "—",
                ]
            )
            + " |"
        )
    return "\n".join(lines) + "\n"
