"""Demo ratings, each backed by the records a real one has: a sample-testing booking of a demo firm
on one of 之江理工's featured instruments, taken through the booking services over the past week
(approved when the instrument needs it, samples received, completed, the report delivered by hand:
the demo holds no result files), then rated through the rating service. The aggregates follow
from them as from any rating (the outbox).

Idempotent: a booking's note names its demo rating, and a rating already made is not made again.
Quiet when the catalogue or the accounts are not there (an instrument that is not bookable is
skipped).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal, load_user, principal_from_user
from accounts.demo import demo_id
from booking import services
from booking.creation import create_booking
from booking.models import Booking, BookingStatus, InstrumentCalendar
from booking.schemas import BookingIn, CompleteIn
from catalogue.models import Instrument, InstrumentStatus, PublicationStatus, ServiceItem, ServiceMode
from ratings.services import rate_booking, reply_to_rating
from yixiang.db import transaction, utcnow


@dataclass(frozen=True)
class DemoRating:
    key: str
    instrument: int  # index among 之江理工's generated instruments (the featured come first)
    rater: str  # a demo account's username
    overall: int
    comment: str
    dimensions: dict[str, int] = field(default_factory=dict)
    reply: str | None = None


DEMO_RATINGS = (
    DemoRating(
        "nmr600-1",
        0,
        "demo-researcher",
        5,
        "氢谱、碳谱一周内出齐，谱图干净，老师还帮忙看了杂质峰。",
        {"timeliness": 5, "data_quality": 5, "professionalism": 5, "value": 4},
        "感谢认可，欢迎继续送样。",
    ),
    DemoRating(
        "nmr600-2", 0, "demo-researcher-2", 4, "数据质量好，排队稍久。", {"timeliness": 3, "data_quality": 5}
    ),
    DemoRating("nmr600-3", 0, "demo-researcher", 5, ""),
    DemoRating(
        "nmr400-1",
        1,
        "demo-researcher-2",
        4,
        "常规一维谱性价比高。",
        {"timeliness": 4, "data_quality": 4, "professionalism": 4, "value": 5},
    ),
    DemoRating("tem-1", 3, "demo-researcher", 3, "图像清楚，但预约到送样间隔较长。", {"timeliness": 2}),
    DemoRating(
        "sem-1",
        5,
        "demo-researcher-2",
        5,
        "形貌和能谱一次做完，报告规范。",
        {"timeliness": 5, "data_quality": 5, "professionalism": 5, "value": 5},
    ),
    DemoRating("xrd-1", 8, "demo-researcher", 4, "物相分析结果可靠。"),
)

DAY = timedelta(days=1)


async def _principal(session: AsyncSession, username: str) -> Principal | None:
    user = await load_user(session, demo_id(username))
    return principal_from_user(user) if user is not None else None


async def _first_sample_item(session: AsyncSession, instrument_id: uuid.UUID) -> uuid.UUID | None:
    """The instrument's first sample-testing item, if it is bookable for samples at all."""
    instrument = await session.get(Instrument, instrument_id)
    bookable = (
        instrument is not None
        and instrument.sample_testing
        and instrument.status == InstrumentStatus.in_service
        and instrument.publication == PublicationStatus.published
        and await session.get(InstrumentCalendar, instrument_id) is not None
    )
    if not bookable:
        return None
    return await session.scalar(
        select(ServiceItem.id)
        .where(
            ServiceItem.instrument_id == instrument_id,
            ServiceItem.mode == ServiceMode.sample_testing,
            ServiceItem.active.is_(True),
        )
        .order_by(ServiceItem.position)
        .limit(1)
    )


async def load_ratings_demo(session: AsyncSession) -> None:
    # The services each open a transaction: within this one, they all commit together.
    async with transaction(session):
        await _load(session)


async def _load(session: AsyncSession) -> None:
    provider = await _principal(session, "demo-provider")
    if provider is None:
        return
    now = utcnow()
    for position, plan in enumerate(DEMO_RATINGS):
        note = f"演示评价 {plan.key}"
        if await session.scalar(select(Booking.id).where(Booking.note == note)) is not None:
            continue
        rater = await _principal(session, plan.rater)
        instrument_id = demo_id(f"instrument:unit-zjlg:{plan.instrument}")
        item_id = await _first_sample_item(session, instrument_id)
        if rater is None or item_id is None:
            continue
        # Each booking a little later than the one before, all of them delivered in the past week.
        booked_at = now - 7 * DAY + position * timedelta(hours=2)
        request = BookingIn(
            instrument_id=instrument_id,
            mode=ServiceMode.sample_testing,
            service_item_id=item_id,
            samples=2,
            note=note,
        )
        booking = await create_booking(session, rater, request, now=booked_at)
        if booking.status == BookingStatus.requested:
            await services.approve_booking(session, provider, booking.id, now=booked_at + timedelta(hours=1))
            await session.flush()
        await services.check_in_booking(
            session, provider, booking.id, "演示：样品已收到", now=booked_at + DAY
        )
        await session.flush()  # (each service reads the booking afresh, past what is not flushed)
        await services.complete_booking(session, provider, booking.id, CompleteIn(), now=booked_at + 3 * DAY)
        await session.flush()
        await services.mark_delivered(
            session, provider, booking.id, "演示：检测报告已线下交付（无电子文件）", now=booked_at + 4 * DAY
        )
        await session.flush()
        rating = await rate_booking(
            session,
            rater,
            booking.id,
            overall=plan.overall,
            dimensions=plan.dimensions,
            comment=plan.comment,
            window_days=7,
        )
        if plan.reply:
            await reply_to_rating(session, provider, rating.id, plan.reply)
