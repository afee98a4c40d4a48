"""Evaluation on a hand-computed fixture, on SQLite and PostgreSQL (the same exact numbers on both).

City: 鼓楼区 410204 (250 m grids). Two streets S1 and S2 (the first two street codes); every case
of a street lies in the first unit grid of it, G1 ⊂ Q1 ⊂ S1 and G2 ⊂ Q2 ⊂ S2. Departments
KF-SZ (市政) and KF-HW (环卫); rules: 06010 → KF-HW, auto-dispatch. Staff: supervisors zhang
(responsibility grid ∋ G1) and lisi (∋ G2), acceptor shouli, dispatcher paiqian, leader lingdao,
department users shizheng and huanwei. Default calendar (08:00–12:00, 14:00–18:00,
chinesecalendar), stage limits register 15分钟, dispatch 15分钟, verify 2工作时; check limit 2工作时
(default scheme).
Types: 06036 乱堆杂物 1工作日, 06013 道路破损 3工作日, 06042 垃圾站满溢 2工作时, 06010 暴露垃圾
4工作时. All times Beijing time; Oct 24/25/31 and Nov 1 are days off. "h" = a handling run.

    C1  S1 zhang patrol 06013  Mon 11-02 09:00; reg 09:05; disp 09:10 → SZ (h due Thu 11-05 09:10);
        done Wed 11-04 10:00; verify zhang 10:05 (due 12:05) pass 11:00; close 11:10.
    C2  S1 zhang 06036  Tue 11-03 09:00; reg 09:05; disp 09:10 → SZ (h1 due Wed 11-04 09:10);
        done 16:00; verify zhang 16:05 (due Wed 08:05) FAIL 16:30; REWORK 16:40 (h2 due
        Wed 11-04 16:40); done Wed 10:00; verify zhang 10:05 pass 10:30; close 10:40.
    C3  S2 lisi 06042  Mon 11-02 10:00; reg 10:30 (LATE, due 10:15); disp 10:40 → SZ (h due 14:40);
        done 16:00 (LATE); verify lisi 16:10 (due Tue 08:10) pass Tue 11-03 09:00 (LATE); close 09:10.
    C4  S2 lisi 06010  Wed 11-04 09:00; reg 09:05 → AUTO-dispatch → HW (h due 15:05);
        done 14:00; verify lisi 14:05 pass 14:30; close 14:40.
    C5  S1 PUBLIC report 06036  Thu 11-05 09:00; check → zhang 09:02 (due 11:02), done 09:30;
        reg 09:40 (LATE); disp 09:45 → SZ; SZ RETURNS 10:00 (不属本单位); disp 10:10 → HW
        (h due Fri 11-06 10:10); done Fri 09:00; verify zhang 09:05 pass 09:30; close 09:40.
    C6  S2 lisi 06036  Mon 11-09 09:00; reg 09:05; disp 09:10 → HW (h due Tue 11-10 09:10);
        EXTENSION 1工作日 asked 15:00, approved 15:10 (due Wed 11-11 09:10); done Tue 16:00
        (on time: after the first deadline, before the extended one); verify lisi pass; close 16:40.
    C7  S1 zhang 06013  Tue 11-10 09:00; reg 09:05; disp 09:10 → SZ (h due Fri 11-13 09:10);
        SUSPENDED Wed 11-11 10:10 – Mon 11-16 10:10 (3 working days) → due Wed 11-18 09:10;
        done Tue 11-17 15:00; verify zhang pass 15:30; close 15:40.
    C8  S2 lisi 06036  Mon 11-23 09:00; reg 09:05; disp 09:30 (LATE, due 09:20) → SZ (h due
        Tue 11-24 09:30); urged Wed 11-25 (paiqian), directive Thu 11-26 (lingdao); STILL OPEN.
    C9  S1 zhang 06036  Mon 11-23 10:00; reg 10:05; disp 10:10 → HW (h due Tue 11-24 10:10);
        SUSPENDED 15:00, before its deadline, still suspended at the cut-off.
    C10 S1 zhang 06036  Mon 11-16 09:00; reg 09:05; disp 09:10 → HW (h due Tue 11-17 09:10);
        SUSPENDED Wed 11-18 10:00, after its deadline, still suspended.
    C11 S2 lisi 06036  Wed 10-28 09:00; reg 09:05; disp 09:10 → SZ (h due Thu 10-29 09:10);
        done Tue 11-03 10:00 (LATE, carried over); verify lisi 10:05 pass 10:30; close 11:00.
    C12 S1 zhang 06036  Wed 11-18 09:00; VOIDED 09:10.
    C13 S2 lisi 06036  Thu 11-19 09:00; check → lisi 09:01 (due 11:01) done 11:30 (LATE); reg 11:35
        (LATE); paiqian RETURNS it to the acceptor 11:40 (非本中心); VOIDED 11:45.
    C14 S1 zhang SELF-HANDLED 06036  Fri 11-20 09:00 (closed at once).
    C15 S2 HOTLINE (entered by shouli) 06036  Sat 10-31 23:50; reg Sun 11-01 00:05 (on time:
        due 00:05 exactly); disp 00:10 → HW (h due Mon 11-02 18:00); done Mon 11:00; not verified.

November 2026 (cut-off T = 2026-12-01 00:00), by hand:

Departments (handling runs):
    SZ: C1 ✓, C2h1 ✓, C2h2 ✓, C3 late, C5 returned, C7 ✓ (suspension moved its deadline),
        C8 open and overdue, C11 late (handled in Nov, due in Oct).
        received 6 (C1 C2 C3 C5 C7 C8) · handled 6 · on time 4 · late 2 · overdue_open 1 (C8)
        · should_handle 7 · reworks 1 (C2) · extensions 0 · returns 1 (C5) · urges 1 · directives 1
        处置率 6/7 · 按期处置率 4/7 · 返工率 1/6 · 延期率 0/7 · 回退率 1/6
        score 40·4/7 + 30·6/7 + 30·(1 − 1/6) = 73.571… → 73.57 C, rank 2
    HW: C4 ✓ (auto), C5h2 ✓, C6 ✓ (extended), C15 ✓, C10 overdue (suspended after its
        deadline), C9 not counted (suspended in time).
        received 6 (C4 C5 C6 C9 C10 C15) · handled 4 · on time 4 · late 0 · overdue_open 1 (C10)
        · should_handle 5 · reworks 0 · extensions 1 (C6) · returns 0 · urges 0 · directives 0
        处置率 4/5 · 按期处置率 4/5 · 返工率 0/4 · 延期率 1/5 · 回退率 0/6
        score 40·0.8 + 30·0.8 + 30·1 = 86.00 B, rank 1

Regions (S1 = Q1 = G1: C1 C2 C5 C7 C9 C10 C12 C14; S2 = Q2 = G2: C3 C4 C6 C8 C11 C13 C15):
    S1: reported 8 · registered 7 (C1 C2 C5 C7 C9 C10 + self-handled C14) · public 1 (C5)
        · closed 5 (C1 C2 C5 C7 C14) · on time 5 · overdue_unclosed 1 (C10) · should_close 6
        score 40·5/6 + 40·5/6 + 20·(1 − 1/7) = 83.809… → 83.81 B, rank 1
    S2: reported 5 (C3 C4 C6 C8 C13; C11 and C15 are October's) · registered 6 (C3 C4 C6 C8 C13
        C15 — C15's first registration is Nov 1 00:05) · public 1 (C15, hotline) · closed 4 (C3 C4
        C6 C11) · on time 2 (C4 C6) · overdue_unclosed 1 (C8) · should_close 5
        score 40·2/5 + 40·4/5 + 20·(1 − 1/6) = 64.666… → 64.67 C, rank 2
    410204: reported 13 · registered 13 · public 2 · closed 9 · on time 7 · overdue 2
        · should_close 11 → 40·7/11 + 40·9/11 + 20·(1 − 2/13) = 75.104… → 75.10 B

Supervisors:
    zhang: reports 7 (C1 C2 C7 C9 C10 C12 C14) · valid 6 (not C12) · missed 1 (C5) · checks 1,
        on time 1 · verifies 5 (C1 C2 C2 C5 C7), on time 5
        score 40·6/7 + 20·1 + 20·1 + 20·band(1 → 90) = 92.285… → 92.29 A, rank 1
    lisi: reports 5 (C3 C4 C6 C8 C13) · valid 4 (not C13) · missed 1 (C15) · checks 1, on time 0
        (C13) · verifies 4 (C3 C4 C6 C11), on time 3 (not C3)
        score 40·4/5 + 20·0 + 20·3/4 + 20·90/100 = 65.00 C, rank 2
Acceptor shouli: accepted 14 (12 registrations + voids of C12, C13) · registered 12 · on time 9
    (not C3 C5 C13) · accurate 11 (not C13) → 50·9/12 + 50·11/12 = 83.333… → 83.33 B
Dispatcher paiqian: dispatched 11 (not the automatic C4, not October's C11) · on time 10 (not C8)
    · accurate 10 (not C5's first) → 50·10/11 + 50·10/11 = 90.909… → 90.91 A

October 2026 (cut-off 2026-11-01 00:00), for the change column: SZ received 1 (C11), handled 0,
overdue_open 1 (C11) → 处置率 0/1, 按期 0/1, 返工率 undefined (left out) → 0.00 E, rank 1;
HW nothing → unscored. S2 (= Q2, G2, 410204): reported 2 (C11 C15), registered 1 (C11), closed 0,
overdue 1 → 40·0 + 40·0 + 20·(1 − 0) = 20.00 E. lisi: reports 1, valid 1, missed 0, no checks or
verifies → (40·1 + 20·1)/60 ×100 = 100.00 A. shouli 100.00, paiqian 100.00.
So in November: SZ +73.57 and down one place (1 → 2); S2 +44.67 (1 → 2); 410204 +55.10;
lisi −35.00 (1 → 2); shouli −16.67; paiqian −9.09.

Kaifeng variant (kaifeng.toml), November: SZ 45·4/7 + 20·6/7 + 15·5/6 + 10·5/6 + 10·band(1 → 80)
= 71.690… → 71.69 C; HW 45·0.8 + 20·0.8 + 15 + 10 + 10·0.8 = 85.00 B (A ≥ 95, B ≥ 85, C ≥ 70).
Regions (class old_town: 监督举报数 2 → 100): 410204 40·7/11 + 30·9/11 + 30·1 = 80.00 C;
S1 40·5/6 + 30·5/6 + 30 = 88.33 B; S2 40·2/5 + 30·4/5 + 30 = 70.00 C; grids ([grid] section)
G1 50·5/6 + 50·5/6 = 83.33 C, G2 50·2/5 + 50·4/5 = 60.00 D.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import delete, select, update
from tests.evaluation_fixture import NOV_END, TZ, World, forget_snapshots, shared_world, t

from cityops.core.errors import CityopsError
from cityops.core.evaluation import EvaluationPeriod, SubjectType, counted
from cityops.services import cases
from cityops.services import evaluation as ev
from cityops.store.db import transaction
from cityops.store.schema import Case, CaseStageRow, EvaluationSnapshot

pytestmark = pytest.mark.xdist_group("evaluation")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(
    request: pytest.FixtureRequest,
    fresh_db_url: Callable[[str], str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[World]:
    """Built once per database (shared with the API and CLI tests); the last test publishes and
    edits a case and puts both back."""
    w, _engine = shared_world(request.param, fresh_db_url, tmp_path_factory)
    yield w
    forget_snapshots(w)


def evaluation(w: World, period: str = "2026-11", scheme: str = "default", **kw: Any) -> Any:
    with w.sessions() as s:
        result = ev.evaluate(s, period, scheme=ev.load_scheme(scheme), now=NOV_END, **kw)
        return result.to_json()


def rows(doc: dict[str, Any], subject: str) -> dict[str, dict[str, Any]]:
    [section] = [x for x in doc["sections"] if x["subject"] == subject]
    return {r["id"]: r for r in section["rows"]}


def counts(row: dict[str, Any]) -> dict[str, Any]:
    """Counts as ints, rates as (num, den)."""
    return {k: v if isinstance(v, int) else (v["num"], v["den"]) for k, v in row["figures"].items()}


def test_fixture_deadlines_are_as_documented(world: World) -> None:
    with world.sessions() as s:

        def runs(name: str, stage: str = "handling") -> list[tuple[datetime, datetime | None]]:
            q = (
                select(CaseStageRow.due_at, CaseStageRow.ended_at)
                .where(CaseStageRow.case_id == world.ids[name], CaseStageRow.stage == stage)
                .order_by(CaseStageRow.id)
            )
            return [(d.astimezone(TZ), e.astimezone(TZ) if e else None) for d, e in s.execute(q)]

        assert runs("C2") == [(t(11, 4, 9, 10), t(11, 3, 16)), (t(11, 4, 16, 40), t(11, 4, 10))]
        assert runs("C6") == [(t(11, 11, 9, 10), t(11, 10, 16))]  # extended by 1工作日
        assert runs("C7") == [(t(11, 18, 9, 10), t(11, 17, 15))]  # suspension: 3 working days
        assert runs("C15") == [(t(11, 2, 18), t(11, 2, 11))]  # Sunday dispatch: end of Monday
        assert runs("C5") == [(t(11, 6, 9, 45), t(11, 5, 10)), (t(11, 6, 10, 10), t(11, 6, 9))]
        assert runs("C3", "verify") == [(t(11, 3, 8, 10), t(11, 3, 9))]
        assert runs("C8", "dispatch") == [(t(11, 23, 9, 20), t(11, 23, 9, 30))]
        assert runs("C9")[0][0] == t(11, 24, 10, 10) and runs("C10")[0][0] == t(11, 17, 9, 10)
        c9, c10 = s.get(Case, world.ids["C9"]), s.get(Case, world.ids["C10"])
        assert c9 is not None and c10 is not None and c9.state == c10.state == "suspended"
        assert cases.verify_all(s)[1] == []


def test_departments_by_hand(world: World) -> None:
    doc = evaluation(world)
    assert doc["complete"] and doc["as_of"] == "2026-12-01T00:00:00+08:00"
    d = rows(doc, "department")
    assert counts(d["KF-SZ"]) == {
        "received": 6,
        "handled": 6,
        "handled_on_time": 4,
        "handled_late": 2,
        "overdue_open": 1,
        "should_handle": 7,
        "reworks": 1,
        "extensions": 0,
        "returns": 1,
        "urges": 1,
        "supervisions": 1,
        "handling_rate": (6, 7),
        "ontime_rate": (4, 7),
        "rework_rate": (1, 6),
        "extension_rate": (0, 7),
        "return_rate": (1, 6),
    }
    assert counts(d["KF-HW"]) == {
        "received": 6,
        "handled": 4,
        "handled_on_time": 4,
        "handled_late": 0,
        "overdue_open": 1,
        "should_handle": 5,
        "reworks": 0,
        "extensions": 1,
        "returns": 0,
        "urges": 0,
        "supervisions": 0,
        "handling_rate": (4, 5),
        "ontime_rate": (4, 5),
        "rework_rate": (0, 4),
        "extension_rate": (1, 5),
        "return_rate": (0, 6),
    }
    assert d["KF-SZ"]["figures"]["ontime_rate"]["value"] == 0.5714
    sz, hw = d["KF-SZ"], d["KF-HW"]
    assert (sz["score"], sz["grade"], sz["rank"]) == (73.57, "C", 2)
    assert (hw["score"], hw["grade"], hw["rank"]) == (86.0, "B", 1)
    assert [p["subscore"] for p in sz["parts"]] == [57.14, 85.71, 83.33]
    # against October: SZ 0.00 (E, 1st of one); HW had nothing to score
    assert sz["previous"] == {"score": 0.0, "grade": "E", "rank": 1}
    assert sz["change"] == {"score": 73.57, "rank": -1}
    assert hw["previous"] == {"score": None, "grade": None, "rank": None} and hw["change"] is None


def test_regions_by_hand(world: World) -> None:
    doc = evaluation(world)
    s1 = {
        "reported": 8,
        "registered": 7,
        "public_reports": 1,
        "closed": 5,
        "closed_on_time": 5,
        "overdue_unclosed": 1,
        "should_close": 6,
        "close_rate": (5, 6),
        "ontime_close_rate": (5, 6),
        "public_report_rate": (1, 7),
    }
    s2 = {
        "reported": 5,
        "registered": 6,
        "public_reports": 1,
        "closed": 4,
        "closed_on_time": 2,
        "overdue_unclosed": 1,
        "should_close": 5,
        "close_rate": (4, 5),
        "ontime_close_rate": (2, 5),
        "public_report_rate": (1, 6),
    }
    w = world
    for level, a, b in (
        ("street", w.s1, w.s2),
        ("community", w.q1, w.q2),
        ("grid", w.g1, w.g2),
    ):
        r = rows(doc, level)
        assert set(r) == {a, b}
        assert counts(r[a]) == s1 and counts(r[b]) == s2
        assert (r[a]["score"], r[a]["grade"], r[a]["rank"]) == (83.81, "B", 1)
        assert (r[b]["score"], r[b]["grade"], r[b]["rank"]) == (64.67, "C", 2)
        assert r[b]["previous"] == {"score": 20.0, "grade": "E", "rank": 1}
        assert r[b]["change"] == {"score": 44.67, "rank": -1}
        assert r[a]["previous"] is None
    [district] = rows(doc, "district").values()
    assert district["id"] == "410204" and district["name"] == "鼓楼区"
    assert counts(district) == {
        "reported": 13,
        "registered": 13,
        "public_reports": 2,
        "closed": 9,
        "closed_on_time": 7,
        "overdue_unclosed": 2,
        "should_close": 11,
        "close_rate": (9, 11),
        "ontime_close_rate": (7, 11),
        "public_report_rate": (2, 13),
    }
    assert (district["score"], district["grade"], district["rank"]) == (75.1, "B", 1)
    assert district["change"] == {"score": 55.1, "rank": 0}


def test_people_by_hand(world: World) -> None:
    doc = evaluation(world)
    u = world.users
    sup = rows(doc, "supervisor")
    assert counts(sup[str(u["zhang"])]) == {
        "reports": 7,
        "valid_reports": 6,
        "missed": 1,
        "checks": 1,
        "checks_on_time": 1,
        "verifies": 5,
        "verifies_on_time": 5,
        "valid_report_rate": (6, 7),
        "check_ontime_rate": (1, 1),
        "verify_ontime_rate": (5, 5),
    }
    assert counts(sup[str(u["lisi"])]) == {
        "reports": 5,
        "valid_reports": 4,
        "missed": 1,
        "checks": 1,
        "checks_on_time": 0,
        "verifies": 4,
        "verifies_on_time": 3,
        "valid_report_rate": (4, 5),
        "check_ontime_rate": (0, 1),
        "verify_ontime_rate": (3, 4),
    }
    z, li = sup[str(u["zhang"])], sup[str(u["lisi"])]
    assert (z["score"], z["grade"], z["rank"], z["name"]) == (92.29, "A", 1, "zhang")
    assert (li["score"], li["grade"], li["rank"]) == (65.0, "C", 2)
    assert li["change"] == {"score": -35.0, "rank": -1} and z["previous"] is None
    [acc] = rows(doc, "acceptor").values()
    assert acc["id"] == str(u["shouli"])
    assert counts(acc) == {
        "accepted": 14,
        "registered": 12,
        "registered_on_time": 9,
        "registered_accurate": 11,
        "register_ontime_rate": (9, 12),
        "register_accuracy": (11, 12),
    }
    assert (acc["score"], acc["grade"], acc["change"]) == (83.33, "B", {"score": -16.67, "rank": 0})
    [dis] = rows(doc, "dispatcher").values()
    assert dis["id"] == str(u["paiqian"])
    assert counts(dis) == {
        "dispatched": 11,
        "dispatched_on_time": 10,
        "dispatched_accurate": 10,
        "dispatch_ontime_rate": (10, 11),
        "dispatch_accuracy": (10, 11),
    }
    assert (dis["score"], dis["grade"], dis["change"]) == (90.91, "A", {"score": -9.09, "rank": 0})


def test_october_and_a_running_month(world: World) -> None:
    doc = evaluation(world, "2026-10", compare=False)
    d = rows(doc, "department")
    assert counts(d["KF-SZ"])["received"] == 1 and counts(d["KF-SZ"])["overdue_open"] == 1
    assert (d["KF-SZ"]["score"], d["KF-SZ"]["grade"]) == (0.0, "E")
    assert [p["subscore"] for p in d["KF-SZ"]["parts"]] == [0.0, 0.0, None]
    assert d["KF-HW"]["score"] is None and d["KF-HW"]["rank"] is None
    assert counts(rows(doc, "street")[world.s2])["reported"] == 2
    assert rows(doc, "supervisor")[str(world.users["lisi"])]["score"] == 100.0
    # Evaluated on Wed 11-04 at 12:00, November counts what is known then (T = now).
    with world.sessions() as s:
        running = ev.evaluate(
            s, "2026-11", [SubjectType.department], now=t(11, 4, 12), compare=False
        ).to_json()
    assert not running["complete"] and running["as_of"] == "2026-11-04T12:00:00+08:00"
    sz = counts(rows(running, "department")["KF-SZ"])
    # handled by then: C3 (late), C2h1, C11 (late), C2h2, C1; C8 is not yet dispatched.
    assert (sz["handled"], sz["handled_late"], sz["overdue_open"]) == (5, 2, 0)
    with pytest.raises(CityopsError) as err, world.sessions() as s:
        ev.evaluate(s, "2026-12", now=t(11, 30, 23, 59))
    assert err.value.code == "period_not_begun"


def test_a_quarter_and_a_date_range(world: World) -> None:
    q = rows(evaluation(world, "2026-Q4", compare=False), "department")
    # October + November: received 1 + 6; C11 is handled in November, so not overdue any more.
    assert counts(q["KF-SZ"])["received"] == 7 and counts(q["KF-SZ"])["handled"] == 6
    assert counts(q["KF-SZ"])["overdue_open"] == 1  # C8
    r = rows(evaluation(world, "2026-11-01..2026-11-03", compare=False), "department")
    # T = Wed 11-04 00:00: C3 (late), C2h1, C11 (late) handled; C2h2 and C1 open, not yet due.
    assert counts(r["KF-SZ"])["handled"] == 3 and counts(r["KF-SZ"])["overdue_open"] == 0


def test_every_figure_drills_down_to_its_cases(world: World) -> None:
    doc = evaluation(world, compare=False)
    w = world
    with w.sessions() as s:

        def names(subject: str, ident: str, figure: str, key: str = "cases") -> list[str]:
            out = ev.drill(s, "2026-11", SubjectType(subject), ident, figure, now=NOV_END)
            return [w.name_of(c["number"]) for c in out[key]]

        assert names("department", "KF-SZ", "handled_late") == ["C3", "C11"]
        assert sorted(names("department", "KF-SZ", "should_handle")) == sorted(
            ["C1", "C2", "C2", "C3", "C7", "C11", "C8"]
        )
        assert names("department", "KF-SZ", "returns") == ["C5"]
        assert names("department", "KF-HW", "overdue_open") == ["C10"]
        assert names("department", "KF-HW", "extensions") == ["C6"]
        assert names("department", "KF-HW", "received") == ["C15", "C4", "C5", "C6", "C10", "C9"]
        assert names("department", "KF-SZ", "rework_rate", "numerator") == ["C2"]
        assert len(names("department", "KF-SZ", "rework_rate", "denominator")) == 6
        assert names("street", w.s1, "overdue_unclosed") == ["C10"]
        assert names("street", w.s2, "public_reports") == ["C15"]
        assert names("grid", w.g2, "closed_on_time") == ["C4", "C6"]
        assert names("supervisor", str(w.users["zhang"]), "missed") == ["C5"]
        assert names("supervisor", str(w.users["lisi"]), "verifies_on_time") == ["C11", "C4", "C6"]
        assert names("acceptor", str(w.users["shouli"]), "registered_accurate").count("C13") == 0
        assert names("dispatcher", str(w.users["paiqian"]), "dispatched_on_time").count("C8") == 0
        one = ev.drill(s, "2026-11", SubjectType.department, "KF-SZ", "handled_late", now=NOV_END)
        assert one["count"] == 2 and one["source"] == "live"
        assert [c["at"] for c in one["cases"]] == [
            "2026-11-02T16:00:00+08:00",
            "2026-11-03T10:00:00+08:00",
        ]
    # Every counted figure of every subject equals the length of its list (totals and rates
    # are made of these: core.evaluation.counted_parts).
    period = EvaluationPeriod.parse("2026-11")
    with w.sessions() as s, ev.Facts(s, period, scheme=ev.load_scheme(), now=NOV_END) as facts:
        for section in doc["sections"]:
            st = SubjectType(section["subject"])
            for row in section["rows"]:
                for key in counted(st):
                    listed = facts.cases(st, row["id"], key)
                    assert len(listed) == row["figures"][key], (st, row["id"], key)


def test_the_kaifeng_variant(world: World) -> None:
    doc = evaluation(world, scheme="kaifeng", compare=False)
    d = rows(doc, "department")
    assert (d["KF-SZ"]["score"], d["KF-SZ"]["grade"]) == (71.69, "C")
    assert (d["KF-HW"]["score"], d["KF-HW"]["grade"]) == (85.0, "B")
    [district] = rows(doc, "district").values()
    assert (district["score"], district["grade"], district["class"]) == (80.0, "C", "old_town")
    st = rows(doc, "street")
    assert (st[world.s1]["score"], st[world.s1]["grade"]) == (88.33, "B")
    assert (st[world.s2]["score"], st[world.s2]["grade"]) == (70.0, "C")
    g = rows(doc, "grid")
    assert (g[world.g1]["score"], g[world.g1]["grade"]) == (83.33, "C")
    assert (g[world.g2]["score"], g[world.g2]["grade"]) == (60.0, "D")


def test_publishing_freezes_and_recomputing_is_explicit(world: World) -> None:
    w = world
    with transaction(w.sessions) as s:
        with pytest.raises(CityopsError) as err:
            ev.publish(s, None, "2026-11", [SubjectType.department], now=t(11, 30, 12))
        assert err.value.code == "period_not_over"
        [snap] = ev.publish(s, None, "2026-11", [SubjectType.department], now=NOV_END)
        first = snap.id
        assert snap.scheme_name == "default" and len(snap.scheme_version) == 64
    # Later edits of a case: C8 (SZ, overdue) is moved to HW in place.
    with transaction(w.sessions) as s:
        s.execute(update(Case).where(Case.id == w.ids["C8"]).values(department="KF-HW"))
    frozen = rows(evaluation(w), "department")
    assert frozen["KF-SZ"]["score"] == 73.57
    assert json.loads(json.dumps(frozen)) == frozen
    [section] = [x for x in evaluation(w)["sections"] if x["subject"] == "department"]
    assert section["source"] == "snapshot" and section["snapshot_id"] == first
    live = rows(evaluation(w, live=True), "department")
    assert counts(live["KF-SZ"])["overdue_open"] == 0 and counts(live["KF-HW"])["overdue_open"] == 2
    with w.sessions() as s:  # the frozen list is what was published
        out = ev.drill(s, "2026-11", SubjectType.department, "KF-SZ", "overdue_open", now=NOV_END)
        assert out["source"] == "snapshot" and [c["number"] for c in out["cases"]] == [
            w.numbers["C8"]
        ]
    with pytest.raises(CityopsError) as err, transaction(w.sessions) as s:
        ev.publish(s, None, "2026-11", [SubjectType.department], now=NOV_END)
    assert err.value.code == "already_published"
    with transaction(w.sessions) as s:
        [again] = ev.publish(
            s, None, "2026-11", [SubjectType.department], now=NOV_END, replace=True
        )
    with w.sessions() as s:
        old = s.get(EvaluationSnapshot, first)
        assert old is not None and old.superseded_by == again.id
        assert [x.id for x in ev.list_snapshots(s, "2026-11")] == [again.id]
        assert len(ev.list_snapshots(s, "2026-11", include_superseded=True)) == 2
    again_rows = rows(evaluation(w), "department")
    assert counts(again_rows["KF-HW"])["overdue_open"] == 2
    with transaction(w.sessions) as s:  # put the fixture back
        s.execute(update(Case).where(Case.id == w.ids["C8"]).values(department="KF-SZ"))
        s.execute(delete(EvaluationSnapshot))
