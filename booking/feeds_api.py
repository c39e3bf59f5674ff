"""HTTP routes of calendar feeds: issue, list and revoke my feeds; the feed itself by its token."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal, requires_user
from booking import feeds
from booking.models import CalendarFeed
from yixiang.ratelimit import rate_limit
from yixiang.schemas import Input, Output

ICS = "text/calendar; charset=utf-8"


class CalendarFeedIn(Input):
    # Without it: my own bookings. With it: that instrument's schedule (its unit's staff only).
    instrument_id: uuid.UUID | None = None


class CalendarFeedOut(Output):
    id: uuid.UUID
    instrument_id: uuid.UUID | None
    created_at: datetime
    revoked_at: datetime | None
    # The secret address, given once when the feed is issued (only its hash is kept).
    url: str | None = None
    webcal_url: str | None = None


def feed_out(feed: CalendarFeed, token: str | None = None, base: str = "") -> CalendarFeedOut:
    answer = CalendarFeedOut(
        id=feed.id, instrument_id=feed.instrument_id, created_at=feed.created_at, revoked_at=feed.revoked_at
    )
    if token is not None:
        answer.url = f"{base}{feeds.FEED_PATH}/{token}.ics"
        answer.webcal_url = "webcal://" + answer.url.split("://", 1)[-1]
    return answer


class CalendarFeedController(Controller):
    path = "/api/v1/calendar-feeds"
    tags = ["bookings"]
    guards = [requires_user]

    @post("/", summary="Issue a private calendar address (my bookings, or an instrument I manage)")
    async def issue(
        self,
        principal: Principal,
        db_session: AsyncSession,
        request: Request[Any, Any, Any],
        data: CalendarFeedIn | None = None,
    ) -> CalendarFeedOut:
        instrument_id = data.instrument_id if data else None
        feed, token = await feeds.issue_feed(db_session, principal, instrument_id)
        return feed_out(feed, token, str(request.base_url).rstrip("/"))

    @get("/", summary="My calendar addresses in use (without their secret)")
    async def mine(self, principal: Principal, db_session: AsyncSession) -> list[CalendarFeedOut]:
        return [feed_out(f) for f in await feeds.my_feeds(db_session, principal)]

    @post("/{feed_id:uuid}/revoke", status_code=200, summary="Revoke a calendar address")
    async def revoke(
        self, feed_id: uuid.UUID, principal: Principal, db_session: AsyncSession
    ) -> CalendarFeedOut:
        return feed_out(await feeds.revoke_feed(db_session, principal, feed_id))


class CalendarFileController(Controller):
    path = feeds.FEED_PATH
    tags = ["bookings"]

    @get(
        "/{token:str}",
        summary="The iCalendar feed behind a secret address (for calendar apps; no sign-in)",
        guards=[rate_limit("search")],
        media_type=ICS,
    )
    async def feed(
        self, token: Annotated[str, Parameter(max_length=100)], db_session: AsyncSession
    ) -> Response[str]:
        text = await feeds.render_feed(db_session, token.removesuffix(".ics"))
        return Response(text, media_type=ICS, headers={"Cache-Control": "private, max-age=300"})
