"""Process-wide caches of data built from tables (spatial index, calendar, dispatch rules).

Each cache keeps one value per database, tagged with a *stamp* (a cheap query such as the row
count and the highest key). The stamp is re-read at most every ``ttl`` seconds, so a hot path
(every intake) does not pay for it each time; writes in this process call ``invalidate`` and are
seen at once, writes by another process (the CLI beside a server) within ``ttl``. One lock per
cache means sixteen concurrent first requests build the value once, not sixteen times.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy.orm import Session

T = TypeVar("T")
_all: list[StampedCache[object]] = []


def invalidate_all() -> None:
    """After a change no stamp sees (a new city configuration, tables emptied by a test)."""
    for cache in _all:
        cache.invalidate()


@dataclass
class _Entry(Generic[T]):
    stamp: Hashable
    value: T
    checked: float


class StampedCache(Generic[T]):
    def __init__(
        self,
        stamp: Callable[[Session], Hashable],
        build: Callable[[Session], T],
        ttl: float = 5.0,
    ) -> None:
        self._stamp = stamp
        self._build = build
        self.ttl = ttl
        self._entries: dict[str, _Entry[T]] = {}
        self._lock = threading.Lock()
        _all.append(self)  # type: ignore[arg-type]

    def get(self, session: Session) -> T:
        db = str(session.get_bind().engine.url)
        entry = self._entries.get(db)
        now = time.monotonic()
        if entry is not None and now - entry.checked < self.ttl:
            return entry.value
        with self._lock:  # one builder at a time; the others then find the fresh value
            entry = self._entries.get(db)
            if entry is not None and time.monotonic() - entry.checked < self.ttl:
                return entry.value
            stamp = self._stamp(session)
            if entry is None or entry.stamp != stamp:
                entry = _Entry(stamp, self._build(session), time.monotonic())
            else:
                entry.checked = time.monotonic()
            self._entries[db] = entry
            return entry.value

    def fresh(self, db: str) -> T | None:
        """The value for database ``db`` (``str(engine.url)``) when it needs no look at the
        database (checked within the TTL), else None: the caller then uses ``get`` with a
        session. For hot read paths that need no session otherwise."""
        entry = self._entries.get(db)
        if entry is not None and time.monotonic() - entry.checked < self.ttl:
            return entry.value
        return None

    def invalidate(self) -> None:
        with self._lock:
            self._entries.clear()
