"""The audit trail as the platform operator searches it: entries with the actor's name, filtered by
what was changed, who changed it, when (Shanghai days) and by any word of the change.

Only the platform operator reads it: the trail spans every unit, bureau and firm, and a bureau's
share of it (its region's instruments) would still show other bodies' staff and roles.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from accounts.models import Role, User
from yixiang.audit import AuditEntry, AuditFilter, search_entries
from yixiang.clock import SHANGHAI
from yixiang.errors import InvalidInput

ENTITY_LABELS = {
    "instrument": "仪器",
    "service_item": "收费项目",
    "calendar": "预约日历",
    "closure": "停用时段",
    "working_day": "工作日调整",
    "membership": "角色与成员",
    "voucher_program": "创新券项目",
    "voucher_grant": "创新券发放",
}
ACTION_LABELS = {
    "created": "新建",
    "updated": "修改",
    "removed": "删除",
    "imported": "导入",
    "closed": "到期关闭",
    "submit": "提交审核",
    "approve": "审核上架",
    "reject": "退回",
    "withdraw": "下架",
}


@dataclass(frozen=True)
class AuditRow:
    entry: AuditEntry
    actor_username: str | None
    actor_name: str | None


def _shanghai_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), SHANGHAI)


async def search_audit(
    session: AsyncSession,
    principal: Principal,
    *,
    entity_type: str | None = None,
    entity_id: str | None = None,
    actor: str | None = None,
    since: date | None = None,
    until: date | None = None,
    text: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[AuditRow], int]:
    """``actor``: a username or a part of a name; ``since``..``until``: Shanghai days, both included."""
    principal.require(Role.platform_admin)
    if entity_type and entity_type not in ENTITY_LABELS:
        raise InvalidInput("没有这种审计对象", field="entity", allowed=sorted(ENTITY_LABELS))
    if since and until and until < since:
        raise InvalidInput("结束日期早于开始日期", field="until")
    actor_ids: list[uuid.UUID] | None = None
    if actor:
        like = f"%{actor.replace('%', '').replace('_', '')}%"
        actor_ids = list(
            await session.scalars(
                select(User.id).where(or_(User.username == actor, User.display_name.ilike(like)))
            )
        )
    found = AuditFilter(
        entity_type=entity_type or None,
        entity_id=entity_id or None,
        actor_ids=actor_ids,
        since=_shanghai_midnight(since) if since else None,
        until=_shanghai_midnight(until + timedelta(days=1)) if until else None,
        text=text or None,
    )
    entries, total = await search_entries(session, found, limit=limit, offset=offset)
    ids = {e.actor_id for e in entries if e.actor_id is not None}
    users = (
        {u.id: u for u in (await session.scalars(select(User).where(User.id.in_(ids)))).all()} if ids else {}
    )
    rows = []
    for entry in entries:
        user = users.get(entry.actor_id) if entry.actor_id else None
        rows.append(AuditRow(entry, user.username if user else None, user.display_name if user else None))
    return rows, total
