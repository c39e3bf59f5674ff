"""Private calendar feeds (iCalendar, RFC 5545): a researcher's own bookings, or an instrument's
schedule for its staff, fetched by calendar apps without signing in.

The secret is the token in the feed's address (``/api/v1/ical/{token}.ics``): 256 random bits,
of which only the SHA-256 is stored. Issuing a feed of the same scope again revokes the old
address; a revoked address answers 404. An instrument feed also stops when its owner is no longer
staff of the instrument's unit.

Events carry their times in UTC (``DTSTART:20261203T010000Z``; RFC 5545 §3.3.5 form 2) so no
VTIMEZONE is needed, and ``X-WR-TIMEZONE:Asia/Shanghai`` tells apps to show them in Shanghai
time. A booking's UID is stable and its SEQUENCE grows with every transition, so subscribers see a
cancellation as ``STATUS:CANCELLED`` on the same event rather than a vanished one.

Written by hand rather than with a library: the format here is a dozen properties of plain text,
and the escaping (§3.3.11) and line folding (§3.1) it needs are a few lines each; the tests parse
the result with the maintained ``icalendar`` package.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal, load_user, principal_from_user
from accounts.models import Organization
from booking.access import managed_instrument
from booking.events import booking_code
from booking.models import Booking, BookingHistory, BookingStatus, CalendarFeed, Operation
from booking.services import STATUS_LABELS
from catalogue.access import is_staff_of
from catalogue.models import Instrument, ServiceMode
from yixiang.clock import SHANGHAI
from yixiang.db import transaction, utcnow
from yixiang.errors import NotFound

FEED_PATH = "/api/v1/ical"
HISTORY_DAYS = 90  # bookings that began longer ago are left out of a feed
MAX_EVENTS = 2000
CANCELLED = {BookingStatus.cancelled, BookingStatus.rejected, BookingStatus.expired}
TENTATIVE = {BookingStatus.requested}


class CalendarFeedNotFound(NotFound):
    code = "calendar_feed_not_found"
    message = "日历订阅地址无效或已撤销"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def issue_feed(
    session: AsyncSession,
    principal: Principal,
    instrument_id: uuid.UUID | None,
    *,
    now: datetime | None = None,
) -> tuple[CalendarFeed, str]:
    """A new feed and its token (shown once). An earlier feed of the same scope is revoked."""
    now = now or utcnow()
    async with transaction(session):
        if instrument_id is not None:
            await managed_instrument(session, principal, instrument_id)
        previous = await session.scalars(
            select(CalendarFeed).where(
                CalendarFeed.user_id == principal.user_id,
                CalendarFeed.instrument_id.is_(None)
                if instrument_id is None
                else CalendarFeed.instrument_id == instrument_id,
                CalendarFeed.revoked_at.is_(None),
            )
        )
        for old in previous.all():
            old.revoked_at = now
        token = secrets.token_urlsafe(32)
        feed = CalendarFeed(
            id=uuid.uuid4(),
            token_hash=token_hash(token),
            user_id=principal.user_id,
            instrument_id=instrument_id,
            created_at=now,
        )
        session.add(feed)
        await session.flush()
        return feed, token


async def my_feeds(session: AsyncSession, principal: Principal) -> list[CalendarFeed]:
    async with transaction(session, read_only=True):
        rows = await session.scalars(
            select(CalendarFeed)
            .where(CalendarFeed.user_id == principal.user_id, CalendarFeed.revoked_at.is_(None))
            .order_by(CalendarFeed.created_at.desc())
        )
        return list(rows.all())


async def revoke_feed(
    session: AsyncSession, principal: Principal, feed_id: uuid.UUID, *, now: datetime | None = None
) -> CalendarFeed:
    async with transaction(session):
        feed = await session.get(CalendarFeed, feed_id)
        if feed is None or feed.user_id != principal.user_id:
            raise CalendarFeedNotFound()
        if feed.revoked_at is None:
            feed.revoked_at = now or utcnow()
        return feed


# --- the feed itself ---------------------------------------------------------------------------------
async def render_feed(session: AsyncSession, token: str, *, now: datetime | None = None) -> str:
    """The calendar behind ``token``; a wrong or revoked token is a 404."""
    now = now or utcnow()
    async with transaction(session, read_only=True):
        feed = await session.scalar(
            select(CalendarFeed).where(
                CalendarFeed.token_hash == token_hash(token), CalendarFeed.revoked_at.is_(None)
            )
        )
        if feed is None:
            raise CalendarFeedNotFound()
        query = (
            select(Booking, Instrument.name, Instrument.address, Instrument.lab, Organization.name)
            .join(Instrument, Instrument.id == Booking.instrument_id)
            .join(Organization, Organization.id == Booking.enterprise_id)
            .where(
                Booking.mode == ServiceMode.machine_time,
                Booking.start_at >= now - timedelta(days=HISTORY_DAYS),
            )
            .order_by(Booking.start_at)
            .limit(MAX_EVENTS)
        )
        if feed.instrument_id is None:
            name = "仪享 · 我的预约"
            query = query.where(Booking.user_id == feed.user_id)
        else:
            instrument = await session.get(Instrument, feed.instrument_id)
            user = await load_user(session, feed.user_id)
            if (
                instrument is None
                or user is None
                or not is_staff_of(principal_from_user(user), instrument.unit_id)
            ):
                raise CalendarFeedNotFound()
            name = f"仪享 · {instrument.name}"
            query = query.where(Booking.instrument_id == feed.instrument_id)
        rows = (await session.execute(query)).all()
        changes = dict(
            (
                await session.execute(
                    select(BookingHistory.booking_id, func.count())
                    .where(BookingHistory.booking_id.in_([row[0].id for row in rows]))
                    .group_by(BookingHistory.booking_id)
                )
            ).all()
        )
    events = []
    for booking, instrument_name, address, lab, firm in rows:
        what = "自主上机" if booking.operation == Operation.self else "机时"
        summary = f"{instrument_name}（{what}）" if feed.instrument_id is None else f"{firm} · {what}"
        description = f"预约号：{booking_code(booking)}\n状态：{STATUS_LABELS[booking.status]}"
        if feed.instrument_id is not None:
            description += f"\n预约单位：{firm}"
        events.append(_event(booking, summary, address or lab, description, int(changes.get(booking.id, 1))))
    return _calendar(name, now, events)


def _event(booking: Booking, summary: str, location: str, description: str, changes: int) -> list[str]:
    assert booking.start_at is not None and booking.end_at is not None
    status = (
        "CANCELLED"
        if booking.status in CANCELLED
        else "TENTATIVE"
        if booking.status in TENTATIVE
        else "CONFIRMED"
    )
    lines = [
        "BEGIN:VEVENT",
        f"UID:{booking.id}@yixiang",
        f"DTSTAMP:{_utc(booking.updated_at)}",
        f"CREATED:{_utc(booking.created_at)}",
        f"LAST-MODIFIED:{_utc(booking.updated_at)}",
        f"SEQUENCE:{max(changes - 1, 0)}",  # the first history row is the booking itself
        f"DTSTART:{_utc(booking.start_at)}",
        f"DTEND:{_utc(booking.end_at)}",
        f"SUMMARY:{_text(summary)}",
        f"DESCRIPTION:{_text(description)}",
        f"STATUS:{status}",
        "TRANSP:OPAQUE" if status != "CANCELLED" else "TRANSP:TRANSPARENT",
    ]
    if location:
        lines.append(f"LOCATION:{_text(location)}")
    return [*lines, "END:VEVENT"]


def _calendar(name: str, now: datetime, events: Iterable[list[str]]) -> str:
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//yixiang//booking feed//ZH",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{_text(name)}",
        "X-WR-TIMEZONE:Asia/Shanghai",
        # Ask subscribing apps to look again every 15 minutes (RFC 7986; Outlook's older name).
        "REFRESH-INTERVAL;VALUE=DURATION:PT15M",
        "X-PUBLISHED-TTL:PT15M",
        f"X-WR-CALDESC:{_text('更新于 ' + now.astimezone(SHANGHAI).strftime('%Y-%m-%d %H:%M'))}",
    ]
    for event in events:
        lines += event
    lines.append("END:VCALENDAR")
    return "".join(_fold(line) + "\r\n" for line in lines)


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _text(value: str) -> str:
    """A TEXT value (RFC 5545 §3.3.11): backslash, semicolon, comma and newline escaped."""
    return (
        value.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
    )


def _fold(line: str) -> str:
    """Lines longer than 75 octets folded (§3.1), never inside a UTF-8 character."""
    out: list[str] = []
    current: list[str] = []
    size = 0
    for char in line:
        width = len(char.encode())
        limit = 75 if not out else 74  # a continuation line starts with a space
        if size + width > limit:
            out.append("".join(current))
            current, size = [], 0
        current.append(char)
        size += width
    out.append("".join(current))
    return "\r\n ".join(out)
