"""Years of records against none (issue 25 goal 4): booking creation, availability and the
statement timed on an empty and a filled PostgreSQL database side by side, and the nightly jobs'
durations on both.

    # two databases at the same migration with the demo data; fill one (bench/growth_fill.py)
    uv run python -m bench.growth_bench --empty postgresql://postgres@127.0.0.1:5432/growth_empty \\
        --filled postgresql://postgres@127.0.0.1:5432/growth_big --rounds 6

One app per database in this process (in-process ASGI, as bench/booking_bench.py). Each round
runs, on one database then the other (the order alternating), sequential requests: a week's
availability of one instrument, the demo researcher's statement (``GET /api/v1/me/vouchers``:
grants, holds, history) and bookings of that instrument in distinct free hours. The instrument
is the demo one with the most past bookings in the filled database (the generator spreads them
evenly), opened round the clock in both. Medians per route and database, and their ratio (goal:
filled ≤ 1.2 × empty). Then each nightly job once per database: idle detection, reminders, the
expiry of requests, and the roll-up of yesterday marked stale for every instrument used then.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.booking_bench import ALWAYS, hour_booking, in_process_settings, plain
from booking.services import expire_overdue_requests, schedule_reminders
from oversight.idle import check_idle
from oversight.rollup import refresh_all_stale
from yixiang.app import create_app
from yixiang.clock import SHANGHAI

# The instrument: a published demo one taking operator-run machine time, busiest in the filled db.
BUSIEST = """
SELECT b.instrument_id FROM bookings b
JOIN instruments i ON i.id = b.instrument_id AND i.operator_run
JOIN service_items s ON s.instrument_id = i.id AND s.mode = 'machine_time' AND s.active
WHERE b.start_at < now() - interval '1 day' AND i.status = 'in_service' AND i.publication = 'published'
GROUP BY b.instrument_id ORDER BY count(*) DESC LIMIT 1
"""
OPEN_ROUND_THE_CLOCK = """
INSERT INTO instrument_calendars (instrument_id, weekly_hours, follows_working_days, slot_minutes,
    min_duration_minutes, max_duration_minutes, min_notice_minutes, max_advance_days,
    cancellation_deadline_hours, late_cancellation, late_cancellation_fee_percent, buffer_minutes,
    needs_approval, approval_window_hours, sample_capacity_per_day, updated_at)
VALUES ($1, $2::jsonb, false, 60, 60, 480, 0, 366, 24, 'refuse', 0, 0, false, 24, 20, now())
ON CONFLICT (instrument_id) DO UPDATE SET weekly_hours = excluded.weekly_hours,
    follows_working_days = false, slot_minutes = 60, min_notice_minutes = 0, max_advance_days = 366,
    needs_approval = false, buffer_minutes = 0
"""
# What a day of ingest and bookings leaves for the night: yesterday stale for every instrument used.
MARK_YESTERDAY = """
INSERT INTO oversight_usage_stale_days (instrument_id, day, marked_at)
SELECT DISTINCT instrument_id, (now() AT TIME ZONE 'Asia/Shanghai')::date - 1, now()
FROM oversight_usage_sessions
WHERE start_at >= date_trunc('day', now()) - interval '2 days'
ON CONFLICT DO NOTHING
"""


class Side:
    """One database with its app and client."""

    def __init__(self, name: str, url: str) -> None:
        self.name, self.url = name, url
        self.app = create_app(
            in_process_settings(url.replace("postgresql://", "postgresql+asyncpg://", 1), no_show_limit=100)
        )
        self.times: dict[str, list[float]] = {}
        self.next_hour = 0

    async def timed(self, route: str, call: Callable[[], Awaitable[httpx.Response]], ok: int) -> None:
        began = time.perf_counter()
        response = await call()
        self.times.setdefault(route, []).append(time.perf_counter() - began)
        if response.status_code != ok:
            raise SystemExit(f"{self.name} {route}: {response.status_code} {response.text[:300]}")


async def _busiest(url: str) -> uuid.UUID:
    conn = await asyncpg.connect(plain(url))
    try:
        found: uuid.UUID = await conn.fetchval(BUSIEST)
        return found
    finally:
        await conn.close()


async def _open(url: str, instrument: uuid.UUID) -> int:
    """Open the instrument round the clock; the hours from 30 days ahead that earlier runs booked."""
    conn = await asyncpg.connect(plain(url))
    try:
        await conn.execute(OPEN_ROUND_THE_CLOCK, instrument, json.dumps(ALWAYS))
        booked: int = await conn.fetchval(
            "SELECT count(*) FROM bookings WHERE instrument_id = $1"
            " AND start_at > now() + interval '29 days'",
            instrument,
        )
        return booked
    finally:
        await conn.close()


async def _round(
    side: Side, client: httpx.AsyncClient, headers: dict[str, str], instrument: uuid.UUID, n: int
) -> None:
    base = datetime.now(SHANGHAI).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    week = {"from": base.isoformat(), "to": (base + timedelta(days=7)).isoformat()}
    for _ in range(n):
        await side.timed(
            "availability",
            lambda: client.get(f"/api/v1/instruments/{instrument}/availability", params=week),
            200,
        )
    for _ in range(n):
        await side.timed("statement", lambda: client.get("/api/v1/me/vouchers", headers=headers), 200)
    for _ in range(n):
        start = base + timedelta(days=30, hours=side.next_hour)
        side.next_hour += 1
        body = hour_booking(instrument, start)
        headers_once = headers | {"Idempotency-Key": uuid.uuid4().hex}
        await side.timed(
            "booking create",
            lambda body=body, h=headers_once: client.post("/api/v1/bookings", json=body, headers=h),
            201,
        )


async def _nightly(side: Side) -> dict[str, float]:
    conn = await asyncpg.connect(plain(side.url))
    try:
        await conn.execute(MARK_YESTERDAY)
    finally:
        await conn.close()
    maker = side.app.state.runtime.session_maker
    jobs: dict[str, Callable[[Any], Awaitable[Any]]] = {
        "idle detection": check_idle,
        "reminders": schedule_reminders,
        "request expiry": expire_overdue_requests,
        "roll-up of yesterday": refresh_all_stale,
    }
    took = {}
    for name, job in jobs.items():
        async with maker() as session:
            began = time.perf_counter()
            await job(session)
            took[name] = time.perf_counter() - began
    return took


def _median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


async def main(args: argparse.Namespace) -> None:
    instrument = await _busiest(args.filled)
    booked = max([await _open(url, instrument) for url in (args.empty, args.filled)])
    sides = [Side("empty", args.empty), Side("filled", args.filled)]
    for side in sides:
        side.next_hour = booked + 1
    async with sides[0].app.lifespan(), sides[1].app.lifespan():
        clients = [
            httpx.AsyncClient(transport=httpx.ASGITransport(app=s.app), base_url="http://bench", timeout=120)
            for s in sides
        ]
        headers = []
        for client in clients:
            token = (await client.post("/api/v1/auth/dev-login", json={"username": args.user})).json()[
                "token"
            ]
            headers.append({"Authorization": f"Bearer {token}"})
        for side, client, h in zip(sides, clients, headers, strict=True):  # warm-up, not counted
            await _round(side, client, h, instrument, 3)
            side.times.clear()
        for r in range(args.rounds):
            order = [0, 1] if r % 2 == 0 else [1, 0]
            for k in order:
                await _round(sides[k], clients[k], headers[k], instrument, args.requests)
        for client in clients:
            await client.aclose()
        print(f"instrument {instrument}, {args.rounds} rounds × {args.requests} requests per route")
        print(f"{'route':<16}{'empty ms':>10}{'filled ms':>11}{'ratio':>8}")
        for route in sides[0].times:
            empty, filled = (_median_ms(s.times[route]) for s in sides)
            print(f"{route:<16}{empty:>10.1f}{filled:>11.1f}{filled / empty:>8.2f}")
        nightly = [await _nightly(s) for s in sides]
        print(f"{'nightly job':<22}{'empty s':>9}{'filled s':>10}")
        for job in nightly[0]:
            print(f"{job:<22}{nightly[0][job]:>9.2f}{nightly[1][job]:>10.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--empty", required=True, help="PostgreSQL URL of the database without history")
    parser.add_argument("--filled", required=True, help="PostgreSQL URL of the filled database")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--requests", type=int, default=20, help="per route, database and round")
    parser.add_argument("--user", default="demo-researcher")
    asyncio.run(main(parser.parse_args()))
