"""The web interface through real HTTP on both databases (no browser): sign-in and redirects,
languages, every page renders for its users, the public report / status / photo / rating
endpoints, the map and dashboard JSON, admin imports with a result report."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from PIL import Image
from sqlalchemy.orm import Session, sessionmaker
from tests.e2e.seed import PW, photo_bytes, seed_city

from cityops.web.pages import RateLimiter

POINT = {"lon": "114.3427", "lat": "34.7943"}  # 开封府, WGS-84
CITY_BOX = "114.2,34.6,114.5,34.9"
RAW_KEY = re.compile(
    r">\s*((?:nav|queue|case|field|dash|map|admin|public|fieldpage|metric)\.[a-z_.]+)\s*<"
)


@pytest.fixture
def city(sessions: sessionmaker[Session], http: httpx.Client) -> Iterator[None]:
    with sessions.begin() as s:
        seed_city(s)
    yield


@contextmanager
def signed_in(base_url: str, username: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=10) as c:
        r = c.post("/login", data={"username": username, "password": PW})
        assert r.status_code == 303, r.text
        yield c


def token(http: httpx.Client, username: str) -> dict[str, str]:
    r = http.post("/api/v1/auth/token", data={"username": username, "password": PW})
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def report(http: httpx.Client, key: str = "", photo: str = "x", **extra: str) -> httpx.Response:
    data = {"type_code": "06013", "description": "路面坑洼", "phone": "13900001111", **POINT}
    data.update(extra)
    if key:
        data["idempotency_key"] = key
    files = [("photos", ("p.jpg", photo_bytes(photo), "image/jpeg"))]
    return http.post("/public/report", data=data, files=files)


def test_sign_in_redirects_and_languages(http: httpx.Client, city: None) -> None:
    r = http.get("/cases?mine=0")
    assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Fcases%3Fmine%3D0"
    assert http.get("/").headers["location"].startswith("/login")
    page = http.get("/login")
    assert page.status_code == 200 and "城市运行管理服务平台" in page.text
    bad = http.post("/login", data={"username": "shouli", "password": "wrong-password-1"})
    assert bad.status_code == 401 and "error" in bad.text
    ok = http.post("/login", data={"username": "shouli", "password": PW, "next": "/map"})
    assert ok.status_code == 303 and ok.headers["location"] == "/map"
    evil = http.post(
        "/login", data={"username": "shouli", "password": PW, "next": "//evil.example"}
    )
    assert evil.headers["location"] == "/cases"
    en = http.get("/lang/en?next=/login")
    assert en.status_code == 303 and "cityops_lang=en" in en.headers["set-cookie"]
    with httpx.Client(base_url=http.base_url, cookies={"cityops_lang": "en"}) as en_client:
        assert "Sign in" in en_client.get("/login").text
    assert "Sign in" in http.get("/login?lang=en").text


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_every_page_renders_for_its_users(
    live_server: object, http: httpx.Client, city: None, lang: str
) -> None:
    base = str(http.base_url)
    homes = {"shouli": "/cases", "jiandu": "/field", "lingdao": "/dashboard", "guanli": "/cases"}
    for user, home in homes.items():
        with signed_in(base, user) as c:
            c.cookies.set("cityops_lang", lang)
            assert c.get("/").headers["location"] == home
            for path in ("/cases", "/cases?mine=0&light=red&sort=-reported_at", "/map", "/dashboard",
                         "/dashboard?period=month", "/cases?metric=closed&period=month&mine=0",
                         "/field", "/cases/rows?mine=1"):  # fmt: skip
                r = c.get(path)
                assert r.status_code == 200, (user, path, r.text[:500])
                assert not RAW_KEY.findall(r.text), (path, RAW_KEY.findall(r.text))
            admin = c.get("/admin/imports")
            assert admin.status_code == (200 if user == "guanli" else 403), user
    with signed_in(base, "shouli") as c:
        assert c.get("/cases?state=flying").status_code == 422
        assert c.get("/cases/410204-20991231-0001").status_code == 404


def test_public_report_status_photo_and_rating(http: httpx.Client, city: None) -> None:
    first = report(http, key="k-web-1")
    assert first.status_code == 201, first.text
    body = first.json()
    again = report(http, key="k-web-1")
    assert again.status_code == 200 and again.json()["number"] == body["number"]
    number, secret = body["number"], body["secret"]
    page = http.get(f"/public/cases/{number}")
    assert page.status_code == 200 and number in page.text
    assert "13900001111" not in page.text
    [src] = re.findall(rf'src="(/public/photos/{number}/[^"]+)"', page.text)
    img = http.get(src)
    assert img.status_code == 200 and img.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(img.content)) as im:
        assert not im.getexif()
    assert (
        http.get(f"/public/photos/{number}/00000000-0000-0000-0000-000000000000").status_code == 404
    )
    other = report(http, photo="another").json()["number"]
    assert http.get(src.replace(number, other)).status_code == 404  # only the case's own photos
    assert http.get("/public/cases/410204-20991231-0001").status_code == 404
    early = http.post(f"/public/cases/{number}/rating", data={"secret": secret, "rating": "5"})
    assert early.status_code == 409 and "结案后" in early.text
    bad = report(http, type_code="99999")
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "unknown_catalog_code"
    outside = report(http, lon="116.4", lat="39.9")
    assert outside.status_code == 422 and outside.json()["error"]["code"] == "outside_city"
    assert http.get("/public").status_code == 200
    regions = http.get("/public/regions.geojson").json()
    assert [f["properties"]["name"] for f in regions["features"]] == ["鼓楼区"]
    assert (
        http.get(f"/public/find?number={number}").headers["location"] == f"/public/cases/{number}"
    )


def test_rate_limiter() -> None:
    now = [0.0]
    rl = RateLimiter(limit=2, window=60, clock=lambda: now[0])
    assert rl.allow("a") and rl.allow("a") and not rl.allow("a") and rl.allow("b")
    now[0] = 61
    assert rl.allow("a")


def test_map_and_dashboard_json(http: httpx.Client, city: None) -> None:
    staff = token(http, "jiandu")
    for _ in range(3):
        r = http.post(
            "/api/v1/cases",
            json={
                "source": "patrol",
                "type_code": "06036",
                "description": "杂物",
                "lon": 114.3427,
                "lat": 34.7943,
            },
            headers=staff,
        )
        assert r.status_code == 201, r.text
    leader = token(http, "lingdao")
    far = http.get(
        "/api/v1/map/cases", params={"bbox": CITY_BOX, "zoom": 10}, headers=leader
    ).json()
    assert [c["count"] for c in far["clusters"]] == [3] and far["clusters"][0]["id"] is None
    near = http.get(
        "/api/v1/map/cases", params={"bbox": CITY_BOX, "zoom": 22}, headers=leader
    ).json()
    assert sum(c["count"] for c in near["clusters"]) == 3
    only = http.get(
        "/api/v1/map/cases", params={"bbox": CITY_BOX, "zoom": 10, "type": "09"}, headers=leader
    ).json()
    assert only["clusters"] == []
    grids = http.get("/api/v1/map/grid-cases", params={"bbox": CITY_BOX}, headers=leader).json()
    assert sum(v[0] for v in grids["grids"].values()) == 3
    assert (
        http.get("/api/v1/map/cases", params={"bbox": "100,20,120,40"}, headers=leader).status_code
        == 422
    )
    dept = token(http, "shizheng")
    mine = http.get("/api/v1/map/cases", params={"bbox": CITY_BOX, "zoom": 10}, headers=dept).json()
    assert mine["clusters"] == []  # nothing dispatched to the department yet
    d = http.get("/api/v1/dashboard", params={"period": "today"}, headers=leader).json()
    assert d["counts"]["reported"] == 3 and d["counts"]["open"] == 3
    assert d["by_type"] == [{"key": "06036", "label": "乱堆杂物", "count": 3}]
    assert len(d["trend"]["days"]) == 30 and d["trend"]["reported"][-1] == 3
    assert (
        http.get("/api/v1/dashboard", params={"period": "soon"}, headers=leader).status_code == 422
    )
    assert http.get("/api/v1/dashboard").status_code == 401


def test_admin_imports_report(http: httpx.Client, city: None) -> None:
    base = str(http.base_url)
    good = "类型代码,区域,部件权属,责任部门,自动派遣,备注\n06,全市,,KF-HW,否,市容\n".encode()
    bad = "类型代码,区域,部件权属,责任部门,自动派遣,备注\n06,全市,,NOPE,否,x\n".encode()
    with signed_in(base, "guanli") as c:
        ok = c.post(
            "/admin/imports",
            data={"kind": "rules"},
            files={"file": ("rules.csv", good, "text/csv")},
        )
        assert ok.status_code == 200 and "导入成功" in ok.text
        refused = c.post(
            "/admin/imports", data={"kind": "rules"}, files={"file": ("rules.csv", bad, "text/csv")}
        )
        assert refused.status_code == 422 and "NOPE" in refused.text
        std = c.post(
            "/admin/imports",
            data={"kind": "standards"},
            files={"file": ("s.csv", "小类代码,立案条件\n99999,\n".encode(), "text/csv")},
        )
        assert std.status_code == 422
    with signed_in(base, "shouli") as c:
        no = c.post(
            "/admin/imports",
            data={"kind": "rules"},
            files={"file": ("rules.csv", good, "text/csv")},
        )
        assert no.status_code == 403
