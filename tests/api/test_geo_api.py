"""The geography API through real HTTP on both databases: regions and grids as GeoJSON (bbox,
simplification, output CRS), one grid, responsibility grids and supervisors, and locate.

One small city (Kaifeng's 鼓楼区 with 250 m grids) is built per database for the whole module;
the tests only read it, except the supervisor test, which restores what it changes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import shapely
from shapely.geometry import shape
from sqlalchemy import Engine, delete
from tests.api.conftest import LiveServer

from cityops.geo.crs import Crs, MetricFrame, transform
from cityops.services import users
from cityops.services.geography import GridSettings, init_city
from cityops.store.db import session_factory
from cityops.store.schema import Base

ADMIN_PW = "Bureau-Key-2026"
CLERK_PW = "Desk-Shift-2026"
WALKER_PW = "Street-Walk-2026"

# A point in 鼓楼区 as Amap (GCJ-02) reports it.
GULOU_GCJ = (114.3490, 34.7930)
BEIJING_GCJ = (116.3975, 39.9087)
GEOJSON = "application/geo+json"


@pytest.fixture(scope="module")
def tokens(engine: Engine, live_server: LiveServer) -> Iterator[dict[str, dict[str, str]]]:
    """Builds the city and three users; yields Authorization headers by user name."""
    sessions = session_factory(engine)
    with sessions.begin() as s:
        init_city(s, "410200", districts=["410204"], settings=GridSettings(grid_size_m=250))
        users.add_user(s, "root", ADMIN_PW, ["admin"])
        users.add_user(s, "clerk", CLERK_PW, ["acceptor"])
        users.add_user(s, "walker", WALKER_PW, ["supervisor"])
    headers = {}
    with httpx.Client(base_url=live_server.url, timeout=10) as client:
        for name, pw in (("root", ADMIN_PW), ("clerk", CLERK_PW), ("walker", WALKER_PW)):
            r = client.post("/api/v1/auth/token", data={"username": name, "password": pw})
            assert r.status_code == 200, r.text
            headers[name] = {"Authorization": f"Bearer {r.json()['access_token']}"}
    yield headers
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(delete(table))


@pytest.fixture
def clerk(tokens: dict[str, dict[str, str]]) -> dict[str, str]:
    return tokens["clerk"]


def _error(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert set(err) == {"code", "message", "details"}
    assert err["code"] == code, err
    return dict(err)


def _collection(r: httpx.Response) -> list[dict[str, Any]]:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith(GEOJSON)
    body = r.json()
    assert body["type"] == "FeatureCollection"
    return list(body["features"])


def _coords(features: list[dict[str, Any]]) -> int:
    return sum(int(shapely.get_num_coordinates(shape(f["geometry"]))) for f in features)


# --- locate ---------------------------------------------------------------------------------------


@pytest.mark.usefixtures("tokens")
def test_locate_gcj02_point_without_signing_in(http: httpx.Client) -> None:
    r = http.get(
        "/api/v1/locate", params={"lon": GULOU_GCJ[0], "lat": GULOU_GCJ[1], "crs": "gcj02"}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"grid", "community", "street", "district", "wgs84"}
    assert body["district"] == {"code": "410204", "name": "鼓楼区"}
    grid = body["grid"]
    assert len(grid) == 15 and grid.isdigit() and grid.startswith("410204")
    assert body["street"]["code"] == grid[:9] and body["street"]["name"]
    assert body["community"]["code"] == grid[:12] and body["community"]["name"]
    w_lon, w_lat = transform(*GULOU_GCJ, Crs.gcj02, Crs.wgs84)
    assert body["wgs84"]["lon"] == pytest.approx(w_lon, abs=1e-9)
    assert body["wgs84"]["lat"] == pytest.approx(w_lat, abs=1e-9)


@pytest.mark.usefixtures("tokens")
def test_locate_same_grid_in_every_crs(http: httpx.Client) -> None:
    def grid(lon: float, lat: float, **crs: str) -> str:
        r = http.get("/api/v1/locate", params={"lon": lon, "lat": lat, **crs})
        assert r.status_code == 200, r.text
        return str(r.json()["grid"])

    expected = grid(*GULOU_GCJ, crs="gcj02")
    w = transform(*GULOU_GCJ, Crs.gcj02, Crs.wgs84)
    assert grid(*w, crs="wgs84") == expected
    assert grid(*w) == expected  # WGS-84 is the default
    assert grid(*w, crs="EPSG:4490") == expected
    assert grid(*transform(*GULOU_GCJ, Crs.gcj02, Crs.bd09), crs="bd09") == expected
    # The GCJ-02 numbers read as WGS-84 are a different place (the offset is ~550 m here).
    assert grid(*GULOU_GCJ, crs="wgs84") != expected


@pytest.mark.usefixtures("tokens")
def test_locate_outside_the_city_is_an_error(http: httpx.Client) -> None:
    params = {"lon": BEIJING_GCJ[0], "lat": BEIJING_GCJ[1], "crs": "gcj02"}
    err = _error(http.get("/api/v1/locate", params=params), 422, "outside_city")
    assert "不在本市任何单元网格内" in err["message"]
    assert err["details"]["lon"] == BEIJING_GCJ[0] and err["details"]["crs"] == "gcj02"
    assert len(err["details"]["wgs84"]) == 2
    r = http.get("/api/v1/locate", params={**params, "lang": "en"})
    assert "outside every unit grid" in _error(r, 422, "outside_city")["message"]


@pytest.mark.usefixtures("tokens")
def test_locate_bad_parameters(http: httpx.Client) -> None:
    url = "/api/v1/locate"
    err = _error(
        http.get(url, params={"lon": 114.3, "lat": 34.8, "crs": "mars"}), 422, "unknown_crs"
    )
    assert "gcj02" in err["message"]
    for params in (
        {"lon": 214.3, "lat": 34.8},
        {"lon": 114.3, "lat": -91},
        {"lon": "nan", "lat": 34.8},
        {"lon": "east", "lat": 34.8},
        {"lon": 114.3},
    ):
        _error(http.get(url, params=params), 422, "invalid_request")


# --- regions --------------------------------------------------------------------------------------


def test_regions_geojson_properties_and_json_routes(
    http: httpx.Client, clerk: dict[str, str]
) -> None:
    _error(http.get("/api/v1/regions.geojson"), 401, "not_authenticated")
    features = _collection(http.get("/api/v1/regions.geojson", headers=clerk))
    levels = {f["properties"]["level"] for f in features}
    assert levels == {"city", "district", "street", "community"}
    district = next(f for f in features if f["properties"]["code"] == "410204")
    assert district["id"] == "410204"
    assert district["properties"] == {
        "code": "410204",
        "name": "鼓楼区",
        "level": "district",
        "parent_code": "410200",
        "synthetic": False,
        "area_km2": pytest.approx(58.6, abs=0.1),
    }
    streets = _collection(
        http.get("/api/v1/regions.geojson", params={"parent": "410204"}, headers=clerk)
    )
    assert streets and all(f["properties"]["level"] == "street" for f in streets)
    assert all(f["properties"]["synthetic"] for f in streets)
    # The JSON routes are unchanged.
    rows = http.get("/api/v1/regions", params={"level": "street"}, headers=clerk).json()
    assert [r["code"] for r in rows] == [f["properties"]["code"] for f in streets]
    assert http.get("/api/v1/regions/410204", headers=clerk).json()["name"] == "鼓楼区"


def test_regions_bbox_returns_exactly_the_intersecting_ones(
    http: httpx.Client, clerk: dict[str, str]
) -> None:
    url = "/api/v1/regions.geojson"
    every = _collection(http.get(url, params={"level": "community", "simplify": 0}, headers=clerk))
    w_lon, w_lat = transform(*GULOU_GCJ, Crs.gcj02, Crs.wgs84)
    bbox = (w_lon - 0.004, w_lat - 0.003, w_lon + 0.004, w_lat + 0.003)
    box = shapely.box(*bbox)
    expected = {f["properties"]["code"] for f in every if shape(f["geometry"]).intersects(box)}
    assert 1 < len(expected) < len(every)
    params = {"level": "community", "bbox": ",".join(map(str, bbox))}
    got = _collection(http.get(url, params=params, headers=clerk))
    assert {f["properties"]["code"] for f in got} == expected
    # A bbox in GCJ-02 with crs=gcj02 is read in GCJ-02: the same communities, drawn in GCJ-02.
    g = [
        *transform(bbox[0], bbox[1], "wgs84", "gcj02"),
        *transform(bbox[2], bbox[3], "wgs84", "gcj02"),
    ]
    got = _collection(
        http.get(
            url, params={**params, "bbox": ",".join(map(str, g)), "crs": "gcj02"}, headers=clerk
        )
    )
    assert {f["properties"]["code"] for f in got} == expected
    # Far away: nothing; malformed: a clear error.
    assert not _collection(http.get(url, params={"bbox": "116.3,39.9,116.4,40.0"}, headers=clerk))
    err = _error(
        http.get(url, params={"bbox": "34.79,114.34,34.80,114.35"}, headers=clerk), 422, "bad_bbox"
    )
    assert "写反" in err["message"]
    _error(http.get(url, params={"bbox": "114.3,34.7"}, headers=clerk), 422, "bad_bbox")
    _error(http.get(url, params={"level": "province"}, headers=clerk), 422, "invalid_request")


def test_regions_simplify_and_output_crs(http: httpx.Client, clerk: dict[str, str]) -> None:
    url = "/api/v1/regions.geojson"

    def district(**params: Any) -> list[dict[str, Any]]:
        return _collection(http.get(url, params={"level": "district", **params}, headers=clerk))

    full, default, coarse = district(simplify=0), district(), district(simplify=200)
    assert _coords(full) > _coords(default) > _coords(coarse) >= 4
    for features in (full, default, coarse):
        assert shape(features[0]["geometry"]).is_valid
    # Simplified within the tolerance of the full outline, measured on the ground.
    frame = MetricFrame(114.35)
    full_m, coarse_m = (frame.to_metric(shape(f[0]["geometry"])) for f in (full, coarse))
    assert 100 < full_m.hausdorff_distance(coarse_m) <= 200 * 1.01
    _error(http.get(url, params={"simplify": -1}, headers=clerk), 422, "invalid_request")

    gcj = district(simplify=0, crs="gcj02")
    r = http.get(url, params={"level": "district", "simplify": 0, "crs": "gcj02"}, headers=clerk)
    assert r.json()["coordinate_system"] == "gcj02"
    w_xy = shapely.get_coordinates(shape(full[0]["geometry"]))
    g_xy = shapely.get_coordinates(shape(gcj[0]["geometry"]))
    assert w_xy.shape == g_xy.shape
    lon, lat = transform(w_xy[:, 0], w_xy[:, 1], "wgs84", "gcj02")
    assert abs(lon - g_xy[:, 0]).max() < 2e-7 and abs(lat - g_xy[:, 1]).max() < 2e-7
    _error(http.get(url, params={"crs": "mars"}, headers=clerk), 422, "unknown_crs")


# --- grids ----------------------------------------------------------------------------------------


def test_grids_in_a_bbox(http: httpx.Client, clerk: dict[str, str]) -> None:
    w_lon, w_lat = transform(*GULOU_GCJ, Crs.gcj02, Crs.wgs84)
    bbox = (w_lon - 0.003, w_lat - 0.002, w_lon + 0.003, w_lat + 0.002)
    r = http.get("/api/v1/grids.geojson", params={"bbox": ",".join(map(str, bbox))}, headers=clerk)
    features = _collection(r)
    box = shapely.box(*bbox)
    assert 4 <= len(features) < 100
    for f in features:
        assert shape(f["geometry"]).intersects(box)
        props = f["properties"]
        assert set(props) == {"code", "community_code", "area_m2", "synthetic"}
        assert props["code"].startswith(props["community_code"]) and f["id"] == props["code"]
        assert 0 < props["area_m2"] <= 250 * 250 * 1.6
    located = http.get("/api/v1/locate", params={"lon": w_lon, "lat": w_lat}).json()["grid"]
    assert located in {f["properties"]["code"] for f in features}
    # Every grid of a community, and only its grids.
    community = located[:12]
    mine = _collection(
        http.get("/api/v1/grids.geojson", params={"community": community}, headers=clerk)
    )
    assert mine and {f["properties"]["community_code"] for f in mine} == {community}
    assert located in {f["properties"]["code"] for f in mine}


def test_grids_need_a_bbox_or_community_and_respect_the_limit(
    http: httpx.Client, clerk: dict[str, str]
) -> None:
    url = "/api/v1/grids.geojson"
    _error(http.get(url), 401, "not_authenticated")
    _error(http.get(url, headers=clerk), 422, "bbox_or_community_required")
    whole = {"bbox": "114.0,34.5,114.6,35.0"}
    n = len(_collection(http.get(url, params=whole, headers=clerk)))
    assert n > 500  # the whole district at 250 m
    err = _error(
        http.get(url, params={**whole, "limit": 100}, headers=clerk), 422, "too_many_grids"
    )
    assert err["details"] == {"count": n, "limit": 100}
    assert "放大地图" in err["message"]
    r = http.get(url, params={**whole, "limit": 100}, headers={**clerk, "Accept-Language": "en"})
    assert "zoom in" in _error(r, 422, "too_many_grids")["message"]
    _error(http.get(url, params={**whole, "limit": 10_001}, headers=clerk), 422, "invalid_request")
    _error(http.get(url, params={"community": "4102040"}, headers=clerk), 422, "invalid_request")
    _error(
        http.get(url, params={"community": "410204999999"}, headers=clerk), 404, "unknown_region"
    )


def test_one_grid(http: httpx.Client, clerk: dict[str, str]) -> None:
    code = http.get(
        "/api/v1/locate", params={"lon": GULOU_GCJ[0], "lat": GULOU_GCJ[1], "crs": "gcj02"}
    ).json()["grid"]
    r = http.get(f"/api/v1/grids/{code}", headers=clerk)
    assert r.status_code == 200 and r.headers["content-type"].startswith(GEOJSON)
    f = r.json()
    assert f["type"] == "Feature" and f["id"] == code
    props = f["properties"]
    assert props["district"] == {"code": "410204", "name": "鼓楼区"}
    assert props["street"]["code"] == code[:9] and props["street"]["name"]
    assert props["community"]["code"] == code[:12] and props["community"]["name"]
    assert props["responsibility_grid"]["code"] == f"R{code[:12]}"
    # In GCJ-02 the grid contains the GCJ-02 point it was located from.
    g = http.get(f"/api/v1/grids/{code}", params={"crs": "gcj02"}, headers=clerk).json()
    assert shape(g["geometry"]).contains(shapely.Point(*GULOU_GCJ))
    assert not shape(f["geometry"]).contains(shapely.Point(*GULOU_GCJ))
    _error(http.get(f"/api/v1/grids/{code[:-3]}999", headers=clerk), 404, "unknown_grid")
    _error(http.get("/api/v1/grids/41020400", headers=clerk), 422, "invalid_request")


def test_responsibility_grids_and_supervisors(
    http: httpx.Client, tokens: dict[str, dict[str, str]]
) -> None:
    clerk, admin = tokens["clerk"], tokens["root"]
    rows = http.get("/api/v1/responsibility-grids", headers=clerk).json()
    whole = _collection(
        http.get("/api/v1/grids.geojson", params={"bbox": "114.0,34.5,114.6,35.0"}, headers=clerk)
    )
    assert sum(r["grid_count"] for r in rows) == len(whole)
    assert all(r["supervisor"] is None and r["code"].startswith("R410204") for r in rows)
    street = rows[0]["code"][1:10]
    under = http.get(
        "/api/v1/responsibility-grids", params={"region": street}, headers=clerk
    ).json()
    assert 0 < len(under) < len(rows)

    code = rows[0]["code"]
    url = f"/api/v1/responsibility-grids/{code}/supervisor"
    _error(http.put(url, json={"username": "walker"}, headers=clerk), 403, "wrong_role")
    r = http.put(url, json={"username": "walker"}, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json() == {**rows[0], "supervisor": "walker"}
    listed = http.get("/api/v1/responsibility-grids", headers=clerk).json()
    assert listed[0]["supervisor"] == "walker"
    one = http.get("/api/v1/grids.geojson", params={"community": code[1:]}, headers=clerk).json()
    grid = one["features"][0]["properties"]["code"]
    detail = http.get(f"/api/v1/grids/{grid}", headers=clerk).json()
    assert detail["properties"]["responsibility_grid"]["supervisor"] == "walker"

    err = _error(http.put(url, json={"username": "clerk"}, headers=admin), 422, "not_a_supervisor")
    assert err["details"]["roles"] == ["acceptor"]
    _error(http.put(url, json={"username": "ghost"}, headers=admin), 404, "unknown_user")
    _error(http.put(url, json={}, headers=admin), 422, "invalid_request")
    _error(
        http.put(
            "/api/v1/responsibility-grids/R1/supervisor", json={"username": None}, headers=admin
        ),
        404,
        "unknown_responsibility_grid",
    )
    r = http.put(url, json={"username": None}, headers=admin)
    assert r.status_code == 200 and r.json()["supervisor"] is None
