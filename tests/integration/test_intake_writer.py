"""Group commit of intakes (services/writer.py) on SQLite and PostgreSQL: several intakes in one
transaction, each with exactly its own answer, nothing of a failed one kept."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from tests.integration import test_cases_store as store

from cityops.core.errors import CityopsError
from cityops.services import cases
from cityops.services.users import get_user
from cityops.services.writer import GroupWriter, _Job
from cityops.store.schema import Case, CaseLogRow, CaseStageRow

at = store.at
city = store.city  # the same city (鼓楼区, 250 m grids, staff, standards, rules)

Prepare = Callable[[Session], Callable[[Session], cases.Created]]


def intake(key: str | None, *, type_code: str = "06036", fail_after_write: bool = False) -> Prepare:
    def prepare(s: Session) -> Callable[[Session], cases.Created]:
        actor = cases.actor_of(s, get_user(s, "jiandu"))
        new = store.patrol_report(type_code)
        plan = cases.prepare_intake(s, actor, new, idempotency_key=key, now=at(9))
        if isinstance(plan, cases.Created):
            return lambda _s: plan

        def write(s2: Session) -> cases.Created:
            created = cases.write_intake(s2, plan)
            if fail_after_write:
                raise RuntimeError("disk full")  # after its rows were written
            return created

        return write

    return prepare


def run_group(sessions: sessionmaker[Session], prepares: list[Prepare]) -> list[Future[object]]:
    writer = GroupWriter(sessions)
    jobs: list[_Job[object]] = [_Job(p) for p in prepares]  # type: ignore[arg-type]
    writer._group(jobs)  # one group, as the writer thread would run it
    return [j.future for j in jobs]


def test_a_group_gives_each_intake_its_own_answer(city: sessionmaker[Session]) -> None:
    futures = run_group(
        city,
        [
            intake("a"),
            intake("b"),
            intake("a"),  # a retry of the first, in the same group
            intake("c", type_code="99999"),  # refused: nothing written, the others go on
            intake(None),
        ],
    )
    first, second, retry, refused, fourth = futures
    a, b, a2, d = (f.result() for f in (first, second, retry, fourth))  # type: ignore[misc]
    assert isinstance(a, cases.Created) and a.created and not a2.created  # type: ignore[union-attr]
    assert a2.case.id == a.case.id  # type: ignore[union-attr]
    with pytest.raises(CityopsError) as exc:
        refused.result()
    assert exc.value.code == "unknown_catalog_code"
    numbers = [x.case.number for x in (a, b, d)]  # type: ignore[union-attr]
    assert numbers == [f"410204-20261124-{n:04d}" for n in (1, 2, 3)]
    with city() as s:
        assert s.scalar(select(func.count()).select_from(Case)) == 3
        for created in (a, b, d):
            assert cases.verify_case(s, created.case.id) == []  # type: ignore[union-attr]


def test_a_failed_write_keeps_nothing_of_it_and_the_others_are_written_once(
    city: sessionmaker[Session],
) -> None:
    futures = run_group(city, [intake("x"), intake("y", fail_after_write=True), intake("z")])
    x, y, z = futures
    with pytest.raises(RuntimeError):
        y.result()
    kept = [x.result(), z.result()]
    with city() as s:
        rows = s.execute(select(Case.idempotency_key, Case.number).order_by(Case.id)).all()
        assert [k for k, _ in rows] == ["x", "z"]
        # numbers without a gap: the failed intake's number was rolled back with it
        assert [n for _, n in rows] == ["410204-20261124-0001", "410204-20261124-0002"]
        assert s.scalar(select(func.count()).select_from(CaseLogRow)) == 2
        assert s.scalar(select(func.count()).select_from(CaseStageRow)) == 2
        for created in kept:
            assert cases.verify_case(s, created.case.id) == []  # type: ignore[attr-defined]


def test_the_writer_thread_runs_submitted_intakes(city: sessionmaker[Session]) -> None:
    writer = GroupWriter(city, idle=0.2)
    futures = [writer.submit(intake(f"t{i}")) for i in range(8)]
    results = [f.result(timeout=60) for f in futures]
    assert sorted(r.case.number for r in results) == [
        f"410204-20261124-{n:04d}" for n in range(1, 9)
    ]
    assert writer.jobs == 8 and 1 <= writer.groups <= 8
