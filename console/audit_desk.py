"""The platform operator's 审计日志: the audit trail searched by object, person, days and words,
each entry's changed fields before and after (the same search as ``GET /api/v1/audit``)."""

from __future__ import annotations

from datetime import date
from typing import Any

from litestar import Request, get
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.audit_log import ACTION_LABELS, ENTITY_LABELS, search_audit
from accounts.auth import Principal, requires_role
from accounts.models import Role
from console.pages import render
from console.tables import Column, read_table
from yixiang.db import transaction
from yixiang.errors import InvalidInput

AUDIT_COLUMNS = (
    Column("at", "时间"),
    Column("actor", "操作人"),
    Column("entity", "对象"),
    Column("action", "动作"),
    Column("change", "变更（原 → 新）"),
)


def _day(raw: str | None, field: str) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise InvalidInput("日期格式有误（YYYY-MM-DD）", field=field) from exc


def changes(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[tuple[str, Any, Any]]:
    """(field, before, after) for each field the entry names; a side that is missing shows as None."""
    names = sorted({*(before or {}), *(after or {})})
    return [(n, (before or {}).get(n), (after or {}).get(n)) for n in names]


@get("/audit", summary="Console: search the audit trail", guards=[requires_role(Role.platform_admin)])
async def audit(request: Request[Any, Any, Any], principal: Principal, db_session: AsyncSession) -> Template:
    table = read_table(
        dict(request.query_params),
        AUDIT_COLUMNS,
        default_sort="at",
        default_descending=True,
        filters=("entity", "entity_id", "actor", "since", "until", "q"),
    )
    found = table.filters
    async with transaction(db_session, read_only=True):
        rows, table.total = await search_audit(
            db_session,
            principal,
            entity_type=found.get("entity"),
            entity_id=found.get("entity_id"),
            actor=found.get("actor"),
            since=_day(found.get("since"), "since"),
            until=_day(found.get("until"), "until"),
            text=found.get("q"),
            limit=table.per_page,
            offset=table.offset,
        )
    return render(
        request,
        "audit.html",
        table=table,
        rows=rows,
        entity_labels=ENTITY_LABELS,
        action_labels=ACTION_LABELS,
        changes=changes,
    )


ROUTES = [audit]
