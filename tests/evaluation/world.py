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
    external_users: int = 12
    external_fee_income_fen: int = 3_000_000
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


async def draft(
    backend: Any, year: int, figures: list[Figures], instruments: list[InstrumentRow] | None = None
) -> str:
    """A draft evaluation of 杭州 for ``year`` from hand-built figures, opened by its science bureau."""
    from oversight.evaluation_runs import store_evaluation
    from oversight.evaluation_scoring import Rules

    async with backend.runtime.session_maker() as session, session.begin():
        evaluation = await store_evaluation(
            session,
            region_code=REGION,
            year=year,
            opened_by=(await principal_of(session, "demo-science-bureau")).user_id,
            rules=Rules(),
            units=figures,
            instruments=instruments or [],
        )
        return str(evaluation.id)


def spread(units: list[tuple[uuid.UUID, str]], usage: list[float]) -> list[Figures]:
    """Units that score by their usage rate: sharing, external users and income and listing on
    time follow it. Beside a unit at 0.6 (the region's best): 0.6 scores 90.12, 0.5 80.61, 0.4
    70.13, 0.3 59.62, 0 28.12."""
    return [
        Figures(
            unit_id=u,
            unit_name=name,
            usage_rate=rate,
            sharing_rate=rate / 2,
            external_users=int(rate * 40),
            external_fee_income_fen=int(rate * 1_000_000),
            listed_on_time_share=min(1.0, rate * 2),
        )
        for (u, name), rate in zip(units, usage, strict=True)
    ]
