"""Operations on calendars: provider staff set opening hours and rules and add closures; anyone
reads an instrument's calendar (its free time is ``booking.free_time``)."""

from __future__ import annotations

import itertools
import uuid
from datetime import date, datetime, time

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from booking.access import managed_instrument
from booking.calendar_rules import (
    MINUTES_PER_DAY,
    CalendarRules,
    rules_from_row,
)
from booking.errors import InvalidRange, TimezoneRequired
from booking.free_time import load_calendar
from booking.models import Booking, Closure, InstrumentCalendar, holds_slot
from booking.schemas import CalendarIn, ClosureIn
from catalogue.access import visible_instrument
from yixiang.audit import record_change, snapshot
from yixiang.clock import SHANGHAI
from yixiang.db import transaction, utcnow
from yixiang.errors import InvalidInput, NotFound
from yixiang.outbox import emit


class CalendarInvalid(InvalidInput):
    code = "calendar_invalid"
    message = "日历设置有误"


CLOSURE_AUDITED = ("start_at", "end_at", "reason")


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def validate_calendar(data: CalendarIn) -> list[list[int]]:
    """The weekly hours as [weekday, start, end] minutes; refuses settings that cannot work."""
    if MINUTES_PER_DAY % data.slot_minutes:
        raise CalendarInvalid("时间粒度须能整除一天（如 15、30、60 分钟）", field="slot_minutes")
    if data.min_duration_minutes > data.max_duration_minutes:
        raise CalendarInvalid("最短时长不能大于最长时长", field="min_duration_minutes")
    intervals: list[list[int]] = []
    for hours in data.weekly_hours:
        start, end = _minutes(hours.start), _minutes(hours.end)
        if end <= start:
            raise CalendarInvalid("开放结束时间须晚于开始时间", field="weekly_hours", weekday=hours.weekday)
        if start % data.slot_minutes or end % data.slot_minutes:
            raise CalendarInvalid("开放时间须对齐到时间粒度", field="weekly_hours", weekday=hours.weekday)
        intervals.append([hours.weekday, start, end])
    intervals.sort()
    for a, b in itertools.pairwise(intervals):
        if a[0] == b[0] and b[1] < a[2]:
            raise CalendarInvalid("同一天的开放时段不能重叠", field="weekly_hours", weekday=a[0])
    return intervals


async def get_calendar(
    session: AsyncSession, principal: Principal | None, instrument_id: uuid.UUID
) -> CalendarRules:
    async with transaction(session):
        await visible_instrument(session, principal, instrument_id)
        return await load_calendar(session, instrument_id)


async def update_calendar(
    session: AsyncSession, principal: Principal, instrument_id: uuid.UUID, data: CalendarIn
) -> CalendarRules:
    """Replace the instrument's calendar. Existing bookings keep their times."""
    intervals = validate_calendar(data)
    async with transaction(session):
        await managed_instrument(session, principal, instrument_id)
        row = await session.get(InstrumentCalendar, instrument_id)
        audited = data.__struct_fields__
        before = None if row is None else snapshot(row, audited)
        if row is None:
            row = InstrumentCalendar(instrument_id=instrument_id, weekly_hours={"intervals": intervals})
            session.add(row)
        values = {f: getattr(data, f) for f in data.__struct_fields__ if f != "weekly_hours"}
        for name, value in values.items():
            setattr(row, name, value)
        row.weekly_hours = {"intervals": intervals}
        row.updated_by = principal.user_id
        row.updated_at = utcnow()
        await session.flush()
        await record_change(
            session,
            actor_id=principal.user_id,
            entity_type="calendar",
            entity_id=instrument_id,
            action="updated" if before is not None else "created",
            before=before,
            after=snapshot(row, audited),
        )
        await emit(
            session, "booking.calendar_updated", {"instrument_id": instrument_id, "by": principal.user_id}
        )
        return rules_from_row(row)


async def add_closure(
    session: AsyncSession, principal: Principal, instrument_id: uuid.UUID, data: ClosureIn
) -> tuple[Closure, list[uuid.UUID]]:
    if data.start.tzinfo is None or data.end.tzinfo is None:
        raise TimezoneRequired()
    if data.end <= data.start:
        raise InvalidRange()
    if data.start.year < 2000 or data.end.year > 2200:
        raise InvalidRange("停用时段超出合理范围", field="start")
    async with transaction(session):
        await managed_instrument(session, principal, instrument_id)
        row = Closure(
            instrument_id=instrument_id,
            start_at=data.start,
            end_at=data.end,
            reason=data.reason,
            created_by=principal.user_id,
        )
        session.add(row)
        await session.flush()
        await record_change(
            session,
            actor_id=principal.user_id,
            entity_type="closure",
            entity_id=row.id,
            action="created",
            after={"instrument_id": instrument_id, **snapshot(row, CLOSURE_AUDITED)},
        )
        affected = (
            await session.scalars(
                select(Booking.id).where(
                    Booking.instrument_id == instrument_id,
                    holds_slot(),
                    Booking.start_at < data.end,
                    Booking.end_at > data.start,
                )
            )
        ).all()
        await emit(
            session,
            "booking.closure_added",
            {"instrument_id": instrument_id, "closure_id": row.id, "by": principal.user_id},
        )
        return row, list(affected)


async def list_closures(
    session: AsyncSession, principal: Principal | None, instrument_id: uuid.UUID
) -> list[Closure]:
    async with transaction(session):
        await visible_instrument(session, principal, instrument_id)
        rows = await session.scalars(
            select(Closure)
            .where(Closure.instrument_id == instrument_id, Closure.end_at > utcnow())
            .order_by(Closure.start_at)
        )
        return list(rows.all())


async def delete_closure(
    session: AsyncSession, principal: Principal, instrument_id: uuid.UUID, closure_id: uuid.UUID
) -> None:
    async with transaction(session):
        await managed_instrument(session, principal, instrument_id)
        row = await session.get(Closure, closure_id)
        if row is None or row.instrument_id != instrument_id:
            raise NotFound("未找到该停用时段")
        await record_change(
            session,
            actor_id=principal.user_id,
            entity_type="closure",
            entity_id=row.id,
            action="removed",
            before={"instrument_id": instrument_id, **snapshot(row, CLOSURE_AUDITED)},
        )
        await session.delete(row)
        await emit(
            session,
            "booking.closure_removed",
            {"instrument_id": instrument_id, "closure_id": closure_id, "by": principal.user_id},
        )


def parse_moment(value: str | None, *, field: str) -> datetime | None:
    """A query parameter as a moment: a date means Shanghai midnight; a datetime needs an offset."""
    if value is None or value == "":
        return None
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time(0), SHANGHAI)
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput(f"输入有误：{field}", field=field) from exc
    if moment.tzinfo is None:
        raise TimezoneRequired(field=field)
    return moment
