"""Hand-built figures for evaluations: units of the demo region with chosen indicators."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from accounts.auth import load_user, principal_from_user
from accounts.models import Organization, OrgKind, User

REGION = "330100"


@dataclass(frozen=True)
class Figures:
    """What the evaluation reads of a unit's indicators (the fields of oversight.indicators')."""

    unit_id: uuid.UUID
    unit_name: str
    instruments: int = 2
    usage_rate: float = 0.5
    sharing_rate: float | None = 0.3
    external_orders: int = 24
    rating_mean: float | None = 4.5
    rating_count: int = 10
    listed_on_time_share: float = 1.0
    sensor_on_time_share: float | None = None
    service_info_complete_share: float = 1.0
    idle_instruments: int = 0
    complaints_upheld: int = 0


@dataclass(frozen=True)
class InstrumentRow:
    instrument_id: uuid.UUID
    unit_id: uuid.UUID
    name: str
    category_code: str
    generic: bool
    usage_rate: float


async def new_units(backend: Any, count: int, region: str = REGION) -> list[tuple[uuid.UUID, str]]:
    """``count`` fresh holding units of ``region`` (id, name)."""
    made = []
    async with backend.runtime.session_maker() as session, session.begin():
        for n in range(count):
            unit = Organization(
                kind=OrgKind.unit, name=f"评价测试单位{n:02d}-{uuid.uuid4().hex[:6]}", region_code=region
            )
            session.add(unit)
            await session.flush()
            made.append((unit.id, unit.name))
    return made


async def principal_of(session: Any, username: str) -> Any:
    uid = await session.scalar(select(User.id).where(User.username == username))
    user = await load_user(session, uid)
    assert user is not None
    return principal_from_user(user)
