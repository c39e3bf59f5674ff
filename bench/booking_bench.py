"""Booking creation throughput and latency on PostgreSQL: the HTTP app vs the same SQL on asyncpg.

    uv run python bench/booking_bench.py --clients 32 --bookings 3000

Creates a scratch database, migrates it, loads the demo accounts, adds instruments with an
always-open calendar, then:

1. app: N concurrent clients POST /api/v1/bookings through the real Litestar app (in-process
   ASGI, so no socket; authentication, idempotency middleware, validation, rules, overlap check,
   booking + evidence + voucher hold + history + outbox in one transaction);
2. raw: N concurrent asyncpg connections run the 11 statements one booking costs the app (the
   signed-in user and the Idempotency-Key claim outside a transaction; instrument with calendar
   and service items, closures with the overlap check, booking, history, outbox, evidence, the
   firm's grants locked, checkout insert in one; the stored answer after it), with no Python
   framework around them. That is the app's path for a firm without a voucher share to hold (the
   demo firm's grant is spent by the first ~500 holds; holding adds 5 statements: the firm's
   usage, a journal entry, its lines and two balance updates).

   uv run python bench/booking_bench.py --server-workers 2 --clients 16 --seconds 15

measures the real server instead (uvicorn, N workers), driven by wrk over loopback, then, once
the outbox is drained, the raw statements at the same concurrency on the server's database: the
fair comparison, since the in-process run's HTTP client (httpx) shares the app's process.

Every booking takes a distinct free slot, so every request succeeds. Goals (issue 4): at least
300 bookings/s through the app, and at least half the raw rate.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

try:  # the event loop the server runs on (uvicorn picks uvloop when it is installed)
    from uvloop import run as run_loop
except ImportError:  # pragma: no cover
    from asyncio import run as run_loop
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from accounts.demo import demo_id
from bench.load.driver import cpu_tree_s as process_cpu_seconds
from bench.load.driver import process_user_system_seconds
from booking.models import InstrumentCalendar
from catalogue.models import (
    Category,
    Instrument,
    PriceUnit,
    PublicationStatus,
    ServiceItem,
    ServiceMode,
)
from yixiang.app import create_app
from yixiang.clock import SHANGHAI
from yixiang.settings import Settings, build_settings

ALWAYS = {"intervals": [[d, 0, 1440] for d in range(7)]}


def hour_booking(instrument_id: uuid.UUID | str, start: datetime) -> dict[str, str]:
    """The body of an operator-run hour of machine time from ``start``."""
    return {
        "instrument_id": str(instrument_id),
        "mode": "machine_time",
        "operation": "operator",
        "start": start.isoformat(),
        "end": (start + timedelta(hours=1)).isoformat(),
    }


def in_process_settings(database_url: str, **more: Any) -> Settings:
    """The app in this process on a scratch database, with the demo accounts, no worker and no
    rate limit a benchmark would run into."""
    return build_settings(
        {
            "profile": "embedded",
            "database_url": database_url,
            "demo_data": True,
            "auto_migrate": True,
            "worker_in_process": False,
            "dev_login": True,
            "log_level": "WARNING",
            "rate_limit_booking_per_minute": 10_000_000,
            "rate_limit_sign_in_per_minute": 10_000_000,
            **more,
        }
    )


def plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def build_instruments(app: Any, count: int) -> list[uuid.UUID]:
    return await add_instruments(app.state.session_maker, count)


async def add_instruments(session_maker: Any, count: int) -> list[uuid.UUID]:
    ids = []
    async with session_maker() as session, session.begin():
        if await session.get(Category, "99") is None:
            session.add(Category(code="99", name="基准测试仪器"))
            await session.flush()
        for i in range(count):
            instrument = Instrument(
                name=f"基准仪器 {i}",
                category_code="99",
                original_value_fen=100_000_000,
                unit_id=demo_id("unit-zjlg"),
                region_code="330100",
                publication=PublicationStatus.published,
                operator_run=True,
            )
            session.add(instrument)
            await session.flush()
            session.add(
                ServiceItem(
                    instrument_id=instrument.id,
                    name="机时",
                    mode=ServiceMode.machine_time,
                    price_unit=PriceUnit.per_hour,
                    internal_price_fen=10_000,
                    external_price_fen=20_000,
                )
            )
            session.add(
                InstrumentCalendar(
                    instrument_id=instrument.id,
                    weekly_hours=ALWAYS,
                    follows_working_days=False,
                    slot_minutes=60,
                    min_notice_minutes=0,
                    max_advance_days=366,
                )
            )
            ids.append(instrument.id)
    return ids


def slots(instruments: list[uuid.UUID], total: int, first_day: int) -> list[tuple[uuid.UUID, datetime]]:
    base = datetime.now(SHANGHAI).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(
        days=first_day
    )
    return [
        (instruments[k % len(instruments)], base + timedelta(hours=k // len(instruments)))
        for k in range(total)
    ]


async def run_clients(work: list[Any], clients: int, one: Any) -> tuple[float, list[float]]:
    queue: asyncio.Queue[Any] = asyncio.Queue()
    for item in work:
        queue.put_nowait(item)
    latencies: list[float] = []

    async def client_loop(index: int) -> None:
        while True:
            try:
                item = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            began = time.perf_counter()
            await one(index, item)
            latencies.append(time.perf_counter() - began)

    began = time.perf_counter()
    await asyncio.gather(*[client_loop(i) for i in range(clients)])
    return time.perf_counter() - began, latencies


def summary(name: str, total: int, elapsed: float, latencies: list[float]) -> dict[str, Any]:
    ordered = sorted(latencies)
    pct = lambda p: ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000  # noqa: E731
    return {
        "run": name,
        "bookings": total,
        "seconds": round(elapsed, 2),
        "per_second": round(total / elapsed, 1),
        "p50_ms": round(pct(0.50), 1),
        "p95_ms": round(pct(0.95), 1),
        "p99_ms": round(pct(0.99), 1),
        "mean_ms": round(statistics.mean(latencies) * 1000, 1),
    }


async def bench_app(
    app: Any, instruments: list[uuid.UUID], clients: int, total: int, *, idempotency_keys: bool = True
) -> dict[str, Any]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=120) as client:
        tokens = []
        for i in range(clients):
            username = "demo-researcher" if i % 2 else "demo-researcher-2"
            response = await client.post("/api/v1/auth/dev-login", json={"username": username})
            tokens.append({"Authorization": f"Bearer {response.json()['token']}"})
        # warm-up: a few bookings far ahead, not counted
        for instrument_id, start in slots(instruments, 20, 300):
            await client.post(
                "/api/v1/bookings",
                json=hour_booking(instrument_id, start),
                headers=tokens[0],
            )
        failures: list[str] = []

        async def one(index: int, item: tuple[uuid.UUID, datetime]) -> None:
            instrument_id, start = item
            response = await client.post(
                "/api/v1/bookings",
                json=hour_booking(instrument_id, start),
                headers=tokens[index] | ({"Idempotency-Key": uuid.uuid4().hex} if idempotency_keys else {}),
            )
            if response.status_code != 201:
                failures.append(response.text[:200])

        elapsed, latencies = await run_clients(slots(instruments, total, 1), clients, one)
    if failures:
        raise SystemExit(f"{len(failures)} bookings failed, e.g. {failures[0]}")
    label = "with Idempotency-Key" if idempotency_keys else "without Idempotency-Key"
    return summary(f"app (HTTP in-process, {label})", total, elapsed, latencies)


async def bench_availability(app: Any, instrument_id: uuid.UUID, requests: int = 200) -> dict[str, Any]:
    """A week's view of a busy instrument (one booking an hour), one request at a time."""
    transport = httpx.ASGITransport(app=app)
    base = datetime.now(SHANGHAI).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    params = {"from": base.isoformat(), "to": (base + timedelta(days=7)).isoformat()}
    latencies = []
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        for _ in range(20):
            await client.get(f"/api/v1/instruments/{instrument_id}/availability", params=params)
        began = time.perf_counter()
        for _ in range(requests):
            started = time.perf_counter()
            response = await client.get(f"/api/v1/instruments/{instrument_id}/availability", params=params)
            latencies.append(time.perf_counter() - started)
            assert response.status_code == 200, response.text
    return summary(
        "availability, one week (sequential GETs)", requests, time.perf_counter() - began, latencies
    )


RAW_STATEMENTS = {
    # outside any transaction, as the app runs them (autocommit)
    "claim": (
        "INSERT INTO idempotency_records (scope_key, request_hash, completed, created_at, expires_at)"
        " VALUES ($1, 'h', false, now(), now() + interval '1 day') ON CONFLICT (scope_key) DO UPDATE"
        " SET request_hash = excluded.request_hash WHERE idempotency_records.expires_at < excluded.created_at"
        " RETURNING scope_key"
    ),
    "user": "SELECT u.id, u.username, u.token_version, u.is_active, m.role, o.id, o.kind, o.name,"
    " o.region_code FROM users u LEFT JOIN memberships m ON m.user_id = u.id"
    " LEFT JOIN organizations o ON o.id = m.organization_id WHERE u.id = $1",
    # the booking's transaction
    "bookable": "SELECT i.id, i.unit_id, i.name, i.address, i.lab, i.region_code, i.category_code,"
    " i.status, i.publication, i.self_operation, i.operator_run, i.sample_testing, i.voucher_eligible,"
    " c.weekly_hours, c.follows_working_days, c.slot_minutes, c.min_duration_minutes,"
    " c.max_duration_minutes, c.min_notice_minutes, c.max_advance_days, c.cancellation_deadline_hours,"
    " c.late_cancellation, c.late_cancellation_fee_percent, c.buffer_minutes, c.needs_approval,"
    " c.approval_window_hours, c.sample_capacity_per_day, s.id, s.name, s.mode, s.price_unit,"
    " s.internal_price_fen, s.external_price_fen, s.turnaround_working_days, s.active"
    " FROM instruments i LEFT JOIN instrument_calendars c ON c.instrument_id = i.id"
    " LEFT JOIN service_items s ON s.instrument_id = i.id WHERE i.id = $1 ORDER BY s.position, s.id",
    "closures_and_overlap": "SELECT start_at, end_at, false AS booked FROM instrument_closures"
    " WHERE instrument_id = $1 AND start_at < $3 AND end_at > $2"
    " UNION ALL SELECT b.start_at, b.block_end, true FROM (SELECT start_at, block_end FROM bookings"
    " WHERE instrument_id = $1 AND status IN ('requested','confirmed','in_service') AND start_at < $3"
    " AND block_end > $2 LIMIT 1) AS b",
    "booking": "INSERT INTO bookings (id, instrument_id, unit_id, enterprise_id, user_id, mode, operation,"
    " service_item_id, start_at, end_at, block_end, status, note, rate, quoted_fee_fen, fee_breakdown,"
    " created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'machine_time', 'operator', $6, $7, $8, $8,"
    " 'confirmed', '', 'external', 20000, '{}'::jsonb, now(), now())",
    "history": "INSERT INTO booking_history (booking_id, action, to_status, actor_id, reason, at)"
    " VALUES ($1, 'book', 'confirmed', $2, '', now()) RETURNING id",
    "outbox": "INSERT INTO outbox_events (topic, payload, status, attempts, run_at, created_at)"
    " VALUES ('booking.confirmed', $1::jsonb, 'pending', 0, now(), now()) RETURNING id",
    "evidence": "INSERT INTO voucher_evidence (booking_id, kind, at, detail, recorded_at)"
    " VALUES ($1, 'booking', now(), '{}'::jsonb, now()) ON CONFLICT (booking_id, kind) DO NOTHING",
    "grants": "SELECT g.id, g.status, g.expires_on, a.balance_fen, o.is_tech_sme, p.* FROM voucher_grants g"
    " JOIN voucher_programs p ON p.id = g.program_id"
    " JOIN ledger_accounts a ON a.grant_id = g.id AND a.kind = 'grant'"
    " JOIN organizations o ON o.id = g.enterprise_id"
    " WHERE g.enterprise_id = $1 AND g.status = 'active' ORDER BY g.id FOR UPDATE OF g, a",
    "checkout_insert": "INSERT INTO voucher_checkouts (booking_id, enterprise_id, unit_id, instrument_id,"
    " region_code, category_code, state, usage_year, quoted_fee_fen, held_fen, fee_fen, voucher_fen,"
    " refunded_fen, due_fen, payment_method, payment_reference, held_at, release_reason, updated_at)"
    " VALUES ($1, $2, $3, $4, '330100', '99', 'held', 2026, 20000, 0, 20000, 0, 0, 20000,"
    " 'corporate_transfer', '', now(), '', now())",
    # after it, autocommit again
    "complete": "UPDATE idempotency_records SET completed = true, response_status = 201 WHERE scope_key = $1",
}


def _event_payload(
    booking_id: uuid.UUID,
    instrument_id: uuid.UUID,
    firm: uuid.UUID,
    unit: uuid.UUID,
    user: uuid.UUID,
    start: datetime,
    end: datetime,
) -> dict[str, Any]:
    """The keys and sizes of the app's "booking.confirmed" payload (booking.events)."""
    return {
        "booking_id": str(booking_id),
        "booking_code": f"YX{start:%Y%m%d}-{booking_id.hex[:6].upper()}",
        "instrument_name": "基准仪器 0",
        "item_name": "机时",
        "address": "",
        "samples": None,
        "fee_fen": 20000,
        "enterprise_id": str(firm),
        "unit_id": str(unit),
        "instrument_id": str(instrument_id),
        "user_id": str(user),
        "mode": "machine_time",
        "start": start.isoformat(),
        "end": end.isoformat(),
        "action": "book",
        "from": None,
        "to": "confirmed",
        "actor_id": str(user),
        "reason": "",
    }


async def bench_raw(dsn: str, instruments: list[uuid.UUID], clients: int, total: int) -> dict[str, Any]:
    pool = await asyncpg.create_pool(dsn, min_size=min(clients, 30), max_size=min(clients, 30))
    assert pool is not None
    user, firm, unit = demo_id("demo-researcher"), demo_id("firm-qinghe"), demo_id("unit-zjlg")
    async with pool.acquire() as conn:
        items = {
            row["instrument_id"]: row["id"]
            for row in await conn.fetch(
                "SELECT instrument_id, id FROM service_items WHERE instrument_id = ANY($1)", instruments
            )
        }

    async def one(index: int, item: tuple[uuid.UUID, datetime]) -> None:
        instrument_id, start = item
        end = start + timedelta(hours=1)
        key = uuid.uuid4().hex
        async with pool.acquire() as conn:
            assert await conn.fetchval(RAW_STATEMENTS["claim"], key) == key
            await conn.fetch(RAW_STATEMENTS["user"], user)
            async with conn.transaction():
                await conn.fetch(RAW_STATEMENTS["bookable"], instrument_id)
                # (the buffer is 0: the booking's block ends where the slot ends)
                taken = await conn.fetch(RAW_STATEMENTS["closures_and_overlap"], instrument_id, start, end)
                assert not taken
                booking_id = uuid.uuid4()
                await conn.execute(
                    RAW_STATEMENTS["booking"],
                    booking_id,
                    instrument_id,
                    unit,
                    firm,
                    user,
                    items[instrument_id],
                    start,
                    end,
                )
                await conn.execute(RAW_STATEMENTS["history"], booking_id, user)
                payload = _event_payload(booking_id, instrument_id, firm, unit, user, start, end)
                await conn.fetchval(RAW_STATEMENTS["outbox"], json.dumps(payload))
                await conn.execute(RAW_STATEMENTS["evidence"], booking_id)
                await conn.fetch(RAW_STATEMENTS["grants"], firm)
                await conn.execute(RAW_STATEMENTS["checkout_insert"], booking_id, firm, unit, instrument_id)
            await conn.execute(RAW_STATEMENTS["complete"], key)

    elapsed, latencies = await run_clients(slots(instruments, total, 100), clients, one)
    await pool.close()
    return summary("raw asyncpg (same statements)", total, elapsed, latencies)


WRK_SCRIPT = r"""
-- Written by bench/booking_bench.py: every request books a distinct free hour.
local instruments = {%(instruments)s}
local tokens = {%(tokens)s}
local base = %(base)d
local threads = {}
setup = function(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end
init = function(args)
  n = 0
  statuses = {}
end
local function at(t) return os.date("!%%Y-%%m-%%dT%%H:%%M:%%SZ", t) end
request = function()
  local k = n * %(threads)d + id
  n = n + 1
  local start = base + math.floor(k / #instruments) * 3600
  local body = '{"instrument_id":"' .. instruments[(k %% #instruments) + 1]
    .. '","mode":"machine_time","operation":"operator","start":"' .. at(start)
    .. '","end":"' .. at(start + 3600) .. '"}'
  return wrk.format("POST", "/api/v1/bookings", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. tokens[(k %% #tokens) + 1],
    ["Idempotency-Key"] = "bench-" .. base .. "-" .. id .. "-" .. n,
  }, body)
end
response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status ~= 201 and not refused then refused = body end
end
done = function(summary, latency, requests)
  local parts = {}
  for _, thread in ipairs(threads) do
    local body = thread:get("refused")
    if body then io.write("REFUSED " .. body .. "\n") end
    for status, count in pairs(thread:get("statuses")) do
      table.insert(parts, '"' .. status .. '":' .. count)
    end
  end
  io.write(string.format(
    'BENCH {"requests":%%d,"seconds":%%f,"p50":%%d,"p95":%%d,"p99":%%d,"mean":%%f,'
      .. '"socket_errors":%%d,"statuses":[{%%s}]}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), latency.mean,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    table.concat(parts, "},{")))
end
"""


def run_wrk(
    url: str, instruments: list[uuid.UUID], tokens: list[str], first_day: int, clients: int, seconds: int
) -> dict[str, Any]:
    """wrk (C, closed loop, ``clients`` connections) POSTs bookings at a running server."""
    base = datetime.now(SHANGHAI).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(
        days=first_day
    )
    threads = 2
    script = WRK_SCRIPT % {
        "instruments": ",".join(f'"{i}"' for i in instruments),
        "tokens": ",".join(f'"{t}"' for t in tokens),
        "base": int(base.timestamp()),
        "threads": threads,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as file:
        file.write(script)
        file.flush()
        command = [
            "wrk",
            f"-t{threads}",
            f"-c{clients}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "-s",
            file.name,
            url,
        ]
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    for refused in (x for x in output.splitlines() if x.startswith("REFUSED ")):
        print("# e.g.", refused[len("REFUSED ") :], file=sys.stderr)
    line = next(x for x in output.splitlines() if x.startswith("BENCH "))
    result: dict[str, Any] = json.loads(line[len("BENCH ") :])
    statuses: dict[str, int] = {}
    for group in result.pop("statuses"):
        for status, count in group.items():
            statuses[status] = statuses.get(status, 0) + count
    result["statuses"] = statuses
    return result


def bench_server(args: argparse.Namespace) -> None:
    """The real server (uvicorn, ``--server-workers`` processes) on a fresh database, driven by wrk."""
    from bench.load.driver import start_server, terminate

    # --separate-worker: the API processes only serve requests; one `yixiang worker` beside them
    # drains the outbox (the production shape), and its CPU is reported on its own.
    extra_env = {"YIXIANG_WORKER_IN_PROCESS": "false"} if args.separate_worker else {}
    if args.pool_size is not None:
        extra_env |= {"YIXIANG_DATABASE_POOL_SIZE": str(args.pool_size), "YIXIANG_DATABASE_MAX_OVERFLOW": "0"}
    with start_server(
        "postgres", args.server_workers, args.database_url, "redis://127.0.0.1:6379/0", extra_env=extra_env
    ) as server:
        assert server.database_url is not None
        outbox_worker = (
            subprocess.Popen([sys.executable, "-m", "yixiang.cli", "worker"], env=server.env)
            if args.separate_worker
            else None
        )
        try:
            instruments, tokens = run_loop(_server_fixture(server.url, server.database_url, args.instruments))
            run_wrk(server.url, instruments, tokens, 200, args.clients, 3)  # warm-up, far ahead
            # The worker has started (imports, start-up hooks) once it has drained the warm-up's
            # events: its start-up CPU stays out of the measurement.
            run_loop(_outbox_drained(server.database_url))
            user_before, system_before = process_user_system_seconds(server.pid)
            worker_before = process_cpu_seconds(outbox_worker.pid) if outbox_worker else 0.0
            result = run_wrk(server.url, instruments, tokens, 1, args.clients, args.seconds)
            created = result["statuses"].get("201", 0)
            user_after, system_after = process_user_system_seconds(server.pid)
            user, system = user_after - user_before, system_after - system_before
            cpu = user + system
            worker_cpu = process_cpu_seconds(outbox_worker.pid) - worker_before if outbox_worker else 0.0
            stored = run_loop(_count_bookings(server.database_url, datetime.now(UTC) + timedelta(days=150)))
            # The same SQL straight on asyncpg, at the same concurrency, once the outbox is drained
            # and the server and its worker have stopped (nothing competes with it, nothing picks
            # up its events): the rate the app is held against.
            run_loop(_outbox_drained(server.database_url))
            if outbox_worker is not None:
                terminate(outbox_worker)
            server.stop()
            raw = run_loop(
                bench_raw(plain(server.database_url), instruments, args.clients, max(created, 1000))
            )
        finally:
            if outbox_worker is not None:
                terminate(outbox_worker)
    worker_note = (
        ", outbox worker in a separate process" if args.separate_worker else ", outbox worker in-process"
    )
    print(f"# {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, python {platform.python_version()}")
    pool = "the default pool" if args.pool_size is None else f"a pool of {args.pool_size} connections each"
    print(
        f"# server: uvicorn, {args.server_workers} worker(s) with {pool}{worker_note},"
        " PostgreSQL + Redis on loopback"
    )
    print(f"# wrk -t2 -c{args.clients} -d{args.seconds}s")
    made = max(result["statuses"].get("201", 0), 1)
    print(f"# server CPU per booking: user {1000 * user / made:.2f} ms, system {1000 * system / made:.2f} ms")
    print(
        "| run | bookings/s | p50 ms | p95 ms | p99 ms | mean ms | answers | server CPU ms/booking"
        " | outbox worker CPU ms/booking |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    print(
        f"| server, {args.server_workers} worker(s), with Idempotency-Key | {created / result['seconds']:.1f}"
        f" | {result['p50'] / 1000:.1f} | {result['p95'] / 1000:.1f} | {result['p99'] / 1000:.1f}"
        f" | {result['mean'] / 1000:.1f} | {result['statuses']} | {1000 * cpu / max(created, 1):.2f}"
        f" | {f'{1000 * worker_cpu / max(created, 1):.2f}' if outbox_worker else 'in-process'} |"
    )
    print(
        f"| raw asyncpg (same statements, {args.clients} connections) | {raw['per_second']}"
        f" | {raw['p50_ms']} | {raw['p95_ms']} | {raw['p99_ms']} | {raw['mean_ms']} | | | |"
    )
    ratio = created / result["seconds"] / raw["per_second"]
    rate_goal = "met" if created / result["seconds"] >= 300 else "NOT met"
    print(
        f"server / raw = {ratio:.2f}  (goals: >= 300/s: {rate_goal};"
        f" >= 0.5 of raw: {'met' if ratio >= 0.5 else 'NOT met'})"
    )
    # wrk stops counting at the deadline: up to one request per connection lands unrecorded.
    if (
        not 0 <= stored - created <= args.clients
        or result["socket_errors"]
        or set(result["statuses"]) != {"201"}
    ):
        raise SystemExit(f"not every request booked: {created} answered 201, {stored} stored, {result}")


async def _server_fixture(url: str, database_url: str, count: int) -> tuple[list[uuid.UUID], list[str]]:
    from yixiang.db import create_engine, create_session_maker

    engine = create_engine(database_url)
    instruments = await add_instruments(create_session_maker(engine), count)
    await engine.dispose()
    tokens = []
    async with httpx.AsyncClient(base_url=url) as client:
        for username in ("demo-researcher", "demo-researcher-2"):
            response = await client.post("/api/v1/auth/dev-login", json={"username": username})
            tokens.append(response.json()["token"])
    return instruments, tokens


async def _outbox_drained(database_url: str, patience: float = 120) -> None:
    conn = await asyncpg.connect(plain(database_url))
    try:
        deadline = time.monotonic() + patience
        while time.monotonic() < deadline:
            if not await conn.fetchval("SELECT count(*) FROM outbox_events WHERE status = 'pending'"):
                return
            await asyncio.sleep(0.5)
    finally:
        await conn.close()


async def _count_bookings(database_url: str, before: datetime) -> int:
    conn = await asyncpg.connect(plain(database_url))
    try:
        return int(await conn.fetchval("SELECT count(*) FROM bookings WHERE start_at < $1", before))
    finally:
        await conn.close()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--bookings", type=int, default=3000)
    parser.add_argument("--instruments", type=int, default=50)
    parser.add_argument(
        "--server-workers",
        type=int,
        default=0,
        help="measure a real server with this many uvicorn workers, driven by wrk (0: in-process app)",
    )
    parser.add_argument("--seconds", type=int, default=15, help="wrk run length (server mode)")
    parser.add_argument(
        "--separate-worker",
        action="store_true",
        help="server mode: drain the outbox in a separate `yixiang worker` process, not in the API's",
    )
    parser.add_argument(
        "--pool-size",
        type=int,
        default=None,
        help="server mode: PostgreSQL connections per API process, no overflow (default: the app's)",
    )
    return parser.parse_args()


async def main(args: argparse.Namespace) -> None:
    name = f"yixiang_bench_{uuid.uuid4().hex[:8]}"
    server = args.database_url.rpartition("/")[0]
    admin = await asyncpg.connect(plain(args.database_url))
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{server}/{name}"
    app = create_app(in_process_settings(url, data_dir="/tmp/yixiang-bench"))
    try:
        async with app.lifespan():
            instruments = await build_instruments(app, args.instruments)
            results = [await bench_app(app, instruments, args.clients, args.bookings)]
            # a second set of instruments so the second run books free slots too
            fresh = await build_instruments(app, args.instruments)
            results.append(await bench_app(app, fresh, args.clients, args.bookings, idempotency_keys=False))
            availability = await bench_availability(app, instruments[0])
        results.append(await bench_raw(plain(url), instruments, args.clients, args.bookings))
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    ratio = results[0]["per_second"] / results[-1]["per_second"]
    print(f"# {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, python {platform.python_version()}")
    print(f"# clients={args.clients} bookings={args.bookings} instruments={args.instruments}")
    print("| run | bookings/s | p50 ms | p95 ms | p99 ms | mean ms |")
    print("|---|---|---|---|---|---|")
    for r in results:
        cells = [r["run"], r["per_second"], r["p50_ms"], r["p95_ms"], r["p99_ms"], r["mean_ms"]]
        print("| " + " | ".join(str(c) for c in cells) + " |")
    a = availability
    print(f"availability, a week of a busy instrument: p50 {a['p50_ms']} ms, p95 {a['p95_ms']} ms")
    rate_goal = "met" if results[0]["per_second"] >= 300 else "NOT met"
    print(
        f"app / raw = {ratio:.2f}  (goals: app >= 300/s: {rate_goal};"
        f" >= 0.5 of raw: {'met' if ratio >= 0.5 else 'NOT met'})"
    )


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.server_workers:
        bench_server(arguments)
    else:
        run_loop(main(arguments))
