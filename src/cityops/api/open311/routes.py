"""``/open311/v2``: GeoReport v2 for citizen apps and integrators (docs/open311.md).

Every answer, errors included, comes in the format the path names (``.json`` or ``.xml``);
errors are GeoReport's ``[{code, description}]`` with 400, 403 or 404 (and 413, 429), never the
internal API's error body. The handlers are adapters: the rules live in services/open311.py.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from dataclasses import replace
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from cityops.api.errors import request_locale
from cityops.api.open311.body import Body, read_body
from cityops.api.open311.render import FORMATS, Format, error_response, render
from cityops.core.errors import CityopsError
from cityops.services import attachments as att
from cityops.services import open311 as svc
from cityops.services.calendar import city_clock
from cityops.store.blobs import DiskBlobStore
from cityops.store.db import transaction

log = logging.getLogger("cityops.open311")
PREFIX = "/open311/v2"


def _format(request: Request) -> Format:
    fmt = request.path_params.get("fmt")
    for f in FORMATS:
        if fmt == f:
            return f
    if fmt is None and request.url.path.endswith(".xml"):
        return "xml"
    return "json"


class Open311Route(APIRoute):
    """Renders every failure of a route as a GeoReport error in the route's format."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            fmt = _format(request)
            locale = request_locale(request)
            try:
                if "fmt" in request.path_params and request.path_params["fmt"] not in FORMATS:
                    given = request.path_params["fmt"]
                    raise svc.Open311Error(
                        400,
                        f"不支持的格式 .{given}：请用 .json 或 .xml",
                        f"unsupported format .{given}: use .json or .xml",
                        code="bad_format",
                    )
                return await handler(request)
            except CityopsError as exc:
                return error_response(fmt, svc.as_open311(exc), locale)
            except RequestValidationError as exc:
                fields = ", ".join(".".join(str(p) for p in e.get("loc", ())) for e in exc.errors())
                err = svc.Open311Error(
                    400, f"请求参数不正确：{fields}", f"invalid request: {fields}"
                )
                return error_response(fmt, err, locale)
            except Exception:  # GeoReport v2: "400 - General service error"
                log.exception("open311: unhandled error on %s %s", request.method, request.url.path)
                err = svc.Open311Error(
                    400,
                    "服务暂时无法处理该请求，已记录日志",
                    "general service error; it has been logged",
                    code="general_error",
                )
                return error_response(fmt, err, locale)

        return route


router = APIRouter(prefix=PREFIX, tags=["open311"], route_class=Open311Route)


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + PREFIX


def _preferred_city(request: Request) -> str:
    return str(request.app.state.settings.default_city)


def _jurisdiction(request: Request) -> str:
    return request.query_params.get("jurisdiction_id", "").strip()


def _runtime(request: Request) -> svc.Runtime:
    return svc.runtime_for(request.app.state.settings.data_dir)


def _store(request: Request) -> DiskBlobStore:
    return DiskBlobStore(request.app.state.settings.data_dir / "blobs")


# --- discovery, services ---------------------------------------------------------------------------


@router.get("/discovery.{fmt}", summary="Service Discovery")
def discovery(request: Request, fmt: str) -> Response:
    policy = _runtime(request).policy
    with transaction(request.app.state.sessions) as s:
        changed = svc.changeset(s)
        tz = city_clock(s).tz
    stamp = changed.astimezone(tz).strftime("%Y-%m-%d %H:%M") if changed else "1970-01-01 00:00"
    body = {
        "changeset": stamp,
        "contact": policy.contact,
        "key_service": policy.key_service,
        "endpoints": [
            {
                "specification": svc.SPECIFICATION,
                "url": _base(request),
                "changeset": stamp,
                "type": policy.endpoint_type,
                "formats": ["text/xml", "application/json"],
            }
        ],
    }
    return render(_format(request), "discovery", body)


@router.get("/services.{fmt}", summary="GET Service List")
def services(request: Request, fmt: str) -> Response:
    policy = _runtime(request).policy
    with transaction(request.app.state.sessions) as s:
        svc.check_jurisdiction(s, _jurisdiction(request), _preferred_city(request))
        body = svc.service_list(s, policy, locale=request_locale(request))
    return render(_format(request), "services", body)


@router.get("/services/{service_code}.{fmt}", summary="GET Service Definition")
def service_definition(request: Request, service_code: str, fmt: str) -> Response:
    with transaction(request.app.state.sessions) as s:
        svc.check_jurisdiction(s, _jurisdiction(request), _preferred_city(request))
        body = svc.service_definition(s, service_code, locale=request_locale(request))
    return render(_format(request), "service_definition", body)


# --- POST requests ------------------------------------------------------------------------------------


def _first(body: Body, name: str) -> str:
    return next((v.strip() for v in body.values.get(name, []) if v.strip()), "")


def _create(request: Request, body: Body, runtime: svc.Runtime, ip: str) -> dict[str, Any]:
    locale = request_locale(request)
    with transaction(request.app.state.sessions) as s:
        key = svc.check_key(s, _first(body, "api_key"))
        runtime.limit_key(key)
        svc.check_jurisdiction(s, _first(body, "jurisdiction_id"), _preferred_city(request))
        sub = svc.parse_submission(body.values)
        if len(body.files) > runtime.policy.max_media:
            raise svc.Open311Error(
                400,
                f"media 最多 {runtime.policy.max_media} 个文件",
                f"at most {runtime.policy.max_media} media files",
            )
        now = datetime.now(city_clock(s).tz)
        sub = replace(sub, ip=ip, api_key_id=key.id, received_at=now.isoformat(timespec="seconds"))
        receipt = svc.submit(
            s,
            sub,
            runtime.screen,
            uploads=body.files,
            store=_store(request),
            locale=locale,
            now=now,
        )
    if receipt.token is not None:
        return {"token": receipt.token, "service_notice": receipt.notice}
    return {"service_request_id": receipt.service_request_id, "service_notice": receipt.notice}


@router.post("/requests.{fmt}", summary="POST Service Request (api_key required)")
async def post_request(request: Request, fmt: str) -> Response:
    """Form-encoded as the specification says; multipart with ``media`` files (v2.1 draft) or
    JSON also work. Answers the service_request_id, or a token when the report is held."""
    runtime = _runtime(request)
    ip = request.client.host if request.client else ""
    runtime.limit_ip(ip)
    body = await read_body(request, runtime.policy)
    answer = await run_in_threadpool(_create, request, body, runtime, ip)
    return render(_format(request), "service_requests", [answer])


# --- GET requests, one request, tokens ------------------------------------------------------------


@router.get("/requests.{fmt}", summary="GET Service Requests")
def get_requests(request: Request, fmt: str) -> Response:
    """start_date/end_date (90 days at most; the last 90 days by default), status, service_code,
    service_request_id; extensions: page/page_size (≤ 500, totals in X-Total-Count and Link),
    bbox, lat/long/radius (metres), updated_after/updated_before, extensions=true."""
    with transaction(request.app.state.sessions) as s:
        svc.check_jurisdiction(s, _jurisdiction(request), _preferred_city(request))
        now = datetime.now(city_clock(s).tz)
        q = svc.parse_query(
            request.query_params.multi_items(),
            now=now,
            default_page_size=_runtime(request).policy.default_page_size,
        )
        rows, total = svc.find_requests(s, q)
        views = svc.request_views(
            s,
            rows,
            base_url=_base(request),
            locale=request_locale(request),
            extensions=q.extensions,
        )
    headers = {"X-Total-Count": str(total)}
    if not q.ids:
        headers |= {"X-Page": str(q.page), "X-Page-Size": str(q.page_size)}
        links = []
        url = request.url
        if q.page * q.page_size < total:
            links.append(f'<{url.include_query_params(page=q.page + 1)}>; rel="next"')
        if q.page > 1:
            links.append(f'<{url.include_query_params(page=q.page - 1)}>; rel="prev"')
        if links:
            headers["Link"] = ", ".join(links)
    return render(_format(request), "service_requests", views, headers=headers)


@router.get("/requests/{service_request_id}.{fmt}", summary="GET Service Request")
def get_request(request: Request, service_request_id: str, fmt: str) -> Response:
    extensions = request.query_params.get("extensions", "").lower() in ("true", "1", "yes")
    with transaction(request.app.state.sessions) as s:
        svc.check_jurisdiction(s, _jurisdiction(request), _preferred_city(request))
        row = svc.get_request(s, service_request_id)
        views = svc.request_views(
            s, [row], base_url=_base(request), locale=request_locale(request), extensions=extensions
        )
    return render(_format(request), "service_requests", views)


@router.get("/tokens/{token}.{fmt}", summary="GET service_request_id from a token")
def get_token(request: Request, token: str, fmt: str) -> Response:
    with transaction(request.app.state.sessions) as s:
        svc.check_jurisdiction(s, _jurisdiction(request), _preferred_city(request))
        body = svc.token_status(s, token)
    return render(_format(request), "service_requests", [body])


@router.get("/media/{service_request_id}/{attachment_id}", summary="A report photo (EXIF-stripped)")
def media(request: Request, service_request_id: str, attachment_id: str) -> Response:
    with transaction(request.app.state.sessions) as s:
        row = svc.public_photo(s, service_request_id, attachment_id)
        data = att.read_attachment(_store(request), row, public=True)
        content_type = row.content_type
    return Response(
        data, media_type=content_type, headers={"Cache-Control": "public, max-age=86400"}
    )


@router.api_route(
    "/{rest:path}",
    methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
    include_in_schema=False,
)
def unknown(request: Request, rest: str) -> Response:
    raise svc.Open311Error(
        404,
        f"没有这个资源：{PREFIX}/{rest}",
        f"no such resource: {PREFIX}/{rest}",
        code="not_found",
    )
