"""The sensor registry: register a sensor on an instrument, move it, retire it — each step recorded
in ``oversight_sensor_bindings`` with who, when and why.

Provider staff and unit admins manage their own unit's sensors; the command line
(``yixiang oversight sensor add``) acts as the system (no actor). An instrument has at most one
active sensor (its monitor row's lock orders concurrent registrations); an instrument retired
(报废) loses its sensor (seed 004: 大仪报废时同步移除传感器), through the catalogue's
``catalogue.instrument_changed`` event.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from catalogue.access import is_staff_of, managed_instrument
from catalogue.errors import InstrumentNotFound
from catalogue.models import Instrument, InstrumentStatus
from oversight.errors import (
    InstrumentHasSensor,
    InstrumentRetired,
    SensorIdTaken,
    SensorNotFound,
    SensorRetired,
)
from oversight.models import BindingAction, Sensor, SensorBinding, SensorStatus
from oversight.secrets import new_sensor_secret, seal
from oversight.session_upkeep import monitor_for_update
from yixiang.db import transaction, utcnow
from yixiang.locking import lock_row


async def _instrument_for(
    session: AsyncSession, actor: Principal | None, instrument_id: uuid.UUID
) -> Instrument:
    if actor is None:
        instrument = await session.get(Instrument, instrument_id)
        if instrument is None:
            raise InstrumentNotFound()
    else:
        instrument = await managed_instrument(session, actor, instrument_id)
    if instrument.status == InstrumentStatus.retired:
        raise InstrumentRetired()
    return instrument


async def _claim_instrument(session: AsyncSession, instrument_id: uuid.UUID, sensor_id: str) -> None:
    """Lock the instrument's monitor; refuse when another active sensor is on it."""
    await monitor_for_update(session, instrument_id)
    other = await session.scalar(
        select(Sensor.id).where(
            Sensor.instrument_id == instrument_id,
            Sensor.status == SensorStatus.active,
            Sensor.id != sensor_id,
        )
    )
    if other is not None:
        raise InstrumentHasSensor(sensor_id=other)


async def register_sensor(
    session: AsyncSession,
    actor: Principal | None,
    *,
    sensor_id: str,
    instrument_id: uuid.UUID,
    secret_key: str,
    firmware: str = "",
    reason: str = "",
) -> tuple[Sensor, str]:
    """A new sensor (or a retired one put back into use) on the instrument, with a new secret.
    Returns the sensor and its secret, which is shown this once and never again."""
    secret = new_sensor_secret()
    async with transaction(session):
        instrument = await _instrument_for(session, actor, instrument_id)
        await _claim_instrument(session, instrument.id, sensor_id)
        sensor = await lock_row(session, Sensor, sensor_id)
        if sensor is not None and sensor.status == SensorStatus.active:
            raise SensorIdTaken()
        if sensor is None:
            sensor = Sensor(id=sensor_id, unit_id=instrument.unit_id, secret_sealed=b"")
            session.add(sensor)
        sensor.instrument_id, sensor.unit_id = instrument.id, instrument.unit_id
        sensor.status, sensor.retired_at, sensor.installed_at = SensorStatus.active, None, utcnow()
        sensor.secret_sealed = seal(secret, secret_key, sensor_id)
        sensor.firmware = firmware
        sensor.created_by = actor.user_id if actor else None
        await session.flush()
        session.add(_history(sensor, BindingAction.bound, actor, reason))
    return sensor, secret


async def managed_sensor(
    session: AsyncSession, actor: Principal, sensor_id: str, *, for_update: bool = False
) -> Sensor:
    """A sensor of the caller's own unit; any other does not exist for the caller (404)."""
    sensor = await (lock_row(session, Sensor, sensor_id) if for_update else session.get(Sensor, sensor_id))
    if sensor is None or not (is_staff_of(actor, sensor.unit_id) or actor.is_platform_admin):
        raise SensorNotFound()
    return sensor


async def rebind_sensor(
    session: AsyncSession, actor: Principal, sensor_id: str, instrument_id: uuid.UUID, reason: str
) -> Sensor:
    """Move an active sensor to another instrument of its unit."""
    async with transaction(session):
        sensor = await managed_sensor(session, actor, sensor_id, for_update=True)
        if sensor.status != SensorStatus.active:
            raise SensorRetired()
        instrument = await _instrument_for(session, actor, instrument_id)
        if instrument.unit_id != sensor.unit_id:
            raise InstrumentNotFound()
        if instrument.id != sensor.instrument_id:
            await _claim_instrument(session, instrument.id, sensor.id)
            sensor.instrument_id = instrument.id
            session.add(_history(sensor, BindingAction.rebound, actor, reason))
    return sensor


async def retire_sensor(
    session: AsyncSession, actor: Principal | None, sensor_id: str, reason: str
) -> Sensor:
    async with transaction(session):
        sensor = (
            await lock_row(session, Sensor, sensor_id)
            if actor is None
            else await managed_sensor(session, actor, sensor_id, for_update=True)
        )
        if sensor is None:
            raise SensorNotFound()
        if sensor.status == SensorStatus.active:
            _retire(session, sensor, actor, reason)
    return sensor


def _retire(session: AsyncSession, sensor: Sensor, actor: Principal | None, reason: str) -> None:
    sensor.status, sensor.retired_at = SensorStatus.retired, utcnow()
    session.add(_history(sensor, BindingAction.retired, actor, reason))


async def retire_sensors_of_retired_instruments(
    session: AsyncSession, instrument_ids: Iterable[uuid.UUID]
) -> int:
    """Retire the active sensors of those instruments that are now retired (报废). Idempotent:
    a replayed event finds nothing left to do."""
    ids = sorted(set(instrument_ids))
    if not ids:
        return 0
    async with transaction(session):
        sensors = list(
            await session.scalars(
                select(Sensor)
                .join(Instrument, Instrument.id == Sensor.instrument_id)
                .where(
                    Sensor.instrument_id.in_(ids),
                    Sensor.status == SensorStatus.active,
                    Instrument.status == InstrumentStatus.retired,
                )
                .order_by(Sensor.id)
                .with_for_update(of=Sensor)
            )
        )
        for sensor in sensors:
            _retire(session, sensor, None, "仪器已报废，传感器同步移除")
    return len(sensors)


async def sensor_history(session: AsyncSession, sensor_id: str) -> list[SensorBinding]:
    return list(
        await session.scalars(
            select(SensorBinding).where(SensorBinding.sensor_id == sensor_id).order_by(SensorBinding.id)
        )
    )


async def unit_sensors(session: AsyncSession, unit_ids: Iterable[uuid.UUID]) -> list[Sensor]:
    return list(
        await session.scalars(select(Sensor).where(Sensor.unit_id.in_(list(unit_ids))).order_by(Sensor.id))
    )


def _history(sensor: Sensor, action: BindingAction, actor: Principal | None, reason: str) -> SensorBinding:
    return SensorBinding(
        sensor_id=sensor.id,
        action=action,
        instrument_id=sensor.instrument_id,
        actor_id=actor.user_id if actor else None,
        reason=reason[:200],
        at=utcnow(),
    )
