"""The city's working calendar: configured periods + chinesecalendar + the admin's own days."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import date

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from cityops.core.clock import WorkingCalendar
from cityops.core.errors import ValidationFailed
from cityops.services import cityconfig
from cityops.services.cache import StampedCache
from cityops.store.schema import CalendarDay

log = logging.getLogger("cityops.calendar")


def _calendar_stamp(session: Session) -> tuple[object, ...]:
    count, last = session.execute(select(func.count(), func.max(CalendarDay.day))).one()
    return id(cityconfig.active().calendar), count, last


def _build_clock(session: Session) -> WorkingCalendar:
    cfg = cityconfig.active().calendar
    holidays, workdays = set(cfg.extra_holidays), set(cfg.extra_working_days)
    for day, kind in session.execute(select(CalendarDay.day, CalendarDay.kind)):
        (holidays if kind == "holiday" else workdays).add(day)
    return WorkingCalendar(
        replace(cfg, extra_holidays=frozenset(holidays), extra_working_days=frozenset(workdays))
    )


clock_cache: StampedCache[WorkingCalendar] = StampedCache(_calendar_stamp, _build_clock)


def city_clock(session: Session) -> WorkingCalendar:
    """The configured calendar plus the admin's days; an admin's new holiday counts at once."""
    return clock_cache.get(session)


def provisional_years(today: date) -> list[int]:
    """This year and next, where the city counts only the law's holidays (decision D17)."""
    clock = WorkingCalendar(cityconfig.active().calendar)
    return [y for y in (today.year, today.year + 1) if clock.is_provisional(date(y, 1, 1))]


def warn_if_provisional(today: date) -> None:
    for year in provisional_years(today):
        log.warning(
            "%s 年的工作日历暂按法定节假日计算，未含调休：请录入国务院安排并加入 covered_years / "
            "%s counts statutory holidays only, no make-up working days: enter the State "
            "Council's notice and add the year to covered_years",
            year,
            year,
        )


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
    clock_cache.invalidate()
