"""Case numbers (案件编号) people can read out on the phone: ``410204-20261125-0042``.

Format: ``{region}-{date}-{seq}``

- region: the 6-digit GB/T 2260 code of the case's district, or the city code (ending in ``00``)
  for a case with no district (a hotline case without position, a city-wide matter);
- date: the day the case was created, ``YYYYMMDD``, in the city's local time zone (so numbers roll
  over at local midnight, not UTC);
- seq: 1, 2, 3 … per region per day, allocated by the storage layer, zero-padded to ``width``
  digits (4 by default).

Within one region, string order is chronological (date, then sequence) as long as the sequence
fits the width; a region that exceeds 9,999 cases in a day still gets numbers (the sequence is
written with more digits, never refused), and a city that expects that should configure width 5.
``CaseNumber`` orders by (region, date, seq) regardless of width.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from cityops.core.errors import ValidationFailed

DEFAULT_WIDTH = 4
# Hyphen, or the full-width and dash characters Chinese input methods produce instead.
_SEP = "[-－—–]"
_NUMBER_RE = re.compile(rf"^(\d{{6}}){_SEP}?(\d{{8}}){_SEP}?(\d{{4,6}})$")
_REGION_RE = re.compile(r"^[1-9]\d{5}$")


@dataclass(frozen=True, order=True)
class CaseNumber:
    """A parsed case number; orders by (region, date, sequence)."""

    region_code: str
    local_date: date
    seq: int

    @property
    def is_city_level(self) -> bool:
        """A city code (``410200``) rather than a district (``410204``)."""
        return self.region_code.endswith("00")

    def format(self, width: int = DEFAULT_WIDTH) -> str:
        return format_case_number(self.region_code, self.local_date, self.seq, width=width)

    def __str__(self) -> str:
        return self.format()


def _bad(text: str, zh: str, en: str) -> ValidationFailed:
    return ValidationFailed(
        f"案件编号“{text}”无效：{zh}（格式：区县代码-日期-序号，如 410204-20261125-0042）",
        en=f"invalid case number '{text}': {en} (format: district-date-sequence, "
        "e.g. 410204-20261125-0042)",
        code="bad_case_number",
        details={"value": text},
    )


def format_case_number(
    district_code: str, local_date: date, seq: int, *, width: int = DEFAULT_WIDTH
) -> str:
    """``410204-20261125-0042``. ``district_code`` is the district (or, without one, the city)
    code — for a grid code pass its first 6 digits."""
    shown = f"{district_code}/{local_date}/{seq}"
    if not _REGION_RE.match(district_code):
        raise _bad(shown, "区县代码应为 6 位数字", "the district code must be 6 digits")
    if not 1000 <= local_date.year <= 9999:
        raise _bad(shown, "年份超出范围", "year out of range")
    if seq < 1:
        raise _bad(shown, "序号从 1 开始", "the sequence starts at 1")
    if not 4 <= width <= 6:
        raise _bad(shown, "序号位数应为 4 到 6", "the sequence width must be 4 to 6")
    return f"{district_code}-{local_date:%Y%m%d}-{seq:0{width}d}"


def case_number_prefix(district_code: str, local_date: date) -> str:
    """``410204-20261125-``: what every number of that district and day starts with (for the
    storage layer's "highest sequence so far" query)."""
    return format_case_number(district_code, local_date, 1)[:-DEFAULT_WIDTH]


def parse_case_number(text: str) -> CaseNumber:
    """Read a number as people type it: surrounding blanks, full-width hyphens or no separators
    are accepted; anything else is a ``bad_case_number`` error saying what is wrong."""
    t = text.strip()
    m = _NUMBER_RE.match(t)
    if m is None:
        raise _bad(
            text,
            "应为 6 位区县代码、8 位日期和 4–6 位序号",
            "expected a 6-digit district code, an 8-digit date and a 4–6 digit sequence",
        )
    region, day, seq = m.groups()
    if not _REGION_RE.match(region):
        raise _bad(text, "区县代码不能以 0 开头", "the district code cannot start with 0")
    try:
        local_date = date(int(day[:4]), int(day[4:6]), int(day[6:]))
    except ValueError:
        raise _bad(text, f"日期 {day} 不存在", f"no such date {day}") from None
    n = int(seq)
    if n < 1:
        raise _bad(text, "序号从 1 开始", "the sequence starts at 1")
    return CaseNumber(region, local_date, n)
