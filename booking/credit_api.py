"""HTTP route of the no-show rule and the caller's standing under it (for the phone pages)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from litestar import Controller, Request, get
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal, requires_user
from booking.credit import NoShowRule, standing_of
from yixiang.schemas import Output


class NoShowRuleOut(Output):
    limit: int
    period_days: int
    approval_days: int
    text: str  # the rule in Chinese, one sentence


class FirmNoShowsOut(Output):
    enterprise_id: uuid.UUID
    no_shows: int  # the firm's, within the period


class StandingOut(Output):
    rule: NoShowRuleOut
    no_shows: int  # mine, within the period
    firms: list[FirmNoShowsOut]
    approval_required: bool  # my new bookings wait for the provider's approval now
    approval_required_until: datetime | None
    reason: str | None


class StandingController(Controller):
    path = "/api/v1/booking-standing"
    tags = ["bookings"]
    guards = [requires_user]

    @get("/", summary="The no-show rule and my standing: whether my new bookings need approval, and why")
    async def show(
        self, principal: Principal, db_session: AsyncSession, request: Request[Any, Any, Any]
    ) -> StandingOut:
        rule = NoShowRule.of(request.app.state.settings)
        standing = await standing_of(db_session, principal, rule)
        return StandingOut(
            rule=NoShowRuleOut(
                limit=rule.limit,
                period_days=rule.period_days,
                approval_days=rule.approval_days,
                text=rule.describe(),
            ),
            no_shows=standing.no_shows,
            firms=[FirmNoShowsOut(enterprise_id=f, no_shows=n) for f, n in standing.firm_no_shows.items()],
            approval_required=standing.approval_required_until is not None,
            approval_required_until=standing.approval_required_until,
            reason=standing.reason,
        )
