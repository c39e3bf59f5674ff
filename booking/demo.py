"""Demo calendars and qualifications. Idempotent, and silent when the catalogue has no
instruments yet: every published instrument of a demo unit gets a calendar row (the default
rules, with every third instrument needing approval), and ``demo-researcher`` is qualified on
every other self-operation instrument — so the demo shows both a booking and a refusal."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.demo import ORGANIZATIONS, demo_id
from accounts.models import OrgKind, User
from booking.calendar_rules import DEFAULT_CALENDAR
from booking.models import InstrumentCalendar, Qualification
from catalogue.models import Instrument, PublicationStatus
from yixiang.clock import shanghai_today

DEMO_UNITS = [demo_id(key) for key, kind, *_ in ORGANIZATIONS if kind == OrgKind.unit]


async def load_booking_demo(session: AsyncSession) -> None:
    instruments = (
        await session.scalars(
            select(Instrument)
            .where(Instrument.unit_id.in_(DEMO_UNITS), Instrument.publication == PublicationStatus.published)
            .order_by(Instrument.id)
        )
    ).all()
    if not instruments:
        return
    have_calendar = set((await session.scalars(select(InstrumentCalendar.instrument_id))).all())
    for index, instrument in enumerate(instruments):
        if instrument.id in have_calendar:
            continue
        session.add(
            InstrumentCalendar(
                instrument_id=instrument.id,
                weekly_hours={"intervals": [list(h) for h in DEFAULT_CALENDAR.weekly_hours]},
                needs_approval=index % 3 == 2,
            )
        )
    researcher = demo_id("demo-researcher")
    if await session.get(User, researcher) is None:
        return
    self_operated = [i for i in instruments if i.self_operation]
    expires_on = shanghai_today() + timedelta(days=365)
    for instrument in self_operated[::2]:
        qualification_id = demo_id(f"qualification:demo-researcher:{instrument.id}")
        if await session.get(Qualification, qualification_id) is not None:
            continue
        session.add(
            Qualification(
                id=qualification_id,
                user_id=researcher,
                unit_id=instrument.unit_id,
                instrument_id=instrument.id,
                expires_on=expires_on,
                note="演示：已完成上机培训",
            )
        )
    await session.flush()
