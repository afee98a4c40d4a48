"""Evaluation (综合评价): periods, subjects, indicator definitions, schemes and scores. No I/O.

The counting of the figures from the case log is ``services.evaluation``; this module says what
the figures are (``INDICATORS``), how the derived ones follow from the counted ones (sums and
rates), and how a scheme turns them into a score, a grade and a rank. The definitions in words,
with a worked example, are ``docs/evaluation.md``; keep both in step.

Every computation here is exact (``Fraction``); scores are rounded once, half up, to two decimals,
and grades and ranks are taken from the rounded score — the figure people see.
"""

from __future__ import annotations

import calendar
import hashlib
import itertools
import json
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from cityops.core.clock import BadTimeLimit, TimeLimit
from cityops.core.errors import ValidationFailed

# --- periods -----------------------------------------------------------------------------------------


class BadPeriod(ValidationFailed):
    code = "bad_period"


_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_QUARTER = re.compile(r"^(\d{4})-?[Qq]([1-4])$")
_YEAR = re.compile(r"^(\d{4})$")
_RANGE = re.compile(r"^(\d{4}-\d{2}-\d{2})\s*(?:\.\.|~|至|/)\s*(\d{4}-\d{2}-\d{2})$")


@dataclass(frozen=True)
class EvaluationPeriod:
    """A period of local dates ``[first, last]`` (both inclusive), e.g. a month.

    Its instants are ``[first 00:00, last + 1 day 00:00)`` in the city's time zone: an event at
    23:30 Beijing time on 31 October belongs to October, whatever the UTC date.
    """

    kind: str  # month | quarter | year | range
    first: date
    last: date

    @classmethod
    def parse(cls, text: str) -> EvaluationPeriod:
        raw = (text or "").strip()
        try:
            if m := _MONTH.match(raw):
                y, mo = int(m.group(1)), int(m.group(2))
                return cls("month", date(y, mo, 1), date(y, mo, calendar.monthrange(y, mo)[1]))
            if m := _QUARTER.match(raw):
                y, q = int(m.group(1)), int(m.group(2))
                end_month = q * 3
                return cls(
                    "quarter",
                    date(y, end_month - 2, 1),
                    date(y, end_month, calendar.monthrange(y, end_month)[1]),
                )
            if m := _YEAR.match(raw):
                y = int(m.group(1))
                return cls("year", date(y, 1, 1), date(y, 12, 31))
            if m := _RANGE.match(raw):
                first, last = date.fromisoformat(m.group(1)), date.fromisoformat(m.group(2))
                if last < first:
                    raise BadPeriod(
                        f"期间终止日 {last} 早于起始日 {first}",
                        en=f"period ends ({last}) before it starts ({first})",
                    )
                if (last - first).days > 366 * 3:
                    raise BadPeriod("期间不能超过三年", en="a period spans at most three years")
                return cls("range", first, last)
        except ValueError:
            pass
        raise BadPeriod(
            f"无法识别的考评期间“{raw}”：应为 2026-10（月）、2026-Q4（季度）、2026（年）"
            "或 2026-10-01..2026-10-15（日期区间，含两端）",
            en=f"cannot read period {raw!r}: use 2026-10 (month), 2026-Q4 (quarter), 2026 (year) "
            "or 2026-10-01..2026-10-15 (dates, both included)",
            details={"period": raw},
        )

    @property
    def key(self) -> str:
        """Canonical text: what snapshots store and links carry."""
        if self.kind == "month":
            return f"{self.first:%Y-%m}"
        if self.kind == "quarter":
            return f"{self.first.year}-Q{(self.first.month - 1) // 3 + 1}"
        if self.kind == "year":
            return f"{self.first.year}"
        return f"{self.first.isoformat()}..{self.last.isoformat()}"

    def __str__(self) -> str:
        return self.key

    @property
    def label_zh(self) -> str:
        if self.kind == "month":
            return f"{self.first.year}年{self.first.month}月"
        if self.kind == "quarter":
            return f"{self.first.year}年第{(self.first.month - 1) // 3 + 1}季度"
        if self.kind == "year":
            return f"{self.first.year}年"
        return f"{self.first.isoformat()}至{self.last.isoformat()}"

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def bounds(self, tz: ZoneInfo) -> tuple[datetime, datetime]:
        """``[start, end)`` as aware instants: local midnight of the first day and of the day
        after the last."""
        return (
            datetime.combine(self.first, time(0), tz),
            datetime.combine(self.last + timedelta(days=1), time(0), tz),
        )

    def previous(self) -> EvaluationPeriod:
        """The period before, for the change column: the month, quarter or year before; for a
        date range, the range of the same length ending the day before."""
        if self.kind == "month":
            return EvaluationPeriod.parse(f"{(self.first - timedelta(days=1)):%Y-%m}")
        if self.kind == "quarter":
            prev_last = self.first - timedelta(days=1)
            return EvaluationPeriod.parse(f"{prev_last.year}-Q{(prev_last.month - 1) // 3 + 1}")
        if self.kind == "year":
            return EvaluationPeriod.parse(str(self.first.year - 1))
        last = self.first - timedelta(days=1)
        return EvaluationPeriod("range", last - timedelta(days=self.days - 1), last)

    def trail(self, n: int) -> list[EvaluationPeriod]:
        """This period and the ``n - 1`` before it, oldest first (trend lines)."""
        out = [self]
        while len(out) < n:
            out.append(out[-1].previous())
        return out[::-1]


# --- subjects ----------------------------------------------------------------------------------------


class Family(StrEnum):
    department = "department"
    region = "region"
    supervisor = "supervisor"
    acceptor = "acceptor"
    dispatcher = "dispatcher"


class SubjectType(StrEnum):
    """Who is evaluated. The four region levels share the region family of indicators."""

    department = "department"
    district = "district"
    street = "street"
    community = "community"
    grid = "grid"
    supervisor = "supervisor"
    acceptor = "acceptor"
    dispatcher = "dispatcher"

    @property
    def family(self) -> Family:
        if self in REGION_LEVELS:
            return Family.region
        return Family(self.value)

    @property
    def label_zh(self) -> str:
        return _SUBJECT_LABELS[self][0]

    @property
    def label_en(self) -> str:
        return _SUBJECT_LABELS[self][1]


_SUBJECT_LABELS = {
    SubjectType.department: ("专业部门", "departments"),
    SubjectType.district: ("区（县）", "districts"),
    SubjectType.street: ("街道（乡镇）", "streets"),
    SubjectType.community: ("社区", "communities"),
    SubjectType.grid: ("单元网格", "unit grids"),
    SubjectType.supervisor: ("监督员", "supervisors"),
    SubjectType.acceptor: ("受理员", "acceptors"),
    SubjectType.dispatcher: ("派遣员", "dispatchers"),
}
REGION_LEVELS = (
    SubjectType.district,
    SubjectType.street,
    SubjectType.community,
    SubjectType.grid,
)


def parse_subjects(text: str) -> tuple[SubjectType, ...]:
    """``department``, ``region`` (all four levels), ``all``, or a comma list of them."""
    out: list[SubjectType] = []
    for part in (p.strip().lower() for p in (text or "").split(",")):
        if part == "all":
            out.extend(SubjectType)
        elif part == "region":
            out.extend(REGION_LEVELS)
        elif part in SubjectType.__members__:
            out.append(SubjectType(part))
        else:
            raise ValidationFailed(
                f"未知考评对象“{part}”：可选 {', '.join(SubjectType)}、region、all",
                en=f"unknown subject {part!r}: use {', '.join(SubjectType)}, region or all",
                code="bad_subject",
            )
    return tuple(dict.fromkeys(out))


# --- indicators --------------------------------------------------------------------------------------


class Kind(StrEnum):
    counted = "count"  # counted from the log: each one has its list of cases
    total = "total"  # the sum of counted figures (its cases: the union of theirs)
    rate = "rate"  # numerator / denominator (its cases: both lists)


@dataclass(frozen=True)
class Indicator:
    key: str
    family: Family
    kind: Kind
    name_zh: str
    name_en: str
    definition_zh: str
    definition_en: str
    parts: tuple[str, ...] = ()  # total: the counted figures added
    numerator: str = ""  # rate
    denominator: str = ""  # rate
    higher_is_better: bool = True

    @property
    def unit_zh(self) -> str:
        return "%" if self.kind is Kind.rate else "件"

    @property
    def unit_en(self) -> str:
        return "%" if self.kind is Kind.rate else "cases"


def _c(family: Family, key: str, zh: str, en: str, dzh: str, den: str, **kw: Any) -> Indicator:
    return Indicator(key, family, Kind.counted, zh, en, dzh, den, **kw)


def _t(
    family: Family, key: str, zh: str, en: str, parts: tuple[str, ...], dzh: str, den: str
) -> Indicator:
    return Indicator(key, family, Kind.total, zh, en, dzh, den, parts=parts)


def _r(
    family: Family, key: str, zh: str, en: str, num: str, denom: str, dzh: str, den: str, **kw: Any
) -> Indicator:
    return Indicator(
        key, family, Kind.rate, zh, en, dzh, den, numerator=num, denominator=denom, **kw
    )


F = Family
# The short definitions; docs/evaluation.md has the full rules (timestamps, boundaries, cases).
# "T" is the cut-off: the end of the period, or the time of computation for a running period.
# fmt: off
INDICATORS: tuple[Indicator, ...] = (
    # department (专业部门): counted in handling runs — one per dispatch and one per rework,
    # each with its own deadline, held by the department the dispatch named.
    _c(F.department, "received", "受派数", "dispatches received",
       "期间内派遣给本部门的次数（按派遣时间）", "dispatches to the department in the period"),
    _c(F.department, "handled", "处置数", "handled",
       "期间内本部门处置反馈的处置任务数（按处置反馈时间）",
       "handling runs the department reported done in the period"),
    _c(F.department, "handled_on_time", "按期处置数", "handled on time",
       "处置数中反馈时间不晚于处置时限（含批准的延期、扣除挂账）的", "handled no later than the deadline"),
    _c(F.department, "handled_late", "超期处置数", "handled late",
       "处置数中反馈时间晚于处置时限的", "handled after the deadline"),
    _c(F.department, "overdue_open", "超期未处置数", "overdue, not handled",
       "截止时刻 T 仍未处置反馈且处置时限已过的处置任务（挂账前已超期的计入，挂账中未超期的不计）",
       "runs still open at the cut-off T whose deadline has passed (not those suspended in time)"),
    _t(F.department, "should_handle", "应处置数", "due for handling", ("handled", "overdue_open"),
       "处置数 + 超期未处置数", "handled + overdue not handled"),
    _c(F.department, "reworks", "返工数", "reworks",
       "期间内对本部门案件的返工次数（按返工时间）", "reworks of the department's cases in the period"),
    _c(F.department, "extensions", "延期数", "extensions",
       "期间内批准本部门的延期次数（按批准时间）", "extensions granted to the department in the period"),
    _c(F.department, "returns", "回退数", "returns",
       "期间内本部门回退（不属本单位）的次数（按回退时间）",
       "cases the department sent back in the period"),
    _c(F.department, "urges", "催办数", "reminders",
       "期间内本部门处置中案件收到的催办次数", "reminders on cases while the department held them"),
    _c(F.department, "supervisions", "督办数", "directives",
       "期间内本部门处置中案件收到的督办次数", "directives on cases while the department held them"),
    _r(F.department, "handling_rate", "处置率", "handling rate", "handled", "should_handle",
       "处置数 ÷ 应处置数", "handled ÷ due for handling"),
    _r(F.department, "ontime_rate", "按期处置率", "on-time handling rate",
       "handled_on_time", "should_handle", "按期处置数 ÷ 应处置数",
       "handled on time ÷ due for handling"),
    _r(F.department, "rework_rate", "返工率", "rework rate", "reworks", "handled",
       "返工数 ÷ 处置数", "reworks ÷ handled", higher_is_better=False),
    _r(F.department, "extension_rate", "延期率", "extension rate", "extensions", "should_handle",
       "延期数 ÷ 应处置数", "extensions ÷ due for handling", higher_is_better=False),
    _r(F.department, "return_rate", "回退率", "return rate", "returns", "received",
       "回退数 ÷ 受派数", "returns ÷ dispatches received", higher_is_better=False),
    # region (区域): cases by their position (district, street, community, unit grid).
    _c(F.region, "reported", "上报数", "reports",
       "期间内上报的案件数（按上报时间，各来源）", "cases reported in the period, any source"),
    _c(F.region, "registered", "立案数", "registered",
       "期间内首次立案的案件数，加期间内自行处置结案的", "cases first registered in the period, "
       "plus self-handled cases closed in the period"),
    _c(F.region, "public_reports", "监督举报数", "public reports",
       "立案数中来源为公众举报（含热线）的", "registered cases reported by the public",
       higher_is_better=False),
    _c(F.region, "closed", "结案数", "closed",
       "期间内结案的案件数（按结案时间；不含作废、合并的重复件）",
       "cases closed in the period (not voided, not merged duplicates)"),
    _c(F.region, "closed_on_time", "按期结案数", "closed on time",
       "结案数中每一次处置都不晚于其处置时限的", "closed with every handling run within its deadline"),
    _c(F.region, "overdue_unclosed", "超期未结案数", "overdue, not closed",
       "截止时刻 T 有超期未处置的处置任务的案件", "cases with an overdue open handling run at T"),
    _t(F.region, "should_close", "应结案数", "due for closing", ("closed", "overdue_unclosed"),
       "结案数 + 超期未结案数", "closed + overdue not closed"),
    _r(F.region, "close_rate", "结案率", "closing rate", "closed", "should_close",
       "结案数 ÷ 应结案数", "closed ÷ due for closing"),
    _r(F.region, "ontime_close_rate", "按期结案率", "on-time closing rate",
       "closed_on_time", "should_close", "按期结案数 ÷ 应结案数", "closed on time ÷ due for closing"),
    _r(F.region, "public_report_rate", "监督举报率", "public report rate",
       "public_reports", "registered", "监督举报数 ÷ 立案数", "public reports ÷ registered",
       higher_is_better=False),
    # supervisor (监督员)
    _c(F.supervisor, "reports", "上报数", "reports",
       "期间内本人巡查上报的案件数（按上报时间）", "cases the supervisor reported on patrol in the period"),
    _c(F.supervisor, "valid_reports", "有效上报数", "valid reports",
       "上报数中已立案或自行处置、且未作废未被合并的", "reports registered or self-handled, "
       "not voided or merged"),
    _c(F.supervisor, "missed", "漏报数", "missed",
       "期间内首次立案、来源为公众举报、位于本人责任网格内的案件数",
       "public reports first registered in the period inside the supervisor's grids",
       higher_is_better=False),
    _c(F.supervisor, "checks", "核查数", "checks", "期间内完成的核查任务数（按完成时间）",
       "check tasks completed in the period"),
    _c(F.supervisor, "checks_on_time", "按时核查数", "checks on time",
       "核查数中在核查时限内完成的", "checks completed within the check limit"),
    _c(F.supervisor, "verifies", "核实数", "verifications",
       "期间内完成的核实任务数（按完成时间）", "verify tasks completed in the period"),
    _c(F.supervisor, "verifies_on_time", "按时核实数", "verifications on time",
       "核实数中不晚于核实环节时限的", "verifications within the verify stage's deadline"),
    _r(F.supervisor, "valid_report_rate", "有效上报率", "valid report rate",
       "valid_reports", "reports", "有效上报数 ÷ 上报数", "valid reports ÷ reports"),
    _r(F.supervisor, "check_ontime_rate", "按时核查率", "on-time check rate",
       "checks_on_time", "checks", "按时核查数 ÷ 核查数", "checks on time ÷ checks"),
    _r(F.supervisor, "verify_ontime_rate", "按时核实率", "on-time verify rate",
       "verifies_on_time", "verifies", "按时核实数 ÷ 核实数", "verifications on time ÷ verifications"),
    # acceptor (受理员)
    _c(F.acceptor, "accepted", "受理数", "decided",
       "期间内本人立案、作废或合并的上报数（按操作时间）",
       "reports the acceptor registered, voided or merged in the period"),
    _c(F.acceptor, "registered", "立案数", "registered",
       "期间内本人的立案操作数", "registrations by the acceptor in the period"),
    _c(F.acceptor, "registered_on_time", "按时立案数", "registered on time",
       "立案数中不晚于立案环节时限的", "registrations within the register stage's deadline"),
    _c(F.acceptor, "registered_accurate", "准确立案数", "registered accurately",
       "立案数中未被派遣员回退（非本中心）的", "registrations the dispatcher did not send back"),
    _r(F.acceptor, "register_ontime_rate", "按时立案率", "on-time registration rate",
       "registered_on_time", "registered", "按时立案数 ÷ 立案数", "on time ÷ registered"),
    _r(F.acceptor, "register_accuracy", "准确立案率", "registration accuracy",
       "registered_accurate", "registered", "准确立案数 ÷ 立案数", "accurate ÷ registered"),
    # dispatcher (派遣员)
    _c(F.dispatcher, "dispatched", "派遣数", "dispatched",
       "期间内本人的派遣操作数（不含自动派遣）", "dispatches by the dispatcher (not automatic ones)"),
    _c(F.dispatcher, "dispatched_on_time", "按时派遣数", "dispatched on time",
       "派遣数中不晚于派遣环节时限的", "dispatches within the dispatch stage's deadline"),
    _c(F.dispatcher, "dispatched_accurate", "准确派遣数", "dispatched accurately",
       "派遣数中未被处置部门回退的", "dispatches the department did not send back"),
    _r(F.dispatcher, "dispatch_ontime_rate", "按时派遣率", "on-time dispatch rate",
       "dispatched_on_time", "dispatched", "按时派遣数 ÷ 派遣数", "on time ÷ dispatched"),
    _r(F.dispatcher, "dispatch_accuracy", "准确派遣率", "dispatch accuracy",
       "dispatched_accurate", "dispatched", "准确派遣数 ÷ 派遣数", "accurate ÷ dispatched"),
)
# fmt: on
del F

BY_FAMILY: dict[Family, dict[str, Indicator]] = {f: {} for f in Family}
for _ind in INDICATORS:
    BY_FAMILY[_ind.family][_ind.key] = _ind


def indicators(subject: SubjectType | Family) -> dict[str, Indicator]:
    family = subject.family if isinstance(subject, SubjectType) else subject
    return BY_FAMILY[family]


def counted(subject: SubjectType | Family) -> tuple[str, ...]:
    return tuple(k for k, i in indicators(subject).items() if i.kind is Kind.counted)


def _check_table() -> None:
    """Totals and rates refer to figures of their own family (checked at import)."""
    for family, table in BY_FAMILY.items():
        for ind in table.values():
            refs = (*ind.parts, ind.numerator, ind.denominator)
            for ref in (r for r in refs if r):
                if ref not in table or table[ref].kind is Kind.rate:
                    raise ValueError(f"{family}.{ind.key} refers to {ref}")


_check_table()


# --- figures -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Figure:
    """One indicator's value for one subject: a count, or a rate with its two counts."""

    key: str
    count: int | None = None  # counts and totals
    numerator: int | None = None  # rates
    denominator: int | None = None

    @property
    def ratio(self) -> Fraction | None:
        if self.numerator is None or not self.denominator:
            return None
        return Fraction(self.numerator, self.denominator)

    @property
    def value(self) -> Fraction | None:
        """The count, or the rate as a fraction of 1; None for a rate over nothing."""
        if self.count is not None:
            return Fraction(self.count)
        return self.ratio

    def to_json(self) -> int | dict[str, Any] | None:
        if self.count is not None:
            return self.count
        n, d = self.numerator, self.denominator
        return {
            "value": float(_round_ratio(n, d, 4)) if n is not None and d else None,
            "num": n,
            "den": d,
        }

    def display(self) -> str:
        if self.count is not None:
            return str(self.count)
        r = self.ratio
        return "—" if r is None else f"{round_half_up(r * 100, 2)}%"


def figures(subject: SubjectType | Family, counts: Mapping[str, int]) -> dict[str, Figure]:
    """Every indicator of the family from the counted figures (missing counts are 0)."""
    table = indicators(subject)
    values: dict[str, int] = {}
    out: dict[str, Figure] = {}
    for key, ind in table.items():
        if ind.kind is Kind.counted:
            values[key] = int(counts.get(key, 0))
    for key, ind in table.items():
        if ind.kind is Kind.total:
            values[key] = sum(values[p] for p in ind.parts)
    for key, ind in table.items():
        if ind.kind is Kind.rate:
            out[key] = Figure(
                key, numerator=values[ind.numerator], denominator=values[ind.denominator]
            )
        else:
            out[key] = Figure(key, count=values[key])
    return out


def counted_parts(subject: SubjectType | Family, key: str) -> dict[str, tuple[str, ...]]:
    """The counted figures whose cases are behind ``key``: ``{"cases": …}`` for counts and totals,
    ``{"numerator": …, "denominator": …}`` for rates."""
    table = indicators(subject)
    ind = table.get(key)
    if ind is None:
        raise ValidationFailed(
            f"没有指标 {key}；可选：{', '.join(table)}",
            en=f"no indicator {key}; choose from {', '.join(table)}",
            code="unknown_indicator",
        )

    def flat(k: str) -> tuple[str, ...]:
        i = table[k]
        return i.parts if i.kind is Kind.total else (k,)

    if ind.kind is Kind.rate:
        return {"numerator": flat(ind.numerator), "denominator": flat(ind.denominator)}
    return {"cases": flat(key)}


def round_half_up(value: Fraction | Decimal | int, places: int) -> Decimal:
    """Exact rounding, half away from zero, to ``places`` decimals."""
    if isinstance(value, Decimal):
        return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return _round_ratio(value.numerator, value.denominator, places)


def _round_ratio(n: int, d: int, places: int) -> Decimal:
    """n / d (d > 0) rounded half up, in integers: exact and fast."""
    scale = 10**places
    q = (2 * abs(n) * scale + d) // (2 * d)
    return Decimal(-q if n < 0 else q).scaleb(-places)


# --- schemes -----------------------------------------------------------------------------------------


class BadScheme(ValidationFailed):
    code = "bad_scheme"


GRADE_NAMES = ("A", "B", "C", "D")  # and E below the last bound
DEFAULT_GRADES = (Fraction(90), Fraction(75), Fraction(60), Fraction(40))
MODES = ("value", "inverse", "band")


@dataclass(frozen=True)
class Band:
    """A step table: the score of the highest threshold not above the value.

    For rates the thresholds are percentages (95 = 95 %); for counts, counts. The first threshold
    is 0, so every value has a score."""

    steps: tuple[tuple[Fraction, Fraction], ...]

    def score(self, value: Fraction) -> Fraction:
        out = self.steps[0][1]
        for threshold, score in self.steps:
            if value >= threshold:
                out = score
        return out


@dataclass(frozen=True)
class Component:
    indicator: str
    weight: Fraction
    mode: str = "value"  # value: rate × 100; inverse: (1 − rate) × 100; band: the band's score
    band: Band | None = None


@dataclass(frozen=True)
class Grades:
    bounds: tuple[Fraction, ...] = DEFAULT_GRADES  # lower bounds of A, B, C, D

    def grade(self, score: Decimal | None) -> str | None:
        if score is None:
            return None
        value = Fraction(score)
        for name, bound in zip(GRADE_NAMES, self.bounds, strict=True):
            if value >= bound:
                return name
        return "E"

    def to_json(self) -> dict[str, float]:
        return {n: float(b) for n, b in zip(GRADE_NAMES, self.bounds, strict=True)}


@dataclass(frozen=True)
class SubjectScheme:
    components: tuple[Component, ...]
    volume: str  # the figure that says whether there is anything to rank
    min_volume: int = 1


@dataclass(frozen=True)
class RegionClass:
    """Regions of one class (e.g. old town vs new districts) with their own thresholds."""

    name: str
    title: str
    prefixes: tuple[str, ...]
    grades: Grades | None = None
    bands: Mapping[str, Band] = field(default_factory=dict)


@dataclass(frozen=True)
class Counting:
    """Counting rules that differ by city."""

    public_sources: tuple[str, ...] = ("public", "hotline")
    check_limit: str = "2工作时"


@dataclass(frozen=True)
class Scheme:
    name: str
    title: str
    label: str  # the author's version label, e.g. 2026.1
    description: str
    grades: Grades
    counting: Counting
    subjects: Mapping[str, SubjectScheme]  # family name or region level name
    region_classes: tuple[RegionClass, ...]
    text: str  # the TOML as loaded (stored with snapshots)
    version: str  # sha256 of the canonical content: equal schemes, equal versions

    def for_subject(self, subject: SubjectType) -> SubjectScheme:
        return self.subjects.get(subject.value) or self.subjects[subject.family.value]

    def region_class(self, code: str) -> RegionClass | None:
        """The class whose longest prefix matches the region or grid code."""
        best: tuple[int, RegionClass] | None = None
        for rc in self.region_classes:
            for p in rc.prefixes:
                if code.startswith(p) and (best is None or len(p) > best[0]):
                    best = (len(p), rc)
        return best[1] if best else None

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "label": self.label,
            "version": self.version,
        }

    @classmethod
    def loads(cls, text: str, *, name: str | None = None) -> Scheme:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise BadScheme(
                f"考评方案不是有效的 TOML：{exc}",
                en=f"the scheme is not valid TOML: {exc}",
                details=[{"path": "", "message": str(exc)}],
            ) from exc
        return _SchemeReader(data, text, name).read()


_TOP_KEYS = {"scheme", "grades", "counting", "region_classes", *Family, *REGION_LEVELS}
_COMPONENT_KEYS = {"indicator", "weight", "mode", "band"}
_SUBJECT_KEYS = {"score", "volume", "min_volume"}
_DEFAULT_VOLUME = {
    Family.department: "should_handle",
    Family.region: "registered",
    Family.supervisor: "reports",
    Family.acceptor: "accepted",
    Family.dispatcher: "dispatched",
}
_PREFIX_RE = re.compile(r"^\d{6}(\d{3}){0,2}$|^\d{15}$")


class _SchemeReader:
    """Reads a parsed TOML document into a Scheme, collecting every problem with its path."""

    def __init__(self, data: dict[str, Any], text: str, name: str | None) -> None:
        self.data = data
        self.text = text
        self.name = name
        self.problems: list[dict[str, str]] = []

    def bad(self, path: str, zh: str, en: str) -> None:
        self.problems.append({"path": path, "message": zh, "message_en": en})

    def number(self, value: object, path: str) -> Fraction | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.bad(path, f"应为数值，实为 {value!r}", f"expected a number, got {value!r}")
            return None
        return Fraction(str(value))

    def unknown(self, table: Mapping[str, Any], allowed: Iterable[str], path: str) -> None:
        for k in sorted(set(table) - set(allowed)):
            where = f"{path}.{k}" if path else k
            self.bad(where, "未知配置项", "unknown key")

    def read(self) -> Scheme:
        d = self.data
        self.unknown(d, _TOP_KEYS, "")
        head = d.get("scheme", {})
        if not isinstance(head, dict):
            head = {}
            self.bad("scheme", "应为表", "expected a table")
        self.unknown(head, {"name", "title", "version", "description"}, "scheme")
        name = str(head.get("name") or self.name or "")
        if not re.match(r"^[A-Za-z0-9_.-]{1,60}$", name):
            self.bad(
                "scheme.name", "方案名应为 1–60 个字母、数字或 _ . -", "name: 1–60 of A-Z 0-9 _ . -"
            )
        grades = self.grades(d.get("grades"), "grades") or Grades()
        counting = self.counting(d.get("counting", {}))
        subjects: dict[str, SubjectScheme] = {}
        for family in Family:
            section = d.get(family.value)
            if section is None:
                self.bad(family.value, "缺少该类考评对象的评分配置", "missing the section")
                continue
            s = self.subject(section, family, family.value)
            if s is not None:
                subjects[family.value] = s
        for level in REGION_LEVELS:
            if level.value in d:
                s = self.subject(d[level.value], Family.region, level.value)
                if s is not None:
                    subjects[level.value] = s
        classes = self.classes(d.get("region_classes", {}), subjects)
        if self.problems:
            lines = "；".join(
                f"{p['path'] or '(顶层)'}: {p['message']}" for p in self.problems[:10]
            )
            lines_en = "; ".join(
                f"{p['path'] or '(top)'}: {p['message_en']}" for p in self.problems[:10]
            )
            raise BadScheme(
                f"考评方案“{name}”有 {len(self.problems)} 处错误：{lines}",
                en=f"scheme {name!r} has {len(self.problems)} problem(s): {lines_en}",
                details=self.problems,
            )
        canonical = json.dumps(d, sort_keys=True, ensure_ascii=False, default=str)
        return Scheme(
            name=name,
            title=str(head.get("title", name)),
            label=str(head.get("version", "")),
            description=str(head.get("description", "")),
            grades=grades,
            counting=counting,
            subjects=subjects,
            region_classes=classes,
            text=self.text,
            version=hashlib.sha256(canonical.encode("utf-8")).hexdigest(),
        )

    def grades(self, value: object, path: str) -> Grades | None:
        if value is None:
            return None
        if not isinstance(value, dict):
            self.bad(path, "应为表，如 { A = 90, B = 75, C = 60, D = 40 }", "expected a table")
            return None
        self.unknown(value, GRADE_NAMES, path)
        bounds: list[Fraction] = []
        for g, default in zip(GRADE_NAMES, DEFAULT_GRADES, strict=True):
            b = self.number(value[g], f"{path}.{g}") if g in value else default
            if b is None:
                return None
            if not 0 < b <= 100:
                self.bad(f"{path}.{g}", "等级下限应在 (0, 100] 内", "bound must be in (0, 100]")
            bounds.append(b)
        if any(a <= b for a, b in itertools.pairwise(bounds)):
            self.bad(path, "等级下限应严格递减（A > B > C > D）", "bounds must fall: A > B > C > D")
        return Grades(tuple(bounds))

    def counting(self, value: object) -> Counting:
        if not isinstance(value, dict):
            self.bad("counting", "应为表", "expected a table")
            return Counting()
        self.unknown(value, {"public_sources", "check_limit"}, "counting")
        sources = value.get("public_sources", list(Counting.public_sources))
        if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
            self.bad("counting.public_sources", "应为来源名称列表", "expected a list of sources")
            sources = list(Counting.public_sources)
        known = {"patrol", "public", "hotline", "leader", "sensor", "inspection"}
        for s in sources:
            if s not in known:
                self.bad(
                    "counting.public_sources",
                    f"未知来源 {s}（可选：{', '.join(sorted(known))}）",
                    f"unknown source {s}",
                )
        limit = str(value.get("check_limit", Counting.check_limit))
        try:
            limit = str(TimeLimit.parse(limit))
        except BadTimeLimit as exc:
            self.bad("counting.check_limit", exc.message, exc.message_en or exc.message)
        return Counting(tuple(sources), limit)

    def band(self, value: object, ind: Indicator, path: str) -> Band | None:
        if not isinstance(value, list) or not value:
            self.bad(path, "应为 [[阈值, 得分], …] 列表", "expected [[threshold, score], …]")
            return None
        steps: list[tuple[Fraction, Fraction]] = []
        for i, step in enumerate(value):
            if not isinstance(step, list) or len(step) != 2:
                self.bad(f"{path}[{i}]", "每档应为 [阈值, 得分]", "each step is [threshold, score]")
                return None
            t = self.number(step[0], f"{path}[{i}][0]")
            s = self.number(step[1], f"{path}[{i}][1]")
            if t is None or s is None:
                return None
            if not 0 <= s <= 100:
                self.bad(f"{path}[{i}][1]", "得分应在 0–100 内", "score must be 0–100")
            if t < 0 or (ind.kind is Kind.rate and t > 100):
                self.bad(
                    f"{path}[{i}][0]",
                    "阈值应 ≥ 0（比率按百分数，≤ 100）",
                    "threshold must be ≥ 0 (rates in percent, ≤ 100)",
                )
            steps.append((t, s))
        if steps[0][0] != 0:
            self.bad(f"{path}[0][0]", "第一档阈值应为 0", "the first threshold must be 0")
        if any(a[0] >= b[0] for a, b in itertools.pairwise(steps)):
            self.bad(path, "阈值应严格递增", "thresholds must rise")
        if ind.kind is Kind.rate:  # percentages in the file, fractions of 1 inside
            steps = [(t / 100, s) for t, s in steps]
        return Band(tuple(steps))

    def subject(self, section: object, family: Family, path: str) -> SubjectScheme | None:
        if not isinstance(section, dict):
            self.bad(path, "应为表", "expected a table")
            return None
        self.unknown(section, _SUBJECT_KEYS, path)
        table = indicators(family)
        comps: list[Component] = []
        raw = section.get("score", [])
        if not isinstance(raw, list) or not raw:
            self.bad(
                f"{path}.score", "至少需要一个评分项 [[…score]]", "needs at least one [[score]]"
            )
            raw = []
        seen: set[str] = set()
        for i, item in enumerate(raw):
            where = f"{path}.score[{i}]"
            if not isinstance(item, dict):
                self.bad(where, "应为表", "expected a table")
                continue
            self.unknown(item, _COMPONENT_KEYS, where)
            key = str(item.get("indicator", ""))
            ind = table.get(key)
            if ind is None:
                self.bad(
                    f"{where}.indicator",
                    f"“{key}”不是{family.value}类指标（可选：{', '.join(table)}）",
                    f"{key!r} is not a {family.value} indicator (choose from {', '.join(table)})",
                )
                continue
            if key in seen:
                self.bad(f"{where}.indicator", f"指标 {key} 重复", f"indicator {key} repeated")
            seen.add(key)
            weight = self.number(item.get("weight"), f"{where}.weight")
            if weight is not None and weight <= 0:
                self.bad(f"{where}.weight", "权重应大于 0", "weight must be > 0")
            mode = str(item.get("mode", "band" if "band" in item else "value"))
            if mode not in MODES:
                self.bad(f"{where}.mode", f"评分方式应为 {'、'.join(MODES)}", f"mode: {MODES}")
                continue
            band = None
            if mode == "band":
                if "band" not in item:
                    self.bad(f"{where}.band", "band 方式需要分档表", "mode band needs a band table")
                    continue
                band = self.band(item["band"], ind, f"{where}.band")
            elif "band" in item:
                self.bad(
                    f"{where}.band", '只有 mode = "band" 使用分档表', "band only with mode band"
                )
            elif ind.kind is not Kind.rate:
                self.bad(
                    f"{where}.mode",
                    f'{key} 是件数，只能按分档表（mode = "band"）评分',
                    f'{key} is a count: score it with a band table (mode = "band")',
                )
            if weight is not None:
                comps.append(Component(key, weight, mode, band))
        total = sum((c.weight for c in comps), Fraction(0))
        if comps and total != 100 and len(comps) == len(raw):
            self.bad(
                f"{path}.score",
                f"权重合计应为 100，实为 {float(total):g}",
                f"weights must add up to 100, not {float(total):g}",
            )
        volume = str(section.get("volume", _DEFAULT_VOLUME[family]))
        if volume not in table or table[volume].kind is Kind.rate:
            self.bad(f"{path}.volume", f"“{volume}”不是件数指标", f"{volume!r} is not a count")
        mv = section.get("min_volume", 1)
        if isinstance(mv, bool) or not isinstance(mv, int) or mv < 1:
            self.bad(f"{path}.min_volume", "应为正整数", "expected a whole number ≥ 1")
            mv = 1
        return SubjectScheme(tuple(comps), volume, mv)

    def classes(
        self, value: object, subjects: Mapping[str, SubjectScheme]
    ) -> tuple[RegionClass, ...]:
        if not isinstance(value, dict):
            self.bad("region_classes", "应为表", "expected a table")
            return ()
        out: list[RegionClass] = []
        owner: dict[str, str] = {}
        band_keys = {
            c.indicator
            for k, s in subjects.items()
            if k == Family.region.value or k in {lv.value for lv in REGION_LEVELS}
            for c in s.components
            if c.mode == "band"
        }
        for name, item in value.items():
            path = f"region_classes.{name}"
            if not isinstance(item, dict):
                self.bad(path, "应为表", "expected a table")
                continue
            self.unknown(item, {"title", "regions", "grades", "bands"}, path)
            prefixes = item.get("regions", [])
            if not isinstance(prefixes, list) or not prefixes:
                self.bad(f"{path}.regions", "需要区域代码列表", "needs a list of region codes")
                prefixes = []
            for p in prefixes:
                if not isinstance(p, str) or not _PREFIX_RE.match(p):
                    self.bad(
                        f"{path}.regions",
                        f"区域代码 {p!r} 应为 6/9/12 位区划代码或 15 位网格代码",
                        f"region code {p!r} must have 6, 9, 12 or 15 digits",
                    )
                elif p in owner:
                    self.bad(
                        f"{path}.regions",
                        f"{p} 已属于类别 {owner[p]}",
                        f"{p} already belongs to class {owner[p]}",
                    )
                else:
                    owner[p] = name
            grades = self.grades(item.get("grades"), f"{path}.grades")
            bands: dict[str, Band] = {}
            raw_bands = item.get("bands", {})
            if not isinstance(raw_bands, dict):
                self.bad(f"{path}.bands", "应为表", "expected a table")
                raw_bands = {}
            for key, table in raw_bands.items():
                if key not in band_keys:
                    self.bad(
                        f"{path}.bands.{key}",
                        "区域评分中没有按分档表评分的该指标",
                        "no region score component with mode band for this indicator",
                    )
                    continue
                b = self.band(table, indicators(Family.region)[key], f"{path}.bands.{key}")
                if b is not None:
                    bands[key] = b
            out.append(
                RegionClass(
                    name,
                    str(item.get("title", name)),
                    tuple(p for p in prefixes if isinstance(p, str)),
                    grades,
                    bands,
                )
            )
        return tuple(out)


# --- scores, grades, ranks ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Part:
    """One component of a score as computed: the subscore on 0–100, or None when undefined."""

    indicator: str
    weight: Fraction
    mode: str
    subscore: Fraction | None


@dataclass(frozen=True, slots=True)
class Score:
    parts: tuple[Part, ...]
    score: Decimal | None  # rounded half up to 0.01
    grade: str | None
    ranked: bool  # False: too little volume, or no component defined


def score(
    subject: SubjectType,
    figs: Mapping[str, Figure],
    scheme: Scheme,
    region_class: RegionClass | None = None,
) -> Score:
    """Σ weight × subscore ÷ Σ weight over the components that are defined.

    A rate over an empty denominator is undefined; its component is left out and the others
    keep their relative weights. A subject whose volume figure is below ``min_volume`` is shown
    but neither scored nor ranked."""
    s = scheme.for_subject(subject)
    parts: list[Part] = []
    # Exact sums in integers (Fraction arithmetic is too slow for tens of thousands of grids).
    num, den, wsum_n, wsum_d = 0, 1, 0, 1
    for c in s.components:
        f = figs[c.indicator]
        if f.count is not None:
            vn, vd = f.count, 1
        elif f.denominator:
            vn, vd = f.numerator or 0, f.denominator
        else:
            parts.append(Part(c.indicator, c.weight, c.mode, None))
            continue
        if c.mode == "value":
            sn, sd = 100 * vn, vd
        elif c.mode == "inverse":
            sn, sd = 100 * (vd - vn), vd
        else:
            band = (region_class.bands.get(c.indicator) if region_class else None) or c.band
            assert band is not None
            b = band.score(Fraction(vn, vd))
            sn, sd = b.numerator, b.denominator
        sn = min(max(sn, 0), 100 * sd)  # a subscore lies in [0, 100]
        parts.append(Part(c.indicator, c.weight, c.mode, Fraction(sn, sd)))
        wn, wd = c.weight.numerator, c.weight.denominator
        num, den = num * wd * sd + wn * sn * den, den * wd * sd
        wsum_n, wsum_d = wsum_n * wd + wn * wsum_d, wsum_d * wd
    vol = figs[s.volume].count or 0
    if vol < s.min_volume or wsum_n == 0:
        return Score(tuple(parts), None, None, False)
    rounded = _round_ratio(num * wsum_d, den * wsum_n, 2)  # (num / den) / (wsum_n / wsum_d)
    grades = (region_class.grades if region_class else None) or scheme.grades
    return Score(tuple(parts), rounded, grades.grade(rounded), True)


def ranks(scores: Mapping[str, Decimal | None]) -> dict[str, int]:
    """Competition ranking (1, 2, 2, 4) by score, highest first; unscored subjects unranked."""
    ordered = sorted(((v, k) for k, v in scores.items() if v is not None), key=lambda x: -x[0])
    out: dict[str, int] = {}
    prev: Decimal | None = None
    rank = 0
    for i, (v, k) in enumerate(ordered, start=1):
        if v != prev:
            rank, prev = i, v
        out[k] = rank
    return out


def scheme_problems(text: str) -> list[dict[str, str]]:
    """Validation problems of a scheme text (empty when it loads)."""
    try:
        Scheme.loads(text, name="check")
    except BadScheme as exc:
        return list(exc.details) if isinstance(exc.details, list) else []
    return []


def describe(subject: SubjectType) -> list[dict[str, Any]]:
    """The indicator table of a subject type, for reports and the API."""
    return [
        {
            "key": i.key,
            "name": i.name_zh,
            "name_en": i.name_en,
            "unit": i.unit_zh,
            "kind": i.kind.value,
            "definition": i.definition_zh,
            "definition_en": i.definition_en,
            "higher_is_better": i.higher_is_better,
            "parts": list(i.parts),
            "numerator": i.numerator or None,
            "denominator": i.denominator or None,
        }
        for i in indicators(subject).values()
    ]


def sort_rows(keys: Sequence[str], rank_of: Mapping[str, int]) -> list[str]:
    """Ranked subjects by rank, then unranked ones, each by key."""
    big = len(keys) + 1
    return sorted(keys, key=lambda k: (rank_of.get(k, big), k))
