"""Working days follow China's holiday arrangements, overrides win, and unknown years never crash."""

from __future__ import annotations

import logging
from datetime import date

from catalogue.workdays import WorkingDayCalendar


def test_national_day_week_is_not_working_and_make_up_saturday_is():
    cal = WorkingDayCalendar()
    assert not cal.is_working_day(date(2025, 10, 1))  # 国庆节
    assert not cal.is_working_day(date(2025, 10, 8))
    assert cal.is_working_day(date(2025, 9, 28))  # a Sunday worked in lieu (调休)
    assert cal.is_working_day(date(2025, 10, 11))  # a Saturday worked in lieu


def test_thirty_working_days_skip_the_spring_festival():
    cal = WorkingDayCalendar()
    # 2026-02-02 (Mon) + 30 working days, across 春节 2026 (Feb 15–23 off, Feb 14 and 28 worked)
    deadline = cal.add_working_days(date(2026, 2, 2), 30)
    naive = WorkingDayCalendar({}).add_working_days  # same calendar: sanity that weekends alone differ
    assert deadline > date(2026, 3, 13)  # 30 weekdays would end on 2026-03-13
    assert cal.working_days_between(date(2026, 2, 2), deadline) == 30
    assert naive(date(2026, 2, 2), 0) == date(2026, 2, 2)


def test_unknown_year_falls_back_to_weekends_with_a_warning(caplog):
    cal = WorkingDayCalendar()
    with caplog.at_level(logging.WARNING, logger="catalogue.workdays"):
        assert cal.is_working_day(date(2031, 3, 3))  # a Monday
        assert not cal.is_working_day(date(2031, 3, 1))  # a Saturday
    assert cal.add_working_days(date(2031, 3, 3), 5) == date(2031, 3, 10)


def test_admin_overrides_win_over_the_package():
    cal = WorkingDayCalendar({date(2031, 10, 1): False, date(2031, 10, 11): True})
    assert not cal.is_working_day(date(2031, 10, 1))  # a Wednesday declared a holiday
    assert cal.is_working_day(date(2031, 10, 11))  # a Saturday declared a working day
