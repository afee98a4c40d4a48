"""The case loop through the services, on SQLite and PostgreSQL.

City: 鼓楼区 (410204) with 250 m grids; the shipped default standards and Kaifeng's demo rules;
departments KF-SZ (市政), KF-HW (环卫), KF-ZF (执法). Times are Tue 2026-11-24, a working day
(08:00–12:00, 14:00–18:00).
"""

from __future__ import annotations

import json
import threading
from datetime import datetime
from importlib.resources import files
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from cityops.core.errors import CityopsError
from cityops.services import cases, rules
from cityops.services.catalog import ensure_standard_catalog
from cityops.services.geography import GridSettings, init_city
from cityops.services.orgs import add_org
from cityops.services.users import add_user, get_user
from cityops.store.db import transaction
from cityops.store.schema import Case, CaseLogRow, OutboxEvent, TaskRow

TZ = ZoneInfo("Asia/Shanghai")
KAIFENG_FU = (114.3490, 34.7930)  # GCJ-02
PASSWORD = "Grid-Work-2026"


def at(h: int, mi: int = 0, day: int = 24) -> datetime:
    return datetime(2026, 11, day, h, mi, tzinfo=TZ)


@pytest.fixture
def city(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    data = files("cityops.data")
    with transaction(sessions) as s:
        ensure_standard_catalog(s)
        init_city(s, "410200", districts=["410204"], settings=GridSettings(grid_size_m=250))
        add_org(s, "KF-CENTRE", "指挥中心", "centre", region_code="410200")
        for code, name in (
            ("KF-SZ", "市政"),
            ("KF-HW", "环卫"),
            ("KF-ZF", "执法"),
            ("KF-GL", "鼓楼"),
            ("KF-YL", "园林"),
            ("KF-LD", "路灯"),
        ):
            add_org(s, code, name, "department", parent_code="KF-CENTRE")
        for user, role, dept in (
            ("jiandu", "supervisor", None),
            ("shouli", "acceptor", None),
            ("paiqian", "dispatcher", None),
            ("shizheng", "department", "KF-SZ"),
            ("huanwei", "department", "KF-HW"),
            ("chuzhi", "handler", "KF-SZ"),
            ("lingdao", "leader", None),
        ):
            add_user(s, user, PASSWORD, [role], org_code=dept or "KF-CENTRE", scope_department=dept)
        rules.import_standards(s, Path(str(data / "standards" / "default_standards.csv")))
        rules.import_rules(s, Path(str(data / "demo" / "kaifeng_rules.csv")))
    return sessions


def patrol_report(type_code: str = "06036", **kw: object) -> cases.NewCase:
    """The supervisor's usual report at 开封府 (GCJ-02, as a phone sends it)."""
    return cases.NewCase(
        source="patrol",
        type_code=type_code,
        description="人行道乱堆杂物",
        lon=KAIFENG_FU[0],
        lat=KAIFENG_FU[1],
        crs="gcj02",
        **kw,  # type: ignore[arg-type]
    )


def report(
    s: Session,
    *,
    key: str | None = None,
    type_code: str = "06036",
    when: datetime | None = None,
    **kw: object,
) -> cases.Created:
    return cases.create_case(
        s,
        get_user(s, "jiandu"),
        patrol_report(type_code, **kw),
        idempotency_key=key,
        now=when or at(9),
    )


def act(
    sessions: sessionmaker[Session],
    case_id: int,
    user: str,
    action: str,
    when: datetime,
    **kw: object,
) -> Case:
    with transaction(sessions) as s:
        row = cases.act(s, case_id, action, get_user(s, user), cases.ActionRequest(**kw), now=when)  # type: ignore[arg-type]
        s.expunge(row)
        return row


def test_full_loop_deadlines_log_and_audit(city: sessionmaker[Session]) -> None:
    with transaction(city) as s:
        created = report(s)
        case_id = created.case.id
        assert created.created
        assert created.case.number == "410204-20261124-0001"
        assert created.case.grid_code and created.case.grid_code.startswith("410204")
        assert created.case.due_at == at(9, 15)  # register: 15 minutes
    row = act(city, case_id, "shouli", "register", at(9, 5), condition="公共区域乱堆乱放杂物")
    assert row.state == "pending_dispatch" and row.handling_limit == "1工作日"
    row = act(city, case_id, "paiqian", "dispatch", at(10), department="KF-SZ")
    assert row.due_at == at(10, day=25)  # 1工作日 from Tue 10:00 = Wed 10:00
    act(city, case_id, "shizheng", "accept", at(10, 10))
    act(city, case_id, "shizheng", "assign", at(10, 15), handler="chuzhi")
    act(city, case_id, "chuzhi", "report_done", at(15), note="已清理完毕")
    act(city, case_id, "shouli", "request_verify", at(15, 5), supervisor="jiandu")
    with transaction(city) as s:
        tasks = cases.tasks_of(s, get_user(s, "jiandu"))
        assert [(t.kind, n) for t, n in tasks] == [("verify", "410204-20261124-0001")]
        assert tasks[0][0].due_at == at(17, 5)  # 2工作时
        row = cases.complete_task(
            s, tasks[0][0].id, get_user(s, "jiandu"), True, "已核实", (), now=at(16)
        )
    row = act(city, case_id, "shouli", "close", at(16, 10))
    assert row.state == "closed" and row.closed_at == at(16, 10) and row.due_at is None

    with city() as s:
        actions = [r.action for r in cases.log_of(s, case_id)]
        assert actions == [
            "report",
            "register",
            "dispatch",
            "accept",
            "assign",
            "report_done",
            "request_verify",
            "complete_verify",
            "close",
        ]
        checked, problems = cases.verify_all(s)
        assert checked == 1 and problems == []
        events = list(
            s.scalars(select(OutboxEvent.recipient).where(OutboxEvent.case_id == case_id))
        )
        assert "department:KF-SZ" in events
        assert (
            s.scalar(
                select(func.count()).select_from(TaskRow).where(TaskRow.completed_at.is_(None))
            )
            == 0
        )


def test_a_retried_submission_is_stored_once(city: sessionmaker[Session]) -> None:
    with transaction(city) as s:
        first = report(s, key="phone-42-0007")
    with transaction(city) as s:
        again = report(s, key="phone-42-0007")
    assert not again.created and again.case.id == first.case.id
    with city() as s:
        assert s.scalar(select(func.count()).select_from(Case)) == 1


def test_numbers_are_sequential_per_district_and_day_even_when_concurrent(
    city: sessionmaker[Session],
) -> None:
    numbers: list[str] = []
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            with transaction(city) as s:
                numbers.append(report(s, key=f"k{i}").case.number)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(numbers) == [f"410204-20261124-{n:04d}" for n in range(1, 7)]
    with transaction(city) as s:
        assert report(s, when=at(9, day=25)).case.number == "410204-20261125-0001"


def test_concurrent_actions_exactly_one_wins(city: sessionmaker[Session]) -> None:
    with transaction(city) as s:
        case_id = report(s).case.id
    act(city, case_id, "shouli", "register", at(9, 5), condition="公共区域乱堆乱放杂物")
    with city() as s:
        version = s.get(Case, case_id).version  # type: ignore[union-attr]
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def worker(dept: str) -> None:
        try:
            with transaction(city) as s:
                user = get_user(s, "paiqian")
                barrier.wait()
                cases.act(
                    s,
                    case_id,
                    "dispatch",
                    user,
                    cases.ActionRequest(department=dept),
                    expected_version=version,
                    now=at(9, 10),
                )
            outcomes.append("ok")
        except CityopsError as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=worker, args=(d,)) for d in ("KF-SZ", "KF-HW")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["ok", "stale_version"], outcomes
    with city() as s:
        assert s.get(Case, case_id).version == version + 1  # type: ignore[union-attr]
        assert (
            s.scalar(
                select(func.count()).select_from(CaseLogRow).where(CaseLogRow.case_id == case_id)
            )
            == 3
        )


def test_auto_dispatch_and_suggestions_follow_the_rules(city: sessionmaker[Session]) -> None:
    with transaction(city) as s:
        garbage = report(s, type_code="06010").case.id
        clutter = report(s, type_code="06036").case.id
    row = act(city, garbage, "shouli", "register", at(9, 5), condition="1")
    assert row.state == "dispatched" and row.department == "KF-HW"  # 06010 auto → 环卫
    with city() as s:
        log = cases.log_of(s, garbage)
        assert [r.action for r in log][-1] == "dispatch" and log[-1].actor_id is None
    act(city, clutter, "shouli", "register", at(9, 6), condition="1")
    with city() as s:
        suggestion = cases.suggestion_for(s, s.get(Case, clutter))  # type: ignore[arg-type]
        assert suggestion["department"] == "KF-ZF" and not suggestion["auto_dispatch"]


def test_duplicates_are_flagged(city: sessionmaker[Session]) -> None:
    with transaction(city) as s:
        first = report(s, type_code="06010").case.id
        second = report(s, type_code="06010", when=at(10))
        other_type = report(s, type_code="06036", when=at(10, 5))
    assert second.duplicate_candidates == [first]
    assert other_type.duplicate_candidates == []
    row = act(
        city,
        second.case.id,
        "shouli",
        "merge_duplicate",
        at(10, 10),
        parent=str(first),
        reason="同一处垃圾",
    )
    assert row.state == "closed" and row.close_reason == "duplicate" and row.parent_id == first


def test_bad_input_is_refused_with_specific_codes(city: sessionmaker[Session]) -> None:
    def code_of(fn: object) -> str:
        with pytest.raises(CityopsError) as err, transaction(city) as s:
            fn(s)  # type: ignore[operator]
        return err.value.code

    assert code_of(lambda s: report(s, type_code="99999")) == "unknown_catalog_code"
    assert (
        code_of(
            lambda s: cases.create_case(
                s,
                get_user(s, "jiandu"),
                cases.NewCase(
                    source="patrol", type_code="06010", description="x", lon=116.397, lat=39.909
                ),
                now=at(9),
            )
        )
        == "outside_city"
    )
    assert (
        code_of(
            lambda s: cases.create_case(
                s,
                get_user(s, "jiandu"),
                cases.NewCase(
                    source="fax", type_code="06010", description="x", lon=114.349, lat=34.793
                ),
                now=at(9),
            )
        )
        == "invalid_case"
    )
    assert code_of(lambda s: report(s, photos=("nope",))) == "unknown_attachment"
    with transaction(city) as s:
        case_id = report(s).case.id
    for user, action, kw, code in (
        ("shouli", "register", {"condition": "不存在的条件"}, "unknown_condition"),
        ("paiqian", "register", {"condition": "1"}, "wrong_role"),
        ("shouli", "fly", {}, "unknown_action"),
        ("shouli", "void", {}, "missing_input"),
    ):
        assert (
            code_of(
                lambda s, u=user, a=action, k=kw: cases.act(
                    s, case_id, a, get_user(s, u), cases.ActionRequest(**k), now=at(9, 5)
                )
            )
            == code
        )
    act(city, case_id, "shouli", "register", at(9, 5), condition="1")
    assert (
        code_of(
            lambda s: cases.act(
                s,
                case_id,
                "dispatch",
                get_user(s, "paiqian"),
                cases.ActionRequest(department="KF-XX"),
                now=at(9, 6),
            )
        )
        == "unknown_department"
    )
    assert (
        code_of(
            lambda s: cases.act(
                s,
                case_id,
                "dispatch",
                get_user(s, "paiqian"),
                cases.ActionRequest(department="KF-SZ"),
                expected_version=1,
                now=at(9, 6),
            )
        )
        == "stale_version"
    )
    with city() as s:  # nothing of the refused attempts was written
        assert s.scalar(select(func.count()).select_from(CaseLogRow)) == 2


def test_tampering_and_a_drifted_row_are_detected(city: sessionmaker[Session]) -> None:
    with transaction(city) as s:
        case_id = report(s).case.id
    act(city, case_id, "shouli", "void", at(9, 5), reason="非城管问题")
    with transaction(city) as s:
        row = s.scalar(select(CaseLogRow).where(CaseLogRow.case_id == case_id, CaseLogRow.seq == 2))
        assert row is not None
        entry = json.loads(row.entry)
        entry["reason"] = "篡改后的原因"
        row.entry = json.dumps(entry, ensure_ascii=False, sort_keys=True)
    with city() as s:
        problems = cases.verify_case(s, case_id)
        assert [p.seq for p in problems] == [2] and "哈希" in problems[0].problem
    with transaction(city) as s:
        other = report(s, when=at(10)).case.id
        s.execute(update(Case).where(Case.id == other).values(state="closed"))
    with city() as s:
        assert any("重放" in p.problem for p in cases.verify_case(s, other))


def test_suspension_in_storage_keeps_time_and_queues_by_light(city: sessionmaker[Session]) -> None:
    with transaction(city) as s:
        case_id = report(s, type_code="06010").case.id
    # Auto-dispatched at 09:05 with 4工作时: 09:05–12:00 is 2 h 55, the last 1 h 05 from 14:00.
    row = act(city, case_id, "shouli", "register", at(9, 5), condition="1")
    assert row.due_at == at(15, 5)
    act(city, case_id, "paiqian", "suspend", at(10, 5), reason="等待产权单位确认")
    # Suspended 10:05–14:05 holds 1 h 55 + 5 min = 2 working hours: due moves to 17:05.
    row = act(city, case_id, "paiqian", "resume", at(14, 5))
    assert row.state == "dispatched" and row.due_at == at(17, 5)
    with city() as s:
        hw = get_user(s, "huanwei")
        q = cases.CaseQuery(mine=True)
        assert [r.id for r in cases.list_cases(s, hw, q, now=at(14, 10))[0]] == [case_id]
        # 80 % of the (paused-adjusted) limit: 3.2 h → 16:17; red after 17:05.
        for now, light in ((at(16), "green"), (at(16, 30), "yellow"), (at(17, 30), "red")):
            rows, total = cases.list_cases(s, hw, cases.CaseQuery(light=light), now=now)
            assert total == 1 and rows[0].id == case_id, (now, light)
        rows, total = cases.list_cases(s, hw, cases.CaseQuery(overdue=True), now=at(17, 30))
        assert total == 1
        sz = get_user(s, "shizheng")  # another department sees nothing of it
        assert cases.list_cases(s, sz, cases.CaseQuery(), now=at(14, 10))[1] == 0
        assert cases.verify_all(s)[1] == []


def test_the_overdue_sweep_announces_each_late_stage_once(city: sessionmaker[Session]) -> None:
    with transaction(city) as s:
        late = report(s, type_code="06010").case.id
        report(s, type_code="06036", when=at(9, 1))  # register stage due 09:16
    act(city, late, "shouli", "register", at(9, 5), condition="1")  # auto-dispatched, due 15:05
    with transaction(city) as s:
        first = cases.sweep_overdue(s, now=at(16))
        again = cases.sweep_overdue(s, now=at(16, 30))
    # Open stages: the handling run of the first case and the register run of the second.
    assert (first.open_stages, first.newly_overdue) == (2, 2)
    assert again.newly_overdue == 0
    with city() as s:
        events = {
            (e.case_id, e.recipient)
            for e in s.scalars(select(OutboxEvent).where(OutboxEvent.event == "overdue"))
        }
        assert (late, "department:KF-HW") in events and len(events) == 2


def _png(session: Session, tmp: Path, color: tuple[int, int, int]) -> str:
    import io

    from PIL import Image

    from cityops.services.attachments import save_upload
    from cityops.store.blobs import DiskBlobStore

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buf, "PNG")
    return save_upload(session, DiskBlobStore(tmp), buf.getvalue(), "p.png", None).id


def test_self_handled_reports_close_at_once_and_checks_run_before_registering(
    city: sessionmaker[Session], tmp_path: Path
) -> None:
    with transaction(city) as s:
        before, after = _png(s, tmp_path, (200, 0, 0)), _png(s, tmp_path, (0, 200, 0))
        done = report(
            s, type_code="06010", self_handled=True, photos=(before,), photos_after=(after,)
        )
        assert done.case.state == "closed" and done.case.close_reason == "self_handled"
    with pytest.raises(CityopsError) as err, transaction(city) as s:
        cases.create_case(
            s,
            get_user(s, "shouli"),
            cases.NewCase(
                source="hotline",
                type_code="06010",
                description="x",
                lon=KAIFENG_FU[0],
                lat=KAIFENG_FU[1],
                crs="gcj02",
                self_handled=True,
                photos=(before,),
                photos_after=(after,),
            ),
            now=at(9),
        )
    assert err.value.code == "wrong_role"
    with transaction(city) as s:
        case_id = report(s, when=at(10)).case.id
    act(city, case_id, "shouli", "request_check", at(10, 5), supervisor="jiandu")
    with pytest.raises(CityopsError) as err, transaction(city) as s:
        cases.act(
            s,
            case_id,
            "register",
            get_user(s, "shouli"),
            cases.ActionRequest(condition="1"),
            now=at(10, 6),
        )
    assert err.value.code == "not_allowed_now"  # the 核查 task is still open
    with transaction(city) as s:
        ((task, _n),) = cases.tasks_of(s, get_user(s, "jiandu"))
        row = cases.complete_task(
            s, task.id, get_user(s, "jiandu"), True, "现场确认", (), now=at(10, 30)
        )
        assert row.check_result is True and row.task_kind is None
    row = act(city, case_id, "shouli", "register", at(10, 35), condition="1")
    assert row.state == "pending_dispatch"
    with city() as s:
        assert cases.verify_all(s)[1] == []
