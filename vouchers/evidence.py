"""When a booking's evidence chain is complete enough to settle its voucher share.

Seed 004 §(十一): a flow completed on the platform — booking, use, payment (voucher deduction) and
rating (评价) — is what lets the bureau settle without paperwork. The rating is the firm's to give,
so its silence must not withhold the provider's payment for ever: the rating link counts once the
firm rated, or once the rating window (``YIXIANG_RATING_WINDOW_DAYS`` after delivery, ratings'
setting) has passed without a rating. Until then the booking waits.

Vouchers does not import ratings: booking reports a rating as the ``rating`` evidence kind when it
is stored, and the ratings domain hands the window's length to the app
(``app.state.rating_window_days``, see :func:`rating_window`). Without the ratings domain nobody
can rate, and the rating link is not asked for.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

# What ratings puts on app.state (ratings/plugin.py): the window's length in days.
RATING_WINDOW_STATE = "rating_window_days"

# Every link a settled booking has; "rating" is satisfied by a rating or by the window passing.
REQUIRED_EVIDENCE = ("booking", "usage", "payment", "delivery", "rating")


class RatingStatus(enum.StrEnum):
    rated = "rated"  # the firm rated the service
    window_passed = "window_passed"  # the rating window closed without a rating
    waiting = "waiting"  # not rated yet, and the window is open (or delivery is still to come)


RATING_LABELS: dict[RatingStatus, str] = {
    RatingStatus.rated: "已评价",
    RatingStatus.window_passed: "评价期已过（未评价）",
    RatingStatus.waiting: "待评价",
}


def rating_window(state: Any) -> timedelta | None:
    """The rating window as the app knows it (``None``: no ratings domain, no rating asked for)."""
    days = getattr(state, RATING_WINDOW_STATE, None) if state is not None else None
    return timedelta(days=int(days)) if days else None


@dataclass(frozen=True)
class Completeness:
    missing: list[str]  # links still missing, in REQUIRED_EVIDENCE order
    rating: RatingStatus
    # When an unrated delivered booking's window closes (also set once it has closed).
    rating_window_closes_at: datetime | None

    @property
    def complete(self) -> bool:
        return not self.missing


def completeness(found: Mapping[str, datetime], window: timedelta | None, now: datetime) -> Completeness:
    """Which links of the chain are missing, given each recorded kind's moment (``found``)."""
    delivered = found.get("delivery")
    closes = delivered + window if delivered is not None and window is not None else None
    if "rating" in found:
        rating = RatingStatus.rated
    elif closes is not None and now >= closes:
        rating = RatingStatus.window_passed
    else:
        rating = RatingStatus.waiting
    required = REQUIRED_EVIDENCE if window is not None else REQUIRED_EVIDENCE[:-1]
    missing = [
        kind
        for kind in required
        if kind not in found and not (kind == "rating" and rating == RatingStatus.window_passed)
    ]
    return Completeness(missing, rating, None if rating == RatingStatus.rated else closes)
