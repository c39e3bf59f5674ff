"""Searching and reading instrument pages never wait for a writer (on SQLite, a deferred read
transaction reads its snapshot without the database write lock)."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from accounts.demo import demo_id
from yixiang.outbox import emit


async def test_search_and_details_answer_while_a_write_transaction_is_open(client, backend):
    await backend.runtime.worker().drain()  # the demo catalogue's index events
    page = await client.get("/api/v1/instruments/search", params={"q": "核磁", "limit": 1})
    instrument_id = page.json()["items"][0]["id"]
    async with backend.runtime.session_maker() as writer, writer.begin():
        await emit(writer, "test.long_write", {"unit": demo_id("unit-zjlg")})
        await writer.execute(text("SELECT 1"))  # the writer holds its transaction (and SQLite's lock)
        search, details = await asyncio.wait_for(
            asyncio.gather(
                client.get("/api/v1/instruments/search", params={"q": "电镜"}),
                client.get(f"/api/v1/instruments/{instrument_id}"),
            ),
            timeout=10,
        )
        assert search.status_code == 200 and search.json()["total"] > 0
        assert details.status_code == 200
