"""Which regions' science bureau (科技局) a user acts for: the evaluation and the complaints are
the science bureau's (seed 004 §十四, seed 001 投诉渠道); the finance bureau co-signs adjustments."""

from __future__ import annotations

from typing import Any

from sqlalchemy import false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from accounts.models import BureauKind, Organization, Role
from vouchers.rules import region_covers, region_prefix


async def science_regions(session: AsyncSession, principal: Principal) -> set[str]:
    bureaus = principal.orgs_where(Role.bureau_officer)
    if not bureaus:
        return set()
    rows = await session.scalars(
        select(Organization.region_code).where(
            Organization.id.in_(bureaus), Organization.bureau_kind == BureauKind.science
        )
    )
    return set(rows)


def bureau_regions(principal: Principal) -> set[str]:
    return principal.regions_where(Role.bureau_officer)


def covers(areas: set[str], code: str) -> bool:
    """Whether one of the bureaus' areas contains ``code`` (a city covers its districts)."""
    return any(region_covers(area, code) for area in areas)


def covered(column: Any, areas: set[str]) -> Any:
    """SQL: ``column`` (a region code) lies in one of ``areas``."""
    return or_(*[column.startswith(region_prefix(area)) for area in sorted(areas)]) if areas else false()
