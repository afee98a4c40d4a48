"""Open311 GeoReport v2 conformance, written from the specification text, through real HTTP on
both databases.

Sources (quoted in each test): GeoReport v2 — http://wiki.open311.org/GeoReport_v2 (sections
"Format Support", "Internationalization and Encoding", "Definitions", each "API method",
"Errors"); Service Discovery — http://wiki.open311.org/Service_Discovery; GeoReport v2
Extensions — http://wiki.open311.org/GeoReport_v2/Extensions (Pagination, Media Handling,
Update History, Extended Attributes); the GeoReport v2.1 draft for ``media`` uploads and
``updated_after``/``updated_before``.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from PIL import Image
from sqlalchemy import Engine, select
from tests.api.conftest import LiveServer
from tests.api.open311_support import (
    DISCOVERY,
    ERRORS,
    GULOU,
    PASSWORD,
    POST_RESPONSE,
    REQUESTS,
    SERVICE_DEFINITION,
    SERVICES,
    TOKEN_RESPONSE,
    TZ,
    W3_TIME,
    City,
    as_text,
    build_city,
    spark,
    teardown_city,
    valid,
    xml_root,
)

from cityops.services.geography import spatial_index
from cityops.store.db import session_factory, transaction
from cityops.store.schema import Case, Component, PublicSubmission

LON, LAT = GULOU
# One worker builds the module's city once per database (tests do not rely on each other).
pytestmark = pytest.mark.xdist_group("open311_conformance")


@pytest.fixture(scope="module")
def city(engine: Engine, live_server: LiveServer) -> Iterator[City]:
    built, _ = build_city(engine, live_server)
    yield built
    teardown_city(built, engine)


def _errors(r: httpx.Response, status: int, fmt: str = "json") -> list[str]:
    """GeoReport v2, Errors: "Multiple errors codes and descriptions can be returned in the body
    (the response is an array)" of {code, description}; XML ``<errors><error>``."""
    assert r.status_code == status, r.text
    if fmt == "xml":
        body = spark(xml_root(r, "errors"))
        assert all(set(e) == {"code", "description"} for e in body)
    else:
        assert r.headers["content-type"] == "application/json; charset=utf-8"
        body = valid(r.json(), ERRORS)
    return [str(e["description"]) for e in body]


def _both(city: City, path: str, **params: Any) -> tuple[Any, Any]:
    """The same resource as JSON and as XML (Spark convention: the XML maps onto the JSON)."""
    j = city.http.get(f"{city.base}/{path}.json", params=params)
    x = city.http.get(f"{city.base}/{path}.xml", params=params)
    assert j.status_code == x.status_code == 200, (j.text, x.text)
    return j, x


def _photo(exif: bool = True) -> bytes:
    im = Image.new("RGB", (64, 48), (200, 40, 40))
    out = io.BytesIO()
    info = Image.Exif()
    if exif:
        info[0x010F] = "PhoneMaker"  # Make
        info[0x0110] = "Model-X"  # Model
    im.save(out, format="JPEG", exif=info.tobytes())
    return out.getvalue()


# --- Service Discovery ------------------------------------------------------------------------------


def test_discovery_in_both_formats(city: City) -> None:
    """Service Discovery: "This url must end in /discovery.<format>"; "Format must be both: xml,
    json"; "All fields are required"; endpoints.endpoint.formats lists the MIME types."""
    j, x = _both(city, "discovery")
    body = valid(j.json(), DISCOVERY)
    (endpoint,) = body["endpoints"]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"].endswith("/open311/v2")
    assert set(endpoint["formats"]) == {"text/xml", "application/json"}
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", body["changeset"])  # sortable
    assert spark(xml_root(x, "discovery")) == as_text(body)


# --- GET Service List / Service Definition ------------------------------------------------------------


def test_service_list_only_public_types(city: City) -> None:
    """GET Service List: "a list of acceptable 311 service request types and their associated
    service codes" with service_code, service_name, description, metadata, type, keywords, group.
    The city's catalog decides: only matter types marked public (06042 is not; components never)."""
    j, x = _both(city, "services")
    services = valid(j.json(), SERVICES)
    codes = {s["service_code"] for s in services}
    assert {"06010", "06001", "06036", "06012"} <= codes
    assert "06042" not in codes  # marked non-public
    assert all(re.fullmatch(r"\d{5}", c) for c in codes)
    by_code = {s["service_code"]: s for s in services}
    assert by_code["06001"] == {
        "service_code": "06001",
        "service_name": "私搭乱建",
        "description": by_code["06001"]["description"],
        "metadata": True,  # three 立案条件 to choose from
        "type": "realtime",
        "keywords": None,
        "group": "市容环境类",
    }
    assert "正在施工的违法建设" in by_code["06001"]["description"]
    assert by_code["06010"]["keywords"] == "垃圾, 暴露垃圾, trash"  # "comma separated list"
    assert by_code["06010"]["metadata"] is False
    root = xml_root(x, "services")
    assert [child.tag for child in root] == ["service"] * len(services)
    assert spark(root) == as_text(services)


def test_service_definition(city: City) -> None:
    """GET Service Definition: attributes with variable, code, datatype, required,
    datatype_description, order, description and values (key, name) for singlevaluelist."""
    j, x = _both(city, "services/06001")
    body = valid(j.json(), SERVICE_DEFINITION)
    assert body["service_code"] == "06001"
    (attr,) = body["attributes"]
    assert attr["datatype"] == "singlevaluelist" and attr["variable"] is True
    assert attr["code"] == "condition" and attr["order"] == 1
    assert [v["name"] for v in attr["values"]] == [
        "正在施工的违法建设",
        "已建成的违法建设需立案查处",
        "违法建设需拆除",
    ]
    assert spark(xml_root(x, "service_definition")) == as_text(body)
    plain = city.http.get(f"{city.base}/services/06010.json").json()
    assert plain == {"service_code": "06010", "attributes": []}  # metadata false


def test_service_definition_errors(city: City) -> None:
    """GET Service Definition, Possible Errors: "404 - service_code or jurisdiction_id provided
    were not found"; a type the city marks non-public does not exist for the public."""
    for code in ("99999", "06042", "01001x"):
        for fmt in ("json", "xml"):
            r = city.http.get(f"{city.base}/services/{code}.{fmt}")
            assert "service_code" in _errors(r, 404, fmt)[0]


def test_jurisdiction_id(city: City) -> None:
    """Definitions, jurisdiction_id: "Implementations can ignore this parameter … if the
    implementation only serves one jurisdiction"; we accept our city's code (410200) and answer
    "404 - jurisdiction_id provided was not found" for any other."""
    assert city.http.get(f"{city.base}/services.json", params={"jurisdiction_id": "410200"}).json()
    for path in ("services.json", "services/06001.json", "requests.json"):
        r = city.http.get(f"{city.base}/{path}", params={"jurisdiction_id": "sfgov.org"})
        assert "jurisdiction_id sfgov.org" in _errors(r, 404)[0]
    r = city.post(service_code="06010", lat=LAT, long=LON, jurisdiction_id="530100")
    _errors(r, 404)
    # "Optional" means the same whether passed empty or not at all (Definitions)
    r = city.http.get(f"{city.base}/services.json", params={"jurisdiction_id": ""})
    assert r.status_code == 200


# --- POST Service Request ---------------------------------------------------------------------------


def test_post_form_encoded_and_read_back(city: City) -> None:
    """POST Service Request: "Content-Type: application/x-www-form-urlencoded"; the response is
    service_requests/request with service_request_id (and optionally service_notice). UTF-8
    everywhere: Chinese text round-trips; times carry their zone (+08:00)."""
    text = "开封府东门外 井盖缺失 ⚠️ — «urgent»\n第二行"
    r = city.post(
        service_code="06010",
        lat=LAT,
        long=LON,
        address_string="中山路北段 12 号",
        description=text,
        email="citizen@example.com",
        device_id="device-abc",
        account_id="acct-42",
        first_name="三",
        last_name="张",
        phone="13800138000",
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    (answer,) = valid(r.json(), POST_RESPONSE)
    number = answer["service_request_id"]
    assert "token" not in answer and number in answer["service_notice"]
    j, x = _both(city, f"requests/{number}")
    (req,) = valid(j.json(), REQUESTS)
    assert req["description"] == text and req["address"] == "中山路北段 12 号"
    assert req["status"] == "open" and req["service_name"] == "暴露垃圾"
    assert req["requested_datetime"].endswith("+08:00")
    assert abs(req["lat"] - LAT) < 1e-6 and abs(req["long"] - LON) < 1e-6
    root = xml_root(x, "service_requests")
    assert spark(root) == as_text([req])
    assert root.find("request/description").text == text  # type: ignore[union-attr]


def test_post_in_xml_and_json_bodies(city: City) -> None:
    """Format Support: the response format follows the resource's extension; POST answers XML
    for requests.xml. A JSON body is accepted too (beside the form encoding the spec names)."""
    r = city.post("xml", service_code="06036", lat=LAT, long=LON, description="XML 回执")
    root = xml_root(r, "service_requests")
    number = root.findtext("request/service_request_id")
    assert number and number.startswith("410204-")
    r = city.http.post(
        f"{city.base}/requests.json",
        json={
            "api_key": city.key,
            "service_code": "06001",
            "lat": LAT,
            "long": LON,
            "description": "JSON 提交",
            "attribute": {"condition": "3"},
        },
    )
    (answer,) = valid(r.json(), POST_RESPONSE)
    (req,) = city.http.get(f"{city.base}/requests/{answer['service_request_id']}.json").json()
    assert req["description"] == "JSON 提交\n【情形】违法建设需拆除"


def test_post_attributes(city: City) -> None:
    """POST, attribute: "attribute[code]=value … multiple values for the same code in the case
    of a multivaluelist datatype (attribute[code1][]=value1…)"; values are the keys the
    definition lists. Unknown codes or values are refused with 400."""
    r = city.post(
        service_code="06001", lat=LAT, long=LON, description="施工", **{"attribute[condition]": "1"}
    )
    number = r.json()[0]["service_request_id"]
    (req,) = city.http.get(f"{city.base}/requests/{number}.json").json()
    assert req["description"].endswith("【情形】正在施工的违法建设")
    r = city.post(service_code="06001", lat=LAT, long=LON, **{"attribute[condition][]": "2"})
    assert r.status_code == 200
    bad = city.post(
        service_code="06001",
        lat=LAT,
        long=LON,
        **{"attribute[condition]": "9", "attribute[colour]": "red"},
    )
    messages = _errors(bad, 400)
    assert len(messages) == 2  # both problems in one answer
    assert any("colour" in m for m in messages) and any("9" in m for m in messages)


def test_post_api_key_required(city: City) -> None:
    """POST Service Request: "Requires API Key: Yes". Errors: "403 - Missing or Invalid API Key",
    e.g. <errors><error><code>403</code><description>Invalid api_key received -- can't proceed
    with create_request.</description></error></errors>."""
    fields = {"service_code": "06010", "lat": LAT, "long": LON}
    for fmt in ("json", "xml"):
        for key in ("", "nonsense", city.revoked_key):
            r = city.post(fmt, key=key, **fields)
            assert "api_key" in _errors(r, 403, fmt)[0]
    r = city.http.post(f"{city.base}/requests.xml", data=fields, headers={"Accept-Language": "en"})
    root = xml_root(r, "errors")
    assert root.findtext("error/code") == "403"
    assert root.findtext("error/description") == (
        "api_key is missing -- can't proceed with create_request"
    )
    # the key may also come in the URL
    r = city.http.post(f"{city.base}/requests.json?api_key={city.key}", data=fields)
    assert r.status_code == 200


def test_post_required_arguments(city: City) -> None:
    """POST, Required Arguments: service_code ("400 - service_code … was not provided", "404 -
    service_code … was not found"); a location parameter: "One of lat & long or address_string
    or address_id"; "lat & long both need to be sent". description "limited to 4,000
    characters"."""
    _errors(city.post(lat=LAT, long=LON), 400)
    assert "service_code" in _errors(city.post(service_code="99999", lat=LAT, long=LON), 404)[0]
    assert _errors(city.post(service_code="06042", lat=LAT, long=LON), 404)  # not public
    assert "位置" in _errors(city.post(service_code="06010"), 400, "json")[0]
    assert "lat and long" in " ".join(
        _errors(
            city.http.post(
                f"{city.base}/requests.json",
                data={"api_key": city.key, "service_code": "06010", "lat": LAT},
                headers={"Accept-Language": "en"},
            ),
            400,
        )
    )
    r = city.post(service_code="06010", lat=LAT, long=LON, description="长" * 4000)
    assert r.status_code == 200  # exactly 4,000 characters
    r = city.post(service_code="06010", lat=LAT, long=LON, description="长" * 4001)
    assert "4000" in _errors(r, 400)[0]
    r = city.post(service_code="06010", lat=91, long=LON)
    _errors(r, 400)
    r = city.post(service_code="06010", lat=39.9087, long=116.3975)  # Beijing: outside the city
    _errors(r, 400)
    r = city.post(service_code="06010", lat=LAT, long=LON, email="not-an-address")
    assert "email" in _errors(r, 400)[0]


def test_post_address_only(city: City, engine: Engine) -> None:
    """POST, address_string: "required if no lat/long or address_id are provided". This city
    has no geocoder offline, so an address alone is a clear 400 asking for lat & long; an
    address_id is a component id (部件编号) and places the report on that component."""
    r = city.post(service_code="06010", address_string="鼓楼广场东北角")
    assert "lat" in _errors(r, 400)[0] and "address" in _errors(r, 400)[0]
    r = city.post(service_code="06010", address_id="41020401001999999")
    assert "address_id" in _errors(r, 400)[0]
    with transaction(session_factory(engine)) as s:
        grid = spatial_index(s).locate(LON, LAT).grid
        s.add(
            Component(id="41020401001000777", type_code="01001", grid_code=grid, lon=LON, lat=LAT)
        )
    r = city.post(service_code="01001", address_id="41020401001000777", description="井盖")
    number = r.json()[0]["service_request_id"]
    (req,) = city.http.get(f"{city.base}/requests/{number}.json").json()
    assert req["address_id"] == "41020401001000777" and abs(req["lat"] - LAT) < 1e-6


def test_post_media_upload_and_public_copy(city: City, engine: Engine) -> None:
    """GeoReport v2.1 draft, POST, media: "A client may POST multiple files as multipart/form-data
    … Subsequent calls for GET Service Requests should return the URL for this file via the
    media_url field". The URL serves the EXIF-stripped copy (no phone model, no position)."""
    photo = _photo()
    assert Image.open(io.BytesIO(photo)).getexif()  # the original has EXIF
    r = city.http.post(
        f"{city.base}/requests.json",
        data={"api_key": city.key, "service_code": "06010", "lat": str(LAT), "long": str(LON)},
        files={"media": ("垃圾.jpg", photo, "image/jpeg")},
    )
    assert r.status_code == 200, r.text
    number = r.json()[0]["service_request_id"]
    (req,) = valid(city.http.get(f"{city.base}/requests/{number}.json").json(), REQUESTS)
    url = req["media_url"]
    assert url.startswith(str(city.http.base_url)) and f"/media/{number}/" in url
    got = city.http.get(url)
    assert got.status_code == 200 and got.headers["content-type"] == "image/jpeg"
    assert got.content != photo and not Image.open(io.BytesIO(got.content)).getexif()
    # a photo id on another case, or an unknown one, is not served
    other = city.numbers["handling"]
    assert city.http.get(url.replace(number, other)).status_code == 404
    # not an image: 400; too many files: 400
    r = city.http.post(
        f"{city.base}/requests.json",
        data={"api_key": city.key, "service_code": "06010", "lat": str(LAT), "long": str(LON)},
        files={"media": ("x.jpg", b"not an image", "image/jpeg")},
    )
    _errors(r, 400)
    r = city.http.post(
        f"{city.base}/requests.json",
        data={"api_key": city.key, "service_code": "06010", "lat": str(LAT), "long": str(LON)},
        files=[("media[]", (f"{i}.jpg", _photo(False), "image/jpeg")) for i in range(4)],
    )
    _errors(r, 400)
    # media_url given by the client is kept and returned when there is no upload
    r = city.post(
        service_code="06010", lat=LAT, long=LON, media_url="https://img.example.org/1.jpg"
    )
    number = r.json()[0]["service_request_id"]
    assert city.http.get(f"{city.base}/requests/{number}.json").json()[0]["media_url"] == (
        "https://img.example.org/1.jpg"
    )
    with session_factory(engine)() as s:
        case_id = s.scalar(select(Case.id).where(Case.number == number))
        sub = s.scalar(select(PublicSubmission).where(PublicSubmission.case_id == case_id))
        assert sub is not None and sub.status == "accepted" and sub.api_key_id is not None


# --- reporter privacy --------------------------------------------------------------------------------


def test_public_reads_never_reveal_the_reporter(city: City) -> None:
    """GET requests carries no field for the reporter (the spec lists none), and free text is
    masked: phone numbers, e-mail addresses and the reporter's name never appear."""
    r = city.post(
        service_code="06036",
        lat=LAT,
        long=LON,
        description="杂物堆在门口，联系我：赵六 13677778888 zhao6@example.com",
        first_name="六",
        last_name="赵",
        email="zhao6@example.com",
        phone="13677778888",
        device_id="device-zhao-6",
        account_id="account-zhao-6",
    )
    number = r.json()[0]["service_request_id"]
    ids = ",".join([number, city.numbers["voided"], city.numbers["handling"]])
    for fmt in ("json", "xml"):
        for params in ({"service_request_id": ids, "extensions": "true"}, {}):
            text = city.http.get(f"{city.base}/requests.{fmt}", params=params).text
            for secret in (
                "13677778888",
                "zhao6@example.com",
                "赵六",
                "device-zhao-6",
                "account-zhao-6",
                "13912345678",
                "王小五",
                "wang@example.com",
                "13900001111",
            ):
                assert secret not in text, (secret, fmt)
    (req,) = city.http.get(f"{city.base}/requests/{number}.json").json()
    assert "136****8888" in req["description"] and "赵*" in req["description"]


# --- GET Service Requests ---------------------------------------------------------------------------


def test_get_requests_default_window_and_schema(city: City) -> None:
    """GET Service Requests: start_date/end_date "When not specified, the range defaults to most
    recent 90 days". Cases of types the city marks non-public are never listed."""
    j, x = _both(city, "requests")
    body = valid(j.json(), REQUESTS)
    numbers = {r["service_request_id"] for r in body}
    assert city.numbers["handling"] in numbers and city.numbers["voided"] in numbers
    assert city.numbers["old"] not in numbers  # 120 days ago
    assert city.numbers["hidden"] not in numbers  # type 06042 is not public
    assert spark(xml_root(x, "service_requests")) == as_text(body)
    stamps = [r["requested_datetime"] for r in body]
    assert stamps == sorted(stamps, reverse=True)  # newest first
    assert all(re.match(W3_TIME, s) and s.endswith("+08:00") for s in stamps)


def test_get_requests_states_and_fields(city: City) -> None:
    """status: "open: it has been reported. closed: it has been resolved"; updated_datetime "For
    requests with status=closed, this will be the date the request was closed";
    expected_datetime from the handling deadline; agency_responsible the department."""
    ids = f"{city.numbers['handling']},{city.numbers['voided']}"
    handling, voided = city.http.get(
        f"{city.base}/requests.json", params={"service_request_id": ids}
    ).json()
    assert handling["status"] == "open" and handling["status_notes"] == "待签收"  # dispatched
    assert handling["agency_responsible"] == "综合行政执法支队"
    assert handling["expected_datetime"] and handling["expected_datetime"].endswith("+08:00")
    assert voided["status"] == "closed"
    assert voided["status_notes"].startswith("已作废：重复上报")
    assert voided["updated_datetime"] > voided["requested_datetime"]
    assert voided["expected_datetime"] is None


def test_get_requests_filters(city: City) -> None:
    """service_request_id "comma delimited … This overrides all other arguments"; service_code
    "can be declared multiple times, comma delimited"; status open / closed."""
    old, handling, voided = (city.numbers[k] for k in ("old", "handling", "voided"))
    body = city.http.get(
        f"{city.base}/requests.json",
        params={"service_request_id": f"{old},{voided}", "status": "open", "service_code": "09001"},
    ).json()
    assert [r["service_request_id"] for r in body] == [old, voided]  # overrides; 90 days too
    body = city.http.get(
        f"{city.base}/requests.json", params={"service_code": "06036,06012"}
    ).json()
    assert {r["service_code"] for r in body} == {"06036", "06012"}
    body = city.http.get(
        f"{city.base}/requests.json", params=[("service_code", "06012"), ("status", "closed")]
    ).json()
    assert [r["service_request_id"] for r in body] == [voided]
    opened = city.http.get(f"{city.base}/requests.json", params={"status": "open"}).json()
    assert handling in {r["service_request_id"] for r in opened}
    assert all(r["status"] == "open" for r in opened)
    both = city.http.get(f"{city.base}/requests.json", params={"status": "open,closed"}).json()
    assert len(both) == len(opened) + 1
    for bad in ({"status": "pending"}, {"service_code": "abc"}):
        _errors(city.http.get(f"{city.base}/requests.json", params=bad), 400)


def test_get_requests_date_rules(city: City) -> None:
    """start_date/end_date: "may not span more than 90 days"; "Must use w3 format, eg
    2010-01-01T00:00:00Z" (time zone included; a '+' the query turned into a space is mended)."""
    now = datetime.now(TZ)
    old = city.numbers["old"]
    start = (now - timedelta(days=130)).isoformat(timespec="seconds")
    end = (now - timedelta(days=100)).isoformat(timespec="seconds")
    body = city.http.get(
        f"{city.base}/requests.json", params={"start_date": start, "end_date": end}
    ).json()
    assert [r["service_request_id"] for r in body] == [old]
    unencoded = f"{city.base}/requests.json?start_date={start}&end_date={end}"  # '+' → ' '
    assert [r["service_request_id"] for r in city.http.get(unencoded).json()] == [old]
    only_start = city.http.get(
        f"{city.base}/requests.json", params={"start_date": start}
    ).json()  # start + 90 days
    assert [r["service_request_id"] for r in only_start] == [old]
    zulu = (now - timedelta(days=125)).astimezone(TZ).strftime("%Y-%m-%d")
    body = city.http.get(
        f"{city.base}/requests.json", params={"start_date": zulu, "end_date": end}
    ).json()
    assert [r["service_request_id"] for r in body] == [old]
    for params in (
        {"start_date": (now - timedelta(days=200)).isoformat(), "end_date": now.isoformat()},
        {"start_date": now.isoformat(), "end_date": (now - timedelta(days=1)).isoformat()},
        {"start_date": "yesterday"},
    ):
        for fmt in ("json", "xml"):
            _errors(city.http.get(f"{city.base}/requests.{fmt}", params=params), 400, fmt)


def test_get_requests_updated_window(city: City) -> None:
    """v2.1 draft, updated_after/updated_before: "requests which have an updated_datetime between
    the updated_after time and updated_before time (or now)" — reaching older requests."""
    now = datetime.now(TZ)
    body = city.http.get(
        f"{city.base}/requests.json",
        params={"updated_after": (now - timedelta(days=1, hours=12)).isoformat()},
    ).json()
    numbers = {r["service_request_id"] for r in body}
    assert city.numbers["voided"] in numbers and city.numbers["handling"] not in numbers
    body = city.http.get(
        f"{city.base}/requests.json",
        params={"updated_before": (now - timedelta(days=100)).isoformat()},
    ).json()
    assert [r["service_request_id"] for r in body] == [city.numbers["old"]]


def test_get_requests_paging(city: City) -> None:
    """Extensions, Pagination: "the page and page_size parameters"; page_size at most 500; the
    total in X-Total-Count with a Link to the next and previous pages."""
    for i in range(4):
        assert city.post(service_code="06010", lat=LAT, long=LON, description=f"第{i}页").is_success
    everything = city.http.get(f"{city.base}/requests.json").json()
    total = len(everything)
    assert total >= 6
    r = city.http.get(f"{city.base}/requests.json", params={"page_size": 2, "page": 2})
    assert r.headers["X-Total-Count"] == str(total)
    assert r.headers["X-Page"] == "2" and r.headers["X-Page-Size"] == "2"
    assert 'rel="next"' in r.headers["Link"] and 'rel="prev"' in r.headers["Link"]
    assert [x["service_request_id"] for x in r.json()] == [
        x["service_request_id"] for x in everything[2:4]
    ]
    nxt = re.search(r"<([^>]+)>; rel=\"next\"", r.headers["Link"])
    assert nxt and "page=3" in nxt.group(1)
    x = city.http.get(f"{city.base}/requests.xml", params={"page_size": 2, "page": 2})
    assert x.headers["X-Total-Count"] == str(total) and len(xml_root(x, "service_requests")) == 2
    for bad in ({"page_size": 501}, {"page": 0}, {"page_size": "ten"}):
        _errors(city.http.get(f"{city.base}/requests.json", params=bad), 400)


def test_get_requests_bbox_and_radius(city: City) -> None:
    """Extensions: bbox=min_long,min_lat,max_long,max_lat and lat/long/radius (metres)."""
    near = {"lat": LAT, "long": LON, "radius": 50}
    around = city.http.get(f"{city.base}/requests.json", params=near).json()
    assert city.numbers["handling"] in {r["service_request_id"] for r in around}
    far = {"lat": LAT + 0.01, "long": LON, "radius": 500}  # 1.1 km north
    assert city.http.get(f"{city.base}/requests.json", params=far).json() == []
    box = {"bbox": f"{LON - 0.001},{LAT - 0.001},{LON + 0.001},{LAT + 0.001}"}
    assert len(city.http.get(f"{city.base}/requests.json", params=box).json()) == len(around)
    away = {"bbox": f"{LON + 0.01},{LAT},{LON + 0.02},{LAT + 0.01}"}
    assert city.http.get(f"{city.base}/requests.json", params=away).json() == []
    for bad in ({"bbox": "1,2,3"}, {"lat": LAT}, {"lat": LAT, "long": LON, "radius": 10**6}):
        _errors(city.http.get(f"{city.base}/requests.json", params=bad), 400)


def test_extensions_true(city: City) -> None:
    """Extensions, Extended Attributes: "the extensions query parameter can be used to return
    them, e.g. &extensions=true"; Update History: notes of {datetime, description, type}. Here:
    detailed_status (our public stage), the department, and the case log as notes."""
    number = city.numbers["handling"]
    j, x = _both(city, f"requests/{number}", extensions="true")
    (req,) = valid(j.json(), REQUESTS)
    assert req["detailed_status"] == "dispatch"
    assert req["extended_attributes"]["department"] == "KF-ZF"
    assert req["extended_attributes"]["stage_label"] == "派遣"
    notes = req["notes"]
    assert [n["type"] for n in notes] == ["report", "register", "dispatch"]
    assert notes[0]["description"] == "上报（监督员上报）"
    assert notes[2]["description"] == "派遣 → 综合行政执法支队"
    assert all(re.match(W3_TIME, n["datetime"]) for n in notes)
    assert spark(xml_root(x, "service_requests")) == as_text([req])
    plain = city.http.get(f"{city.base}/requests/{number}.json").json()[0]
    assert "notes" not in plain and "detailed_status" not in plain
    en = city.http.get(
        f"{city.base}/requests/{number}.json",
        params={"extensions": "true"},
        headers={"Accept-Language": "en"},
    ).json()[0]
    assert en["status_notes"] == "dispatched" and en["notes"][1]["description"] == "register"


def test_get_request_not_found(city: City) -> None:
    """GET Service Request, Possible Errors: 404 for what does not exist (and for cases of
    types the city keeps from the public)."""
    for number in ("410204-20000101-9999", city.numbers["hidden"]):
        for fmt in ("json", "xml"):
            _errors(city.http.get(f"{city.base}/requests/{number}.{fmt}"), 404, fmt)


def test_unknown_resources_and_formats(city: City) -> None:
    """Errors: "404 for resources that don't exist … basically 400 for any other error", in the
    format asked for."""
    _errors(city.http.get(f"{city.base}/nothing.json"), 404)
    _errors(city.http.get(f"{city.base}/nothing.xml"), 404, "xml")
    assert "格式" in _errors(city.http.get(f"{city.base}/services.html"), 400)[0]
    _errors(city.http.get(f"{city.base}/tokens/nope.json"), 404)


# --- tokens, screening, limits ------------------------------------------------------------------------


def test_held_reports_answer_tokens(city: City) -> None:
    """POST Response: token "If returned, use this to call GET service_request_id from a token"
    and service_request_id "should not be returned if token is returned"; the service list's
    type becomes batch. GET tokens answers service_request_id once a person accepted it."""
    city.policy("hold_all = true\n")
    try:
        assert {s["type"] for s in city.http.get(f"{city.base}/services.json").json()} == {"batch"}
        r = city.post(service_code="06010", lat=LAT, long=LON, description="待审核")
        (answer,) = valid(r.json(), POST_RESPONSE)
        token = answer["token"]
        assert "service_request_id" not in answer
        (status,) = valid(city.http.get(f"{city.base}/tokens/{token}.json").json(), TOKEN_RESPONSE)
        assert status == {"service_request_id": None, "token": token}
        x = city.http.get(f"{city.base}/tokens/{token}.xml")
        assert xml_root(x, "service_requests").findtext("request/token") == token
        second = city.post(service_code="06036", lat=LAT, long=LON).json()[0]["token"]
    finally:
        city.policy()
    acceptor = _login(city, "shouli")
    pending = city.http.get("/api/v1/open311/submissions", headers=acceptor).json()
    assert {p["token"] for p in pending} >= {token, second}
    assert next(p for p in pending if p["token"] == token)["request"]["description"] == "待审核"
    r = city.http.post(f"/api/v1/open311/submissions/{token}/accept", headers=acceptor)
    assert r.status_code == 200, r.text
    number = r.json()["service_request_id"]
    (status,) = city.http.get(f"{city.base}/tokens/{token}.json").json()
    assert status == {"service_request_id": number, "token": token}
    assert city.http.get(f"{city.base}/requests/{number}.json").status_code == 200
    r = city.http.post(
        f"/api/v1/open311/submissions/{second}/reject", json={"reason": "广告"}, headers=acceptor
    )
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    assert (
        "declined"
        in _errors(
            city.http.get(f"{city.base}/tokens/{second}.json", headers={"Accept-Language": "en"}),
            404,
        )[0]
    )
    r = city.http.post(f"/api/v1/open311/submissions/{second}/accept", headers=acceptor)
    assert r.status_code == 400 and r.json()["error"]["code"] == "already_decided"


def test_default_screening(city: City) -> None:
    """Anti-spam defaults (docs/open311.md): too many links → reject; the same text from the same
    device → reject; a blocked word → held for a person."""
    city.policy('duplicate_window_minutes = 60\nblocked_words = ["代开发票"]\n')
    try:
        spam = "看这里 http://a.example http://b.example www.c.example"
        r = city.post(service_code="06010", lat=LAT, long=LON, description=spam)
        assert (
            "link"
            in _errors(
                city.http.post(
                    f"{city.base}/requests.json",
                    data={
                        "api_key": city.key,
                        "service_code": "06010",
                        "lat": LAT,
                        "long": LON,
                        "description": spam,
                    },
                    headers={"Accept-Language": "en"},
                ),
                400,
            )[0]
        )
        _errors(r, 400)
        first = city.post(
            service_code="06010", lat=LAT, long=LON, description="同样的话", device_id="d1"
        )
        assert first.status_code == 200
        again = city.post(
            service_code="06010", lat=LAT, long=LON, description="同样的话", device_id="d1"
        )
        assert "重复" in _errors(again, 400)[0]
        other_device = city.post(
            service_code="06010", lat=LAT, long=LON, description="同样的话", device_id="d2"
        )
        assert other_device.status_code == 200
        held = city.post(service_code="06010", lat=LAT, long=LON, description="专业代开发票")
        assert "token" in held.json()[0]
    finally:
        city.policy()


def flag_everything(sub: Any) -> Any:
    """A screening hook as a city would plug it in (``screening_hook`` in open311.toml)."""
    from cityops.services.open311 import Decision, Verdict

    if "hold" in sub.description:
        return Decision(Verdict.hold, "人工复核", "review")
    if "reject" in sub.description:
        return Decision(Verdict.reject, "自定义规则拒绝", "custom rule")
    return Decision(Verdict.accept)


def test_custom_screening_hook(city: City) -> None:
    city.policy(f'screening_hook = "{__name__}:flag_everything"\n')
    try:
        assert (
            "token"
            in city.post(service_code="06010", lat=LAT, long=LON, description="hold").json()[0]
        )
        assert (
            "自定义规则"
            in _errors(
                city.post(service_code="06010", lat=LAT, long=LON, description="reject"), 400
            )[0]
        )
        ok = city.post(service_code="06010", lat=LAT, long=LON, description="fine")
        assert "service_request_id" in ok.json()[0]
    finally:
        city.policy()


def test_rate_limits(city: City) -> None:
    """Per key (ApiKey.rate_per_minute) and per client address: a clear 429 with Retry-After,
    in the request's format."""
    fields = {"service_code": "06010", "lat": LAT, "long": LON}
    city.policy()  # fresh limiter windows
    for _ in range(2):
        assert city.post(key=city.slow_key, **fields).status_code == 200
    r = city.post("xml", key=city.slow_key, **fields)
    assert "API" in _errors(r, 429, "xml")[0]
    assert 0 < int(r.headers["Retry-After"]) <= 60
    assert city.post(**fields).status_code == 200  # another key is not affected
    (city.data_dir / "open311.toml").write_text("ip_rate_per_minute = 3\n", "utf-8")
    try:
        codes = [city.post(**fields).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
    finally:
        city.policy()


def test_body_limit(city: City) -> None:
    """A request body limit: 413 before anything is parsed, also for chunked bodies."""
    city.policy("max_body_bytes = 2048\n")
    try:
        r = city.post(service_code="06010", lat=LAT, long=LON, description="x" * 3000)
        assert _errors(r, 413)
        chunks = (part for part in [b"api_key=x&description=", b"y" * 4000])
        r = city.http.post(
            f"{city.base}/requests.json",
            content=chunks,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert _errors(r, 413)
        r = city.http.post(
            f"{city.base}/requests.json",
            content=b"api_key=" + quote(city.key).encode() + b"&service_code=06010&description=%FF",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert "UTF-8" in _errors(r, 400)[0]
    finally:
        city.policy()


# --- API keys through the admin API -----------------------------------------------------------------


def _login(city: City, user: str) -> dict[str, str]:
    r = city.http.post("/api/v1/auth/token", data={"username": user, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_admin_api_keys(city: City) -> None:
    admin = _login(city, "root")
    r = city.http.post(
        "/api/v1/open311/keys", json={"name": "街道 App", "rate_per_minute": 5}, headers=admin
    )
    assert r.status_code == 201, r.text
    key = r.json()["key"]
    assert key.startswith("o311_") and r.json()["prefix"] == key[:12]
    listed = city.http.get("/api/v1/open311/keys", headers=admin).json()
    assert any(k["name"] == "街道 App" and "key" not in k for k in listed)
    assert city.post(key=key, service_code="06010", lat=LAT, long=LON).status_code == 200
    r = city.http.delete(f"/api/v1/open311/keys/{r.json()['id']}", headers=admin)
    assert r.status_code == 200 and r.json()["revoked_at"]
    _errors(city.post(key=key, service_code="06010", lat=LAT, long=LON), 403)
    r = city.http.delete("/api/v1/open311/keys/99999", headers=admin)
    assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_api_key"
    clerk = _login(city, "shouli")
    r = city.http.get("/api/v1/open311/keys", headers=clerk)
    assert r.status_code == 403 and r.json()["error"]["code"] == "wrong_role"
