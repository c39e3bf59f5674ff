"""Working days follow China's holiday arrangements, overrides win, and unknown years never crash."""

from __future__ import annotations

import logging
from datetime import date

from bot.conversation.when_words import closed_reason
from catalogue.workdays import (
    HolidayData,
    WorkingDayCalendar,
    holiday_advisories,
    holiday_name,
    holiday_note,
    maintained_years,
)


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


def test_2027_comes_from_the_maintained_table_where_the_package_stops():
    cal = WorkingDayCalendar()
    assert not cal.is_working_day(date(2027, 2, 8))  # 春节, a Monday
    assert not cal.is_working_day(date(2027, 6, 9))  # 端午节, a Wednesday
    assert not cal.is_working_day(date(2027, 10, 1))  # 国庆节, a Friday
    assert cal.is_working_day(date(2027, 2, 9))  # an ordinary Tuesday
    assert not cal.is_working_day(date(2027, 2, 13))  # an ordinary Saturday
    assert cal.holiday_data(2026) == HolidayData.official  # chinesecalendar's
    assert cal.holiday_data(2027) == HolidayData.provisional
    assert cal.holiday_data(2032) == HolidayData.missing
    # the operator's overrides for a year count as its arrangement
    assert WorkingDayCalendar({date(2032, 1, 1): False}).holiday_data(2032) == HolidayData.official


def test_a_provisional_year_holds_the_thirteen_statutory_days_and_nothing_else():
    # 《全国年节及纪念日放假办法》(2024): 元旦1 + 春节4 + 清明1 + 劳动节2 + 端午1 + 中秋1 + 国庆3
    for year, table in maintained_years().items():
        assert all(day.year == year for day in table.days), year
        if table.status == HolidayData.provisional:
            assert sorted(table.days.values()) == [False] * 13, year


def test_researchers_are_told_when_a_year_is_not_yet_published():
    cal = WorkingDayCalendar()
    assert holiday_note(cal, date(2026, 3, 2), date(2026, 3, 6)) is None
    assert (
        holiday_note(cal, date(2027, 3, 1), date(2027, 3, 5))
        == "2027年放假调休安排尚未公布，暂按法定节假日和周末计算"
    )
    assert holiday_note(cal, date(2032, 12, 30), date(2033, 1, 2)) == (
        "2032年节假日安排尚未公布，按周末休息计算；2033年节假日安排尚未公布，按周末休息计算"
    )


def test_the_operator_is_warned_ninety_days_before_a_year_without_the_arrangement():
    cal = WorkingDayCalendar()
    assert holiday_advisories(cal, date(2026, 10, 2)) == []  # 2027 is 91 days away
    [provisional] = holiday_advisories(cal, date(2026, 10, 3))
    assert provisional.startswith("holiday data for 2027 (starts in 90 days) is provisional")
    this_year, missing = holiday_advisories(cal, date(2027, 10, 3))
    assert this_year.startswith("holiday data for 2027 (has begun) is provisional")
    assert missing.startswith("no holiday data for 2028 (starts in 90 days)")
    assert "working-day overrides" in missing
    # the operator entered both years: nothing more to say
    entered = WorkingDayCalendar({date(2027, 10, 4): True, date(2028, 1, 1): False})
    assert holiday_advisories(entered, date(2027, 10, 3)) == []


def test_a_holiday_is_named_the_same_way_in_a_package_year_and_a_maintained_one():
    """The bot's 「…是春节假期」 comes from one place, for 2026 (chinesecalendar) and 2027 (the table)."""
    assert holiday_name(date(2026, 10, 1)) == "国庆节"
    assert holiday_name(date(2027, 2, 8)) == "春节"
    assert holiday_name(date(2027, 2, 9)) == "" and holiday_name(date(2031, 1, 1)) == ""
    assert closed_reason(date(2027, 2, 8)) == "2月8日是春节假期，多数仪器不开放。"
    assert closed_reason(date(2026, 10, 1)) == "10月1日是国庆节假期，多数仪器不开放。"
    assert closed_reason(date(2027, 3, 6)) == "3月6日是周末，多数仪器不开放。"
    assert closed_reason(date(2027, 3, 8)) == ""
