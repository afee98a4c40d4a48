"""Evaluations through real HTTP on both databases: the JSON endpoint, drill-down with its access
rules, publishing (evaluators only, explicit recomputation), snapshots and the report downloads.

The city is the hand-computed fixture of tests/integration/test_evaluation_store.py. The server
evaluates with the real clock, so the tests use October 2026 (over): KF-SZ received C11 on
10-28 and still had it overdue at the end of the month; October's evaluation is exact whatever
the date (everything after 2026-11-01 00:00 is outside it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from io import BytesIO
from pathlib import Path

import httpx
import pytest
from openpyxl import load_workbook
from tests.api.conftest import LiveServer
from tests.evaluation_fixture import PW, World, forget_snapshots, shared_world

pytestmark = pytest.mark.xdist_group("evaluation")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(
    request: pytest.FixtureRequest,
    fresh_db_url: Callable[[str], str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[World, str]]:
    world, engine = shared_world(request.param, fresh_db_url, tmp_path_factory)
    with LiveServer(engine, tmp_path_factory.mktemp("var")) as server:
        yield world, server.url
    forget_snapshots(world)


@pytest.fixture
def world(served: tuple[World, str]) -> World:
    return served[0]


@pytest.fixture
def http(served: tuple[World, str]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served[1], timeout=30) as client:
        yield client


def auth(http: httpx.Client, username: str) -> dict[str, str]:
    r = http.post("/api/v1/auth/token", data={"username": username, "password": PW})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def error(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code


def test_evaluation_json_and_drill_down(http: httpx.Client, world: World) -> None:
    h = auth(http, "pingjia")
    error(http.get("/api/v1/evaluations", params={"period": "2026-10"}), 401, "not_authenticated")
    r = http.get(
        "/api/v1/evaluations", params={"period": "2026-10", "subject": "department"}, headers=h
    )
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["period"] == "2026-10" and doc["complete"] is True
    assert doc["as_of"] == "2026-11-01T00:00:00+08:00" and doc["scheme"]["name"] == "default"
    [section] = doc["sections"]
    assert section["subject"] == "department" and section["source"] == "live"
    rows = {row["id"]: row for row in section["rows"]}
    sz = rows["KF-SZ"]
    assert sz["figures"]["received"] == 1 and sz["figures"]["overdue_open"] == 1
    assert sz["figures"]["handling_rate"] == {"value": 0.0, "num": 0, "den": 1}
    assert (sz["score"], sz["grade"], sz["rank"]) == (0.0, "E", 1)
    assert rows["KF-HW"]["score"] is None  # nothing to evaluate in October
    url = section["cases_url"].format(id="KF-SZ", figure="overdue_open")
    drill = http.get(url, headers=h).json()
    assert [c["number"] for c in drill["cases"]] == [world.numbers["C11"]]
    assert drill["count"] == 1 and drill["cases"][0]["at"] == "2026-10-29T09:10:00+08:00"
    rate = http.get(
        "/api/v1/evaluations/cases",
        params={
            "period": "2026-10",
            "subject": "department",
            "id": "KF-SZ",
            "figure": "handling_rate",
        },
        headers=h,
    ).json()
    assert rate["numerator"] == [] and [c["number"] for c in rate["denominator"]] == [
        world.numbers["C11"]
    ]
    streets = http.get(
        "/api/v1/evaluations", params={"period": "2026-10", "subject": "street"}, headers=h
    ).json()
    [s2] = streets["sections"][0]["rows"]
    assert s2["id"] == world.s2 and s2["figures"]["reported"] == 2 and s2["score"] == 20.0


def test_bad_requests_and_access(http: httpx.Client, world: World) -> None:
    h = auth(http, "pingjia")

    def get(path: str, **params: str) -> httpx.Response:
        return http.get(f"/api/v1/evaluations{path}", params=params, headers=h)

    error(get("", period="2026-13"), 422, "bad_period")
    error(get("", period="2026-10", subject="mayor"), 422, "bad_subject")
    error(get("", period="2026-10", scheme="../../etc/passwd"), 422, "unknown_scheme")
    error(get("", period="2099-01"), 422, "period_not_begun")
    q = {"period": "2026-10", "subject": "department", "id": "KF-SZ"}
    error(get("/cases", **q, figure="nope"), 422, "unknown_indicator")
    error(get("/cases", **{**q, "subject": "region"}, figure="handled"), 422, "bad_subject")
    # A department sees its own lists, not another department's; a supervisor only their own.
    dept = auth(http, "shizheng")
    ok = http.get("/api/v1/evaluations/cases", params={**q, "figure": "received"}, headers=dept)
    assert ok.status_code == 200 and ok.json()["count"] == 1
    other = {**q, "id": "KF-HW", "figure": "received"}
    error(http.get("/api/v1/evaluations/cases", params=other, headers=dept), 403, "outside_scope")
    sup = auth(http, "zhang")
    mine = {"period": "2026-10", "subject": "supervisor", "id": str(world.users["zhang"])}
    r = http.get("/api/v1/evaluations/cases", params={**mine, "figure": "reports"}, headers=sup)
    assert r.status_code == 200
    theirs = {**mine, "id": str(world.users["lisi"]), "figure": "reports"}
    error(http.get("/api/v1/evaluations/cases", params=theirs, headers=sup), 403, "outside_scope")
    schemes = http.get("/api/v1/evaluations/schemes", headers=h).json()
    assert [x["name"] for x in schemes] == ["default", "kaifeng"]


def test_publish_freeze_and_reports(http: httpx.Client, world: World, tmp_path: Path) -> None:
    h = auth(http, "pingjia")
    body = {"period": "2026-10", "subject": "department"}
    error(
        http.post("/api/v1/evaluations/publish", json=body, headers=auth(http, "shizheng")),
        403,
        "wrong_role",
    )
    r = http.post("/api/v1/evaluations/publish", json=body, headers=h)
    assert r.status_code == 201, r.text
    [snap] = r.json()
    assert snap["period"] == "2026-10" and snap["subject"] == "department"
    got = http.get("/api/v1/evaluations", params=body, headers=h).json()["sections"][0]
    assert got["source"] == "snapshot" and got["snapshot_id"] == snap["id"]
    frozen = http.get(
        "/api/v1/evaluations/cases",
        params={**body, "id": "KF-SZ", "figure": "overdue_open"},
        headers=h,
    ).json()
    assert frozen["source"] == "snapshot" and frozen["count"] == 1
    error(http.post("/api/v1/evaluations/publish", json=body, headers=h), 409, "already_published")
    again = http.post("/api/v1/evaluations/publish", json={**body, "replace": True}, headers=h)
    assert again.status_code == 201
    listed = http.get(
        "/api/v1/evaluations/snapshots", params={"period": "2026-10"}, headers=h
    ).json()
    assert [x["id"] for x in listed] == [again.json()[0]["id"]]
    one = http.get(f"/api/v1/evaluations/snapshots/{snap['id']}", headers=h).json()
    assert one["superseded_by"] == again.json()[0]["id"] and "[department]" in one["scheme_text"]
    # Reports: the workbook and the page.
    x = http.get(
        "/api/v1/evaluations/report", params={**body, "format": "xlsx"}, headers=h, timeout=60
    )
    assert x.status_code == 200 and "spreadsheetml" in x.headers["content-type"]
    wb = load_workbook(BytesIO(x.content))
    assert wb.sheetnames == ["专业部门", "指标说明"]
    page = http.get(
        "/api/v1/evaluations/report", params={**body, "trend": "2"}, headers=h, timeout=60
    )
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "综合评价报告" in page.text and "2026年10月" in page.text
    assert (
        "/api/v1/evaluations/cases?period=2026-10&amp;subject=department&amp;id=KF-SZ" in page.text
    )
