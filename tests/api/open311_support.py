"""What the Open311 tests share: a small city with cases in every state, API keys, the JSON
schemas transcribed from the GeoReport v2 text, and an XML → Spark-JSON reader.

The schemas are written from the "Response" tables of http://wiki.open311.org/GeoReport_v2 (and
Service_Discovery): required fields, value types, the closed value sets (status open|closed;
type realtime|batch|blackbox; datatype string|number|datetime|text|singlevaluelist|
multivaluelist) and the rule that every date/time carries its time zone ("Internationalization
and Encoding — Date/time format"). Optional fields ("May not be returned") may be null.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib.resources import files
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import jsonschema
from sqlalchemy import Engine, delete
from tests.api.conftest import LiveServer

from cityops.core.catalog import Kind
from cityops.services import cases, catalog, open311, rules
from cityops.services.geography import GridSettings, init_city
from cityops.services.orgs import add_org
from cityops.services.users import add_user, get_user
from cityops.store.db import session_factory, transaction
from cityops.store.schema import Base

TZ = ZoneInfo("Asia/Shanghai")
GULOU = (114.34310, 34.79383)  # WGS-84, beside 开封府 in 鼓楼区
PASSWORD = "Grid-Work-2026"
W3_TIME = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(Z|[+-]\d{2}:\d{2})$"
# The module's base policy: generous limits, so the tests' own traffic from 127.0.0.1 passes.
BASE_POLICY = "ip_rate_per_minute = 100000\nduplicate_window_minutes = 0\n"

_nullable_string = {"type": ["string", "null"]}
_time = {"type": "string", "pattern": W3_TIME}
_nullable_time = {"anyOf": [_time, {"type": "null"}]}

SERVICE = {
    "type": "object",
    "required": ["service_code", "service_name", "metadata", "type"],
    "properties": {
        "service_code": {"type": "string"},
        "service_name": {"type": "string"},
        "description": _nullable_string,
        "metadata": {"type": "boolean"},
        "type": {"enum": ["realtime", "batch", "blackbox"]},
        "keywords": _nullable_string,
        "group": _nullable_string,
    },
}
SERVICES = {"type": "array", "items": SERVICE}
SERVICE_DEFINITION = {
    "type": "object",
    "required": ["service_code", "attributes"],
    "properties": {
        "service_code": {"type": "string"},
        "attributes": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["variable", "code", "datatype", "required", "order", "description"],
                "properties": {
                    "variable": {"type": "boolean"},
                    "code": {"type": "string"},
                    "datatype": {
                        "enum": [
                            "string",
                            "number",
                            "datetime",
                            "text",
                            "singlevaluelist",
                            "multivaluelist",
                        ]
                    },
                    "required": {"type": "boolean"},
                    "datatype_description": _nullable_string,
                    "order": {"type": "integer", "minimum": 1},
                    "description": {"type": "string"},
                    "values": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["key", "name"],
                            "properties": {"key": {"type": "string"}, "name": {"type": "string"}},
                        },
                    },
                },
            },
        },
    },
}
REQUEST = {
    "type": "object",
    "required": ["service_request_id", "status", "service_code", "requested_datetime"],
    "properties": {
        "service_request_id": {"type": "string"},
        "status": {"enum": ["open", "closed"]},
        "status_notes": _nullable_string,
        "service_name": _nullable_string,
        "service_code": {"type": "string"},
        "description": {"type": ["string", "null"], "maxLength": 4000},
        "agency_responsible": _nullable_string,
        "service_notice": _nullable_string,
        "requested_datetime": _time,
        "updated_datetime": _nullable_time,
        "expected_datetime": _nullable_time,
        "address": _nullable_string,
        "address_id": _nullable_string,
        "zipcode": _nullable_string,
        "lat": {"type": ["number", "null"]},
        "long": {"type": ["number", "null"]},
        "media_url": {"anyOf": [{"type": "string", "pattern": "^https?://"}, {"type": "null"}]},
    },
}
REQUESTS = {"type": "array", "items": REQUEST}
# POST Service Request, Response: service_request_id or token, never both.
POST_RESPONSE = {
    "type": "array",
    "minItems": 1,
    "items": {
        "type": "object",
        "properties": {
            "service_request_id": {"type": "string"},
            "token": {"type": "string"},
            "service_notice": _nullable_string,
            "account_id": _nullable_string,
        },
        "oneOf": [{"required": ["service_request_id"]}, {"required": ["token"]}],
    },
}
TOKEN_RESPONSE = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["service_request_id", "token"],
        "properties": {"service_request_id": _nullable_string, "token": {"type": "string"}},
    },
}
ERRORS = {
    "type": "array",
    "minItems": 1,
    "items": {
        "type": "object",
        "required": ["code", "description"],
        "additionalProperties": False,
        "properties": {"code": {"type": "integer"}, "description": {"type": "string"}},
    },
}
# Service Discovery, "Fields for All Versions": all fields are required.
DISCOVERY = {
    "type": "object",
    "required": ["changeset", "contact", "key_service", "endpoints"],
    "properties": {
        "changeset": {"type": "string"},
        "contact": {"type": "string"},
        "key_service": {"type": "string"},
        "endpoints": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["specification", "url", "changeset", "type", "formats"],
                "properties": {
                    "specification": {"type": "string"},
                    "url": {"type": "string"},
                    "changeset": {"type": "string"},
                    "type": {"enum": ["production", "test"]},
                    "formats": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
    },
}


def valid(instance: Any, schema: dict[str, Any]) -> Any:
    jsonschema.validate(instance, schema)
    return instance


# --- XML -------------------------------------------------------------------------------------------

LIST_ITEMS = {
    "services": "service",
    "service_requests": "request",
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
    "errors": "error",
    "notes": "note",
    "photos": "photo",
}


def xml_root(r: httpx.Response, root: str) -> ET.Element:
    """Well-formed UTF-8 XML with the declaration first and the expected root element."""
    assert r.headers["content-type"] == "text/xml; charset=utf-8"
    assert r.content.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    el = ET.fromstring(r.content)
    assert el.tag == root, el.tag
    return el


def spark(el: ET.Element) -> Any:
    """The JSON the Spark convention maps this XML to (every leaf as text, empty as None)."""
    item = LIST_ITEMS.get(el.tag)
    if item is not None:
        assert all(child.tag == item for child in el), [c.tag for c in el]
        return [spark(child) for child in el]
    if len(el):
        return {child.tag: spark(child) for child in el}
    return el.text


def as_text(value: Any) -> Any:
    """A JSON value as the XML carries it (for comparing the two formats)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return [as_text(v) for v in value]
    if isinstance(value, dict):
        return {k: as_text(v) for k, v in value.items()}
    return value if value != "" else None


# --- the city ---------------------------------------------------------------------------------------


@dataclass
class City:
    http: httpx.Client
    base: str
    data_dir: Path
    key: str
    slow_key: str
    revoked_key: str
    numbers: dict[str, str] = field(default_factory=dict)

    def policy(self, text: str = "") -> None:
        """Replace the module's Open311 policy file (the server reloads it on change)."""
        given = {line.split("=")[0].strip() for line in text.splitlines() if "=" in line}
        base = [ln for ln in BASE_POLICY.splitlines() if ln.split("=")[0].strip() not in given]
        (self.data_dir / "open311.toml").write_text("\n".join([*base, text]) + "\n", "utf-8")

    def post(self, fmt: str = "json", key: str | None = None, **fields: Any) -> httpx.Response:
        data = {"api_key": self.key if key is None else key, **fields}
        return self.http.post(f"{self.base}/requests.{fmt}", data=data)


def build_city(engine: Engine, live_server: LiveServer) -> tuple[City, list[str]]:
    """鼓楼区 (410204) with 250 m grids, standards, Kaifeng's rules, staff, three API keys and four
    cases: an old public report (120 days ago), a patrol case dispatched to 执法 (handling), a
    voided public report, and a patrol case of a type the city marks non-public (06042)."""
    sessions = session_factory(engine)
    now = datetime.now(TZ).replace(microsecond=0)
    data = files("cityops.data")
    lon, lat = GULOU
    with transaction(sessions) as s:
        catalog.ensure_standard_catalog(s)
        init_city(s, "410200", districts=["410204"], settings=GridSettings(grid_size_m=250))
        add_org(s, "KF-CENTRE", "指挥中心", "centre", region_code="410200")
        for code, name in (
            ("KF-ZF", "综合行政执法支队"),
            ("KF-HW", "环卫处"),
            ("KF-GL", "鼓楼区城管局"),
            ("KF-SZ", "市政工程管理处"),
            ("KF-YL", "园林绿化管理处"),
            ("KF-LD", "路灯管理所"),
        ):
            add_org(s, code, name, "department", parent_code="KF-CENTRE")
        for user, role in (
            ("root", "admin"),
            ("shouli", "acceptor"),
            ("paiqian", "dispatcher"),
            ("jiandu", "supervisor"),
        ):
            add_user(s, user, PASSWORD, [role], org_code="KF-CENTRE")
        rules.import_standards(s, Path(str(data / "standards" / "default_standards.csv")))
        rules.import_rules(s, Path(str(data / "demo" / "kaifeng_rules.csv")))
        catalog.update_type(s, "06042", kind=Kind.matter, public=False)
        catalog.update_type(s, "06010", kind=Kind.matter, keywords="垃圾，暴露垃圾、trash")
        _, key = open311.create_key(s, "测试客户端", rate_per_minute=10_000)
        _, slow_key = open311.create_key(s, "slow", rate_per_minute=2)
        revoked, revoked_key = open311.create_key(s, "old app")
        open311.revoke_key(s, revoked.id)

        def report(user: str | None, code: str, text: str, at: datetime, **kw: Any) -> str:
            reporter = get_user(s, user) if user else None
            new = cases.NewCase(
                source="patrol" if user else "public",
                type_code=code,
                description=text,
                lon=lon,
                lat=lat,
                **kw,
            )
            return cases.create_case(s, reporter, new, now=at).case.number

        numbers = {
            "old": report(None, "06010", "很久以前的暴露垃圾", now - timedelta(days=120)),
            "handling": report(
                "jiandu", "06036", "人行道乱堆杂物", now - timedelta(days=2), address="鼓楼街"
            ),
            "voided": report(
                None,
                "06012",
                "道路有油污，我是王小五，电话13912345678",
                now - timedelta(days=1),
                reporter_name="王小五",
                reporter_phone="13912345678",
                reporter_contact="wang@example.com",
            ),
            "hidden": report("jiandu", "06042", "垃圾站满溢", now - timedelta(hours=5)),
        }
    for number, user, action, t, kw in (
        (
            numbers["handling"],
            "shouli",
            "register",
            now - timedelta(days=2) + timedelta(minutes=5),
            {"condition": "公共区域乱堆乱放杂物"},
        ),
        (
            numbers["handling"],
            "paiqian",
            "dispatch",
            now - timedelta(days=2) + timedelta(minutes=10),
            {"department": "KF-ZF"},
        ),
        (
            numbers["voided"],
            "shouli",
            "void",
            now - timedelta(days=1) + timedelta(minutes=30),
            {"reason": "重复上报，已致电13900001111告知"},
        ),
    ):
        with transaction(sessions) as s:
            cases.act(s, number, action, get_user(s, user), cases.ActionRequest(**kw), now=t)
    data_dir = live_server.server.config.app.state.settings.data_dir  # type: ignore[attr-defined]
    http = httpx.Client(base_url=live_server.url, timeout=20)
    city = City(http, "/open311/v2", Path(data_dir), key, slow_key, revoked_key, numbers)
    city.policy()
    return city, list(numbers.values())


def teardown_city(city: City, engine: Engine) -> None:
    city.http.close()
    (city.data_dir / "open311.toml").unlink(missing_ok=True)
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(delete(table))


def jdump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)
