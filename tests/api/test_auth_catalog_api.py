"""The API through real HTTP on both databases: sign-in, error bodies, catalog, users."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from cityops.services import catalog, orgs, users
from cityops.store.migrate import head_revision

ADMIN_PW = "Bureau-Key-2026"
CLERK_PW = "Desk-Shift-2026"


@pytest.fixture
def seeded(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        catalog.ensure_standard_catalog(s)
        orgs.add_org(s, "D-SZ", "市政工程管理处", "department")
        users.add_user(s, "root", ADMIN_PW, ["admin"])
        users.add_user(s, "clerk", CLERK_PW, ["acceptor"])


def _token(http: httpx.Client, username: str, password: str) -> str:
    r = http.post("/api/v1/auth/token", data={"username": username, "password": password})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "bearer" and body["expires_in"] > 0
    return str(body["access_token"])


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _error(r: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code
    assert set(err) == {"code", "message", "details"}
    return dict(err)


def test_health_and_docs(http: httpx.Client, engine: Engine) -> None:
    r = http.get("/healthz")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"
    assert r.json()["schema_revision"] == head_revision(engine)
    assert r.json()["database"] == engine.dialect.name
    docs = http.get("/docs")
    assert docs.status_code == 200
    # Offline: every asset of the page comes from this server, none from a CDN.
    assets = re.findall(r'(?:src|href)="([^"]+)"', docs.text)
    assert assets and all(a.startswith("/static/vendor/swagger-ui/") for a in assets)
    for asset in assets:
        assert http.get(asset).status_code == 200
    paths = http.get("/openapi.json").json()["paths"]
    assert "/api/v1/auth/token" in paths and "/api/v1/catalog" in paths


@pytest.mark.usefixtures("seeded")
def test_token_login_and_me(http: httpx.Client) -> None:
    token = _token(http, "clerk", CLERK_PW)
    me = http.get("/api/v1/auth/me", headers=_auth(token)).json()
    assert me["username"] == "clerk" and me["roles"] == ["acceptor"]


@pytest.mark.usefixtures("seeded")
def test_wrong_login_in_both_languages(http: httpx.Client) -> None:
    r = http.post("/api/v1/auth/token", data={"username": "clerk", "password": "nope-Nope-1"})
    assert _error(r, 401, "wrong_credentials")["message"] == "用户名或密码错误"
    assert r.headers["www-authenticate"] == "Bearer"
    r = http.post(
        "/api/v1/auth/token",
        data={"username": "ghost", "password": "x"},
        headers={"Accept-Language": "en-GB,en;q=0.9"},
    )
    assert _error(r, 401, "wrong_credentials")["message"] == "wrong user name or password"
    r = http.post("/api/v1/auth/token", data={"username": "clerk"})
    details = _error(r, 422, "invalid_request")["details"]
    assert isinstance(details, list) and details[0]["field"] == "password"


@pytest.mark.usefixtures("seeded")
def test_session_cookie(http: httpx.Client) -> None:
    r = http.post("/api/v1/auth/session", data={"username": "clerk", "password": CLERK_PW})
    assert r.status_code == 200
    assert "httponly" in r.headers["set-cookie"].lower()
    assert http.get("/api/v1/auth/me").json()["username"] == "clerk"  # cookie sent back
    assert http.delete("/api/v1/auth/session").status_code == 204
    http.cookies.clear()
    _error(http.get("/api/v1/auth/me"), 401, "not_authenticated")


@pytest.mark.usefixtures("seeded")
def test_catalog_reads_and_errors(http: httpx.Client) -> None:
    h = _auth(_token(http, "clerk", CLERK_PW))
    _error(http.get("/api/v1/catalog"), 401, "not_authenticated")
    rows = http.get("/api/v1/catalog", params={"kind": "matter", "major": "06"}, headers=h).json()
    assert len(rows) == 51 and rows[0]["major_name"] == "市容环境类"
    one = http.get("/api/v1/catalog/matter/06010", headers=h).json()
    assert one["name"] == "暴露垃圾" and one["public"] is True
    _error(http.get("/api/v1/catalog/matter/99999", headers=h), 404, "unknown_catalog_code")
    _error(http.get("/api/v1/catalog", params={"major": "6"}, headers=h), 422, "invalid_request")
    _error(http.get("/api/v1/catalog/thing/06010", headers=h), 422, "invalid_request")
    _error(http.get("/api/v1/nothing-here", headers=h), 404, "not_found")


@pytest.mark.usefixtures("seeded")
def test_catalog_patch_requires_admin(http: httpx.Client) -> None:
    clerk = _auth(_token(http, "clerk", CLERK_PW))
    admin = _auth(_token(http, "root", ADMIN_PW))
    url = "/api/v1/catalog/matter/06010"
    _error(http.patch(url, json={"public": False}, headers=clerk), 403, "wrong_role")
    r = http.patch(url, json={"display_name": "垃圾暴露", "public": False}, headers=admin)
    assert r.status_code == 200
    assert (r.json()["label"], r.json()["public"], r.json()["name"]) == (
        "垃圾暴露",
        False,
        "暴露垃圾",
    )


@pytest.mark.usefixtures("seeded")
def test_user_admin_api(http: httpx.Client) -> None:
    admin = _auth(_token(http, "root", ADMIN_PW))
    body = {"username": "zhao.liu", "password": "Field-Work-2026", "roles": ["supervisor"]}
    r = http.post("/api/v1/users", json=body, headers=admin)
    assert r.status_code == 201 and r.json()["roles"] == ["supervisor"]
    _error(http.post("/api/v1/users", json=body, headers=admin), 409, "duplicate_user")
    weak = {**body, "username": "weak.one", "password": "abc"}
    err = _error(http.post("/api/v1/users", json=weak, headers=admin), 422, "weak_password")
    assert "密码强度不足" in str(err["message"])
    bad_dept = {**body, "username": "x.y", "scope_department": "NOPE"}
    _error(http.post("/api/v1/users", json=bad_dept, headers=admin), 404, "unknown_org_unit")
    names = [u["username"] for u in http.get("/api/v1/users", headers=admin).json()]
    assert names == ["clerk", "root", "zhao.liu"]
    assert _token(http, "zhao.liu", "Field-Work-2026")
