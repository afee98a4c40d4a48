"""Open311 GeoReport v2: the public face of the case loop (docs/open311.md).

Everything a citizen app or an integrator does through ``/open311/v2`` is here, free of HTTP:
the service list and service definitions from the catalog, checking a submitted request,
screening it (accept / hold for a person / reject), turning it into a public case through
``cases.create_case`` like every other channel, the queue of held reports behind tokens, the
query rules of GET requests (90-day windows, paging, bbox, radius) and the public view of a
case, which never carries the reporter's name, e-mail, phone, device or account.

API keys and the rate limiter (per key and per client address, sliding one-minute windows) live
here too. The limiter and the duplicate memory of the default screening are in-process: with N
server processes a client gets up to N times the configured rate (see docs/open311.md).
"""

from __future__ import annotations

import hashlib
import importlib
import itertools
import json
import math
import os
import re
import secrets
import threading
import time
import tomllib
from collections import deque, namedtuple
from collections.abc import Callable, Hashable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, date, datetime, timedelta, tzinfo
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    Connection,
    Engine,
    Integer,
    Row,
    Select,
    String,
    bindparam,
    case,
    event,
    func,
    insert,
    select,
    type_coerce,
)
from sqlalchemy.orm import ORMExecuteState, Session, aliased, object_session

from cityops.core.errors import CityopsError, NotFound, ValidationFailed
from cityops.core.workflow import OPEN_STATES, TRANSITIONS, Action, State
from cityops.services import cases
from cityops.services.attachments import save_upload
from cityops.services.cache import StampedCache
from cityops.services.calendar import city_clock, clock_cache
from cityops.services.geography import spatial_index
from cityops.services.public import (
    LOG_COLUMNS,
    STAGE_LABELS,
    public_case_only,
    public_trail,
    scrub,
)
from cityops.services.rules import stage_limits
from cityops.store.blobs import BlobStore
from cityops.store.fast import Prepared, dbapi_cursor
from cityops.store.schema import (
    ApiKey,
    Attachment,
    Case,
    CaseLogRow,
    CaseStandardRow,
    CatalogType,
    Component,
    OrgUnit,
    PublicSubmission,
    Region,
)

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
MAX_PAGE_SIZE = 500
MAX_IDS = 500
WINDOW = timedelta(days=90)  # GeoReport v2, GET Service Requests: start_date/end_date
MAX_RADIUS_M = 20_000.0
MAX_DESCRIPTION = 4000  # GeoReport v2, POST Service Request: description
CONDITION_ATTRIBUTE = "condition"


# --- errors ------------------------------------------------------------------------------------------


class Open311Error(CityopsError):
    """An error with the HTTP status GeoReport v2 asks for ("Errors": 404 for what does not
    exist, 403 for a wrong or missing api_key, 400 for anything else), plus 413 and 429 for the
    body limit and the rate limits. ``more`` holds further problems of the same request: the
    error body is an array, so all of them are reported at once."""

    def __init__(
        self,
        status: int,
        zh: str,
        en: str,
        *,
        code: str = "open311",
        more: Sequence[tuple[str, str]] = (),
        retry_after: int | None = None,
    ) -> None:
        super().__init__(zh, en=en, code=code)
        self.status = status
        self.more = list(more)
        self.retry_after = retry_after

    def messages(self, locale: str | None) -> list[str]:
        en = bool(locale and locale.lower().startswith("en"))
        first = self.message_for(locale)
        return [first, *((e if en else z) for z, e in self.more)]


def _bad(problems: Sequence[tuple[str, str]], code: str = "bad_request") -> Open311Error:
    (zh, en), rest = problems[0], problems[1:]
    return Open311Error(400, zh, en, code=code, more=rest)


def _not_found(zh: str, en: str, code: str = "not_found") -> Open311Error:
    return Open311Error(404, zh, en, code=code)


def as_open311(exc: CityopsError) -> Open311Error:
    """A domain error from the services underneath, with the status GeoReport v2 wants."""
    if isinstance(exc, Open311Error):
        return exc
    status = {404: 404, 401: 403, 403: 403, 413: 413, 429: 429}.get(exc.status, 400)
    return Open311Error(status, exc.message, exc.message_en or exc.message, code=exc.code)


# --- policy: the city's Open311 settings, as data -----------------------------------------------------


_ORIGIN = re.compile(r"^[a-z][a-z0-9+.-]*://[^/\s?#]+$", re.IGNORECASE)  # scheme://host[:port]


def _origins(key: str, given: Sequence[str]) -> tuple[str, ...]:
    """CORS origins from the policy file as browsers send ``Origin`` (scheme://host[:port])."""
    origins = tuple(o.strip().rstrip("/").lower() for o in given)
    bad = [o for o in origins if o != "*" and not _ORIGIN.match(o)]
    if bad:
        raise ValidationFailed(
            f'{key} 应为 "*" 或 https://host[:port] 形式的来源：{", ".join(bad)}',
            en=f'{key} must be "*" or origins like https://host[:port]: {", ".join(bad)}',
            code="bad_open311_config",
        )
    return origins


@dataclass(frozen=True)
class Policy:
    """Read from ``<data_dir>/open311.toml`` (all keys optional; documented in docs/open311.md)."""

    contact: str = "城市运行管理服务平台（城市管理局） / the city-management bureau's platform"
    key_service: str = (
        "API 密钥由城市管理局签发（管理员：cityops open311 keys add） / "
        "API keys are issued by the city-management bureau (admins: cityops open311 keys add)"
    )
    endpoint_type: str = "production"  # or "test" (Service Discovery)
    hold_all: bool = False  # every public report waits for a person: POST answers a token
    ip_rate_per_minute: int = 20  # POST requests per client address (0: no limit)
    max_body_bytes: int = 64 * 1024  # form-encoded or JSON body
    max_upload_bytes: int = 25 * 1024 * 1024  # multipart body with media
    max_media: int = 3
    max_links: int = 2  # more links in a description: rejected as spam
    duplicate_window_minutes: int = 60  # same text from the same device: rejected (0: off)
    blocked_words: tuple[str, ...] = ()  # any of these: held for a person
    screening_hook: str = ""  # "package.module:function" replacing the default screening
    default_page_size: int = MAX_PAGE_SIZE
    # CORS (browser apps on other origins): who may read the GETs ("*": anyone; never with
    # credentials), and who may POST reports (the origins of the city's web apps; "*": any)
    cors_origins: tuple[str, ...] = ("*",)
    cors_post_origins: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Policy:
        known = {f.name: f for f in fields(cls)}
        problems = [k for k in data if k not in known]
        if problems:
            raise ValidationFailed(
                f"open311.toml 有未知项：{', '.join(sorted(problems))}",
                en=f"unknown keys in open311.toml: {', '.join(sorted(problems))}",
                code="bad_open311_config",
            )
        values: dict[str, Any] = {}
        defaults = cls()
        for key, value in data.items():
            want = type(getattr(defaults, key))
            if want is tuple and isinstance(value, list) and all(isinstance(v, str) for v in value):
                value = tuple(value)
            ok = isinstance(value, want) and not (want is int and isinstance(value, bool))
            if not ok or (want is int and value < 0):
                raise ValidationFailed(
                    f"open311.toml 的 {key} 取值不正确：{value!r}",
                    en=f"bad value for {key} in open311.toml: {value!r}",
                    code="bad_open311_config",
                )
            values[key] = value
        policy = cls(**values)
        if policy.endpoint_type not in ("production", "test"):
            raise ValidationFailed(
                "endpoint_type 应为 production 或 test",
                en="endpoint_type must be production or test",
                code="bad_open311_config",
            )
        policy = replace(
            policy,
            cors_origins=_origins("cors_origins", policy.cors_origins),
            cors_post_origins=_origins("cors_post_origins", policy.cors_post_origins),
        )
        if not 1 <= policy.default_page_size <= MAX_PAGE_SIZE:
            raise ValidationFailed(
                f"default_page_size 应在 1–{MAX_PAGE_SIZE} 之间",
                en=f"default_page_size must be 1–{MAX_PAGE_SIZE}",
                code="bad_open311_config",
            )
        return policy

    @classmethod
    def load(cls, path: Path) -> Policy:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ValidationFailed(
                f"无法读取 {path}：{exc}",
                en=f"cannot read {path}: {exc}",
                code="bad_open311_config",
            ) from exc
        return cls.from_dict(data.get("open311", data))


# --- rate limits ---------------------------------------------------------------------------------------


class SlidingWindow:
    """At most ``limit`` hits per ``window`` seconds per key: a log of hit times per key.

    Refused hits are not counted, so a client that waits for ``Retry-After`` gets through.
    """

    SWEEP_FROM = 10_000  # keys kept before idle ones are dropped

    def __init__(self, window: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.window = window
        self.clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self._sweep_at = self.SWEEP_FROM

    def hit(self, key: str, limit: int) -> float | None:
        """Count one hit: None when allowed, else the seconds until one is allowed again.

        Amortised O(1): each hit time is appended and dropped once, and idle keys are swept
        only when the table has doubled since the last sweep (not on every hit)."""
        now = self.clock()
        horizon = now - self.window
        with self._lock:
            q = self._hits.get(key)
            if q is None:
                q = self._hits[key] = deque()
            while q and q[0] <= horizon:
                q.popleft()
            if len(q) >= limit:
                return max(q[0] + self.window - now, 0.001)
            q.append(now)
            if len(self._hits) > self._sweep_at:
                for k in [k for k, v in self._hits.items() if not v or v[-1] <= horizon]:
                    del self._hits[k]
                self._sweep_at = max(self.SWEEP_FROM, 2 * len(self._hits))
            return None


def _limited(wait: float, zh_who: str, en_who: str) -> Open311Error:
    seconds = math.ceil(wait)
    return Open311Error(
        429,
        f"{zh_who}提交过于频繁，请 {seconds} 秒后再试",
        f"too many requests from {en_who}; try again in {seconds} s",
        code="rate_limited",
        retry_after=seconds,
    )


# --- screening -----------------------------------------------------------------------------------------


class Verdict(StrEnum):
    accept = "accept"  # becomes a case at once; POST answers its service_request_id
    hold = "hold"  # waits for a person (public_submission); POST answers a token
    reject = "reject"  # refused with 400 and the reason


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    reason: str = ""
    reason_en: str = ""


@dataclass(frozen=True)
class Submission:
    """A POST requests as received (checked for form, not yet against the catalog or the map)."""

    service_code: str
    lat: float | None = None
    lon: float | None = None
    address_string: str = ""
    address_id: str = ""
    description: str = ""
    attributes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    email: str = ""
    device_id: str = ""
    account_id: str = ""
    first_name: str = ""
    last_name: str = ""
    phone: str = ""
    media_url: str = ""
    media: tuple[str, ...] = ()  # attachment ids of the uploaded files (v2.1 draft ``media``)
    ip: str = ""
    api_key_id: int | None = None
    received_at: str = ""  # ISO 8601

    def to_payload(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}  # (asdict deep-copies)
        data["attributes"] = {k: list(v) for k, v in self.attributes.items()}
        data["media"] = list(self.media)
        return data

    @classmethod
    def from_payload(cls, data: Mapping[str, Any]) -> Submission:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["attributes"] = {k: tuple(v) for k, v in values.get("attributes", {}).items()}
        values["media"] = tuple(values.get("media", ()))
        return cls(**values)

    @property
    def reporter_name(self) -> str:
        first, last = self.first_name.strip(), self.last_name.strip()
        if _CJK.search(first + last):
            return f"{last}{first}"  # 姓 + 名
        return " ".join(p for p in (first, last) if p)


ScreeningHook = Callable[[Submission], Decision]

_CJK = re.compile(r"[\u3400-\u9fff]")
_LINK = re.compile(r"https?://|www\.", re.IGNORECASE)
_SPACES = re.compile(r"\s+")


class DefaultScreening:
    """The default anti-spam rules, in order: too many links → reject; the same text for the same
    service from the same device (else account, else address) within the window → reject as a
    repeat; a blocked word → hold; the city holds every report (``hold_all``) → hold.

    It runs after a submission passed every check (so a corrected retry is never a "repeat")."""

    SWEEP_FROM = 50_000  # texts remembered before expired ones are dropped

    def __init__(self, policy: Policy, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self.clock = clock
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()
        self._sweep_at = self.SWEEP_FROM

    def __call__(self, sub: Submission) -> Decision:
        p = self.policy
        links = len(_LINK.findall(sub.description))
        if links > p.max_links:
            return Decision(
                Verdict.reject,
                f"描述中的链接过多（{links} 个，上限 {p.max_links} 个）",
                f"too many links in the description ({links}, at most {p.max_links})",
            )
        text = _SPACES.sub("", sub.description).lower()  # spacing does not make a new text
        who = sub.device_id or sub.account_id or sub.ip
        if text and who and p.duplicate_window_minutes:
            key = hashlib.sha256(f"{who}\x1f{sub.service_code}\x1f{text}".encode()).hexdigest()
            now = self.clock()
            window = p.duplicate_window_minutes * 60.0
            with self._lock:
                if len(self._seen) > self._sweep_at:  # amortised: when doubled since the last
                    self._seen = {k: t for k, t in self._seen.items() if now - t < window}
                    self._sweep_at = max(self.SWEEP_FROM, 2 * len(self._seen))
                last = self._seen.get(key)
                if last is not None and now - last < window:
                    return Decision(
                        Verdict.reject,
                        "与此前从同一设备提交的内容相同（重复提交）",
                        "the same report was already submitted from this device",
                    )
                self._seen[key] = now
        words = (_SPACES.sub("", w).lower() for w in p.blocked_words)
        hit = next((w for w in words if w and w in text), None)
        if hit is not None:
            return Decision(Verdict.hold, "含需人工审核的词语", "contains a word that needs review")
        if p.hold_all:
            return Decision(
                Verdict.hold, "本市公众上报先经人工审核", "the city reviews every report"
            )
        return Decision(Verdict.accept)


def load_hook(spec: str) -> ScreeningHook:
    """``package.module:function`` → the function (a configuration error if it is not there)."""
    module_name, _, attr = spec.partition(":")
    try:
        hook = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ValidationFailed(
            f"无法加载筛查函数 {spec}：{exc}",
            en=f"cannot load the screening hook {spec}: {exc}",
            code="bad_open311_config",
        ) from exc
    if not callable(hook):
        raise ValidationFailed(
            f"{spec} 不是函数", en=f"{spec} is not callable", code="bad_open311_config"
        )
    return hook  # type: ignore[no-any-return]


class Runtime:
    """The policy with its in-process state: the two rate limiters and the screening hook."""

    def __init__(self, policy: Policy | None = None, screen: ScreeningHook | None = None) -> None:
        self.policy = policy or Policy()
        self.ip_limiter = SlidingWindow()
        self.key_limiter = SlidingWindow()
        if screen is not None:
            self.screen: ScreeningHook = screen
        elif self.policy.screening_hook:
            self.screen = load_hook(self.policy.screening_hook)
        else:
            self.screen = DefaultScreening(self.policy)

    def limit_ip(self, ip: str) -> None:
        if self.policy.ip_rate_per_minute == 0:  # 0: no per-address limit (e.g. behind a proxy)
            return
        wait = self.ip_limiter.hit(ip, self.policy.ip_rate_per_minute)
        if wait is not None:
            raise _limited(wait, "您的网络地址", "your address")

    def limit_key(self, key: KeyGrant) -> None:
        wait = self.key_limiter.hit(str(key.id), key.rate_per_minute)
        if wait is not None:
            raise _limited(wait, "该 API 密钥", "this api_key")


@dataclass
class _Loaded:
    path: Path
    content: bytes | None
    signature: tuple[int, ...] | None  # the file's stat when it was read (None: no file)
    settled: bool  # the file was older than MTIME_SLACK when read: its stat can be trusted
    runtime: Runtime


_runtimes: dict[Path, _Loaded] = {}
_runtimes_lock = threading.Lock()
MTIME_SLACK_NS = 2_000_000_000  # more than any file system's timestamp granularity (FAT: 2 s)


def _signature(path: Path) -> tuple[int, ...] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def runtime_for(data_dir: Path) -> Runtime:
    """The runtime of a data directory, rebuilt when ``open311.toml`` appears, changes or goes.

    Every request looks at the file's stat (one system call). While it is the stat the file had
    when it was last read, and the file was already older than ``MTIME_SLACK_NS`` then, nothing
    is read: a later write gets a later modification time even on a coarse clock. A file
    younger than that is read again and compared by content on every call (two writes within
    one tick of the file system's clock can leave the same stat), as every call did before."""
    hit = _runtimes.get(data_dir)
    path = hit.path if hit is not None else data_dir / "open311.toml"
    signature = _signature(path)
    if hit is not None and hit.settled and hit.signature == signature:
        return hit.runtime
    read_at = time.time_ns()
    try:
        content: bytes | None = path.read_bytes()
    except FileNotFoundError:
        content = None
    settled = content is None or (signature is not None and read_at - signature[2] > MTIME_SLACK_NS)
    with _runtimes_lock:
        hit = _runtimes.get(data_dir)
        if hit is not None and hit.content == content:
            _runtimes[data_dir] = replace(hit, signature=signature, settled=settled)
            return hit.runtime
    runtime = Runtime(Policy.load(path) if content is not None else Policy())
    with _runtimes_lock:
        _runtimes[data_dir] = _Loaded(path, content, signature, settled, runtime)
    return runtime


# --- API keys ------------------------------------------------------------------------------------------

KEY_PREFIX = "o311_"


def _digest(plain: str) -> str:
    return hashlib.sha256(plain.encode()).hexdigest()


def create_key(
    session: Session, name: str, *, contact: str = "", rate_per_minute: int = 30
) -> tuple[ApiKey, str]:
    """A new key; the plain text is returned once and only its SHA-256 is stored."""
    name = name.strip()
    if not name or len(name) > 100:
        raise ValidationFailed(
            "密钥名称不能为空且不超过 100 字",
            en="a key needs a name of at most 100 characters",
            code="bad_key_name",
        )
    if not 1 <= rate_per_minute <= 10_000:
        raise ValidationFailed(
            "每分钟次数应在 1–10000 之间",
            en="rate per minute must be 1–10,000",
            code="bad_rate",
        )
    plain = KEY_PREFIX + secrets.token_urlsafe(24)
    row = ApiKey(
        key_hash=_digest(plain),
        prefix=plain[:12],
        name=name,
        contact=contact.strip()[:200],
        rate_per_minute=rate_per_minute,
    )
    session.add(row)
    session.flush()
    return row, plain


def list_keys(session: Session, *, include_revoked: bool = True) -> list[ApiKey]:
    q = select(ApiKey).order_by(ApiKey.id)
    if not include_revoked:
        q = q.where(ApiKey.revoked_at.is_(None))
    return list(session.scalars(q))


def revoke_key(session: Session, ref: str | int, *, now: datetime | None = None) -> ApiKey:
    """By id or by the prefix shown in lists; revoking twice keeps the first date."""
    text = str(ref).strip()
    column = ApiKey.id == int(text) if text.isdigit() else ApiKey.prefix == text
    rows = list(session.scalars(select(ApiKey).where(column)))
    if not rows:
        raise NotFound(f"没有 API 密钥 {text}", en=f"no api key {text}", code="unknown_api_key")
    if len(rows) > 1:
        raise ValidationFailed(
            f"前缀 {text} 对应多个密钥，请用编号",
            en=f"prefix {text} is ambiguous: use the id",
            code="ambiguous_api_key",
        )
    row = rows[0]
    if row.revoked_at is None:
        row.revoked_at = now or datetime.now(UTC)
    session.flush()
    return row


@dataclass(frozen=True)
class KeyGrant:
    """What a report needs of its api key: which key (its submissions, its rate limit)."""

    id: int
    rate_per_minute: int


_key_sql: dict[str, Prepared] = {}


def check_key(session: Session, plain: str) -> KeyGrant:
    """GeoReport v2, Errors: 403 for a missing or invalid api_key. Read by a prepared statement
    on the session's connection: every POST asks, and the ORM query it replaces cost the group
    writer 0.1–0.4 ms a report."""
    if not plain:
        raise Open311Error(
            403,
            "缺少 api_key，无法提交",
            "api_key is missing -- can't proceed with create_request",
            code="missing_api_key",
        )
    dialect = session.get_bind().dialect
    sql = _key_sql.get(dialect.name)
    if sql is None:
        sql = _key_sql[dialect.name] = Prepared(
            select(ApiKey.id, ApiKey.rate_per_minute, ApiKey.revoked_at).where(
                ApiKey.key_hash == bindparam("digest")
            ),
            dialect,
        )
    row = sql.one(dbapi_cursor(session), {"digest": _digest(plain)})
    if row is None or row[2] is not None:
        raise Open311Error(
            403,
            "api_key 无效或已吊销，无法提交",
            "invalid api_key received -- can't proceed with create_request",
            code="invalid_api_key",
        )
    return KeyGrant(int(row[0]), int(row[1]))


# --- jurisdiction ------------------------------------------------------------------------------------


def _city_stamp(session: Session) -> Hashable:
    return tuple(
        session.execute(
            select(func.count(), func.max(Region.code)).where(Region.level == "city")
        ).one()
    )


def _city_codes(session: Session) -> tuple[str, ...]:
    return tuple(session.scalars(select(Region.code).where(Region.level == "city")))


# Clients send jurisdiction_id with every request: its check reads this, not the regions table
# (~90 µs a request); a city added by another process is seen within 5 s (as the directory).
_cities = StampedCache(_city_stamp, _city_codes, ttl=5.0)


def jurisdiction(session: Session, preferred: str | None = None) -> str | None:
    """The city this deployment serves (decisions D1): its GB/T 2260 code."""
    codes = _cities.get(session)
    if preferred in codes:
        return preferred
    return min(codes) if codes else None


def check_jurisdiction(session: Session, given: str, preferred: str | None = None) -> None:
    """One deployment is one city: its adcode is accepted, any other is 404; none is fine."""
    if not given:
        return
    if given != jurisdiction(session, preferred):
        raise _not_found(
            f"未找到 jurisdiction_id {given}",
            f"jurisdiction_id {given} not found",
            code="unknown_jurisdiction",
        )


# --- services and service definitions --------------------------------------------------------------------


def _is_public() -> list[Any]:
    """Cases of public types, as conditions a planner can combine with the reported_at index
    (a NOT IN over the few hidden codes, not an IN over the many public ones)."""
    hidden = select(CatalogType.code).where(
        CatalogType.kind == "matter", CatalogType.public.is_(False)
    )
    return [Case.type_code.is_not(None), Case.type_code.not_in(hidden)]


_MISSING = object()
T = TypeVar("T")
_generations = itertools.count(1)  # tells directories apart (renderings made from each)


@dataclass(frozen=True)
class ServiceCondition:
    """One 立案条件 of a type's case standard, as the service definition shows it."""

    seq: int
    condition: str
    time_limit: str


@dataclass(frozen=True)
class ServiceType:
    """A matter type as Open311 shows it."""

    code: str
    name: str  # service_name: the city's display name, else the standard name
    view_name: str  # a request's service_name: the display name when set (even blank)
    group: str
    keywords: str
    listed: bool  # enabled and public: a service the public may report


@dataclass
class Directory:
    """What Open311 shows of the catalog and of the organisation: the matter types, their
    case-standard conditions and the department names, read in one go and kept while none of
    those tables changes (``directory``). Rendered answers built from it (the service list) are
    kept with it in ``memo``: a change makes a new directory, so they go with it."""

    types: dict[str, ServiceType]
    conditions: dict[str, tuple[ServiceCondition, ...]]
    departments: dict[str, str]
    view_names: dict[str, str] = field(init=False, repr=False)  # code → a request's service_name
    generation: int = field(default_factory=lambda: next(_generations), init=False)
    _memo: dict[Hashable, Any] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        self.view_names = {code: t.view_name for code, t in self.types.items()}

    def memo(self, key: Hashable, build: Callable[[], T]) -> T:
        hit = self._memo.get(key, _MISSING)
        if hit is _MISSING:
            hit = build()
            with self._lock:
                self._memo[key] = hit
        return hit  # type: ignore[no-any-return]

    def listed(self, code: str) -> ServiceType:
        """GeoReport v2: 404 for a service_code that is not a service."""
        t = self.types.get(code)
        if t is None or not t.listed:
            raise _not_found(
                f"未找到 service_code {code}",
                f"service_code {code} not found",
                code="unknown_service_code",
            )
        return t


def _directory_stamp(session: Session) -> Hashable:
    """Cheap to read, and changes with any edit of the three tables: catalog edits stamp
    ``updated_at``, standards are replaced (new ids), org units are few (read whole)."""
    catalog = session.execute(select(func.count(), func.max(CatalogType.updated_at))).one()
    standards = session.execute(select(func.count(), func.max(CaseStandardRow.id))).one()
    orgs = session.execute(select(OrgUnit.code, OrgUnit.name).order_by(OrgUnit.code)).all()
    return (tuple(catalog), tuple(standards), tuple(tuple(o) for o in orgs))


def _build_directory(session: Session) -> Directory:
    types = {
        t.code: ServiceType(
            code=t.code,
            name=t.display_name or t.name,
            view_name=t.display_name if t.display_name is not None else t.name,
            group=t.major_name,
            keywords=t.keywords or "",
            listed=bool(t.enabled and t.public),
        )
        for t in session.execute(
            select(
                CatalogType.code,
                CatalogType.name,
                CatalogType.display_name,
                CatalogType.major_name,
                CatalogType.keywords,
                CatalogType.enabled,
                CatalogType.public,
            ).where(CatalogType.kind == "matter")
        )
    }
    conditions: dict[str, list[ServiceCondition]] = {}
    for r in session.execute(
        select(
            CaseStandardRow.type_code,
            CaseStandardRow.seq,
            CaseStandardRow.condition,
            CaseStandardRow.time_limit,
        ).order_by(CaseStandardRow.type_code, CaseStandardRow.seq)
    ):
        conditions.setdefault(r.type_code, []).append(
            ServiceCondition(r.seq, r.condition, r.time_limit)
        )
    departments = {o.code: o.name for o in session.execute(select(OrgUnit.code, OrgUnit.name))}
    return Directory(types, {k: tuple(v) for k, v in conditions.items()}, departments)


# Changes committed in this process are seen at once (the events below); changes by another
# process (the CLI beside a server) within DIRECTORY_TTL seconds.
DIRECTORY_TTL = 5.0
_directories = StampedCache(_directory_stamp, _build_directory, ttl=DIRECTORY_TTL)
_DIRECTORY_TABLES = frozenset({"catalog_type", "case_standard", "org_unit"})


def directory(session: Session) -> Directory:
    return _directories.get(session)


def fresh_directory(db: str) -> Directory | None:
    """The directory of database ``db`` (``str(engine.url)``) when it needs no look at the
    database (checked within the TTL), else None: the caller reads it with a session."""
    return _directories.fresh(db)


def fresh_view(db: str) -> tuple[Directory, tzinfo] | None:
    """What public request views need besides their rows (the directory and the city's time
    zone) when neither is due for a check against database ``db``, else None: then the caller
    reads them with a session (``directory``, ``city_clock``). A read that has them needs no
    ORM Session: an engine connection is enough (``get_request``, ``find_requests``…)."""
    d = _directories.fresh(db)
    clock = clock_cache.fresh(db) if d is not None else None
    return None if clock is None or d is None else (d, clock.tz)


_CHANGED = "open311_directory_changed"


def _directory_written(_mapper: Any, _connection: Any, target: object) -> None:
    session = object_session(target)
    if session is not None:
        session.info[_CHANGED] = True


for _mapped in (CatalogType, CaseStandardRow, OrgUnit):  # rows written through the ORM
    for _when in ("after_insert", "after_update", "after_delete"):
        event.listen(_mapped, _when, _directory_written)


@event.listens_for(Session, "do_orm_execute")
def _directory_statement(state: ORMExecuteState) -> None:
    """Bulk statements through a session (``session.execute(delete(CaseStandardRow))``)."""
    if state.is_insert or state.is_update or state.is_delete:
        table = getattr(state.statement, "table", None)
        if getattr(table, "name", None) in _DIRECTORY_TABLES:
            state.session.info[_CHANGED] = True


@event.listens_for(Session, "after_commit")
def _directory_committed(session: Session) -> None:
    """Invalidated once the change is committed, so nobody re-reads the old state meanwhile."""
    if session.info.pop(_CHANGED, False):
        _directories.invalidate()


def public_type(session: Session, code: str) -> ServiceType:
    return directory(session).listed(code)


def _keywords(text: str) -> str | None:
    parts = [p.strip() for p in re.split(r"[,，、;；]", text or "") if p.strip()]
    return ", ".join(parts) if parts else None


def _service(
    t: ServiceType, conditions: Sequence[ServiceCondition], policy: Policy, en: bool
) -> dict[str, Any]:
    description = None
    if conditions:
        parts = [
            f"{c.condition}"
            + (f" (time limit {c.time_limit})" if en else f"（处置时限 {c.time_limit}）")
            for c in conditions
        ]
        description = "; ".join(parts) if en else "；".join(parts)
    return {
        "service_code": t.code,
        "service_name": t.name,
        "description": description,
        "metadata": bool(_attributes(conditions, en)),
        "type": "batch" if policy.hold_all else "realtime",
        "keywords": _keywords(t.keywords),
        "group": t.group,
    }


def services_of(d: Directory, policy: Policy, *, locale: str = "zh-CN") -> list[dict[str, Any]]:
    """GeoReport v2, GET Service List: the matter types the city lets the public report."""
    en = locale.startswith("en")
    listed = sorted((t for t in d.types.values() if t.listed), key=lambda t: t.code)
    return [_service(t, d.conditions.get(t.code, ()), policy, en) for t in listed]


def service_list(
    session: Session, policy: Policy, *, locale: str = "zh-CN"
) -> list[dict[str, Any]]:
    return services_of(directory(session), policy, locale=locale)


def _attributes(conditions: Sequence[ServiceCondition], en: bool) -> list[dict[str, Any]]:
    """The type's questions: which 立案条件 applies, when the standard gives a real choice."""
    if len(conditions) < 2:
        return []
    return [
        {
            "variable": True,
            "code": CONDITION_ATTRIBUTE,
            "datatype": "singlevaluelist",
            "required": False,
            "datatype_description": (
                "choose the situation that fits best (optional)"
                if en
                else "选择最符合的情形（可不选）"
            ),
            "order": 1,
            "description": "Which of these is it?" if en else "属于哪种情形？",
            "values": [{"key": str(c.seq), "name": c.condition} for c in conditions],
        }
    ]


def service_definition(session: Session, code: str, *, locale: str = "zh-CN") -> dict[str, Any]:
    """GeoReport v2, GET Service Definition (404 for codes the public cannot report)."""
    d = directory(session)
    t = d.listed(code)
    return {
        "service_code": t.code,
        "attributes": _attributes(d.conditions.get(t.code, ()), locale.startswith("en")),
    }


def changeset(session: Session) -> datetime | None:
    """When the service list last changed (Service Discovery ``changeset``)."""
    return session.scalar(select(func.max(CatalogType.updated_at)))


# --- checking a submission ---------------------------------------------------------------------------

_ATTRIBUTE_KEY = re.compile(r"^attribute\[([^\]]+)\](\[\])?$")
_NOT_XML = re.compile(r"[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^[0-9+\-() ]{3,30}$")
_URL = re.compile(r"^https?://[^\s]+$", re.IGNORECASE)


def clean_text(text: str) -> str:
    """What may travel in XML 1.0 and JSON: control characters removed, newlines kept."""
    return _NOT_XML.sub("", _CONTROL.sub("", text))


def parse_submission(values: Mapping[str, Sequence[str]]) -> Submission:
    """GeoReport v2, POST Service Request: the arguments, checked for form (every problem at once).

    ``values`` maps each argument name to the values given (form fields may repeat);
    ``attribute[code]`` and ``attribute[code][]`` become ``attributes``.
    """
    problems: list[tuple[str, str]] = []

    def one(name: str) -> str:
        for v in values.get(name, ()):
            v = clean_text(str(v)).strip()
            if v:
                return v
        return ""

    def limited(name: str, limit: int) -> str:
        v = one(name)
        if len(v) > limit:
            problems.append(
                (f"{name} 过长（上限 {limit} 字）", f"{name} is too long (at most {limit})")
            )
        return v

    code = one("service_code")
    if not code:
        problems.append(("未提供 service_code", "service_code was not provided"))
    elif not re.fullmatch(r"\d{5}", code):
        problems.append(
            (f"service_code 应为 5 位数字：{code}", f"service_code must be 5 digits: {code}")
        )
    lat_text, lon_text = one("lat"), one("long")
    lat: float | None = None
    lon: float | None = None
    if bool(lat_text) != bool(lon_text):
        problems.append(("lat 与 long 须同时提供", "lat and long must be sent together"))
    elif lat_text:
        try:
            lat, lon = float(lat_text), float(lon_text)
            if not (math.isfinite(lat + lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
                raise ValueError
        except ValueError:
            problems.append(
                ("lat/long 不是有效的 WGS-84 坐标", "lat/long are not valid WGS-84 coordinates")
            )
            lat = lon = None
    address = limited("address_string", 200)
    address_id = limited("address_id", 64)
    if not (lat_text or lon_text or address or address_id):
        problems.append(
            (
                "缺少位置：请提供 lat 与 long、address_string 或 address_id",
                "a location is required: lat & long, address_string or address_id",
            )
        )
    description = one("description")
    if len(description) > MAX_DESCRIPTION:
        problems.append(
            (
                f"description 过长（{len(description)} 字，上限 {MAX_DESCRIPTION} 字）",
                f"description is too long ({len(description)} characters, at most {MAX_DESCRIPTION})",
            )
        )
    email = limited("email", 200)
    if email and not _EMAIL.match(email):
        problems.append((f"email 格式不正确：{email}", f"email is not an e-mail address: {email}"))
    phone = one("phone")
    if phone and not _PHONE.match(phone):
        problems.append(("phone 格式不正确", "phone is not a phone number"))
    first, last = limited("first_name", 50), limited("last_name", 50)
    media_url = limited("media_url", 500)
    if media_url and not _URL.match(media_url):
        problems.append(("media_url 应为 http(s) 地址", "media_url must be an http(s) URL"))
    attributes: dict[str, tuple[str, ...]] = {}
    for key, vals in values.items():
        m = _ATTRIBUTE_KEY.match(key)
        if m is None:
            continue
        got = tuple(v for v in (clean_text(str(x)).strip() for x in vals) if v)
        if got:
            attributes.setdefault(m.group(1), ())
            attributes[m.group(1)] += got
    sub = Submission(
        service_code=code,
        lat=lat,
        lon=lon,
        address_string=address,
        address_id=address_id,
        description=description,
        attributes=attributes,
        email=email,
        device_id=limited("device_id", 100),
        account_id=limited("account_id", 100),
        first_name=first,
        last_name=last,
        phone=phone,
        media_url=media_url,
    )
    if len(sub.reporter_name) > 50:
        problems.append(("姓名过长（上限 50 字）", "first_name + last_name too long (at most 50)"))
    if problems:
        raise _bad(problems)
    return sub


def _answers(session: Session, sub: Submission) -> list[str]:
    """The attribute answers as lines for the case description (400 for answers that do not fit)."""
    conditions = directory(session).conditions.get(sub.service_code, ())
    defs = {a["code"]: a for a in _attributes(conditions, en=False)}
    problems: list[tuple[str, str]] = []
    lines: list[str] = []
    for code, given in sub.attributes.items():
        d = defs.get(code)
        if d is None:
            problems.append(
                (f"该服务没有属性 {code}", f"service {sub.service_code} has no attribute {code}")
            )
            continue
        names = {v["key"]: v["name"] for v in d["values"]}
        by_name = {v["name"]: v["name"] for v in d["values"]}
        if d["datatype"] == "singlevaluelist" and len(given) > 1:
            problems.append((f"属性 {code} 只能选一项", f"attribute {code} takes one value"))
            continue
        for value in given:
            name = names.get(value) or by_name.get(value)
            if name is None:
                problems.append(
                    (
                        f"属性 {code} 没有选项 {value}（可选：{', '.join(names)}）",
                        f"attribute {code} has no value {value} (choose from {', '.join(names)})",
                    )
                )
            else:
                label = "情形" if code == CONDITION_ATTRIBUTE else code
                lines.append(f"【{label}】{name}")
    missing = [c for c, d in defs.items() if d["required"] and c not in sub.attributes]
    problems += [(f"缺少必填属性 {c}", f"attribute {c} is required") for c in missing]
    if problems:
        raise _bad(problems)
    return lines


def _case_of(session: Session, sub: Submission) -> cases.NewCase:
    """The submission as an intake for ``cases.create_case`` (location and answers checked)."""
    public_type(session, sub.service_code)
    lines = _answers(session, sub)
    description = "\n".join([sub.description, *lines]).strip() if lines else sub.description
    if len(description) > MAX_DESCRIPTION:
        raise _bad([("description 加上属性后过长", "description plus attributes is too long")])
    component_id = None
    if sub.lat is None or sub.lon is None:
        if sub.address_id:
            if not (
                re.fullmatch(r"\d{17}", sub.address_id) and session.get(Component, sub.address_id)
            ):
                raise _bad(
                    [
                        (
                            f"未找到 address_id {sub.address_id}（应为 17 位部件编号）",
                            f"address_id {sub.address_id} not found (a 17-digit component id)",
                        )
                    ],
                    code="unknown_address_id",
                )
            component_id = sub.address_id
        else:
            raise _bad(
                [
                    (
                        "本市暂不能仅凭地址文字定位，请提供 lat 与 long（WGS-84）或部件编号 address_id",
                        "this jurisdiction cannot locate an address_string alone: send lat & long "
                        "(WGS-84) or a component id as address_id",
                    )
                ],
                code="location_required",
            )
    else:
        spatial_index(session).locate(sub.lon, sub.lat)  # outside the city: 400 before screening
    return cases.NewCase(
        source="public",
        description=description,
        type_code=sub.service_code,
        lon=sub.lon,
        lat=sub.lat,
        crs="wgs84",
        address=sub.address_string,
        component_id=component_id,
        photos=sub.media,
        reporter_name=sub.reporter_name,
        reporter_phone=sub.phone,
        reporter_contact=sub.email,
    )


# --- submitting, holding, tokens -----------------------------------------------------------------------

_writers: dict[str, threading.Lock] = {}
_writers_lock = threading.Lock()


def one_writer(engine: Engine) -> AbstractContextManager[object]:
    """On SQLite, one intake transaction at a time per database in this process.

    SQLite has a single writer. Without this, concurrent reports each start their transaction,
    and all but one wait for the write lock in SQLite's busy handler, which polls by sleeping
    (1, 2, 5 … 100 ms) and so leaves the database idle between writers; here they queue on a
    lock that is handed over the moment the previous transaction commits. PostgreSQL writes
    concurrently: no lock."""
    if engine.dialect.name != "sqlite":
        return nullcontext()
    db = str(engine.url)
    lock = _writers.get(db)
    if lock is None:
        with _writers_lock:
            lock = _writers.setdefault(db, threading.Lock())
    return lock


@dataclass(frozen=True)
class Receipt:
    service_request_id: str | None
    token: str | None
    notice: str


_accepted: dict[str, Prepared] = {}


def _accepted_sql(session: Session) -> Prepared:
    """The insert of an accepted submission, compiled once per dialect (store/fast.py)."""
    dialect = session.get_bind().dialect
    sql = _accepted.get(dialect.name)
    if sql is None:
        table = PublicSubmission.__table__
        keys = [
            "token",
            "status",
            "payload",
            "case_id",
            "api_key_id",
            "created_at",
            "decided_at",
            "note",
        ]
        sql = _accepted[dialect.name] = Prepared(insert(table), dialect, keys)  # type: ignore[arg-type]
    return sql


def prepare_submit(
    session: Session,
    sub: Submission,
    screen: ScreeningHook,
    *,
    uploads: Sequence[tuple[str, bytes]] = (),
    store: BlobStore | None = None,
    locale: str = "zh-CN",
    now: datetime | None = None,
    memo: dict[str, Any] | None = None,
) -> Callable[[Session], Receipt]:
    """A submission in two steps, for the group writer (services/writer.py): check, keep the
    uploaded photos (``uploads``: file name and bytes, saved only once the rest passed), screen
    (refusals raise), then the returned function writes the case or the held report, in the
    caller's transaction. ``memo`` keeps the screening's decision when
    the same submission is prepared again (the screening remembers what it saw)."""
    en = locale.startswith("en")
    new = _case_of(session, sub)
    if uploads:
        if store is None:
            raise ValueError("uploads need a blob store")
        ids = tuple(save_upload(session, store, data, name, None).id for name, data in uploads)
        sub = replace(sub, media=(*sub.media, *ids))
        new = replace(new, photos=sub.media)
    memo = {} if memo is None else memo
    decision: Decision | None = memo.get("decision")
    if decision is None:
        decision = memo["decision"] = screen(sub)
    if decision.verdict is Verdict.reject:
        raise _bad(
            [(f"提交被拒绝：{decision.reason}", f"rejected: {decision.reason_en}")], "rejected"
        )
    at = now or datetime.now(city_clock(session).tz)
    payload = json.dumps(sub.to_payload(), ensure_ascii=False, sort_keys=True)
    token = secrets.token_urlsafe(18)
    if decision.verdict is Verdict.hold:
        note = decision.reason[:300]

        def hold(session: Session) -> Receipt:
            session.add(
                PublicSubmission(
                    token=token,
                    status="pending",
                    payload=payload,
                    api_key_id=sub.api_key_id,
                    created_at=at,
                    note=note,
                )
            )
            session.flush()
            notice = (
                "Received; it becomes a service request once reviewed. "
                "Ask tokens/{token} for its id."
                if en
                else "已收到，经人工审核后生成案件编号；可用 token 查询。"
            )
            return Receipt(None, token, notice.replace("{token}", token))

        return hold
    # Open311 answers no duplicate candidates: the probe is skipped.
    plan = cases.prepare_intake(
        session, cases.actor_of(session, None), new, now=at, duplicates=False
    )

    def accept(session: Session) -> Receipt:
        def submission(cursor: Any, row: Case) -> None:
            _accepted_sql(session).execute(
                cursor,
                {
                    "token": token,
                    "status": "accepted",
                    "payload": payload,
                    "case_id": row.id,
                    "api_key_id": sub.api_key_id,
                    "created_at": at,
                    "decided_at": at,
                    "note": "自动受理 / accepted on receipt",
                },
            )

        if isinstance(plan, cases.Created):  # (no idempotency key here: never, in practice)
            created = plan
            submission(dbapi_cursor(session), created.case)
        else:
            created = cases.write_intake(session, plan, also=submission)
        limit = stage_limits(session).register
        notice = (
            f"Received as {created.case.number}; the command centre registers reports "
            f"within {limit.en}."
            if en
            else f"已收到，案件编号 {created.case.number}；指挥中心将在{limit}内受理。"
        )
        return Receipt(created.case.number, None, notice)

    return accept


def list_submissions(session: Session, status: str | None = "pending") -> list[PublicSubmission]:
    q = select(PublicSubmission).order_by(PublicSubmission.created_at)
    if status:
        q = q.where(PublicSubmission.status == status)
    return list(session.scalars(q))


def _held(session: Session, token: str) -> PublicSubmission:
    row = session.get(PublicSubmission, token)
    if row is None:
        raise _not_found(f"未找到 token {token}", f"token {token} not found", code="unknown_token")
    if row.status != "pending":
        raise CityopsError(
            f"该上报已处理（{row.status}）",
            en=f"this report was already decided ({row.status})",
            code="already_decided",
        )
    return row


def accept_submission(
    session: Session, token: str, by: str, *, now: datetime | None = None
) -> Case:
    """A person accepts a held report: it becomes a public case like any other."""
    row = _held(session, token)
    sub = Submission.from_payload(json.loads(row.payload))
    at = now or datetime.now(city_clock(session).tz)
    created = cases.create_case(session, None, _case_of(session, sub), now=at)
    row.status, row.case_id, row.decided_at = "accepted", created.case.id, at
    row.note = f"{by} 审核通过 / accepted"[:300]
    session.flush()
    return created.case


def reject_submission(
    session: Session, token: str, by: str, reason: str, *, now: datetime | None = None
) -> PublicSubmission:
    if not reason.strip():
        raise ValidationFailed("请填写不予受理的原因", en="give a reason", code="missing_input")
    row = _held(session, token)
    row.status, row.decided_at = "rejected", now or datetime.now(UTC)
    row.note = f"{by}：{reason.strip()}"[:300]
    session.flush()
    return row


def token_status(session: Session, token: str) -> dict[str, Any]:
    """GeoReport v2, GET service_request_id from a token (null id while the report waits)."""
    row = session.get(PublicSubmission, token)
    if row is None:
        raise _not_found(f"未找到 token {token}", f"token {token} not found", code="unknown_token")
    if row.status == "rejected":
        raise _not_found(
            f"token {token} 对应的上报经审核未被受理",
            f"the report behind token {token} was declined at review",
            code="declined",
        )
    number = (
        session.scalar(select(Case.number).where(Case.id == row.case_id)) if row.case_id else None
    )
    return {"service_request_id": number, "token": token}


# --- GET requests: the query -------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestQuery:
    ids: tuple[str, ...] = ()
    service_codes: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    updated_after: datetime | None = None
    updated_before: datetime | None = None
    bbox: tuple[float, float, float, float] | None = None
    near: tuple[float, float, float] | None = None  # lat, lon, radius in metres
    page: int = 1
    page_size: int = MAX_PAGE_SIZE
    extensions: bool = False
    paged: bool = False  # the client used the paging extension (page or page_size): count all


def parse_w3(text: str, tz: tzinfo) -> datetime:
    """W3C date/time (YYYY, YYYY-MM, YYYY-MM-DD, or a full time with its zone); a time without
    a zone is read in the city's time zone, a '+' turned into a space by the query is mended."""
    text = text.strip()
    text = re.sub(r"(T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}:?\d{2})$", r"\1+\2", text)
    try:
        if re.fullmatch(r"\d{4}", text):
            return datetime(int(text), 1, 1, tzinfo=tz)
        if re.fullmatch(r"\d{4}-\d{2}", text):
            y, m = text.split("-")
            return datetime(int(y), int(m), 1, tzinfo=tz)
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            d = date.fromisoformat(text)
            return datetime(d.year, d.month, d.day, tzinfo=tz)
        if "T" not in text:
            raise ValueError(text)
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(text) from None
    return value if value.tzinfo else value.replace(tzinfo=tz)


def parse_query(
    params: Sequence[tuple[str, str]], *, now: datetime, default_page_size: int = MAX_PAGE_SIZE
) -> RequestQuery:
    """GeoReport v2, GET Service Requests, with the 90-day window rules, and the extensions:
    page/page_size, bbox, lat/long/radius, extensions=true; v2.1 updated_after/updated_before."""
    tz = now.tzinfo or UTC
    values: dict[str, list[str]] = {}
    for k, v in params:
        if v.strip():
            values.setdefault(k, []).append(v.strip())
    problems: list[tuple[str, str]] = []

    def listed(name: str) -> tuple[str, ...]:
        return tuple(
            dict.fromkeys(
                p.strip() for v in values.get(name, []) for p in v.split(",") if p.strip()
            )
        )

    def when(name: str) -> datetime | None:
        if name not in values:
            return None
        try:
            return parse_w3(values[name][0], tz)
        except ValueError:
            problems.append(
                (
                    f"{name} 不是 W3C 日期时间格式（如 2026-01-01T00:00:00+08:00）",
                    f"{name} is not a W3C date/time (e.g. 2026-01-01T00:00:00Z)",
                )
            )
            return None

    def number(name: str, default: float | None = None) -> float | None:
        if name not in values:
            return default
        try:
            x = float(values[name][0])
            if math.isfinite(x):
                return x
        except ValueError:
            pass
        problems.append((f"{name} 不是数值", f"{name} is not a number"))
        return None

    ids = listed("service_request_id")
    if len(ids) > MAX_IDS:
        problems.append(
            (f"service_request_id 最多 {MAX_IDS} 个", f"at most {MAX_IDS} service_request_id")
        )
    codes = listed("service_code")
    if any(not re.fullmatch(r"\d{5}", c) for c in codes):
        problems.append(("service_code 应为 5 位数字", "service_code must be 5 digits"))
    statuses = listed("status")
    if any(s not in ("open", "closed") for s in statuses):
        problems.append(("status 只能是 open 或 closed", "status must be open or closed"))
    start, end = when("start_date"), when("end_date")
    after, before = when("updated_after"), when("updated_before")
    page_f = number("page", 1)
    size_f = number("page_size", default_page_size)
    page = int(page_f) if page_f is not None and page_f == int(page_f) else 0
    size = int(size_f) if size_f is not None and size_f == int(size_f) else 0
    if page < 1:
        problems.append(("page 应为正整数", "page must be a positive integer"))
    if not 1 <= size <= MAX_PAGE_SIZE:
        problems.append(
            (f"page_size 应在 1–{MAX_PAGE_SIZE} 之间", f"page_size must be 1–{MAX_PAGE_SIZE}")
        )
    bbox = None
    if "bbox" in values:
        try:
            parts = [float(p) for p in values["bbox"][0].split(",")]
            if len(parts) != 4:
                raise ValueError
            bbox = (parts[0], parts[1], parts[2], parts[3])
            if not (bbox[0] < bbox[2] and bbox[1] < bbox[3]) or not all(map(math.isfinite, parts)):
                raise ValueError
        except ValueError:
            problems.append(
                (
                    "bbox 应为 最小经度,最小纬度,最大经度,最大纬度（WGS-84）",
                    "bbox must be min_long,min_lat,max_long,max_lat (WGS-84)",
                )
            )
            bbox = None
    near = None
    lat, lon, radius = number("lat"), number("long"), number("radius")
    if (lat is None) != (lon is None):
        problems.append(("lat 与 long 须同时提供", "lat and long must be sent together"))
    elif lat is not None and lon is not None:
        r = radius if radius is not None else 500.0
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            problems.append(("lat/long 超出范围", "lat/long out of range"))
        elif not 0 < r <= MAX_RADIUS_M:
            problems.append(
                (
                    f"radius 应在 0–{MAX_RADIUS_M:.0f} 米之间",
                    f"radius must be 0–{MAX_RADIUS_M:.0f} m",
                )
            )
        else:
            near = (lat, lon, r)
    elif radius is not None:
        problems.append(("radius 需要同时提供 lat 与 long", "radius needs lat and long"))
    if not ids:  # service_request_id overrides every other argument
        if after is not None or before is not None:
            after, before = _updated_window(after, before, now, problems)
            if start is not None or end is not None:
                start, end = _window(start, end, now, problems)
        else:
            start, end = _window(start, end, now, problems)
    if problems:
        raise _bad(problems)
    ext = values.get("extensions", ["false"])[0].lower() in ("true", "1", "yes")
    return RequestQuery(
        ids=ids,
        service_codes=codes,
        statuses=statuses,
        start=start if not ids else None,
        end=end if not ids else None,
        updated_after=after if not ids else None,
        updated_before=before if not ids else None,
        bbox=bbox,
        near=near,
        page=page,
        page_size=size,
        extensions=ext,
        paged="page" in values or "page_size" in values,
    )


def _window(
    start: datetime | None, end: datetime | None, now: datetime, problems: list[tuple[str, str]]
) -> tuple[datetime, datetime]:
    """requested_datetime within at most 90 days: neither given → the last 90 days; one given →
    90 days from (or up to) it; both → a range of at most 90 days."""
    if start is None and end is None:
        return now - WINDOW, now
    if start is None:
        assert end is not None
        return end - WINDOW, end
    if end is None:
        return start, start + WINDOW
    if start > end:
        problems.append(("start_date 晚于 end_date", "start_date is later than end_date"))
    elif end - start > WINDOW:
        problems.append(
            (
                "start_date 到 end_date 不能超过 90 天",
                "start_date to end_date may not span more than 90 days",
            )
        )
    return start, end


def _updated_window(
    after: datetime | None, before: datetime | None, now: datetime, problems: list[tuple[str, str]]
) -> tuple[datetime, datetime]:
    """updated_datetime between updated_after and updated_before (v2.1 draft): a missing
    updated_before is now; a missing updated_after is 90 days before updated_before (the draft
    leaves that open; the same 90 days as start_date/end_date). No span limit otherwise: this
    query exists to fetch a changeset reaching older requests, and paging bounds the answer."""
    before = before or now
    after = after or before - WINDOW
    if after > before:
        problems.append(
            ("updated_after 晚于 updated_before", "updated_after is later than updated_before")
        )
    return after, before


# What the public view reads of a case, in one statement: the columns it shows, and around them
# the report's log entry (its photos), the void's entry (the reason, only for voided cases), the
# parent's number (a merged duplicate) and the submission (a client's own media_url, only for
# public reports). Each is a correlated lookup on a primary key or unique index.
CaseRow = Row[*tuple[Any, ...]]


def _stored(column: Any) -> Any:
    """A time as the database returns it (SQLite: naive UTC text; PostgreSQL: an aware
    datetime), turned into text only if shown (``_local``): cheaper than converting every time
    of every row to a datetime first."""
    return type_coerce(column, String).label(column.key)


# The order request_views unpacks: keep the two in step.
_VIEW_COLUMNS = (
    Case.id,
    Case.number,
    Case.state,
    Case.source,
    Case.type_code,
    Case.description,
    Case.address,
    Case.lon,
    Case.lat,
    Case.component_id,
    Case.department,
    Case.reporter_name,
    _stored(Case.reported_at),
    _stored(Case.updated_at),
    _stored(Case.closed_at),
    _stored(Case.due_at),
    Case.stage,
    Case.close_reason,
    Case.version,  # with updated_at: which state of the case a rendered element shows
)
_LOG_COLUMNS = (CaseLogRow.case_id, *LOG_COLUMNS)  # what public_trail reads, by case
_Parent = aliased(Case, name="parent")


def _view_select() -> Select[*tuple[Any, ...]]:
    report = (
        select(CaseLogRow.entry)
        .where(CaseLogRow.case_id == Case.id, CaseLogRow.seq == 1)
        .scalar_subquery()
    )
    void = (
        select(CaseLogRow.entry)
        .where(CaseLogRow.case_id == Case.id, CaseLogRow.action == Action.void.value)
        .order_by(CaseLogRow.seq.desc())
        .limit(1)
        .scalar_subquery()
    )
    parent = select(_Parent.number).where(_Parent.id == Case.parent_id).scalar_subquery()
    submission = (
        select(PublicSubmission.payload)
        .where(PublicSubmission.case_id == Case.id)
        .limit(1)
        .scalar_subquery()
    )
    return select(
        *_VIEW_COLUMNS,
        report.label("report_entry"),  # the log's first entry: the report's photos
        case((Case.state == State.voided.value, void)).label("void_entry"),
        case((Case.parent_id.is_not(None), parent)).label("parent_number"),
        case((Case.source == "public", submission)).label("submission"),
    )


@dataclass(frozen=True)
class RequestPage:
    rows: list[CaseRow]  # rows of _view_select, newest first
    total: int | None  # how many match in all; None when it was not counted
    more: bool  # there is a next page


def _shape(q: RequestQuery) -> tuple[tuple[str, ...], dict[str, Any]]:
    """Which filters the query uses (its statement's shape) and their values."""
    if q.ids:
        return ("ids",), {"ids": list(q.ids)}
    shape: list[str] = []
    params: dict[str, Any] = {}
    if q.service_codes:
        shape.append("codes")
        params["codes"] = list(q.service_codes)
    if set(q.statuses) in ({"open"}, {"closed"}):
        shape.append(q.statuses[0])
    for name, value in (
        ("start", q.start),
        ("end", q.end),
        ("after", q.updated_after),
        ("before", q.updated_before),
    ):
        if value is not None:
            shape.append(name)
            params[name] = value
    if q.bbox is not None:
        shape.append("bbox")
        params.update(zip(("x0", "y0", "x1", "y1"), q.bbox, strict=True))
    if q.near is not None:
        lat0, lon0, r = q.near
        kx = 111_320.0 * math.cos(math.radians(lat0))  # metres per degree, local
        ky = 110_574.0
        dlat, dlon = r / ky, r / max(kx, 1e-6)
        shape.append("near")
        params |= {
            "lat_lo": lat0 - dlat,
            "lat_hi": lat0 + dlat,
            "lon_lo": lon0 - dlon,
            "lon_hi": lon0 + dlon,
            "lat0": lat0,
            "lon0": lon0,
            "kx": kx,
            "ky": ky,
            "r2": r * r,
        }
    return tuple(shape), params


def _where(shape: tuple[str, ...]) -> list[Any]:
    """The conditions of a shape, with its values as bound parameters."""
    where: list[Any] = _is_public()
    p = bindparam
    for name in shape:
        if name == "ids":
            where.append(Case.number.in_(p("ids", expanding=True)))
        elif name == "codes":
            where.append(Case.type_code.in_(p("codes", expanding=True)))
        elif name == "open":
            where.append(Case.state.in_([s.value for s in OPEN_STATES]))
        elif name == "closed":
            where.append(Case.state.in_([State.closed.value, State.voided.value]))
        elif name == "start":
            where.append(Case.reported_at >= p("start"))
        elif name == "end":
            where.append(Case.reported_at <= p("end"))
        elif name == "after":
            where.append(Case.updated_at >= p("after"))
        elif name == "before":
            where.append(Case.updated_at <= p("before"))
        elif name == "bbox":
            where += [Case.lon.between(p("x0"), p("x1")), Case.lat.between(p("y0"), p("y1"))]
        elif name == "near":
            dx = (Case.lon - p("lon0")) * p("kx")
            dy = (Case.lat - p("lat0")) * p("ky")
            where += [
                Case.lat.between(p("lat_lo"), p("lat_hi")),
                Case.lon.between(p("lon_lo"), p("lon_hi")),
                dx * dx + dy * dy <= p("r2"),
            ]
    return where


# Statements by shape, built once: building a statement costs more than running it on a
# primary key, and a statement object that is used again skips SQLAlchemy's result adaptation.
_statements: dict[tuple[str, ...], Any] = {}


def _statement(key: tuple[str, ...], build: Callable[[], Any]) -> Any:
    stmt = _statements.get(key)
    if stmt is None:
        stmt = _statements.setdefault(key, build())
    return stmt


_NEWEST_FIRST = (Case.reported_at.desc(), Case.id.desc())


def _page_statement(shape: tuple[str, ...], columns: Select[*tuple[Any, ...]]) -> Any:
    query = columns.where(*_where(shape)).order_by(*_NEWEST_FIRST)
    if shape == ("ids",):
        return query
    return query.limit(bindparam("limit", type_=Integer)).offset(bindparam("offset", type_=Integer))


Reader = Session | Connection  # reads of public views are Core statements: either will do


def _conn(db: Reader) -> Connection:
    """Core rows: no ORM bookkeeping for a read-only page."""
    return db.connection() if isinstance(db, Session) else db


def _find(db: Reader, q: RequestQuery, what: str) -> RequestPage:
    shape, params = _shape(q)
    conn = _conn(db)
    columns = _key_select if what == "keys" else _view_select
    page = _statement((what, *shape), lambda: _page_statement(shape, columns()))
    if q.ids:
        rows = list(conn.execute(page, params).all())
        rank = {n: i for i, n in enumerate(q.ids)}
        rows.sort(key=lambda r: rank.get(r.number, 0))
        return RequestPage(rows, len(rows), False)
    offset = (q.page - 1) * q.page_size
    rows = list(conn.execute(page, {**params, "limit": q.page_size + 1, "offset": offset}).all())
    more = len(rows) > q.page_size
    del rows[q.page_size :]
    total: int | None = None
    if not more and (rows or q.page == 1):
        total = offset + len(rows)  # this page is the last: the total needs no count
    elif q.paged:
        count = _statement(
            ("count", *shape),
            lambda: select(func.count()).select_from(Case).where(*_where(shape)),
        )
        total = conn.execute(count, params).scalar_one()
    return RequestPage(rows, total, more)


def find_requests(db: Reader, q: RequestQuery) -> RequestPage:
    """The public cases the query asks for, newest first: one page, read with one more row to
    learn whether another page follows.

    How many match in all is counted only when the client uses the paging extension (``page``
    or ``page_size``): counting a 90-day window means reading every case in it, the cost the
    page itself avoids. Without paging arguments the total is known when everything fits on the
    page, and otherwise left out (docs/open311.md, "Paging and totals")."""
    return _find(db, q, "rows")


def _key_select() -> Select[*tuple[Any, ...]]:
    return select(Case.id, Case.number, Case.version, _stored(Case.updated_at))


def find_request_keys(db: Reader, q: RequestQuery) -> RequestPage:
    """Like ``find_requests``, but the rows are only (id, number, version, updated_at): what a
    cache of rendered requests needs to tell whether it holds a case as it is now. Every
    change of a case bumps its ``version`` (and stamps ``updated_at``)."""
    return _find(db, q, "keys")


def requests_by_id(db: Reader, ids: Sequence[int]) -> list[CaseRow]:
    """Rows of ``_view_select`` for these public cases (any order)."""
    if not ids:
        return []
    stmt = _statement(
        ("by_id",),
        lambda: _view_select().where(Case.id.in_(bindparam("ids", expanding=True)), *_is_public()),
    )
    return list(_conn(db).execute(stmt, {"ids": list(ids)}).all())


@dataclass(frozen=True)
class _DriverPlan:
    sql: str
    names: tuple[str, ...]  # the positional parameters, in order
    fixed: dict[str, Any]  # the values the statement binds itself
    row: Callable[[Sequence[Any]], Any]  # rows with the statement's column names


_plans: dict[tuple[Any, str], _DriverPlan | None] = {}


def _plan(stmt: Any, dialect: Any) -> _DriverPlan | None:
    """How to run ``stmt`` on the driver's cursor, or None where SQLAlchemy must (not SQLite,
    values that need converting on the way in or out, parameters expanded per call)."""
    if dialect.name != "sqlite":
        return None
    compiled = stmt.compile(dialect=dialect)
    names = compiled.positiontup
    if names is None or "POSTCOMPILE" in compiled.string:
        return None
    if any(compiled.binds[n].type.bind_processor(dialect) for n in names):
        return None
    columns = list(stmt.selected_columns)
    if any(c.type.result_processor(dialect, None) for c in columns):
        return None
    binds = compiled.binds
    fixed = {n: binds[n].effective_value for n in names if not binds[n].required}
    shape: Any = namedtuple("row", [c.key for c in columns], rename=True)  # type: ignore[misc]
    row = shape._make
    return _DriverPlan(compiled.string, tuple(names), fixed, row)


def _on_driver(conn: Connection, stmt: Any, params: Mapping[str, Any]) -> list[Any]:
    """The rows of a statement built once (``_statement``), run as its SQL on the SQLite
    driver's cursor: SQLAlchemy's execution of even a cached statement (parameters, result
    set-up) costs about five times the lookup on a unique index it makes (~100 against ~20 µs
    on the benchmark machine). Same rows, same transaction (the connection's own cursor);
    where anything would differ (``_plan``), through SQLAlchemy."""
    key = (stmt, conn.dialect.name)
    plan = _plans.get(key, _MISSING)
    if plan is _MISSING:
        plan = _plans.setdefault(key, _plan(stmt, conn.dialect))
    if not isinstance(plan, _DriverPlan):
        return list(conn.execute(stmt, params).all())
    args = [params[n] if n in params else plan.fixed[n] for n in plan.names]
    cursor = conn.connection.cursor()
    try:
        return [plan.row(r) for r in cursor.execute(plan.sql, args).fetchall()]
    finally:
        cursor.close()


def get_request(db: Reader, number: str) -> CaseRow:
    """One public case by its number (the unique index), with all its view reads in the same
    statement."""
    one = _statement(
        ("one",),
        lambda: _view_select().where(Case.number == bindparam("number"), *public_case_only()),
    )
    rows = _on_driver(_conn(db), one, {"number": number})
    row: CaseRow | None = rows[0] if rows else None
    if row is None:
        raise _not_found(
            f"未找到 service_request_id {number}",
            f"service_request_id {number} not found",
            code="unknown_service_request_id",
        )
    return row


# --- GET requests: the public view of a case ------------------------------------------------------------


# The public page's stage labels (services/public.py), except that a request's
# extended_attributes.stage_label names the stage it is in, not one it has passed.
_STAGE_LABELS = {
    **STAGE_LABELS,
    "handle": ("处置", "being handled"),
    "verify": ("核实", "being verified"),
}
_ACTION_LABELS: dict[str, tuple[str, str]] = {"report": ("上报", "reported")}
for _t in TRANSITIONS:
    _ACTION_LABELS.setdefault(_t.action.value, _t.label)


@dataclass(frozen=True)
class _StateView:
    closed: bool  # GeoReport status closed (closed or voided)
    label_zh: str
    label_en: str
    stage: str  # the public stage (detailed_status)


_STATES = {
    s.value: _StateView(s in (State.closed, State.voided), s.label_zh, s.label_en, s.public_stage)
    for s in State
}


def w3(value: datetime | None, tz: tzinfo) -> str | None:
    return value.astimezone(tz).isoformat(timespec="seconds") if value else None


_HOUR = timedelta(hours=1)
_hour_offsets: dict[tuple[str, tzinfo], tuple[timedelta, str] | None] = {}


def _hour_offset(hour: str, tz: tzinfo) -> tuple[timedelta, str] | None:
    """The zone's offset and its W3C suffix (``+08:00``) for every UTC instant of the hour
    ``hour`` (``YYYY-MM-DD HH``), or None when the offset changes within it (a transition)."""
    key = (hour, tz)
    if key in _hour_offsets:
        return _hour_offsets[key]
    start = datetime.fromisoformat(hour + ":00:00").replace(tzinfo=UTC)
    first, last = start.astimezone(tz), (start + _HOUR).astimezone(tz)
    offset = first.utcoffset()
    found = None
    if offset is not None and offset == last.utcoffset():
        found = (offset, first.isoformat(timespec="seconds")[19:])
    if len(_hour_offsets) >= 100_000:
        _hour_offsets.clear()
    _hour_offsets[key] = found
    return found


def _local(value: str | datetime | None, tz: tzinfo) -> str | None:
    """A time read by ``_stored`` as W3C text in the city's zone. SQLite's text (UTC) is moved
    by the offset of its hour, found once per hour: converting each time through the zone
    was a fifth of rendering a request element."""
    if value is None:
        return None
    if isinstance(value, str):  # SQLite: UTC without a zone, as UtcDateTime writes it
        hour = _hour_offset(value[:13], tz) if len(value) >= 19 and value[13] == ":" else None
        if hour is not None:
            shifted = datetime.fromisoformat(value) + hour[0]
            return shifted.isoformat(timespec="seconds") + hour[1]
        value = datetime.fromisoformat(value).replace(tzinfo=UTC)
    return value.astimezone(tz).isoformat(timespec="seconds")


def _photos(report_entry: str | None) -> list[str]:
    """The attachment ids of the report (the case log's first entry)."""
    if not report_entry or '"attachments"' not in report_entry:
        return []
    return list(json.loads(report_entry).get("attachments", []))


def _status_notes(
    state: str, close_reason: str | None, void_entry: str | None, parent: str | None, en: bool
) -> str:
    if state == State.voided.value:
        reason = str(json.loads(void_entry).get("reason", "")) if void_entry else ""
        base = "voided" if en else "已作废"
        return f"{base}: {reason}" if en and reason else (f"{base}：{reason}" if reason else base)
    if state == State.closed.value:
        if close_reason == "duplicate":
            parent = parent or ""
            return f"duplicate of {parent}" if en else f"与 {parent} 重复，已合并处理"
        if close_reason == "self_handled":
            return "fixed on the spot by a supervisor" if en else "监督员已现场处置"
        return "closed" if en else "已结案"
    view = _STATES[state]
    return view.label_en if en else view.label_zh


def _logs_of(db: Reader, ids: Sequence[int]) -> dict[int, list[CaseRow]]:
    logs: dict[int, list[CaseRow]] = {}
    if ids:
        q = select(*_LOG_COLUMNS).where(CaseLogRow.case_id.in_(ids))
        for log in _conn(db).execute(q.order_by(CaseLogRow.case_id, CaseLogRow.seq)):
            logs.setdefault(log.case_id, []).append(log)
    return logs


def _notes(
    source: str,
    reporter_name: str,
    logs: Sequence[CaseRow],
    departments: Mapping[str, str],
    tz: tzinfo,
    en: bool,
) -> list[dict[str, Any]]:
    """The case log as notes: the steps the public sees (``public_trail``: the report and the
    steps that moved the case; who acted is never shown)."""
    out = []
    for log in public_trail(logs).steps:
        entry = log.entry
        zh, en_label = _ACTION_LABELS.get(log.action, (log.action, log.action))
        text = en_label if en else zh
        if log.seq == 1:
            src = cases.SOURCES.get(source, (source, source))
            text = f"{text} ({src[1]})" if en else f"{text}（{src[0]}）"
        elif log.action == Action.dispatch.value:
            dept = entry.get("sets", {}).get("department")
            name = departments.get(dept, dept) if dept else ""
            if name:
                text = f"{text} → {name}"
        extra = entry.get("reason") or (entry.get("note") if log.seq != 1 else "")
        if extra:
            text = f"{text}: {extra}" if en else f"{text}：{extra}"
        out.append(
            {
                "datetime": w3(log.at, tz),
                "type": log.action,
                "status": "closed" if log.to_state in (State.closed, State.voided) else "open",
                "description": scrub(text, reporter_name),
            }
        )
    return out


def request_views(
    session: Session,
    rows: Sequence[CaseRow],
    *,
    base_url: str,
    locale: str = "zh-CN",
    extensions: bool = False,
) -> list[dict[str, Any]]:
    """GeoReport v2 request elements for public cases (never the reporter's identity), from rows
    of ``find_requests``/``get_request``; only ``extensions`` reads more (the logs, for notes)."""
    return views_of(
        session,
        rows,
        directory(session),
        city_clock(session).tz,
        base_url=base_url,
        locale=locale,
        extensions=extensions,
    )


def views_of(
    db: Reader,
    rows: Sequence[CaseRow],
    d: Directory,
    tz: tzinfo,
    *,
    base_url: str,
    locale: str = "zh-CN",
    extensions: bool = False,
) -> list[dict[str, Any]]:
    """``request_views`` with the directory and time zone given (``fresh_view``): reads
    nothing unless ``extensions`` (the logs, for notes)."""
    en = locale.startswith("en")
    names, departments = d.view_names, d.departments
    logs = _logs_of(db, [r.id for r in rows]) if extensions else {}
    out = []
    for (
        case_id,
        number,
        state_value,
        source,
        type_code,
        description,
        address,
        lon,
        lat,
        component_id,
        department,
        name,  # the reporter's, masked wherever it appears
        reported_at,
        updated_at,
        closed_at,
        due_at,
        stage,
        close_reason,
        _version,
        report_entry,
        void_entry,
        parent_number,
        submission,
    ) in rows:
        state = _STATES[state_value]
        closed = state.closed
        photos = _photos(report_entry)
        media: str | None = None
        if photos:
            media = f"{base_url}/media/{number}/{photos[0]}"
        elif submission:  # no upload: the client's own media_url, if it sent one
            media = json.loads(submission).get("media_url") or None
        notes = _status_notes(state_value, close_reason, void_entry, parent_number, en)
        dept_name = departments.get(department) if department else None
        view: dict[str, Any] = {
            "service_request_id": number,
            "status": "closed" if closed else "open",
            "status_notes": scrub(notes, name),
            "service_name": names.get(type_code or "", type_code),
            "service_code": type_code,
            "description": scrub(description, name) or None,
            "agency_responsible": dept_name,
            "service_notice": None,
            "requested_datetime": _local(reported_at, tz),
            "updated_datetime": _local(closed_at if closed and closed_at else updated_at, tz),
            "expected_datetime": _local(due_at, tz) if stage == "handling" and not closed else None,
            "address": scrub(address, name) or None,
            "address_id": component_id,
            "zipcode": None,
            "lat": round(lat, 7) if lat is not None else None,
            "long": round(lon, 7) if lon is not None else None,
            "media_url": media,
        }
        if extensions:
            view["detailed_status"] = state.stage
            view["extended_attributes"] = {
                "stage": state.stage,
                "stage_label": _STAGE_LABELS[state.stage][1 if en else 0],
                "department": department,
                "department_name": dept_name,
                "photos": [f"{base_url}/media/{number}/{p}" for p in photos],
            }
            view["notes"] = _notes(source, name, logs.get(case_id, []), departments, tz, en)
        out.append(view)
    return out


def view_context(session: Session, *, base_url: str, locale: str) -> Hashable:
    """Everything a rendered request element depends on besides its case's row: the catalog
    and department names (the directory in use), the city's time zone, the base URL of media
    links and the language. With the case's (id, version, updated_at) it keys a cache of
    rendered elements."""
    return context_of(directory(session), city_clock(session).tz, base_url=base_url, locale=locale)


def context_of(d: Directory, tz: tzinfo, *, base_url: str, locale: str) -> Hashable:
    """``view_context`` with the directory and time zone given."""
    return (d.generation, str(tz), base_url, locale.startswith("en"))


def public_photo(session: Session, number: str, attachment_id: str) -> Attachment:
    """A photo of a public case's report: the public may fetch its EXIF-stripped copy."""
    row = get_request(session, number)
    if attachment_id not in _photos(row.report_entry):
        raise _not_found(
            f"未找到案件 {number} 的照片 {attachment_id}",
            f"no photo {attachment_id} on {number}",
            code="unknown_media",
        )
    att = session.get(Attachment, attachment_id)
    if att is None:
        raise _not_found("照片不存在", "photo not found", code="unknown_media")
    return att
