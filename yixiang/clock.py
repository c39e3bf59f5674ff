"""The platform's one civil time zone: calendars, opening hours, working days and every date shown
to people are in Asia/Shanghai (DESIGN §4); what is stored stays aware UTC (``db.utcnow``).

Every moment an answer carries is shown the same way (:func:`public_moment`): in Asia/Shanghai
with its offset, to the second — ``2026-12-01T09:00:00+08:00``. JSON answers get it from the
app's one encoder (``yixiang.answers``); text that is not JSON (exports) calls it itself."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from yixiang.db import utcnow

SHANGHAI = ZoneInfo("Asia/Shanghai")
PUBLIC_OFFSET = timezone(timedelta(hours=8))  # the offset every answer shows
_EIGHT_HOURS = timedelta(hours=8)


def public_moment(moment: datetime) -> datetime:
    """A moment as answers show it: at ``+08:00`` (Asia/Shanghai has kept that offset since 1991),
    without fractions of a second.

    Stored moments keep their microseconds (ordering, cursors); only what is shown drops them.
    """
    if moment.tzinfo is UTC:  # what the database returns: the common case, and the quick one
        return (moment + _EIGHT_HOURS).replace(tzinfo=PUBLIC_OFFSET, microsecond=0)
    if moment.tzinfo is None:  # nothing here makes naive moments; never guess their zone
        return moment.replace(microsecond=0)
    return moment.astimezone(PUBLIC_OFFSET).replace(microsecond=0)


def public_moment_text(moment: datetime) -> str:
    """:func:`public_moment` as ISO 8601 text, for answers that are not JSON (exports)."""
    return public_moment(moment).isoformat()


def shanghai_date(moment: datetime) -> date:
    """The date a moment falls on in Asia/Shanghai."""
    return moment.astimezone(SHANGHAI).date()


def shanghai_today(now: datetime | None = None) -> date:
    """Today's date in Asia/Shanghai (or the date of ``now`` there)."""
    return shanghai_date(now or utcnow())
