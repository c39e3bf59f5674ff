"""The GB/T 2260 administrative divisions (data/regions.json) every organisation's
``region_code`` points into: reference data every installation needs, not demo data."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import Region


@cache
def regions() -> list[dict[str, str | None]]:
    rows: list[dict[str, str | None]] = json.loads(
        (Path(__file__).parent / "data" / "regions.json").read_text(encoding="utf-8")
    )
    return rows


async def load_regions(session: AsyncSession) -> None:
    """Add the divisions the database lacks (idempotent); parents come before their children."""
    known = set((await session.scalars(select(Region.code))).all())
    for row in regions():
        if row["code"] not in known:
            session.add(Region(**row))
    await session.flush()
