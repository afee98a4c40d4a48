"""China's statutory public holidays, computed for years ``chinesecalendar`` does not cover yet.

The law (《全国年节及纪念日放假办法》, revised 2024, in force from 2025) fixes 13 days: 元旦 1,
春节 4 (除夕 and 正月初一–初三), 清明 1, 劳动节 2, 端午 1, 中秋 1, 国庆 3, and says a holiday that
falls on a Saturday or Sunday is made up on a working day. The State Council's yearly notice
adds 调休 swaps (working weekends) that cannot be computed; until an admin enters them a year
counted this way is *provisional* (decision D17). Pure computation, no I/O.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

import chinese_calendar
from lunardate import LunarDate

FIRST_YEAR = 2025  # the revised law's first year; earlier years had other holidays
LAST_YEAR = 2099  # the lunar table's last year


def _lunar(year: int, month: int, day: int) -> date:
    solar: date = LunarDate(year, month, day).to_solar_date()
    return solar


def _qingming(year: int) -> date:
    terms = chinese_calendar.get_solar_terms(date(year, 4, 1), date(year, 4, 10))
    qingming: date = next(d for d, name in terms if name == "清明")
    return qingming


@lru_cache(maxsize=128)
def statutory_holidays(year: int) -> dict[date, str]:
    """Days off of ``year`` by the law alone (make-up days included), name by day, in order.

    Raises ValueError outside FIRST_YEAR..LAST_YEAR: those years follow other rules.
    """
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise ValueError(f"statutory holidays are computed for {FIRST_YEAR}–{LAST_YEAR}: {year}")
    spring = _lunar(year, 1, 1)
    blocks: list[tuple[str, list[date]]] = [
        ("元旦", [date(year, 1, 1)]),
        ("春节", [spring + timedelta(days=k) for k in range(-1, 3)]),
        ("清明节", [_qingming(year)]),
        ("劳动节", [date(year, 5, 1), date(year, 5, 2)]),
        ("端午节", [_lunar(year, 5, 5)]),
        ("中秋节", [_lunar(year, 8, 15)]),
        ("国庆节", [date(year, 10, d) for d in (1, 2, 3)]),
    ]
    days: dict[date, str] = {}
    for name, block in blocks:
        # A holiday on a weekend, or on a day another holiday already takes (中秋 in 国庆),
        # is made up on the first free working day after the block.
        owed = sum(1 for d in block if d.weekday() >= 5 or d in days)
        for d in block:
            days.setdefault(d, name)
        d = max(block)
        while owed:
            d += timedelta(days=1)
            if d.weekday() < 5 and d not in days:
                days[d] = f"{name}（补假）"
                owed -= 1
    return dict(sorted(days.items()))
