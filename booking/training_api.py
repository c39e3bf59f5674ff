"""HTTP routes of training requests: ask, list, and (the instrument's unit) schedule and decide."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

import msgspec
from litestar import Controller, get, post
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal, requires_user
from booking import training
from booking.models import TrainingRequest, TrainingStatus
from yixiang.schemas import Input, Moment, Output

Note = Annotated[str, msgspec.Meta(max_length=500)]


class TrainingRequestIn(Input):
    instrument_id: uuid.UUID
    note: Note = ""  # e.g. what the researcher wants to measure, when they are free


class TrainingScheduleIn(Input):
    start: Moment
    end: Moment
    place: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class TrainingResultIn(Input):
    passed: bool
    note: Note = ""
    expires_on: date | None = None  # of the qualification a pass grants; default a year


class TrainingRequestOut(Output):
    id: uuid.UUID
    user_id: uuid.UUID
    instrument_id: uuid.UUID
    unit_id: uuid.UUID
    status: TrainingStatus
    status_text: str
    note: str
    session_start: datetime | None
    session_end: datetime | None
    place: str
    result_note: str
    qualification_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime


def training_out(row: TrainingRequest) -> TrainingRequestOut:
    return TrainingRequestOut(
        id=row.id,
        user_id=row.user_id,
        instrument_id=row.instrument_id,
        unit_id=row.unit_id,
        status=row.status,
        status_text=training.STATUS_TEXT[row.status],
        note=row.note,
        session_start=row.session_start,
        session_end=row.session_end,
        place=row.place,
        result_note=row.result_note,
        qualification_id=row.qualification_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class TrainingController(Controller):
    path = "/api/v1/training-requests"
    tags = ["bookings"]
    guards = [requires_user]

    @post("/", summary="Ask for the training self-operation of an instrument requires")
    async def create(
        self, data: TrainingRequestIn, principal: Principal, db_session: AsyncSession
    ) -> TrainingRequestOut:
        return training_out(
            await training.request_training(db_session, principal, data.instrument_id, data.note)
        )

    @get("/", summary="My training requests, or (unit=...) those to a unit I am staff of")
    async def index(
        self, principal: Principal, db_session: AsyncSession, unit: uuid.UUID | None = None
    ) -> list[TrainingRequestOut]:
        return [training_out(r) for r in await training.list_training(db_session, principal, unit)]

    @post(
        "/{request_id:uuid}/schedule", status_code=200, summary="Provider: set the session's time and place"
    )
    async def schedule(
        self, request_id: uuid.UUID, data: TrainingScheduleIn, principal: Principal, db_session: AsyncSession
    ) -> TrainingRequestOut:
        row = await training.schedule_training(
            db_session, principal, request_id, data.start, data.end, data.place
        )
        return training_out(row)

    @post(
        "/{request_id:uuid}/result",
        status_code=200,
        summary="Provider: record passed or failed; a pass grants the qualification",
    )
    async def result(
        self, request_id: uuid.UUID, data: TrainingResultIn, principal: Principal, db_session: AsyncSession
    ) -> TrainingRequestOut:
        row = await training.record_result(
            db_session, principal, request_id, data.passed, data.note, data.expires_on
        )
        return training_out(row)

    @post("/{request_id:uuid}/cancel", status_code=200, summary="Withdraw my request not yet decided")
    async def cancel(
        self, request_id: uuid.UUID, principal: Principal, db_session: AsyncSession
    ) -> TrainingRequestOut:
        return training_out(await training.cancel_training(db_session, principal, request_id))
