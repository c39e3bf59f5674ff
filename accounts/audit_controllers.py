"""``GET /api/v1/audit``: the platform operator's search of the audit trail."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any

from litestar import get
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.audit_log import AuditRow, search_audit
from accounts.auth import Principal, requires_role, requires_user
from accounts.models import Role
from yixiang.db import transaction
from yixiang.schemas import QUERY_MINIMUM_ZERO, Output


class AuditEntryOut(Output):
    id: uuid.UUID
    at: datetime
    actor_id: uuid.UUID | None
    actor_username: str | None
    actor_name: str | None
    entity_type: str
    entity_id: str
    action: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None

    @classmethod
    def of(cls, row: AuditRow) -> AuditEntryOut:
        e = row.entry
        return cls(
            id=e.id,
            at=e.at,
            actor_id=e.actor_id,
            actor_username=row.actor_username,
            actor_name=row.actor_name,
            entity_type=e.entity_type,
            entity_id=e.entity_id,
            action=e.action,
            before=e.before,
            after=e.after,
        )


class AuditPage(Output):
    items: list[AuditEntryOut]
    total: int
    limit: int
    offset: int


@get(
    "/api/v1/audit",
    tags=["admin"],
    summary="Platform operator: search the audit trail (who changed what, when, before and after)",
    guards=[requires_user, requires_role(Role.platform_admin)],
)
async def audit_search(
    principal: Principal,
    db_session: AsyncSession,
    entity: Annotated[
        str | None, Parameter(max_length=40, description="对象类型：instrument、service_item、calendar ...")
    ] = None,
    entity_id: Annotated[str | None, Parameter(max_length=64)] = None,
    actor: Annotated[str | None, Parameter(max_length=64, description="用户名或姓名的一部分")] = None,
    since: Annotated[date | None, Parameter(description="起始日（上海时间，含）")] = None,
    until: Annotated[date | None, Parameter(description="截止日（上海时间，含）")] = None,
    q: Annotated[str | None, Parameter(max_length=100, description="变更内容中的文字")] = None,
    limit: Annotated[int, Parameter(ge=1, le=200)] = 50,
    offset: Annotated[int, Parameter(ge=0, le=1_000_000, schema_extra=QUERY_MINIMUM_ZERO)] = 0,
) -> AuditPage:
    async with transaction(db_session, read_only=True):
        rows, total = await search_audit(
            db_session,
            principal,
            entity_type=entity,
            entity_id=entity_id,
            actor=actor,
            since=since,
            until=until,
            text=q,
            limit=limit,
            offset=offset,
        )
    return AuditPage(items=[AuditEntryOut.of(r) for r in rows], total=total, limit=limit, offset=offset)
