"""The transition table and the pure workflow functions, with the real working calendar.

Calendar: the default (08:00–12:00, 14:00–18:00, Asia/Shanghai, chinesecalendar holidays).
Monday 2026-11-23 is a working day; so are Tuesday 24th to Friday 27th. Stage limits: register
15 minutes, dispatch 15 minutes, verify 2 working hours (DESIGN §8).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cityops.core.clock import TimeLimit, WorkingCalendar
from cityops.core.errors import CityopsError
from cityops.core.roles import Role
from cityops.core.standards import StageLimits
from cityops.core.workflow import (
    OPEN_STATES,
    TABLE,
    TRANSITIONS,
    Action,
    ActionInput,
    Actor,
    CaseState,
    Context,
    Intake,
    LogEntry,
    Stage,
    State,
    allowed_actions,
    decide,
    entry_hash,
    evolve,
    open_case,
    rebuild,
)

TZ = ZoneInfo("Asia/Shanghai")
CLOCK = WorkingCalendar()
LIMITS = StageLimits()
GRID = "410204001001001"

SUPERVISOR = Actor(7, frozenset({Role.supervisor}), scope_region="410204")
ACCEPTOR = Actor(2, frozenset({Role.acceptor}))
DISPATCHER = Actor(3, frozenset({Role.dispatcher}))
DEPT = Actor(4, frozenset({Role.department}), department="KF-SZ")
OTHER_DEPT = Actor(5, frozenset({Role.department}), department="KF-HW")
HANDLER = Actor(6, frozenset({Role.handler}), department="KF-SZ")
LEADER = Actor(8, frozenset({Role.leader}))
FAR_ACCEPTOR = Actor(9, frozenset({Role.acceptor}), scope_region="410202")


def at(day: int, h: int, mi: int = 0) -> datetime:
    return datetime(2026, 11, day, h, mi, tzinfo=TZ)


def report(when: datetime, *, self_handled: bool = False) -> tuple[CaseState, list[LogEntry]]:
    e = open_case(
        Intake(
            at=when,
            source="patrol",
            grid_code=GRID,
            district_code="410204",
            reporter_id=SUPERVISOR.user_id,
            reporter_role="supervisor",
            type_code="06010",
            self_handled=self_handled,
        ),
        LIMITS,
        CLOCK,
    )
    return evolve(None, e), [e]


def step(
    case: CaseState,
    log: list[LogEntry],
    action: Action,
    actor: Actor,
    when: datetime,
    **inputs: object,
) -> CaseState:
    entry = decide(case, action, Context(actor, when, CLOCK, LIMITS, ActionInput(**inputs)))  # type: ignore[arg-type]
    log.append(entry)
    return evolve(case, entry)


def registered(when: datetime) -> tuple[CaseState, list[LogEntry]]:
    case, log = report(when)
    case = step(
        case,
        log,
        Action.register,
        ACCEPTOR,
        when + timedelta(minutes=5),
        type_code="06010",
        condition="暴露垃圾",
        handling_limit=TimeLimit.parse("4工作时"),
    )
    return case, log


def test_the_table_is_one_entry_per_action_and_state_and_covers_every_action() -> None:
    assert len(TABLE) == sum(len(t.source) for t in TRANSITIONS)
    assert {a for a, _ in TABLE} == set(Action) - {Action.report}
    for t in TRANSITIONS:
        assert t.roles and t.label[0] and t.label[1]
        assert all(s in State for s in t.source)
        assert not (t.source - OPEN_STATES), f"{t.action} leaves a closed/voided case"


def test_the_full_loop_with_hand_computed_deadlines() -> None:
    # Reported Tue 24th 09:00: register due 09:15 (15 natural minutes), warn at 09:12.
    case, log = report(at(24, 9))
    reg = case.current(Stage.register)
    assert reg is not None and reg.due_at == at(24, 9, 15) and reg.warn_at == at(24, 9, 12)
    # Registered 09:05; dispatch due 09:20.
    case = step(
        case,
        log,
        Action.register,
        ACCEPTOR,
        at(24, 9, 5),
        type_code="06010",
        condition="暴露垃圾",
        handling_limit=TimeLimit.parse("4工作时"),
    )
    assert case.state is State.pending_dispatch and case.registered_at == at(24, 9, 5)
    assert case.current(Stage.register).ended_at == at(24, 9, 5)  # type: ignore[union-attr]
    assert case.current(Stage.dispatch).due_at == at(24, 9, 20)  # type: ignore[union-attr]
    # Dispatched 10:30 with 4工作时: 10:30–12:00 is 1.5 h, 14:00–16:30 the other 2.5 h.
    case = step(case, log, Action.dispatch, DISPATCHER, at(24, 10, 30), department="KF-SZ")
    handling = case.current(Stage.handling)
    assert handling is not None and handling.due_at == at(24, 16, 30)
    # 80 % = 3.2 h: 1.5 h before lunch + 1.7 h after 14:00 = 15:42.
    assert handling.warn_at == at(24, 15, 42)
    assert case.department == "KF-SZ" and case.state is State.dispatched
    case = step(case, log, Action.accept, DEPT, at(24, 10, 40))
    case = step(case, log, Action.assign, DEPT, at(24, 10, 45), handler=6)
    case = step(case, log, Action.report_done, HANDLER, at(24, 15), note="已清理")
    assert case.state is State.handled and case.current(Stage.handling).ended_at == at(24, 15)  # type: ignore[union-attr]
    # Verify requested 17:00 with 2工作时: 17:00–18:00, then 08:00–09:00 next day.
    case = step(case, log, Action.request_verify, ACCEPTOR, at(24, 17), supervisor=7)
    assert case.current(Stage.verify).due_at == at(25, 9)  # type: ignore[union-attr]
    assert case.task is not None and case.task.assignee_id == 7
    with pytest.raises(CityopsError) as err:
        step(case, log, Action.close, ACCEPTOR, at(24, 17, 30))
    assert err.value.code == "not_allowed_now"  # not verified yet
    case = step(case, log, Action.complete_verify, SUPERVISOR, at(25, 8, 30), result=True)
    case = step(case, log, Action.close, ACCEPTOR, at(25, 8, 40))
    assert case.state is State.closed and case.close_reason == "normal"
    assert case.closed_at == at(25, 8, 40)
    assert all(not c.open for c in case.stages)
    assert rebuild(log) == case
    assert case.version == len(log) == 9


def test_refusals_name_state_role_scope_inputs() -> None:
    case, log = report(at(24, 9))
    with pytest.raises(CityopsError) as err:
        step(case, log, Action.dispatch, DISPATCHER, at(24, 9, 1), department="KF-SZ")
    assert err.value.code == "wrong_state" and err.value.status == 409
    with pytest.raises(CityopsError) as err:
        step(case, log, Action.register, DISPATCHER, at(24, 9, 1))
    assert err.value.code == "wrong_role" and "受理员" in err.value.message
    with pytest.raises(CityopsError) as err:
        step(case, log, Action.void, FAR_ACCEPTOR, at(24, 9, 1), reason="重复")
    assert err.value.code == "outside_scope"
    with pytest.raises(CityopsError) as err:
        step(case, log, Action.void, ACCEPTOR, at(24, 9, 1), reason="   ")
    assert err.value.code == "missing_input" and err.value.details == {"missing": ["reason"]}
    assert err.value.message_for("en") == "void requires: reason"
    case = step(case, log, Action.void, ACCEPTOR, at(24, 9, 1), reason="非城管问题")
    assert case.state is State.voided and case.open_stage is None


def test_returns_go_one_step_back_and_are_counted() -> None:
    case, log = registered(at(24, 9))
    case = step(case, log, Action.dispatch, DISPATCHER, at(24, 9, 10), department="KF-SZ")
    with pytest.raises(CityopsError) as err:
        step(case, log, Action.return_, OTHER_DEPT, at(24, 9, 20), reason="不属本单位")
    assert err.value.code == "outside_scope"  # another department cannot return it
    case = step(case, log, Action.return_, DEPT, at(24, 9, 20), reason="不属本单位")
    assert case.state is State.pending_dispatch and case.department is None
    assert case.returns == 1 and case.current(Stage.dispatch).due_at == at(24, 9, 35)  # type: ignore[union-attr]
    case = step(case, log, Action.return_, DISPATCHER, at(24, 9, 25), reason="类型有误")
    assert case.state is State.reported and case.returns == 2
    assert rebuild(log) == case


def test_suspension_moves_the_deadline_by_the_suspended_working_time() -> None:
    case, log = registered(at(24, 9))
    # Dispatched Tue 10:00, 4工作时: due 16:00.
    case = step(case, log, Action.dispatch, DISPATCHER, at(24, 10), department="KF-SZ")
    assert case.current(Stage.handling).due_at == at(24, 16)  # type: ignore[union-attr]
    case = step(case, log, Action.request_suspension, DEPT, at(24, 10, 30), reason="等待产权单位")
    case = step(case, log, Action.suspend, DISPATCHER, at(24, 11), reason="同意挂账")
    assert case.state is State.suspended and case.pending_suspension is None
    # Resumed Wed 09:00: suspended working time = Tue 11–12 + 14–18 + Wed 08–09 = 6 h;
    # 1 h was used before (10–11), 3 h remain from Wed 09:00 → Wed 12:00.
    case = step(case, log, Action.resume, DISPATCHER, at(25, 9))
    assert case.state is State.dispatched
    assert case.current(Stage.handling).due_at == at(25, 12)  # type: ignore[union-attr]
    assert rebuild(log) == case


def test_an_approved_extension_adds_to_the_deadline_a_rejected_one_does_not() -> None:
    case, log = registered(at(24, 9))
    case = step(case, log, Action.dispatch, DISPATCHER, at(24, 10), department="KF-SZ")
    case = step(
        case,
        log,
        Action.request_extension,
        DEPT,
        at(24, 11),
        extension=TimeLimit.parse("1工作日"),
        reason="需调用机械",
    )
    with pytest.raises(CityopsError) as err:
        step(
            case,
            log,
            Action.request_extension,
            DEPT,
            at(24, 11, 5),
            extension=TimeLimit.parse("1工作日"),
            reason="再延",
        )
    assert err.value.code == "not_allowed_now"
    rejected = step(
        case, list(log), Action.reject_extension, DISPATCHER, at(24, 11, 10), reason="可按时完成"
    )
    assert rejected.current(Stage.handling).due_at == at(24, 16)  # type: ignore[union-attr]
    case = step(case, log, Action.approve_extension, DISPATCHER, at(24, 11, 10))
    # 16:00 Tue + 1工作日 = 16:00 Wed.
    assert case.current(Stage.handling).due_at == at(25, 16)  # type: ignore[union-attr]
    assert case.extensions == 1 and case.pending_extension is None
    assert case.current(Stage.handling).limit == "4工作时+1工作日"  # type: ignore[union-attr]


def test_rework_keeps_the_department_and_counts_against_it() -> None:
    case, log = registered(at(24, 9))
    case = step(case, log, Action.dispatch, DISPATCHER, at(24, 9, 10), department="KF-SZ")
    case = step(case, log, Action.accept, DEPT, at(24, 9, 20))
    case = step(case, log, Action.report_done, DEPT, at(24, 10), note="完成")
    case = step(case, log, Action.request_verify, ACCEPTOR, at(24, 10, 5), supervisor=7)
    case = step(case, log, Action.complete_verify, SUPERVISOR, at(24, 10, 30), result=False)
    with pytest.raises(CityopsError):
        step(case, log, Action.close, ACCEPTOR, at(24, 10, 35))
    case = step(case, log, Action.rework, DISPATCHER, at(24, 10, 40), reason="仍有垃圾")
    assert case.state is State.handling and case.department == "KF-SZ" and case.reworks == 1
    handling = [c for c in case.stages if c.stage is Stage.handling]
    assert len(handling) == 2 and handling[0].ended_at and handling[1].open
    assert case.verify_result is None
    assert rebuild(log) == case


def test_self_handled_and_duplicates_close_at_once() -> None:
    case, log = report(at(24, 9), self_handled=True)
    case = step(
        case, log, Action.close, SUPERVISOR, at(24, 9), photos_before=("a",), photos_after=("b",)
    )
    assert case.state is State.closed and case.close_reason == "self_handled"
    case2, log2 = report(at(24, 9))
    with pytest.raises(CityopsError) as err:
        step(
            case2,
            log2,
            Action.close,
            SUPERVISOR,
            at(24, 9, 1),
            photos_before=("a",),
            photos_after=("b",),
        )
    assert err.value.code == "not_allowed_now"
    case2 = step(
        case2, log2, Action.merge_duplicate, ACCEPTOR, at(24, 9, 2), parent=41, reason="同一问题"
    )
    assert case2.close_reason == "duplicate" and case2.parent_id == 41


def test_urge_and_supervise_notify_the_holder() -> None:
    case, log = registered(at(24, 9))
    case = step(case, log, Action.dispatch, DISPATCHER, at(24, 9, 10), department="KF-SZ")
    e = decide(
        case,
        Action.urge,
        Context(DISPATCHER, at(24, 11), CLOCK, LIMITS, ActionInput(note="请尽快")),
    )
    assert e.notify == ("department:KF-SZ",)
    case = evolve(case, e)
    case = step(case, log, Action.assign, DEPT, at(24, 11, 5), handler=6)
    e = decide(
        case,
        Action.supervise,
        Context(LEADER, at(24, 11, 10), CLOCK, LIMITS, ActionInput(note="督办")),
    )
    assert e.notify == ("user:6",) and evolve(case, e).supervisions == 1
    with pytest.raises(CityopsError):
        decide(
            case,
            Action.supervise,
            Context(DISPATCHER, at(24, 11, 10), CLOCK, LIMITS, ActionInput(note="x")),
        )


def test_allowed_actions_follow_role_scope_and_guards() -> None:
    case, _ = registered(at(24, 9))
    assert Action.dispatch in allowed_actions(case, DISPATCHER)
    assert allowed_actions(case, DEPT) == []
    assert Action.supervise in allowed_actions(case, LEADER)
    assert Action.approve_extension not in allowed_actions(case, DISPATCHER)


def test_log_entries_round_trip_through_json_and_hash_detects_tampering() -> None:
    _case, log = registered(at(24, 9))
    for e in log:
        assert LogEntry.from_json(e.to_json()) == e
    h1 = entry_hash("0" * 64, 1, 2, log[1])
    tampered = replace(log[1], reason="改过的原因")
    assert entry_hash("0" * 64, 1, 2, tampered) != h1


# --- properties -------------------------------------------------------------------------------------

ACTORS = [SUPERVISOR, ACCEPTOR, DISPATCHER, DEPT, OTHER_DEPT, HANDLER, LEADER, FAR_ACCEPTOR]
INPUTS = ActionInput(
    reason="原因",
    note="说明",
    type_code="06010",
    condition="暴露垃圾",
    handling_limit=TimeLimit.parse("4工作时"),
    department="KF-SZ",
    handler=6,
    supervisor=7,
    result=True,
    extension=TimeLimit.parse("2工作时"),
    parent=1,
    photos_before=("p1",),
    photos_after=("p2",),
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.sampled_from(sorted(set(Action) - {Action.report}, key=str)),
            st.sampled_from(range(len(ACTORS))),
            st.integers(min_value=1, max_value=600),
            st.booleans(),
        ),
        max_size=40,
    ),
    st.booleans(),
)
def test_random_actions_respect_the_table_replay_and_never_pull_deadlines_in(
    steps: list[tuple[Action, int, int, bool]], self_handled: bool
) -> None:
    now = at(23, 8)
    case, log = report(now, self_handled=self_handled)
    for action, who, minutes, result in steps:
        now += timedelta(minutes=minutes)
        ctx = Context(ACTORS[who], now, CLOCK, LIMITS, replace(INPUTS, result=result))
        try:
            entry = decide(case, action, ctx)
        except CityopsError:
            continue  # refused: nothing changes
        t = TABLE[(action, case.state)]
        assert entry.from_state is case.state
        assert t.target is None or entry.to_state is t.target
        if t.target is None and action is not Action.resume:
            assert entry.to_state is case.state
        if action is Action.resume:
            assert entry.to_state is case.suspended_from
        before = {(c.stage, c.started_at): c.due_at for c in case.stages}
        new = evolve(case, entry)
        for c in new.stages:
            old = before.get((c.stage, c.started_at))
            assert old is None or c.due_at >= old, "a deadline moved earlier"
        assert LogEntry.from_json(entry.to_json()) == entry
        log.append(entry)
        case = new
    assert rebuild(log) == case
    assert case.version == len(log)
    if case.state in (State.closed, State.voided):
        assert all(not c.open for c in case.stages)


def test_a_city_level_scope_covers_its_districts() -> None:
    from cityops.core.regions import subtree_prefix

    assert subtree_prefix("410200") == "4102" and subtree_prefix("410000") == "41"
    assert subtree_prefix("410204") == "410204" and subtree_prefix("410204001") == "410204001"
    case, _ = registered(at(24, 9))
    city_dispatcher = Actor(3, frozenset({Role.dispatcher}), scope_region=subtree_prefix("410200"))
    assert Action.dispatch in allowed_actions(case, city_dispatcher)


def test_docs_show_the_table_the_code_has() -> None:
    from pathlib import Path

    from cityops.core.workflow import table_markdown

    doc = (Path(__file__).parents[3] / "docs" / "cases.md").read_text("utf-8")
    embedded = doc.split("<!-- table:begin -->\n", 1)[1].split("<!-- table:end -->", 1)[0]
    assert embedded == table_markdown(), "regenerate the table in docs/cases.md"
