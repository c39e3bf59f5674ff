"""Idle escalation (seed 004 §动态监管): an instrument not run for one, three and six consecutive
months is, in turn, reminded to its unit (提醒或说明: the unit may explain), listed for internal
transfer (内部资产划转), and its unit listed for public criticism (通报批评).

A periodic job (:func:`check_idle`) works from the records: an instrument with a sensor from its
usage sessions (sensor and manual); one without a sensor from its manual sessions and completed
bookings — the case says which (``source``). Never used: counted from its listing. Each step is
stamped once on the case and announced once on the outbox (``oversight.idle_step``, keyed by case
and step) for the notifications. An explanation the bureau accepts (正当理由: maintenance, awaiting
repair, project schedule, customs restriction) stops the further steps; a new use clears the case.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from booking.models import Booking, BookingStatus
from catalogue.access import is_staff_of
from catalogue.models import Instrument, InstrumentStatus, PublicationStatus
from catalogue.workdays import load_working_day_calendar
from oversight.deadlines import sensor_due
from oversight.errors import ExplanationDecided, IdleCaseNotFound, NotRegionBureau
from oversight.models import (
    ExplanationDecision,
    ExplanationReason,
    IdleCase,
    IdleExplanation,
    IdleLevel,
    IdleSource,
    Sensor,
    SensorStatus,
    UsageSession,
)
from oversight.months import idle_months
from oversight.regions import bureau_region_clause, oversees_region
from yixiang.clock import shanghai_date
from yixiang.db import transaction, utcnow
from yixiang.locking import lock_row
from yixiang.outbox import emit

IDLE_CHECK_DUE = "oversight.idle_check_due"  # periodic: find idle instruments
IDLE_STEP = "oversight.idle_step"  # an instrument reached a step: notify its unit (and the bureau)
IDLE_CLEARED = "oversight.idle_cleared"
USED_BOOKINGS = (BookingStatus.completed, BookingStatus.delivered, BookingStatus.rated)
STEPS = (
    (IdleLevel.reminder, "reminded_at"),
    (IdleLevel.transfer, "transfer_listed_at"),
    (IdleLevel.criticism, "criticism_listed_at"),
)


def level_of(months: int) -> IdleLevel:
    return next((level for level in reversed(IdleLevel) if months >= level.value), IdleLevel.none)


async def _last_uses(session: AsyncSession, ids: list[uuid.UUID]) -> tuple[dict[Any, Any], dict[Any, Any]]:
    by_sessions = dict(
        (
            await session.execute(
                select(UsageSession.instrument_id, func.max(UsageSession.end_at))
                .where(UsageSession.instrument_id.in_(ids), UsageSession.counted.is_(True))
                .group_by(UsageSession.instrument_id)
            )
        ).all()
    )
    by_bookings = dict(
        (
            await session.execute(
                select(
                    Booking.instrument_id,
                    func.max(func.coalesce(Booking.actual_end, Booking.end_at, Booking.updated_at)),
                )
                .where(Booking.instrument_id.in_(ids), Booking.status.in_(USED_BOOKINGS))
                .group_by(Booking.instrument_id)
            )
        ).all()
    )
    return by_sessions, by_bookings


async def check_idle(
    session: AsyncSession, now: datetime | None = None, instrument_ids: list[uuid.UUID] | None = None
) -> list[IdleCase]:
    """Open, escalate and clear the idle cases of listed, in-service instruments (or of those
    given). Idempotent: run again, it stamps and announces nothing twice. Returns the open cases."""
    now = now or utcnow()
    async with transaction(session):
        query = select(
            Instrument.id,
            Instrument.unit_id,
            Instrument.region_code,
            Instrument.published_at,
            Instrument.created_at,
        ).where(
            Instrument.status == InstrumentStatus.in_service,
            Instrument.publication == PublicationStatus.published,
        )
        if instrument_ids is not None:
            query = query.where(Instrument.id.in_(instrument_ids))
        instruments = (await session.execute(query.order_by(Instrument.id))).all()
        calendar = await load_working_day_calendar(session)
        ids = [i.id for i in instruments]
        opened: list[IdleCase] = []
        for first in range(0, len(ids), 500):
            chunk = instruments[first : first + 500]
            chunk_ids = ids[first : first + 500]
            with_sensor = set(
                await session.scalars(
                    select(Sensor.instrument_id).where(
                        Sensor.instrument_id.in_(chunk_ids), Sensor.status == SensorStatus.active
                    )
                )
            )
            by_sessions, by_bookings = await _last_uses(session, chunk_ids)
            cases = {
                c.instrument_id: c
                for c in await session.scalars(
                    select(IdleCase)
                    .where(IdleCase.instrument_id.in_(chunk_ids), IdleCase.cleared_at.is_(None))
                    .with_for_update()
                )
            }
            for row in chunk:
                if row.id in with_sensor:
                    source, used = IdleSource.sessions, by_sessions.get(row.id)
                elif shanghai_date(now) > sensor_due(row.published_at or row.created_at, calendar):
                    continue  # no sensor past its deadline: listed as such (oversight.deadlines), not idle
                else:
                    uses = [u for u in (by_sessions.get(row.id), by_bookings.get(row.id)) if u is not None]
                    source, used = IdleSource.bookings, max(uses, default=None)
                since = used or row.published_at or row.created_at
                case = cases.get(row.id)
                if case is not None and case.idle_since < since:  # used again since the case opened
                    case.cleared_at = now
                    await emit(
                        session,
                        IDLE_CLEARED,
                        _payload(case, IdleLevel.none),
                        key=f"oversight-idle:{case.id}:cleared",
                    )
                    case = None
                level = level_of(idle_months(since, now))
                if level == IdleLevel.none:
                    continue
                if case is None:
                    case = IdleCase(
                        instrument_id=row.id,
                        unit_id=row.unit_id,
                        region_code=row.region_code,
                        idle_since=since,
                        source=source,
                    )
                    session.add(case)
                    await session.flush()
                await _escalate(session, case, level, now)
                opened.append(case)
    return opened


async def _escalate(session: AsyncSession, case: IdleCase, level: IdleLevel, now: datetime) -> None:
    for step, stamp in STEPS:
        if level < step or getattr(case, stamp) is not None:
            continue
        if step > IdleLevel.reminder and case.excused:
            break  # 正当理由 accepted: no transfer, no criticism
        setattr(case, stamp, now)
        case.level = step.value
        await emit(session, IDLE_STEP, _payload(case, step), key=f"oversight-idle:{case.id}:{step.value}")


def _payload(case: IdleCase, step: IdleLevel) -> dict[str, Any]:
    return {
        "case_id": case.id,
        "instrument_id": case.instrument_id,
        "unit_id": case.unit_id,
        "region_code": case.region_code,
        "level": step.value,
        "idle_since": case.idle_since,
        "source": case.source.value,
    }


# --- who sees what, explanations -------------------------------------------------------------------
def can_read_case(principal: Principal, case: IdleCase) -> bool:
    return (
        is_staff_of(principal, case.unit_id)
        or oversees_region(principal, case.region_code)
        or principal.is_platform_admin
    )


async def visible_cases(
    session: AsyncSession, principal: Principal, level: int | None = None, include_cleared: bool = False
) -> list[tuple[IdleCase, str, list[IdleExplanation]]]:
    """The caller's units' cases, the caller's regions' for a bureau, all for the operator."""
    query = select(IdleCase, Instrument.name).join(Instrument, Instrument.id == IdleCase.instrument_id)
    if not principal.is_platform_admin:
        query = query.where(
            IdleCase.unit_id.in_(principal.unit_ids) | bureau_region_clause(principal, IdleCase.region_code)
        )
    if level is not None:
        query = query.where(IdleCase.level >= level)
    if not include_cleared:
        query = query.where(IdleCase.cleared_at.is_(None))
    rows = (await session.execute(query.order_by(IdleCase.idle_since, IdleCase.id).limit(1000))).all()
    explanations: dict[uuid.UUID, list[IdleExplanation]] = {}
    if rows:
        for e in await session.scalars(
            select(IdleExplanation)
            .where(IdleExplanation.case_id.in_([c.id for c, _ in rows]))
            .order_by(IdleExplanation.filed_at)
        ):
            explanations.setdefault(e.case_id, []).append(e)
    return [(c, name, explanations.get(c.id, [])) for c, name in rows]


async def explain(
    session: AsyncSession, principal: Principal, case_id: uuid.UUID, reason: ExplanationReason, text: str
) -> IdleExplanation:
    """The unit's staff file an explanation (说明) of an open case."""
    async with transaction(session):
        case = await lock_row(session, IdleCase, case_id)
        if case is None or case.cleared_at is not None or not is_staff_of(principal, case.unit_id):
            raise IdleCaseNotFound()
        explanation = IdleExplanation(
            case_id=case.id, reason=reason, text=text, filed_by=principal.user_id, filed_at=utcnow()
        )
        session.add(explanation)
        await session.flush()
    return explanation


async def decide(
    session: AsyncSession, principal: Principal, explanation_id: uuid.UUID, accept: bool, note: str
) -> IdleExplanation:
    """The science bureau of the instrument's region accepts (正当理由) or rejects a pending explanation."""
    async with transaction(session):
        explanation = await lock_row(session, IdleExplanation, explanation_id)
        case = await lock_row(session, IdleCase, explanation.case_id) if explanation else None
        if explanation is None or case is None or not can_read_case(principal, case):
            raise IdleCaseNotFound()
        if not oversees_region(principal, case.region_code):
            raise NotRegionBureau()
        if explanation.decision != ExplanationDecision.pending:
            raise ExplanationDecided()
        explanation.decision = ExplanationDecision.accepted if accept else ExplanationDecision.rejected
        explanation.decided_by, explanation.decided_at, explanation.decision_note = (
            principal.user_id,
            utcnow(),
            note,
        )
        if accept:
            case.excused = True
    return explanation
