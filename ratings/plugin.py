"""Ratings (服务评价) as the shell sees them: ratings, replies, moderation, aggregates."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from ratings.controllers import RatingsController
from ratings.demo import load_ratings_demo
from ratings.services import RATING_CHANGED, recompute_aggregates
from ratings.settings import RatingsSettings
from yixiang.domains import Domain, JobContext
from yixiang.outbox import Event
from yixiang.settings import Settings


async def update_rating_aggregates(ctx: JobContext, event: Event) -> None:
    await recompute_aggregates(
        ctx.session, uuid.UUID(event.payload["instrument_id"]), uuid.UUID(event.payload["unit_id"])
    )


def app_state(settings: Settings) -> Mapping[str, Any]:
    # Settlement counts an unrated booking's evidence complete once this window has passed
    # (vouchers.evidence reads it here: vouchers does not import ratings).
    return {"rating_window_days": RatingsSettings.of(settings).window_days}


DOMAIN = Domain(
    name="ratings",
    route_handlers=[RatingsController],
    consumers={RATING_CHANGED: [update_rating_aggregates]},
    demo_loaders=[load_ratings_demo],
    app_state=app_state,
)
