"""Open311 rules without a database: query windows, W3C times, the rate limiter, the default
screening, masking, form checks, the policy file and the XML writer."""

from __future__ import annotations

import os
import time
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from cityops.api.open311.render import ElementCache, json_array, to_json, to_xml
from cityops.core.errors import ValidationFailed
from cityops.services.open311 import (
    DefaultScreening,
    Open311Error,
    Policy,
    SlidingWindow,
    Submission,
    Verdict,
    parse_query,
    parse_submission,
    parse_w3,
    runtime_for,
    scrub,
)

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 24, 10, 0, tzinfo=TZ)


def test_w3_times() -> None:
    assert parse_w3("2010-01-01T00:00:00Z", TZ) == datetime.fromisoformat(
        "2010-01-01T00:00:00+00:00"
    )
    assert parse_w3("2026-11-24T08:00:00 08:00", TZ) == datetime(2026, 11, 24, 8, tzinfo=TZ)
    assert parse_w3("2026-11-24", TZ) == datetime(2026, 11, 24, tzinfo=TZ)
    assert parse_w3("2026-11", TZ) == datetime(2026, 11, 1, tzinfo=TZ)
    assert parse_w3("2026", TZ) == datetime(2026, 1, 1, tzinfo=TZ)
    assert parse_w3("2026-11-24T08:00", TZ).tzinfo is TZ  # no zone: the city's
    for bad in ("yesterday", "24/11/2026", "2026-13-01"):
        with pytest.raises(ValueError):
            parse_w3(bad, TZ)


def test_query_windows() -> None:
    q = parse_query([], now=NOW)
    assert (q.start, q.end) == (NOW - timedelta(days=90), NOW)
    q = parse_query([("end_date", "2026-06-30")], now=NOW)
    assert q.end == datetime(2026, 6, 30, tzinfo=TZ) and q.start == q.end - timedelta(days=90)
    q = parse_query([("start_date", "2026-01-01")], now=NOW)
    assert q.end == datetime(2026, 1, 1, tzinfo=TZ) + timedelta(days=90)
    q = parse_query([("updated_after", "2025-01-01")], now=NOW)
    assert (q.start, q.end) == (None, None)  # a changeset query reaches older requests
    assert (q.updated_after, q.updated_before) == (datetime(2025, 1, 1, tzinfo=TZ), NOW)
    q = parse_query([("service_request_id", "a,b"), ("start_date", "1999-01-01")], now=NOW)
    assert q.ids == ("a", "b") and q.start is None  # overrides all other arguments
    q = parse_query([("status", ""), ("page_size", "")], now=NOW)  # empty = not given
    assert q.statuses == () and q.page_size == 500
    with pytest.raises(Open311Error) as err:
        parse_query(
            [("start_date", "2026-01-01"), ("end_date", "2026-05-01"), ("status", "x")], now=NOW
        )
    assert err.value.status == 400 and len(err.value.messages("en")) == 2


def test_sliding_window() -> None:
    t = [0.0]
    w = SlidingWindow(60, clock=lambda: t[0])
    assert [w.hit("k", 2) for _ in range(2)] == [None, None]
    assert w.hit("k", 2) == pytest.approx(60)
    assert w.hit("other", 2) is None
    t[0] = 30
    assert w.hit("k", 2) == pytest.approx(30)  # refused hits do not count
    t[0] = 60.5
    assert w.hit("k", 2) is None


def test_sliding_window_sweeps_rarely(monkeypatch: pytest.MonkeyPatch) -> None:
    """Idle keys are dropped when the table has doubled since the last sweep, not on every hit
    (a sweep on every hit past the threshold made each request O(clients))."""
    monkeypatch.setattr(SlidingWindow, "SWEEP_FROM", 4)
    t = [0.0]
    w = SlidingWindow(60, clock=lambda: t[0])
    for i in range(4):
        assert w.hit(f"old{i}", 5) is None
    t[0] = 100  # the four are idle now
    assert w.hit("a", 5) is None  # five keys: past 4, swept: only "a" is left
    assert len(w._hits) == 1 and w._sweep_at == 4
    for i in range(8):  # active keys: one sweep at the fifth, then not until twice as many
        assert w.hit(f"k{i}", 5) is None
    assert len(w._hits) == 9 and w._sweep_at == 10
    assert w.hit("a", 1) is not None  # windows survive the sweeps


def test_repeat_memory_off_and_swept(monkeypatch: pytest.MonkeyPatch) -> None:
    off = DefaultScreening(Policy(duplicate_window_minutes=0))
    for _ in range(3):
        assert off(_sub("同一段话")).verdict is Verdict.accept
    assert off._seen == {}  # the rule is off: nothing remembered
    monkeypatch.setattr(DefaultScreening, "SWEEP_FROM", 2)
    t = [0.0]
    on = DefaultScreening(Policy(duplicate_window_minutes=1), clock=lambda: t[0])
    for i in range(3):
        on(_sub(f"第{i}件"))
    t[0] = 120  # all expired: the next one sweeps them
    on(_sub("新的"))
    assert len(on._seen) == 1


def test_element_cache_and_json_array() -> None:
    items = [{"a": "甲", "n": 1}, {"b": None, "l": [1, 2]}, {}]
    assert json_array(to_json(i) for i in items) == to_json(items)
    assert json_array([]) == to_json([])
    cache = ElementCache(limit=10)
    cache.put((k, str(k).encode()) for k in range(12))  # past the limit: oldest dropped
    assert len(cache) <= 10 and cache.get(0) is None and cache.get(11) == b"11"
    cache.put([(11, b"x")])
    assert cache.get(11) == b"x"


def _sub(text: str, device: str = "d1", code: str = "06010") -> Submission:
    return Submission(service_code=code, description=text, device_id=device, ip="10.0.0.1")


def test_default_screening() -> None:
    t = [0.0]
    screen = DefaultScreening(Policy(blocked_words=("发票",)), clock=lambda: t[0])
    assert screen(_sub("路灯不亮")).verdict is Verdict.accept
    assert screen(_sub("路灯  不亮 ")).verdict is Verdict.reject  # same text, same device
    assert screen(_sub("路灯不亮", device="d2")).verdict is Verdict.accept
    assert screen(_sub("路灯不亮", code="01037")).verdict is Verdict.accept  # another service
    t[0] = 3601
    assert screen(_sub("路灯不亮")).verdict is Verdict.accept  # the window has passed
    assert screen(_sub("http://a http://b www.c")).verdict is Verdict.reject
    assert screen(_sub("见 http://a.example 和 http://b.example")).verdict is Verdict.accept
    assert screen(_sub("代开发票")).verdict is Verdict.hold
    assert DefaultScreening(Policy(hold_all=True))(_sub("x")).verdict is Verdict.hold


def test_scrub() -> None:
    text = (
        "请联系张三 13812345678 或 0371-23456789，zhang.san@example.com；案件 410204-20261124-0001"
    )
    out = scrub(text, "张三")
    assert "13812345678" not in out and "138****5678" in out
    assert "23456789" not in out and "zhang.san@example.com" not in out and "张三" not in out
    assert "410204-20261124-0001" in out  # case numbers are not phone numbers


def test_submission_form_checks() -> None:
    sub = parse_submission(
        {
            "service_code": ["06001"],
            "lat": ["34.79"],
            "long": ["114.34"],
            "attribute[condition]": ["1"],
            "attribute[tags][]": ["a", "b"],
            "first_name": ["三"],
            "last_name": ["张"],
            "description": ["bad\x00char\x07s\nkept"],
        }
    )
    assert sub.attributes == {"condition": ("1",), "tags": ("a", "b")}
    assert sub.reporter_name == "张三" and sub.description == "badchars\nkept"
    assert Submission(service_code="1", first_name="John", last_name="Smith").reporter_name == (
        "John Smith"
    )
    with pytest.raises(Open311Error) as err:
        parse_submission({"lat": ["1"], "email": ["x"], "description": ["x" * 4001]})
    problems = err.value.messages("en")
    assert any("service_code" in p for p in problems)
    assert any("lat and long" in p for p in problems)
    assert any("email" in p for p in problems) and any("4000" in p for p in problems)


def test_policy_file_checks() -> None:
    assert Policy.from_dict({"hold_all": True, "blocked_words": ["x"]}).blocked_words == ("x",)
    for bad in ({"nope": 1}, {"hold_all": "yes"}, {"ip_rate_per_minute": -1}, {"max_media": True}):
        with pytest.raises(ValidationFailed):
            Policy.from_dict(bad)
    with pytest.raises(ValidationFailed):
        Policy.from_dict({"default_page_size": 501})


def test_xml_writer() -> None:
    body = to_xml(
        "service_requests",
        [{"service_request_id": "1", "description": "a < b & \x01c 汉字", "lat": 34.5, "x": None}],
    )
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<service_requests>')
    root = ET.fromstring(body)
    req = root.find("request")
    assert req is not None and req.findtext("description") == "a < b & c 汉字"
    assert req.findtext("lat") == "34.5" and req.find("x") is not None and req.findtext("x") == ""


def test_policy_file_changes_are_seen_at_once(tmp_path: Path) -> None:
    """The policy file is looked at (stat) on every call and read again when it changed; a file
    younger than the file system's clock can tell apart is compared by content, so two writes
    of the same size within one tick are both seen."""
    path = tmp_path / "open311.toml"
    assert runtime_for(tmp_path).policy.default_page_size == 500  # no file: the defaults
    path.write_text("default_page_size = 2\n", "utf-8")
    assert runtime_for(tmp_path).policy.default_page_size == 2
    path.write_text("default_page_size = 3\n", "utf-8")  # same size, same tick maybe
    assert runtime_for(tmp_path).policy.default_page_size == 3
    old = time.time() - 60
    os.utime(path, (old, old))  # an old file: its stat is trusted from now on
    same = runtime_for(tmp_path)
    assert runtime_for(tmp_path) is same and same.policy.default_page_size == 3
    path.write_text("default_page_size = 4\n", "utf-8")  # a new modification time
    assert runtime_for(tmp_path).policy.default_page_size == 4
    path.unlink()
    assert runtime_for(tmp_path).policy.default_page_size == 500


def test_cors_origins_in_the_policy() -> None:
    p = Policy.from_dict({"cors_post_origins": ["https://App.Example.cn/", "http://[::1]:8080"]})
    assert p.cors_origins == ("*",)
    assert p.cors_post_origins == ("https://app.example.cn", "http://[::1]:8080")
    for bad in (["app.example.cn"], ["https://app.example.cn/report"], ["*.example.cn"]):
        with pytest.raises(ValidationFailed):
            Policy.from_dict({"cors_origins": bad})


def test_local_times_by_the_hour() -> None:
    """SQLite's UTC text shown in the city's zone with the offset of its hour: the same text as
    a conversion through the zone, also across daylight-saving transitions (whole and half
    hours)."""
    from cityops.services.open311 import _local

    for zone in ("Asia/Shanghai", "Europe/Berlin", "Australia/Lord_Howe", "America/St_Johns"):
        tz = ZoneInfo(zone)
        for start in (datetime(2026, 3, 28), datetime(2026, 10, 3), datetime(2026, 10, 24)):
            at = start
            while at < start + timedelta(days=9):
                text = at.isoformat(sep=" ")
                exact = at.replace(tzinfo=UTC).astimezone(tz).isoformat(timespec="seconds")
                assert _local(text, tz) == exact, (zone, text)
                at += timedelta(minutes=7, seconds=13, microseconds=250_000)
    assert _local("2026-11-25 10:28:25", TZ) == "2026-11-25T18:28:25+08:00"
    assert _local(None, TZ) is None
