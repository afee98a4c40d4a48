"""Group commit: one writer thread per database runs short write jobs, several per transaction.

Intake is many small transactions of the same shape. Run one per request on the thread pool and
they compete: SQLite has a single writer (the others poll in its busy handler), PostgreSQL
serialises them on the row of the district-day's case numbers and pays a WAL flush per commit.
Here the requests queue, one thread takes whatever is waiting (up to ``max_batch``) and runs it
in **one** transaction, one commit for all.

A job is a ``prepare`` function: it reads and checks (on the writer's session) and either raises
a ``CityopsError`` — the refusal is that job's answer, nothing was written, the others go on —
or returns a ``write`` function that does the job's writes and returns its result. Each job gets
exactly its own result or its own error:

- a refusal in ``prepare`` answers that job only (prepare writes nothing);
- any other error (in a write, a database error, the commit) rolls the whole transaction back,
  and every job of the group is run again alone, in a transaction of its own, so the failing
  one fails by itself and nothing of it is kept, and the others are written once.

Jobs run again after a failed group must not repeat effects outside the database; a job that
has such effects (a rate limiter, a screening memory) keeps their outcome itself.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection
from sqlalchemy.orm import Session, sessionmaker

from cityops.core.errors import CityopsError

T = TypeVar("T")
SQLITE_CACHE_KIB = 65_536  # page cache of the writer's SQLite connection (default: 2,000 KiB)
Write = Callable[[Session], T]
Prepare = Callable[[Session], Write[T]]


@dataclass
class _Job(Generic[T]):
    prepare: Prepare[T]
    future: Future[T] = field(default_factory=Future)


class GroupWriter:
    """The write queue of one database (one ``sessionmaker``).

    The thread starts with the first job and ends after ``idle`` seconds without one, so an
    application that is not writing holds no thread. ``lock`` (e.g. the process-wide SQLite
    writer lock of services.open311.one_writer) is held around each transaction."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        max_batch: int = 64,
        idle: float = 2.0,
        lock: Callable[[], AbstractContextManager[object]] | None = None,
    ) -> None:
        self._sessions = sessions
        self.max_batch = max_batch
        self.idle = idle
        self._lock = lock or nullcontext
        self._queue: queue.SimpleQueue[_Job[Any]] = queue.SimpleQueue()
        self._guard = threading.Lock()
        self._thread: threading.Thread | None = None
        self._conn: Connection | None = None  # the writer thread's own
        self.groups = 0  # transactions committed (for tests and benchmarks)
        self.jobs = 0

    def submit(self, prepare: Prepare[T]) -> Future[T]:
        job: _Job[T] = _Job(prepare)
        self._queue.put(job)
        with self._guard:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="cityops-group-writer", daemon=True
                )
                self._thread.start()
        return job.future

    def run(self, prepare: Prepare[T]) -> T:
        """Submit and wait (from a thread)."""
        return self.submit(prepare).result()

    async def arun(self, prepare: Prepare[T]) -> T:
        """Submit and wait (from the event loop, without blocking it)."""
        return await asyncio.wrap_future(self.submit(prepare))

    # --- the writer thread ------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                try:
                    first = self._queue.get(timeout=self.idle)
                except queue.Empty:
                    with self._guard:
                        if self._queue.empty():
                            self._thread = None
                            return
                    continue
                group = [first]
                while len(group) < self.max_batch:
                    try:
                        group.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                self._group(group)
        finally:
            self._release()

    def _connection(self) -> Connection:
        """The writer's own connection, kept while the thread runs: its SQLite page cache
        stays valid between groups (only this connection writes), so the index pages an
        intake touches are found in memory instead of being read again."""
        if self._conn is None or self._conn.closed or self._conn.invalidated:
            engine = self._sessions.kw["bind"]
            self._conn = engine.connect()
            if engine.dialect.name == "sqlite":
                self._conn.exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
            self._conn.commit()
        return self._conn

    def _release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None or conn.closed:
            return
        try:
            if conn.dialect.name == "sqlite":  # back to the default before the pool has it
                conn.exec_driver_sql("PRAGMA cache_size=-2000")
                conn.commit()
            conn.close()
        except Exception:  # a broken connection: the pool drops it
            conn.invalidate()

    def _group(self, group: list[_Job[Any]]) -> None:
        outcomes: list[tuple[_Job[Any], Any, BaseException | None]] = []
        try:
            with (
                self._lock(),
                self._sessions(bind=self._connection()) as session,
                session.begin(),
            ):
                for job in group:
                    try:
                        write = job.prepare(session)
                    except CityopsError as refused:  # nothing written: this job's answer
                        outcomes.append((job, None, refused))
                        continue
                    outcomes.append((job, write(session), None))
                    session.flush()
        except Exception as exc:  # nothing of the group is kept
            self._release()  # and a fresh connection for what follows
            if len(group) == 1:
                _settle(group[0], None, exc)
                return
            for job in group:  # each alone: its own result, or its own error
                self._group([job])
            return
        self.groups += 1
        self.jobs += len(group)
        for job, result, error in outcomes:
            _settle(job, result, error)


def _settle(job: _Job[Any], result: Any, error: BaseException | None) -> None:
    if job.future.cancelled():
        return
    if error is not None:
        job.future.set_exception(error)
    else:
        job.future.set_result(result)
