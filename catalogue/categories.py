"""The two-level instrument classification (data/categories.json), the reference every
instrument's ``category_code`` points into."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import column, insert, inspect, select, table
from sqlalchemy.ext.asyncio import AsyncSession

from catalogue.models import Category

DEFAULTS: dict[str, Any] = {"name_en": "", "parent_code": None, "generic": False}


@cache
def categories() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads((Path(__file__).parent / "data" / "categories.json").read_text())
    return rows


async def load_categories(session: AsyncSession) -> None:
    """Add the categories the table lacks, with the columns the schema has so far (``db upgrade
    --revision`` loads reference data into older schemas too)."""
    known = set((await session.scalars(select(Category.code))).all())
    columns = await session.run_sync(
        lambda s: {c["name"] for c in inspect(s.connection()).get_columns(Category.__tablename__)}
    )
    names = [name for name in ("code", "name", *DEFAULTS) if name in columns]
    rows = [  # parents come before their children in the file
        {name: row.get(name, DEFAULTS.get(name)) for name in names}
        for row in categories()
        if row["code"] not in known
    ]
    if rows:
        await session.execute(insert(table(Category.__tablename__, *(column(n) for n in names))), rows)
    await session.flush()
