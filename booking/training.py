"""Training requests (培训申请): a researcher asks for the qualification self-operation of an
instrument requires; the instrument's unit schedules a session (time, place) and records the
result; a pass grants the qualification through ``booking.qualifications.grant_qualification``
(the same record and event a hand grant makes). Each step notifies the researcher (outbox)."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from accounts.models import User
from booking.bookable import load_bookable
from booking.errors import InvalidRange, ModeNotOffered, NotProviderStaff, TimezoneRequired
from booking.models import TRAINING_OPEN, TrainingRequest, TrainingStatus
from booking.qualifications import grant_qualification, has_valid_qualification
from booking.schemas import QualificationIn
from catalogue.access import is_staff_of
from catalogue.models import Instrument
from yixiang.clock import SHANGHAI, shanghai_today
from yixiang.db import transaction, utcnow
from yixiang.errors import Conflict, NotFound
from yixiang.locking import lock_row
from yixiang.outbox import emit

SCHEDULED = "training.scheduled"  # notification: a session was set (or moved)
DECIDED = "training.decided"  # notification: passed or failed
QUALIFICATION_DAYS = 365  # a pass qualifies for a year unless the provider says otherwise

STATUS_TEXT = {
    TrainingStatus.requested: "已申请，待安排培训",
    TrainingStatus.scheduled: "已安排培训",
    TrainingStatus.passed: "培训通过，已获上机资格",
    TrainingStatus.failed: "培训未通过",
    TrainingStatus.cancelled: "已取消",
}


class TrainingRequestNotFound(NotFound):
    code = "training_request_not_found"
    message = "未找到该培训申请"


class AlreadyQualified(Conflict):
    code = "already_qualified"
    message = "您已具备该仪器的自主上机资格，无需培训"


class TrainingAlreadyRequested(Conflict):
    code = "training_already_requested"
    message = "您已申请过该仪器的培训，请等待安排"


class TrainingNotOpen(Conflict):
    code = "training_not_open"
    message = "该培训申请已结束，不能再安排或记录结果"


async def request_training(
    session: AsyncSession,
    principal: Principal,
    instrument_id: uuid.UUID,
    note: str,
    *,
    now: datetime | None = None,
) -> TrainingRequest:
    now = now or utcnow()
    async with transaction(session):
        instrument = await load_bookable(session, principal, instrument_id)
        if not instrument.self_operation:
            raise ModeNotOffered(mode="machine_time", operation="self")
        if await has_valid_qualification(session, principal.user_id, instrument, shanghai_today(now)):
            raise AlreadyQualified()
        earlier = await session.scalar(
            select(TrainingRequest.id).where(
                TrainingRequest.user_id == principal.user_id,
                TrainingRequest.instrument_id == instrument_id,
                TrainingRequest.status.in_(TRAINING_OPEN),
            )
        )
        if earlier is not None:
            raise TrainingAlreadyRequested(training_request_id=str(earlier))
        row = TrainingRequest(
            id=uuid.uuid4(),
            user_id=principal.user_id,
            instrument_id=instrument.id,
            unit_id=instrument.unit_id,
            status=TrainingStatus.requested,
            note=note,
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        await session.flush()
        await emit(session, "training.requested", await _payload(session, row))
        return row


async def _for_staff(session: AsyncSession, principal: Principal, request_id: uuid.UUID) -> TrainingRequest:
    row = await lock_row(session, TrainingRequest, request_id)
    if row is None or not (is_staff_of(principal, row.unit_id) or row.user_id == principal.user_id):
        raise TrainingRequestNotFound()
    if not is_staff_of(principal, row.unit_id):
        raise NotProviderStaff()
    if row.status not in TRAINING_OPEN:
        raise TrainingNotOpen(status=row.status.value)
    return row


async def schedule_training(
    session: AsyncSession,
    principal: Principal,
    request_id: uuid.UUID,
    start: datetime,
    end: datetime,
    place: str,
    *,
    now: datetime | None = None,
) -> TrainingRequest:
    """Set (or move) the session; the researcher is told when and where."""
    now = now or utcnow()
    if start.tzinfo is None or end.tzinfo is None:
        raise TimezoneRequired()
    if end <= start or end - start > timedelta(days=1):
        raise InvalidRange()
    async with transaction(session):
        row = await _for_staff(session, principal, request_id)
        row.status, row.session_start, row.session_end, row.place = (
            TrainingStatus.scheduled,
            start,
            end,
            place,
        )
        row.decided_by, row.updated_at = principal.user_id, now
        await session.flush()
        await emit(session, SCHEDULED, await _payload(session, row))
        return row


async def record_result(
    session: AsyncSession,
    principal: Principal,
    request_id: uuid.UUID,
    passed: bool,
    note: str,
    expires_on: date | None = None,
    *,
    now: datetime | None = None,
) -> TrainingRequest:
    """Passed: the qualification is granted (until ``expires_on``, a year by default); failed:
    the note says why. Either way the researcher is told."""
    now = now or utcnow()
    async with transaction(session):
        row = await _for_staff(session, principal, request_id)
        row.status = TrainingStatus.passed if passed else TrainingStatus.failed
        row.result_note, row.decided_by, row.updated_at = note, principal.user_id, now
        if passed:
            user = await session.get(User, row.user_id)
            assert user is not None  # a foreign key guarantees it
            qualification = await grant_qualification(
                session,
                principal,
                QualificationIn(
                    username=user.username,
                    instrument_id=row.instrument_id,
                    expires_on=expires_on or shanghai_today(now) + timedelta(days=QUALIFICATION_DAYS),
                    note=f"培训通过：{note}"[:200],
                ),
            )
            row.qualification_id = qualification.id
        await session.flush()
        await emit(session, DECIDED, await _payload(session, row))
        return row


async def cancel_training(
    session: AsyncSession, principal: Principal, request_id: uuid.UUID, *, now: datetime | None = None
) -> TrainingRequest:
    """The researcher withdraws a request not yet decided."""
    now = now or utcnow()
    async with transaction(session):
        row = await lock_row(session, TrainingRequest, request_id)
        if row is None or row.user_id != principal.user_id:
            raise TrainingRequestNotFound()
        if row.status not in TRAINING_OPEN:
            raise TrainingNotOpen(status=row.status.value)
        row.status, row.updated_at = TrainingStatus.cancelled, now
        return row


async def list_training(
    session: AsyncSession, principal: Principal, unit_id: uuid.UUID | None
) -> list[TrainingRequest]:
    """My requests, or (``unit_id``) the requests to a unit I am staff of."""
    async with transaction(session, read_only=True):
        query = select(TrainingRequest).order_by(TrainingRequest.created_at.desc()).limit(500)
        if unit_id is None:
            query = query.where(TrainingRequest.user_id == principal.user_id)
        else:
            if not is_staff_of(principal, unit_id):
                raise NotProviderStaff()
            query = query.where(TrainingRequest.unit_id == unit_id)
        return list((await session.scalars(query)).all())


async def _payload(session: AsyncSession, row: TrainingRequest) -> dict[str, Any]:
    instrument = await session.get(Instrument, row.instrument_id)
    summary = STATUS_TEXT[row.status]
    if row.status == TrainingStatus.scheduled and row.session_start is not None:
        start = row.session_start.astimezone(SHANGHAI)
        summary = f"培训安排在{start.month}月{start.day}日 {start:%H:%M}，{row.place}"
    elif row.result_note:
        summary = f"{summary}：{row.result_note}"
    return {
        "training_request_id": row.id,
        "user_id": row.user_id,
        "unit_id": row.unit_id,
        "instrument_id": row.instrument_id,
        "instrument_name": instrument.name if instrument else "",
        "status": row.status.value,
        "start": row.session_start.isoformat() if row.session_start else None,
        "end": row.session_end.isoformat() if row.session_end else None,
        "address": row.place,
        "summary": summary,
    }
