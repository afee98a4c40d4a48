"""A real Open311 client from PyPI against our server: ``georeport`` (GeoReport v2 wrapper, built
on ``requests`` and ``xmltodict``), in both of its output formats, on both databases.

``georeport`` reads (service list, definitions, requests, one request); it does not post. The
older clients on PyPI that post (``three`` 0.8, ``open311`` 1.1) are Python 2 only, so POST goes
through ``requests`` exactly as those clients send it: form-encoded, ``attribute[code]`` keys.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from georeport import GeoReport
from sqlalchemy import Engine
from tests.api.conftest import LiveServer
from tests.api.open311_support import GULOU, City, build_city, teardown_city

LON, LAT = GULOU
pytestmark = pytest.mark.xdist_group("open311_client")


@pytest.fixture(scope="module")
def city(engine: Engine, live_server: LiveServer) -> Iterator[City]:
    built, _ = build_city(engine, live_server)
    yield built
    teardown_city(built, engine)


@pytest.fixture(params=["json", "xml"])
def client(request: pytest.FixtureRequest, city: City, live_server: LiveServer) -> GeoReport:
    return GeoReport(
        f"{live_server.url}/open311/v2",
        jurisdiction="410200",
        api_key=city.key,
        output_format=request.param,
    )


def test_georeport_reads_services_and_definitions(client: GeoReport) -> None:
    services = client.get_service_list()
    by_code = {s["service_code"]: s for s in services}
    assert by_code["06001"]["service_name"] == "私搭乱建"
    assert by_code["06001"]["group"] == "市容环境类"
    assert "06042" not in by_code  # not public
    definition = client.get_service_definition("06001")
    assert definition["service_code"] == "06001"
    attrs = definition["attributes"]
    # xmltodict turns <attributes><attribute>… into {"attribute": …}; JSON gives the array
    attribute = attrs[0] if isinstance(attrs, list) else attrs["attribute"]
    assert attribute["code"] == "condition"
    assert attribute["datatype"] == "singlevaluelist"


def test_post_then_georeport_reads_it_back(
    client: GeoReport, city: City, live_server: LiveServer
) -> None:
    r = requests.post(
        f"{live_server.url}/open311/v2/requests.json",
        data={
            "api_key": city.key,
            "jurisdiction_id": "410200",
            "service_code": "06001",
            "lat": LAT,
            "long": LON,
            "address_string": "鼓楼广场",
            "description": f"有人在搭棚子（{client.output_format}）",
            "attribute[condition]": "1",
            "email": "someone@example.com",
            "first_name": "Ming",
            "last_name": "Li",
        },
        timeout=10,
    )
    assert r.status_code == 200, r.text
    number = r.json()[0]["service_request_id"]

    one = client.get_service_request(number)
    assert one["service_request_id"] == number
    assert one["status"] == "open"
    assert one["service_code"] == "06001"
    assert one["description"].startswith(f"有人在搭棚子（{client.output_format}）")
    assert one["requested_datetime"].endswith("+08:00")
    assert "someone@example.com" not in str(one) and "Ming" not in str(one)

    many = client.get_service_requests(service_code="06001,06036", status="open")
    items = many if isinstance(many, list) else [many]  # xmltodict: one element is not a list
    assert number in {i["service_request_id"] for i in items}
    assert city.numbers["handling"] in {i["service_request_id"] for i in items}

    by_id = client.get_service_requests(service_request_id=f"{number},{city.numbers['voided']}")
    assert [i["service_request_id"] for i in by_id] == [number, city.numbers["voided"]]
    assert by_id[1]["status"] == "closed"


def test_georeport_sees_http_errors(client: GeoReport) -> None:
    with pytest.raises(requests.HTTPError) as err:
        client.get_service_request("410204-19990101-0001")
    assert err.value.response.status_code == 404
