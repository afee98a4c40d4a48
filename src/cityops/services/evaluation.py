"""Evaluation use-cases: count the indicators from the case log, score, rank, drill down, publish.

The counting is set-based SQL, identical on SQLite and PostgreSQL. For one period it reads the
period's rows of each big table once into temporary tables (``Facts``): the log rows of the
period (by ``case_log.at``), the stage runs that ended in it (by ``case_stage.ended_at``), the
handling runs that matter (ended in the period, open and overdue at the cut-off, or named by an
event of the period) with the department that held each, and the cases involved. Each counted
figure is then a *predicate* over one family's source (``Facts.sources``): counting is one
GROUP BY per source with a conditional sum per figure, drilling down is a WHERE with the same
predicate, and a published snapshot stores the lists — so a figure and the cases behind it cannot
disagree. The definitions, in words and with a worked example, are docs/evaluation.md.

Who held a run: the department named by the dispatch that started it (the log entry's
``sets.department``). A case never returned was dispatched once, so its row's ``department`` is
that dispatch's; for a returned case the dispatch entries are read back from the log.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from importlib.resources import files
from pathlib import Path
from typing import Any, ClassVar

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    and_,
    case,
    cast,
    exists,
    false,
    func,
    insert,
    not_,
    or_,
    select,
    text,
    true,
    union,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, aliased, defer
from sqlalchemy.sql.elements import ColumnElement

from cityops.core.clock import TimeLimit
from cityops.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from cityops.core.evaluation import (
    REGION_LEVELS,
    EvaluationPeriod,
    Family,
    Figure,
    Kind,
    Scheme,
    SubjectType,
    counted,
    counted_parts,
    describe,
    figures,
    indicators,
    ranks,
    score,
    sort_rows,
)
from cityops.core.roles import Role
from cityops.services.calendar import city_clock
from cityops.store.schema import (
    Case,
    CaseLogRow,
    CaseStageRow,
    EvaluationSnapshot,
    OrgUnit,
    Region,
    ResponsibilityGrid,
    ResponsibilityGridMember,
    User,
)
from cityops.store.types import UtcDateTime

AnySelect = Select[*tuple[Any, ...]]

# --- schemes -----------------------------------------------------------------------------------------

SCHEMES = files("cityops.data") / "schemes"
SCHEME_ENV = "CITYOPS_EVALUATION_SCHEME"


def shipped_schemes() -> list[str]:
    return sorted(p.name[: -len(".toml")] for p in SCHEMES.iterdir() if p.name.endswith(".toml"))


def load_scheme(ref: str | Path | None = None) -> Scheme:
    """A shipped scheme by name (``default``, ``kaifeng``) or a TOML file; validated.

    Without a reference: ``$CITYOPS_EVALUATION_SCHEME`` (a name or a path), else ``default``."""
    ref = ref or os.environ.get(SCHEME_ENV) or "default"
    text_: str
    name = None
    if isinstance(ref, str) and ref in shipped_schemes():
        text_ = (SCHEMES / f"{ref}.toml").read_text(encoding="utf-8")
        name = ref
    else:
        path = Path(ref)
        if not path.is_file():
            raise NotFound(
                f"没有考评方案 {ref}（内置：{', '.join(shipped_schemes())}，或给出 TOML 文件路径）",
                en=f"no scheme {ref} (shipped: {', '.join(shipped_schemes())}, or a TOML file)",
                code="unknown_scheme",
            )
        text_ = path.read_text(encoding="utf-8")
        name = path.stem
    return Scheme.loads(text_, name=name)


# --- temporary tables ----------------------------------------------------------------------------------

_tmp = MetaData()
# The period's rows of the big tables, each read once; every figure is a predicate over these.
EV_LOG = Table(  # log rows of the period, of the actions the figures use
    "ev_log",
    _tmp,
    Column("case_id", Integer),
    Column("action", String(24)),
    Column("at", UtcDateTime),
    Column("actor_id", Integer),
    prefixes=["TEMPORARY"],
)
EV_STAGE = Table(  # register, dispatch and verify runs that ended in the period (index-only)
    "ev_stage",
    _tmp,
    Column("case_id", Integer),
    Column("stage", String(10)),
    Column("ended_at", UtcDateTime),
    Column("due_at", UtcDateTime),
    prefixes=["TEMPORARY"],
)
EV_REWORK = Table(  # reworks of the period: the handling runs they started (few)
    "ev_rework",
    _tmp,
    Column("case_id", Integer),
    Column("at", UtcDateTime),
    prefixes=["TEMPORARY"],
)
EV_RUN = Table(  # handling runs that matter, with the department that held each
    "ev_run",
    _tmp,
    Column("id", Integer, primary_key=True, autoincrement=False),  # case_stage.id
    Column("case_id", Integer),
    Column("started_at", UtcDateTime),
    Column("due_at", UtcDateTime),
    Column("ended_at", UtcDateTime),
    Column("paused_at", UtcDateTime),
    Column("returned", Boolean),  # ended by the department's return (回退)
    Column("by_dispatch", Boolean),  # started by a dispatch (else by a rework)
    Column("department", String(32)),
    Column("case_returns", Integer),
    prefixes=["TEMPORARY"],
)
EV_CASE = Table(  # the cases the period's figures refer to, narrow, with what they need
    "ev_case",
    _tmp,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("district", String(6)),
    Column("street", String(9)),
    Column("community", String(12)),
    Column("grid", String(15)),
    Column("source", String(20)),
    Column("reporter_id", Integer),
    Column("state", String(20)),
    Column("close_reason", String(20)),
    Column("returns", Integer),
    Column("department", String(32)),
    Column("reported_at", UtcDateTime),
    Column("registered_at", UtcDateTime),
    Column("closed_at", UtcDateTime),
    Column("first_reg_at", UtcDateTime),  # the first registration (or the self-handled close)
    Column("late", Boolean),  # closed with a handling run that ended after its deadline
    Column("overdue_at", UtcDateTime),  # deadline of its handling run overdue at T
    prefixes=["TEMPORARY"],
)
EV_DISPATCH = Table(  # dispatch entries of returned cases: who got the case when (few)
    "ev_dispatch",
    _tmp,
    Column("case_id", Integer),
    Column("seq", Integer),
    Column("at", UtcDateTime),
    Column("department", String(32)),
    prefixes=["TEMPORARY"],
)
EV_TODO = Table(  # events of the period whose handling run is not yet in ev_run (few)
    "ev_todo",
    _tmp,
    Column("case_id", Integer),
    Column("at", UtcDateTime),
    Column("starts", Boolean),  # the event started the run (else it came while it ran)
    prefixes=["TEMPORARY"],
)
EV_CHECK = Table(  # check tasks completed in the period, judged against the check limit
    "ev_check",
    _tmp,
    Column("case_id", Integer),
    Column("at", UtcDateTime),
    Column("on_time", Boolean),
    prefixes=["TEMPORARY"],
)
TEMP_TABLES = (EV_CHECK, EV_DISPATCH, EV_TODO, EV_CASE, EV_RUN, EV_REWORK, EV_STAGE, EV_LOG)
RUN_ACTIONS = ("dispatch", "rework", "approve_extension", "urge", "supervise")
# What each family's sources read: the temporary tables (each needing the ones before it in
# BUILD_ORDER that it names) and the log actions. A drill-down builds only its family's.
NEEDS: dict[Family, tuple[frozenset[str], tuple[str, ...]]] = {
    Family.department: (frozenset({"run"}), RUN_ACTIONS),
    Family.region: (frozenset({"run", "case"}), (*RUN_ACTIONS, "register")),
    Family.supervisor: (
        frozenset({"run", "case", "stage", "check"}),
        (*RUN_ACTIONS, "register", "complete_check", "complete_verify"),
    ),
    Family.acceptor: (
        frozenset({"run", "case", "stage"}),
        (*RUN_ACTIONS, "register", "void", "merge_duplicate"),
    ),
    Family.dispatcher: (frozenset({"run", "stage"}), RUN_ACTIONS),
}
CLOSING = ("normal", "self_handled")  # close reasons that count as 结案 (not merged duplicates)
REGION_COLUMNS = ("district", "street", "community", "grid")


def _dept_of_entry(conn: Connection) -> ColumnElement[Any]:
    """The department a dispatch log entry names (``sets.department`` of its JSON)."""
    if conn.dialect.name == "postgresql":
        return func.jsonb_extract_path_text(cast(CaseLogRow.entry, JSONB), "sets", "department")
    return func.json_extract(CaseLogRow.entry, "$.sets.department")


@dataclass(frozen=True)
class Source:
    """Where a family's figures are counted: the rows (a FROM with its joins and a filter), the
    subject columns, and per counted figure its predicate and its instant."""

    select_from: Any
    where: tuple[Any, ...]
    subjects: tuple[Any, ...]  # one column, or the four region codes
    case_id: Any
    figures: Mapping[str, tuple[Any, Any]]  # figure → (predicate, instant)


_SQLITE_TS = "%Y-%m-%d %H:%M:%S.%f"


def _merge(into: dict[str, int], names: Sequence[str], values: Sequence[int]) -> None:
    for f, v in zip(names, values, strict=True):
        into[f] = into.get(f, 0) + v


def _flag(pred: Any) -> Any:
    return func.sum(case((pred, 1), else_=0))


class Facts:
    """The counted figures of one period, each a predicate over the period's rows.

    Use as a context manager: it builds the temporary tables on the session's connection (inside
    the caller's transaction) and drops them afterwards. ``counts`` groups every figure of a
    family in one query; ``cases`` lists one figure of one subject with the same predicate.
    """

    def __init__(
        self,
        session: Session,
        period: EvaluationPeriod,
        *,
        scheme: Scheme,
        now: datetime,
        families: Sequence[Family] = tuple(Family),
    ) -> None:
        clock = city_clock(session)
        self.session = session
        self.families = frozenset(families)
        self.parts = frozenset(part for f in self.families for part in NEEDS[f][0])
        self.actions = tuple(dict.fromkeys(a for f in self.families for a in NEEDS[f][1]))
        self.clock = clock
        self.tz = clock.tz
        self.period = period
        self.start, self.end = period.bounds(clock.tz)
        if now <= self.start:
            raise ValidationFailed(
                f"考评期间 {period.key} 尚未开始",
                en=f"the period {period.key} has not begun",
                code="period_not_begun",
            )
        self.cutoff = min(self.end, now)  # T: events at or after it are not yet known
        self.complete = self.cutoff == self.end
        self.counting = scheme.counting
        self.conn = session.connection()

    # -- building ------------------------------------------------------------------------------

    def __enter__(self) -> Facts:
        self._tune(True)
        self._drop()
        _tmp.create_all(self.conn, checkfirst=False)
        try:
            self._build()
        except BaseException:
            self._drop()
            self._tune(False)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._drop()
        self._tune(False)

    # temp_store stays MEMORY on the connection (it cannot change inside a transaction, and only
    # these tables use it); cache and mmap sizes are put back.
    _SQLITE_TUNING = (("temp_store", "2"), ("cache_size", "-262144"), ("mmap_size", "4294967296"))

    def _tune(self, on: bool) -> None:
        """SQLite: temporary tables in memory and a large page cache while counting.
        PostgreSQL: room for the temporary tables (temp_buffers, settable only before the
        session's first temporary table, so tried in a savepoint) and for sorts (work_mem, for
        this transaction)."""
        if self.conn.dialect.name == "postgresql":
            if on:
                with contextlib.suppress(DBAPIError), self.session.begin_nested():
                    self.conn.exec_driver_sql("SET temp_buffers = '256MB'")
                self.conn.exec_driver_sql("SET LOCAL work_mem = '64MB'")
                # JIT compiles each of these one-off statements for a quarter of a second.
                self.conn.exec_driver_sql("SET LOCAL jit = off")
            return
        if self.conn.dialect.name != "sqlite":
            return
        pragmas = self._SQLITE_TUNING if on else getattr(self, "_saved", ())
        if on:
            self._saved = [
                (k, self.conn.exec_driver_sql(f"PRAGMA {k}").scalar())
                for k, _v in self._SQLITE_TUNING
                if k != "temp_store"
            ]
        for k, v in pragmas:
            # temp_store cannot change inside a transaction: counting works anyway (on disk).
            with contextlib.suppress(DBAPIError):
                self.conn.exec_driver_sql(f"PRAGMA {k} = {v}")

    def _drop(self) -> None:
        for table in TEMP_TABLES:
            self.conn.execute(text(f"DROP TABLE IF EXISTS {table.name}"))

    def _index(self, table: Table, *cols: str) -> None:
        name = f"ix_{table.name}_{'_'.join(cols)}"
        self.conn.execute(text(f"CREATE INDEX {name} ON {table.name} ({', '.join(cols)})"))

    def _in(self, col: Any) -> Any:
        """The instant lies in the period as known at T."""
        return and_(col >= self.start, col < self.cutoff)

    def _build(self) -> None:
        conn, t = self.conn, self.cutoff
        L, S, C = CaseLogRow, CaseStageRow, Case
        E, R = EV_LOG.c, EV_RUN.c
        # 1. The period's log rows of the actions the figures use, read from the log's (action,
        #    at, case_id, actor_id) index alone; the register, dispatch and verify runs that
        #    ended in it (for the people's timeliness) from the stage runs' (stage, ended_at,
        #    case_id, due_at) index alone: the two large reads.
        conn.execute(
            insert(EV_LOG).from_select(
                ["case_id", "action", "at", "actor_id"],
                select(L.case_id, L.action, L.at, L.actor_id).where(
                    L.action.in_(self.actions), self._in(L.at)
                ),
            )
        )
        self._analyze(EV_LOG)
        if "stage" in self.parts:
            conn.execute(
                insert(EV_STAGE).from_select(
                    ["case_id", "stage", "ended_at", "due_at"],
                    select(S.case_id, S.stage, S.ended_at, S.due_at).where(
                        S.stage.in_(("register", "dispatch", "verify")), self._in(S.ended_at)
                    ),
                )
            )
            self._index(EV_STAGE, "case_id", "stage", "ended_at")
            self._analyze(EV_STAGE)
        # Reworks of the period: a handling run started in the period was started by a rework
        # when one came at its start, else by a dispatch (only these two start one).
        conn.execute(
            insert(EV_REWORK).from_select(
                ["case_id", "at"], select(E.case_id, E.at).where(E.action == "rework")
            )
        )
        self._index(EV_REWORK, "case_id", "at")
        self._analyze(EV_REWORK)
        # 2. Handling runs: ended in the period; open at T and past due; started by a dispatch or
        #    rework of the period; running when an extension, reminder or directive came. Who held
        #    each: a case never returned was dispatched once (its row's department); for the
        #    others it is corrected below from the log. Everything computed as the rows go in
        #    (updating whole temporary tables is slow on PostgreSQL).
        D = aliased(CaseStageRow)
        K0 = EV_REWORK.c
        run_cols = [c.name for c in EV_RUN.c]

        pg = conn.dialect.name == "postgresql"

        def runs(*where: Any) -> AnySelect:
            case_cols: tuple[Any, ...] = (C.department, C.returns)
            if pg:  # by the primary key, run by run: a join makes PostgreSQL hash every case
                case_cols = tuple(
                    select(col).where(C.id == S.case_id).scalar_subquery() for col in case_cols
                )
            q = select(
                S.id,
                S.case_id,
                S.started_at,
                S.due_at,
                S.ended_at,
                S.paused_at,
                false(),  # returned: only a case with returns can be; set below
                ~exists().where(K0.case_id == S.case_id, K0.at == S.started_at),
                *case_cols,
            )
            if not pg:
                q = q.join(C, C.id == S.case_id)
            return q.where(S.stage == "handling", *where)

        conn.execute(insert(EV_RUN).from_select(run_cols, runs(self._in(S.ended_at))))
        for still_open in (S.ended_at.is_(None), S.ended_at >= t):
            conn.execute(
                insert(EV_RUN).from_select(
                    run_cols, runs(still_open, S.due_at < t, S.started_at < t)
                )
            )
        self._index(EV_RUN, "case_id", "started_at")
        self._analyze(EV_RUN)
        # Runs a period's dispatch, rework, extension, reminder or directive refers to that are
        # not in yet (started in the period and still open, not overdue, at T): found in the
        # temporary tables first, then looked up by the unique index — never by a scan.
        held = and_(R.started_at <= E.at, or_(R.ended_at.is_(None), R.ended_at > E.at))
        conn.execute(
            insert(EV_TODO).from_select(
                ["case_id", "at", "starts"],
                union_all(
                    select(E.case_id, E.at, true()).where(
                        E.action.in_(("dispatch", "rework")),
                        ~exists().where(R.case_id == E.case_id, R.started_at == E.at),
                    ),
                    select(E.case_id, E.at, false()).where(
                        E.action.in_(("approve_extension", "urge", "supervise")),
                        ~exists().where(R.case_id == E.case_id, held),
                    ),
                ),
            )
        )
        self._analyze(EV_TODO)
        W = EV_TODO.c
        found = or_(
            and_(W.starts == true(), S.started_at == W.at),
            and_(
                W.starts == false(),
                S.started_at <= W.at,
                or_(S.ended_at.is_(None), S.ended_at > W.at),
            ),
        )
        todo = runs(found).join(EV_TODO, W.case_id == S.case_id)
        conn.execute(insert(EV_RUN).from_select(run_cols, todo.distinct()))
        # Returned cases: whether each run ended in a return (a new dispatch run starts at that
        # instant), and who held it — the latest dispatch up to its start, from the log's entry.
        returned = exists().where(
            D.case_id == R.case_id, D.stage == "dispatch", D.started_at == R.ended_at
        )
        conn.execute(update(EV_RUN).values(returned=returned).where(R.case_returns > 0))
        dept = _dept_of_entry(conn).label("department")
        dispatch_cols = ["case_id", "seq", "at", "department"]
        # A run started by a dispatch: that entry, by the log's (action, at, case_id) index.
        conn.execute(
            insert(EV_DISPATCH).from_select(
                dispatch_cols,
                select(L.case_id, L.seq, L.at, dept)
                .select_from(EV_RUN)
                .join(
                    L,
                    and_(L.action == "dispatch", L.at == R.started_at, L.case_id == R.case_id),
                )
                .where(R.case_returns > 0),
            )
        )
        self._index(EV_DISPATCH, "case_id", "at")
        # The others (started by a rework): every dispatch entry of their case (few cases).
        V = EV_DISPATCH.c
        with_returns = (
            select(R.case_id)
            .where(
                R.case_returns > 0,
                ~exists().where(V.case_id == R.case_id, V.at == R.started_at),
            )
            .distinct()
            .subquery()
        )
        entries = select(L.case_id, L.seq, L.at, dept).where(L.action == "dispatch")
        if conn.dialect.name == "postgresql":  # probe each case's log by index, never a scan
            # OFFSET 0 keeps the planner from flattening it into a scan of the whole log (its
            # estimate of log rows per case is poor).
            per_case = entries.where(L.case_id == with_returns.c.case_id).offset(0).lateral()
            dispatches = select(
                per_case.c.case_id, per_case.c.seq, per_case.c.at, per_case.c.department
            ).select_from(with_returns.join(per_case, true()))
        else:  # by each case's log rows (case_id, seq), not by the (action, …) index: that
            # would read every dispatch of the history. ``action || ''`` is not indexable.
            dispatches = (
                select(L.case_id, L.seq, L.at, dept)
                .select_from(with_returns)
                .join(L, L.case_id == with_returns.c.case_id)
                .where(L.action.op("||")("") == "dispatch")
            )
        conn.execute(insert(EV_DISPATCH).from_select(dispatch_cols, dispatches))
        self._analyze(EV_DISPATCH)
        latest = (
            select(V.department)
            .where(V.case_id == R.case_id, V.at <= R.started_at)
            .order_by(V.at.desc(), V.seq.desc())
            .limit(1)
            .scalar_subquery()
        )
        conn.execute(update(EV_RUN).where(R.case_returns > 0).values(department=latest))
        if "case" in self.parts:
            self._build_cases()
        if "check" in self.parts:
            self._build_checks()
        if conn.dialect.name == "sqlite":
            conn.execute(text("ANALYZE temp"))

    def _build_cases(self) -> None:
        conn = self.conn
        L, S, C = CaseLogRow, CaseStageRow, Case
        E, R, X = EV_LOG.c, EV_RUN.c, EV_CASE.c
        # 3. The cases: reported or closed in the period, or with a run or a registration in it.
        #    First registration: a case never returned was registered once (its row says when); a
        #    returned one may have been registered again, so its log says when it was first.
        first = (  # by the case's own log rows, in order (seq), never by an index on time
            select(L.at)
            .where(L.case_id == C.id, L.action == "register")
            .order_by(L.seq)
            .limit(1)
            .scalar_subquery()
        )
        late = exists().where(S.case_id == C.id, S.stage == "handling", S.ended_at > S.due_at)
        overdue_runs = (
            select(R.case_id.label("case_id"), func.min(R.due_at).label("due_at"))
            .where(self._overdue_open())
            .group_by(R.case_id)
            .subquery()
        )
        overdue = overdue_runs.c.due_at
        case_cols = [c.name for c in EV_CASE.c]
        source_cols = [
            C.id,
            C.district_code,
            C.street_code,
            C.community_code,
            C.grid_code,
            C.source,
            C.reporter_id,
            C.state,
            C.close_reason,
            C.returns,
            C.department,
            C.reported_at,
            C.registered_at,
            C.closed_at,
            case(
                (C.close_reason == "self_handled", C.closed_at),
                (C.returns == 0, C.registered_at),
                else_=first,
            ),
            case((self._in(C.closed_at), late), else_=false()),
            overdue,
        ]

        def cases_where(*where: Any) -> AnySelect:
            return (
                select(*source_cols)
                .select_from(C)
                .outerjoin(overdue_runs, overdue_runs.c.case_id == C.id)
                .where(*where)
            )

        conn.execute(insert(EV_CASE).from_select(case_cols, cases_where(self._in(C.reported_at))))
        known = select(X.id)
        conn.execute(
            insert(EV_CASE).from_select(
                case_cols, cases_where(self._in(C.closed_at), C.id.not_in(known))
            )
        )
        referred = union(
            select(R.case_id), select(E.case_id).where(E.action == "register")
        ).subquery()
        conn.execute(
            insert(EV_CASE).from_select(
                case_cols,
                cases_where(C.id.in_(select(referred.c.case_id).except_(known).scalar_subquery())),
            )
        )
        self._analyze(EV_CASE)

    _CHECKS = (
        "FROM ev_log e JOIN task t ON t.case_id = e.case_id AND t.kind = 'check' "
        "AND t.completed_at = e.at WHERE e.action = 'complete_check'"
    )

    def _build_checks(self) -> None:
        """5. Check tasks: their deadline is the scheme's check limit on the city's clock (Python),
        so each is judged on the way in without the ORM's per-value processing: on SQLite by a
        function registered on the connection, on PostgreSQL in one round trip each way."""
        conn = self.conn
        limit = TimeLimit.parse(self.counting.check_limit)
        if conn.dialect.name == "sqlite":
            # SQLAlchemy stores UTC as text 'YYYY-MM-DD HH:MM:SS.ffffff': the deadline likewise.
            def due(opened: str) -> str:
                at = datetime.fromisoformat(opened).replace(tzinfo=UTC)
                return self.clock.add(at, limit).astimezone(UTC).strftime(_SQLITE_TS)

            driver = conn.connection.driver_connection
            assert driver is not None
            driver.create_function("cityops_check_due", 1, due, deterministic=True)
            conn.exec_driver_sql(
                "INSERT INTO ev_check (case_id, at, on_time) SELECT e.case_id, e.at, "
                "e.at <= coalesce(t.due_at, cityops_check_due(t.opened_at)) " + self._CHECKS
            )
        else:
            rows = conn.exec_driver_sql(
                "SELECT e.case_id, e.at, t.opened_at, t.due_at " + self._CHECKS
            ).all()
            if rows:  # three arrays, in binary: one trip
                conn.exec_driver_sql(
                    "INSERT INTO ev_check (case_id, at, on_time) "
                    "SELECT * FROM unnest(%b::integer[], %b::timestamptz[], %b::boolean[])",
                    (
                        [r[0] for r in rows],
                        [r[1] for r in rows],
                        [r[1] <= (r[3] or self.clock.add(r[2], limit)) for r in rows],
                    ),
                )
        self._analyze(EV_CHECK)

    # The columns the planner needs statistics of: the joins' and the groupings' (ANALYZE of every
    # column of a wide table costs a few hundred milliseconds for nothing).
    _ANALYZED: ClassVar[dict[str, str]] = {
        "ev_log": "case_id, action, actor_id",
        "ev_stage": "case_id, stage",
        "ev_run": "case_id, started_at, case_returns",
        "ev_case": "id, grid, reporter_id",
    }

    def _analyze(self, *tables: Table) -> None:
        """Statistics for PostgreSQL's planner as soon as a table is filled (autovacuum never
        analyses temporary tables; without them it plans joins against them badly)."""
        if self.conn.dialect.name == "postgresql":
            for table in tables:
                cols = self._ANALYZED.get(table.name)
                self.conn.execute(text(f"ANALYZE {table.name}" + (f" ({cols})" if cols else "")))

    def _overdue_open(self) -> ColumnElement[bool]:
        """A run open at T whose deadline passed before T — and before its suspension, if it was
        suspended (a run suspended in time is not overdue: its deadline moves on resumption)."""
        R, t = EV_RUN.c, self.cutoff
        return and_(
            or_(R.ended_at.is_(None), R.ended_at >= t),
            R.due_at < t,
            R.started_at < t,
            or_(R.paused_at.is_(None), R.due_at < R.paused_at),
        )

    # -- the counted figures: one source per family, one predicate per figure ---------------------

    def sources(self, family: Family) -> list[Source]:
        if family not in self.families:
            raise ValueError(f"the facts of {family.value} were not built")
        E, G, R, X, K = EV_LOG.c, EV_STAGE.c, EV_RUN.c, EV_CASE.c, EV_CHECK.c
        ended_in = self._in(R.ended_at)
        if family is Family.department:
            started_in = self._in(R.started_at)
            done = and_(ended_in, R.returned == false())
            runs = Source(
                EV_RUN,
                (R.department.is_not(None),),
                (R.department,),
                R.case_id,
                {
                    "received": (and_(started_in, R.by_dispatch == true()), R.started_at),
                    "handled": (done, R.ended_at),
                    "handled_on_time": (and_(done, R.ended_at <= R.due_at), R.ended_at),
                    "handled_late": (and_(done, R.ended_at > R.due_at), R.ended_at),
                    "overdue_open": (self._overdue_open(), R.due_at),
                    "returns": (and_(ended_in, R.returned == true()), R.ended_at),
                    "reworks": (and_(started_in, R.by_dispatch == false()), R.started_at),
                },
            )
            held = and_(
                R.case_id == E.case_id,
                R.started_at <= E.at,
                or_(R.ended_at.is_(None), R.ended_at > E.at),
            )
            events = Source(
                EV_LOG.join(EV_RUN, held),
                (
                    E.action.in_(("approve_extension", "urge", "supervise")),
                    R.department.is_not(None),
                ),
                (R.department,),
                E.case_id,
                {
                    "extensions": (E.action == "approve_extension", E.at),
                    "urges": (E.action == "urge", E.at),
                    "supervisions": (E.action == "supervise", E.at),
                },
            )
            return [runs, events]
        if family is Family.region:
            closed = and_(self._in(X.closed_at), X.state == "closed", X.close_reason.in_(CLOSING))
            registered = self._in(X.first_reg_at)
            return [
                Source(
                    EV_CASE,
                    (),
                    (X.district, X.street, X.community, X.grid),
                    X.id,
                    {
                        "reported": (self._in(X.reported_at), X.reported_at),
                        "registered": (registered, X.first_reg_at),
                        "public_reports": (self._public(registered), X.first_reg_at),
                        "closed": (closed, X.closed_at),
                        "closed_on_time": (and_(closed, X.late == false()), X.closed_at),
                        "overdue_unclosed": (X.overdue_at.is_not(None), X.overdue_at),
                    },
                )
            ]
        if family is Family.supervisor:
            M, RG = ResponsibilityGridMember, ResponsibilityGrid
            reports = and_(self._in(X.reported_at), X.source == "patrol")
            valid = and_(
                reports,
                or_(X.registered_at.is_not(None), X.close_reason == "self_handled"),
                X.state != "voided",
                or_(X.close_reason.is_(None), X.close_reason != "duplicate"),
            )
            verify_ended = and_(G.case_id == E.case_id, G.stage == "verify", G.ended_at == E.at)
            return [
                Source(
                    EV_CASE,
                    (X.reporter_id.is_not(None),),
                    (X.reporter_id,),
                    X.id,
                    {"reports": (reports, X.reported_at), "valid_reports": (valid, X.reported_at)},
                ),
                Source(
                    EV_CASE.join(M, M.grid_code == X.grid).join(
                        RG, RG.id == M.responsibility_grid_id
                    ),
                    (RG.supervisor_id.is_not(None),),
                    (RG.supervisor_id,),
                    X.id,
                    {"missed": (self._public(self._in(X.first_reg_at)), X.first_reg_at)},
                ),
                Source(
                    EV_LOG.outerjoin(EV_STAGE, verify_ended).outerjoin(
                        EV_CHECK, and_(K.case_id == E.case_id, K.at == E.at)
                    ),
                    (E.actor_id.is_not(None), E.action.in_(("complete_check", "complete_verify"))),
                    (E.actor_id,),
                    E.case_id,
                    {
                        "checks": (E.action == "complete_check", E.at),
                        "checks_on_time": (
                            and_(E.action == "complete_check", K.on_time == true()),
                            E.at,
                        ),
                        "verifies": (E.action == "complete_verify", E.at),
                        "verifies_on_time": (
                            and_(E.action == "complete_verify", E.at <= G.due_at),
                            E.at,
                        ),
                    },
                ),
            ]
        if family is Family.acceptor:
            register = E.action == "register"
            D, RG2 = aliased(CaseStageRow), aliased(CaseStageRow)
            # Sent back: the dispatch run the registration started ended in a return to the
            # acceptor (which starts a new register run at the same instant); only a case with
            # returns can have been.
            sent_back = and_(
                X.returns > 0,
                exists().where(
                    D.case_id == E.case_id,
                    D.stage == "dispatch",
                    D.started_at == E.at,
                    exists().where(
                        RG2.case_id == D.case_id,
                        RG2.stage == "register",
                        RG2.started_at == D.ended_at,
                    ),
                ),
            )
            reg_ended = and_(G.case_id == E.case_id, G.stage == "register", G.ended_at == E.at)
            return [
                Source(
                    EV_LOG.outerjoin(EV_STAGE, reg_ended).outerjoin(EV_CASE, X.id == E.case_id),
                    (
                        E.actor_id.is_not(None),
                        E.action.in_(("register", "void", "merge_duplicate")),
                    ),
                    (E.actor_id,),
                    E.case_id,
                    {
                        "accepted": (true(), E.at),
                        "registered": (register, E.at),
                        "registered_on_time": (and_(register, E.at <= G.due_at), E.at),
                        "registered_accurate": (and_(register, not_(sent_back)), E.at),
                    },
                )
            ]
        # dispatcher
        disp_ended = and_(G.case_id == E.case_id, G.stage == "dispatch", G.ended_at == E.at)
        return [
            Source(
                EV_LOG.outerjoin(EV_STAGE, disp_ended).outerjoin(
                    EV_RUN, and_(R.case_id == E.case_id, R.started_at == E.at)
                ),
                (E.actor_id.is_not(None), E.action == "dispatch"),
                (E.actor_id,),
                E.case_id,
                {
                    "dispatched": (true(), E.at),
                    "dispatched_on_time": (E.at <= G.due_at, E.at),
                    "dispatched_accurate": (R.returned == false(), E.at),
                },
            )
        ]

    def _public(self, registered: Any) -> Any:
        X = EV_CASE.c
        return and_(
            registered,
            X.source.in_(self.counting.public_sources),
            or_(X.close_reason.is_(None), X.close_reason != "self_handled"),
        )

    def _source_of(self, family: Family, figure: str) -> Source:
        for src in self.sources(family):
            if figure in src.figures:
                return src
        raise ValidationFailed(
            f"{family.value} 没有计数指标 {figure}",
            en=f"{family.value} has no counted figure {figure}",
            code="unknown_indicator",
        )

    # -- counting and listing ----------------------------------------------------------------------

    def counts(self, family: Family) -> dict[str, dict[str, dict[str, int]]]:
        """``{subject type: {subject id: {figure: count}}}``: one GROUP BY per source, every
        figure a conditional sum. Regions are grouped by unit grid (with the codes above it) and
        summed up to community, street and district here."""
        out: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
        for src in self.sources(family):
            names = list(src.figures)
            q = (
                select(*src.subjects, *(_flag(src.figures[f][0]) for f in names))
                .select_from(src.select_from)
                .where(*src.where)
                .group_by(*src.subjects)
            )
            rows = self.conn.execute(q).all()
            if family is Family.region:
                # One row per unit grid (its codes above it in the row): the grid's figures as
                # they are, the community's, street's and district's summed here.
                sums: list[dict[str, list[int]]] = [{}, {}, {}]
                for row in rows:
                    values = [int(v or 0) for v in row[4:]]
                    for level in range(3):
                        code = row[level]
                        if code is None:
                            continue
                        acc = sums[level].get(code)
                        if acc is None:
                            sums[level][code] = values
                        else:
                            sums[level][code] = [a + b for a, b in zip(acc, values, strict=True)]
                    if row[3] is not None:
                        _merge(out[REGION_LEVELS[3].value][row[3]], names, values)
                for upper, by_code in zip(REGION_LEVELS[:3], sums, strict=True):
                    for code, values in by_code.items():
                        _merge(out[upper.value][code], names, values)
                continue
            for row in rows:
                if row[0] is not None:
                    _merge(out[family.value][str(row[0])], names, [int(v or 0) for v in row[1:]])
        return out

    def _subject_filter(self, src: Source, subject: SubjectType, ident: str | None) -> Any:
        if subject.family is Family.region:
            col = src.subjects[REGION_LEVELS.index(subject)]
            return col == ident if ident is not None else col.is_not(None)
        col = src.subjects[0]
        if ident is None:
            return col.is_not(None)
        if subject.family is not Family.department:
            if not ident.isdigit():
                raise ValidationFailed(
                    "人员的 id 为用户编号（数字）",
                    en="a person's id is the user id (a number)",
                    code="bad_subject_id",
                )
            return col == int(ident)
        return col == ident

    def cases(self, subject: SubjectType, ident: str, figure: str) -> list[tuple[int, datetime]]:
        """The (case id, instant) rows behind one counted figure of one subject."""
        src = self._source_of(subject.family, figure)
        pred, at = src.figures[figure]
        q = (
            select(src.case_id, at)
            .select_from(src.select_from)
            .where(*src.where, pred, self._subject_filter(src, subject, ident))
            .order_by(at, src.case_id)
        )
        return [(int(c), a) for c, a in self.conn.execute(q)]

    def all_cases(self, subject: SubjectType) -> dict[str, dict[str, list[int]]]:
        """``{subject id: {figure: [case ids]}}`` for every counted figure (snapshots)."""
        out: dict[str, dict[str, list[int]]] = defaultdict(dict)
        level = REGION_LEVELS.index(subject) if subject.family is Family.region else 0
        for src in self.sources(subject.family):
            for figure, (pred, at) in src.figures.items():
                col = src.subjects[level]
                q = (
                    select(col, src.case_id)
                    .select_from(src.select_from)
                    .where(*src.where, pred, col.is_not(None))
                    .order_by(col, at, src.case_id)
                )
                for ident, case_id in self.conn.execute(q):
                    out[str(ident)].setdefault(figure, []).append(int(case_id))
        return out


# --- the evaluation ------------------------------------------------------------------------------------


@dataclass
class Section:
    """One subject type's table, as JSON-ready rows; frozen as is when published."""

    subject: SubjectType
    data: dict[str, Any]
    cases: dict[str, dict[str, list[int]]] | None = None  # only when asked for (publishing)

    @property
    def rows(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.data["rows"]
        return rows


@dataclass
class Evaluation:
    period: EvaluationPeriod
    scheme: Scheme
    start: datetime
    end: datetime
    as_of: datetime
    complete: bool
    sections: list[Section] = field(default_factory=list)

    def section(self, subject: SubjectType) -> Section:
        for s in self.sections:
            if s.subject is subject:
                return s
        raise KeyError(subject)

    def to_json(self) -> dict[str, Any]:
        return {
            "period": self.period.key,
            "label": self.period.label_zh,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "as_of": self.as_of.isoformat(),
            "complete": self.complete,
            "previous_period": self.period.previous().key,
            "scheme": self.scheme.summary(),
            "sections": [s.data for s in self.sections],
        }


def _num(d: Decimal | None) -> float | None:
    return None if d is None else float(d)


def _names(session: Session, subject: SubjectType, ids: Sequence[str]) -> dict[str, str]:
    if not ids:
        return {}
    if subject is SubjectType.grid:
        return {i: i for i in ids}
    if subject.family is Family.region or subject is SubjectType.department:
        table = OrgUnit if subject is SubjectType.department else Region
        q = select(table.code, table.name).where(table.code.in_(ids))
        return {code: name for code, name in session.execute(q)}
    q2 = select(User.id, User.display_name, User.username).where(User.id.in_([int(i) for i in ids]))
    return {str(i): (d or u) for i, d, u in session.execute(q2)}


def _section(
    session: Session,
    subject: SubjectType,
    period: EvaluationPeriod,
    scheme: Scheme,
    counts: Mapping[str, Mapping[str, int]],
    previous: Mapping[str, dict[str, Any]] | None,
) -> dict[str, Any]:
    ids = set(counts)
    if subject is SubjectType.department:  # every department is listed, with or without cases
        ids |= set(
            session.scalars(
                select(OrgUnit.code).where(OrgUnit.kind == "department", OrgUnit.active.is_(True))
            )
        )
    names = _names(session, subject, sorted(ids))
    rows: dict[str, dict[str, Any]] = {}
    scores: dict[str, Decimal | None] = {}
    keys = counted(subject)
    # Subjects with the same counts (and class) have the same figures and score: tens of
    # thousands of unit grids share a few thousand count vectors, so each is scored once.
    memo: dict[tuple[Any, ...], tuple[dict[str, Any], list[dict[str, Any]], Decimal | None, Any]]
    memo = {}
    for ident in sorted(ids):
        got = counts.get(ident, {})
        rc = scheme.region_class(ident) if subject.family is Family.region else None
        key = (rc.name if rc else None, *(got.get(k, 0) for k in keys))
        hit = memo.get(key)
        if hit is None:
            figs = figures(subject, got)
            sc = score(subject, figs, scheme, rc)
            hit = memo[key] = (
                {k: f.to_json() for k, f in figs.items()},
                [
                    {
                        "indicator": p.indicator,
                        "weight": float(p.weight),
                        "mode": p.mode,
                        "subscore": None if p.subscore is None else round(float(p.subscore), 2),
                    }
                    for p in sc.parts
                ],
                sc.score,
                sc.grade,
            )
        fig_json, parts, sc_score, grade = hit
        scores[ident] = sc_score
        rows[ident] = {
            "id": ident,
            "name": names.get(ident, ident),
            "class": rc.name if rc else None,
            "class_title": rc.title if rc else None,
            "score": _num(sc_score),
            "grade": grade,
            "rank": None,
            "figures": fig_json,  # shared by the rows with the same counts: read-only
            "parts": parts,
            "previous": None,
            "change": None,
        }
    rank_of = ranks(scores)
    for ident, r in rank_of.items():
        rows[ident]["rank"] = r
    for ident, row in rows.items():
        prev = (previous or {}).get(ident)
        if prev is None:
            continue
        row["previous"] = {k: prev.get(k) for k in ("score", "grade", "rank")}
        change: dict[str, Any] = {}
        if row["score"] is not None and prev.get("score") is not None:
            change["score"] = float(Decimal(str(row["score"])) - Decimal(str(prev["score"])))
        if row["rank"] is not None and prev.get("rank") is not None:
            change["rank"] = int(prev["rank"]) - int(row["rank"])  # > 0: moved up
        row["change"] = change or None
    order = sort_rows(list(rows), rank_of)
    sub = scheme.for_subject(subject)
    link = (
        f"/api/v1/evaluations/cases?period={period.key}&subject={subject.value}"
        "&id={id}&figure={figure}"
    )
    return {
        "subject": subject.value,
        "title": subject.label_zh,
        "title_en": subject.label_en,
        "source": "live",
        "snapshot_id": None,
        "published_at": None,
        "scheme": scheme.summary(),
        "indicators": describe(subject),
        "components": [
            {"indicator": c.indicator, "weight": float(c.weight), "mode": c.mode}
            for c in sub.components
        ],
        "volume": {"indicator": sub.volume, "min": sub.min_volume},
        "grades": scheme.grades.to_json(),
        "cases_url": link,
        "rows": [rows[i] for i in order],
    }


def _now(session: Session, now: datetime | None) -> datetime:
    return now or datetime.now(city_clock(session).tz)


def current_snapshot(
    session: Session, period: EvaluationPeriod, subject: SubjectType
) -> EvaluationSnapshot | None:
    return session.scalar(
        select(EvaluationSnapshot)
        .where(
            EvaluationSnapshot.period == period.key,
            EvaluationSnapshot.subject_type == subject.value,
            EvaluationSnapshot.superseded_by.is_(None),
        )
        .order_by(EvaluationSnapshot.id.desc())
        .limit(1)
    )


def _snapshot_section(snap: EvaluationSnapshot) -> dict[str, Any]:
    results = json.loads(snap.results)
    data: dict[str, Any] = results["section"]
    data["source"] = "snapshot"
    data["snapshot_id"] = snap.id
    data["published_at"] = snap.published_at.isoformat()
    return data


def evaluate(
    session: Session,
    period: EvaluationPeriod | str,
    subjects: Sequence[SubjectType] = tuple(SubjectType),
    *,
    scheme: Scheme | None = None,
    now: datetime | None = None,
    compare: bool = True,
    live: bool = False,
    with_cases: bool = False,
) -> Evaluation:
    """The evaluation of ``period`` for ``subjects``.

    A subject type with a published snapshot of the period is answered from the snapshot (frozen:
    later edits of cases or schemes do not change it) unless ``live``. ``compare`` adds the
    previous period's score, grade and rank to every row (from its snapshot when published)."""
    p = EvaluationPeriod.parse(period) if isinstance(period, str) else period
    sch = scheme or load_scheme()
    at = _now(session, now)
    tz = city_clock(session).tz
    start, end = p.bounds(tz)
    if at <= start:
        raise ValidationFailed(
            f"考评期间 {p.key} 尚未开始",
            en=f"the period {p.key} has not begun",
            code="period_not_begun",
        )
    ev = Evaluation(p, sch, start, end, min(end, at), at >= end)
    frozen: dict[SubjectType, Section] = {}
    if not live:
        for st in subjects:
            snap = current_snapshot(session, p, st)
            if snap is not None:
                frozen_cases = json.loads(snap.results).get("cases") if with_cases else None
                frozen[st] = Section(st, _snapshot_section(snap), frozen_cases)
    todo = [st for st in subjects if st not in frozen]
    previous: dict[SubjectType, dict[str, dict[str, Any]]] = {}
    if compare and todo:
        prev_p = p.previous()
        try:
            prev = evaluate(session, prev_p, todo, scheme=sch, now=at, compare=False)
        except ValidationFailed:
            prev = None
        if prev is not None:
            for s in prev.sections:
                previous[s.subject] = {r["id"]: r for r in s.rows}
    computed: dict[SubjectType, Section] = {}
    if todo:
        families = tuple(dict.fromkeys(st.family for st in todo))
        with Facts(session, p, scheme=sch, now=at, families=families) as facts:
            counts: dict[str, dict[str, dict[str, int]]] = {}
            for family in families:
                counts.update(facts.counts(family))
            for st in todo:
                data = _section(
                    session,
                    st,
                    p,
                    sch,
                    counts.get(st.value, {}),
                    previous.get(st) if compare else None,
                )
                computed[st] = Section(st, data, facts.all_cases(st) if with_cases else None)
    for st in subjects:
        ev.sections.append(computed[st] if st in computed else frozen[st])
    return ev


# --- drill-down ----------------------------------------------------------------------------------------


PRIVILEGED = {
    Role.evaluator,
    Role.leader,
    Role.admin,
    Role.acceptor,
    Role.shift_leader,
    Role.dispatcher,
}


def check_drill_access(session: Session, user: User, subject: SubjectType, ident: str) -> None:
    """The centre, leaders and evaluators see every list; a department its own; a person theirs."""
    roles = {Role(r) for r in user.role_names}
    if roles & PRIVILEGED:
        return
    if subject is SubjectType.department and roles & {Role.department, Role.handler}:
        own = None
        if user.scope_org_unit_id is not None:
            own = session.scalar(select(OrgUnit.code).where(OrgUnit.id == user.scope_org_unit_id))
        elif user.org_unit is not None:
            own = user.org_unit.code
        if own == ident:
            return
    person = subject.family not in (Family.region, Family.department)
    if person and str(user.id) == ident:
        return
    raise Forbidden(
        "只能查看本部门或本人的考评明细",
        en="you may see the case lists of your own department or yourself only",
        code="outside_scope",
    )


def drill(
    session: Session,
    period: EvaluationPeriod | str,
    subject: SubjectType,
    ident: str,
    figure: str,
    *,
    scheme: Scheme | None = None,
    now: datetime | None = None,
    live: bool = False,
) -> dict[str, Any]:
    """The exact cases behind one figure of one subject: from the snapshot when published."""
    p = EvaluationPeriod.parse(period) if isinstance(period, str) else period
    lists = counted_parts(subject, figure)
    ind = indicators(subject)[figure]
    snap = None if live else current_snapshot(session, p, subject)
    rows: dict[str, list[tuple[int, datetime | None, str]]] = {}
    if snap is not None:
        stored = json.loads(snap.results).get("cases", {}).get(ident, {})
        for name, parts in lists.items():
            rows[name] = [(cid, None, part) for part in parts for cid in stored.get(part, [])]
        source = "snapshot"
    else:
        sch = scheme or load_scheme()
        at = _now(session, now)
        with Facts(session, p, scheme=sch, now=at, families=(subject.family,)) as facts:
            for name, parts in lists.items():
                rows[name] = [
                    (cid, a, part) for part in parts for cid, a in facts.cases(subject, ident, part)
                ]
        source = "live"
    ids = {cid for lst in rows.values() for cid, _a, _p in lst}
    numbers: dict[int, str] = {}
    for chunk in _chunks(sorted(ids), 900):
        numbers.update(
            {
                i: n
                for i, n in session.execute(select(Case.id, Case.number).where(Case.id.in_(chunk)))
            }
        )
    tz = city_clock(session).tz
    out: dict[str, Any] = {
        "period": p.key,
        "subject": subject.value,
        "id": ident,
        "figure": figure,
        "name": ind.name_zh,
        "name_en": ind.name_en,
        "kind": ind.kind.value,
        "definition": ind.definition_zh,
        "source": source,
        "snapshot_id": snap.id if snap else None,
    }
    for name, lst in rows.items():
        out[name] = [
            {
                "id": cid,
                "number": numbers.get(cid),
                "at": a.astimezone(tz).isoformat() if a is not None else None,
                "figure": part,
            }
            for cid, a, part in lst
        ]
    if ind.kind is Kind.rate:
        out["num"], out["den"] = len(out["numerator"]), len(out["denominator"])
        fig = Figure(figure, numerator=out["num"], denominator=out["den"])
        out["value"] = fig.to_json()
    else:
        out["count"] = len(out["cases"])
    return out


def _chunks(items: Sequence[int], n: int) -> Iterator[Sequence[int]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


# --- snapshots -----------------------------------------------------------------------------------------


def publish(
    session: Session,
    user: User | None,
    period: EvaluationPeriod | str,
    subjects: Sequence[SubjectType],
    *,
    scheme: Scheme | None = None,
    now: datetime | None = None,
    replace: bool = False,
) -> list[EvaluationSnapshot]:
    """Freeze the evaluation of a finished period, one snapshot per subject type.

    Publishing a period again is a recomputation and must be asked for (``replace``): the new
    snapshot supersedes the old one, which stays stored."""
    if user is not None and Role.evaluator.value not in user.role_names:
        raise Forbidden(
            "只有考评员可以发布考评结果", en="only evaluators publish", code="wrong_role"
        )
    p = EvaluationPeriod.parse(period) if isinstance(period, str) else period
    sch = scheme or load_scheme()
    at = _now(session, now)
    _start, end = p.bounds(city_clock(session).tz)
    if at < end:
        raise Conflict(
            f"考评期间 {p.key} 尚未结束，不能发布",
            en=f"the period {p.key} is not over; it cannot be published yet",
            code="period_not_over",
        )
    existing = {st: current_snapshot(session, p, st) for st in subjects}
    already = [st.value for st, s in existing.items() if s is not None]
    if already and not replace:
        raise Conflict(
            f"{p.key} 的考评已发布（{', '.join(already)}）；重新计算并发布请明确指定 replace",
            en=f"{p.key} is already published for {', '.join(already)}; "
            "ask for replace to recompute and publish again",
            code="already_published",
            details={"subjects": already},
        )
    ev = evaluate(session, p, subjects, scheme=sch, now=at, live=True, with_cases=True)
    out = []
    for section in ev.sections:
        results = {
            "period": p.key,
            "as_of": ev.as_of.isoformat(),
            "section": section.data,
            "cases": section.cases or {},
        }
        snap = EvaluationSnapshot(
            period=p.key,
            subject_type=section.subject.value,
            scheme_name=sch.name,
            scheme_version=sch.version,
            scheme=sch.text,
            results=json.dumps(results, ensure_ascii=False, separators=(",", ":")),
            published_at=at,
            published_by=user.id if user else None,
        )
        session.add(snap)
        session.flush()
        old = existing.get(section.subject)
        if old is not None:
            old.superseded_by = snap.id
        out.append(snap)
    session.flush()
    return out


def list_snapshots(
    session: Session,
    period: EvaluationPeriod | str | None = None,
    *,
    include_superseded: bool = False,
) -> list[EvaluationSnapshot]:
    q = select(EvaluationSnapshot).order_by(EvaluationSnapshot.period, EvaluationSnapshot.id)
    if period is not None:
        p = EvaluationPeriod.parse(period) if isinstance(period, str) else period
        q = q.where(EvaluationSnapshot.period == p.key)
    if not include_superseded:
        q = q.where(EvaluationSnapshot.superseded_by.is_(None))
    # Only the light columns: results can be megabytes.
    q = q.options(defer(EvaluationSnapshot.results), defer(EvaluationSnapshot.scheme))
    return list(session.scalars(q))


def snapshot_info(s: EvaluationSnapshot) -> dict[str, Any]:
    return {
        "id": s.id,
        "period": s.period,
        "subject": s.subject_type,
        "scheme": {"name": s.scheme_name, "version": s.scheme_version},
        "published_at": s.published_at.isoformat(),
        "published_by": s.published_by,
        "superseded_by": s.superseded_by,
    }


def get_snapshot(session: Session, snapshot_id: int) -> EvaluationSnapshot:
    s = session.get(EvaluationSnapshot, snapshot_id)
    if s is None:
        raise NotFound(
            f"没有考评快照 {snapshot_id}", en=f"no snapshot {snapshot_id}", code="unknown_snapshot"
        )
    return s


# --- trend (for the HTML report) ---------------------------------------------------------------------


def trend(
    session: Session,
    period: EvaluationPeriod,
    subjects: Sequence[SubjectType],
    n: int,
    *,
    scheme: Scheme,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Scores of the last ``n`` periods (published ones from their snapshots), oldest first."""
    at = _now(session, now)
    keys: list[str] = []
    scores: list[dict[str, dict[str, float | None]]] = []
    for p in period.trail(n):
        try:
            ev = evaluate(session, p, subjects, scheme=scheme, now=at, compare=False)
        except ValidationFailed:
            continue
        keys.append(p.key)
        scores.append(
            {s.subject.value: {r["name"]: r["score"] for r in s.rows} for s in ev.sections}
        )
    series: dict[str, dict[str, list[float | None]]] = {}
    for st in subjects:
        names = sorted({name for per in scores for name in per.get(st.value, {})})
        series[st.value] = {
            name: [per.get(st.value, {}).get(name) for per in scores] for name in names
        }
    return {"periods": keys, "series": series}


__all__ = [
    "Evaluation",
    "Facts",
    "Section",
    "check_drill_access",
    "current_snapshot",
    "drill",
    "evaluate",
    "get_snapshot",
    "list_snapshots",
    "load_scheme",
    "publish",
    "shipped_schemes",
    "snapshot_info",
    "trend",
]
