"""CORS for /open311/v2 through real HTTP on both databases (docs/open311.md, "CORS"): citizen
web apps on other origins read every GET by default, report only from the origins the policy
file lists, and are never allowed credentials."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import Engine
from tests.api.conftest import LiveServer
from tests.api.open311_support import GULOU, City, build_city, teardown_city

LON, LAT = GULOU
APP = "https://app.example.cn"
OTHER = "https://elsewhere.example.com"
pytestmark = pytest.mark.xdist_group("open311_cors")


@pytest.fixture(scope="module")
def city(engine: Engine, live_server: LiveServer) -> Iterator[City]:
    built, _ = build_city(engine, live_server)
    yield built
    teardown_city(built, engine)


def _preflight(city: City, path: str, method: str, origin: str = APP) -> httpx.Response:
    return city.http.options(
        f"{city.base}/{path}",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "content-type",
        },
    )


def _allowed(r: httpx.Response) -> str | None:
    assert "access-control-allow-credentials" not in r.headers  # never, whoever asks
    return r.headers.get("access-control-allow-origin")


def test_gets_are_open_to_every_origin_by_default(city: City) -> None:
    number = city.numbers["handling"]
    for path in ("services.json", "requests.json", f"requests/{number}.xml", "discovery.json"):
        r = city.http.get(f"{city.base}/{path}", headers={"Origin": APP})
        assert r.status_code == 200, r.text
        assert _allowed(r) == "*"
        exposed = {h.strip().lower() for h in r.headers["access-control-expose-headers"].split(",")}
        assert {"link", "x-total-count", "x-page", "x-page-size"} <= exposed  # paging
        assert "origin" not in r.headers.get("vary", "").lower()  # "*": the same for everyone
    r = city.http.get(f"{city.base}/requests/410204-19990101-0001.json", headers={"Origin": APP})
    assert r.status_code == 404 and _allowed(r) == "*"  # errors are readable too
    plain = city.http.get(f"{city.base}/services.json")  # no Origin: no CORS headers
    assert "access-control-allow-origin" not in plain.headers
    r = _preflight(city, "requests.json", "GET")
    assert r.status_code == 204 and _allowed(r) == "*"
    assert r.headers["access-control-allow-methods"] == "GET"
    assert "content-type" in r.headers["access-control-allow-headers"].lower()
    assert int(r.headers["access-control-max-age"]) > 0


def test_posts_only_from_listed_origins(city: City) -> None:
    fields = {"api_key": city.key, "service_code": "06010", "lat": LAT, "long": LON}
    # default: no origin may report from the browser (the preflight gets no CORS headers)
    r = _preflight(city, "requests.json", "POST")
    assert r.status_code == 204 and _allowed(r) is None
    r = city.http.post(f"{city.base}/requests.json", data=fields, headers={"Origin": APP})
    assert r.status_code == 200 and _allowed(r) is None
    assert "origin" in r.headers["vary"].lower()
    city.policy(f'cors_post_origins = ["{APP}/"]\n')  # a trailing slash is forgiven
    try:
        r = _preflight(city, "requests.json", "POST")
        assert _allowed(r) == APP and r.headers["access-control-allow-methods"] == "POST"
        assert "origin" in r.headers["vary"].lower()
        assert _allowed(_preflight(city, "requests.json", "POST", OTHER)) is None
        r = city.http.post(f"{city.base}/requests.json", data=fields, headers={"Origin": APP})
        assert r.status_code == 200 and _allowed(r) == APP
        r = city.http.post(
            f"{city.base}/requests.json",
            data={**fields, "api_key": "o311_wrong"},
            headers={"Origin": APP},
        )
        assert r.status_code == 403 and _allowed(r) == APP  # the app can read the error
        r = city.http.post(f"{city.base}/requests.json", data=fields, headers={"Origin": OTHER})
        assert _allowed(r) is None
        assert _allowed(city.http.get(f"{city.base}/services.json", headers={"Origin": OTHER}))
    finally:
        city.policy()


def test_gets_limited_to_listed_origins(city: City) -> None:
    city.policy(f'cors_origins = ["{APP}"]\ncors_post_origins = ["*"]\n')
    try:
        r = city.http.get(f"{city.base}/services.json", headers={"Origin": APP})
        assert _allowed(r) == APP and "origin" in r.headers["vary"].lower()
        r = city.http.get(f"{city.base}/services.json", headers={"Origin": OTHER})
        assert r.status_code == 200 and _allowed(r) is None
        plain = city.http.get(f"{city.base}/services.json")
        assert "origin" in plain.headers["vary"].lower()  # shared caches keep answers apart
        assert _allowed(_preflight(city, "services.json", "GET", OTHER)) is None
        assert _allowed(_preflight(city, "requests.json", "POST", OTHER)) == "*"
    finally:
        city.policy()


def test_bad_origins_in_the_policy_file(city: City) -> None:
    city.policy('cors_origins = ["app.example.cn/path"]\n')
    try:
        r = city.http.get(f"{city.base}/services.json", headers={"Origin": APP})
        assert r.status_code == 400 and "cors_origins" in r.text
    finally:
        city.policy()
