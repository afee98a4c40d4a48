"""The simulator: a deterministic month (here three days of one district) through the services,
and the bulk generator's row shapes, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, func, or_, select, text
from sqlalchemy.orm import Session, sessionmaker

from cityops.core.workflow import LogEntry
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


def _entries_are_canonical(s: Session) -> int:
    """Every bulk entry reads back as a LogEntry and is its canonical JSON (sorted keys, no
    blanks): the same data the services write, and what entry_hash hashes."""
    checked = 0
    for (stored,) in s.execute(select(CaseLogRow.entry)):
        entry = LogEntry.from_json(json.loads(stored))
        assert stored == json.dumps(
            entry.to_json(), ensure_ascii=False, sort_keys=True, separators=(",", ":")
        )
        checked += 1
    return checked


@pytest.mark.parametrize("n", [3000])
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
        assert _entries_are_canonical(s) == result.logs
        states = dict(s.execute(select(Case.state, func.count()).group_by(Case.state)).all())
        assert states["closed"] > n * 0.75 and states.get("voided", 0) > n * 0.02
        assert sum(v for k, v in states.items() if k not in ("closed", "voided")) > 0
        # The exceptional paths of the case loop, at about sim.flow's rates.
        actions = dict(
            s.execute(select(CaseLogRow.action, func.count()).group_by(CaseLogRow.action)).all()
        )
        for action in (
            "request_check",
            "complete_check",
            "merge_duplicate",
            "void",
            "return",
            "rework",
            "request_extension",
            "approve_extension",
            "suspend",
            "resume",
            "urge",
            "supervise",
        ):
            assert actions.get(action, 0) > 0, action
        assert n * 0.01 < actions["return"] < n * 0.05
        assert n * 0.02 < actions["rework"] < n * 0.06
        reasons = dict(
            s.execute(select(Case.close_reason, func.count()).group_by(Case.close_reason)).all()
        )
        assert reasons["self_handled"] > n * 0.03 and reasons["duplicate"] > n * 0.005
        # Auto-dispatched by the responsibility list: no dispatcher, a note why.
        assert s.scalar(
            select(func.count())
            .select_from(CaseLogRow)
            .where(CaseLogRow.action == "dispatch", CaseLogRow.actor_id.is_(None))
        )
        # Open cases at the end, some of them overdue, as a real centre's queues.
        assert s.scalar(
            select(func.count())
            .select_from(Case)
            .where(Case.closed_at.is_(None), Case.due_at < END)
        )
        last = s.scalar(select(Case).order_by(Case.id.desc()).limit(1))
        assert last is not None
        assert s.scalar(
            select(CaseNumberSeq.last).where(CaseNumberSeq.prefix == last.number[:15])
        ) == int(last.number[-4:])
        # The audit: hash chains and log replay against the row — every case that took an
        # exceptional path, and every fifth of the others.
        rare = select(Case.id).where(
            or_(
                Case.returns > 0,
                Case.reworks > 0,
                Case.extensions > 0,
                Case.urges > 0,
                Case.supervisions > 0,
                Case.pending_extension.is_not(None),
                Case.pending_suspension.is_not(None),
                Case.suspended_from.is_not(None),
                Case.parent_id.is_not(None),
                Case.self_handled.is_(True),
                Case.state != "closed",
                Case.check_result.is_not(None),
                Case.id % 5 == 0,
            )
        )
        ids = list(s.scalars(rare))
        assert len(ids) > n * 0.3
        for case_id in ids:
            assert cases.verify_case(s, case_id) == [], case_id
    # The services carry on from bulk rows: a new report continues the day's numbering, and an
    # open bulk case can be registered, its chain continued.
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
    with sessions() as s:
        assert cases.verify_case(s, row.id) == []


def test_bulk_history_is_the_same_for_a_seed(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    """Same seed, same history: in worker processes or in this one, on either database."""
    with transaction(sessions) as s:
        setup_city(s, SPEC)

    def snapshot() -> tuple[list[tuple[object, ...]], list[str]]:
        with sessions() as s:
            rows = [
                tuple(r)
                for r in s.execute(
                    select(
                        Case.id, Case.number, Case.state, Case.version, Case.department,
                        Case.due_at, Case.lon, Case.lat,
                    ).order_by(Case.id)
                )
            ]  # fmt: skip
            chain = list(s.scalars(select(CaseLogRow.hash).order_by(CaseLogRow.id)))
        return rows, chain

    config = BulkConfig(cases=1200, end=END, seed=5, per_day=400, batch=800)
    generate(engine, config)
    first = snapshot()
    with engine.begin() as conn:
        for table in ("task", "case_log", "case_stage", "cases", "case_number_seq"):
            conn.execute(text(f"DELETE FROM {table}"))
    generate(engine, replace(config, workers=0))
    assert snapshot() == first
    assert len(first[1]) > 1200 * 6
