"""Ratings (服务评价) as the shell sees them: ratings, replies, moderation, aggregates."""

from __future__ import annotations

import uuid

from ratings.controllers import RatingsController
from ratings.demo import load_ratings_demo
from ratings.services import RATING_CHANGED, recompute_aggregates
from yixiang.domains import Domain, JobContext
from yixiang.outbox import Event


async def update_rating_aggregates(ctx: JobContext, event: Event) -> None:
    await recompute_aggregates(
        ctx.session, uuid.UUID(event.payload["instrument_id"]), uuid.UUID(event.payload["unit_id"])
    )


DOMAIN = Domain(
    name="ratings",
    route_handlers=[RatingsController],
    consumers={RATING_CHANGED: [update_rating_aggregates]},
    demo_loaders=[load_ratings_demo],
)
