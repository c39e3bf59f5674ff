"""A hand-built world for the purchase review tests: a category of its own, instruments of known
places and listing dates, and a year of daily usage whose figures the tests work out by hand."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from accounts.demo import demo_id
from catalogue.models import Category, Instrument, PublicationStatus
from oversight.evaluation_models import Evaluation, EvaluationStatus, UsageFlag
from oversight.models import SessionSource, UsageDay
from tests.booking.world import user_id
from yixiang.clock import SHANGHAI, shanghai_today
from yixiang.db import utcnow

REVIEWS = "/api/v1/oversight/purchase-reviews"
ZJLG, HZCL, NBHY = demo_id("unit-zjlg"), demo_id("unit-hzcl"), demo_id("unit-nbhy")
YEAR = shanghai_today().year - 1  # the last full calendar year: the report's period
HOUR = 3600
FLAG_YEARS = itertools.count(1900)  # evaluations of years no other test uses


@dataclass
class Built:
    category_code: str
    ids: dict[str, uuid.UUID]


def listed(on: date) -> datetime:
    return datetime(on.year, on.month, on.day, 9, tzinfo=SHANGHAI)


async def new_category(backend: Any, *, parent: str | None = None) -> str:
    code = f"R{uuid.uuid4().hex[:5].upper()}"
    async with backend.runtime.session_maker() as session, session.begin():
        session.add(Category(code=code, name=f"查重测试类 {code}", parent_code=parent))
    return code


async def add_instrument(
    backend: Any,
    category_code: str,
    *,
    unit_id: uuid.UUID,
    region_code: str,
    coords: tuple[float, float] | None,
    listed_on: date | None = date(2000, 1, 3),
    name: str = "",
) -> uuid.UUID:
    async with backend.runtime.session_maker() as session, session.begin():
        instrument = Instrument(
            name=name or f"查重测试仪 {uuid.uuid4().hex[:6]}",
            model="QX-1",
            category_code=category_code,
            original_value_fen=80_000_000,
            unit_id=unit_id,
            region_code=region_code,
            latitude=coords[0] if coords else None,
            longitude=coords[1] if coords else None,
            publication=PublicationStatus.published if listed_on else PublicationStatus.draft,
            published_at=listed(listed_on) if listed_on else None,
        )
        session.add(instrument)
        await session.flush()
        return instrument.id


async def used(
    backend: Any, instrument_id: uuid.UUID, hours: float, external: float, *, first: date | None = None
) -> None:
    """``hours`` of effective use in ``YEAR`` (``external`` of them for other units and firms), as
    the daily roll-up of sensor sessions records it: 20 hours a day from ``first`` (2 January)."""
    day = first or date(YEAR, 1, 2)
    left, left_external = round(hours * HOUR), round(external * HOUR)
    async with backend.runtime.session_maker() as session, session.begin():
        while left > 0:
            effective = min(20 * HOUR, left)
            outside = min(effective, left_external)
            session.add(
                UsageDay(
                    instrument_id=instrument_id,
                    day=day,
                    source=SessionSource.sensor,
                    effective_seconds=effective,
                    external_seconds=outside,
                    internal_seconds=effective - outside,
                    booked_seconds=outside,
                )
            )
            left, left_external, day = left - effective, left_external - outside, day + timedelta(days=1)


async def flagged(
    backend: Any, instrument_id: uuid.UUID, category_code: str, *, unit_id: uuid.UUID = ZJLG
) -> None:
    """A published evaluation (of a year no other test uses) flagging the instrument below 30%."""
    officer = await user_id(backend, "demo-science-bureau")
    async with backend.runtime.session_maker() as session, session.begin():
        evaluation = Evaluation(
            region_code="330100",
            year=next(FLAG_YEARS),
            status=EvaluationStatus.published,
            opened_by=officer,
            published_by=officer,
            published_at=utcnow(),
        )
        session.add(evaluation)
        await session.flush()
        session.add(
            UsageFlag(
                evaluation_id=evaluation.id,
                instrument_id=instrument_id,
                instrument_name="被标记的仪器",
                unit_id=unit_id,
                category_code=category_code,
                year=YEAR,
                usage_rate=0.12,
            )
        )


def filing(category_code: str, price_fen: int = 320_000_000, **extra: Any) -> dict[str, Any]:
    return {
        "category_code": category_code,
        "instrument_name": "场发射扫描电子显微镜",
        "model": "SU-9000",
        "price_fen": price_fen,
        "justification": "新建纳米材料平台，现有设备分辨率不足。",
        "expected_hours_per_year": 1200,
        "origin": "imported",
        **extra,
    }
