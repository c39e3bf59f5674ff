"""The listing deadline (入网时限): an instrument bought with public money at or above the value
threshold must be listed on the platform within 30 working days of its acceptance.

Working days follow the State Council's holiday arrangements (``catalogue.workdays``: chinesecalendar
plus the admin-editable override table; unknown years fall back to weekends with a warning).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from catalogue.workdays import WorkingDayCalendar
from yixiang.clock import shanghai_today

LISTING_WORKING_DAYS = 30


@dataclass(frozen=True)
class ListingDeadline:
    required: bool  # the value is at or above the threshold and the acceptance date is known
    deadline: date | None
    listed_on: date | None  # first publication, in Asia/Shanghai
    met: bool | None  # None while not yet listed and the deadline has not passed
    overdue: bool  # not listed and the deadline has passed


def listing_deadline(
    *,
    original_value_fen: int,
    acceptance_date: date | None,
    published_at: datetime | None,
    threshold_fen: int,
    calendar: WorkingDayCalendar,
    today: date | None = None,
) -> ListingDeadline:
    listed_on = shanghai_today(published_at) if published_at else None
    if acceptance_date is None or original_value_fen < threshold_fen:
        return ListingDeadline(False, None, listed_on, None, False)
    deadline = calendar.add_working_days(acceptance_date, LISTING_WORKING_DAYS)
    if listed_on is not None:
        return ListingDeadline(True, deadline, listed_on, listed_on <= deadline, False)
    overdue = (today or shanghai_today()) > deadline
    return ListingDeadline(True, deadline, None, False if overdue else None, overdue)
