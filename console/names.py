"""The names a page shows beside ids (organisations, instruments, people), one query per kind."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import Organization, User
from catalogue.models import Category, Instrument


async def _pairs(
    session: AsyncSession, id_column: Any, name_column: Any, ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, str]:
    wanted = set(ids)
    if not wanted:
        return {}
    rows = await session.execute(select(id_column, name_column).where(id_column.in_(wanted)))
    return {row[0]: row[1] for row in rows.all()}


async def org_names(session: AsyncSession, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    return await _pairs(session, Organization.id, Organization.name, ids)


async def instrument_names(session: AsyncSession, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    return await _pairs(session, Instrument.id, Instrument.name, ids)


async def user_names(session: AsyncSession, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    return await _pairs(session, User.id, User.display_name, ids)


async def leaf_categories(session: AsyncSession) -> list[tuple[str, str]]:
    """(code, name) of every second-level category, the level an instrument or a purchase names."""
    rows = await session.execute(
        select(Category.code, Category.name).where(Category.parent_code.is_not(None)).order_by(Category.code)
    )
    return [(code, name) for code, name in rows.all()]
