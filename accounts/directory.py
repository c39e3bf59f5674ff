"""The platform's users as the operator reads them: each with its organisations and roles,
filtered by name and role, paged. The platform admin only (the caller checks with the guard)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from accounts.auth import Principal
from accounts.models import Membership, Role, User


async def list_users(
    session: AsyncSession,
    principal: Principal,
    *,
    text: str = "",
    role: Role | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[Sequence[User], int]:
    """Users whose username or name contains ``text`` (and who hold ``role``), by username."""
    principal.require(Role.platform_admin)
    query = select(User)
    if text:
        like = f"%{text.replace('%', '').replace('_', '')}%"
        query = query.where(or_(User.username.ilike(like), User.display_name.ilike(like)))
    if role is not None:
        query = query.where(User.id.in_(select(Membership.user_id).where(Membership.role == role)))
    total = int(await session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    rows = await session.scalars(
        query.options(selectinload(User.memberships)).order_by(User.username).limit(limit).offset(offset)
    )
    return rows.all(), total
