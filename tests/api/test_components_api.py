"""The component inventory through real HTTP on both databases: the map layer (bbox, filters,
coordinate systems, errors), one component with its history, and status changes by role/scope."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import shapely
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cityops.geo.crs import transform
from cityops.services import catalog, components, orgs, users
from cityops.services.geography import GridSettings, init_city
from cityops.store.schema import Grid

PW = "Field-Work-2026"
D = "410204"
WATER = f"{D}01001000001"  # 供水井盖, maintained by 市政工程管理处
POWER = f"{D}01005000001"  # 电力井盖, maintained by someone else


@pytest.fixture
def points(sessions: sessionmaker[Session], tmp_path: Path) -> list[tuple[float, float]]:
    with sessions.begin() as s:
        catalog.ensure_standard_catalog(s)
        init_city(s, "410200", districts=[D], settings=GridSettings(grid_size_m=250))
        orgs.add_org(s, "KF-SZ", "市政工程管理处", "department")
        users.add_user(s, "root", PW, ["admin"])
        users.add_user(s, "clerk", PW, ["acceptor"])
        users.add_user(s, "walker", PW, ["supervisor"], scope_region=D)
        users.add_user(s, "city.walker", PW, ["supervisor"], scope_region="410200")
        users.add_user(s, "pipes", PW, ["department"], scope_department="KF-SZ")
        grids = s.scalars(select(Grid).order_by(Grid.code).limit(200)).all()
        pts = []
        for g in (grids[0], grids[150]):
            p = shapely.from_wkb(g.geometry).representative_point()
            pts.append((p.x, p.y))
        csv = tmp_path / "c.csv"
        csv.write_text(
            "type_code,lon,lat,maintenance_unit,status\n"
            f"01001,{pts[0][0]},{pts[0][1]},KF-SZ,完好\n"
            f"01005,{pts[1][0]},{pts[1][1]},供电公司,破损\n",
            "utf-8",
        )
        components.import_components(s, csv)
    return pts


def _auth(http: httpx.Client, username: str) -> dict[str, str]:
    r = http.post("/api/v1/auth/token", data={"username": username, "password": PW})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _error(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code
    assert set(r.json()["error"]) == {"code", "message", "details"}


def _bbox(x: float, y: float, d: float = 1e-4) -> str:
    return f"{x - d},{y - d},{x + d},{y + d}"


def test_map_layer(http: httpx.Client, points: list[tuple[float, float]]) -> None:
    h = _auth(http, "clerk")
    _error(http.get("/api/v1/components"), 401, "not_authenticated")
    r = http.get("/api/v1/components", headers=h)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
    doc = r.json()
    assert doc["type"] == "FeatureCollection" and doc["truncated"] is False
    assert [f["id"] for f in doc["features"]] == [WATER, POWER]

    (x, y), (x2, y2) = points
    [f] = http.get("/api/v1/components", params={"bbox": _bbox(x, y)}, headers=h).json()["features"]
    assert f["id"] == WATER and f["geometry"]["coordinates"] == pytest.approx([x, y], abs=1e-7)
    assert f["properties"]["type_name"] == "供水井盖"
    assert f["properties"]["maintenance_unit"] == "市政工程管理处"
    assert f["properties"]["status"] == "intact" and f["properties"]["status_label"] == "完好"
    box = f"{min(x, x2) - 1e-3},{min(y, y2) - 1e-3},{max(x, x2) + 1e-3},{max(y, y2) + 1e-3}"
    both = http.get("/api/v1/components", params={"bbox": box}, headers=h).json()
    assert len(both["features"]) == 2
    far = http.get("/api/v1/components", params={"bbox": "100,20,100.1,20.1"}, headers=h)
    assert far.json()["features"] == []

    def ids(**params: object) -> list[str]:
        r = http.get("/api/v1/components", params=params, headers=h)  # type: ignore[arg-type]
        assert r.status_code == 200, r.text
        return [f["id"] for f in r.json()["features"]]

    assert ids(type="01005") == [POWER]
    assert ids(status="破损") == [POWER] and ids(status="intact") == [WATER]
    assert ids(limit=1) == [WATER]
    assert http.get("/api/v1/components", params={"limit": 1}, headers=h).json()["truncated"]

    # a GCJ-02 map sends its view in GCJ-02 and gets GCJ-02 back
    gx, gy = transform(x, y, "wgs84", "gcj02")
    g = http.get(
        "/api/v1/components", params={"bbox": _bbox(gx, gy), "crs": "gcj02"}, headers=h
    ).json()
    assert [f["id"] for f in g["features"]] == [WATER]
    assert g["features"][0]["geometry"]["coordinates"] == pytest.approx([gx, gy], abs=1e-6)


@pytest.mark.usefixtures("points")
def test_map_layer_rejects_bad_parameters(http: httpx.Client) -> None:
    h = _auth(http, "clerk")
    url = "/api/v1/components"
    for bad in ("1,2,3", "a,b,c,d", "114.4,34.8,114.3,34.9", "114,34,114.1,95", "nan,1,2,3"):
        _error(http.get(url, params={"bbox": bad}, headers=h), 422, "bad_bbox")
    _error(http.get(url, params={"limit": 5001}, headers=h), 422, "invalid_request")
    _error(http.get(url, params={"type": "1001"}, headers=h), 422, "invalid_request")
    _error(http.get(url, params={"status": "broken"}, headers=h), 422, "bad_status")
    _error(http.get(url, params={"crs": "mars"}, headers=h), 422, "unknown_crs")
    r = http.get(url, params={"bbox": "1,2,3", "lang": "en"}, headers=h)
    assert "bbox" in r.json()["error"]["message"]


@pytest.mark.usefixtures("points")
def test_detail_and_status_changes(http: httpx.Client) -> None:
    clerk, root = _auth(http, "clerk"), _auth(http, "root")
    detail = http.get(f"/api/v1/components/{WATER}", headers=clerk).json()
    assert detail["type_code"] == "01001" and detail["grid_code"].startswith(D)
    assert [(h["from_status"], h["to_status"]) for h in detail["history"]] == [(None, "intact")]
    _error(http.get(f"/api/v1/components/{D}01001000099", headers=clerk), 404, "unknown_component")
    _error(http.get("/api/v1/components/abc", headers=clerk), 404, "unknown_component")

    url = f"/api/v1/components/{WATER}/status"
    body = {"status": "破损", "reason": "井盖破裂"}
    _error(http.post(url, json=body), 401, "not_authenticated")
    _error(http.post(url, json=body, headers=clerk), 403, "wrong_role")
    _error(
        http.post(url, json={"status": "broken", "reason": "x"}, headers=root), 422, "bad_status"
    )
    _error(http.post(url, json={"status": "破损"}, headers=root), 422, "invalid_request")

    # the department may change what it maintains, not other components
    r = http.post(url, json=body, headers=_auth(http, "pipes"))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "damaged" and r.json()["status_label"] == "破损"
    last = r.json()["history"][-1]
    assert (last["from_status"], last["to_status"], last["reason"], last["source"]) == (
        "intact",
        "damaged",
        "井盖破裂",
        "api",
    )
    assert last["user_id"] is not None
    power = f"/api/v1/components/{POWER}/status"
    _error(http.post(power, json=body, headers=_auth(http, "pipes")), 403, "out_of_scope")

    # supervisors within their region (a city scope covers its districts)
    for who in ("walker", "city.walker"):
        r = http.post(power, json={"status": "lost", "reason": who}, headers=_auth(http, who))
        assert r.status_code == 200, r.text
    history = http.get(f"/api/v1/components/{POWER}", headers=clerk).json()["history"]
    assert [h["to_status"] for h in history] == ["damaged", "lost"]  # the second was no change
