"""The sensor's record of a booked slot, offered to the provider as the actual times at completion
(booking's :class:`~booking.sensed.SensedUseReader` port): the sensor sessions overlapping the
slot, from the first one's start (not earlier than the check-in window, 30 minutes before the
slot) to the last one's end. Manual sessions are not a sensor's record and are left out."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from booking.sensed import SensedUse
from oversight.models import SessionSource, UsageSession

EARLIEST = timedelta(minutes=30)  # booking's check-in opens 30 minutes before the slot


class SensedUseService:
    async def sensed_use(
        self, session: AsyncSession, instrument_id: uuid.UUID, start: datetime, end: datetime
    ) -> SensedUse | None:
        found = list(
            await session.scalars(
                select(UsageSession)
                .where(
                    UsageSession.instrument_id == instrument_id,
                    UsageSession.source == SessionSource.sensor,
                    UsageSession.counted.is_(True),
                    UsageSession.start_at < end,
                    UsageSession.end_at > start,
                )
                .order_by(UsageSession.start_at)
            )
        )
        if not found:
            return None
        first = max(found[0].start_at, start - EARLIEST)
        last = max(s.end_at for s in found)
        running = sum(int((s.end_at - max(s.start_at, first)).total_seconds()) for s in found)
        return SensedUse(first, last, running, len(found))
