"""Deadlines that listing starts (seed 004): the IoT sensor installed and commissioned within 30
working days of listing (大仪入网30个工作日内，完成物联网传感器安装调试), and the service
information complete within 3 months (3个月内完善服务方式、内容、流程和收费标准). Working days
are the catalogue's calendar (holidays, make-up days, the operator's overrides); months are
calendar months in Asia/Shanghai. Listing is the first publication (``published_at``).

Complete service information, as the platform can check it from the instrument's record:
- 服务方式 (how it is offered): at least one active service item;
- 服务内容 (what is offered): the instrument's technical specifications (主要技术指标);
- 服务流程 (how to use it): a contact (name and phone) and, when it takes samples, the sample
  requirements (样品要求);
- 收费标准 (fees): the published fee basis, and every active item priced.

An instrument without a sensor past its deadline is listed here, not as idle (``oversight.idle``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from accounts.models import Organization
from catalogue.models import Instrument, InstrumentStatus, PublicationStatus
from catalogue.workdays import WorkingDayCalendar, load_working_day_calendar
from oversight.models import Sensor, SensorStatus
from oversight.months import add_months
from oversight.regions import bureau_region_clause
from yixiang.clock import shanghai_date, shanghai_today

SENSOR_WORKING_DAYS = 30
SERVICE_INFO_MONTHS = 3


def sensor_due(published_at: datetime, calendar: WorkingDayCalendar) -> date:
    return calendar.add_working_days(shanghai_date(published_at), SENSOR_WORKING_DAYS)


def service_info_due(published_at: datetime) -> date:
    return add_months(shanghai_date(published_at), SERVICE_INFO_MONTHS)


def missing_service_info(instrument: Instrument) -> list[str]:
    """What the record still lacks, in the seed's words (empty: complete)."""
    items = [i for i in instrument.service_items if i.active]
    missing = []
    if not items:
        missing.append("服务方式")
    if not instrument.specifications:
        missing.append("服务内容")
    if not (instrument.contact_name and instrument.contact_phone) or (
        instrument.sample_testing and not instrument.sample_requirements.strip()
    ):
        missing.append("服务流程")
    if not instrument.fee_basis.strip() or not items or any(i.external_price_fen <= 0 for i in items):
        missing.append("收费标准")
    return missing


async def instruments_with_sensor(session: AsyncSession, ids: list[uuid.UUID]) -> set[uuid.UUID]:
    found: set[uuid.UUID] = set()
    for first in range(0, len(ids), 500):
        found |= {
            i
            for i in await session.scalars(
                select(Sensor.instrument_id).where(
                    Sensor.instrument_id.in_(ids[first : first + 500]), Sensor.status == SensorStatus.active
                )
            )
            if i is not None
        }
    return found


@dataclass(frozen=True)
class Overdue:
    instrument_id: uuid.UUID
    name: str
    unit_id: uuid.UUID
    unit_name: str
    region_code: str
    listed_on: date
    due: date
    days_overdue: int  # calendar days since the deadline
    missing: list[str]  # for service information: what the record lacks


def _scope(principal: Principal) -> list[object]:
    if principal.is_platform_admin:
        return []
    return [
        Instrument.unit_id.in_(principal.unit_ids) | bureau_region_clause(principal, Instrument.region_code)
    ]


async def overdue(
    session: AsyncSession, principal: Principal, kind: str, today: date | None = None
) -> list[Overdue]:
    """Listed, in-service instruments past a deadline, oldest deadline first: ``kind`` "sensor"
    (no active sensor 30 working days after listing) or "service_info" (incomplete 3 months
    after). A unit's staff see its instruments, a bureau its region's, the operator all."""
    today = today or shanghai_today()
    calendar = await load_working_day_calendar(session)
    instruments = list(
        await session.scalars(
            select(Instrument)
            .where(
                Instrument.status == InstrumentStatus.in_service,
                Instrument.publication == PublicationStatus.published,
                Instrument.published_at.is_not(None),
                *_scope(principal),  # type: ignore[arg-type]
            )
            .order_by(Instrument.published_at, Instrument.id)
        )
    )
    with_sensor = (
        await instruments_with_sensor(session, [i.id for i in instruments]) if kind == "sensor" else set()
    )
    units = (
        dict(
            (
                await session.execute(
                    select(Organization.id, Organization.name).where(
                        Organization.id.in_({i.unit_id for i in instruments})
                    )
                )
            ).all()
        )
        if instruments
        else {}
    )
    found = []
    for instrument in instruments:
        assert instrument.published_at is not None
        missing: list[str] = []
        if kind == "sensor":
            if instrument.id in with_sensor:
                continue
            due = sensor_due(instrument.published_at, calendar)
        else:
            missing = missing_service_info(instrument)
            if not missing:
                continue
            due = service_info_due(instrument.published_at)
        if today <= due:
            continue
        found.append(
            Overdue(
                instrument.id,
                instrument.name,
                instrument.unit_id,
                units.get(instrument.unit_id, ""),
                instrument.region_code,
                shanghai_date(instrument.published_at),
                due,
                (today - due).days,
                missing,
            )
        )
    return sorted(found, key=lambda o: (o.due, o.name))
