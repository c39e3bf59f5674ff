"""The booking domain's settings."""

from __future__ import annotations

from typing import Annotated

import msgspec

from yixiang.settings import Section


class BookingSettings(Section):
    # One firm must not hold every slot: at most this many requests awaiting approval per instrument.
    max_open_requests_per_instrument: Annotated[int, msgspec.Meta(ge=1)] = 3
    # A range freed for the first in line on the waiting list is held this long for them alone.
    waitlist_offer_minutes: Annotated[int, msgspec.Meta(ge=5, le=1440)] = 30
    # No-shows (booking.credit): this many within this many days, and new bookings need the
    # provider's approval for this many days after.
    no_show_limit: Annotated[int, msgspec.Meta(ge=1, le=100)] = 3
    no_show_period_days: Annotated[int, msgspec.Meta(ge=1, le=3650)] = 90
    no_show_approval_days: Annotated[int, msgspec.Meta(ge=1, le=3650)] = 30


SECTIONS = (BookingSettings,)
