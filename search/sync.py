"""Keeping the index in step with the catalogue: the outbox consumer and the full rebuild."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from search.backend import SearchBackend
from search.documents import all_documents, documents_for
from yixiang.db import transaction
from yixiang.domains import JobContext
from yixiang.outbox import Event


async def index_changed_instruments(ctx: JobContext, event: Event) -> None:
    """``catalogue.instrument_changed``: re-read the instruments and upsert or remove them.

    Idempotent (re-reads current rows); the database backend writes in the consumer's own
    transaction, so the index change and the delivery mark commit together.
    """
    backend: SearchBackend = ctx.services["search"]
    ids = [uuid.UUID(i) for i in event.payload.get("instrument_ids", [])]
    documents, removed = await documents_for(ctx.session, ids)
    await backend.upsert(ctx.session, documents)
    await backend.delete(ctx.session, removed)


async def reindex(session_maker: async_sessionmaker[AsyncSession], backend: SearchBackend) -> int:
    """Rebuild the whole index from the catalogue; searches keep answering from the old index
    until the new one is complete (one transaction on the database backend, an index swap on
    Meilisearch)."""
    async with session_maker() as session, transaction(session):
        return await backend.rebuild(session, all_documents(session))
