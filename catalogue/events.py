"""Outbox events the catalogue emits; the search index (search/sync.py) consumes them.

``catalogue.instrument_changed`` carries ``instrument_ids``: any change to those instruments
(created, edited, submitted, published, withdrawn, imported). Consumers re-read the rows, so the
payload never goes stale and a replayed event is harmless.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession

from yixiang.outbox import emit

INSTRUMENT_CHANGED = "catalogue.instrument_changed"


async def emit_instruments_changed(
    session: AsyncSession, instrument_ids: Iterable[uuid.UUID], reason: str = ""
) -> None:
    ids = sorted({str(i) for i in instrument_ids})
    if ids:
        await emit(session, INSTRUMENT_CHANGED, {"instrument_ids": ids, "reason": reason})
