"""What keeps Open311 fast at a million cases, and that it never changes an answer: totals that
are counted only when asked for, the catalog read once and kept (seen again at once after a
change in this process, within the TTL after one elsewhere), rendered request elements kept
by the exact state of their case, and one intake transaction at a time on SQLite.

Through real HTTP on both databases (docs/open311.md, "Paging and totals", "Speed")."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import nullcontext
from datetime import datetime

import pytest
from sqlalchemy import Engine, text
from tests.api.conftest import LiveServer
from tests.api.open311_support import GULOU, TZ, City, build_city, teardown_city

from cityops.core.catalog import Kind
from cityops.services import cases, catalog
from cityops.services import open311 as svc
from cityops.services.users import get_user
from cityops.store.db import make_engine, session_factory, transaction

LON, LAT = GULOU
pytestmark = pytest.mark.xdist_group("open311_scale")


@pytest.fixture(scope="module")
def city(engine: Engine, live_server: LiveServer) -> Iterator[City]:
    built, _ = build_city(engine, live_server)
    for i in range(4):  # six public requests in the default window (with handling and voided)
        r = built.post(service_code="06010", lat=LAT, long=LON, description=f"规模测试 {i}")
        assert r.status_code == 200, r.text
    yield built
    teardown_city(built, engine)


def _numbers(r: object) -> list[str]:
    return [x["service_request_id"] for x in r.json()]  # type: ignore[attr-defined]


def test_totals_only_when_counted(city: City) -> None:
    """A full page without paging arguments leaves X-Total-Count out (counting the window would
    read every case in it) but links the next page; paging arguments or a last page give it."""
    everything = city.http.get(f"{city.base}/requests.json", params={"page_size": 500})
    total = int(everything.headers["X-Total-Count"])
    assert total == len(everything.json()) >= 6
    city.policy("default_page_size = 2")
    try:
        r = city.http.get(f"{city.base}/requests.json")
        assert len(r.json()) == 2 and "X-Total-Count" not in r.headers
        assert r.headers["X-Page"] == "1" and r.headers["X-Page-Size"] == "2"
        nxt = re.search(r"<([^>]+)>; rel=\"next\"", r.headers["Link"])
        assert nxt and "page=2" in nxt.group(1)
        r = city.http.get(nxt.group(1))  # the next page uses paging: counted
        assert r.headers["X-Total-Count"] == str(total)
        assert _numbers(r) == _numbers(everything)[2:4]
        for paged in ({"page": 1}, {"page_size": 2}):
            r = city.http.get(f"{city.base}/requests.json", params=paged)
            assert r.headers["X-Total-Count"] == str(total)
        last = city.http.get(f"{city.base}/requests.json", params={"page": (total + 1) // 2})
        assert last.headers["X-Total-Count"] == str(total) and "next" not in last.headers["Link"]
        # fits on the page: known without counting
        r = city.http.get(f"{city.base}/requests.json", params={"service_code": "06012"})
        assert r.headers["X-Total-Count"] == str(len(r.json())) == "1"
        x = city.http.get(f"{city.base}/requests.xml")
        assert "X-Total-Count" not in x.headers and 'rel="next"' in x.headers["Link"]
    finally:
        city.policy()


def test_catalog_changes_are_seen_at_once(city: City, engine: Engine) -> None:
    """The service list, definitions and request names come from the catalog read once; a change
    committed in this process is seen by the next request."""
    sessions = session_factory(engine)

    def names() -> dict[str, str]:
        body = city.http.get(f"{city.base}/services.json").json()
        return {s["service_code"]: s["service_name"] for s in body}

    before = names()
    assert "06001" in before
    try:
        with transaction(sessions) as s:
            catalog.update_type(s, "06001", kind=Kind.matter, public=False)
            catalog.update_type(s, "06010", kind=Kind.matter, display_name="垃圾（测试名）")
        after = names()
        assert "06001" not in after and after["06010"] == "垃圾（测试名）"
        assert city.http.get(f"{city.base}/services/06001.json").status_code == 404
        listed = city.http.get(f"{city.base}/requests.json").json()
        assert {x["service_name"] for x in listed if x["service_code"] == "06010"} == {
            "垃圾（测试名）"
        }
    finally:
        with transaction(sessions) as s:
            catalog.update_type(s, "06001", kind=Kind.matter, public=True)
            catalog.update_type(s, "06010", kind=Kind.matter, display_name=before["06010"])
    assert names() == before


def test_catalog_changes_elsewhere_within_the_ttl(
    city: City, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A change the server's process does not see happen (another process: the CLI) shows once
    the directory is checked again, at most DIRECTORY_TTL seconds later."""
    monkeypatch.setattr(svc._directories, "ttl", 0.2)
    other = make_engine(engine.url.render_as_string(hide_password=False))
    name = city.http.get(f"{city.base}/services.json").json()[0]["service_name"]
    code = city.http.get(f"{city.base}/services.json").json()[0]["service_code"]
    try:
        with other.begin() as conn:  # no ORM events: like a write from another process
            conn.execute(
                text(
                    "UPDATE catalog_type SET display_name = '改名了', updated_at = :at "
                    "WHERE kind = 'matter' AND code = :code"
                ),
                {"at": datetime.now(TZ), "code": code},
            )
        time.sleep(0.3)
        assert city.http.get(f"{city.base}/services.json").json()[0]["service_name"] == "改名了"
    finally:
        with other.begin() as conn:
            conn.execute(
                text(
                    "UPDATE catalog_type SET display_name = :name, updated_at = :at "
                    "WHERE kind = 'matter' AND code = :code"
                ),
                {"name": name, "at": datetime.now(TZ), "code": code},
            )
        other.dispose()
        time.sleep(0.3)


def test_a_changed_case_is_rendered_again(city: City, engine: Engine) -> None:
    """Rendered elements are kept by (case, version, updated_at): a case that moves on shows its
    new state in the next list, in JSON (cached) exactly as in XML (never cached)."""
    r = city.post(service_code="06010", lat=LAT, long=LON, description="将被作废")
    number = r.json()[0]["service_request_id"]

    def listed() -> dict[str, object]:
        return next(
            x
            for x in city.http.get(f"{city.base}/requests.json").json()
            if x["service_request_id"] == number
        )

    assert listed()["status"] == "open" and listed()["status_notes"] == "待受理"  # twice: cached
    sessions = session_factory(engine)
    with transaction(sessions) as s:
        cases.act(s, number, "void", get_user(s, "shouli"), cases.ActionRequest(reason="测试作废"))
    now = listed()
    assert now["status"] == "closed" and now["status_notes"] == "已作废：测试作废"
    one = city.http.get(f"{city.base}/requests/{number}.json").json()[0]
    assert one == now
    x = city.http.get(f"{city.base}/requests.xml").text
    assert "已作废：测试作废" in x


def test_one_request_follows_its_case_and_type(city: City, engine: Engine) -> None:
    """requests/{id} keeps nothing of a case: its state and whether its type is public are read
    with it every time (exact, whoever changed them); only the names come from the directory
    (a change in this process at once, one elsewhere within DIRECTORY_TTL)."""
    r = city.post(service_code="06010", lat=LAT, long=LON, description="单条读取")
    number = r.json()[0]["service_request_id"]
    url = f"{city.base}/requests/{number}.json"
    for _ in range(2):  # read twice: the second read has the directory and clock at hand
        assert city.http.get(url).json()[0]["status_notes"] == "待受理"
    with transaction(session_factory(engine)) as s:
        cases.act(s, number, "void", get_user(s, "shouli"), cases.ActionRequest(reason="单条"))
    assert city.http.get(url).json()[0]["status_notes"] == "已作废：单条"
    other = make_engine(engine.url.render_as_string(hide_password=False))
    hide = "UPDATE catalog_type SET public = :public WHERE kind = 'matter' AND code = '06010'"
    try:
        with other.begin() as conn:  # no ORM events: like the CLI in another process
            conn.execute(text(hide), {"public": False})
        assert city.http.get(url).status_code == 404  # at once, though the directory is fresh
        assert number not in _numbers(city.http.get(f"{city.base}/requests.json"))
    finally:
        with other.begin() as conn:
            conn.execute(text(hide), {"public": True})
        other.dispose()
    assert city.http.get(url).status_code == 200
    name = city.http.get(url).json()[0]["service_name"]
    sessions = session_factory(engine)
    with transaction(sessions) as s:
        catalog.update_type(s, "06010", kind=Kind.matter, display_name="单条改名")
    try:
        assert city.http.get(url).json()[0]["service_name"] == "单条改名"
    finally:
        with transaction(sessions) as s:
            catalog.update_type(s, "06010", kind=Kind.matter, display_name=name)


def test_single_reads_on_the_driver_are_sqlalchemys_rows(city: City, engine: Engine) -> None:
    """requests/{id} runs its statement on SQLite's cursor (services/open311.py:_on_driver):
    the same values under the same names as SQLAlchemy's execution of it."""
    numbers = [*city.numbers.values(), *_numbers(city.http.get(f"{city.base}/requests.json"))]
    with engine.connect() as conn:
        for number in numbers:
            try:
                fast = svc.get_request(conn, number)
            except svc.Open311Error:
                assert number == city.numbers["hidden"]  # a type the city does not show
                continue
            slow = conn.execute(svc._statements[("one",)], {"number": number}).one()
            assert tuple(fast) == tuple(slow) and fast._fields == tuple(slow._fields)


def test_one_writer_on_sqlite_only(engine: Engine) -> None:
    lock = svc.one_writer(engine)
    if engine.dialect.name == "sqlite":
        assert isinstance(lock, type(threading.Lock()))
        same = make_engine(engine.url.render_as_string(hide_password=False))
        assert svc.one_writer(same) is lock  # one lock per database, whichever engine
        same.dispose()
    else:
        assert isinstance(lock, nullcontext)


def test_concurrent_reports_all_land(city: City) -> None:
    """Sixteen clients posting at once on the intake lock: every report becomes a case."""
    results: list[int] = []

    def post(i: int) -> None:
        r = city.post(service_code="06036", lat=LAT, long=LON, description=f"并发 {i}")
        results.append(r.status_code)

    threads = [threading.Thread(target=post, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * 16
