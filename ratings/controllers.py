"""HTTP for ratings: rate a delivered booking, reply, hide, and the public list per instrument."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from ratings.models import DIMENSIONS, Rating, RatingAggregate
from ratings.services import hide_rating, list_instrument_ratings, rate_booking, reply_to_rating
from ratings.settings import RatingsSettings
from yixiang.errors import InvalidInput
from yixiang.schemas import Input, Output

Score = Annotated[int, msgspec.Meta(ge=1, le=5, description="1 (poor) to 5 (excellent)")]
HIDDEN_TEXT = "该评价内容已被平台隐藏"


class Dimensions(Input):
    """Each optional: a researcher scores what they care to."""

    timeliness: Score | None = None
    data_quality: Score | None = None
    professionalism: Score | None = None
    value: Score | None = None


class RatingIn(Input):
    overall: Score
    dimensions: Dimensions | None = None  # the overall score alone is a rating (one tap)
    # The length limit is checked after trimming (a clear code, not a generic validation error).
    comment: Annotated[str, msgspec.Meta(max_length=20_000)] | None = None


class ReplyIn(Input):
    reply: Annotated[str, msgspec.Meta(min_length=1, max_length=20_000)]


class HideIn(Input):
    reason: Annotated[str, msgspec.Meta(min_length=2, max_length=200)]


class RatingOut(Output):
    id: uuid.UUID
    booking_id: uuid.UUID | None
    instrument_id: uuid.UUID
    overall: int
    dimensions: dict[str, int]  # the dimensions the rater scored
    comment: str
    created_at: datetime
    reply: str | None
    replied_at: datetime | None
    hidden: bool


class RatingSummary(Output):
    count: int
    mean: float | None
    distribution: dict[str, int]
    dimension_means: dict[str, float]  # over the ratings that scored the dimension
    dimension_counts: dict[str, int]


class RatingPage(Output):
    items: list[RatingOut]
    summary: RatingSummary
    next_cursor: str | None


def rating_out(rating: Rating, *, public: bool = False) -> RatingOut:
    hidden = rating.hidden_at is not None
    return RatingOut(
        id=rating.id,
        booking_id=None if public else rating.booking_id,
        instrument_id=rating.instrument_id,
        overall=rating.overall,
        dimensions={d: score for d in DIMENSIONS if (score := getattr(rating, d)) is not None},
        comment=HIDDEN_TEXT if hidden else rating.comment,
        created_at=rating.created_at,
        reply=rating.reply,
        replied_at=rating.replied_at,
        hidden=hidden,
    )


def summary_of(aggregate: RatingAggregate | None) -> RatingSummary:
    if aggregate is None or aggregate.count == 0:
        return RatingSummary(
            count=0,
            mean=None,
            distribution={str(s): 0 for s in range(1, 6)},
            dimension_means={},
            dimension_counts=dict.fromkeys(DIMENSIONS, 0),
        )
    counts = {d: int(aggregate.dimension_counts.get(d, 0)) for d in DIMENSIONS}
    return RatingSummary(
        count=aggregate.count,
        mean=round(aggregate.overall_sum / aggregate.count, 2),
        distribution={k: int(v) for k, v in aggregate.distribution.items()},
        dimension_means={d: round(int(aggregate.dimension_sums[d]) / n, 2) for d, n in counts.items() if n},
        dimension_counts=counts,
    )


def _encode_cursor(rating: Rating) -> str:
    return base64.urlsafe_b64encode(f"{rating.created_at.isoformat()}|{rating.id}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        created, rating_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        return datetime.fromisoformat(created), uuid.UUID(rating_id)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput("cursor 无效", field="cursor") from exc


class RatingsController(Controller):
    path = "/api/v1"
    tags = ["ratings"]

    @post("/bookings/{booking_id:uuid}/rating", summary="Rate a delivered booking (once)", status_code=201)
    async def rate(
        self,
        booking_id: uuid.UUID,
        data: RatingIn,
        request: Request[Any, Any, Any],
        principal: Principal,
        db_session: AsyncSession,
    ) -> RatingOut:
        rating = await rate_booking(
            db_session,
            principal,
            booking_id,
            overall=data.overall,
            dimensions=msgspec.structs.asdict(data.dimensions) if data.dimensions else {},
            comment=data.comment,
            window_days=RatingsSettings.of(request.app.state.settings).window_days,
        )
        return rating_out(rating)

    @post(
        "/ratings/{rating_id:uuid}/reply", summary="The provider replies to a rating (once)", status_code=201
    )
    async def reply(
        self, rating_id: uuid.UUID, data: ReplyIn, principal: Principal, db_session: AsyncSession
    ) -> RatingOut:
        return rating_out(await reply_to_rating(db_session, principal, rating_id, data.reply))

    @post(
        "/ratings/{rating_id:uuid}/hide",
        summary="Platform operator hides abusive text (recorded)",
        status_code=200,
    )
    async def hide(
        self, rating_id: uuid.UUID, data: HideIn, principal: Principal, db_session: AsyncSession
    ) -> RatingOut:
        return rating_out(await hide_rating(db_session, principal, rating_id, data.reason))

    @get("/instruments/{instrument_id:uuid}/ratings", summary="Ratings of an instrument, newest first")
    async def index(
        self,
        instrument_id: uuid.UUID,
        db_session: AsyncSession,
        cursor: str | None = Parameter(query="cursor", default=None, max_length=200),
        limit: int = Parameter(query="limit", default=20, ge=1, le=100),
    ) -> RatingPage:
        decoded = _decode_cursor(cursor) if cursor else None
        rows, aggregate = await list_instrument_ratings(
            db_session, instrument_id, cursor=decoded, limit=limit + 1
        )
        page = rows[:limit]
        return RatingPage(
            items=[rating_out(r, public=True) for r in page],
            summary=summary_of(aggregate),
            next_cursor=_encode_cursor(page[-1]) if len(rows) > limit else None,
        )
