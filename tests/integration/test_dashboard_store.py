"""Dashboard figures on both databases: each count equals the length of the list behind it;
on time / late, trend days, groupings, department ranking and data scope by hand."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from tests.e2e.seed import seed_city

from cityops.core.errors import ValidationFailed
from cityops.services import dashboard as dash
from cityops.services.cases import ActionRequest, NewCase, act, create_case
from cityops.store.schema import User

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 10, 9, 0, tzinfo=TZ)  # a Tuesday, working hours
POINT = {"lon": 114.3427, "lat": 34.7943}  # 开封府, WGS-84


def _users(s: Session) -> dict[str, User]:
    return {u.username: u for u in s.scalars(select(User))}


def _case(
    s: Session, u: dict[str, User], at: datetime, type_code: str = "06013", source: str = "patrol"
) -> int:
    reporter = None if source == "public" else u["jiandu"]
    c = create_case(
        s, reporter, NewCase(source=source, type_code=type_code, description="x", **POINT), now=at
    )
    return c.case.id


def _to_handled(s: Session, u: dict[str, User], ref: int, at: datetime, done: timedelta) -> None:
    act(
        s, ref, "register", u["shouli"], ActionRequest(condition="1"), now=at + timedelta(minutes=5)
    )
    act(
        s,
        ref,
        "dispatch",
        u["paiqian"],
        ActionRequest(department="KF-SZ"),
        now=at + timedelta(minutes=10),
    )
    act(s, ref, "accept", u["shizheng"], ActionRequest(), now=at + timedelta(minutes=20))
    act(s, ref, "report_done", u["shizheng"], ActionRequest(note="done"), now=at + done)


@pytest.fixture
def city(sessions: sessionmaker[Session]) -> dict[str, int]:
    """Five cases on 2026-11-10: one reported only, one on time, one late (done 3 weeks later,
    so outside November's first half but inside the month), one closed, one public."""
    with sessions.begin() as s:
        seed_city(s)
    with sessions.begin() as s:
        u = _users(s)
        ids = {
            "reported": _case(s, u, T0),
            "on_time": _case(s, u, T0 + timedelta(minutes=1)),
            "late": _case(s, u, T0 + timedelta(minutes=2)),
            "closed": _case(s, u, T0 + timedelta(minutes=3), type_code="06036"),
            "public": _case(s, u, T0 + timedelta(minutes=4), source="public"),
        }
        _to_handled(s, u, ids["on_time"], T0, timedelta(hours=2))
        _to_handled(s, u, ids["late"], T0, timedelta(days=15))
        c = ids["closed"]
        _to_handled(s, u, c, T0, timedelta(hours=1))
        act(
            s,
            c,
            "request_verify",
            u["shouli"],
            ActionRequest(supervisor="jiandu"),
            now=T0 + timedelta(hours=2),
        )
        act(
            s,
            c,
            "complete_verify",
            u["jiandu"],
            ActionRequest(result=True),
            now=T0 + timedelta(hours=3),
        )
        act(s, c, "close", u["shouli"], ActionRequest(), now=T0 + timedelta(hours=4))
    return ids


def test_counts_match_the_lists_behind_them(
    sessions: sessionmaker[Session], city: dict[str, int]
) -> None:
    now = T0 + timedelta(days=20)  # 2026-11-30
    with sessions() as s:
        leader = _users(s)["lingdao"]
        month = dash.period_of("2026-11", now, TZ)
        k = dash.kpis(s, leader, month, now)
        assert k.counts["reported"] == 5
        assert k.counts["registered"] == k.counts["dispatched"] == 3
        assert k.counts["handled"] == 3 and k.counts["on_time"] == 2 and k.counts["late"] == 1
        assert k.counts["closed"] == 1
        assert k.on_time_rate == pytest.approx(2 / 3)
        for metric, n in k.counts.items():
            rows, total = dash.metric_cases(s, leader, metric, month, now)
            assert total == n == len(rows), metric
        late, _ = dash.metric_cases(s, leader, "late", month, now)
        assert [r.id for r in late] == [city["late"]]
        # The day itself: the late case's handling ended on the 25th, not that day.
        day = dash.period_of("2026-11-10", now, TZ)
        assert dash.count(s, leader, "handled", day, now) == 2
        assert dash.count(s, leader, "reported", day, now, dash.Dims(source="public")) == 1
        assert dash.count(s, leader, "reported", day, now, dash.Dims(type="0603")) == 1
        assert dash.count(s, leader, "reported", day, now, dash.Dims(district="410204")) == 5
        assert dash.count(s, leader, "reported", day, now, dash.Dims(district="410205")) == 0


def test_groupings_trend_ranking(sessions: sessionmaker[Session], city: dict[str, int]) -> None:
    now = T0 + timedelta(days=20)
    with sessions() as s:
        leader = _users(s)["lingdao"]
        month = dash.period_of("2026-11", now, TZ)
        by_type = dash.breakdown(s, leader, "reported", "type", month, now)
        assert [(b.key, b.label, b.count) for b in by_type] == [
            ("06013", "道路破损", 4),
            ("06036", "乱堆杂物", 1),
        ]
        by_source = {
            b.key: (b.label, b.count)
            for b in dash.breakdown(s, leader, "reported", "source", month, now)
        }
        assert by_source == {"patrol": ("监督员上报", 4), "public": ("公众举报", 1)}
        by_district = dash.breakdown(s, leader, "reported", "district", month, now)
        assert [(b.key, b.label, b.count) for b in by_district] == [("410204", "鼓楼区", 5)]
        tr = dash.trend(s, leader, now, days=30)
        assert len(tr.days) == len(tr.reported) == 30 and tr.days[-1] == now.date()
        assert tr.reported[tr.days.index(T0.date())] == 5 and sum(tr.reported) == 5
        assert tr.closed[tr.days.index(T0.date())] == 1 and sum(tr.closed) == 1
        [sz] = dash.department_ranking(s, leader, month, now)
        assert (sz.code, sz.handled, sz.on_time, sz.open) == ("KF-SZ", 3, 2, 2)
        assert sz.rate == pytest.approx(2 / 3)


def test_scope_and_periods(sessions: sessionmaker[Session], city: dict[str, int]) -> None:
    now = T0 + timedelta(days=20)
    with sessions() as s:
        u = _users(s)
        month = dash.period_of("month", now, TZ)
        assert month.start == datetime(2026, 11, 1, tzinfo=TZ) and month.end.month == 12
        # A department sees only its own cases: the three dispatched to KF-SZ.
        assert dash.count(s, u["shizheng"], "reported", month, now) == 3
        assert dash.count(s, u["lingdao"], "reported", month, now) == 5
        assert dash.count(s, u["lingdao"], "overdue", month, now) >= 1  # the reported-only case
        today = dash.period_of("today", now, TZ)
        assert today.days == 1 and today.start.date() == now.date()
        dec = dash.period_of("2026-12", now, TZ)
        assert dec.end == datetime(2027, 1, 1, tzinfo=TZ)
        for bad in ("yesterday", "2026-13", "2026-02-30"):
            with pytest.raises(ValidationFailed):
                dash.period_of(bad, now, TZ)
        with pytest.raises(ValidationFailed):
            dash.metric_filter("happiness", month, now)
        with pytest.raises(ValidationFailed):
            dash.breakdown(s, u["lingdao"], "reported", "colour", month, now)
