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

from anyio import CapacityLimiter, to_thread
from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from cityops.api.errors import request_locale
from cityops.api.open311.body import Body, read_body
from cityops.api.open311.render import (
    FORMATS,
    ElementCache,
    Format,
    body_of,
    error_response,
    json_array,
    render,
    respond,
    to_json,
)
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


def _db(request: Request) -> str:
    return str(request.app.state.engine.url)


def _directory(request: Request) -> svc.Directory:
    """The catalog and department names as Open311 shows them (checked against the database
    at most every ``svc.DIRECTORY_TTL`` s), after checking a jurisdiction_id if one was given."""
    with transaction(request.app.state.sessions) as s:
        svc.check_jurisdiction(s, _jurisdiction(request), _preferred_city(request))
        return svc.directory(s)


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
async def services(request: Request, fmt: str) -> Response:
    """Rendered once per state of the catalog, language, policy and format, then answered from
    memory: no thread, no database, unless the catalog is due for a check (at most every
    ``svc.DIRECTORY_TTL`` s; changes made in this process are seen at once) or a
    jurisdiction_id must be checked."""
    policy = _runtime(request).policy
    d = None if _jurisdiction(request) else svc.fresh_directory(_db(request))
    if d is None:
        d = await run_in_threadpool(_directory, request)
    f, locale = _format(request), request_locale(request)
    body = d.memo(
        ("services", f, locale, policy.hold_all),
        lambda: body_of(f, "services", svc.services_of(d, policy, locale=locale)),
    )
    return respond(f, body)


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
    with (
        svc.one_writer(request.app.state.engine),
        transaction(request.app.state.sessions) as s,
    ):
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


# Rendered JSON request elements by (view context, case id, version, updated_at): a page of
# recent requests asked for again costs one index read of ids and versions, and only cases
# that changed since are read in full and rendered again.
_elements = ElementCache()


def _json_page(s: Session, request: Request, q: svc.RequestQuery) -> tuple[bytes, svc.RequestPage]:
    """The JSON list a query asks for, from rendered elements kept by the exact state of their
    case; cases not kept (or changed) are read and rendered: by id when they are a few, with
    the page's own statement when they are most of the page (a page nobody asked for yet)."""
    base, locale = _base(request), request_locale(request)
    context = svc.view_context(s, base_url=base, locale=locale)
    page = svc.find_request_keys(s, q)
    keys = page.rows
    cached = [_elements.get((context, k.id, k.version, k.updated_at)) for k in keys]
    missing = [k.id for k, hit in zip(keys, cached, strict=True) if hit is None]
    fresh: dict[int, bytes] = {}
    if missing:
        if len(missing) * 4 > len(keys):
            wanted = set(missing)
            again = replace(q, paged=False)  # counted already, if at all
            rows = [r for r in svc.find_requests(s, again).rows if r.id in wanted]
        else:
            rows = svc.requests_by_id(s, missing)
        views = svc.request_views(s, rows, base_url=base, locale=locale)
        for row, view in zip(rows, views, strict=True):
            fresh[row.id] = to_json(view)
        _elements.put(
            ((context, row.id, row.version, row.updated_at), fresh[row.id]) for row in rows
        )
    parts = []
    for k, hit in zip(keys, cached, strict=True):
        element = hit if hit is not None else fresh.get(k.id)  # None: hidden meanwhile
        if element is not None:
            parts.append(element)
    return json_array(parts), page


def _reader(request: Request) -> CapacityLimiter | None:
    """The threads Open311 list reads run in: on SQLite one (created with the app's loop).

    pysqlite lets go of the GIL for every row it steps through; with many threads reading at
    once, each row then waits for the GIL to come back, and a page of 500 rows waits 500 times.
    Measured with 16 clients on the 1M-case benchmark: one thread 366–455 requests/s, p99
    64–82 ms; FastAPI's pool of 40 threads 178–246 requests/s, p99 383–424 ms. PostgreSQL
    (None) waits on the network once per statement: the default pool."""
    state = request.app.state
    limiter: CapacityLimiter | None = getattr(state, "open311_reader", None)
    if limiter is None and state.engine.dialect.name == "sqlite":
        limiter = state.open311_reader = CapacityLimiter(1)
    return limiter


@router.get("/requests.{fmt}", summary="GET Service Requests")
async def get_requests(request: Request, fmt: str) -> Response:
    """start_date/end_date (90 days at most; the last 90 days by default), status, service_code,
    service_request_id; extensions: page/page_size (≤ 500; Link to the next and previous pages,
    the total in X-Total-Count when counted: see find_requests), bbox, lat/long/radius (metres),
    updated_after/updated_before, extensions=true."""
    return await to_thread.run_sync(_list_requests, request, limiter=_reader(request))


def _list_requests(request: Request) -> Response:
    f = _format(request)
    with transaction(request.app.state.sessions) as s:
        svc.check_jurisdiction(s, _jurisdiction(request), _preferred_city(request))
        now = datetime.now(city_clock(s).tz)
        q = svc.parse_query(
            request.query_params.multi_items(),
            now=now,
            default_page_size=_runtime(request).policy.default_page_size,
        )
        if f == "json" and not q.extensions:
            body, page = _json_page(s, request, q)
        else:
            page = svc.find_requests(s, q)
            views = svc.request_views(
                s,
                page.rows,
                base_url=_base(request),
                locale=request_locale(request),
                extensions=q.extensions,
            )
            body = body_of(f, "service_requests", views)
    headers = {}
    if page.total is not None:  # not counted: a full first page without paging arguments
        headers["X-Total-Count"] = str(page.total)
    if not q.ids:
        headers |= {"X-Page": str(q.page), "X-Page-Size": str(q.page_size)}
        links = []
        url = request.url
        if page.more:
            links.append(f'<{url.include_query_params(page=q.page + 1)}>; rel="next"')
        if q.page > 1:
            links.append(f'<{url.include_query_params(page=q.page - 1)}>; rel="prev"')
        if links:
            headers["Link"] = ", ".join(links)
    return respond(f, body, headers=headers)


def _one_request(request: Request, number: str) -> bytes:
    extensions = request.query_params.get("extensions", "").lower() in ("true", "1", "yes")
    with transaction(request.app.state.sessions) as s:
        svc.check_jurisdiction(s, _jurisdiction(request), _preferred_city(request))
        row = svc.get_request(s, number)
        views = svc.request_views(
            s, [row], base_url=_base(request), locale=request_locale(request), extensions=extensions
        )
    return body_of(_format(request), "service_requests", views)


@router.get("/requests/{service_request_id}.{fmt}", summary="GET Service Request")
async def get_request(request: Request, service_request_id: str, fmt: str) -> Response:
    """One statement on the case number's unique index. On SQLite it runs on the event loop:
    a read there never waits for a writer (WAL) and takes a few tens of microseconds, less than
    handing it to a worker thread and back; on PostgreSQL (a network round trip) it goes to
    the thread pool like the other reads."""
    if request.app.state.engine.dialect.name == "sqlite":
        body = _one_request(request, service_request_id)
    else:
        body = await run_in_threadpool(_one_request, request, service_request_id)
    return respond(_format(request), body)


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
