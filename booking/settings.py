"""The booking domain's settings."""

from __future__ import annotations

from typing import Annotated

import msgspec

from yixiang.settings import Section


class BookingSettings(Section):
    # One firm must not hold every slot: at most this many requests awaiting approval per instrument.
    max_open_requests_per_instrument: Annotated[int, msgspec.Meta(ge=1)] = 3


SECTIONS = (BookingSettings,)
