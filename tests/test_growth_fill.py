"""The growth generator (bench/growth_fill.py) writes history the app can read: on its own
PostgreSQL database with the demo data, a tiny fill adds the counts it says, the ledger check
finds every balance equal to its lines, and a filled firm's statement, an instrument's
availability answer as on a fresh database."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator
from datetime import datetime, time, timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest

from bench.growth_fill import Plan, fill
from tests.support import PG_URL, create_database, drop_database, make_settings, plain_dsn
from yixiang.app import create_app
from yixiang.clock import SHANGHAI, shanghai_date
from yixiang.db import utcnow

pytestmark = pytest.mark.skipif(not PG_URL, reason="the generator writes PostgreSQL only")

Filled = tuple[httpx.AsyncClient, str, dict[str, int]]
PLAN = Plan(bookings=3000, firms=3, sensors=2, readings=2000, years=2)


@pytest.fixture(scope="module")
async def filled() -> AsyncIterator[Filled]:
    settings = make_settings("postgres", Path(tempfile.mkdtemp(prefix="yixiang-growth-")))
    await create_database(settings)
    app = create_app(settings)
    started, stop = asyncio.Event(), asyncio.Event()

    async def run_lifespan() -> None:
        async with app.lifespan():  # migrates and loads the demo data
            started.set()
            await stop.wait()
            await app.state.store.delete_prefix()

    lifespan = asyncio.create_task(run_lifespan())
    try:
        await asyncio.wait(
            {lifespan, asyncio.create_task(started.wait())}, return_when=asyncio.FIRST_COMPLETED
        )
        if lifespan.done():
            lifespan.result()
        counts = await fill(settings.database_url, PLAN, out=lambda _: None)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver", timeout=60
        ) as client:
            yield client, settings.database_url, counts
    finally:
        stop.set()
        await lifespan
        await drop_database(settings)


async def _login(client: httpx.AsyncClient, username: str) -> dict[str, str]:
    response = await client.post("/api/v1/auth/dev-login", json={"username": username})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


async def test_the_fill_adds_the_counts_it_reports(filled: Filled) -> None:
    _, url, counts = filled
    conn = await asyncpg.connect(plain_dsn(url))
    try:
        past = await conn.fetchval("SELECT count(*) FROM bookings WHERE start_at < now() - interval '1 day'")
        lines = await conn.fetchval(
            "SELECT count(*) FROM journal_lines l JOIN journal_entries e ON e.id = l.entry_id"
            " WHERE e.key LIKE 'growth-%'"
        )
        readings = await conn.fetchval(
            "SELECT count(*) FROM oversight_readings WHERE sensor_id LIKE 'growth-%'"
        )
        held = await conn.fetchval(
            "SELECT count(*) FROM bookings WHERE number LIKE 'YX%' AND status IN ('requested', 'confirmed')"
            " AND start_at < now() - interval '1 day'"
        )
    finally:
        await conn.close()
    assert counts["bookings"] == PLAN.bookings and past >= PLAN.bookings
    # hold and capture of every seventh finished booking (two lines each), plus funding and grants
    assert counts["ledger_lines"] == lines and lines > 4 * PLAN.bookings // 10
    assert counts["readings"] == readings == PLAN.readings
    assert held == 0  # history holds no slot


async def test_the_ledger_of_a_filled_database_checks_out(filled: Filled) -> None:
    client, _, _ = filled
    check = await client.get("/api/v1/ledger/check", headers=await _login(client, "demo-admin"))
    assert check.status_code == 200 and check.json()["ok"], check.text


async def test_a_filled_firms_statement_shows_its_past_grants(filled: Filled) -> None:
    client, url, _ = filled
    conn = await asyncpg.connect(plain_dsn(url))
    try:
        username = await conn.fetchval("SELECT min(username) FROM users WHERE username LIKE 'growth-%'")
    finally:
        await conn.close()
    statement = await client.get("/api/v1/me/vouchers", headers=await _login(client, username))
    assert statement.status_code == 200, statement.text
    body = statement.json()
    assert body["grants"] and all(g["status"] == "expired" for g in body["grants"]), body
    assert body["history"]


async def test_availability_of_the_busiest_filled_instrument(filled: Filled) -> None:
    client, url, _ = filled
    conn = await asyncpg.connect(plain_dsn(url))
    try:
        instrument = await conn.fetchval(
            "SELECT instrument_id FROM bookings WHERE number LIKE 'YX%' AND mode = 'machine_time'"
            " GROUP BY instrument_id ORDER BY count(*) DESC LIMIT 1"
        )
    finally:
        await conn.close()
    day = datetime.combine(shanghai_date(utcnow()) + timedelta(days=7), time(), SHANGHAI)
    answer = await client.get(
        f"/api/v1/instruments/{instrument}/availability",
        params={"from": day.isoformat(), "to": (day + timedelta(days=1)).isoformat()},
    )
    assert answer.status_code == 200, answer.text
    assert "free" in answer.json()
