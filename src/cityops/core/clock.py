"""The working-time clock: time limits (时限), the working calendar (工作日历) and deadline lights.

Every stage of a case has a time limit such as "4工作时" or "5工作日". Working units count only the
working periods of working days; natural and urgent units count the wall clock. Which days are
working days comes from the State Council holiday notices as packaged by ``chinesecalendar``
(holidays and 调休 make-up days), with an admin's own additions on top; a year the package does
not know is an error, never "every weekday works". Suspension (挂账) pauses the clock.

Instants are handled internally as integer microseconds since the Unix epoch, so the arithmetic is
exact and fast; whole days are skipped using per-date working spans cached on the calendar.
See docs/clock.md for the definitions with worked examples.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from fractions import Fraction
from functools import lru_cache
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import chinese_calendar

from cityops.core.errors import CityopsError
from cityops.core.holidays import FIRST_YEAR, LAST_YEAR, statutory_holidays

# --------------------------------------------------------------------------------------------
# Errors


class BadTimeLimit(CityopsError):
    status = 422
    code = "bad_time_limit"


class BadCalendar(CityopsError):
    status = 422
    code = "bad_calendar"


UNCOVERED_POLICIES = ("statutory", "refuse")


class CalendarNotCovered(CityopsError):
    """A date falls in a year with no holiday data: counting weekdays only would be wrong."""

    status = 409
    code = "calendar_not_covered"

    def __init__(self, year: int) -> None:
        first, last = package_years()
        super().__init__(
            f"工作日历没有 {year} 年的节假日数据（chinesecalendar 覆盖 {first}–{last} 年）："
            f"请管理员录入 {year} 年的节假日和调休上班日，并把 {year} 加入 covered_years",
            en=f"the working calendar has no holiday data for {year} (chinesecalendar covers "
            f"{first}–{last}): an admin must enter {year}'s holidays and make-up working days "
            f"and add {year} to covered_years",
            details={"year": year, "package_years": [first, last]},
        )
        self.year = year


class NaiveDatetime(CityopsError, ValueError):
    """A datetime without a time zone: ambiguous by up to a day, so refused."""

    status = 422
    code = "naive_datetime"


class ClockPaused(CityopsError):
    """The deadline cannot be known: an open suspension stopped the clock before it ran out."""

    status = 409
    code = "clock_paused"


# --------------------------------------------------------------------------------------------
# Units and limits

_US_PER_MINUTE = 60_000_000
_US_PER_HOUR = 60 * _US_PER_MINUTE
_US_PER_DAY = 24 * _US_PER_HOUR
MAX_AMOUNT = Decimal(10_000)


class TimeUnit(StrEnum):
    """Units of a time limit; the value is the canonical Chinese word used in standards."""

    working_minute = "工作分钟"
    working_hour = "工作时"
    working_day = "工作日"
    natural_minute = "分钟"
    natural_hour = "自然时"
    natural_day = "自然日"
    urgent_hour = "紧急工作时"

    @property
    def is_working(self) -> bool:
        """Counts only working periods of working days (the others count the wall clock)."""
        return self in _WORKING_UNITS

    @property
    def label_en(self) -> str:
        return _UNIT_EN[self]

    @classmethod
    def parse(cls, text: str) -> TimeUnit:
        unit = _UNIT_ALIASES.get(_normalise(text).lower().removeprefix("个"))
        if unit is None:
            raise BadTimeLimit(
                f"无法识别的时限单位“{text}”，应为 {'、'.join(u.value for u in cls)}",
                en=f"unknown time unit '{text}'; expected one of {', '.join(u.name for u in cls)}",
                details={"unit": text},
            )
        return unit


_WORKING_UNITS = frozenset({TimeUnit.working_minute, TimeUnit.working_hour, TimeUnit.working_day})
_UNIT_EN = {
    TimeUnit.working_minute: "working minutes",
    TimeUnit.working_hour: "working hours",
    TimeUnit.working_day: "working days",
    TimeUnit.natural_minute: "minutes",
    TimeUnit.natural_hour: "hours",
    TimeUnit.natural_day: "days",
    TimeUnit.urgent_hour: "urgent hours",
}
_UNIT_ALIASES: dict[str, TimeUnit] = {u.value: u for u in TimeUnit} | {u.name: u for u in TimeUnit}
_UNIT_ALIASES |= {
    "工作小时": TimeUnit.working_hour,
    "工作分": TimeUnit.working_minute,
    "自然分钟": TimeUnit.natural_minute,
    "分": TimeUnit.natural_minute,
    "小时": TimeUnit.natural_hour,
    "自然小时": TimeUnit.natural_hour,
    "天": TimeUnit.natural_day,
    "日": TimeUnit.natural_day,
    "自然天": TimeUnit.natural_day,
    "紧急小时": TimeUnit.urgent_hour,
    "紧急工作小时": TimeUnit.urgent_hour,
}

# Microseconds per unit for the units measured in (working or wall-clock) microseconds.
_US_PER_UNIT = {
    TimeUnit.working_minute: _US_PER_MINUTE,
    TimeUnit.working_hour: _US_PER_HOUR,
    TimeUnit.natural_minute: _US_PER_MINUTE,
    TimeUnit.natural_hour: _US_PER_HOUR,
    TimeUnit.urgent_hour: _US_PER_HOUR,
    TimeUnit.natural_day: _US_PER_DAY,
}

_LIMIT_RE = re.compile(r"^([+-]?(?:\d+(?:\.\d*)?|\.\d+))(\D\S*)$")


def _normalise(text: str) -> str:
    """Full-width digits and letters to ASCII (NFKC), surrounding and inner spaces removed."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text or ""))


def _format_amount(amount: Decimal) -> str:
    """4 not 4.0, 0.5 not 5E-1."""
    text = format(amount.normalize(), "f")
    return text


@dataclass(frozen=True)
class TimeLimit:
    """A time limit (时限): a positive amount of a unit, e.g. 4工作时, 0.5工作日, 15分钟."""

    amount: Decimal
    unit: TimeUnit

    def __post_init__(self) -> None:
        amount = self.amount
        if not isinstance(amount, Decimal) or not amount.is_finite():
            raise BadTimeLimit(
                f"时限数值无效：{amount!r}", en=f"invalid time limit amount: {amount!r}"
            )
        if amount <= 0 or amount > MAX_AMOUNT:
            raise BadTimeLimit(
                f"时限必须大于 0 且不超过 {MAX_AMOUNT}，实为 {_format_amount(amount)}",
                en=f"a time limit must be > 0 and ≤ {MAX_AMOUNT}, got {_format_amount(amount)}",
                details={"amount": str(amount)},
            )

    @classmethod
    def parse(cls, text: str) -> TimeLimit:
        """Read "4工作时", "2 工作日", "0.5工作日", "15分钟", "４工作时", "24小时", "2个工作日"."""
        raw = text if isinstance(text, str) else ""
        match = _LIMIT_RE.match(_normalise(raw))
        if match is None:
            raise BadTimeLimit(
                f"无法识别的时限“{raw}”：应为 数值+单位，如 4工作时、2工作日、15分钟",
                en=f"cannot read time limit '{raw}': expected amount + unit, e.g. 4工作时, 2工作日",
                details={"text": raw},
            )
        try:
            amount = Decimal(match.group(1))
        except InvalidOperation as exc:  # pragma: no cover - the regex admits only numbers
            raise BadTimeLimit(f"无法识别的时限“{raw}”", en=f"bad time limit '{raw}'") from exc
        return cls(amount, TimeUnit.parse(match.group(2)))

    def __str__(self) -> str:
        return f"{_format_amount(self.amount)}{self.unit.value}"

    @property
    def en(self) -> str:
        return f"{_format_amount(self.amount)} {self.unit.label_en}"


# --------------------------------------------------------------------------------------------
# Calendar configuration

_WEEKDAY_NAMES: dict[str, int] = {}
for _i, _names in enumerate(
    (
        ("mon", "monday", "周一", "星期一"),
        ("tue", "tuesday", "周二", "星期二"),
        ("wed", "wednesday", "周三", "星期三"),
        ("thu", "thursday", "周四", "星期四"),
        ("fri", "friday", "周五", "星期五"),
        ("sat", "saturday", "周六", "星期六"),
        ("sun", "sunday", "周日", "星期日", "星期天", "周天"),
    )
):
    _WEEKDAY_NAMES |= dict.fromkeys(_names, _i)
    _WEEKDAY_NAMES[str(_i + 1)] = _i  # ISO numbering: 1 = Monday


@dataclass(frozen=True, order=True)
class Period:
    """One working period of a day, local wall-clock time, start < end, within one day."""

    start: time
    end: time

    def __post_init__(self) -> None:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise BadCalendar("工作时段不能带时区", en="working periods are local times")
        if not self.start < self.end:
            raise BadCalendar(
                f"工作时段的开始必须早于结束：{self}",
                en=f"a working period must start before it ends: {self}",
            )

    @classmethod
    def parse(cls, text: str) -> Period:
        """Read "08:30-12:00" (also "8:30–12:00", "08:30~12:00", "08:30至12:00")."""
        parts = re.split(r"[-–—~至到]", _normalise(text))
        try:
            if len(parts) != 2:
                raise ValueError(text)
            start, end = (time.fromisoformat(_pad_time(p)) for p in parts)
        except ValueError as exc:
            raise BadCalendar(
                f"无法识别的工作时段“{text}”，应为 08:30-12:00",
                en=f"cannot read working period '{text}'; expected e.g. 08:30-12:00",
            ) from exc
        return cls(start, end)

    def __str__(self) -> str:
        return f"{self.start.isoformat('minutes')}-{self.end.isoformat('minutes')}"


def _pad_time(text: str) -> str:
    return f"0{text}" if re.match(r"^\d:", text) else text


Periods = tuple[Period, ...]
DEFAULT_PERIODS: Periods = (
    Period(time(8, 0), time(12, 0)),
    Period(time(14, 0), time(18, 0)),
)


def _check_periods(periods: Periods, where: str) -> None:
    """Non-empty, ordered, non-overlapping (touching is allowed)."""
    if not periods:
        raise BadCalendar(f"{where}：工作日至少要有一个工作时段", en=f"{where}: no working period")
    for before, after in pairwise(periods):
        if after.start < before.end:
            raise BadCalendar(
                f"{where}：工作时段必须按时间先后排列且不重叠：{before}、{after}",
                en=f"{where}: working periods must be in order and must not overlap: "
                f"{before}, {after}",
            )


def _check_weekday_periods(items: tuple[tuple[int, Periods], ...], where: str) -> None:
    seen: set[int] = set()
    for weekday, periods in items:
        if not 0 <= weekday <= 6 or weekday in seen:
            raise BadCalendar(
                f"{where}：星期应为 0（周一）至 6（周日）且不重复，实为 {weekday}",
                en=f"{where}: weekday must be 0 (Mon) … 6 (Sun), once each; got {weekday}",
            )
        seen.add(weekday)
        _check_periods(periods, f"{where}[{weekday}]")


MonthDay = tuple[int, int]


def _parse_month_day(text: object) -> MonthDay:
    match = re.match(r"^(\d{1,2})-(\d{1,2})$", _normalise(str(text)))
    if match:
        month, day = int(match.group(1)), int(match.group(2))
        if _valid_month_day((month, day)):
            return month, day
    raise BadCalendar(
        f"无法识别的月-日“{text}”，应为 05-01", en=f"cannot read month-day '{text}'; e.g. 05-01"
    )


def _valid_month_day(md: MonthDay) -> bool:
    try:
        date(2024, *md)  # a leap year, so 02-29 is accepted
    except (TypeError, ValueError):
        return False
    return True


@dataclass(frozen=True)
class SummerSchedule:
    """Seasonal working periods between two month-days, both inclusive (may wrap the year end)."""

    start: MonthDay
    end: MonthDay
    periods: Periods
    weekday_periods: tuple[tuple[int, Periods], ...] = ()

    def __post_init__(self) -> None:
        for md in (self.start, self.end):
            if not _valid_month_day(md):
                raise BadCalendar(f"夏令作息日期无效：{md}", en=f"invalid summer month-day {md}")
        _check_periods(self.periods, "summer.periods")
        _check_weekday_periods(self.weekday_periods, "summer.weekday_periods")

    def applies(self, day: date) -> bool:
        md = (day.month, day.day)
        if self.start <= self.end:
            return self.start <= md <= self.end
        return md >= self.start or md <= self.end


@dataclass(frozen=True)
class CalendarConfig:
    """A city's working calendar, validated on construction.

    ``periods`` is a normal working day; ``weekday_periods`` overrides it for given weekdays
    (0 = Monday, Python numbering), e.g. a short Friday. A working day is decided by the holiday
    data, not by the periods: a 调休 Saturday works with ``periods`` unless weekday 5 has its own.
    ``working_day_hours`` set (e.g. 8) makes 1工作日 = that many working hours; unset (default),
    工作日 counts whole working days of the calendar (see ``WorkingCalendar``).
    ``covered_years``: years the package does not cover whose holidays the admin has entered as
    ``extra_holidays``/``extra_working_days``; in them Monday–Friday work, except those additions.
    ``uncovered_years``: what any other year beyond the package gets: ``"statutory"`` (default)
    counts the law's holidays (core/holidays.py) and marks the year provisional until an admin
    enters the State Council's 调休 days; ``"refuse"`` makes every deadline in it an error.
    """

    periods: Periods = DEFAULT_PERIODS
    weekday_periods: tuple[tuple[int, Periods], ...] = ()
    summer: SummerSchedule | None = None
    working_day_hours: Decimal | None = None
    extra_holidays: frozenset[date] = frozenset()
    extra_working_days: frozenset[date] = frozenset()
    covered_years: frozenset[int] = frozenset()
    uncovered_years: str = "statutory"
    timezone: str = "Asia/Shanghai"

    def __post_init__(self) -> None:
        _check_periods(self.periods, "periods")
        _check_weekday_periods(self.weekday_periods, "weekday_periods")
        hours = self.working_day_hours
        if hours is not None and not (isinstance(hours, Decimal) and 0 < hours <= 24):
            raise BadCalendar(
                f"working_day_hours 应在 0 到 24 之间，实为 {hours}",
                en=f"working_day_hours must be in (0, 24], got {hours}",
            )
        if self.uncovered_years not in UNCOVERED_POLICIES:
            raise BadCalendar(
                f"uncovered_years 应为 {' 或 '.join(UNCOVERED_POLICIES)}，实为“{self.uncovered_years}”",
                en=f"uncovered_years must be one of {', '.join(UNCOVERED_POLICIES)}, "
                f"got '{self.uncovered_years}'",
            )
        both = self.extra_holidays & self.extra_working_days
        if both:
            days = ", ".join(sorted(d.isoformat() for d in both))
            raise BadCalendar(
                f"以下日期同时列为节假日和上班日：{days}",
                en=f"dates listed both as holidays and as working days: {days}",
            )
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise BadCalendar(
                f"未知时区“{self.timezone}”", en=f"unknown time zone '{self.timezone}'"
            ) from exc

    def periods_for(self, day: date) -> Periods:
        """The periods a working ``day`` would have (summer and weekday rules applied)."""
        base, overrides = self.periods, self.weekday_periods
        if self.summer is not None and self.summer.applies(day):
            base, overrides = self.summer.periods, self.summer.weekday_periods
        weekday = day.weekday()
        for wd, periods in overrides:
            if wd == weekday:
                return periods
        return base

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> CalendarConfig:
        """Build from the ``[calendar]`` table of a city's TOML (strings or TOML dates)."""
        known = {
            "periods",
            "weekday_periods",
            "summer",
            "working_day_hours",
            "extra_holidays",
            "extra_working_days",
            "covered_years",
            "uncovered_years",
            "timezone",
        }
        unknown = sorted(set(data) - known)
        if unknown:
            raise BadCalendar(
                f"日历配置中有无法识别的键：{', '.join(unknown)}",
                en=f"unknown calendar keys: {', '.join(unknown)}",
                details={"unknown": unknown, "accepted": sorted(known)},
            )
        kwargs: dict[str, object] = {}
        if "periods" in data:
            kwargs["periods"] = _periods_from(data["periods"], "periods")
        if "weekday_periods" in data:
            kwargs["weekday_periods"] = _weekday_periods_from(data["weekday_periods"])
        if data.get("summer") is not None:
            kwargs["summer"] = _summer_from(data["summer"])
        if data.get("working_day_hours") is not None:
            try:
                kwargs["working_day_hours"] = Decimal(str(data["working_day_hours"]))
            except InvalidOperation as exc:
                raise BadCalendar(
                    "working_day_hours 应为数值", en="working_day_hours must be a number"
                ) from exc
        for key in ("extra_holidays", "extra_working_days"):
            if key in data:
                kwargs[key] = frozenset(_date_from(v, key) for v in _list_from(data[key], key))
        if "covered_years" in data:
            kwargs["covered_years"] = frozenset(
                _year_from(v) for v in _list_from(data["covered_years"], "covered_years")
            )
        if "uncovered_years" in data:
            kwargs["uncovered_years"] = str(data["uncovered_years"])
        if "timezone" in data:
            kwargs["timezone"] = str(data["timezone"])
        return cls(**kwargs)  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, object]:
        """The ``from_dict`` form (strings), for display and export."""
        out: dict[str, object] = {
            "timezone": self.timezone,
            "periods": [str(p) for p in self.periods],
            "weekday_periods": {
                str(wd + 1): [str(p) for p in ps] for wd, ps in self.weekday_periods
            },
            "extra_holidays": sorted(d.isoformat() for d in self.extra_holidays),
            "extra_working_days": sorted(d.isoformat() for d in self.extra_working_days),
            "covered_years": sorted(self.covered_years),
            "uncovered_years": self.uncovered_years,
        }
        if self.working_day_hours is not None:
            out["working_day_hours"] = _format_amount(self.working_day_hours)
        if self.summer is not None:
            s = self.summer
            out["summer"] = {
                "start": f"{s.start[0]:02d}-{s.start[1]:02d}",
                "end": f"{s.end[0]:02d}-{s.end[1]:02d}",
                "periods": [str(p) for p in s.periods],
                "weekday_periods": {
                    str(wd + 1): [str(p) for p in ps] for wd, ps in s.weekday_periods
                },
            }
        return out


def _list_from(value: object, key: str) -> list[object]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise BadCalendar(f"{key} 应为列表", en=f"{key} must be a list")
    return list(value)


def _periods_from(value: object, key: str) -> Periods:
    return tuple(
        p if isinstance(p, Period) else Period.parse(str(p)) for p in _list_from(value, key)
    )


def _weekday_periods_from(value: object) -> tuple[tuple[int, Periods], ...]:
    if not isinstance(value, Mapping):
        raise BadCalendar("weekday_periods 应为表", en="weekday_periods must be a table")
    items: list[tuple[int, Periods]] = []
    for name, periods in value.items():
        weekday = _WEEKDAY_NAMES.get(_normalise(str(name)).lower())
        if weekday is None:
            raise BadCalendar(
                f"无法识别的星期“{name}”（mon…sun、周一…周日 或 1…7）",
                en=f"unknown weekday '{name}' (mon…sun or 1…7, 1 = Monday)",
            )
        items.append((weekday, _periods_from(periods, f"weekday_periods.{name}")))
    return tuple(sorted(items))


def _summer_from(value: object) -> SummerSchedule:
    if not isinstance(value, Mapping):
        raise BadCalendar("summer 应为表", en="summer must be a table")
    unknown = sorted(set(value) - {"start", "end", "periods", "weekday_periods"})
    if unknown or not {"start", "end", "periods"} <= set(value):
        raise BadCalendar(
            "summer 需要 start、end、periods（可选 weekday_periods）",
            en="summer needs start, end and periods (weekday_periods optional)",
            details={"unknown": unknown},
        )
    return SummerSchedule(
        start=_parse_month_day(value["start"]),
        end=_parse_month_day(value["end"]),
        periods=_periods_from(value["periods"], "summer.periods"),
        weekday_periods=_weekday_periods_from(value.get("weekday_periods", {})),
    )


def _date_from(value: object, key: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(_normalise(str(value)))
    except ValueError as exc:
        raise BadCalendar(
            f"{key} 中无法识别的日期“{value}”", en=f"{key}: cannot read date '{value}'"
        ) from exc


def _year_from(value: object) -> int:
    try:
        year = int(str(value))
    except ValueError:
        year = 0
    if not 1900 <= year <= 2200:
        raise BadCalendar(
            f"covered_years 中无效的年份“{value}”", en=f"covered_years: invalid year '{value}'"
        )
    return year


# --------------------------------------------------------------------------------------------
# Holiday data


@lru_cache(maxsize=1)
def package_years() -> tuple[int, int]:
    """First and last year ``chinesecalendar`` has holiday data for."""
    days = chinese_calendar.holidays
    return min(days).year, max(days).year


@lru_cache(maxsize=16_384)
def _package_workday(day: date) -> bool | None:
    """The package's verdict (holidays, 调休 make-up days), or None for a year it does not cover."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        return None


# --------------------------------------------------------------------------------------------
# The calendar

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)
_MAX_SCAN_DAYS = 200 * 366  # far beyond any real limit; stops a runaway loop
_NO_SPANS: tuple[int, ...] = ()

Pause = tuple[datetime, datetime | None]
Amount = int | Fraction  # microseconds, or working days (exact) for 工作日 by whole days


def _aware(value: datetime, what: str) -> None:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise NaiveDatetime(
            f"{what} 必须是带时区的时间：{value!r}",
            en=f"{what} must be a timezone-aware datetime: {value!r}",
        )


def _us(value: datetime) -> int:
    return (value - _EPOCH) // _ONE_US


class WorkingCalendar:
    """Deadlines and elapsed time under one city's calendar.

    Counting rules (docs/clock.md): a working unit counts time inside working periods of working
    days; a start outside working time starts counting at the next working period; the deadline
    is the *earliest* instant at which the counted time reaches the limit (11:00 + 1工作时 on
    08:00–12:00 is 12:00, not 14:00). 工作日 (by whole days): an instant has a position in its
    working day = share of that day's working time already past; N工作日 later is the same
    position on the N-th next working day, so 10:00 Monday + 2工作日 = 10:00 Wednesday, and a
    case received at 19:00 with 1工作日 is due at the end of the next working day. Natural and
    urgent units count the wall clock (a natural day is 24 hours). Paused intervals count nothing.
    """

    def __init__(self, config: CalendarConfig | None = None) -> None:
        self.config = config or CalendarConfig()
        self.tz = ZoneInfo(self.config.timezone)
        # date ordinal -> (flat [start, end, start, end, ...] in epoch µs, total working µs)
        self._days: dict[int, tuple[tuple[int, ...], int]] = {}

    # -- days ---------------------------------------------------------------------------------

    def is_working_day(self, day: date) -> bool:
        """Admin additions first, then the package; uncovered years need ``covered_years``."""
        cfg = self.config
        if day in cfg.extra_holidays:
            return False
        if day in cfg.extra_working_days:
            return True
        verdict = _package_workday(day)
        if verdict is not None:
            return verdict
        if day.year in cfg.covered_years:
            return day.weekday() < 5
        if cfg.uncovered_years == "statutory":
            try:
                return day.weekday() < 5 and day not in statutory_holidays(day.year)
            except ValueError:
                pass  # a year the law's rules do not describe
        raise CalendarNotCovered(day.year)

    def is_provisional(self, day: date) -> bool:
        """True when ``day``'s year counts the law's holidays only (no 调休 entered yet)."""
        cfg = self.config
        return (
            cfg.uncovered_years == "statutory"
            and FIRST_YEAR <= day.year <= LAST_YEAR
            and day.year not in cfg.covered_years
            and _package_workday(day) is None
        )

    def periods_on(self, day: date) -> Periods:
        """Working periods of ``day``; empty on a day off."""
        return self.config.periods_for(day) if self.is_working_day(day) else ()

    def _day(self, ordinal: int) -> tuple[tuple[int, ...], int]:
        cached = self._days.get(ordinal)
        if cached is None:
            day = date.fromordinal(ordinal)
            spans: list[int] = []
            for p in self.periods_on(day):
                spans.append(_us(datetime.combine(day, p.start, self.tz)))
                spans.append(_us(datetime.combine(day, p.end, self.tz)))
            total = sum(spans[i + 1] - spans[i] for i in range(0, len(spans), 2))
            cached = (tuple(spans) or _NO_SPANS, total)
            self._days[ordinal] = cached
        return cached

    def _ordinal(self, us: int) -> int:
        return (_EPOCH + us * _ONE_US).astimezone(self.tz).toordinal()

    def _instant(self, us: int) -> datetime:
        return (_EPOCH + us * _ONE_US).astimezone(self.tz)

    # -- working microseconds -------------------------------------------------------------------

    def _work_between(self, a: int, b: int) -> int:
        """Working µs in [a, b)."""
        if b <= a:
            return 0
        total = 0
        last = self._ordinal(b)
        for o in range(self._ordinal(a), last + 1):
            spans, day_total = self._day(o)
            if not spans:
                continue
            if a <= spans[0] and spans[-1] <= b:
                total += day_total
                continue
            for i in range(0, len(spans), 2):
                lo = spans[i] if spans[i] > a else a
                hi = spans[i + 1] if spans[i + 1] < b else b
                if hi > lo:
                    total += hi - lo
        return total

    def _advance_work(self, a: int, amount: int) -> int:
        """Earliest instant t with ``amount`` (> 0) working µs in [a, t)."""
        start = o = self._ordinal(a)
        remaining = amount
        while o - start < _MAX_SCAN_DAYS:
            spans, day_total = self._day(o)
            if spans:
                if a <= spans[0] and remaining > day_total:
                    remaining -= day_total  # the whole day is used: skip it
                else:
                    for i in range(0, len(spans), 2):
                        end = spans[i + 1]
                        if end <= a:
                            continue
                        lo = spans[i] if spans[i] > a else a
                        if remaining <= end - lo:
                            return lo + remaining
                        remaining -= end - lo
            o += 1
        raise _runaway()

    # -- working days (whole-day positions) ---------------------------------------------------

    def _days_between(self, a: int, b: int) -> Fraction:
        """Working days in [a, b): each day contributes the share of its working time inside."""
        if b <= a:
            return Fraction(0)
        total = Fraction(0)
        for o in range(self._ordinal(a), self._ordinal(b) + 1):
            spans, day_total = self._day(o)
            if not spans:
                continue
            if a <= spans[0] and spans[-1] <= b:
                total += 1
                continue
            inside = 0
            for i in range(0, len(spans), 2):
                lo = spans[i] if spans[i] > a else a
                hi = spans[i + 1] if spans[i + 1] < b else b
                if hi > lo:
                    inside += hi - lo
            total += Fraction(inside, day_total)
        return total

    def _advance_days(self, a: int, amount: Fraction) -> int:
        """Earliest instant t with ``amount`` (> 0) working days in [a, t).

        The rest of the first day counts as its share; then whole working days are skipped with
        integer steps and the last, partial day is mapped back through its periods.
        """
        o = start = self._ordinal(a)
        spans, day_total = self._day(o)
        remaining = amount
        if spans:
            done = 0  # working µs of this day before a
            if a > spans[0]:
                for i in range(0, len(spans), 2):
                    lo, hi = spans[i], min(spans[i + 1], a)
                    if hi > lo:
                        done += hi - lo
            if done < day_total:
                left = Fraction(day_total - done, day_total)
                if remaining <= left:
                    return _at_offset(spans, done + round(remaining * day_total))
                remaining -= left
        whole = math.ceil(remaining) - 1  # days used up entirely before the last one
        last = remaining - whole  # share of the last day, in (0, 1]
        while o - start < _MAX_SCAN_DAYS:
            o += 1
            spans, day_total = self._day(o)
            if spans:
                if not whole:
                    return _at_offset(spans, round(last * day_total))
                whole -= 1
        raise _runaway()

    # -- generic measure with pauses ------------------------------------------------------------

    def _measure(self, unit: TimeUnit, a: int, b: int) -> Amount:
        if unit is TimeUnit.working_day and self.config.working_day_hours is None:
            return self._days_between(a, b)
        if unit.is_working:
            return self._work_between(a, b)
        return max(0, b - a)

    def _advance(self, unit: TimeUnit, a: int, amount: Amount) -> int:
        if isinstance(amount, Fraction):
            return self._advance_days(a, amount)
        if unit.is_working:
            return self._advance_work(a, amount)
        return a + amount

    def _native(self, limit: TimeLimit) -> Amount:
        """The limit in the unit's internal measure: µs, or exact working days."""
        unit = limit.unit
        if unit is TimeUnit.working_day:
            hours = self.config.working_day_hours
            if hours is None:
                return _fraction(limit.amount)
            return round(limit.amount * hours * _US_PER_HOUR)
        return round(limit.amount * _US_PER_UNIT[unit])

    def _unit_size(self, unit: TimeUnit) -> Decimal:
        """µs per unit (1 for whole-day working days, measured in days already)."""
        if unit is TimeUnit.working_day:
            hours = self.config.working_day_hours
            return Decimal(1) if hours is None else hours * _US_PER_HOUR
        return Decimal(_US_PER_UNIT[unit])

    def _pauses(self, pauses: Sequence[Pause], after: int) -> list[tuple[int, int | None]]:
        """Sorted, merged pauses clipped to start at ``after``; None = still open."""
        items: list[tuple[int, int | None]] = []
        for begin, end in pauses:
            _aware(begin, "pause start")
            b0 = _us(begin)
            if end is None:
                b1: int | None = None
            else:
                _aware(end, "pause end")
                b1 = _us(end)
                if b1 < b0:
                    raise CityopsError(
                        f"挂账结束早于开始：{begin.isoformat()} – {end.isoformat()}",
                        en=f"pause ends before it starts: {begin.isoformat()} – {end.isoformat()}",
                        code="bad_pause",
                    )
                if b1 <= after or b1 == b0:
                    continue
            items.append((max(b0, after), b1))
        items.sort(key=lambda p: p[0])
        merged: list[tuple[int, int | None]] = []
        for b0, b1 in items:
            if merged:
                m0, m1 = merged[-1]
                if m1 is None:
                    break
                if b0 <= m1:
                    merged[-1] = (m0, None if b1 is None else max(m1, b1))
                    continue
            merged.append((b0, b1))
        return merged

    # -- public -----------------------------------------------------------------------------

    def add(self, start: datetime, limit: TimeLimit, pauses: Sequence[Pause] = ()) -> datetime:
        """The deadline: ``limit`` counted from ``start``, paused intervals not counting.

        Raises ``ClockPaused`` when an open pause (end None) begins before the deadline.
        """
        _aware(start, "start")
        a = _us(start)
        unit = limit.unit
        remaining = self._native(limit)
        for p0, p1 in self._pauses(pauses, a) if pauses else ():
            if p0 > a:
                candidate = self._advance(unit, a, remaining)
                if candidate <= p0:
                    return self._instant(candidate)
                remaining -= self._measure(unit, a, p0)
            if p1 is None:
                raise ClockPaused(
                    "案件处于挂账中，时限暂停计时，期限待恢复后确定",
                    en="the case is suspended: the clock is stopped and the deadline is not known",
                )
            a = max(a, p1)
        return self._instant(self._advance(unit, a, remaining))

    def elapsed(
        self, start: datetime, end: datetime, unit: TimeUnit, pauses: Sequence[Pause] = ()
    ) -> Decimal:
        """Time counted in ``unit`` from ``start`` to ``end`` (0 if end ≤ start), pauses excluded.

        An open pause (end None) runs until ``end``.
        """
        raw = self._elapsed_native(start, end, unit, pauses)
        if isinstance(raw, Fraction):
            return Decimal(raw.numerator) / Decimal(raw.denominator)
        return Decimal(raw) / self._unit_size(unit)

    def _elapsed_native(
        self, start: datetime, end: datetime, unit: TimeUnit, pauses: Sequence[Pause]
    ) -> Amount:
        _aware(start, "start")
        _aware(end, "end")
        a, b = _us(start), _us(end)
        if b <= a:
            return 0
        total: Amount = 0
        for p0, p1 in self._pauses(pauses, a) if pauses else ():
            if p0 >= b:
                break
            total += self._measure(unit, a, p0)
            a = b if p1 is None else min(max(a, p1), b)
        return total + self._measure(unit, a, b)

    def used_fraction(
        self, start: datetime, now: datetime, limit: TimeLimit, pauses: Sequence[Pause] = ()
    ) -> float:
        """Share of ``limit`` used by ``now`` (may exceed 1); drives the warning light."""
        used = self._elapsed_native(start, now, limit.unit, pauses)
        native = self._native(limit)
        if isinstance(used, int) and isinstance(native, int):
            return used / native
        return float(Fraction(used) / Fraction(native))

    def next_working_instant(self, at: datetime) -> datetime:
        """``at`` itself inside a working period, else the start of the next one."""
        _aware(at, "at")
        a = _us(at)
        o = start = self._ordinal(a)
        while o - start < _MAX_SCAN_DAYS:
            spans, _ = self._day(o)
            for i in range(0, len(spans), 2):
                if spans[i + 1] > a:
                    return self._instant(max(spans[i], a))
            o += 1
        raise _runaway()


@lru_cache(maxsize=1024)
def _fraction(amount: Decimal) -> Fraction:
    return Fraction(amount)


def _at_offset(spans: tuple[int, ...], offset: int) -> int:
    """Instant after ``offset`` (0 < offset ≤ day total) working µs of a day; earliest on ties."""
    for i in range(0, len(spans), 2):
        length = spans[i + 1] - spans[i]
        if offset <= length:
            return spans[i] + offset
        offset -= length
    return spans[-1]


def _runaway() -> CityopsError:
    return CityopsError(
        "在 200 年内找不到足够的工作时间：请检查工作日历配置",
        en="no working time found within 200 years: check the working calendar",
        code="calendar_exhausted",
    )


# --------------------------------------------------------------------------------------------
# Lights


class Light(StrEnum):
    """Deadline warning light of an open stage."""

    green = "green"
    yellow = "yellow"
    red = "red"

    @property
    def label_zh(self) -> str:
        return {"green": "绿灯", "yellow": "黄灯", "red": "红灯"}[self.value]


YELLOW_FROM = 0.8
RED_ABOVE = 1.0


def light(fraction: float) -> Light:
    """green < 80 %, yellow 80 %–100 % inclusive, red > 100 % of the limit used."""
    if fraction > RED_ABOVE:
        return Light.red
    if fraction >= YELLOW_FROM:
        return Light.yellow
    return Light.green


__all__ = [
    "DEFAULT_PERIODS",
    "BadCalendar",
    "BadTimeLimit",
    "CalendarConfig",
    "CalendarNotCovered",
    "ClockPaused",
    "Light",
    "NaiveDatetime",
    "Period",
    "SummerSchedule",
    "TimeLimit",
    "TimeUnit",
    "WorkingCalendar",
    "light",
    "package_years",
]
