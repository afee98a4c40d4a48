"""The platform says when a year's deadlines count the law's holidays only (decision D17)."""

from __future__ import annotations

import logging
from datetime import date

import pytest

from cityops.core.clock import CalendarConfig
from cityops.services import cityconfig
from cityops.services.calendar import provisional_years, warn_if_provisional


def test_years_beyond_the_package_are_announced(caplog: pytest.LogCaptureFixture) -> None:
    cityconfig.configure(None)
    assert provisional_years(date(2026, 11, 25)) == [2027]  # chinesecalendar 1.11.0 ends 2026
    assert provisional_years(date(2025, 3, 1)) == []
    with caplog.at_level(logging.WARNING, logger="cityops.calendar"):
        warn_if_provisional(date(2026, 11, 25))
    assert "2027" in caplog.text and "covered_years" in caplog.text


def test_entered_years_are_not_provisional() -> None:
    calendar = CalendarConfig(covered_years=frozenset({2027}))
    cityconfig.configure(cityconfig.CityConfig(calendar=calendar))
    try:
        assert provisional_years(date(2026, 11, 25)) == []
    finally:
        cityconfig.configure(None)
