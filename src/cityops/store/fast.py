"""Statements compiled once and run on the DBAPI cursor, for the few hottest statements.

``Connection.execute`` costs tens of microseconds of Python per statement even when the compiled
form is cached (cache key, execution context, result object); the SQLite statement itself often
costs less. A ``Prepared`` statement is compiled once per dialect by SQLAlchemy — same SQL, same
bind and result processing of each column's type (``UtcDateTime`` included) — and executed on
the session's own DBAPI connection, inside the session's transaction.

Use it for statements whose parameters are plain values (no expanding ``IN`` lists).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any, cast

from sqlalchemy import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

Processor = Callable[[Any], Any]


class Prepared:
    """One statement compiled for one dialect, with its bind and result processors."""

    def __init__(
        self, statement: ClauseElement, dialect: Dialect, keys: Sequence[str] | None = None
    ) -> None:
        compiled = cast(
            SQLCompiler,
            statement.compile(dialect=dialect, column_keys=list(keys) if keys else None),
        )
        self.sql = compiled.string
        binds = compiled.binds
        self._defaults = {k: b.value for k, b in binds.items() if b.value is not None}
        self._bind: dict[str, Processor] = {}
        for name, bind in binds.items():
            proc = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if proc is not None:
                self._bind[name] = proc
        self._order: tuple[str, ...] | None = (
            tuple(compiled.positiontup) if compiled.positional and compiled.positiontup else None
        )
        # positional: the names in the statement's order, and (index, processor) of those
        # whose type converts the value (datetimes, booleans on SQLite)
        self._names = self._order or ()
        self._converted = tuple(
            (i, self._bind[n]) for i, n in enumerate(self._names) if n in self._bind
        )
        self._result: list[Processor | None] = []
        columns = list(getattr(statement, "selected_columns", ()) or ())
        columns += list(getattr(compiled, "returning", None) or ())
        self._result = [_result_processor(c.type, dialect) for c in columns]
        self._any_result_processor = any(p is not None for p in self._result)

    def params(self, values: Mapping[str, Any]) -> Any:
        if self._defaults:
            values = {**self._defaults, **values}
        if self._order is not None:
            out = [values[name] for name in self._names]
            for i, proc in self._converted:
                value = out[i]
                if value is not None:
                    out[i] = proc(value)
            return out
        merged = dict(values)
        for name, proc in self._bind.items():
            value = merged.get(name)
            if value is not None:
                merged[name] = proc(value)
        return merged

    def _row(self, row: Sequence[Any]) -> tuple[Any, ...]:
        if not self._any_result_processor:
            return tuple(row)
        return tuple(v if p is None else p(v) for p, v in zip(self._result, row, strict=False))

    def execute(self, cursor: Any, values: Mapping[str, Any]) -> Any:
        """Run on ``cursor`` (``dbapi_cursor(session)``: in the session's transaction)."""
        cursor.execute(self.sql, self.params(values))
        return cursor

    def one(self, cursor: Any, values: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """The first row (processed), or None."""
        return self.first(self.execute(cursor, values))

    def first(self, cursor: Any) -> tuple[Any, ...] | None:
        """The first row (processed) of this statement executed on ``cursor``, or None."""
        row = cursor.fetchone()
        return None if row is None else self._row(row)

    def all(self, cursor: Any, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        return [self._row(r) for r in self.execute(cursor, values).fetchall()]


def _result_processor(type_: Any, dialect: Dialect) -> Processor | None:
    """The column type's result processor without a cursor's type code: the drivers' native
    conversions apply (psycopg's numeric processors need the type code and are not needed for
    the double precision and integer columns read here)."""
    try:
        return cast(Processor | None, type_.dialect_impl(dialect).result_processor(dialect, None))
    except TypeError:
        return None


def dbapi_cursor(session: Session) -> Any:
    """A cursor of the DBAPI connection ``session`` is using in its current transaction (begun
    if need be); the same cursor for the rest of that transaction."""
    kept = session.info.get("cityops_cursor")
    transaction = session.get_transaction()
    if kept is not None and transaction is not None and kept[0] is transaction:
        return kept[1]
    dbapi = session.connection().connection.dbapi_connection
    assert dbapi is not None
    cursor = dbapi.cursor()
    session.info["cityops_cursor"] = (session.get_transaction(), cursor)
    return cursor


def pipelined(session: Session) -> AbstractContextManager[object]:
    """On PostgreSQL (psycopg), pipeline mode for the rest of a block: statements whose results
    are not read (inserts) go out with the next statement that is read, instead of one round
    trip each; an error of such a statement is raised by a later read or at the end of the
    block. Elsewhere nothing changes."""
    if session.get_bind().dialect.driver != "psycopg":
        return nullcontext()
    dbapi = session.connection().connection.dbapi_connection
    assert dbapi is not None
    return cast(AbstractContextManager[object], dbapi.pipeline())
