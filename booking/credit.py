"""No-shows and credit (信用): a researcher who did not come too often books on approval for a while.

The rule (settings ``YIXIANG_NO_SHOW_LIMIT``, ``..._PERIOD_DAYS``, ``..._APPROVAL_DAYS``): once a
researcher has ``limit`` no-shows within ``period_days`` of each other, every new booking they make
in the next ``approval_days`` waits for the provider's approval, whatever the instrument's own
rule (``booking.creation``; the booking records why in ``approval_reason``). No-shows are counted
from the bookings' history (the ``no_show`` transition), per researcher and per firm; the firm's
count is shown, the rule applies to the researcher who did not come.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from booking.models import Booking, BookingHistory
from booking.settings import BookingSettings
from yixiang.clock import SHANGHAI
from yixiang.db import transaction, utcnow


@dataclass(frozen=True, slots=True)
class NoShowRule:
    limit: int
    period_days: int
    approval_days: int

    @classmethod
    def of(cls, settings: Any) -> NoShowRule:
        section = BookingSettings.of(settings)
        return cls(section.no_show_limit, section.no_show_period_days, section.no_show_approval_days)

    def describe(self) -> str:
        return (
            f"{self.period_days} 天内未到场累计 {self.limit} 次的，"
            f"此后 {self.approval_days} 天内的新预约须经仪器管理员审批"
        )


def approval_required_until(times: list[datetime], rule: NoShowRule) -> datetime | None:
    """When the approval the rule imposes ends (None: never imposed). ``times``: no-shows, in order.
    The rule is met at the ``limit``-th no-show within ``period_days``; each time it is met again,
    the approval runs ``approval_days`` from that no-show."""
    until = None
    for last in range(rule.limit - 1, len(times)):
        if times[last] - times[last - rule.limit + 1] <= timedelta(days=rule.period_days):
            until = times[last] + timedelta(days=rule.approval_days)
    return until


def approval_reason(rule: NoShowRule, until: datetime) -> str:
    end = until.astimezone(SHANGHAI)
    return (
        f"您在 {rule.period_days} 天内未到场已达 {rule.limit} 次，"
        f"{end.year}年{end.month}月{end.day}日 {end:%H:%M} 前的新预约须经仪器管理员审批"
    )


def _no_shows_since(since: datetime) -> Any:
    return (
        select(BookingHistory.at, Booking.user_id, Booking.enterprise_id)
        .join(Booking, Booking.id == BookingHistory.booking_id)
        .where(BookingHistory.action == "no_show", BookingHistory.at >= since)
        .order_by(BookingHistory.at)
    )


async def held_for_approval(
    session: AsyncSession, user_id: uuid.UUID, rule: NoShowRule, now: datetime
) -> str | None:
    """Why the researcher's new booking must wait for approval now (None: it need not)."""
    since = now - timedelta(days=rule.period_days + rule.approval_days)
    times = list((await session.scalars(_no_shows_since(since).where(Booking.user_id == user_id))).all())
    until = approval_required_until(times, rule)
    return approval_reason(rule, until) if until is not None and until > now else None


@dataclass(frozen=True)
class Standing:
    rule: NoShowRule
    no_shows: int  # the researcher's, within the period
    firm_no_shows: dict[uuid.UUID, int]  # each of the researcher's firms', within the period
    approval_required_until: datetime | None
    reason: str | None


async def standing_of(
    session: AsyncSession, principal: Principal, rule: NoShowRule, *, now: datetime | None = None
) -> Standing:
    now = now or utcnow()
    firms = principal.enterprise_ids
    since = now - timedelta(days=rule.period_days + rule.approval_days)
    async with transaction(session, read_only=True):
        query = _no_shows_since(since)
        if firms:
            query = query.where((Booking.user_id == principal.user_id) | Booking.enterprise_id.in_(firms))
        else:
            query = query.where(Booking.user_id == principal.user_id)
        rows = (await session.execute(query)).all()
    period_start = now - timedelta(days=rule.period_days)
    mine = [at for at, user_id, _ in rows if user_id == principal.user_id]
    until = approval_required_until(mine, rule)
    if until is not None and until <= now:
        until = None
    return Standing(
        rule=rule,
        no_shows=sum(1 for at in mine if at >= period_start),
        firm_no_shows={
            firm: sum(1 for at, _, of in rows if of == firm and at >= period_start) for firm in sorted(firms)
        },
        approval_required_until=until,
        reason=approval_reason(rule, until) if until is not None else None,
    )
