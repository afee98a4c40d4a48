"""The city's working calendar: configured periods + chinesecalendar + the admin's own days."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import date

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from cityops.core.clock import WorkingCalendar
from cityops.core.errors import ValidationFailed
from cityops.services import cityconfig
from cityops.store.schema import CalendarDay

_lock = threading.Lock()
_cache: dict[tuple[object, ...], WorkingCalendar] = {}


def city_clock(session: Session) -> WorkingCalendar:
    """Cached per (database, config, admin days); an admin's new holiday takes effect at once."""
    cfg = cityconfig.active().calendar
    count, last = session.execute(select(func.count(), func.max(CalendarDay.day))).one()
    key = (str(session.get_bind().engine.url), id(cfg), count, last)
    with _lock:
        hit = _cache.get(key)
    if hit is not None:
        return hit
    holidays, workdays = set(cfg.extra_holidays), set(cfg.extra_working_days)
    for day, kind in session.execute(select(CalendarDay.day, CalendarDay.kind)):
        (holidays if kind == "holiday" else workdays).add(day)
    clock = WorkingCalendar(
        replace(cfg, extra_holidays=frozenset(holidays), extra_working_days=frozenset(workdays))
    )
    with _lock:
        _cache.clear()  # one live calendar per process is plenty
        _cache[key] = clock
    return clock


def set_day(session: Session, day: date, kind: str | None, note: str = "") -> None:
    """Mark a date as holiday or working day (``None`` removes the admin's entry)."""
    if kind not in (None, "holiday", "workday"):
        raise ValidationFailed(
            "日期类型应为 holiday 或 workday",
            en="kind must be holiday or workday",
            code="bad_calendar_day",
        )
    session.execute(delete(CalendarDay).where(CalendarDay.day == day))
    if kind is not None:
        session.add(CalendarDay(day=day, kind=kind, note=note[:100]))
    session.flush()
