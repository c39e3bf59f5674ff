"""Structs the oversight API speaks."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

import msgspec

from oversight.models import SENSOR_ID_PATTERN, Annotation, ExplanationReason
from oversight.protocol import MAX_BODY_CHARS
from yixiang.schemas import Input, Moment, Output

SensorId = Annotated[str, msgspec.Meta(pattern=SENSOR_ID_PATTERN, description="3–64 letters, digits, - or _")]
Reason = Annotated[str, msgspec.Meta(max_length=200)]


class SensorIn(Input):
    sensor_id: SensorId
    instrument_id: uuid.UUID
    firmware: Annotated[str, msgspec.Meta(max_length=64)] = ""
    reason: Reason = ""


class BindIn(Input):
    instrument_id: uuid.UUID
    reason: Reason = ""


class RetireIn(Input):
    reason: Annotated[str, msgspec.Meta(min_length=2, max_length=200)]


class BindingOut(Output):
    action: str
    instrument_id: uuid.UUID | None
    actor_id: uuid.UUID | None
    reason: str
    at: datetime


class SensorOut(Output):
    id: str
    instrument_id: uuid.UUID | None
    unit_id: uuid.UUID
    status: str
    firmware: str
    signal_dbm: int | None
    last_seen_at: datetime | None
    installed_at: datetime
    retired_at: datetime | None
    topic: str
    history: list[BindingOut] | None = None


class SensorCreated(SensorOut):
    # shown this once: the sensor signs its messages with it (SENSOR_PROTOCOL.md)
    secret: str = ""


class EnvelopeIn(Input):
    """A signed message (SENSOR_PROTOCOL.md): the reading as JSON text, and its signature."""

    body: Annotated[str, msgspec.Meta(max_length=MAX_BODY_CHARS)]
    signature: Annotated[str, msgspec.Meta(max_length=128)] = ""


class ReadingBatchIn(Input):
    messages: Annotated[list[EnvelopeIn], msgspec.Meta(min_length=1, max_length=1000)]


class RefusedOut(Output):
    index: int
    reason: str


class ReadingBatchOut(Output):
    accepted: int
    refused: list[RefusedOut]


class ThresholdsIn(Input):
    running_watts: Annotated[int, msgspec.Meta(ge=1, le=10_000_000)]
    min_session_minutes: Annotated[int, msgspec.Meta(ge=0, le=24 * 60)]
    offline_after_minutes: Annotated[int, msgspec.Meta(ge=1, le=24 * 60)]


class ThresholdsOut(Output):
    instrument_id: uuid.UUID
    running_watts: int
    min_session_minutes: int
    offline_after_minutes: int


class ManualSessionIn(Input):
    start: Moment
    end: Moment
    reason: Annotated[str, msgspec.Meta(min_length=2, max_length=200)]


class AnnotationIn(Input):
    annotation: Annotation | None
    note: Reason = ""


class SessionOut(Output):
    id: uuid.UUID
    instrument_id: uuid.UUID
    start: datetime
    end: datetime
    minutes: int
    energy_wh: int
    source: str
    recorded_by: uuid.UUID | None
    reason: str
    annotation: str | None
    annotation_note: str
    booking_id: uuid.UUID | None  # the confirmed machine-time booking this use falls in; None: internal
    booked_minutes: int
    external_minutes: int


class DayHoursOut(Output):
    day: date
    effective_minutes: int
    external_minutes: int
    internal_minutes: int
    booked_minutes: int


class LiveStatusOut(Output):
    instrument_id: uuid.UUID
    status: str  # running | standby | off | offline | no_sensor
    since: datetime | None
    watts: int | None
    last_reading_at: datetime | None
    booked_now: bool  # a confirmed machine-time booking covers this moment
    free_now: bool  # 现在空闲: standby or off, and not booked now
    label: str  # in words: 运行中, 现在空闲, 传感器离线 ...


class BoardRowOut(LiveStatusOut):
    name: str
    today_minutes: int


class RefusalCountOut(Output):
    day: date
    reason: str
    count: int


class ExplanationIn(Input):
    reason: ExplanationReason
    text: Annotated[str, msgspec.Meta(min_length=2, max_length=1000)]


class ExplanationDecisionIn(Input):
    accept: bool
    note: Annotated[str, msgspec.Meta(max_length=500)] = ""


class ExplanationOut(Output):
    id: uuid.UUID
    case_id: uuid.UUID
    reason: str
    text: str
    filed_by: uuid.UUID
    filed_at: datetime
    decision: str  # pending | accepted | rejected
    decided_at: datetime | None
    decision_note: str


class IdleCaseOut(Output):
    id: uuid.UUID
    instrument_id: uuid.UUID
    instrument_name: str
    unit_id: uuid.UUID
    region_code: str
    idle_since: datetime
    months: int  # whole months not run, as of now
    level: int  # 1 提醒, 3 内部资产划转, 6 通报批评: the highest step reached
    source: str  # sessions (sensor and manual) | bookings (no sensor: completed bookings)
    reminded_at: datetime | None
    transfer_listed_at: datetime | None
    criticism_listed_at: datetime | None
    excused: bool  # an explanation was accepted
    cleared_at: datetime | None
    explanations: list[ExplanationOut]


class OverdueOut(Output):
    instrument_id: uuid.UUID
    instrument_name: str
    unit_id: uuid.UUID
    unit_name: str
    region_code: str
    listed_on: date  # first publication (入网), Asia/Shanghai
    due: date  # sensor: 30 working days after listing; service information: 3 months after
    days_overdue: int
    missing: list[str]  # service information: 服务方式, 服务内容, 服务流程, 收费标准
