"""The web interface: server-rendered pages (Jinja2) over the services, small ES modules for
interaction. Staff pages sign in with the session cookie of ``POST /api/v1/auth/session`` and
take actions through the JSON API, so the rules stay in one place. The public pages (report,
status, rating) and the field page for supervisors are phone-sized.
"""

from __future__ import annotations

import json
import tempfile
import time
import tomllib
from collections import deque
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from cityops.api.deps import SESSION_COOKIE, Db
from cityops.api.errors import error_body
from cityops.api.v1.cases import CaseOut
from cityops.core.errors import CityopsError, ValidationFailed
from cityops.core.roles import Role
from cityops.core.workflow import OPEN_STATES, State
from cityops.geo.geojson import (
    DEFAULT_SIMPLIFY_M,
    feature,
    feature_collection,
    for_map_many,
    parse_bbox,
)
from cityops.services import attachments as att
from cityops.services import cases as svc
from cityops.services import catalog as catalog_svc
from cityops.services import components as components_svc
from cityops.services import dashboard as dash
from cityops.services import geography, mapdata, rules
from cityops.services import public as pub
from cityops.services.calendar import city_clock
from cityops.services.users import authenticate, issue_token, user_from_token
from cityops.store.blobs import DiskBlobStore
from cityops.store.schema import User
from cityops.web import views
from cityops.web.i18n import DEFAULT, Translator, normalise

router = APIRouter(include_in_schema=False)
WEB = files("cityops.web")
templates = Jinja2Templates(directory=str(WEB / "templates"))
LANG_COOKIE = "cityops_lang"
JS_SECTIONS = ("js", "action", "field", "result", "case", "bulk", "light", "public", "fieldpage")
CENTRE = {Role.acceptor, Role.shift_leader, Role.dispatcher, Role.leader, Role.evaluator}


def _json(obj: Any) -> str:
    """JSON to embed in a <script type="application/json">: "</" cannot close the element."""
    return json.dumps(obj, ensure_ascii=False).replace("</", "<\\/")


def _public_groups() -> list[dict[str, Any]]:
    data = tomllib.loads((WEB / "public_types.toml").read_text(encoding="utf-8"))
    groups: list[dict[str, Any]] = data["group"]
    return groups


# --- request context ----------------------------------------------------------------------------


def lang_of(request: Request) -> str:
    return (
        normalise(request.query_params.get("lang"))
        or normalise(request.cookies.get(LANG_COOKIE))
        or str(getattr(request.app.state.settings, "locale", DEFAULT))
    )


def page_user(request: Request, session: Session) -> User | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    try:
        return user_from_token(session, token, request.app.state.secret)
    except CityopsError:
        return None


def _login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse("/login?" + urlencode({"next": target}), status_code=303)


def _roles(user: User | None) -> set[str]:
    return set(user.role_names) if user else set()


def _nav(user: User, t: Translator) -> list[tuple[str, str, str]]:
    roles = _roles(user)
    items = [("/cases", t("nav.queue"), "q"), ("/map", t("nav.map"), "m")]
    items.append(("/dashboard", t("nav.dashboard"), "d"))
    if Role.supervisor.value in roles:
        items.append(("/field", t("nav.field"), "f"))
    if Role.admin.value in roles:
        items.append(("/admin/imports", t("nav.admin"), "a"))
    return items


def _tz(session: Session) -> Any:
    return city_clock(session).tz


def render(
    request: Request,
    name: str,
    ctx: dict[str, Any],
    *,
    user: User | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    lang = lang_of(request)
    t = Translator(lang)
    settings = request.app.state.settings
    base = {
        "t": t,
        "lang": t.lang,
        "user": user,
        "roles": _roles(user),
        "nav": _nav(user, t) if user else [],
        "path": request.url.path,
        # The query without `lang`, for the language switch to come back to the same view.
        "query": urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "lang"]),
        "tile_url": settings.map_tile_url,
        "tz": settings.timezone,
        "js_i18n": _json(t.sections(*JS_SECTIONS)),
        "role_labels": [t(f"role.{r}") for r in (user.role_names if user else [])],
    }
    return templates.TemplateResponse(request, name, {**base, **ctx}, status_code=status_code)


def _home_for(user: User) -> str:
    roles = _roles(user)
    if roles == {Role.supervisor.value}:
        return "/field"
    if roles <= {Role.leader.value, Role.evaluator.value}:
        return "/dashboard"
    return "/cases"


# --- sign-in, language ----------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def home(request: Request, session: Db) -> Response:
    user = page_user(request, session)
    if user is None:
        return _login_redirect(request)
    return RedirectResponse(_home_for(user), status_code=303)


def _safe_next(target: str | None) -> str | None:
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return None


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None) -> HTMLResponse:
    return render(request, "login.html", {"next": _safe_next(next) or "", "error": None})


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    session: Db,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=200)],
    next: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    try:
        user = authenticate(session, username, password)
    except CityopsError as exc:
        return render(
            request,
            "login.html",
            {"next": next, "error": exc.to_dict(lang_of(request))["message"], "username": username},
            status_code=401,
        )
    settings = request.app.state.settings
    issued = issue_token(user, request.app.state.secret, settings.token_ttl_minutes)
    resp = RedirectResponse(_safe_next(next) or _home_for(user), status_code=303)
    resp.set_cookie(
        SESSION_COOKIE,
        issued.token,
        max_age=issued.expires_in,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return resp


@router.get("/logout")
def logout() -> RedirectResponse:
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(SESSION_COOKIE)
    return resp


@router.get("/lang/{code}")
def set_lang(code: str, next: str | None = None) -> RedirectResponse:
    lang = normalise(code) or DEFAULT
    resp = RedirectResponse(_safe_next(next) or "/", status_code=303)
    resp.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax")
    return resp


# --- the work queue and case lists ---------------------------------------------------------------

QUEUE_PARAMS = ("state", "type", "region", "source", "light", "text", "sort", "department")
SORT_KEYS = ("due_at", "-due_at", "-reported_at", "reported_at", "number")


def _queue_query(request: Request, user: User) -> dict[str, Any]:
    q = request.query_params
    roles = _roles(user)
    default_mine = not (roles <= {Role.leader.value, Role.evaluator.value, Role.admin.value})
    mine = q.get("mine", "1" if default_mine else "0") == "1"
    params = {k: q.get(k) or None for k in QUEUE_PARAMS}
    if params["sort"] not in SORT_KEYS:
        params["sort"] = "due_at"
    page = max(1, int(q.get("page") or 1)) if (q.get("page") or "1").isdigit() else 1
    return {
        "mine": mine,
        **params,
        "page": page,
        "metric": q.get("metric") or None,
        "period": q.get("period") or "month",
    }


def _case_rows(
    request: Request, session: Session, user: User, qq: dict[str, Any]
) -> tuple[list[views.Row], int, dict[str, Any]]:
    """The rows of the queue or of a dashboard figure (metric), and what the banner says."""
    t = Translator(lang_of(request))
    tz = _tz(session)
    now = datetime.now(tz)
    page_size = 50
    drill: dict[str, Any] = {}
    if qq["metric"]:
        p = dash.period_of(qq["period"], now, tz)
        dims = dash.Dims(
            type=qq["type"], source=qq["source"], department=qq["department"], district=qq["region"]
        )
        rows, total = dash.metric_cases(
            session,
            user,
            qq["metric"],
            p,
            now,
            dims,
            sort=qq["sort"] if qq["sort"] != "due_at" else "-reported_at",
            page=qq["page"],
            page_size=page_size,
        )
        drill = {
            "metric": t(f"metric.{qq['metric']}"),
            "period": t(f"period.{p.key}") if p.key in ("today", "month") else p.key,
            "dims": _dim_labels(session, dims, t),
        }
    else:
        # No state chosen: "waiting for me" has its own states, "all cases" means the open ones.
        states: list[str] | None
        if qq["state"] == "all":
            states = None
        elif qq["state"]:
            states = [qq["state"]]
        else:
            states = None if qq["mine"] else [s.value for s in OPEN_STATES]
        rows, total = svc.list_cases(
            session,
            user,
            svc.CaseQuery(
                state=states,
                type_code=qq["type"],
                region=qq["region"],
                source=qq["source"],
                department=qq["department"],
                light=qq["light"],
                text=qq["text"],
                mine=qq["mine"],
                sort=qq["sort"],
                page=qq["page"],
                page_size=page_size,
            ),
            now=now,
        )
    return views.rows_for(session, rows, now, tz, t), total, drill


def _dim_labels(session: Session, dims: dash.Dims, t: Translator) -> list[str]:
    out = []
    if dims.type:
        out.append(views.type_names(session).get(dims.type, dims.type))
    if dims.source:
        out.append(views.source_label(dims.source, t))
    if dims.department:
        out.append(views.org_names(session).get(dims.department, dims.department))
    if dims.district:
        out.append(views.region_names(session, {dims.district}).get(dims.district, dims.district))
    return out


def _checked_state(state: str | None) -> None:
    if state and state != "all" and state not in {s.value for s in State}:
        raise ValidationFailed(f"未知状态 {state}", en=f"unknown state {state}", code="bad_state")


@router.get("/cases", response_class=HTMLResponse)
def cases_page(request: Request, session: Db) -> Response:
    user = page_user(request, session)
    if user is None:
        return _login_redirect(request)
    qq = _queue_query(request, user)
    _checked_state(qq["state"])
    rows, total, drill = _case_rows(request, session, user, qq)
    t = Translator(lang_of(request))
    return render(
        request,
        "cases.html",
        {
            "rows": rows,
            "total": total,
            "q": qq,
            "drill": drill,
            "pages": max(1, -(-total // 50)),
            "states": [(s.value, views.state_label(s.value, t)) for s in State],
            "majors": views.major_classes(session),
            "areas": views.areas(session),
            "sources": views.source_options(t),
            "departments": views.departments(session),
            "qs": _qs,
        },
        user=user,
    )


def _qs(q: dict[str, Any], **changes: Any) -> str:
    merged = {**q, **changes}
    out = {k: v for k, v in merged.items() if v not in (None, "", False)}
    out["mine"] = "1" if merged.get("mine") else "0"
    return urlencode(out)


@router.get("/cases/rows", response_class=HTMLResponse)
def case_rows(request: Request, session: Db) -> Response:
    """The queue's table body, for live refresh (same filters as the page)."""
    user = page_user(request, session)
    if user is None:
        return JSONResponse(error_body("not_authenticated", "请先登录"), status_code=401)
    qq = _queue_query(request, user)
    _checked_state(qq["state"])
    rows, total, _ = _case_rows(request, session, user, qq)
    resp = render(request, "_rows.html", {"rows": rows}, user=user)
    resp.headers["X-Total"] = str(total)
    return resp


# --- case detail --------------------------------------------------------------------------------


@router.get("/cases/{ref}", response_class=HTMLResponse)
def case_page(ref: str, request: Request, session: Db) -> Response:
    user = page_user(request, session)
    if user is None:
        return _login_redirect(request)
    t = Translator(lang_of(request))
    tz = _tz(session)
    now = datetime.now(tz)
    try:
        row = svc.visible(session, svc.get_case(session, ref), user)
    except CityopsError as exc:
        return render(
            request,
            "error.html",
            {"message": exc.to_dict(t.lang)["message"]},
            user=user,
            status_code=exc.status,
        )
    out = CaseOut.of(row, user, now)
    d = views.detail(session, row, tz, t)
    regions = views.region_names(
        session, {row.district_code or "", row.street_code or "", row.community_code or ""}
    )
    types = views.type_names(session)
    conditions = [
        {"seq": c.seq, "condition": c.condition, "limit": c.time_limit}
        for c in (rules.conditions_of(session, row.type_code) if row.type_code else [])
    ]
    form_data = {
        "id": row.id,
        "number": row.number,
        "type_code": row.type_code,
        "conditions": conditions,
        "departments": views.departments(session),
        "handlers": views.users_with_role(session, "handler", row.department),
        "supervisors": views.users_with_role(session, "supervisor"),
        "grid_supervisor": views.grid_supervisor(session, row.grid_code),
        "lon": row.lon,
        "lat": row.lat,
        "grid_code": row.grid_code,
    }
    return render(
        request,
        "case.html",
        {
            "c": out,
            "row": row,
            "d": d,
            "type_name": types.get(row.type_code or "", ""),
            "types": sorted(types.items()),
            "regions": regions,
            "department_name": views.org_names(session).get(row.department or "", ""),
            "handler_name": views.user_names(session, {row.handler_id or 0}).get(
                row.handler_id or 0, ""
            ),
            "state_label": views.state_label(row.state, t),
            "source_label": views.source_label(row.source, t),
            "left": views.time_left(row.due_at, row.paused, now, t),
            "due": views.fmt_dt(row.due_at, tz, full=True),
            "reported": views.fmt_dt(row.reported_at, tz, full=True),
            "form_data": _json(form_data),
        },
        user=user,
    )


@router.get("/cases/-/conditions")
def type_conditions(request: Request, session: Db, type: str = "") -> Response:
    """Conditions of a type's case standard, for the register form when the type changes."""
    if page_user(request, session) is None:
        return JSONResponse(error_body("not_authenticated", "请先登录"), status_code=401)
    return JSONResponse(
        [
            {"seq": c.seq, "condition": c.condition, "limit": c.time_limit}
            for c in rules.conditions_of(session, type)
        ]
    )


# --- map and dashboard ------------------------------------------------------------------------------


def _city_view(session: Session) -> list[float] | None:
    """The bbox of the districts (for the first view of the map)."""
    rows = mapdata.regions_in_view(session, level="district")
    boxes = [g.bounds for _, g in rows if g is not None]
    if not boxes:
        return None
    return [
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    ]


@router.get("/map", response_class=HTMLResponse)
def map_page(request: Request, session: Db) -> Response:
    user = page_user(request, session)
    if user is None:
        return _login_redirect(request)
    t = Translator(lang_of(request))
    return render(
        request,
        "map.html",
        {
            "view": _json(_city_view(session)),
            "majors": views.major_classes(session),
            "sources": views.source_options(t),
            "types": _json(views.type_names(session)),
        },
        user=user,
    )


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard_page(request: Request, session: Db, period: str = "today") -> Response:
    user = page_user(request, session)
    if user is None:
        return _login_redirect(request)
    t = Translator(lang_of(request))
    tz = _tz(session)
    now = datetime.now(tz)
    p = dash.period_of(period if period in ("today", "month") else "today", now, tz)
    k = dash.kpis(session, user, p, now)
    tr = dash.trend(session, user, now)
    by = {
        b: dash.breakdown(session, user, "reported", b, p, now, limit=10)
        for b in ("type", "source", "district")
    }
    ranking = dash.department_ranking(session, user, p, now)
    charts = {
        "trend": {
            "days": [d.strftime("%m-%d") for d in tr.days],
            "reported": tr.reported,
            "closed": tr.closed,
        },
        "by_type": [asdict(b) for b in by["type"]],
        "by_source": [asdict(b) for b in by["source"]],
        "by_district": [asdict(b) for b in by["district"]],
        "period": p.key,
    }
    return render(
        request,
        "dashboard.html",
        {
            "period": p.key,
            "k": k,
            "by": by,
            "ranking": ranking,
            "charts": _json(charts),
            "view": _json(_city_view(session)),
            "updated": now.strftime("%H:%M:%S"),
            "qs": lambda **kw: urlencode({"period": p.key, "mine": "0", **kw}),
            "t_period": t(f"period.{p.key}"),
        },
        user=user,
    )


# --- admin imports -------------------------------------------------------------------------------

IMPORT_KINDS = ("catalog", "standards", "rules", "components", "grids")


def _run_import(session: Session, kind: str, path: Path, skip_bad: bool, user: User) -> list[str]:
    """Run one import; returns lines of the result report (counts)."""
    if kind == "catalog":
        r = catalog_svc.import_catalog(session, path, skip_bad=skip_bad)
        return [f"added={r.added}", f"updated={r.updated}", f"skipped={len(r.skipped)}"]
    if kind == "standards":
        s = rules.import_standards(session, path, skip_bad=skip_bad)
        return [f"imported={s.imported}", f"skipped={len(s.skipped)}"]
    if kind == "rules":
        return [f"imported={rules.import_rules(session, path)}"]
    if kind == "components":
        c = components_svc.import_components(session, path, skip_bad=skip_bad, user_id=user.id)
        return [
            f"added={c.added}",
            f"updated={c.updated}",
            f"unchanged={c.unchanged}",
            f"status_changes={c.status_changes}",
            f"skipped={len(c.skipped)}",
        ]
    return [f"imported={geography.import_grids(session, path)}"]


@router.get("/admin/imports", response_class=HTMLResponse)
def imports_page(request: Request, session: Db) -> Response:
    user = page_user(request, session)
    if user is None:
        return _login_redirect(request)
    if Role.admin.value not in _roles(user):
        return _admin_only(request, user)
    return render(request, "admin_imports.html", {"kinds": IMPORT_KINDS, "result": None}, user=user)


def _admin_only(request: Request, user: User) -> HTMLResponse:
    t = Translator(lang_of(request))
    return render(request, "error.html", {"message": t("admin.only")}, user=user, status_code=403)


@router.post("/admin/imports", response_class=HTMLResponse)
async def imports_run(
    request: Request,
    session: Db,
    kind: Annotated[str, Form()],
    file: Annotated[UploadFile, File()],
    skip_bad: Annotated[bool, Form()] = False,
) -> Response:
    user = page_user(request, session)
    if user is None:
        return _login_redirect(request)
    t = Translator(lang_of(request))
    if Role.admin.value not in _roles(user):
        return _admin_only(request, user)
    if kind not in IMPORT_KINDS:
        kind = "catalog"
    name = Path(file.filename or "upload.csv").name
    data = await file.read(50 * 2**20 + 1)
    result: dict[str, Any] = {"kind": kind, "file": name, "ok": False, "lines": [], "errors": []}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        try:
            with session.begin_nested():
                result["lines"] = _run_import(session, kind, path, skip_bad, user)
            result["ok"] = True
        except CityopsError as exc:
            body = exc.to_dict(t.lang)
            result["message"] = body["message"]
            details = body.get("details")
            result["errors"] = details if isinstance(details, list) else []
            if isinstance(details, dict):
                result["lines"] = [f"{k}: {v}" for k, v in details.items()]
    return render(
        request,
        "admin_imports.html",
        {"kinds": IMPORT_KINDS, "result": result},
        user=user,
        status_code=200 if result["ok"] else 422,
    )


# --- field page (supervisors) ------------------------------------------------------------------------


@router.get("/field", response_class=HTMLResponse)
def field_page(request: Request, session: Db) -> Response:
    user = page_user(request, session)
    if user is None:
        return _login_redirect(request)
    groups = pub.public_type_groups(session, _public_groups())
    return render(
        request,
        "field.html",
        {"groups": groups, "types_json": _types_json(groups, Translator(lang_of(request)))},
        user=user,
    )


def _types_json(groups: list[pub.TypeGroup], t: Translator) -> str:
    return _json(
        [
            {
                "key": g.key,
                "label": g.label_en if t.en else g.label,
                "icon": g.icon,
                "types": [{"code": c.code, "name": c.name} for c in g.types],
            }
            for g in groups
        ]
    )


# --- public pages --------------------------------------------------------------------------------


class RateLimiter:
    """At most ``limit`` events per ``window`` seconds per key (client address), in memory."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.monotonic):
        self.limit, self.window, self.clock = limit, window, clock
        self.events: dict[str, deque[float]] = {}

    def allow(self, key: str) -> bool:
        now = self.clock()
        q = self.events.setdefault(key, deque())
        while q and now - q[0] > self.window:
            q.popleft()
        if len(q) >= self.limit:
            return False
        q.append(now)
        if len(self.events) > 10_000:  # forget idle clients
            for k in [k for k, v in self.events.items() if not v or now - v[-1] > self.window]:
                del self.events[k]
        return True


def _public_limit(request: Request) -> RateLimiter:
    """The public report's rate limit: 10 per 10 minutes per client address, per application
    (two apps in one process, as in the tests, do not share their counts)."""
    state = request.app.state
    limiter: RateLimiter | None = getattr(state, "public_limit", None)
    if limiter is None:
        limiter = state.public_limit = RateLimiter(limit=10, window=600)
    return limiter


def _store(request: Request) -> DiskBlobStore:
    return DiskBlobStore(request.app.state.settings.data_dir / "blobs")


@router.get("/public", response_class=HTMLResponse)
def public_page(request: Request, session: Db) -> Response:
    t = Translator(lang_of(request))
    groups = pub.public_type_groups(session, _public_groups())
    return render(
        request,
        "public_report.html",
        {"types_json": _types_json(groups, t), "view": _json(_city_view(session))},
    )


@router.post("/public/report")
async def public_report(
    request: Request,
    session: Db,
    type_code: Annotated[str, Form(pattern=r"^\d{5}$")],
    lon: Annotated[float, Form(ge=-180, le=180)],
    lat: Annotated[float, Form(ge=-90, le=90)],
    description: Annotated[str, Form(max_length=2000)] = "",
    crs: Annotated[str, Form(max_length=20)] = "wgs84",
    phone: Annotated[str, Form(max_length=30)] = "",
    idempotency_key: Annotated[str, Form(max_length=80)] = "",
    photos: Annotated[list[UploadFile] | None, File()] = None,
) -> JSONResponse:
    """A citizen's report (multipart): a ``public`` case; answers its number and the secret
    the reporter needs to rate the result."""
    lang = lang_of(request)
    client = request.client.host if request.client else "?"
    if not _public_limit(request).allow(client):
        return JSONResponse(
            error_body(
                "rate_limited",
                "提交过于频繁，请稍后再试" if lang != "en" else "too many reports; try later",
            ),
            status_code=429,
        )
    ids: list[str] = []
    for f in (photos or [])[:3]:
        data = await f.read(att.MAX_BYTES + 1)
        if data:
            ids.append(att.save_upload(session, _store(request), data, f.filename or "", None).id)
    done = pub.submit(
        session,
        pub.PublicReport(
            type_code=type_code,
            description=description,
            lon=lon,
            lat=lat,
            crs=crs,
            photos=tuple(ids),
            contact_phone=phone,
        ),
        key=request.app.state.secret,
        idempotency_key=idempotency_key or None,
    )
    return JSONResponse(
        {
            "number": done.number,
            "secret": done.secret,
            "created": done.created,
            "status_url": f"/public/cases/{done.number}",
        },
        status_code=201 if done.created else 200,
    )


@router.get("/public/cases/{number}", response_class=HTMLResponse)
def public_case(
    number: str, request: Request, session: Db, s: str = "", rated: str = ""
) -> Response:
    t = Translator(lang_of(request))
    try:
        st = pub.status(session, number)
    except CityopsError as exc:
        return render(
            request,
            "public_status.html",
            {"st": None, "number": number, "error": exc.to_dict(t.lang)["message"]},
            status_code=exc.status,
        )
    tz = _tz(session)
    return render(
        request,
        "public_status.html",
        {
            "st": st,
            "number": number,
            "secret": s,
            "rated": rated,
            "error": None,
            "fmt": lambda dt: views.fmt_dt(dt, tz, full=True),
        },
    )


@router.get("/public/find")
def public_find(number: str = "") -> RedirectResponse:
    clean = number.strip()
    return RedirectResponse(f"/public/cases/{clean}" if clean else "/public", status_code=303)


@router.post("/public/cases/{number}/rating", response_class=HTMLResponse)
def public_rate(
    number: str,
    request: Request,
    session: Db,
    secret: Annotated[str, Form(max_length=64)],
    rating: Annotated[int, Form(ge=1, le=5)],
    comment: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    t = Translator(lang_of(request))
    try:
        with session.begin_nested():
            pub.rate(session, number, secret, rating, comment, key=request.app.state.secret)
    except CityopsError as exc:
        st = pub.status(session, number)
        tz = _tz(session)
        return render(
            request,
            "public_status.html",
            {
                "st": st,
                "number": number,
                "secret": secret,
                "rated": "",
                "error": exc.to_dict(t.lang)["message"],
                "fmt": lambda dt: views.fmt_dt(dt, tz, full=True),
            },
            status_code=exc.status,
        )
    return RedirectResponse(f"/public/cases/{number}?rated=1", status_code=303)


@router.get("/public/photos/{number}/{attachment_id}")
def public_photo(number: str, attachment_id: str, request: Request, session: Db) -> Response:
    """A case's public photo: only the EXIF-stripped copy, only of the case's public photos."""
    if not pub.public_photo(session, number, attachment_id):
        return JSONResponse(error_body("not_found", "未找到该资源"), status_code=404)
    row = att.get_attachment(session, attachment_id)
    return Response(
        att.read_attachment(_store(request), row, public=True),
        media_type=row.content_type,
        headers={"Cache-Control": "public, max-age=86400"},
    )


@router.get("/public/regions.geojson")
def public_regions(
    session: Db,
    level: Annotated[str, Query(pattern="^(district|street|community)$")] = "district",
    bbox: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """Region outlines for the public map (public knowledge, simplified); streets and
    communities only within a view."""
    box = parse_bbox(bbox) if bbox else None
    if level != "district" and box is None:
        raise ValidationFailed("需要 bbox", en="bbox is required", code="bad_bbox")
    rows = mapdata.regions_in_view(session, level=level, bbox=box)[:500]
    geoms = for_map_many([g for _, g in rows], simplify=DEFAULT_SIMPLIFY_M.get(level, 5.0))
    feats = [
        feature(geom, {"code": r.code, "name": r.name}, id=r.code)
        for (r, _), geom in zip(rows, geoms, strict=True)
    ]
    return JSONResponse(feature_collection(feats), media_type="application/geo+json")
