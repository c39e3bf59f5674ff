"""Consent to notifications (PIPL): given or withdrawn, each time recorded with its moment.

Messages about a user's own bookings are part of the service they asked for, so a user who never
answered gets them; one who withdrew gets none until they give consent again (``bot.notify``
asks :func:`notifications_allowed` before each send).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import NotificationConsent
from yixiang.db import utcnow

SOURCES = ("page", "api")


@dataclass(frozen=True)
class Consent:
    given: bool
    at: datetime | None  # None: never answered (the default: given)
    history: list[tuple[bool, datetime, str]]


async def record_consent(session: AsyncSession, user_id: uuid.UUID, given: bool, source: str) -> None:
    session.add(NotificationConsent(user_id=user_id, given=given, source=source, at=utcnow()))


async def consent_of(session: AsyncSession, user_id: uuid.UUID) -> Consent:
    rows = (
        await session.scalars(
            select(NotificationConsent)
            .where(NotificationConsent.user_id == user_id)
            .order_by(NotificationConsent.at, NotificationConsent.id)
        )
    ).all()
    history = [(row.given, row.at, row.source) for row in rows]
    if not rows:
        return Consent(True, None, history)
    return Consent(rows[-1].given, rows[-1].at, history)


async def notifications_allowed(session: AsyncSession, user_id: uuid.UUID) -> bool:
    latest = await session.scalar(
        select(NotificationConsent.given)
        .where(NotificationConsent.user_id == user_id)
        .order_by(NotificationConsent.at.desc(), NotificationConsent.id.desc())
        .limit(1)
    )
    return latest is None or bool(latest)
