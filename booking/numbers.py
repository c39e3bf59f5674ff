"""The booking number (预约号) people read and type: ``YX20261202-0A7F3C``.

``YX``, the day the booking was made (Asia/Shanghai), and six hex digits of its id: short enough
to read over the phone and to write in a bank transfer's memo. Stored on the booking (unique), so
a number found in a memo or a message leads back to its booking. Six digits of a random id meet
again about once in 16 million bookings of one day: creation then draws a new id
(``booking.creation``), and the migration that numbered the existing bookings slid along the id.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any

from yixiang.clock import SHANGHAI
from yixiang.db import utcnow

NUMBER_LENGTH = 17  # "YX" + 8 date digits + "-" + 6 hex digits
_TYPED = re.compile(r"^YX(\d{8})-?([0-9A-F]{6})$")
UNIQUE_INDEX = "uq_bookings_number"


def booking_number(booking_id: uuid.UUID, created_at: datetime, offset: int = 0) -> str:
    """The number of a booking made at ``created_at``; ``offset`` slides along the id's digits."""
    digits = booking_id.hex[offset : offset + 6].upper()
    return f"YX{created_at.astimezone(SHANGHAI):%Y%m%d}-{digits}"


def number_default(context: Any) -> str:
    """The column's default for an insert that names no number (made from the row's id)."""
    row = context.get_current_parameters()
    return booking_number(row["id"], row.get("created_at") or utcnow())


def normalize_number(text: str) -> str | None:
    """A number as a person types it (any case, spaces, with or without the dash), written the
    way it is stored; None when it cannot be a booking number."""
    compact = re.sub(r"\s+", "", text).upper()
    found = _TYPED.match(compact)
    return f"YX{found.group(1)}-{found.group(2)}" if found else None


def is_number_conflict(exc: Exception) -> bool:
    return UNIQUE_INDEX in str(exc) or "bookings.number" in str(exc)
