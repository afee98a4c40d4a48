"""Bulk history, step 2: the rows of a batch (``bulk_flow.Flow``) as the services write them.

Per case: the ``cases`` row as its log leaves it, one ``case_log`` row per event with the entry
``core.workflow.decide`` would have written (``LogEntry.to_json()``: sets, clocks, notify, task)
chained by ``entry_hash`` exactly as ``services.cases`` does, so ``cityops audit verify`` (hash
chain and replay of the log against the row) passes; one ``case_stage`` row per stage clock run
and one ``task`` per check or verification.

The entry is stored as the same canonical JSON without the blanks after separators (services
write ``json.dumps(..., sort_keys=True)`` with them): it reads back to the same ``LogEntry`` and
hashes the same, 10 % fewer bytes. No attachments (photos) and no outbox events.

Text is built column-wise with NumPy (fixed-width byte arrays, NUL-padded, NULs dropped when a
row is joined) and per row only where it must be: one ``%`` format of each entry and its SHA-256.
Output: PostgreSQL ``COPY`` text, or columns for SQLite ``executemany``.
"""

from __future__ import annotations

import hashlib
import json
import re
from binascii import hexlify
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
from numpy.typing import NDArray

from cityops.sim.bulk_flow import (
    FROM_TO,
    KINDS,
    R_DIS1,
    R_DIS2,
    R_HAN,
    R_HANR,
    R_HANW,
    R_REG,
    R_VER1,
    R_VER2,
    RUNS,
    STATES,
    Flow,
    K,
)
from cityops.sim.flow import (
    EXTENSION_REASONS,
    RETURN_REASONS,
    REWORK_REASONS,
    ROADS,
    SUSPENSION_REASONS,
    VOID_REASONS,
)

GENESIS = b"0" * 64  # services.cases.GENESIS
U8 = NDArray[np.uint8]
Arr = NDArray[Any]

ROLE = {
    "request_check": "acceptor",
    "complete_check": "supervisor",
    "void": "acceptor",
    "merge_duplicate": "acceptor",
    "self_close": "supervisor",
    "register": "acceptor",
    "dispatch_wrong": "dispatcher",
    "return": "department",
    "dispatch": "dispatcher",
    "accept": "department",
    "assign": "department",
    "request_extension": "department",
    "approve_extension": "dispatcher",
    "reject_extension": "dispatcher",
    "request_suspension": "department",
    "suspend": "dispatcher",
    "resume": "dispatcher",
    "urge": "dispatcher",
    "report_done": "handler",
    "request_verify": "acceptor",
    "complete_verify": "supervisor",
    "rework": "dispatcher",
    "report_done_2": "handler",
    "request_verify_2": "acceptor",
    "complete_verify_2": "supervisor",
    "close": "acceptor",
    "supervise": "leader",
}
SOURCES = ("patrol", "public", "hotline")
ROLES = ("supervisor", "acceptor", "dispatcher", "department", "handler", "leader", "public")
ACTIONS = tuple(
    "close" if k == "self_close" else k.removesuffix("_2").replace("_wrong", "") for k in KINDS
)
REPORTER_ROLE = ("supervisor", "public", "acceptor")  # by source (a hotline case: the acceptor)
DESCRIPTION_PREFIX = ("", "市民反映：", "12345转办：")
MERGE_REASON = "同一问题重复上报，合并"
REJECT_REASON = "理由不充分，请按期处置"
NOTES = {
    "check_ok": "现场核查属实",
    "check_failed": "现场未发现该问题",
    "urge": "已超期，请尽快处置",
    "supervise": "群众反映强烈，限期办结",
    "done": "已按标准处置完毕",
    "verify_ok": "现场核实已处置",
    "verify_failed": "现场核实未处置到位",
}
SURNAMES, TITLES = "王李张刘陈杨赵黄", ("先生", "女士")


# --- text columns ------------------------------------------------------------------------------------


def jtok(text: str | list[str] | None) -> bytes:
    """A JSON token as ``json.dumps(..., ensure_ascii=False)`` writes it."""
    return json.dumps(text, ensure_ascii=False).encode()


def vocab(tokens: Sequence[bytes]) -> Arr:
    """Byte strings as a fixed-width array (index it with codes)."""
    width = max((len(t) for t in tokens), default=1) or 1
    return np.array(list(tokens), dtype=f"S{width}")


def _matrix(a: Arr) -> U8:
    return a.view(np.uint8).reshape(len(a), a.dtype.itemsize)


def _s(matrix: U8) -> Arr:
    m, w = matrix.shape
    return np.ascontiguousarray(matrix).view(f"S{w}").reshape(m)


_SMALL = np.array([str(i).encode() for i in range(1 << 16)], dtype="S5")
_SEQ4 = np.array([f"{i:04d}".encode() for i in range(10_000)], dtype="S4")


def _left(mat: U8) -> U8:
    """Rows with their padding (NULs) moved to the end, the bytes kept in order."""
    keep = mat != 0
    out = np.zeros_like(mat)
    rows, cols = np.nonzero(keep)
    pos = np.cumsum(keep, axis=1) - 1
    out[rows, pos[rows, cols]] = mat[rows, cols]
    return out


def ints(v: NDArray[np.integer[Any]]) -> Arr:
    """Decimal digits of non-negative integers (left-aligned, NUL-padded)."""
    v = np.asarray(v, dtype=np.int64)
    if len(v) == 0 or int(v.max()) < len(_SMALL):
        small: Arr = _SMALL[v]
        return small
    w = len(str(int(v.max())))
    out = np.empty((len(v), w), dtype=np.uint8)
    for j in range(w):
        out[:, j] = (v // 10 ** (w - 1 - j)) % 10 + 48
    lead = w - (np.floor(np.log10(np.maximum(v, 1))).astype(np.int64) + 1)
    src = np.arange(w)[None, :] + lead[:, None]
    shifted = np.take_along_axis(out, np.minimum(src, w - 1), axis=1)
    shifted[src >= w] = 0
    return _s(shifted)


def seq4(v: NDArray[np.int64]) -> Arr:
    """A case number's sequence: zero-padded to 4 digits (more when it needs more)."""
    if len(v) == 0 or int(v.max()) < len(_SEQ4):
        return _SEQ4[v]
    return np.where(v < len(_SEQ4), _SEQ4[np.minimum(v, len(_SEQ4) - 1)], ints(v))


def cat(*parts: Arr | bytes) -> Arr:
    """Row-wise concatenation of fixed-width byte columns and constants."""
    return _s(_side_by_side(parts))


def _side_by_side(parts: Sequence[Arr | bytes]) -> NDArray[np.uint8]:
    """A matrix of bytes, a row per row, the parts' bytes one after the other."""
    m = next(len(p) for p in parts if not isinstance(p, bytes))
    widths = [len(p) if isinstance(p, bytes) else p.dtype.itemsize for p in parts]
    out = np.empty((m, sum(widths)), dtype=np.uint8)
    o = 0
    for p, w in zip(parts, widths, strict=True):
        out[:, o : o + w] = np.frombuffer(p, np.uint8) if isinstance(p, bytes) else _matrix(p)
        o += w
    return out


def concat(*parts: Arr | bytes) -> Arr:
    """Row-wise concatenation of byte columns and constants (left-aligned, NUL-padded)."""
    m = next(len(p) for p in parts if not isinstance(p, bytes))
    widths = [len(p) if isinstance(p, bytes) else p.dtype.itemsize for p in parts]
    out = np.zeros((m, max(1, sum(widths))), dtype=np.uint8)
    o = 0
    for p, w in zip(parts, widths, strict=True):
        out[:, o : o + w] = np.frombuffer(p, np.uint8) if isinstance(p, bytes) else _matrix(p)
        o += w
    inner = out[:, :-1] == 0
    if inner.any() and (inner & (out[:, 1:] != 0)).any():
        out = _left(out)
    return _s(out)


class TimeText:
    """Instants (epoch seconds, UTC) as ISO tokens for the log and as the databases' text."""

    _tod = np.array(
        [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}".encode() for s in range(86400)],
        dtype="S8",
    )

    _first = (date(2000, 1, 1) - date(1970, 1, 1)).days
    _days = np.datetime_as_string(
        np.arange(_first, _first + 100 * 366).astype("datetime64[D]"), unit="D"
    ).astype("S10")

    def _date(self, days: NDArray[np.int64]) -> Arr:
        return self._days[np.clip(days - self._first, 0, len(self._days) - 1)]

    def _parts(self, t: NDArray[np.int64]) -> tuple[Arr, Arr]:
        days, sec = np.divmod(t, 86400)
        return self._date(days), self._tod[sec]

    def iso(self, t: NDArray[np.int64], null: NDArray[np.bool_] | None = None) -> Arr:
        """JSON tokens ``"2026-11-24T08:15:00+00:00"`` (``datetime.isoformat``), or null."""
        if len(t) == 0:
            return np.zeros(0, dtype="S27")
        d, s = self._parts(t)
        out = cat(b'"', d, b"T", s, b'+00:00"')
        return out if null is None else np.where(null, b"null", out)

    def db(self, t: NDArray[np.int64], pg: bool, null: NDArray[np.bool_] | None = None) -> Arr:
        """As the databases store instants: SQLite naive UTC text, PostgreSQL with +00
        (NULL: empty, to be read as NULL by the writers)."""
        if len(t) == 0:
            return np.zeros(0, dtype="S26")
        d, s = self._parts(t)
        out = cat(d, b" ", s, b"+00" if pg else b".000000")
        return out if null is None else np.where(null, b"", out)


# --- the vocabulary of a city --------------------------------------------------------------------------


@dataclass
class Texts:
    """The words of the rows: codes, names, conditions and limits, departments (picklable)."""

    grid_codes: Arr  # S15 per grid
    districts: list[str]
    type_codes: Arr  # S5 per type
    type_names: list[str]
    combo_condition: list[str]
    combo_limit: list[str]
    combo_extra: list[str]  # the extension asked for: 1工作日 (2工作日 for limits in 工作日)
    dept_codes: list[str]
    auto_note: NDArray[np.int32]  # (types, districts) index into notes, -1 none
    notes: list[str]  # auto-dispatch notes
    reg_limit: str
    dis_limit: str
    ver_limit: str
    tokens: dict[str, Arr] = field(default_factory=dict)

    def prepare(self) -> None:
        """Build the token tables (once per process)."""
        if self.tokens:
            return
        tk = self.tokens
        tk["combo_condition"] = vocab([jtok(c) for c in self.combo_condition])
        tk["combo_limit"] = vocab([jtok(c) for c in self.combo_limit])
        tk["combo_limit_x"] = vocab(
            [jtok(f"{a}+{b}") for a, b in zip(self.combo_limit, self.combo_extra, strict=True)]
        )
        tk["combo_extra"] = vocab([jtok(c) for c in self.combo_extra])
        tk["type_code"] = vocab([jtok(c.decode()) for c in self.type_codes.tolist()])
        tk["dept"] = vocab([jtok(d) for d in self.dept_codes])
        tk["notify_dept"] = vocab([jtok([f"department:{d}"]) for d in self.dept_codes])
        tk["notes"] = vocab([b'""'] + [jtok(n) for n in self.notes])
        tk["state"] = vocab([jtok(s) for s in STATES])
        tk["source"] = vocab([jtok(s) for s in SOURCES])
        tk["reporter_role"] = vocab([jtok(s) for s in REPORTER_ROLE])
        tk["district"] = vocab([jtok(d) for d in self.districts])
        tk["grid"] = vocab([jtok(g.decode()) for g in self.grid_codes.tolist()])
        for name, texts in (
            ("void", VOID_REASONS),
            ("return", RETURN_REASONS),
            ("extension", EXTENSION_REASONS),
            ("suspension", SUSPENSION_REASONS),
            ("rework", REWORK_REASONS),
        ):
            tk[f"reason_{name}"] = vocab([jtok(t) for t in texts])
        for k, text in NOTES.items():
            tk[f"note_{k}"] = np.array([jtok(text)])
        tk["limit_register"] = np.array([jtok(self.reg_limit)])
        tk["limit_dispatch"] = np.array([jtok(self.dis_limit)])
        tk["limit_verify"] = np.array([jtok(self.ver_limit)])
        # Plain text (database columns).
        tk["db_type_code"] = self.type_codes
        tk["db_condition"] = vocab([c.encode() for c in self.combo_condition])
        tk["db_limit"] = vocab([c.encode() for c in self.combo_limit])
        tk["db_limit_x"] = vocab(
            [f"{a}+{b}".encode() for a, b in zip(self.combo_limit, self.combo_extra, strict=True)]
        )
        tk["db_extra"] = vocab([c.encode() for c in self.combo_extra])
        tk["db_dept"] = vocab([d.encode() for d in self.dept_codes])
        tk["db_reason_suspension"] = vocab([t.encode() for t in SUSPENSION_REASONS])
        tk["db_names"] = vocab([(s + t).encode() for s in SURNAMES for t in TITLES])


# --- entry templates ---------------------------------------------------------------------------------


class _F(str):
    """A placeholder in a template dict: the value is a JSON token given per row."""


def _clock(name: str, stage: str) -> dict[str, Any]:
    return {
        "stage": stage,
        "started_at": _F(f"{name}.start"),
        "limit": _F(f"{name}.limit"),
        "due_at": _F(f"{name}.due"),
        "warn_at": _F(f"{name}.warn"),
        "ended_at": _F(f"{name}.ended"),
        "paused_at": _F(f"{name}.paused"),
        "pauses": _F(f"{name}.pauses"),
    }


def _entry(kind: str) -> dict[str, Any]:
    """The shape of ``LogEntry.to_json()`` for an event kind (what varies: placeholders)."""
    frm, to = FROM_TO[kind]
    d: dict[str, Any] = {
        "action": ACTIONS[K[kind]],
        "at": _F("at"),
        "actor_id": _F("actor"),
        "actor_role": _F("role") if kind == "report" else ROLE[kind],
        "from_state": _F("from") if frm is None else frm,
        "to_state": _F("to") if to is None else to,
        "reason": _F("reason"),
        "note": _F("note"),
        "sets": {},
        "clocks": [],
        "attachments": [],
        "notify": _F("notify"),
        "task": None,
    }
    if kind == "report":
        d["from_state"] = None
    sets, clocks = d["sets"], d["clocks"]
    at = _F("at")
    if kind == "report":
        sets.update(
            reported_at=at,
            grid_code=_F("grid"),
            district_code=_F("district"),
            reporter_id=_F("actor"),
            source=_F("source"),
            self_handled=_F("self_handled"),
            type_code=_F("type_code"),
        )
        clocks.append(_clock("c0", "register"))
    elif kind in ("request_check", "request_verify", "request_verify_2"):
        task = "check" if kind == "request_check" else "verify"
        sets["task"] = {"kind": task, "assignee_id": _F("sup"), "opened_at": at}
        sets[f"{task}_result"] = None
        d["task"] = [task, _F("sup")]
        if task == "verify":
            clocks.append(_clock("c0", "verify"))
    elif kind in ("complete_check", "complete_verify", "complete_verify_2"):
        task = "check" if kind == "complete_check" else "verify"
        sets.update(task=None, **{f"{task}_result": _F("result")})
        if task == "verify":
            clocks.append(_clock("c0", "verify"))
    elif kind in ("void", "merge_duplicate", "self_close"):
        sets["closed_at"] = at
        if kind == "merge_duplicate":
            sets.update(close_reason="duplicate", parent_id=_F("parent"))
        if kind == "self_close":
            sets["close_reason"] = "self_handled"
        clocks.append(_clock("c0", "register"))
    elif kind == "register":
        sets.update(
            type_code=_F("type_code"),
            condition=_F("condition"),
            handling_limit=_F("limit"),
            registered_at=at,
        )
        clocks += [_clock("c0", "register"), _clock("c1", "dispatch")]
    elif kind in ("dispatch", "dispatch_wrong"):
        sets.update(department=_F("dept"), dispatched_at=at)
        clocks += [_clock("c0", "dispatch"), _clock("c1", "handling")]
    elif kind == "return":
        sets.update(department=None, handler_id=None, returns=1)
        clocks += [_clock("c0", "handling"), _clock("c1", "dispatch")]
    elif kind == "assign":
        sets["handler_id"] = _F("handler")
    elif kind == "request_extension":
        sets["pending_extension"] = _F("extra")
    elif kind == "approve_extension":
        sets.update(pending_extension=None, extensions=1)
        clocks.append(_clock("c0", "handling"))
    elif kind == "reject_extension":
        sets["pending_extension"] = None
    elif kind == "request_suspension":
        sets["pending_suspension"] = _F("reason")
    elif kind == "suspend":
        sets.update(suspended_from="handling", pending_suspension=None)
        clocks.append(_clock("c0", "handling"))
    elif kind == "resume":
        sets["suspended_from"] = None
        clocks.append(_clock("c0", "handling"))
    elif kind in ("urge", "supervise"):
        sets["urges" if kind == "urge" else "supervisions"] = 1
    elif kind in ("report_done", "report_done_2"):
        sets["handled_at"] = at
        clocks.append(_clock("c0", "handling"))
    elif kind == "rework":
        sets.update(task=None, verify_result=None, reworks=1)
        clocks.append(_clock("c0", "handling"))
    elif kind == "close":
        sets.update(close_reason="normal", closed_at=at)
    return d


@dataclass(frozen=True)
class Template:
    """A stored entry as three ``%`` formats of bytes — up to ``"clocks"``, up to ``"sets"``, the
    rest — and their placeholders in order. The hashed form inserts ``"case"`` before the second
    part and ``"seq"`` before the third (``entry_hash``: sorted keys, no blanks)."""

    parts: tuple[bytes, bytes, bytes]
    fields: tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]


def template(kind: str) -> Template:
    mark: dict[str, str] = {}

    def hook(o: Any) -> Any:
        if isinstance(o, _F):
            mark.setdefault(str(o), f"@@{len(mark)}@@")
            return mark[str(o)]
        if isinstance(o, dict):
            return {k: hook(v) for k, v in o.items()}
        if isinstance(o, list):
            return [hook(v) for v in o]
        return o

    text = json.dumps(hook(_entry(kind)), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    names = {v: k for k, v in mark.items()}
    i, j = text.index('"clocks":'), text.index('"sets":')
    parts = (text[:i], text[i:j], text[j:])
    fields = tuple(
        tuple(names[f"@@{n}@@"] for n in re.findall(r'"@@(\d+)@@"', part)) for part in parts
    )
    fmts = tuple(re.sub(r'"@@\d+@@"', "%s", part.replace("%", "%%")).encode() for part in parts)
    return Template((fmts[0], fmts[1], fmts[2]), (fields[0], fields[1], fields[2]))


TEMPLATES = {kind: template(kind) for kind in KINDS}


# --- ids of a batch ----------------------------------------------------------------------------------


def run_started(f: Flow) -> NDArray[np.bool_]:
    """(n, runs): the stage clock runs a case has started by the end."""
    h = f.happened
    started = np.zeros((f.n, len(RUNS)), dtype=bool)
    started[:, R_REG] = h[:, K["report"]]
    started[:, R_DIS1] = h[:, K["register"]]
    started[:, R_HANW] = h[:, K["dispatch_wrong"]]
    started[:, R_DIS2] = h[:, K["return"]]
    started[:, R_HAN] = h[:, K["dispatch"]]
    started[:, R_VER1] = h[:, K["request_verify"]]
    started[:, R_HANR] = h[:, K["rework"]]
    started[:, R_VER2] = h[:, K["request_verify_2"]]
    return started


TASK_OPENERS = ("request_check", "request_verify", "request_verify_2")


def counts(f: Flow) -> tuple[int, int, int]:
    """Log rows, stage rows and tasks of a batch (to give each batch its ids)."""
    tasks = sum(int(f.happened[:, K[k]].sum()) for k in TASK_OPENERS)
    return len(f.ev_case), int(run_started(f).sum()), tasks


@dataclass(frozen=True)
class BatchIds:
    log: int  # first id of each table in this batch
    stage: int
    task: int
    number_seq: NDArray[np.int64]  # per case: its number in the district's day
    local_day: NDArray[np.int64]  # per case: local date as YYYYMMDD


# --- the rows ----------------------------------------------------------------------------------------


@dataclass
class Table:
    """Columns of one table's rows: (name, kind, values). Kinds: ``i`` integer, ``i0`` integer or
    NULL for 0, ``f`` float, ``b`` boolean, ``b?`` 1/0/-1 for NULL, ``s`` text (bytes), ``s0`` text
    or NULL for empty, ``=`` a constant SQL literal."""

    name: str
    columns: list[tuple[str, str, Any]]
    rows: int
    # case_log only: the rows' leading columns already joined per row (PostgreSQL COPY text).
    lines: list[bytes] | None = None


@dataclass(frozen=True)
class Words:
    """A text column from a small vocabulary: ``words[codes]`` (an empty word: NULL in ``s0``)."""

    codes: NDArray[np.int64]
    words: tuple[str, ...]

    def as_bytes(self) -> Arr:
        return vocab([w.encode() for w in self.words])[self.codes]

    def as_str(self) -> list[str]:
        return np.array(self.words, dtype=object)[self.codes].tolist()  # type: ignore[no-any-return]


@dataclass
class Rendered:
    tables: list[Table]
    logs: int
    stages: int
    tasks: int


_TAB = b"\t"


def _listed(v: Arr | list[bytes] | bytes, m: int) -> list[bytes]:
    if isinstance(v, bytes):
        return [v] * m
    return v if isinstance(v, list) else v.tolist()


def _copy_columns(columns: list[tuple[str, str, Any]]) -> list[Arr | bytes]:
    """The columns as COPY text (``\\N`` for NULL), each followed by a tab."""
    cols: list[Arr | bytes] = []
    for _name, kind, v in columns:
        if v is None:  # in ``Table.lines``
            continue
        if isinstance(v, Words):
            v = v.as_bytes()
        if kind == "=":
            cols.append(b"\\N" if v == "NULL" else v.strip("'").encode())
        elif kind in ("i", "i0"):
            s = ints(np.maximum(v, 0))
            cols.append(np.where(v == 0, b"\\N", s) if kind == "i0" else s)
        elif kind == "f":
            cols.append(np.array([f"{x:.7f}".rstrip("0").rstrip(".") for x in v.tolist()], "S"))
        elif kind == "b":
            cols.append(np.where(v, b"t", b"f"))
        elif kind == "b?":
            cols.append(np.where(v < 0, b"\\N", np.where(v > 0, b"t", b"f")))
        elif kind == "s":
            cols.append(v if v.dtype.kind == "S" else np.array(v.tolist(), dtype="S"))
        else:  # s0
            cols.append(np.where(v == b"", b"\\N", v))
        cols.append(_TAB)
    return cols[:-1]


def copy_text(table: Table) -> bytes:
    """PostgreSQL ``COPY … FROM STDIN`` text of a table."""
    if table.lines is not None:
        return b"".join(table.lines)
    if table.rows == 0:
        return b""
    return _join([*_copy_columns(table.columns), b"\n"])


def _join(parts: Sequence[Arr | bytes]) -> bytes:
    """The rows of byte columns and constants, each row's pieces joined, padding dropped."""
    return _side_by_side(parts).tobytes().replace(b"\0", b"")


def _text(v: Arr) -> list[str]:
    """Byte strings as ``str`` (sqlite3 binds ``str`` fast; ``bytes`` go through its adapter
    lookup first, three times slower)."""
    if v.dtype.kind == "S" and not (_matrix(v) >= 0x80).any():
        return v.astype(f"U{v.dtype.itemsize}").tolist()  # type: ignore[no-any-return]
    return [b.decode() for b in v.tolist()]


def sqlite_insert(table: Table) -> tuple[str, Any]:
    """An ``INSERT`` for ``executemany`` and its parameters."""
    names, marks, values = [], [], []
    for name, kind, v in table.columns:
        names.append(name)
        if kind == "=":
            marks.append(v)
            continue
        marks.append(
            {"i0": "NULLIF(?, 0)", "b?": "NULLIF(?, -1)", "s0": "NULLIF(?, '')"}.get(kind, "?")
        )
        if isinstance(v, Words):
            values.append(v.as_str())
        elif isinstance(v, list):
            values.append(v)
        elif kind in ("s", "s0"):
            values.append(_text(v))
        else:
            values.append(v.astype(np.int64).tolist() if kind in ("b", "b?") else v.tolist())
    sql = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join(marks)})"
    return sql, zip(*values, strict=True)


class Renderer:
    """Renders batches (one per worker process; keeps its token tables)."""

    def __init__(self, texts: Texts) -> None:
        texts.prepare()
        self.x = texts
        self.tk = texts.tokens
        self.time = TimeText()
        self._batch_desc: list[bytes] = []
        self._batch_addr: list[bytes] = []

    def render(self, f: Flow, ids: BatchIds, pg: bool) -> Rendered:
        started = run_started(f)
        self._batch_desc, self._batch_addr = self._describe(f)
        log = self._log(f, ids, pg)
        stage = self._stages(f, ids, started, pg)
        task = self._tasks(f, ids, pg)
        case = self._cases(f, ids, started, pg)
        return Rendered([case, stage, log, task], log.rows, stage.rows, task.rows)

    # -- helpers --------------------------------------------------------------------------------

    def _ended_at(self, f: Flow) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
        """(n, runs) instant each run ended by the end of the history, and whether it did."""
        h, t = f.happened, f.t
        end_at = np.zeros((f.n, len(RUNS)), dtype=np.int64)
        ended = np.zeros((f.n, len(RUNS)), dtype=bool)

        def by(r: int, *kinds: str) -> None:
            for k in kinds:
                sel = h[:, K[k]] & ~ended[:, r]
                end_at[sel, r] = t[sel, K[k]]
                ended[sel, r] = True

        by(R_REG, "register", "void", "merge_duplicate", "self_close")
        by(R_DIS1, "dispatch_wrong", "dispatch")  # the first dispatch, wrong or not
        by(R_HANW, "return")
        by(R_DIS2, "dispatch")  # (only cases returned have this run)
        by(R_HAN, "report_done")
        by(R_VER1, "complete_verify")
        by(R_HANR, "report_done_2")
        by(R_VER2, "complete_verify_2")
        return end_at, ended

    def _han_version(self, f: Flow) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
        """Per case: the responsible handling run was re-dated by an approved extension, and by
        a resumption (by the end of the history)."""
        h = f.happened
        return h[:, K["approve_extension"]], h[:, K["resume"]]

    # -- case_log ---------------------------------------------------------------------------------

    def _log(self, f: Flow, ids: BatchIds, pg: bool) -> Table:
        tk, tt = self.tk, self.time
        n_ev = len(f.ev_case)
        ev_case, ev_kind, ev_t = f.ev_case, f.ev_kind, f.ev_t
        pieces = (np.empty(n_ev, object), np.empty(n_ev, object), np.empty(n_ev, object))
        ext_ok, resumed = self._han_version(f)
        susp_t = f.t[:, K["suspend"]]
        resume_t = f.t[:, K["resume"]]
        for kind in KINDS:
            rows = np.nonzero(ev_kind == K[kind])[0]
            if len(rows) == 0:
                continue
            c = ev_case[rows]
            tpl = TEMPLATES[kind]
            at = tt.iso(ev_t[rows])
            m = len(rows)
            actor = f.actor[c, K[kind]]
            val: dict[str, Any] = {
                "at": at,
                "actor": np.where(actor == 0, b"null", ints(actor)),
                "reason": b'""',
                "note": b'""',
                "notify": b"[]",
            }
            if kind == "report":
                src = f.source[c]
                val["role"] = tk["reporter_role"][src]
                val["source"] = tk["source"][src]
                val["grid"] = tk["grid"][f.grid[c]]
                val["district"] = tk["district"][self._district(f.grid[c])]
                val["type_code"] = tk["type_code"][f.typ[c]]
                val["self_handled"] = np.where(f.on[c, K["self_close"]], b"true", b"false")
                desc = self._batch_desc
                val["note"] = [b'"%s"' % desc[i] for i in c.tolist()]
            if kind in ("request_check", "request_verify", "request_verify_2"):
                val["sup"] = ints(f.sup[c])
            if kind == "complete_check":
                ok = f.check_ok[c]
                val["result"] = np.where(ok, b"true", b"false")
                val["note"] = np.where(ok, tk["note_check_ok"][0], tk["note_check_failed"][0])
            if kind in ("complete_verify", "complete_verify_2"):
                ok = f.verify_ok[c] if kind == "complete_verify" else np.ones(m, dtype=bool)
                val["result"] = np.where(ok, b"true", b"false")
                val["note"] = np.where(ok, tk["note_verify_ok"][0], tk["note_verify_failed"][0])
            if kind == "void":
                val["reason"] = tk["reason_void"][f.pick[c, 0] % len(VOID_REASONS)]
            if kind == "merge_duplicate":
                val["reason"] = jtok(MERGE_REASON)
                val["parent"] = ints(f.ids[np.maximum(f.parent[c], 0)])
            if kind == "register":
                val["type_code"] = tk["type_code"][f.typ[c]]
                val["condition"] = tk["combo_condition"][f.combo[c]]
                val["limit"] = tk["combo_limit"][f.combo[c]]
            if kind in ("dispatch", "dispatch_wrong"):
                dept = f.dept[c] if kind == "dispatch" else f.dept_first[c]
                val["dept"] = tk["dept"][dept]
                val["notify"] = tk["notify_dept"][dept]
                if kind == "dispatch":
                    note = self.x.auto_note[f.typ[c], self._district(f.grid[c])]
                    val["note"] = tk["notes"][np.where(f.auto[c], note + 1, 0)]
            if kind == "return":
                val["reason"] = tk["reason_return"][f.pick[c, 1] % len(RETURN_REASONS)]
            if kind == "assign":
                codes = self.x.dept_codes
                val["handler"] = ints(f.handler[c])
                val["notify"] = [
                    b'["user:%d","department:%s"]' % (h, codes[d].encode())
                    for h, d in zip(f.handler[c].tolist(), f.dept[c].tolist(), strict=True)
                ]
            if kind in ("approve_extension", "reject_extension", "urge", "rework"):
                val["notify"] = [b'["user:%d"]' % h for h in f.handler[c].tolist()]
            if kind == "request_extension":
                val["reason"] = tk["reason_extension"][f.pick[c, 2] % len(EXTENSION_REASONS)]
                val["extra"] = tk["combo_extra"][f.combo[c]]
            if kind == "reject_extension":
                val["reason"] = jtok(REJECT_REASON)
            if kind in ("request_suspension", "suspend"):
                val["reason"] = tk["reason_suspension"][f.pick[c, 3] % len(SUSPENSION_REASONS)]
            if kind == "rework":
                val["reason"] = tk["reason_rework"][f.pick[c, 4] % len(REWORK_REASONS)]
            if kind == "urge":
                val["note"] = tk["note_urge"][0]
            if kind in ("report_done", "report_done_2"):
                val["note"] = tk["note_done"][0]
            if kind == "supervise":
                val["note"] = tk["note_supervise"][0]
                holder = f.ev_holder[rows]
                dept = np.where(holder == 1, f.dept_first[c], f.dept[c])
                dept_tok = np.where(holder > 0, tk["notify_dept"][dept], b"[]").tolist()
                val["notify"] = [
                    b'["user:%d"]' % h if k == 3 else d
                    for h, k, d in zip(
                        f.handler[c].tolist(), holder.tolist(), dept_tok, strict=True
                    )
                ]
                val["from"] = val["to"] = tk["state"][f.ev_to[rows]]
            # Clocks.
            for slot, view in enumerate(self._views(kind, f, c)):
                run, ended, version = view
                self._clock_fields(
                    val,
                    f"c{slot}",
                    f,
                    c,
                    run,
                    ended,
                    version,
                    at,
                    ext_ok,
                    resumed,
                    susp_t,
                    resume_t,
                )
            for part, fmt, names in zip(pieces, tpl.parts, tpl.fields, strict=True):
                if not names:
                    part[rows] = fmt
                    continue
                cols = [_listed(val[name], m) for name in names]
                part[rows] = [fmt % a for a in zip(*cols, strict=True)]
        # The hash chain, case by case in seq order (services.cases._append, entry_hash).
        case_ids = f.ids[ev_case]
        cseg = concat(b'"case":', ints(case_ids), b",").tolist()
        sseg = [b'"seq":%d,' % s for s in range(int(f.ev_seq.max(initial=0)) + 1)]
        columns: list[tuple[str, str, Any]] = [
            ("id", "i", np.arange(ids.log, ids.log + n_ev, dtype=np.int64)),
            ("case_id", "i", case_ids),
            ("seq", "i", f.ev_seq),
            ("action", "s", Words(ev_kind, ACTIONS)),
            ("at", "s", tt.db(ev_t, pg)),
            ("actor_id", "i0", f.actor[ev_case, ev_kind]),
            ("actor_role", "s", self._roles(f)),
            ("from_state", "s0", Words(f.ev_from, (*STATES, ""))),  # -1: the last, NULL
            ("to_state", "s", Words(f.ev_to, STATES)),
        ]
        sha, join = hashlib.sha256, b"".join
        prev = GENESIS
        out: list[bytes] = []  # PostgreSQL: whole COPY lines; SQLite: the entries
        hashes: list[bytes] = []
        first, second, third = (p.tolist() for p in pieces)
        # PostgreSQL: the other columns first, then prev_hash, hash and entry, per row.
        heads = _join([*_copy_columns(columns), b"\t\n"]).split(b"\n")[:-1] if pg else [b""] * n_ev
        tab, nl = _TAB, b"\n"
        for s, a, b, c, cs, head in zip(
            f.ev_seq.tolist(), first, second, third, cseg, heads, strict=True
        ):
            if s == 1:
                prev = GENESIS
            h = hexlify(sha(join((prev, a, cs, b, sseg[s], c))).digest())
            out.append(join((head, prev, tab, h, tab, a, b, c, nl)) if pg else join((a, b, c)))
            hashes.append(h)
            prev = h
        if pg:
            tail = [("prev_hash", "s", None), ("hash", "s", None), ("entry", "s", None)]
            return Table("case_log", [*columns, *tail], n_ev, out)
        chain = (GENESIS + b"".join(hashes)).decode()
        hash_text = [chain[i : i + 64] for i in range(64, 64 * (n_ev + 1), 64)]
        genesis = GENESIS.decode()
        prev_text = [
            genesis if s == 1 else h
            for s, h in zip(f.ev_seq.tolist(), [genesis, *hash_text[:-1]], strict=True)
        ]
        return Table(
            "case_log",
            [
                *columns,
                ("entry", "s", [e.decode() for e in out]),
                ("prev_hash", "s", prev_text),
                ("hash", "s", hash_text),
            ],
            n_ev,
        )

    def _roles(self, f: Flow) -> Words:
        """Who acted: the kind's role; a report's by its source."""
        codes = np.array([ROLES.index(ROLE.get(k, "supervisor")) for k in KINDS])[f.ev_kind]
        rep = f.ev_kind == K["report"]
        by_source = np.array([ROLES.index(r) for r in REPORTER_ROLE])
        codes[rep] = by_source[f.source[f.ev_case[rep]]]
        return Words(codes, ROLES)

    def _district(self, grid: NDArray[np.int64]) -> NDArray[np.int64]:
        return self._grid_district[grid]

    @property
    def _grid_district(self) -> NDArray[np.int64]:
        cached = self.tk.get("_grid_district")
        if cached is None:
            codes = [g[:6].decode() for g in self.x.grid_codes.tolist()]
            index = {d: i for i, d in enumerate(self.x.districts)}
            cached = np.array([index[c] for c in codes], dtype=np.int64)
            self.tk["_grid_district"] = cached
        return cached

    def _describe(self, f: Flow) -> tuple[list[bytes], list[bytes]]:
        """Descriptions and addresses as sim.flow writes them: ``市民反映：五一路89号附近暴露垃圾``."""
        roads = [r.encode() for r in ROADS]
        prefix = [p.encode() for p in DESCRIPTION_PREFIX]
        names = [t.encode() for t in self.x.type_names]
        pick = f.pick[:, 5].tolist()
        near = "号附近".encode()
        addr = [b"%s%d%s" % (roads[p % len(roads)], p % 299 + 1, near) for p in pick]
        desc = [
            prefix[s] + a + names[t]
            for s, a, t in zip(f.source.tolist(), addr, f.typ.tolist(), strict=True)
        ]
        return desc, addr

    def _views(self, kind: str, f: Flow, c: NDArray[np.int64]) -> list[tuple[Any, bool, str]]:
        """The clocks of an entry: (run index or per-row array, ended by it?, version)."""
        dis_end = np.where(f.dept_first[c] != f.dept[c], R_DIS2, R_DIS1)
        views: dict[str, list[tuple[Any, bool, str]]] = {
            "report": [(R_REG, False, "")],
            "void": [(R_REG, True, "")],
            "merge_duplicate": [(R_REG, True, "")],
            "self_close": [(R_REG, True, "")],
            "register": [(R_REG, True, ""), (R_DIS1, False, "")],
            "dispatch_wrong": [(R_DIS1, True, ""), (R_HANW, False, "")],
            "return": [(R_HANW, True, ""), (R_DIS2, False, "")],
            "dispatch": [(dis_end, True, ""), (R_HAN, False, "")],
            "approve_extension": [(R_HAN, False, "extended")],
            "suspend": [(R_HAN, False, "paused")],
            "resume": [(R_HAN, False, "resumed")],
            "report_done": [(R_HAN, True, "final")],
            "request_verify": [(R_VER1, False, "")],
            "complete_verify": [(R_VER1, True, "")],
            "rework": [(R_HANR, False, "")],
            "report_done_2": [(R_HANR, True, "")],
            "request_verify_2": [(R_VER2, False, "")],
            "complete_verify_2": [(R_VER2, True, "")],
        }
        return views.get(kind, [])

    def _limit_tokens(self, f: Flow, c: NDArray[np.int64], run: Any) -> Arr:
        tk = self.tk
        stage = np.array(RUNS)[run] if not isinstance(run, int) else np.full(len(c), RUNS[run])
        out = tk["combo_limit"][f.combo[c]]
        out = np.where(stage == "register", tk["limit_register"][0], out)
        out = np.where(stage == "dispatch", tk["limit_dispatch"][0], out)
        return np.where(stage == "verify", tk["limit_verify"][0], out)

    def _clock_fields(
        self,
        val: dict[str, Any],
        name: str,
        f: Flow,
        c: NDArray[np.int64],
        run: Any,
        ended: bool,
        version: str,
        at: Arr,
        ext_ok: NDArray[np.bool_],
        resumed: NDArray[np.bool_],
        susp_t: NDArray[np.int64],
        resume_t: NDArray[np.int64],
    ) -> None:
        tt, tk = self.time, self.tk
        # The responsible handling run as re-dated by an approved extension or a resumption: in
        # the entries that re-date it, and as it ends ("final": whatever happened before).
        everyone, nobody = np.ones(len(c), dtype=bool), np.zeros(len(c), dtype=bool)
        extended = {"extended": everyone, "final": ext_ok[c]}.get(version, nobody)
        unpaused = {"resumed": everyone, "final": resumed[c]}.get(version, nobody)
        moved = extended | unpaused
        due = np.where(moved, f.han_due2[c], f.run_due[c, run])
        warn = np.where(moved, f.han_warn2[c], f.run_warn[c, run])
        limit = np.where(extended, tk["combo_limit_x"][f.combo[c]], self._limit_tokens(f, c, run))
        pauses: Arr | bytes = b"[]"
        if unpaused.any():
            pair = cat(b"[[", tt.iso(susp_t[c]), b",", tt.iso(resume_t[c]), b"]]")
            pauses = np.where(unpaused, pair, b"[]")
        paused: Arr | bytes = at if version == "paused" else b"null"
        val[f"{name}.start"] = tt.iso(f.run_start[c, run])
        val[f"{name}.due"] = tt.iso(due)
        val[f"{name}.warn"] = tt.iso(warn)
        val[f"{name}.limit"] = limit
        val[f"{name}.ended"] = at if ended else b"null"
        val[f"{name}.paused"] = paused
        val[f"{name}.pauses"] = pauses

    # -- case_stage -------------------------------------------------------------------------------

    def _stages(self, f: Flow, ids: BatchIds, started: NDArray[np.bool_], pg: bool) -> Table:
        tt, tk = self.time, self.tk
        end_at, ended = self._ended_at(f)
        ext_ok, resumed = self._han_version(f)
        suspended = f.happened[:, K["suspend"]] & ~resumed
        ci, ri = np.nonzero(started)  # row-major: case by case, runs in the order started
        due, warn = f.run_due[ci, ri], f.run_warn[ci, ri]
        han = ri == R_HAN
        moved = han & (ext_ok[ci] | resumed[ci])
        due = np.where(moved, f.han_due2[ci], due)
        warn = np.where(moved, f.han_warn2[ci], warn)
        stage_name = np.array(RUNS)[ri]
        limit = tk["db_limit"][f.combo[ci]]
        limit = np.where(han & ext_ok[ci], tk["db_limit_x"][f.combo[ci]], limit)
        for st, text in (
            ("register", self.x.reg_limit),
            ("dispatch", self.x.dis_limit),
            ("verify", self.x.ver_limit),
        ):
            limit = np.where(stage_name == st, text.encode(), limit)
        st_t, rs_t = f.t[ci, K["suspend"]], f.t[ci, K["resume"]]
        # As services.cases._stage_values writes them: json.dumps, default separators.
        pair = cat(b"[[", tt.iso(st_t), b", ", tt.iso(rs_t), b"]]")
        pauses = np.where(han & resumed[ci], pair, b"[]")
        m = len(ci)
        null_end = ~ended[ci, ri]
        return Table(
            "case_stage",
            [
                ("id", "i", np.arange(ids.stage, ids.stage + m, dtype=np.int64)),
                ("case_id", "i", f.ids[ci]),
                ("stage", "s", Words(ri, RUNS)),
                ("started_at", "s", tt.db(f.run_start[ci, ri], pg)),
                ("time_limit", "s", limit),
                ("due_at", "s", tt.db(due, pg)),
                ("warn_at", "s", tt.db(warn, pg)),
                ("ended_at", "s0", tt.db(end_at[ci, ri], pg, null=null_end)),
                ("paused_at", "s0", tt.db(st_t, pg, null=~(han & suspended[ci]))),
                ("pauses", "s", pauses),
                ("overdue_notified_at", "=", "NULL"),
            ],
            m,
        )

    # -- task -------------------------------------------------------------------------------------

    def _tasks(self, f: Flow, ids: BatchIds, pg: bool) -> Table:
        tt, tk = self.time, self.tk
        h, t = f.happened, f.t
        parts: list[tuple[Arr, ...]] = []
        for opener, closer, k in (
            ("request_check", "complete_check", 0),
            ("request_verify", "complete_verify", 1),
            ("request_verify_2", "complete_verify_2", 2),
        ):
            c = np.nonzero(h[:, K[opener]])[0]
            parts.append((c, np.full(len(c), k), h[c, K[closer]], t[c, K[opener]], t[c, K[closer]]))
        c = np.concatenate([p[0] for p in parts])
        kind = np.concatenate([p[1] for p in parts])
        done = np.concatenate([p[2] for p in parts])
        opened = np.concatenate([p[3] for p in parts])
        closed = np.concatenate([p[4] for p in parts])
        order = np.lexsort((kind, c))
        c, kind, done, opened, closed = (
            c[order],
            kind[order],
            done[order],
            opened[order],
            closed[order],
        )
        ok = np.where(kind == 0, f.check_ok[c], np.where(kind == 1, f.verify_ok[c], True))
        note_ok = np.where(kind == 0, NOTES["check_ok"].encode(), NOTES["verify_ok"].encode())
        note_no = np.where(
            kind == 0, NOTES["check_failed"].encode(), NOTES["verify_failed"].encode()
        )
        note = np.where(done, np.where(ok, note_ok, note_no), b"")
        run = np.where(kind == 1, R_VER1, R_VER2)
        due = f.run_due[c, run]
        m = len(c)
        del tk
        return Table(
            "task",
            [
                ("id", "i", np.arange(ids.task, ids.task + m, dtype=np.int64)),
                ("case_id", "i", f.ids[c]),
                ("kind", "s", Words(np.minimum(kind, 1), ("check", "verify"))),
                ("assignee_id", "i", f.sup[c]),
                ("opened_at", "s", tt.db(opened, pg)),
                ("due_at", "s0", tt.db(due, pg, null=kind == 0)),
                ("completed_at", "s0", tt.db(closed, pg, null=~done)),
                ("result", "b?", np.where(done, ok.astype(np.int8), -1)),
                ("note", "s", note),
            ],
            m,
        )

    # -- cases ------------------------------------------------------------------------------------

    def _cases(self, f: Flow, ids: BatchIds, started: NDArray[np.bool_], pg: bool) -> Table:
        tt, tk = self.time, self.tk
        h, t, n = f.happened, f.t, f.n

        def at(kind: str) -> NDArray[np.int64]:
            return t[:, K[kind]]

        def hp(kind: str) -> NDArray[np.bool_]:
            return h[:, K[kind]]

        last = f.last
        state = f.ev_to[last]
        version = f.ev_seq[last]
        last_t = f.ev_t[last]
        registered = hp("register")
        dispatched = hp("dispatch") | hp("dispatch_wrong")
        dispatched_at = np.where(hp("dispatch"), at("dispatch"), at("dispatch_wrong"))
        dept = np.where(hp("dispatch"), f.dept, f.dept_first)
        has_dept = hp("dispatch") | (hp("dispatch_wrong") & ~hp("return"))
        handled_at = np.where(hp("report_done_2"), at("report_done_2"), at("report_done"))
        closing = ("void", "merge_duplicate", "self_close", "close")
        closed = np.zeros(n, dtype=bool)
        closed_at = np.zeros(n, dtype=np.int64)
        close_reason = np.full(n, b"", dtype="S12")
        for kind, reason in zip(
            closing, (b"", b"duplicate", b"self_handled", b"normal"), strict=True
        ):
            closed_at = np.where(hp(kind), at(kind), closed_at)
            close_reason = np.where(hp(kind), reason, close_reason)
            closed |= hp(kind)
        # Results and open tasks: the last event that set them.
        check_result = np.where(hp("complete_check"), f.check_ok.astype(np.int8), -1)
        verify_result = np.full(n, -1, dtype=np.int8)
        verify_result = np.where(hp("complete_verify"), f.verify_ok.astype(np.int8), verify_result)
        verify_result = np.where(hp("rework"), -1, verify_result)
        verify_result = np.where(hp("complete_verify_2"), 1, verify_result)
        task_kind = np.full(n, b"", dtype="S6")
        task_at = np.zeros(n, dtype=np.int64)
        for opener, closer, word in (
            ("request_check", "complete_check", b"check"),
            ("request_verify", "complete_verify", b"verify"),
            ("request_verify_2", "complete_verify_2", b"verify"),
        ):
            open_now = hp(opener) & ~hp(closer)
            task_kind = np.where(open_now, word, task_kind)
            task_at = np.where(open_now, at(opener), task_at)
        has_task = task_kind != b""
        pending_ext = hp("request_extension") & ~(hp("approve_extension") | hp("reject_extension"))
        pending_susp = hp("request_suspension") & ~hp("suspend")
        suspended = hp("suspend") & ~hp("resume")
        # The open stage clock: the last run started and not ended.
        _end_at, ended = self._ended_at(f)
        open_run = started & ~ended
        has_open: NDArray[np.bool_] = np.asarray(open_run.any(axis=1))
        r = len(RUNS) - 1 - np.argmax(open_run[:, ::-1], axis=1)
        ext_ok, resumed = self._han_version(f)
        rows = np.arange(n)
        due, warn = f.run_due[rows, r], f.run_warn[rows, r]
        moved = (r == R_HAN) & (ext_ok | resumed)
        due = np.where(moved, f.han_due2, due)
        warn = np.where(moved, f.han_warn2, warn)
        stage = np.where(has_open, np.array(RUNS)[r], "").astype("S10")
        src = f.source
        public = src != 0
        names = tk["db_names"]
        reporter_name = np.where(public, names[f.pick[:, 6] % len(names)], b"")
        phone = cat(
            b"1",
            np.array(list(b"3589"), dtype=np.uint8).view("S1")[f.pick[:, 6] % 4],
            ints(f.pick[:, 7] % 900_000_000 + 100_000_000),
        )
        reporter_phone = np.where(public, phone, b"")
        codes = self.x.grid_codes[f.grid]
        district = codes.astype("S6")
        number = concat(district, b"-", ints(ids.local_day), b"-", seq4(ids.number_seq))
        return Table(
            "cases",
            [
                ("id", "i", f.ids),
                ("number", "s", number),
                ("state", "s", Words(state, STATES)),
                ("version", "i", version),
                ("source", "s", Words(src.astype(np.int64), SOURCES)),
                ("type_code", "s", tk["db_type_code"][f.typ]),
                ("condition", "s0", np.where(registered, tk["db_condition"][f.combo], b"")),
                ("handling_limit", "s0", np.where(registered, tk["db_limit"][f.combo], b"")),
                ("description", "s", np.array(self._batch_desc, dtype="S")),
                ("address", "s", np.array(self._batch_addr, dtype="S")),
                ("lon", "f", f.lon),
                ("lat", "f", f.lat),
                ("grid_code", "s", codes),
                ("community_code", "s", codes.astype("S12")),
                ("street_code", "s", codes.astype("S9")),
                ("district_code", "s", district),
                ("component_id", "=", "NULL"),
                ("department", "s0", np.where(has_dept, tk["db_dept"][dept], b"")),
                ("handler_id", "i0", np.where(hp("assign"), f.handler, 0)),
                ("reporter_id", "i0", f.reporter),
                ("reporter_name", "s", reporter_name),
                ("reporter_phone", "s", reporter_phone),
                ("reporter_contact", "=", "''"),
                ("urgent", "b", np.zeros(n, dtype=bool)),
                ("self_handled", "b", f.on[:, K["self_close"]]),
                ("task_kind", "s0", task_kind),
                ("task_assignee_id", "i0", np.where(has_task, f.sup, 0)),
                ("task_opened_at", "s0", tt.db(task_at, pg, null=~has_task)),
                ("check_result", "b?", check_result),
                ("verify_result", "b?", verify_result),
                ("pending_extension", "s0", np.where(pending_ext, tk["db_extra"][f.combo], b"")),
                (
                    "pending_suspension",
                    "s0",
                    np.where(
                        pending_susp,
                        tk["db_reason_suspension"][f.pick[:, 3] % len(SUSPENSION_REASONS)],
                        b"",
                    ),
                ),
                ("suspended_from", "s0", np.where(suspended, b"handling", b"")),
                (
                    "parent_id",
                    "i0",
                    np.where(hp("merge_duplicate"), f.ids[np.maximum(f.parent, 0)], 0),
                ),
                ("close_reason", "s0", close_reason),
                ("returns", "i", hp("return").astype(np.int64)),
                ("reworks", "i", hp("rework").astype(np.int64)),
                ("extensions", "i", hp("approve_extension").astype(np.int64)),
                ("urges", "i", hp("urge").astype(np.int64)),
                ("supervisions", "i", hp("supervise").astype(np.int64)),
                ("reported_at", "s", tt.db(f.t0, pg)),
                ("registered_at", "s0", tt.db(at("register"), pg, null=~registered)),
                ("dispatched_at", "s0", tt.db(dispatched_at, pg, null=~dispatched)),
                ("handled_at", "s0", tt.db(handled_at, pg, null=~hp("report_done"))),
                ("closed_at", "s0", tt.db(closed_at, pg, null=~closed)),
                ("stage", "s0", stage),
                ("warn_at", "s0", tt.db(warn, pg, null=~has_open)),
                ("due_at", "s0", tt.db(due, pg, null=~has_open)),
                ("paused", "b", has_open & (r == R_HAN) & suspended),
                ("method_721", "=", "NULL"),
                ("rating", "=", "NULL"),
                ("rating_comment", "=", "''"),
                ("updated_at", "s", tt.db(last_t, pg)),
                ("idempotency_key", "=", "NULL"),
            ],
            n,
        )
