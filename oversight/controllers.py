"""HTTP for oversight: the sensor registry, the readings gateway, thresholds, sessions, daily hours
and live status. Each route parses, calls a service and returns a Struct."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Annotated, Any

from litestar import Controller, Request, get, post, put
from litestar.params import Parameter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from accounts.models import Organization, OrgKind, Role
from catalogue.access import visible_instrument
from catalogue.errors import UnknownUnit
from catalogue.live import LiveStatus
from catalogue.models import Instrument
from oversight import sensors as registry
from oversight import usage
from oversight.errors import NotOverseer
from oversight.ingest import Message, ingest
from oversight.live import live_statuses
from oversight.models import RefusedMessages, Sensor, SensorBinding
from oversight.protocol import Envelope
from oversight.regions import oversees_region
from oversight.schemas import (
    AnnotationIn,
    BindIn,
    BindingOut,
    BoardRowOut,
    DayHoursOut,
    LiveStatusOut,
    ManualSessionIn,
    ReadingBatchIn,
    ReadingBatchOut,
    RefusalCountOut,
    RefusedOut,
    RetireIn,
    SensorCreated,
    SensorIn,
    SensorOut,
    SessionOut,
    ThresholdsIn,
    ThresholdsOut,
)
from oversight.sessions import Thresholds
from oversight.settings import OversightSettings
from oversight.topics import topic_of
from yixiang.clock import shanghai_today
from yixiang.errors import Forbidden

FromDay = Annotated[date | None, Parameter(query="from", description="Shanghai date; default a week ago")]
ToDay = Annotated[date | None, Parameter(query="to", description="Shanghai date, included; default today")]


def sensor_out(sensor: Sensor, history: list[SensorBinding] | None = None) -> SensorOut:
    return SensorOut(
        id=sensor.id,
        instrument_id=sensor.instrument_id,
        unit_id=sensor.unit_id,
        status=sensor.status.value,
        firmware=sensor.firmware,
        signal_dbm=sensor.signal_dbm,
        last_seen_at=sensor.last_seen_at,
        installed_at=sensor.installed_at,
        retired_at=sensor.retired_at,
        topic=topic_of(sensor.id),
        history=None if history is None else [binding_out(b) for b in history],
    )


def binding_out(b: SensorBinding) -> BindingOut:
    return BindingOut(
        action=b.action.value, instrument_id=b.instrument_id, actor_id=b.actor_id, reason=b.reason, at=b.at
    )


def session_out(m: usage.MatchedSession) -> SessionOut:
    s = m.session
    return SessionOut(
        id=s.id,
        instrument_id=s.instrument_id,
        start=s.start_at,
        end=s.end_at,
        minutes=int((s.end_at - s.start_at).total_seconds() // 60),
        energy_wh=round(s.energy_j / 3600),
        source=s.source.value,
        recorded_by=s.recorded_by,
        reason=s.reason,
        annotation=s.annotation.value if s.annotation else None,
        annotation_note=s.annotation_note,
        booking_id=m.booking_id,
        booked_minutes=m.booked_seconds // 60,
        external_minutes=m.external_seconds // 60,
    )


def live_out(instrument_id: uuid.UUID, status: LiveStatus) -> LiveStatusOut:
    return LiveStatusOut(
        instrument_id=instrument_id,
        status=status.status.value,
        since=status.since,
        watts=status.watts,
        last_reading_at=status.last_reading_at,
        booked_now=status.booked_now,
        free_now=status.free_now,
        label=status.label,
    )


def _days(from_: date | None, to: date | None) -> tuple[date, date]:
    last = to or shanghai_today()
    return from_ or last - timedelta(days=6), last


class SensorController(Controller):
    path = "/api/v1/oversight"
    tags = ["oversight"]

    @post(
        "/sensors",
        summary="Register a sensor on an instrument of the caller's unit (its secret is shown once)",
    )
    async def register(
        self, data: SensorIn, request: Request[Any, Any, Any], principal: Principal, db_session: AsyncSession
    ) -> SensorCreated:
        sensor, secret = await registry.register_sensor(
            db_session,
            principal,
            sensor_id=data.sensor_id,
            instrument_id=data.instrument_id,
            secret_key=request.app.state.settings.secret_key,
            firmware=data.firmware,
            reason=data.reason,
        )
        out = sensor_out(sensor)
        return SensorCreated(**{f: getattr(out, f) for f in out.__struct_fields__}, secret=secret)

    @get("/sensors", summary="The sensors of the caller's units")
    async def index(self, principal: Principal, db_session: AsyncSession) -> list[SensorOut]:
        return [sensor_out(s) for s in await registry.unit_sensors(db_session, principal.unit_ids)]

    @get("/sensors/{sensor_id:str}", summary="A sensor of the caller's unit, with its binding history")
    async def show(self, sensor_id: str, principal: Principal, db_session: AsyncSession) -> SensorOut:
        sensor = await registry.managed_sensor(db_session, principal, sensor_id)
        return sensor_out(sensor, await registry.sensor_history(db_session, sensor.id))

    @post(
        "/sensors/{sensor_id:str}/bind",
        summary="Move a sensor to another instrument of its unit",
        status_code=200,
    )
    async def bind(
        self, sensor_id: str, data: BindIn, principal: Principal, db_session: AsyncSession
    ) -> SensorOut:
        sensor = await registry.rebind_sensor(
            db_session, principal, sensor_id, data.instrument_id, data.reason
        )
        return sensor_out(sensor, await registry.sensor_history(db_session, sensor.id))

    @post("/sensors/{sensor_id:str}/retire", summary="Take a sensor out of use (recorded)", status_code=200)
    async def retire(
        self, sensor_id: str, data: RetireIn, principal: Principal, db_session: AsyncSession
    ) -> SensorOut:
        sensor = await registry.retire_sensor(db_session, principal, sensor_id, data.reason)
        return sensor_out(sensor, await registry.sensor_history(db_session, sensor.id))

    @post(
        "/readings",
        summary="A batch of signed sensor messages, for gateways without MQTT (SENSOR_PROTOCOL.md)",
        status_code=200,
    )
    async def readings(
        self, data: ReadingBatchIn, request: Request[Any, Any, Any], db_session: AsyncSession
    ) -> ReadingBatchOut:
        # No sign-in: each message is signed by its own sensor's secret, which is the authority.
        settings = request.app.state.settings
        result = await ingest(
            db_session,
            [Message(Envelope(body=e.body, signature=e.signature)) for e in data.messages],
            secret_key=settings.secret_key,
            future_skew=timedelta(seconds=OversightSettings.of(settings).future_skew_seconds),
            kept_months=OversightSettings.of(settings).readings_kept_months,
        )
        return ReadingBatchOut(
            accepted=result.accepted, refused=[RefusedOut(index=i, reason=r.value) for i, r in result.refused]
        )

    @get("/refusals", summary="Refused sensor messages per day and reason (platform operator)")
    async def refusals(
        self, principal: Principal, db_session: AsyncSession, from_: FromDay = None, to: ToDay = None
    ) -> list[RefusalCountOut]:
        if not principal.is_platform_admin:
            raise Forbidden(required_roles=[Role.platform_admin.value])
        first, last = _days(from_, to)
        rows = await db_session.scalars(
            select(RefusedMessages)
            .where(RefusedMessages.day >= first, RefusedMessages.day <= last)
            .order_by(RefusedMessages.day, RefusedMessages.reason)
        )
        return [RefusalCountOut(day=r.day, reason=r.reason, count=r.count) for r in rows]


class UsageController(Controller):
    path = "/api/v1/oversight"
    tags = ["oversight"]

    @get("/instruments/{instrument_id:uuid}/thresholds", summary="When the instrument counts as running")
    async def thresholds(
        self, instrument_id: uuid.UUID, principal: Principal, db_session: AsyncSession
    ) -> ThresholdsOut:
        await usage.overseen_instrument(db_session, principal, instrument_id)
        return _thresholds_out(await usage.thresholds_for(db_session, instrument_id))

    @put(
        "/instruments/{instrument_id:uuid}/thresholds",
        summary="Set the thresholds (sessions are derived again)",
    )
    async def set_thresholds(
        self, instrument_id: uuid.UUID, data: ThresholdsIn, principal: Principal, db_session: AsyncSession
    ) -> ThresholdsOut:
        monitor = await usage.set_thresholds(
            db_session,
            principal,
            instrument_id,
            Thresholds(
                running_watts=data.running_watts,
                min_session=timedelta(minutes=data.min_session_minutes),
                offline_after=timedelta(minutes=data.offline_after_minutes),
            ),
        )
        return _thresholds_out(monitor)

    @get(
        "/instruments/{instrument_id:uuid}/sessions", summary="Usage sessions, each with its booking or none"
    )
    async def sessions(
        self,
        instrument_id: uuid.UUID,
        principal: Principal,
        db_session: AsyncSession,
        from_: FromDay = None,
        to: ToDay = None,
    ) -> list[SessionOut]:
        await usage.overseen_instrument(db_session, principal, instrument_id)
        start, end = usage.day_range(*_days(from_, to))
        found = await usage.sessions_between(db_session, instrument_id, start, end)
        windows = await usage.booked_windows(db_session, instrument_id, start, end)
        return [session_out(m) for m in usage.match(found, windows)]

    @post(
        "/instruments/{instrument_id:uuid}/sessions",
        summary="Record use by hand (no sensor)",
        status_code=201,
    )
    async def record(
        self, instrument_id: uuid.UUID, data: ManualSessionIn, principal: Principal, db_session: AsyncSession
    ) -> SessionOut:
        s = await usage.record_manual_session(
            db_session, principal, instrument_id, data.start, data.end, data.reason
        )
        windows = await usage.booked_windows(db_session, instrument_id, s.start_at, s.end_at)
        return session_out(usage.match([s], windows)[0])

    @post(
        "/sessions/{session_id:uuid}/annotation",
        summary="Say what a session was (maintenance, calibration ...)",
        status_code=200,
    )
    async def annotate(
        self, session_id: uuid.UUID, data: AnnotationIn, principal: Principal, db_session: AsyncSession
    ) -> SessionOut:
        s = await usage.annotate_session(db_session, principal, session_id, data.annotation, data.note)
        windows = await usage.booked_windows(db_session, s.instrument_id, s.start_at, s.end_at)
        return session_out(usage.match([s], windows)[0])

    @get(
        "/instruments/{instrument_id:uuid}/daily-hours",
        summary="Effective, external and internal hours per day",
    )
    async def daily_hours(
        self,
        instrument_id: uuid.UUID,
        principal: Principal,
        db_session: AsyncSession,
        from_: FromDay = None,
        to: ToDay = None,
    ) -> list[DayHoursOut]:
        await usage.overseen_instrument(db_session, principal, instrument_id)
        first, last = _days(from_, to)
        start, end = usage.day_range(first, last)
        found = await usage.sessions_between(db_session, instrument_id, start, end)
        windows = await usage.booked_windows(db_session, instrument_id, start, end)
        return [
            DayHoursOut(
                day=d.day,
                effective_minutes=d.effective_seconds // 60,
                external_minutes=d.external_seconds // 60,
                internal_minutes=d.internal_seconds // 60,
                booked_minutes=d.booked_seconds // 60,
            )
            for d in usage.daily_hours(found, windows, first, last)
        ]

    @get("/units/{unit_id:uuid}/live-board", summary="A unit's instruments: live status and today's hours")
    async def live_board(
        self, unit_id: uuid.UUID, principal: Principal, db_session: AsyncSession
    ) -> list[BoardRowOut]:
        unit = await db_session.get(Organization, unit_id)
        if unit is None or unit.kind != OrgKind.unit:
            raise UnknownUnit()
        if not (
            unit_id in principal.unit_ids
            or oversees_region(principal, unit.region_code)
            or principal.is_platform_admin
        ):
            raise NotOverseer()
        instruments = list(
            await db_session.scalars(
                select(Instrument).where(Instrument.unit_id == unit_id).order_by(Instrument.name)
            )
        )
        statuses = await live_statuses(db_session, [i.id for i in instruments])
        today = shanghai_today()
        start, end = usage.day_range(today, today)
        rows = []
        for instrument in instruments:
            found = await usage.sessions_between(db_session, instrument.id, start, end)
            minutes = usage.daily_hours(found, [], today, today)[0].effective_seconds // 60
            live = live_out(instrument.id, statuses[instrument.id])
            rows.append(
                BoardRowOut(
                    **{f: getattr(live, f) for f in live.__struct_fields__},
                    name=instrument.name,
                    today_minutes=minutes,
                )
            )
        return rows


class LiveStatusController(Controller):
    path = "/api/v1/instruments"
    tags = ["oversight"]

    @get(
        "/{instrument_id:uuid}/live-status",
        summary="Is the instrument running now (running/standby/off/offline/no_sensor)",
    )
    async def live_status(
        self, instrument_id: uuid.UUID, maybe_principal: Principal | None, db_session: AsyncSession
    ) -> LiveStatusOut:
        instrument = await visible_instrument(db_session, maybe_principal, instrument_id)
        statuses = await live_statuses(db_session, [instrument.id])
        return live_out(instrument.id, statuses[instrument.id])


def _thresholds_out(monitor: Any) -> ThresholdsOut:
    return ThresholdsOut(
        instrument_id=monitor.instrument_id,
        running_watts=monitor.running_watts,
        min_session_minutes=monitor.min_session_minutes,
        offline_after_minutes=monitor.offline_after_minutes,
    )
