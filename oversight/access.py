"""Which regions' science bureau (科技局) a user acts for: the evaluation and the complaints are
the science bureau's (seed 004 §十四, seed 001 投诉渠道); the finance bureau co-signs adjustments."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from accounts.models import BureauKind, Organization, Role


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
