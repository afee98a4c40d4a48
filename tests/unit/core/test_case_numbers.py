"""Case numbers: district-date-sequence, readable, sortable, strict when parsed."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cityops.core.case_numbers import (
    CaseNumber,
    case_number_prefix,
    format_case_number,
    parse_case_number,
)
from cityops.core.errors import CityopsError

DAY = date(2026, 11, 25)


def test_the_documented_example() -> None:
    assert format_case_number("410204", DAY, 42) == "410204-20261125-0042"
    n = parse_case_number("410204-20261125-0042")
    assert n == CaseNumber("410204", DAY, 42)
    assert str(n) == "410204-20261125-0042"
    assert not n.is_city_level


def test_city_level_case_uses_the_city_code() -> None:
    n = parse_case_number(format_case_number("410200", DAY, 1))
    assert str(n) == "410200-20261125-0001" and n.is_city_level


def test_people_may_type_it_loosely() -> None:
    expected = CaseNumber("410204", DAY, 42)
    for text in (" 410204-20261125-0042 ", "410204－20261125－0042", "410204202611250042"):
        assert parse_case_number(text) == expected
    assert parse_case_number("410204-20261125-00042") == expected  # a width-5 city


def test_width_and_overflow() -> None:
    assert format_case_number("410204", DAY, 42, width=5) == "410204-20261125-00042"
    # A 10,000th case in one district-day still gets a number (never refused).
    assert format_case_number("410204", DAY, 10_000) == "410204-20261125-10000"
    assert parse_case_number("410204-20261125-10000").seq == 10_000


def test_prefix_for_the_sequence_query() -> None:
    prefix = case_number_prefix("410204", DAY)
    assert prefix == "410204-20261125-"
    assert format_case_number("410204", DAY, 7).startswith(prefix)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "410204-20261125",
        "410204-20261125-042",  # 3-digit sequence
        "410204-20261125-0000",  # sequence starts at 1
        "410204-20261325-0001",  # month 13
        "410204-20260229-0001",  # 2026 is not a leap year
        "010204-20261125-0001",  # no GB/T 2260 code starts with 0
        "4102O4-20261125-0001",  # letter O
        "410204_20261125_0001",
        "41020420261125-0001x",
    ],
)
def test_bad_numbers_are_refused_with_a_clear_error(text: str) -> None:
    with pytest.raises(CityopsError) as exc:
        parse_case_number(text)
    assert exc.value.code == "bad_case_number"
    assert "410204-20261125-0042" in exc.value.message  # shows the expected format
    assert exc.value.message_en is not None


@pytest.mark.parametrize(
    ("district", "seq", "width"),
    [("4102", 1, 4), ("410204001", 1, 4), ("410204", 0, 4), ("410204", 1, 3), ("410204", 1, 7)],
)
def test_bad_parts_are_refused_when_formatting(district: str, seq: int, width: int) -> None:
    with pytest.raises(CityopsError) as exc:
        format_case_number(district, DAY, seq, width=width)
    assert exc.value.code == "bad_case_number"


_district = st.from_regex(r"\A[1-9]\d{5}\Z", fullmatch=True)
_day = st.dates(date(2000, 1, 1), date(2099, 12, 31))
_seq = st.integers(1, 9999)


@given(_district, _day, _seq)
def test_round_trip(district: str, day: date, seq: int) -> None:
    assert parse_case_number(format_case_number(district, day, seq)) == CaseNumber(
        district, day, seq
    )


@given(_district, _day, _seq, _day, _seq)
def test_string_order_is_chronological_within_a_district(
    district: str, d1: date, s1: int, d2: date, s2: int
) -> None:
    a, b = format_case_number(district, d1, s1), format_case_number(district, d2, s2)
    assert (a < b) == ((d1, s1) < (d2, s2))
    assert (parse_case_number(a) < parse_case_number(b)) == ((d1, s1) < (d2, s2))
