"""Keeping the index in step with the catalogue: the outbox consumer and the full rebuild."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from catalogue.events import INSTRUMENT_CHANGED
from search.backend import SearchBackend
from search.dependencies import SEARCH_BACKEND
from search.documents import all_documents, documents_for
from yixiang.db import transaction, utcnow
from yixiang.domains import JobContext
from yixiang.outbox import Event, OutboxEvent


async def index_changed_instruments(ctx: JobContext, event: Event) -> None:
    """``catalogue.instrument_changed``: re-read the instruments and upsert or remove them.

    Idempotent (re-reads current rows); the database backend writes in the consumer's own
    transaction, so the index change and the delivery mark commit together.
    """
    ids = [uuid.UUID(i) for i in event.payload.get("instrument_ids", [])]
    await _index_current(ctx.session, ctx.services[SEARCH_BACKEND], ids)


async def _index_current(session: AsyncSession, backend: SearchBackend, ids: list[uuid.UUID]) -> None:
    """Re-read these instruments and upsert the searchable ones, remove the others."""
    documents, removed = await documents_for(session, ids)
    await backend.upsert(session, documents)
    await backend.delete(session, removed)


async def reindex(
    session_maker: async_sessionmaker[AsyncSession],
    backend: SearchBackend,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Rebuild the whole index from the catalogue; searches keep answering from the old index
    until the new one is complete (one transaction on the database backend, an index swap on
    Meilisearch). ``progress(done, total)`` counts the instruments written."""
    started = utcnow()
    async with session_maker() as session, transaction(session):
        count = await backend.rebuild(session, all_documents(session, progress=progress))
    # A change committed after the rebuild read its instrument went, through its event, into the
    # index being replaced (Meilisearch swaps the new one in): apply such changes again.
    async with session_maker() as session, transaction(session):
        events = await session.scalars(
            select(OutboxEvent.payload).where(
                OutboxEvent.topic == INSTRUMENT_CHANGED, OutboxEvent.created_at >= started
            )
        )
        ids = sorted({uuid.UUID(i) for payload in events for i in payload.get("instrument_ids", [])})
        if ids:
            await _index_current(session, backend, ids)
    return count
