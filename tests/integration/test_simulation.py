"""The simulator: a deterministic month (here three days of one district) through the services,
and the bulk generator's row shapes, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from cityops.services import cases
from cityops.services.users import get_user
from cityops.sim.bulk import BulkConfig, generate
from cityops.sim.city import CitySpec, setup_city
from cityops.sim.flow import FlowConfig, simulate
from cityops.store.db import make_engine, session_factory, transaction
from cityops.store.migrate import upgrade
from cityops.store.schema import Case, CaseLogRow, CaseNumberSeq, CaseStageRow, Component, TaskRow

TZ = ZoneInfo("Asia/Shanghai")
END = datetime(2026, 11, 25, 12, 0, tzinfo=TZ)  # a Wednesday
SPEC = CitySpec(
    districts=("410204",),
    grid_size_m=250,
    communities_per_supervisor=40,
    handlers_per_department=1,
    acceptors=1,
    dispatchers=1,
    component_density=0.3,
)
# Three days are few cases: raise the rare events so that every kind occurs.
FLOW = dict(
    end=END,
    days=3,
    seed=7,
    cases_per_day=50,
    p_return=0.15,
    p_rework=0.15,
    p_extension=0.12,
    p_suspension=0.08,
    p_duplicate=0.06,
    suspension_days=(0.1, 0.5),
)


def _build(url: str, data_dir: Path) -> sessionmaker[Session]:
    engine = make_engine(url)
    upgrade(engine)
    sessions = session_factory(engine)
    with transaction(sessions) as s:
        setup_city(s, SPEC)
    return sessions


def _outcome(sessions: sessionmaker[Session]) -> list[tuple[object, ...]]:
    with sessions() as s:
        return [
            tuple(r)
            for r in s.execute(
                select(
                    Case.number,
                    Case.state,
                    Case.version,
                    Case.type_code,
                    Case.department,
                    Case.close_reason,
                    Case.due_at,
                ).order_by(Case.id)
            )
        ]


def test_same_seed_same_month_on_both_databases_and_a_clean_audit(
    fresh_db_url: object, tmp_path: Path
) -> None:
    runs = {}
    for backend in ("sqlite", "postgresql"):
        sessions = _build(fresh_db_url(backend), tmp_path / backend)  # type: ignore[operator]
        report = simulate(sessions, FlowConfig(**FLOW), tmp_path / backend)  # type: ignore[arg-type]
        runs[backend] = (sessions, report)
    (lite, lite_report), (pg, pg_report) = runs["sqlite"], runs["postgresql"]
    outcome = _outcome(lite)
    assert outcome == _outcome(pg)  # same numbers, states, versions, departments, deadlines
    assert lite_report.actions == pg_report.actions
    assert len(outcome) == lite_report.reports > 100
    assert not lite_report.refused, lite_report.refused

    actions = lite_report.actions
    for action in (
        "register",
        "dispatch",
        "return",
        "rework",
        "request_extension",
        "suspend",
        "resume",
        "merge_duplicate",
        "void",
        "request_check",
        "complete_check",
        "complete_verify",
        "close",
    ):
        assert actions[action] > 0, action
    assert lite_report.close_reasons.get("self_handled", 0) > 0
    assert lite_report.sources.keys() == {"patrol", "public", "hotline"}
    # The month ends with work in hand: open cases in the queues, some overdue.
    assert sum(n for st, n in lite_report.states.items() if st not in ("closed", "voided")) > 5

    for sessions in (lite, pg):
        with sessions() as s:
            checked, problems = cases.verify_all(s)
            assert checked == len(outcome) and problems == []
            # Component cases were reported on components of the synthetic inventory.
            assert s.scalar(select(func.count()).select_from(Component)) > 100
            assert s.scalar(
                select(func.count()).select_from(Case).where(Case.component_id.is_not(None))
            )
        sessions.kw["bind"].dispose()


@pytest.mark.parametrize("n", [2500])
def test_bulk_history_has_the_service_row_shapes(
    engine: Engine, sessions: sessionmaker[Session], tmp_path: Path, n: int
) -> None:
    with transaction(sessions) as s:
        setup_city(s, SPEC)
    result = generate(engine, BulkConfig(cases=n, end=END, seed=3, per_day=500, batch=1000))
    assert result.cases == n
    with sessions() as s:
        count = s.scalar(select(func.count()).select_from(Case))
        numbers = s.scalar(select(func.count(func.distinct(Case.number))))
        assert count == numbers == n
        assert s.scalar(select(func.count()).select_from(CaseLogRow)) == result.logs
        assert s.scalar(select(func.sum(Case.version))) == result.logs  # one row per version
        assert s.scalar(select(func.count()).select_from(CaseStageRow)) == result.stages >= n
        assert s.scalar(select(func.count()).select_from(TaskRow)) == result.tasks > 0
        states = dict(s.execute(select(Case.state, func.count()).group_by(Case.state)).all())
        assert states["closed"] > n * 0.8 and states.get("voided", 0) > 0
        assert sum(v for k, v in states.items() if k not in ("closed", "voided")) > 0
        # Every open stage has its deadline on the row, as the services keep it.
        assert not s.scalar(
            select(func.count())
            .select_from(Case)
            .where(Case.state.not_in(["closed", "voided", "handled"]), Case.due_at.is_(None))
        )
        last = s.scalar(select(Case).order_by(Case.id.desc()).limit(1))
        assert last is not None
        assert s.scalar(
            select(CaseNumberSeq.last).where(CaseNumberSeq.prefix == last.number[:15])
        ) == int(last.number[-4:])
        problems = cases.verify_case(s, last.id)
        assert len(problems) == 1 and "bulk-generated" in problems[0].problem
    # The services carry on from bulk rows: a new report continues the day's numbering, and an
    # open bulk case can be registered.
    with transaction(sessions) as s:
        reported = s.scalar(select(Case).where(Case.state == "reported").limit(1))
        assert reported is not None
        row = cases.act(
            s,
            reported.id,
            "register",
            get_user(s, "sim.sl01"),
            cases.ActionRequest(condition="1"),
            now=END,
        )
        assert row.state in ("pending_dispatch", "dispatched")
