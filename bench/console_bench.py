"""Server time of the console's two heaviest pages with 1,000 rows behind them, on PostgreSQL:
the provider's bookings list (1,000 bookings of the unit; a page of 50 and of 200) and a
settlement batch's review page (1,000 lines, sorted, a page of 50), plus the batch's XLSX.

    uv run python bench/console_bench.py --requests 300

The app runs in this process on a scratch database (created and dropped), driven through httpx's
ASGI transport one request at a time, signed in through the console's own form; the time is
from sending the request to the last byte of the answer. The bookings are made through the API;
the batch's lines are written directly (a read benchmark: what matters is their number).
Results go to BENCHMARKS.md (section "Console").
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import statistics
import sys
import time
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from accounts.demo import demo_id
from bench.booking_bench import add_instruments, hour_booking, in_process_settings, plain, slots
from vouchers.models import SettlementBatch, SettlementLine, SettlementStatus
from yixiang.app import create_app
from yixiang.db import utcnow

ROWS = 1000
SHOWS_ALL = "共"  # the table's count under a page: at least ROWS rows are behind it


def python_loop_seconds() -> float:
    """The machine's speed beside every figure: a fixed Python loop of 10^7 additions."""
    start = time.perf_counter()
    total = 0
    for i in range(10_000_000):
        total += i
    return time.perf_counter() - start


async def signed_in(app: Any, username: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://bench", timeout=120)
    form = await client.get("/console/login")
    token = re.search(r'name="_csrf" value="([^"]+)"', form.text)
    assert token
    r = await client.post(
        "/console/login", data={"_csrf": token.group(1), "username": username, "password": "yixiang-demo"}
    )
    assert r.status_code == 303, r.text
    return client


async def make_bookings(app: Any, count: int) -> list[uuid.UUID]:
    instruments = await add_instruments(app.state.session_maker, 20)
    made: list[uuid.UUID] = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as api:
        token = (await api.post("/api/v1/auth/dev-login", json={"username": "demo-researcher-2"})).json()[
            "token"
        ]
        for instrument_id, start in slots(instruments, count, 1):
            r = await api.post(
                "/api/v1/bookings",
                json=hour_booking(instrument_id, start),
                headers={"Authorization": f"Bearer {token}"},
            )
            assert r.status_code == 201, r.text
            made.append(uuid.UUID(r.json()["id"]))
    return made


async def make_batch(app: Any, bookings: list[uuid.UUID]) -> uuid.UUID:
    async with app.state.session_maker() as session, session.begin():
        batch = SettlementBatch(
            bureau_id=demo_id("bureau-hz-sci"),
            region_code="330100",
            period_start=date.today() - timedelta(days=30),
            period_end=date.today(),
            status=SettlementStatus.submitted,
            created_by=demo_id("demo-science-bureau"),
            submitted_by=demo_id("demo-science-bureau"),
            submitted_at=utcnow(),
            total_fen=len(bookings) * 5_000,
        )
        session.add(batch)
        await session.flush()
        for n, booking_id in enumerate(bookings):
            session.add(
                SettlementLine(
                    batch_id=batch.id,
                    booking_id=booking_id,
                    settles_booking_id=booking_id,
                    program_id=demo_id("voucher-program-hz-2026"),
                    unit_id=demo_id("unit-zjlg"),
                    enterprise_id=demo_id("firm-lanwan"),
                    voucher_fen=5_000 + n,
                    fee_fen=10_000 + n,
                    captured_at=utcnow() - timedelta(minutes=n),
                    included=True,
                    missing_evidence=[],
                    evidence={},
                )
            )
        return batch.id


async def timed(client: httpx.AsyncClient, path: str, requests: int, expect: str) -> dict[str, float]:
    for _ in range(20):  # warm-up
        r = await client.get(path)
        assert r.status_code == 200, r.text[:300]
        if expect:
            total = re.search(r"共 (\d+) 条", r.text)
            assert total and int(total.group(1)) >= ROWS, r.text[-2000:]
    times = []
    for _ in range(requests):
        start = time.perf_counter()
        r = await client.get(path)
        times.append((time.perf_counter() - start) * 1000)
        assert r.status_code == 200
    times.sort()
    return {
        "p50": statistics.median(times),
        "p95": times[int(len(times) * 0.95) - 1],
        "p99": times[int(len(times) * 0.99) - 1],
        "max": times[-1],
    }


async def main(args: argparse.Namespace) -> None:
    base = os.environ.get(
        "YIXIANG_TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    )
    name = f"bench_console_{uuid.uuid4().hex[:8]}"
    url = base.rpartition("/")[0] + "/" + name
    admin = await asyncpg.connect(plain(base))
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        app = create_app(in_process_settings(url, redis_url=os.environ.get("YIXIANG_TEST_REDIS_URL", "")))
        async with app.lifespan():
            bookings = await make_bookings(app, ROWS)
            batch_id = await make_batch(app, bookings)
            provider = await signed_in(app, "demo-provider")
            finance = await signed_in(app, "demo-finance-bureau")
            pages = [
                ("bookings list, 50 of 1,000", provider, "/console/bookings?when=all", SHOWS_ALL),
                (
                    "bookings list, 200 of 1,000",
                    provider,
                    "/console/bookings?when=all&per_page=200",
                    SHOWS_ALL,
                ),
                (
                    "bookings list sorted by number",
                    provider,
                    "/console/bookings?when=all&sort=number",
                    SHOWS_ALL,
                ),
                (
                    "settlement review, 50 of 1,000 lines",
                    finance,
                    f"/console/settlements/{batch_id}",
                    SHOWS_ALL,
                ),
                (
                    "settlement review sorted by amount",
                    finance,
                    f"/console/settlements/{batch_id}?sort=voucher&dir=desc",
                    SHOWS_ALL,
                ),
                (
                    "settlement export XLSX, 1,000 lines",
                    finance,
                    f"/console/settlements/{batch_id}/export?format=xlsx",
                    "",
                ),
            ]
            loop = python_loop_seconds()
            print(
                f"# {date.today()} {platform.node()} {platform.processor() or platform.machine()}, "
                f"Python {platform.python_version()}, 10^7-addition loop {loop:.3f} s, "
                f"load average {' '.join(f'{n:.2f}' for n in os.getloadavg())}"
            )
            print("| page | p50 ms | p95 ms | p99 ms | max ms |")
            print("|---|---|---|---|---|")
            for label, client, path, expect in pages:
                figures = await timed(client, path, args.requests, expect)
                cells = " | ".join(f"{figures[k]:.1f}" for k in ("p50", "p95", "p99", "max"))
                print(f"| {label} | {cells} |")
            print(
                f"# 10^7-addition loop after: {python_loop_seconds():.3f} s, "
                f"load average {' '.join(f'{n:.2f}' for n in os.getloadavg())}"
            )
            await provider.aclose()
            await finance.aclose()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=300)
    asyncio.run(main(parser.parse_args()))
