"""The audit trail: who changed what reference data, when, and its fields before and after.

Catalogue data (instruments, service items, fee standards), calendars, closures, working-day
overrides, memberships (roles) and voucher programmes record each change through
:func:`record_change`, in the transaction of the change itself: a change rolled back leaves no
entry, and no change is committed without one. The platform operator searches the entries
(:func:`search_entries`; the API in ``accounts.audit_controllers``, the console's 审计日志).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import String, Text, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from yixiang.db import Base, utcnow


class AuditEntry(Base):
    __tablename__ = "audit_entries"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(index=True)  # None: the platform itself
    entity_type: Mapped[str] = mapped_column(String(40), index=True)
    entity_id: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(40))
    before: Mapped[dict[str, Any] | None]
    after: Mapped[dict[str, Any] | None]
    # What the operator's free-text search looks in: entity, action, the changed fields and values.
    search_text: Mapped[str] = mapped_column(Text, default="")


def plain(value: Any) -> Any:
    """A value as JSON has it: dates and times in ISO form, ids and enums as their strings."""
    return msgspec.to_builtins(value, str_keys=True)


def snapshot(obj: object, fields: Iterable[str]) -> dict[str, Any]:
    """The named attributes of ``obj`` as plain JSON values (the before or after of a change)."""
    return {name: plain(getattr(obj, name)) for name in fields}


def changed_fields(
    before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Only the fields whose value differs; a creation keeps its whole after, a removal its before."""
    if before is None or after is None:
        return (dict(before) if before is not None else None, dict(after) if after is not None else None)
    names = [n for n in {*before, *after} if before.get(n) != after.get(n)]
    return {n: before.get(n) for n in sorted(names)}, {n: after.get(n) for n in sorted(names)}


async def record_change(
    session: AsyncSession,
    *,
    actor_id: uuid.UUID | None,
    entity_type: str,
    entity_id: object,
    action: str,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> AuditEntry | None:
    """Add an entry to the caller's transaction; an edit that changed nothing records nothing."""
    old, new = changed_fields(
        plain(dict(before)) if before is not None else None, plain(dict(after)) if after is not None else None
    )
    if old is not None and new is not None and not old and not new:
        return None
    text = " ".join([entity_type, str(entity_id), action, msgspec.json.encode([old, new]).decode()]).lower()
    entry = AuditEntry(
        id=uuid.uuid4(),
        at=utcnow(),
        actor_id=actor_id,
        entity_type=entity_type,
        entity_id=str(entity_id),
        action=action,
        before=old,
        after=new,
        search_text=text,
    )
    session.add(entry)
    return entry


@dataclass(frozen=True)
class AuditFilter:
    entity_type: str | None = None
    entity_id: str | None = None
    actor_ids: Sequence[uuid.UUID] | None = None  # None: anyone; empty: no actor matched
    since: datetime | None = None
    until: datetime | None = None
    text: str | None = None


async def search_entries(
    session: AsyncSession, found: AuditFilter, *, limit: int, offset: int
) -> tuple[list[AuditEntry], int]:
    """Newest first, with the count of all that match."""
    where: list[Any] = []
    if found.entity_type:
        where.append(AuditEntry.entity_type == found.entity_type)
    if found.entity_id:
        where.append(AuditEntry.entity_id == found.entity_id)
    if found.actor_ids is not None:
        where.append(AuditEntry.actor_id.in_(list(found.actor_ids)))
    if found.since is not None:
        where.append(AuditEntry.at >= found.since)
    if found.until is not None:
        where.append(AuditEntry.at < found.until)
    if found.text:
        words = [w for w in found.text.lower().split() if w]
        escaped = [w.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") for w in words]
        where.extend(AuditEntry.search_text.like(f"%{w}%", escape="\\") for w in escaped)
    total = int(await session.scalar(select(func.count()).select_from(AuditEntry).where(*where)) or 0)
    rows = await session.scalars(
        select(AuditEntry)
        .where(*where)
        .order_by(AuditEntry.at.desc(), AuditEntry.id)
        .limit(limit)
        .offset(offset)
    )
    return list(rows.all()), total
