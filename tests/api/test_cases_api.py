"""The case API through real HTTP on both databases: a full loop per source, idempotent intake,
the actions a user may take, optimistic concurrency, refusals in both languages, privacy."""

from __future__ import annotations

import io
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy.orm import Session, sessionmaker

from cityops.services import rules
from cityops.services.catalog import ensure_standard_catalog
from cityops.services.geography import GridSettings, init_city
from cityops.services.orgs import add_org
from cityops.services.users import add_user

PW = "Grid-Work-2026"
STAFF = {
    "jiandu": ("supervisor", None),
    "shouli": ("acceptor", None),
    "paiqian": ("dispatcher", None),
    "shizheng": ("department", "KF-SZ"),
    "chuzhi": ("handler", "KF-SZ"),
    "lingdao": ("leader", None),
}
KAIFENG_FU = {"lon": 114.3490, "lat": 34.7930, "crs": "gcj02"}


@pytest.fixture
def staff(
    sessions: sessionmaker[Session], http: httpx.Client
) -> Iterator[dict[str, dict[str, str]]]:
    data = files("cityops.data")
    with sessions.begin() as s:
        ensure_standard_catalog(s)
        init_city(s, "410200", districts=["410204"], settings=GridSettings(grid_size_m=250))
        add_org(s, "KF-CENTRE", "指挥中心", "centre")
        for code in ("KF-SZ", "KF-HW", "KF-ZF", "KF-GL", "KF-YL", "KF-LD"):
            add_org(s, code, code, "department", parent_code="KF-CENTRE")
        for name, (role, dept) in STAFF.items():
            add_user(s, name, PW, [role], org_code=dept or "KF-CENTRE", scope_department=dept)
        rules.import_standards(s, Path(str(data / "standards" / "default_standards.csv")))
        rules.import_rules(s, Path(str(data / "demo" / "kaifeng_rules.csv")))
    out = {}
    for name in STAFF:
        r = http.post("/api/v1/auth/token", data={"username": name, "password": PW})
        assert r.status_code == 200, r.text
        out[name] = {"Authorization": f"Bearer {r.json()['access_token']}"}
    yield out


def _ok(r: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    return body


def _error(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    err: dict[str, Any] = r.json()["error"]
    assert err["code"] == code, err
    return err


REPORTERS = {
    "patrol": "jiandu",
    "hotline": "shouli",
    "leader": "lingdao",
    "sensor": "shouli",
    "inspection": "shouli",
}


@pytest.mark.parametrize("source", sorted(REPORTERS))
def test_full_loop_per_source(
    source: str, http: httpx.Client, staff: dict[str, dict[str, str]]
) -> None:
    reporter = staff[REPORTERS[source]]
    body = {"source": source, "type_code": "06036", "description": "人行道乱堆杂物", **KAIFENG_FU}
    key = {"Idempotency-Key": f"{source}-0001"}
    first = _ok(http.post("/api/v1/cases", json=body, headers={**reporter, **key}), 201)
    case = first["case"]
    assert first["created"] and case["state"] == "reported" and case["public_stage"] == "report"
    assert case["district_code"] == "410204" and case["current"]["stage"] == "register"
    again = _ok(http.post("/api/v1/cases", json=body, headers={**reporter, **key}), 200)
    assert again["case"]["id"] == case["id"] and not again["created"]
    ref = case["number"]

    def act(user: str, action: str, **payload: Any) -> dict[str, Any]:
        allowed = _ok(http.get(f"/api/v1/cases/{ref}/actions", headers=staff[user]))
        assert action in allowed["actions"], (user, action, allowed)
        payload["version"] = allowed["version"]
        return _ok(
            http.post(f"/api/v1/cases/{ref}/actions/{action}", json=payload, headers=staff[user])
        )

    act("shouli", "register", condition="公共区域乱堆乱放杂物")
    suggestion = _ok(http.get(f"/api/v1/cases/{ref}/actions", headers=staff["paiqian"]))
    assert suggestion["suggestion"]["department"] == "KF-ZF"
    act("paiqian", "dispatch", department="KF-SZ")
    act("shizheng", "accept")
    act("shizheng", "assign", handler="chuzhi")
    done = act("chuzhi", "report_done", note="已清理")
    assert done["state"] == "handled"
    act("shouli", "request_verify", supervisor="jiandu")
    tasks = _ok(http.get("/api/v1/tasks", headers=staff["jiandu"]))
    mine = [t for t in tasks if t["case_number"] == ref]
    assert len(mine) == 1 and mine[0]["kind"] == "verify"
    _ok(
        http.post(
            f"/api/v1/tasks/{mine[0]['id']}/complete",
            json={"result": True, "note": "现场已清理"},
            headers=staff["jiandu"],
        )
    )
    closed = act("shouli", "close")
    assert closed["state"] == "closed" and closed["public_stage"] == "close"
    log = _ok(http.get(f"/api/v1/cases/{ref}/log", headers=staff["shouli"]))
    assert [e["action"] for e in log] == [
        "report", "register", "dispatch", "accept", "assign", "report_done",
        "request_verify", "complete_verify", "close",
    ]  # fmt: skip
    assert all(len(e["hash"]) == 64 for e in log)


def test_queues_search_and_scope(http: httpx.Client, staff: dict[str, dict[str, str]]) -> None:
    created = [
        _ok(
            http.post(
                "/api/v1/cases",
                json={"source": "patrol", "type_code": t, "description": d, **KAIFENG_FU},
                headers=staff["jiandu"],
            ),
            201,
        )["case"]
        for t, d in (("06036", "乱堆杂物 东门"), ("06025", "水面漂浮物"), ("09006", "占道经营"))
    ]
    queue = _ok(http.get("/api/v1/cases", params={"mine": "true"}, headers=staff["shouli"]))
    assert queue["total"] == 3 and {c["id"] for c in queue["items"]} == {c["id"] for c in created}
    found = _ok(http.get("/api/v1/cases", params={"text": "东门"}, headers=staff["shouli"]))
    assert [c["id"] for c in found["items"]] == [created[0]["id"]]
    by_number = _ok(
        http.get("/api/v1/cases", params={"text": created[1]["number"]}, headers=staff["shouli"])
    )
    assert by_number["total"] == 1
    # A department sees none of them before dispatch, and cannot open one.
    assert _ok(http.get("/api/v1/cases", headers=staff["shizheng"]))["total"] == 0
    _error(
        http.get(f"/api/v1/cases/{created[0]['id']}", headers=staff["shizheng"]),
        403,
        "outside_scope",
    )
    _error(
        http.get("/api/v1/cases", params={"state": "flying"}, headers=staff["shouli"]),
        422,
        "invalid_request",
    )


def test_refusals_concurrency_and_languages(
    http: httpx.Client, staff: dict[str, dict[str, str]]
) -> None:
    case = _ok(
        http.post(
            "/api/v1/cases",
            json={"source": "patrol", "type_code": "06036", "description": "x", **KAIFENG_FU},
            headers=staff["jiandu"],
        ),
        201,
    )["case"]
    url = f"/api/v1/cases/{case['id']}/actions"
    err = _error(
        http.post(f"{url}/register", json={"condition": "1"}, headers=staff["paiqian"]),
        403,
        "wrong_role",
    )
    assert "受理员" in err["message"]
    err = _error(
        http.post(f"{url}/register?lang=en", json={"condition": "1"}, headers=staff["paiqian"]),
        403,
        "wrong_role",
    )
    assert err["message"].startswith("only ")
    _error(http.post(f"{url}/void", json={}, headers=staff["shouli"]), 422, "missing_input")
    _error(
        http.post(f"{url}/dispatch", json={"department": "KF-SZ"}, headers=staff["paiqian"]),
        409,
        "wrong_state",
    )
    _error(http.post(f"{url}/teleport", json={}, headers=staff["shouli"]), 404, "unknown_action")
    v = case["version"]
    _ok(
        http.post(f"{url}/register", json={"condition": "1", "version": v}, headers=staff["shouli"])
    )
    err = _error(
        http.post(f"{url}/void", json={"reason": "重复", "version": v}, headers=staff["shouli"]),
        409,
        "stale_version",
    )
    assert err["details"]["state"] == "pending_dispatch" and err["details"]["version"] == v + 1
    outside = {
        "source": "patrol",
        "type_code": "06036",
        "description": "x",
        "lon": 116.397,
        "lat": 39.909,
    }
    _error(http.post("/api/v1/cases", json=outside, headers=staff["jiandu"]), 422, "outside_city")
    _error(
        http.post("/api/v1/cases", json={**outside, "lon": 200}, headers=staff["jiandu"]),
        422,
        "invalid_request",
    )


def test_reporter_contact_is_masked_for_all_but_the_centre_desk(
    http: httpx.Client, staff: dict[str, dict[str, str]]
) -> None:
    body = {
        "source": "hotline", "type_code": "06036", "description": "来电反映",
        "reporter_name": "王小明", "reporter_phone": "13812341234", **KAIFENG_FU,
    }  # fmt: skip
    case = _ok(http.post("/api/v1/cases", json=body, headers=staff["shouli"]), 201)["case"]
    assert case["reporter_phone"] == "13812341234" and case["reporter_name"] == "王小明"
    for_leader = _ok(http.get(f"/api/v1/cases/{case['id']}", headers=staff["lingdao"]))
    assert for_leader["reporter_phone"] == "138****1234" and for_leader["reporter_name"] == "王**"


def _jpeg_with_exif() -> bytes:
    img = Image.new("RGB", (64, 48), (200, 120, 40))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0110] = "Model X"  # Model
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (34.0, 47.0, 35.0)
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif)
    return buf.getvalue()


def test_photos_are_checked_by_content_and_attached(
    http: httpx.Client, staff: dict[str, dict[str, str]]
) -> None:
    jpeg = _jpeg_with_exif()
    up = _ok(
        http.post(
            "/api/v1/attachments",
            files={"file": ("before.jpg", jpeg, "image/jpeg")},
            headers=staff["jiandu"],
        ),
        201,
    )
    assert up["content_type"] == "image/jpeg" and (up["width"], up["height"]) == (64, 48)
    same = _ok(
        http.post(
            "/api/v1/attachments",
            files={"file": ("again.jpg", jpeg, "image/jpeg")},
            headers=staff["jiandu"],
        ),
        201,
    )
    assert same["id"] == up["id"]  # a retried upload is the same attachment
    _error(
        http.post(
            "/api/v1/attachments",
            files={"file": ("evil.jpg", b"MZ\x90\x00 not an image", "image/jpeg")},
            headers=staff["jiandu"],
        ),
        422,
        "not_an_image",
    )
    original = http.get(f"/api/v1/attachments/{up['id']}", headers=staff["shouli"])
    assert original.status_code == 200 and original.content == jpeg
    case = _ok(
        http.post(
            "/api/v1/cases",
            json={
                "source": "patrol",
                "type_code": "06036",
                "description": "附照片",
                "photos": [up["id"]],
                **KAIFENG_FU,
            },
            headers=staff["jiandu"],
        ),
        201,
    )["case"]
    log = _ok(http.get(f"/api/v1/cases/{case['id']}/log", headers=staff["shouli"]))
    assert log[0]["attachments"] == [up["id"]]
