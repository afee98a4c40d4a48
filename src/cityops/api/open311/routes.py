"""``/open311/v2``: GeoReport v2 for citizen apps and integrators (docs/open311.md).

Every answer, errors included, comes in the format the path names (``.json`` or ``.xml``);
errors are GeoReport's ``[{code, description}]`` with 400, 403 or 404 (and 413, 429), never the
internal API's error body. The handlers are adapters: the rules live in services/open311.py.
"""

from __future__ import annotations

import inspect
import itertools
import logging
from collections.abc import Callable, Coroutine, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, tzinfo
from typing import Any, TypeVar

from anyio import CapacityLimiter, to_thread
from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from cityops.api.deps import intake_writer
from cityops.api.errors import request_locale
from cityops.api.open311 import cors
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


E = TypeVar("E", bound=Callable[..., Any])


def direct(endpoint: E) -> E:
    """Marks an endpoint that takes the request and its path parameters (all ``str``) and
    returns a Response: ``Open311Route`` calls it as it is, without FastAPI's request handler
    (dependency solving, parameter validation, response serialisation): for the busy reads,
    which read their query arguments themselves. The signature still documents the route."""
    endpoint.open311_direct = True  # type: ignore[attr-defined]
    return endpoint


def _direct_handler(route: APIRoute) -> Callable[[Request], Coroutine[Any, Any, Response]]:
    endpoint = route.endpoint
    names = [n for n in inspect.signature(endpoint).parameters if n != "request"]
    if set(names) != set(route.param_convertors):
        raise TypeError(f"{route.path}: a direct endpoint takes the request and path parameters")
    if inspect.iscoroutinefunction(endpoint):

        async def call(request: Request) -> Response:
            return await endpoint(request, **request.path_params)  # type: ignore[no-any-return]

    else:

        async def call(request: Request) -> Response:
            return await run_in_threadpool(endpoint, request, **request.path_params)

    return call


class Open311Route(APIRoute):
    """Renders every failure of a route as a GeoReport error in the route's format, and adds
    the CORS headers the policy gives (cors.py) to every answer, errors included."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        if getattr(self.endpoint, "open311_direct", False):
            handler = _direct_handler(self)
        else:
            handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            response = await answer(request)
            if request.method != "OPTIONS":  # a preflight's answer is all CORS already
                try:
                    policy = _runtime(request).policy
                except CityopsError:  # a broken policy file: its own error says so
                    return response
                cors.add_headers(response, request, policy)
            return response

        async def answer(request: Request) -> Response:
            fmt = _format(request)
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
                return error_response(fmt, svc.as_open311(exc), request_locale(request))
            except RequestValidationError as exc:
                fields = ", ".join(".".join(str(p) for p in e.get("loc", ())) for e in exc.errors())
                err = svc.Open311Error(
                    400, f"请求参数不正确：{fields}", f"invalid request: {fields}"
                )
                return error_response(fmt, err, request_locale(request))
            except Exception:  # GeoReport v2: "400 - General service error"
                log.exception("open311: unhandled error on %s %s", request.method, request.url.path)
                err = svc.Open311Error(
                    400,
                    "服务暂时无法处理该请求，已记录日志",
                    "general service error; it has been logged",
                    code="general_error",
                )
                return error_response(fmt, err, request_locale(request))

        return route


router = APIRouter(prefix=PREFIX, tags=["open311"], route_class=Open311Route)


_bases: dict[tuple[Any, ...], str] = {}


def _base(request: Request) -> str:
    """The URL of ``/open311/v2`` as the client reached it (media links, paging links): what
    Starlette's ``request.base_url`` gives, kept by the parts of the request it is made of."""
    scope = request.scope
    host = next((v for k, v in scope["headers"] if k == b"host"), None)
    get = scope.get
    key = (get("scheme"), get("server"), get("root_path"), get("app_root_path"), host)
    base = _bases.get(key)
    if base is None:
        if len(_bases) >= 1000:  # the Host header is the client's: keep the memo small
            _bases.clear()
        base = _bases[key] = str(request.base_url).rstrip("/") + PREFIX
    return base


def _preferred_city(request: Request) -> str:
    return str(request.app.state.settings.default_city)


def _jurisdiction(request: Request) -> str:
    return request.query_params.get("jurisdiction_id", "").strip()


def _runtime(request: Request) -> svc.Runtime:
    """The policy and its limiters, looked up once per request (the handler, then CORS)."""
    scope = request.scope
    runtime: svc.Runtime | None = scope.get("cityops.open311_runtime")
    if runtime is None:
        runtime = svc.runtime_for(request.app.state.settings.data_dir)
        scope["cityops.open311_runtime"] = runtime
    return runtime


def _db(request: Request) -> str:
    """The key of the app's database in the process-wide caches (``str(engine.url)``, kept:
    rendering a URL costs more than the rest of a cached answer)."""
    state = request.app.state
    key: str | None = getattr(state, "open311_db", None)
    if key is None:
        key = state.open311_db = str(state.engine.url)
    return key


def _directory(request: Request) -> svc.Directory:
    """The catalog and department names as Open311 shows them (checked against the database
    at most every ``svc.DIRECTORY_TTL`` s), after checking a jurisdiction_id if one was given."""
    with transaction(request.app.state.sessions) as s:
        svc.check_jurisdiction(s, _jurisdiction(request), _preferred_city(request))
        return svc.directory(s)


def _store(request: Request) -> DiskBlobStore:
    return DiskBlobStore(request.app.state.settings.data_dir / "blobs")


@contextmanager
def _loop_connection(request: Request) -> Iterator[Connection]:
    """The connection SQLite reads on the event loop share (one thread, one at a time): kept
    open between requests instead of a checkout from the pool and back for each (~15 % of a
    requests/{id}). Between requests it holds no transaction, so no snapshot and no lock (a
    SELECT on SQLite's driver begins none; one begun anyway is rolled back); after a database
    error it is closed and the next request opens another."""
    state = request.app.state
    conn: Connection | None = getattr(state, "open311_loop_connection", None)
    if conn is None or conn.closed:
        conn = state.open311_loop_connection = state.engine.connect()
    try:
        yield conn
    except SQLAlchemyError:
        state.open311_loop_connection = None
        conn.close()
        raise
    finally:
        if not conn.closed and conn.in_transaction():
            conn.rollback()


@contextmanager
def _reading(
    request: Request, *, on_loop: bool = False
) -> Iterator[tuple[svc.Reader, svc.Directory, tzinfo]]:
    """A read of public requests with what their views need besides the rows.

    Usually the directory and the city's clock need no check (``svc.fresh_view``) and no
    jurisdiction_id is given: the statements then run on an engine connection (``on_loop``:
    the event loop's, ``_loop_connection``), without an ORM Session to set up, begin, commit
    and close (about four times the cost of the connection). Otherwise a session checks them
    (at most every ``svc.DIRECTORY_TTL`` s) and the jurisdiction_id. The rows are the same
    either way."""
    state = request.app.state
    given = _jurisdiction(request)
    known = None if given else svc.fresh_view(_db(request))
    if known is not None:
        with _loop_connection(request) if on_loop else state.engine.connect() as conn:
            yield conn, *known
        return
    with transaction(state.sessions) as s:
        svc.check_jurisdiction(s, given, _preferred_city(request))
        yield s, svc.directory(s), city_clock(s).tz


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
@direct
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
    """A report with uploaded files, in a worker thread: the writer's job run on its own
    transaction (the files are saved only once the checks have passed)."""
    with (
        svc.one_writer(request.app.state.engine),
        transaction(request.app.state.sessions) as s,
    ):
        return _create_job(request, body, runtime, ip)(s)(s)


def _answer(receipt: svc.Receipt) -> dict[str, Any]:
    if receipt.token is not None:
        return {"token": receipt.token, "service_notice": receipt.notice}
    return {"service_request_id": receipt.service_request_id, "service_notice": receipt.notice}


def _create_job(
    request: Request, body: Body, runtime: svc.Runtime, ip: str
) -> Callable[[Session], Callable[[Session], dict[str, Any]]]:
    """A report as a job of the intake's group writer (``_create`` runs it alone when it has
    files): the checks, then the writes. A job may be prepared again after its group failed:
    the key's rate limiter and the screening are consulted once (``memo``)."""
    locale = request_locale(request)
    memo: dict[str, Any] = {}
    store = _store(request)

    def prepare(s: Session) -> Callable[[Session], dict[str, Any]]:
        key = svc.check_key(s, _first(body, "api_key"))
        if "limited" in memo:
            if memo["limited"] is not None:
                raise memo["limited"]
        else:
            try:
                runtime.limit_key(key)
                memo["limited"] = None
            except svc.Open311Error as exc:
                memo["limited"] = exc
                raise
        svc.check_jurisdiction(s, _first(body, "jurisdiction_id"), _preferred_city(request))
        sub = svc.parse_submission(body.values)
        if len(body.files) > runtime.policy.max_media:
            raise svc.Open311Error(
                400,
                f"media 最多 {runtime.policy.max_media} 个文件",
                f"at most {runtime.policy.max_media} media files",
            )
        now = memo.setdefault("now", datetime.now(city_clock(s).tz))
        sub = replace(sub, ip=ip, api_key_id=key.id, received_at=now.isoformat(timespec="seconds"))
        write = svc.prepare_submit(
            s,
            sub,
            runtime.screen,
            uploads=body.files,
            store=store,
            locale=locale,
            now=now,
            memo=memo,
        )
        return lambda s2: _answer(write(s2))

    return prepare


@router.post("/requests.{fmt}", summary="POST Service Request (api_key required)")
async def post_request(request: Request, fmt: str) -> Response:
    """Form-encoded as the specification says; multipart with ``media`` files (v2.1 draft) or
    JSON also work. Answers the service_request_id, or a token when the report is held.

    Reports without files are written by the intake's group writer (services/writer.py),
    several concurrent reports in one transaction, each with its own answer."""
    runtime = _runtime(request)
    ip = request.client.host if request.client else ""
    runtime.limit_ip(ip)
    body = await read_body(request, runtime.policy)
    if body.files:
        answer = await run_in_threadpool(_create, request, body, runtime, ip)
    else:
        answer = await intake_writer(request).arun(_create_job(request, body, runtime, ip))
    return render(_format(request), "service_requests", [answer])


# --- GET requests, one request, tokens ------------------------------------------------------------


# Rendered JSON request elements by (view context, case id, version, updated_at): a page of
# recent requests asked for again costs one index read of ids and versions, and only cases
# that changed since are read in full and rendered again.
_elements = ElementCache()
_contexts: dict[Hashable, int] = {}
_context_ids = itertools.count()


def _context_id(context: Hashable) -> int:
    """A number for a view context in element keys: cheaper to hash 500 times a page than the
    context itself. Numbers are never reused, so forgetting the contexts is always safe."""
    found = _contexts.get(context)
    if found is None:
        if len(_contexts) >= 1000:  # the base URL follows the client's Host header
            _contexts.clear()
        found = _contexts.setdefault(context, next(_context_ids))
    return found


def _json_page(
    db: svc.Reader, d: svc.Directory, tz: tzinfo, request: Request, q: svc.RequestQuery
) -> tuple[bytes, svc.RequestPage]:
    """The JSON list a query asks for, from rendered elements kept by the exact state of their
    case; cases not kept (or changed) are read and rendered: by id when they are a few, with
    the page's own statement when they are most of the page (a page nobody asked for yet)."""
    base, locale = _base(request), request_locale(request)
    context = _context_id(svc.context_of(d, tz, base_url=base, locale=locale))
    page = svc.find_request_keys(db, q)
    keys = page.rows  # (id, number, version, updated_at)
    cached = _elements.get_many((context, i, version, updated) for i, _, version, updated in keys)
    missing = [k[0] for k, hit in zip(keys, cached, strict=True) if hit is None]
    fresh: dict[int, bytes] = {}
    if missing:
        if len(missing) * 4 > len(keys):
            wanted = set(missing)
            again = replace(q, paged=False)  # counted already, if at all
            rows = [r for r in svc.find_requests(db, again).rows if r.id in wanted]
        else:
            rows = svc.requests_by_id(db, missing)
        views = svc.views_of(db, rows, d, tz, base_url=base, locale=locale)
        for row, view in zip(rows, views, strict=True):
            fresh[row.id] = to_json(view)
        _elements.put(
            ((context, row.id, row.version, row.updated_at), fresh[row.id]) for row in rows
        )
    parts = [
        hit if hit is not None else fresh.get(k[0])  # None: hidden meanwhile
        for k, hit in zip(keys, cached, strict=True)
    ]
    return json_array(p for p in parts if p is not None), page


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
@direct
async def get_requests(request: Request, fmt: str) -> Response:
    """start_date/end_date (90 days at most; the last 90 days by default), status, service_code,
    service_request_id; extensions: page/page_size (≤ 500; Link to the next and previous pages,
    the total in X-Total-Count when counted: see find_requests), bbox, lat/long/radius (metres),
    updated_after/updated_before, extensions=true."""
    return await to_thread.run_sync(_list_requests, request, limiter=_reader(request))


def _list_requests(request: Request) -> Response:
    f = _format(request)
    with _reading(request) as (db, d, tz):
        q = svc.parse_query(
            request.query_params.multi_items(),
            now=datetime.now(tz),
            default_page_size=_runtime(request).policy.default_page_size,
        )
        if f == "json" and not q.extensions:
            body, page = _json_page(db, d, tz, request, q)
        else:
            page = svc.find_requests(db, q)
            views = svc.views_of(
                db,
                page.rows,
                d,
                tz,
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


def _one_request(request: Request, number: str, *, on_loop: bool = False) -> bytes:
    extensions = request.query_params.get("extensions", "").lower() in ("true", "1", "yes")
    with _reading(request, on_loop=on_loop) as (db, d, tz):
        row = svc.get_request(db, number)
        views = svc.views_of(
            db,
            [row],
            d,
            tz,
            base_url=_base(request),
            locale=request_locale(request),
            extensions=extensions,
        )
    return body_of(_format(request), "service_requests", views)


@router.get("/requests/{service_request_id}.{fmt}", summary="GET Service Request")
@direct
async def get_request(request: Request, service_request_id: str, fmt: str) -> Response:
    """One statement on the case number's unique index. On SQLite it runs on the event loop:
    a read there never waits for a writer (WAL) and takes a few tens of microseconds, less than
    handing it to a worker thread and back; on PostgreSQL (a network round trip) it goes to
    the thread pool like the other reads."""
    if request.app.state.engine.dialect.name == "sqlite":
        body = _one_request(request, service_request_id, on_loop=True)
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


@router.options("/{rest:path}", include_in_schema=False)
@direct
async def options(request: Request, rest: str) -> Response:
    """CORS preflight (and plain OPTIONS) for every path under /open311/v2 (cors.py)."""
    return cors.preflight(request, _runtime(request).policy)


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


# The busiest reads first: FastAPI tries a router's routes in order, twice per request (to
# match, then to handle). No two of these paths match the same URL, and the catch-all above
# stays last (the sort is stable).
_BUSY = [
    f"{PREFIX}/requests/{{service_request_id}}.{{fmt}}",
    f"{PREFIX}/services.{{fmt}}",
    f"{PREFIX}/requests.{{fmt}}",
]


def _busy_first(route: Any) -> int:
    path, methods = getattr(route, "path", None), getattr(route, "methods", None) or ()
    return _BUSY.index(path) if path in _BUSY and "GET" in methods else len(_BUSY)


router.routes.sort(key=_busy_first)
