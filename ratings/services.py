"""Rating a delivered booking, the provider's reply, moderation, and the aggregates search uses."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from accounts.models import STAFF_ROLES, Role
from booking.models import Booking, BookingHistory, BookingStatus
from booking.services import mark_rated
from catalogue.models import Instrument
from ratings.models import DIMENSIONS, Rating, RatingAggregate
from yixiang.db import insert_ignoring_conflict, transaction, utcnow
from yixiang.errors import Conflict, Forbidden, InvalidInput, NotFound
from yixiang.locking import lock_row
from yixiang.outbox import emit

# The topic keeps its first name ("booking.") because queued events carry it.
RATING_CHANGED = "booking.rating_changed"
MAX_COMMENT = 1000
MAX_REPLY = 1000
_TAG = re.compile(r"<\s*/?\s*[a-zA-Z!][^>]*>")


class AlreadyRated(Conflict):
    code = "already_rated"
    message = "该预约已评价过，每个预约只能评价一次"


class RatingNotOpen(Conflict):
    code = "rating_not_open"
    message = "结果交付后才能评价"


class RatingWindowClosed(Conflict):
    code = "rating_window_closed"
    message = "已超过评价期限"


class CommentTooLong(InvalidInput):
    code = "comment_too_long"
    message = f"评价内容不能超过 {MAX_COMMENT} 字"


class CommentHasMarkup(InvalidInput):
    code = "comment_markup_not_allowed"
    message = "评价内容不能包含 HTML 标签"


class AlreadyReplied(Conflict):
    code = "already_replied"
    message = "已回复过该评价"


def clean_text(text: str | None, limit: int, too_long: type[InvalidInput]) -> str:
    cleaned = (text or "").strip()
    if len(cleaned) > limit:
        raise too_long(length=len(cleaned), max_length=limit)
    if _TAG.search(cleaned):
        raise CommentHasMarkup()
    return cleaned


async def _delivered_at(session: AsyncSession, booking_id: uuid.UUID) -> datetime | None:
    return await session.scalar(
        select(func.max(BookingHistory.at)).where(
            BookingHistory.booking_id == booking_id, BookingHistory.to_status == BookingStatus.delivered
        )
    )


async def rate_booking(
    session: AsyncSession,
    principal: Principal,
    booking_id: uuid.UUID,
    *,
    overall: int,
    dimensions: Mapping[str, int | None],
    comment: str | None,
    window_days: int,
) -> Rating:
    comment_text = clean_text(comment, MAX_COMMENT, CommentTooLong)
    async with transaction(session):
        booking = await lock_row(session, Booking, booking_id)
        is_booker = booking is not None and booking.user_id == principal.user_id
        is_firm_admin = booking is not None and booking.enterprise_id in principal.orgs_where(
            Role.enterprise_admin
        )
        if booking is None or not (is_booker or is_firm_admin):
            raise NotFound("未找到该预约")
        if booking.status == BookingStatus.rated or await session.scalar(
            select(Rating.id).where(Rating.booking_id == booking_id)
        ):
            raise AlreadyRated()
        if booking.status != BookingStatus.delivered:
            raise RatingNotOpen(status=booking.status.value)
        delivered = await _delivered_at(session, booking_id)
        if delivered is not None and utcnow() > delivered + timedelta(days=window_days):
            raise RatingWindowClosed(window_days=window_days)
        rating = Rating(
            booking_id=booking.id,
            instrument_id=booking.instrument_id,
            unit_id=booking.unit_id,
            enterprise_id=booking.enterprise_id,
            rated_by=principal.user_id,
            overall=overall,
            comment=comment_text,
            **{d: dimensions.get(d) for d in DIMENSIONS},
        )
        session.add(rating)
        await session.flush()
        await mark_rated(session, principal, booking.id)
        await emit(
            session,
            RATING_CHANGED,
            {"rating_id": rating.id, "instrument_id": booking.instrument_id, "unit_id": booking.unit_id},
        )
        return rating


async def reply_to_rating(
    session: AsyncSession, principal: Principal, rating_id: uuid.UUID, text: str
) -> Rating:
    reply = clean_text(text, MAX_REPLY, CommentTooLong)
    if not reply:
        raise InvalidInput("回复内容不能为空", field="reply")
    async with transaction(session):
        rating = await lock_row(session, Rating, rating_id)
        if rating is None:
            raise NotFound("未找到该评价")
        if rating.unit_id not in principal.orgs_where(*STAFF_ROLES):
            raise Forbidden("只有该仪器的管理单位可以回复评价")
        if rating.reply is not None:
            raise AlreadyReplied()
        rating.reply, rating.replied_by, rating.replied_at = reply, principal.user_id, utcnow()
        await emit(session, "booking.rating_replied", {"rating_id": rating.id, "by": principal.user_id})
        return rating


async def hide_rating(
    session: AsyncSession, principal: Principal, rating_id: uuid.UUID, reason: str
) -> Rating:
    principal.require(Role.platform_admin)
    async with transaction(session):
        rating = await lock_row(session, Rating, rating_id)
        if rating is None:
            raise NotFound("未找到该评价")
        rating.hidden_at, rating.hidden_by, rating.hidden_reason = utcnow(), principal.user_id, reason
        await emit(
            session,
            "booking.rating_hidden",
            {"rating_id": rating.id, "by": principal.user_id, "reason": reason},
        )
        return rating


async def list_instrument_ratings(
    session: AsyncSession, instrument_id: uuid.UUID, *, cursor: tuple[datetime, uuid.UUID] | None, limit: int
) -> tuple[list[Rating], RatingAggregate | None]:
    async with transaction(session):
        instrument = await session.get(Instrument, instrument_id)
        if instrument is None:
            raise NotFound("未找到该仪器")
        query = select(Rating).where(Rating.instrument_id == instrument_id)
        if cursor is not None:
            query = query.where(tuple_(Rating.created_at, Rating.id) < tuple_(*cursor))
        rows = (
            await session.scalars(query.order_by(Rating.created_at.desc(), Rating.id.desc()).limit(limit))
        ).all()
        aggregate = await session.get(RatingAggregate, ("instrument", instrument_id))
        return list(rows), aggregate


async def recompute_aggregates(session: AsyncSession, instrument_id: uuid.UUID, unit_id: uuid.UUID) -> None:
    """Recount from the stored ratings (idempotent): the aggregate always equals their mean."""
    for scope, column, subject in (
        ("instrument", Rating.instrument_id, instrument_id),
        ("unit", Rating.unit_id, unit_id),
    ):
        ratings = (await session.scalars(select(Rating).where(column == subject))).all()
        distribution = {str(score): 0 for score in range(1, 6)}
        sums, counts = dict.fromkeys(DIMENSIONS, 0), dict.fromkeys(DIMENSIONS, 0)
        for rating in ratings:
            distribution[str(rating.overall)] += 1
            for d in DIMENSIONS:
                if (score := getattr(rating, d)) is not None:  # a dimension left out counts nowhere
                    sums[d] += score
                    counts[d] += 1
        values: dict[str, Any] = {
            "count": len(ratings),
            "overall_sum": sum(r.overall for r in ratings),
            "distribution": distribution,
            "dimension_sums": sums,
            "dimension_counts": counts,
            "updated_at": utcnow(),
        }
        await insert_ignoring_conflict(
            session,
            RatingAggregate,
            {"scope": scope, "subject_id": subject, **values},
            ["scope", "subject_id"],
        )
        aggregate = await session.get(RatingAggregate, (scope, subject), populate_existing=True)
        assert aggregate is not None
        for key, value in values.items():
            setattr(aggregate, key, value)
        if scope == "instrument":
            instrument = await session.get(Instrument, subject)
            if instrument is not None:
                instrument.rating_count = len(ratings)
                instrument.rating_mean = round(values["overall_sum"] / len(ratings), 2) if ratings else None
                await emit(
                    session, "catalogue.instrument_changed", {"instrument_ids": [subject], "reason": "rating"}
                )


async def list_unit_ratings(
    session: AsyncSession,
    principal: Principal,
    unit_id: uuid.UUID,
    *,
    unanswered: bool = False,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Rating], int]:
    """A holding unit's ratings, newest first (hidden ones too: the unit may still answer them),
    for its own staff; ``unanswered``: those without the unit's reply."""
    if unit_id not in principal.orgs_where(*STAFF_ROLES):
        raise Forbidden("只有该管理单位的人员可以查看其评价")
    query = select(Rating).where(Rating.unit_id == unit_id)
    if unanswered:
        query = query.where(Rating.reply.is_(None))
    async with transaction(session, read_only=True):
        total = int(await session.scalar(select(func.count()).select_from(query.subquery())) or 0)
        rows = (
            await session.scalars(
                query.order_by(Rating.created_at.desc(), Rating.id.desc()).limit(limit).offset(offset)
            )
        ).all()
        return list(rows), total
