"""The two-level instrument classification (data/categories.json), the reference every
instrument's ``category_code`` points into."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from catalogue.models import Category


@cache
def categories() -> list[dict[str, str | None]]:
    rows: list[dict[str, str | None]] = json.loads(
        (Path(__file__).parent / "data" / "categories.json").read_text()
    )
    return rows


async def load_categories(session: AsyncSession) -> None:
    known = set((await session.scalars(select(Category.code))).all())
    for row in categories():  # parents come before their children in the file
        if row["code"] not in known:
            session.add(Category(**row))
    await session.flush()
