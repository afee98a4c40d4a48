"""The working-time clock, against hand-worked examples and the State Council holiday notices.

Default calendar unless said otherwise: working periods 08:00–12:00 and 14:00–18:00, Asia/Shanghai,
holidays and 调休 make-up days from chinesecalendar. Each example states its arithmetic.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cityops.core.clock import (
    BadCalendar,
    BadTimeLimit,
    CalendarConfig,
    CalendarNotCovered,
    ClockPaused,
    Light,
    NaiveDatetime,
    Period,
    SummerSchedule,
    TimeLimit,
    TimeUnit,
    WorkingCalendar,
    light,
    package_years,
)
from cityops.core.errors import CityopsError
from cityops.core.holidays import statutory_holidays

TZ = ZoneInfo("Asia/Shanghai")
CAL = WorkingCalendar()


def at(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=TZ)


def L(text: str) -> TimeLimit:
    return TimeLimit.parse(text)


# ---------------------------------------------------------------------------------------------
# TimeLimit


@pytest.mark.parametrize(
    ("text", "amount", "unit", "canonical"),
    [
        ("4工作时", "4", TimeUnit.working_hour, "4工作时"),
        ("2工作日", "2", TimeUnit.working_day, "2工作日"),
        ("24小时", "24", TimeUnit.natural_hour, "24自然时"),
        ("2紧急工作时", "2", TimeUnit.urgent_hour, "2紧急工作时"),
        ("0.5工作日", "0.5", TimeUnit.working_day, "0.5工作日"),
        ("15分钟", "15", TimeUnit.natural_minute, "15分钟"),
        ("15工作分钟", "15", TimeUnit.working_minute, "15工作分钟"),
        ("4 工作时", "4", TimeUnit.working_hour, "4工作时"),
        ("４工作时", "4", TimeUnit.working_hour, "4工作时"),  # full-width digit
        ("１．５工作日", "1.5", TimeUnit.working_day, "1.5工作日"),
        (" 3天 ", "3", TimeUnit.natural_day, "3自然日"),
        ("3日", "3", TimeUnit.natural_day, "3自然日"),
        ("2个工作日", "2", TimeUnit.working_day, "2工作日"),
        ("4.0工作时", "4", TimeUnit.working_hour, "4工作时"),
        ("20工作日", "20", TimeUnit.working_day, "20工作日"),
        ("1自然日", "1", TimeUnit.natural_day, "1自然日"),
        ("6 working_hour", "6", TimeUnit.working_hour, "6工作时"),
    ],
)
def test_time_limit_parse(text: str, amount: str, unit: TimeUnit, canonical: str) -> None:
    limit = TimeLimit.parse(text)
    assert limit == TimeLimit(Decimal(amount), unit)
    assert str(limit) == canonical
    assert TimeLimit.parse(str(limit)) == limit  # the canonical form reads back


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "工作时",
        "4",
        "-4工作时",
        "0工作时",
        "0.0工作日",
        "4年",
        "abc",
        "4工作周",
        "1e3工作时",
        "10001自然日",
    ],
)
def test_time_limit_rejects(text: str) -> None:
    with pytest.raises(BadTimeLimit) as info:
        TimeLimit.parse(text)
    assert info.value.code == "bad_time_limit"
    assert info.value.message and info.value.message_en


def test_time_limit_english_label() -> None:
    assert L("0.5工作日").en == "0.5 working days"
    assert TimeUnit.working_day.is_working and not TimeUnit.urgent_hour.is_working


# ---------------------------------------------------------------------------------------------
# Working hours


def test_lunch_break_is_skipped() -> None:
    # Tue 2025-06-03 11:00 + 2工作时: 11:00–12:00 (1 h) + 14:00–15:00 (1 h) = 15:00.
    assert CAL.add(at(2025, 6, 3, 11), L("2工作时")) == at(2025, 6, 3, 15)


def test_deadline_is_the_earliest_instant() -> None:
    # 11:00 + 1工作时 reaches the hour at 12:00; 14:00 is the same working time, 12:00 is earlier.
    assert CAL.add(at(2025, 6, 3, 11), L("1工作时")) == at(2025, 6, 3, 12)
    # A start in the lunch break counts from 14:00: 12:30 + 1工作时 = 15:00.
    assert CAL.add(at(2025, 6, 3, 12, 30), L("1工作时")) == at(2025, 6, 3, 15)
    # Starting exactly at 12:00 is like starting at 14:00.
    assert CAL.add(at(2025, 6, 3, 12), L("2工作时")) == at(2025, 6, 3, 16)


def test_evening_submission_waits_for_monday() -> None:
    # Fri 2025-06-06 19:00 + 4工作时: nothing counts Fri night, Sat, Sun;
    # Mon 2025-06-09 08:00–12:00 = 4 h → Monday 12:00.
    assert CAL.add(at(2025, 6, 6, 19), L("4工作时")) == at(2025, 6, 9, 12)


def test_evening_before_a_holiday_waits_for_the_holiday_to_end() -> None:
    # Tue 2025-09-30 19:00 + 4工作时: 2025-10-01..08 is the 国庆/中秋 holiday (8 days);
    # Thu 2025-10-09 08:00–12:00 → 12:00.
    assert CAL.add(at(2025, 9, 30, 19), L("4工作时")) == at(2025, 10, 9, 12)


def test_working_hours_span_several_days() -> None:
    # Tue 2025-06-03 17:00 + 10工作时: Tue 1 h, Wed 8 h (9), Thu 08:00–09:00 (10) → Thu 09:00.
    assert CAL.add(at(2025, 6, 3, 17), L("10工作时")) == at(2025, 6, 5, 9)


def test_minutes() -> None:
    # Register/dispatch limits: 15分钟 counts the wall clock, 15工作分钟 only working time.
    assert CAL.add(at(2025, 6, 3, 17, 55), L("15分钟")) == at(2025, 6, 3, 18, 10)
    assert CAL.add(at(2025, 6, 3, 17, 55), L("15工作分钟")) == at(2025, 6, 4, 8, 10)


# ---------------------------------------------------------------------------------------------
# Holidays: 国庆 2025 and 春节 2026


def test_national_day_2025_matches_the_state_council_notice() -> None:
    # 国办发明电〔2024〕12号: 10月1日（周三）至8日（周三）放假调休，共8天；
    # 9月28日（周日）、10月11日（周六）上班.
    assert CAL.is_working_day(date(2025, 9, 28))  # Sunday, make-up day
    assert not any(CAL.is_working_day(date(2025, 10, d)) for d in range(1, 9))
    assert CAL.is_working_day(date(2025, 10, 9))
    assert CAL.is_working_day(date(2025, 10, 11))  # Saturday, make-up day
    assert not CAL.is_working_day(date(2025, 10, 12))


def test_national_day_2025_deadlines() -> None:
    # Sat 2025-09-27 10:00 + 4工作时: Sat is off; Sun 09-28 is a make-up day → 08:00–12:00.
    assert CAL.add(at(2025, 9, 27, 10), L("4工作时")) == at(2025, 9, 28, 12)
    # Tue 2025-09-30 16:00 + 1工作日: the next working day is Thu 10-09 → 16:00 there.
    assert CAL.add(at(2025, 9, 30, 16), L("1工作日")) == at(2025, 10, 9, 16)
    # Fri 2025-10-10 15:00 + 2工作日: Sat 10-11 works (1st), Mon 10-13 (2nd) → 15:00.
    assert CAL.add(at(2025, 10, 10, 15), L("2工作日")) == at(2025, 10, 13, 15)


def test_spring_festival_2026_matches_the_state_council_notice() -> None:
    # 国务院办公厅关于2026年部分节假日安排的通知 (2025-11-04): 春节 2月15日（周日）至23日（周一）
    # 放假调休，共9天；2月14日（周六）、2月28日（周六）上班.
    assert CAL.is_working_day(date(2026, 2, 13))  # Friday
    assert CAL.is_working_day(date(2026, 2, 14))  # Saturday make-up: last day before the holiday
    assert not any(CAL.is_working_day(date(2026, 2, d)) for d in range(15, 24))
    assert CAL.is_working_day(date(2026, 2, 24))
    assert CAL.is_working_day(date(2026, 2, 28))  # Saturday make-up
    assert not CAL.is_working_day(date(2026, 3, 1))


def test_spring_festival_2026_deadlines() -> None:
    # Fri 02-13 16:00 + 4工作时: Fri 16–18 (2 h) + Sat 02-14 08:00–10:00 (make-up day) → 02-14 10:00.
    assert CAL.add(at(2026, 2, 13, 16), L("4工作时")) == at(2026, 2, 14, 10)
    # Sat 02-14 16:00 (the last working day) + 4工作时: 16–18 (2 h), holiday 02-15..23,
    # Tue 02-24 08:00–10:00 → 02-24 10:00.
    assert CAL.add(at(2026, 2, 14, 16), L("4工作时")) == at(2026, 2, 24, 10)
    # Fri 02-13 10:00 + 2工作日: 1st next working day Sat 02-14, 2nd Tue 02-24 → 10:00.
    assert CAL.add(at(2026, 2, 13, 10), L("2工作日")) == at(2026, 2, 24, 10)
    # 5工作日 from Fri 02-13 10:00: 02-14, 02-24, 02-25, 02-26, 02-27 → Fri 02-27 10:00.
    assert CAL.add(at(2026, 2, 13, 10), L("5工作日")) == at(2026, 2, 27, 10)


# ---------------------------------------------------------------------------------------------
# Working days


def test_working_days_keep_the_moment_of_the_day() -> None:
    # Mon 2025-06-09 10:00 + 2工作日 = Wed 2025-06-11 10:00 (both working days).
    assert CAL.add(at(2025, 6, 9, 10), L("2工作日")) == at(2025, 6, 11, 10)
    # Across a weekend: Thu 06-12 15:30 + 2工作日 = Mon 06-16 15:30.
    assert CAL.add(at(2025, 6, 12, 15, 30), L("2工作日")) == at(2025, 6, 16, 15, 30)


def test_working_day_started_outside_working_time() -> None:
    # Received Mon 2025-06-09 19:00 → counting starts Tue 08:00; 1工作日 = all of Tuesday,
    # due at its end, Tue 18:00 (the same working instant as Wed 08:00, and earlier).
    assert CAL.add(at(2025, 6, 9, 19), L("1工作日")) == at(2025, 6, 10, 18)
    assert CAL.add(at(2025, 6, 10, 8), L("1工作日")) == at(2025, 6, 10, 18)
    # Received at 07:00 is the same as at 08:00.
    assert CAL.add(at(2025, 6, 10, 7), L("1工作日")) == at(2025, 6, 10, 18)


def test_half_working_day() -> None:
    # 0.5工作日 = half of the day's working time (4 of 8 h).
    # From 08:00: 08:00–12:00 → 12:00. From 10:00: 10–12 (2 h) + 14–16 (2 h) → 16:00.
    assert CAL.add(at(2025, 6, 10, 8), L("0.5工作日")) == at(2025, 6, 10, 12)
    assert CAL.add(at(2025, 6, 10, 10), L("0.5工作日")) == at(2025, 6, 10, 16)
    # From 16:00: 16–18 is a quarter day; the other quarter is Wed 08:00–10:00.
    assert CAL.add(at(2025, 6, 10, 16), L("0.5工作日")) == at(2025, 6, 11, 10)


def test_working_days_by_fixed_hours() -> None:
    # working_day_hours = 8: 1工作日 is 8 working hours. On the default 8-hour day the result is
    # the same: Mon 10:00 + 2工作日 = 16 h = Mon 6 h + Tue 8 h + Wed 2 h → Wed 10:00.
    hours = WorkingCalendar(CalendarConfig(working_day_hours=Decimal(8)))
    assert hours.add(at(2025, 6, 9, 10), L("2工作日")) == at(2025, 6, 11, 10)
    # Mon 10:00 → Tue 12:00 = 6 h + 4 h = 10 h = 1.25 days of 8 h.
    elapsed = hours.elapsed(at(2025, 6, 9, 10), at(2025, 6, 10, 12), TimeUnit.working_day)
    assert elapsed == Decimal("1.25")
    # On a 7-hour summer day (08:30–12:00, 14:30–18:00) the two rules differ: from Tue 2025-07-01
    # 08:30, 1工作日 by whole days ends Tue 18:00; by 8 hours it needs Wed 08:30–09:30 as well.
    summer = _summer_city().config
    fixed = WorkingCalendar(
        CalendarConfig(periods=summer.periods, summer=summer.summer, working_day_hours=Decimal(8))
    )
    assert _summer_city().add(at(2025, 7, 1, 8, 30), L("1工作日")) == at(2025, 7, 1, 18)
    assert fixed.add(at(2025, 7, 1, 8, 30), L("1工作日")) == at(2025, 7, 2, 9, 30)


def test_elapsed_in_each_unit() -> None:
    # Mon 2025-06-09 10:00 → Wed 2025-06-11 10:00: 2 working days = 16 working hours = 48 h.
    a, b = at(2025, 6, 9, 10), at(2025, 6, 11, 10)
    assert CAL.elapsed(a, b, TimeUnit.working_day) == 2
    assert CAL.elapsed(a, b, TimeUnit.working_hour) == 16
    assert CAL.elapsed(a, b, TimeUnit.working_minute) == 16 * 60
    assert CAL.elapsed(a, b, TimeUnit.natural_hour) == 48
    assert CAL.elapsed(a, b, TimeUnit.urgent_hour) == 48
    assert CAL.elapsed(a, b, TimeUnit.natural_day) == 2
    # End before start counts nothing.
    assert CAL.elapsed(b, a, TimeUnit.working_hour) == 0


# ---------------------------------------------------------------------------------------------
# Natural and urgent units


def test_urgent_hours_count_nights_and_holidays() -> None:
    # Fri 2025-06-06 22:00 + 2紧急工作时 = Sat 00:00; on a holiday (2025-10-01) the clock runs too.
    assert CAL.add(at(2025, 6, 6, 22), L("2紧急工作时")) == at(2025, 6, 7, 0)
    assert CAL.add(at(2025, 10, 1, 10), L("2紧急工作时")) == at(2025, 10, 1, 12)


def test_natural_days_and_hours() -> None:
    # 3自然日 from 2025-09-30 10:00 runs through the holiday: 2025-10-03 10:00. 24小时 = 1 day.
    assert CAL.add(at(2025, 9, 30, 10), L("3自然日")) == at(2025, 10, 3, 10)
    assert CAL.add(at(2025, 9, 30, 10), L("24小时")) == at(2025, 10, 1, 10)


def test_natural_units_need_no_holiday_data() -> None:
    # 2030 is not in chinesecalendar, but wall-clock units do not ask which days are working.
    assert CAL.add(at(2030, 3, 1, 10), L("15分钟")) == at(2030, 3, 1, 10, 15)


# ---------------------------------------------------------------------------------------------
# Summer schedule and weekday periods


def _summer_city() -> WorkingCalendar:
    return WorkingCalendar(
        CalendarConfig(
            periods=(Period.parse("08:30-12:00"), Period.parse("14:00-17:30")),
            summer=SummerSchedule(
                start=(5, 1),
                end=(9, 30),
                periods=(Period.parse("08:30-12:00"), Period.parse("14:30-18:00")),
            ),
        )
    )


def test_summer_schedule() -> None:
    cal = _summer_city()
    # Summer Tue 2025-07-01 11:00 + 2工作时: 11–12 (1 h) + 14:30–15:30 (1 h) → 15:30.
    assert cal.add(at(2025, 7, 1, 11), L("2工作时")) == at(2025, 7, 1, 15, 30)
    # Winter Tue 2025-11-04 11:00 + 2工作时: 11–12 + 14:00–15:00 → 15:00.
    assert cal.add(at(2025, 11, 4, 11), L("2工作时")) == at(2025, 11, 4, 15)
    # Last summer day Tue 09-30 17:00 + 2工作时: 17–18 (1 h); holiday; Thu 10-09 (winter)
    # 08:30–09:30 → 09:30.
    assert cal.add(at(2025, 9, 30, 17), L("2工作时")) == at(2025, 10, 9, 9, 30)
    # 1工作日 from 09-30 17:00: 6 h of that 7 h summer day are past (position 6/7); on Thu 10-09
    # (7 h winter day) position 6/7 is 6 h in: 08:30–12:00 (3.5 h) + 14:00–16:30 → 16:30.
    assert cal.add(at(2025, 9, 30, 17), L("1工作日")) == at(2025, 10, 9, 16, 30)
    assert cal.periods_on(date(2025, 5, 1)) == ()  # Labour Day
    assert [str(p) for p in cal.periods_on(date(2025, 5, 6))] == ["08:30-12:00", "14:30-18:00"]


def test_summer_range_may_wrap_the_year() -> None:
    winter = SummerSchedule((11, 15), (3, 15), (Period.parse("09:00-12:00"),))
    assert winter.applies(date(2025, 12, 31)) and winter.applies(date(2026, 1, 5))
    assert not winter.applies(date(2025, 7, 1))


def test_weekday_periods_and_make_up_saturday() -> None:
    # Friday afternoons end at 17:00 in this city; a 调休 Saturday works a normal day.
    cal = WorkingCalendar(
        CalendarConfig(
            weekday_periods=((4, (Period.parse("08:00-12:00"), Period.parse("14:00-17:00"))),)
        )
    )
    # Fri 2025-06-06 16:00 + 2工作时: 16–17 (1 h), Mon 08:00–09:00 → Mon 09:00.
    assert cal.add(at(2025, 6, 6, 16), L("2工作时")) == at(2025, 6, 9, 9)
    # Sat 2025-10-11 is a make-up day: it has the normal 08–12, 14–18.
    assert [str(p) for p in cal.periods_on(date(2025, 10, 11))] == ["08:00-12:00", "14:00-18:00"]


# ---------------------------------------------------------------------------------------------
# Pauses (挂账)


def test_pause_moves_the_deadline_by_the_paused_working_time() -> None:
    start, limit = at(2025, 6, 3, 9), L("4工作时")
    # No pause: 09–12 (3 h) + 14–15 → 15:00.
    assert CAL.add(start, limit) == at(2025, 6, 3, 15)
    # Paused 10:00–11:00 (1 working hour) → 16:00.
    assert CAL.add(start, limit, [(at(2025, 6, 3, 10), at(2025, 6, 3, 11))]) == at(2025, 6, 3, 16)
    # Paused over lunch 12:30–13:30: no working time inside → unchanged.
    assert CAL.add(start, limit, [(at(2025, 6, 3, 12, 30), at(2025, 6, 3, 13, 30))]) == at(
        2025, 6, 3, 15
    )
    # Paused 11:00–15:00: 11–12 and 14–15 = 2 working hours → 17:00.
    assert CAL.add(start, limit, [(at(2025, 6, 3, 11), at(2025, 6, 3, 15))]) == at(2025, 6, 3, 17)
    # Two overlapping pauses count once: 10:00–11:00 ∪ 10:30–11:30 = 1.5 h → 16:30.
    two = [
        (at(2025, 6, 3, 10), at(2025, 6, 3, 11)),
        (at(2025, 6, 3, 10, 30), at(2025, 6, 3, 11, 30)),
    ]
    assert CAL.add(start, limit, two) == at(2025, 6, 3, 16, 30)
    # A pause after the deadline, or before the start, changes nothing.
    later = [(at(2025, 6, 3, 16), at(2025, 6, 4, 16))]
    assert CAL.add(start, limit, later) == at(2025, 6, 3, 15)
    earlier = [(at(2025, 6, 2, 9), at(2025, 6, 3, 9))]
    assert CAL.add(start, limit, earlier) == at(2025, 6, 3, 15)


def test_pause_in_working_days_and_urgent_hours() -> None:
    # 2工作日 from Mon 06-09 10:00, paused all of Tue 06-10 → due Thu 06-12 10:00.
    pause = [(at(2025, 6, 10, 0), at(2025, 6, 11, 0))]
    assert CAL.add(at(2025, 6, 9, 10), L("2工作日"), pause) == at(2025, 6, 12, 10)
    # 4紧急工作时 from 20:00 paused 21:00–23:00 (2 h) → 02:00.
    pause = [(at(2025, 6, 9, 21), at(2025, 6, 9, 23))]
    assert CAL.add(at(2025, 6, 9, 20), L("4紧急工作时"), pause) == at(2025, 6, 10, 2)


def test_open_pause() -> None:
    start, limit = at(2025, 6, 3, 9), L("4工作时")
    # Suspended at 10:00 and not resumed: the deadline is unknown.
    with pytest.raises(ClockPaused) as info:
        CAL.add(start, limit, [(at(2025, 6, 3, 10), None)])
    assert info.value.code == "clock_paused"
    # Suspended after the deadline (16:00 > 15:00): irrelevant.
    assert CAL.add(start, limit, [(at(2025, 6, 3, 16), None)]) == at(2025, 6, 3, 15)
    # Elapsed: an open pause runs until the instant asked about. 09:00–10:00 counted only.
    now = at(2025, 6, 3, 11)
    assert CAL.elapsed(start, now, TimeUnit.working_hour, [(at(2025, 6, 3, 10), None)]) == 1
    assert CAL.used_fraction(start, now, limit, [(at(2025, 6, 3, 10), None)]) == 0.25


def test_bad_pause() -> None:
    with pytest.raises(CityopsError) as info:
        CAL.add(at(2025, 6, 3, 9), L("4工作时"), [(at(2025, 6, 3, 11), at(2025, 6, 3, 10))])
    assert info.value.code == "bad_pause"


# ---------------------------------------------------------------------------------------------
# Used fraction and lights


@pytest.mark.parametrize(
    ("now", "fraction", "expected"),
    [
        # 4工作时 from Tue 08:00 (deadline 12:00). 0.79 × 240 min = 189.6 min → 11:09:36.
        (at(2025, 6, 3, 11, 9, 36), 0.79, Light.green),
        # 0.8 × 240 = 192 min → 11:12.
        (at(2025, 6, 3, 11, 12), 0.8, Light.yellow),
        # 1.0 at 12:00, and still 1.0 through lunch (no working time passes).
        (at(2025, 6, 3, 12), 1.0, Light.yellow),
        (at(2025, 6, 3, 13, 59), 1.0, Light.yellow),
        # 1.01 × 240 = 242.4 min → 2.4 min after 14:00 = 14:02:24.
        (at(2025, 6, 3, 14, 2, 24), 1.01, Light.red),
    ],
)
def test_used_fraction_and_light(now: datetime, fraction: float, expected: Light) -> None:
    used = CAL.used_fraction(at(2025, 6, 3, 8), now, L("4工作时"))
    assert used == pytest.approx(fraction, abs=1e-12)
    assert light(used) is expected


def test_light_thresholds() -> None:
    assert light(0.0) is Light.green
    assert light(0.79) is Light.green
    assert light(0.7999999) is Light.green
    assert light(0.8) is Light.yellow
    assert light(1.0) is Light.yellow
    assert light(1.0000001) is Light.red
    assert light(1.01) is Light.red
    assert Light.red.label_zh == "红灯"


def test_used_fraction_before_start_is_zero() -> None:
    assert CAL.used_fraction(at(2025, 6, 3, 9), at(2025, 6, 3, 8), L("15分钟")) == 0.0


# ---------------------------------------------------------------------------------------------
# Years chinesecalendar does not cover


def test_package_years() -> None:
    first, last = package_years()
    assert first <= 2025 and last >= 2026


REFUSING = WorkingCalendar(CalendarConfig(uncovered_years="refuse"))


def test_uncovered_year_is_an_error_not_a_guess() -> None:
    year = package_years()[1] + 1  # 2027 with chinesecalendar 1.11.0
    with pytest.raises(CalendarNotCovered) as info:
        REFUSING.is_working_day(date(year, 3, 2))
    err = info.value
    assert err.code == "calendar_not_covered"
    assert str(year) in err.message and "管理员" in err.message
    assert err.message_en and str(year) in err.message_en
    assert err.details == {"year": year, "package_years": list(package_years())}
    # A deadline that runs into the uncovered year fails the same way.
    with pytest.raises(CalendarNotCovered):
        REFUSING.add(at(year - 1, 12, 31, 17), L("4工作时"))
    with pytest.raises(CalendarNotCovered):
        REFUSING.add(at(2030, 3, 1, 10), L("1工作日"))


def test_statutory_holidays_match_the_package_where_it_has_data() -> None:
    """The law's days (and their weekend make-up days) are days off in the State Council's
    notices for 2025 and 2026, which the package carries; the notices add 调休 on top."""
    for year in (2025, 2026):
        days = statutory_holidays(year)
        assert [d for d in days if chinese_calendar.is_workday(d)] == []
        assert sum(1 for name in days.values() if "补假" not in name) == 13


def test_statutory_holidays_of_2027_by_hand() -> None:
    # 春节 2027: 正月初一 is Sat 02-06, so 除夕 Fri 02-05 .. Mon 02-08, Sat and Sun made up on
    # Tue 02-09 and Wed 02-10; 劳动节 Sat/Sun made up Mon/Tue; 国庆 Fri–Sun made up Mon/Tue.
    days = statutory_holidays(2027)
    assert sorted(d.isoformat() for d in days) == [
        "2027-01-01",
        "2027-02-05",
        "2027-02-06",
        "2027-02-07",
        "2027-02-08",
        "2027-02-09",
        "2027-02-10",
        "2027-04-05",
        "2027-05-01",
        "2027-05-02",
        "2027-05-03",
        "2027-05-04",
        "2027-06-09",
        "2027-09-15",
        "2027-10-01",
        "2027-10-02",
        "2027-10-03",
        "2027-10-04",
        "2027-10-05",
    ]
    assert days[date(2027, 2, 9)] == "春节（补假）"
    with pytest.raises(ValueError):
        statutory_holidays(2024)  # the revised law's days start in 2025


def test_uncovered_year_counts_the_law_and_says_it_is_provisional() -> None:
    assert CAL.config.uncovered_years == "statutory"  # the default
    assert not CAL.is_working_day(date(2027, 1, 1))  # 元旦, a Friday
    assert CAL.is_working_day(date(2027, 1, 4))
    assert not CAL.is_working_day(date(2027, 2, 10))  # 春节 make-up day, a Wednesday
    assert CAL.is_provisional(date(2027, 3, 1))
    assert not CAL.is_provisional(date(2026, 12, 31))
    # Thu 2026-12-31 17:00 + 2工作时: 17–18, Fri 2027-01-01 off → Mon 01-04 08:00–09:00.
    assert CAL.add(at(2026, 12, 31, 17), L("2工作时")) == at(2027, 1, 4, 9)
    # Fri 2027-02-05 is 除夕: 10:00 Thu 02-04 + 1工作日 → 10:00 Thu 02-11.
    assert CAL.add(at(2027, 2, 4, 10), L("1工作日")) == at(2027, 2, 11, 10)
    # An admin's entry for the year wins and ends the provisional state for that year.
    entered = WorkingCalendar(
        CalendarConfig(
            covered_years=frozenset({2027}), extra_holidays=frozenset({date(2027, 1, 1)})
        )
    )
    assert not entered.is_provisional(date(2027, 3, 1))
    # Years the law's rules do not describe still refuse.
    with pytest.raises(CalendarNotCovered):
        CAL.is_working_day(date(2100, 3, 1))


def test_covered_years_use_the_admins_holidays() -> None:
    cal = WorkingCalendar(
        CalendarConfig(
            covered_years=frozenset({2027}),
            extra_holidays=frozenset({date(2027, 1, 1)}),
            extra_working_days=frozenset({date(2027, 1, 9)}),  # hypothetical make-up Saturday
        )
    )
    assert not cal.is_working_day(date(2027, 1, 1))  # the admin's holiday (a Friday)
    assert not cal.is_working_day(date(2027, 1, 2))  # Saturday
    assert cal.is_working_day(date(2027, 1, 4))  # Monday
    assert cal.is_working_day(date(2027, 1, 9))  # the admin's make-up Saturday
    # Thu 2026-12-31 17:00 + 2工作时: 17–18, Fri 2027-01-01 off → Mon 01-04 08:00–09:00.
    assert cal.add(at(2026, 12, 31, 17), L("2工作时")) == at(2027, 1, 4, 9)
    # Still an error for a year nobody covered, when the city refuses to guess.
    with pytest.raises(CalendarNotCovered):
        WorkingCalendar(replace(cal.config, uncovered_years="refuse")).is_working_day(
            date(2028, 1, 3)
        )


def test_admin_additions_override_the_package() -> None:
    # The city closes on Wed 2025-06-04 and works Sat 2025-06-07.
    cal = WorkingCalendar(
        CalendarConfig(
            extra_holidays=frozenset({date(2025, 6, 4)}),
            extra_working_days=frozenset({date(2025, 6, 7)}),
        )
    )
    assert not cal.is_working_day(date(2025, 6, 4))
    assert cal.is_working_day(date(2025, 6, 7))
    # Tue 06-03 17:00 + 2工作时: 17–18, Wed off → Thu 06-05 08:00–09:00.
    assert cal.add(at(2025, 6, 3, 17), L("2工作时")) == at(2025, 6, 5, 9)
    # Fri 06-06 17:00 + 2工作时: 17–18, Sat 06-07 works → 09:00 Saturday.
    assert cal.add(at(2025, 6, 6, 17), L("2工作时")) == at(2025, 6, 7, 9)


# ---------------------------------------------------------------------------------------------
# Input checks and configuration


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(NaiveDatetime) as info:
        CAL.add(datetime(2025, 6, 3, 9), L("4工作时"))
    assert isinstance(info.value, ValueError) and info.value.code == "naive_datetime"
    with pytest.raises(ValueError):
        CAL.elapsed(at(2025, 6, 3, 9), datetime(2025, 6, 3, 10), TimeUnit.working_hour)
    with pytest.raises(ValueError):
        CAL.add(at(2025, 6, 3, 9), L("4工作时"), [(datetime(2025, 6, 3, 10), None)])


def test_any_time_zone_in_the_calendars_zone_out() -> None:
    # 03:00 UTC is 11:00 in Shanghai; the deadline comes back in the calendar's zone.
    deadline = CAL.add(datetime(2025, 6, 3, 3, tzinfo=UTC), L("2工作时"))
    assert deadline == at(2025, 6, 3, 15) and deadline.tzinfo == TZ


@pytest.mark.parametrize(
    "make",
    [
        lambda: CalendarConfig(periods=()),
        lambda: CalendarConfig(periods=(Period.parse("14:00-18:00"), Period.parse("08:00-12:00"))),
        lambda: CalendarConfig(periods=(Period.parse("08:00-12:30"), Period.parse("12:00-18:00"))),
        lambda: Period(time(12), time(8)),
        lambda: Period.parse("08:00"),
        lambda: Period.parse("25:00-26:00"),
        lambda: CalendarConfig(weekday_periods=((7, (Period.parse("08:00-12:00"),)),)),
        lambda: CalendarConfig(timezone="Mars/Olympus"),
        lambda: CalendarConfig(working_day_hours=Decimal(0)),
        lambda: CalendarConfig(
            extra_holidays=frozenset({date(2025, 6, 4)}),
            extra_working_days=frozenset({date(2025, 6, 4)}),
        ),
        lambda: SummerSchedule((2, 30), (9, 30), (Period.parse("08:00-12:00"),)),
    ],
)
def test_bad_calendar_config(make: Callable[[], object]) -> None:
    with pytest.raises(BadCalendar) as info:
        make()
    assert info.value.code == "bad_calendar"


def test_periods_may_touch() -> None:
    config = CalendarConfig(periods=(Period.parse("8:00-12:00"), Period.parse("12:00～18:00")))
    assert WorkingCalendar(config).add(at(2025, 6, 3, 11), L("2工作时")) == at(2025, 6, 3, 13)


CITY_TOML = """
[calendar]
timezone = "Asia/Shanghai"
periods = ["08:30-12:00", "14:00-17:30"]
extra_holidays = [2025-06-04, "2025-06-05"]
extra_working_days = []
covered_years = [2027]
uncovered_years = "refuse"

[calendar.weekday_periods]
fri = ["08:30-12:00", "14:00-17:00"]

[calendar.summer]
start = "05-01"
end = "09-30"
periods = ["08:30-12:00", "14:30-18:00"]
"""


def test_config_from_toml_and_back() -> None:
    data = tomllib.loads(CITY_TOML)["calendar"]
    config = CalendarConfig.from_dict(data)
    assert config.periods == (Period(time(8, 30), time(12)), Period(time(14), time(17, 30)))
    assert config.weekday_periods == (
        (4, (Period(time(8, 30), time(12)), Period(time(14), time(17)))),
    )
    assert config.summer is not None and config.summer.start == (5, 1)
    assert config.extra_holidays == {date(2025, 6, 4), date(2025, 6, 5)}
    assert config.covered_years == {2027}
    assert config.uncovered_years == "refuse"
    assert CalendarConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize(
    "data",
    [
        {"periods": ["08:00-12:00"], "holidays": []},  # unknown key
        {"periods": "08:00-12:00"},  # not a list
        {"extra_holidays": ["2025-13-01"]},
        {"covered_years": ["next year"]},
        {"weekday_periods": {"funday": ["08:00-12:00"]}},
        {"summer": {"start": "05-01", "periods": ["08:00-12:00"]}},
        {"summer": {"start": "5/1", "end": "09-30", "periods": ["08:00-12:00"]}},
        {"working_day_hours": "eight"},
        {"uncovered_years": "guess"},
    ],
)
def test_bad_config_dict(data: dict[str, object]) -> None:
    with pytest.raises(BadCalendar):
        CalendarConfig.from_dict(data)


def test_next_working_instant() -> None:
    assert CAL.next_working_instant(at(2025, 6, 3, 9)) == at(2025, 6, 3, 9)
    assert CAL.next_working_instant(at(2025, 6, 3, 12, 30)) == at(2025, 6, 3, 14)
    assert CAL.next_working_instant(at(2025, 9, 30, 19)) == at(2025, 10, 9, 8)


# ---------------------------------------------------------------------------------------------
# Properties

WORKING_UNITS = [TimeUnit.working_minute, TimeUnit.working_hour, TimeUnit.working_day]
ALL_UNITS = list(TimeUnit)
# Instants in 2024-01-01 .. 2026-06-30, so 40 working days still end inside the package's years.
instants = st.integers(0, (date(2026, 6, 30) - date(2024, 1, 1)).days * 24 * 60 - 1).map(
    lambda m: at(2024, 1, 1) + timedelta(minutes=m)
)
quarters = st.integers(1, 160).map(lambda n: Decimal(n) / 4)  # 0.25 .. 40
PER_UNIT_SECONDS = {
    TimeUnit.working_minute: 60,
    TimeUnit.working_hour: 3600,
    TimeUnit.working_day: 8 * 3600,  # the default day: 8 working hours
    TimeUnit.natural_minute: 60,
    TimeUnit.natural_hour: 3600,
    TimeUnit.urgent_hour: 3600,
    TimeUnit.natural_day: 86400,
}


@settings(max_examples=150, deadline=None)
@given(start=instants, a=quarters, b=quarters, unit=st.sampled_from(ALL_UNITS))
def test_add_is_monotonic_in_the_amount(
    start: datetime, a: Decimal, b: Decimal, unit: TimeUnit
) -> None:
    small, big = sorted((a, b))
    assert CAL.add(start, TimeLimit(small, unit)) <= CAL.add(start, TimeLimit(big, unit))


@settings(max_examples=150, deadline=None)
@given(start=instants, amount=quarters, unit=st.sampled_from(WORKING_UNITS))
def test_elapsed_inverts_add(start: datetime, amount: Decimal, unit: TimeUnit) -> None:
    start = CAL.next_working_instant(start)  # inside (or at the start of) a working period
    limit = TimeLimit(amount, unit)
    deadline = CAL.add(start, limit)
    counted = CAL.elapsed(start, deadline, unit)
    assert abs(counted - amount) * PER_UNIT_SECONDS[unit] <= 1
    assert CAL.used_fraction(start, deadline, limit) == pytest.approx(1.0, abs=1e-6)


@settings(max_examples=150, deadline=None)
@given(
    start=instants,
    amount=quarters,
    unit=st.sampled_from(ALL_UNITS),
    pauses=st.lists(
        st.tuples(st.integers(-3000, 30000), st.integers(0, 5000)), min_size=0, max_size=4
    ),
)
def test_pauses_never_make_a_deadline_earlier(
    start: datetime, amount: Decimal, unit: TimeUnit, pauses: list[tuple[int, int]]
) -> None:
    limit = TimeLimit(amount, unit)
    spans: list[tuple[datetime, datetime | None]] = [
        (start + timedelta(minutes=o), start + timedelta(minutes=o + n)) for o, n in pauses
    ]
    plain = CAL.add(start, limit)
    paused = CAL.add(start, limit, spans)
    assert paused >= plain
    # And the time counted up to the paused deadline, pauses excluded, is the whole limit.
    counted = CAL.elapsed(start, paused, unit, spans)
    assert abs(counted - amount) * PER_UNIT_SECONDS[unit] <= 1
