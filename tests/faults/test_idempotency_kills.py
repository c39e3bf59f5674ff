"""Faults in the middle of a keyed booking: PostgreSQL killed, the API process killed (SIGKILL),
and the API process killed after the booking was written but before its answer was stored. A
client that retries with the same Idempotency-Key and obeys ``Retry-After`` gets its booking
within a lease's length, and exactly one booking exists.

Each kill lands while the request is inside its transaction, from outside the app: the test
holds a row lock the request needs (the instrument's, or the key's record) and kills once
PostgreSQL shows the request waiting for it.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from accounts.demo import demo_id
from tests.booking.world import ALWAYS_OPEN
from tests.faults.servers import PrivatePostgres, private_postgres, private_redis
from tests.live_server import LiveServer, live_server
from tests.support import plain_dsn
from yixiang.clock import SHANGHAI
from yixiang.db import utcnow

pytestmark = pytest.mark.slow

LEASE_SECONDS = 3  # a dead request's key comes back after 3 s


@dataclass
class Stack:
    pg: PrivatePostgres
    server: LiveServer
    tmp: Path
    restarted: list[subprocess.Popen[bytes]]
    instrument_id: str = ""

    @property
    def dsn(self) -> str:
        return plain_dsn(self.pg.url)

    def kill_api(self) -> None:
        process = self.restarted[-1] if self.restarted else self.server.process
        process.send_signal(signal.SIGKILL)
        process.wait()

    def start_api(self) -> None:
        """The API again, on the same address (as a supervisor restarts it)."""
        port = self.server.base_url.rsplit(":", 1)[1]
        with open(self.tmp / "restarted.log", "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "yixiang.cli", "serve", "--port", port],
                env=self.server.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.restarted.append(process)
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, (self.tmp / "restarted.log").read_text()
            try:
                if httpx.get(f"{self.server.base_url}/ready", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the API did not come back"
            time.sleep(0.3)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("idempotency-kills")
    with private_postgres() as pg, private_redis() as redis:
        with live_server(
            tmp,
            "sqlite",
            YIXIANG_DATABASE_URL=pg.url,
            YIXIANG_REDIS_URL=redis.url,
            YIXIANG_IDEMPOTENCY_LEASE_SECONDS=str(LEASE_SECONDS),
        ) as server:
            built = Stack(pg, server, tmp, [])
            try:
                built.instrument_id = _open_an_instrument(built)
                yield built
            finally:
                for process in built.restarted:
                    process.terminate()
                    try:
                        process.wait(timeout=15)
                    except subprocess.TimeoutExpired:
                        process.kill()


def _open_an_instrument(stack: Stack) -> str:
    """A demo instrument of the provider's unit, open around the clock, booked without approval."""

    async def find() -> str:
        conn = await asyncpg.connect(stack.dsn)
        try:
            return str(
                await conn.fetchval(
                    """SELECT i.id FROM instruments i JOIN service_items s ON s.instrument_id = i.id
                       WHERE i.unit_id = $1 AND i.publication = 'published' AND i.status = 'in_service'
                         AND i.operator_run AND s.mode = 'machine_time' AND s.active
                       ORDER BY i.id LIMIT 1""",
                    demo_id("unit-zjlg"),
                )
            )
        finally:
            await conn.close()

    instrument_id = asyncio.run(find())
    provider = {"Authorization": f"Bearer {stack.server.token('demo-provider')}"}
    answer = httpx.put(
        f"{stack.server.base_url}/api/v1/provider/instruments/{instrument_id}/calendar",
        json=ALWAYS_OPEN,
        headers=provider,
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return instrument_id


def _booking_body(stack: Stack, days_ahead: int) -> dict[str, Any]:
    day = utcnow().astimezone(SHANGHAI).date() + timedelta(days=days_ahead)
    start = datetime(day.year, day.month, day.day, 10, tzinfo=SHANGHAI)
    return {
        "instrument_id": stack.instrument_id,
        "mode": "machine_time",
        "operation": "operator",
        "start": start.isoformat(),
        "end": (start + timedelta(hours=1)).isoformat(),
    }


async def _bookings_at(stack: Stack, body: dict[str, Any]) -> int:
    conn = await asyncpg.connect(stack.dsn)
    try:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM bookings WHERE instrument_id = $1 AND start_at = $2",
                uuid.UUID(stack.instrument_id),
                datetime.fromisoformat(body["start"]),
            )
        )
    finally:
        await conn.close()


async def _hold(dsn: str, sql: str, *args: Any) -> asyncpg.Connection:
    """A connection holding the row locks ``sql`` takes, until it is closed."""
    conn = await asyncpg.connect(dsn)
    await conn.execute("BEGIN")
    await conn.execute(sql, *args)
    return conn


async def _until_waiting(dsn: str, statement_like: str) -> None:
    """Until a backend waits for a lock while running a statement that matches ``statement_like``."""
    conn = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + 20
        while not await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query ILIKE $1",
            statement_like,
        ):
            assert time.monotonic() < deadline, "the request never reached the lock"
            await asyncio.sleep(0.05)
    finally:
        await conn.close()


async def _close_the_dead_process_connections(dsn: str, *keep: asyncpg.Connection) -> None:
    """What PostgreSQL does once it notices that the API process is gone (at the next result it
    sends, or with ``client_connection_check_interval``): end its sessions, rolling back their
    transactions. Done at once here, so that a statement of the dead process waiting for a lock
    cannot go on when the lock is released."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            """SELECT pg_terminate_backend(pid) FROM pg_stat_activity
               WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND pid <> ALL($1::int[])""",
            [held.get_server_pid() for held in keep],
        )
    finally:
        await conn.close()


async def _retry_until_answered(
    base_url: str, body: dict[str, Any], headers: dict[str, str]
) -> tuple[httpx.Response, float]:
    """Retry as a well-behaved client does: again after ``Retry-After`` while the answer says so."""
    began = time.monotonic()
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        while True:
            answer = await http.post("/api/v1/bookings", json=body, headers=headers)
            if answer.status_code not in (409, 503) or "retry-after" not in answer.headers:
                return answer, time.monotonic() - began
            assert answer.json()["error"]["code"] in (
                "idempotency_request_in_progress",
                "database_unavailable",
            ), answer.text
            waited = time.monotonic() - began
            assert waited < 4 * LEASE_SECONDS + 10, (waited, answer.text)
            await asyncio.sleep(float(answer.headers["retry-after"]))


async def _post_in_background(
    base_url: str, body: dict[str, Any], headers: dict[str, str]
) -> asyncio.Task[Any]:
    async def post() -> Any:
        async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
            return await http.post("/api/v1/bookings", json=body, headers=headers)

    return asyncio.create_task(post())


def _researcher(stack: Stack) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {stack.server.token('demo-researcher')}",
        "Idempotency-Key": f"kill-{uuid.uuid4()}",
    }


async def _then_exactly_one(stack: Stack, body: dict[str, Any], headers: dict[str, str]) -> None:
    answer, waited = await _retry_until_answered(stack.server.base_url, body, headers)
    assert answer.status_code == 201, answer.text
    assert waited < 2 * LEASE_SECONDS + 5, waited
    assert await _bookings_at(stack, body) == 1
    async with httpx.AsyncClient(base_url=stack.server.base_url, timeout=30) as http:
        again = await http.post("/api/v1/bookings", json=body, headers=headers)
    assert again.status_code == 201, again.text
    assert again.json()["id"] == answer.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"


async def test_postgres_killed_mid_booking_then_a_retry_books_once(stack: Stack) -> None:
    body, headers = _booking_body(stack, 7), _researcher(stack)
    locker = await _hold(
        stack.dsn, "SELECT 1 FROM instruments WHERE id = $1 FOR UPDATE", uuid.UUID(stack.instrument_id)
    )
    request = await _post_in_background(stack.server.base_url, body, headers)
    await _until_waiting(stack.dsn, "%instruments%")
    stack.pg.stop("immediate")
    first = await request
    assert first.status_code == 503, first.text
    locker.terminate()
    stack.pg.start()
    await _then_exactly_one(stack, body, headers)


async def test_api_killed_mid_booking_then_a_retry_books_once(stack: Stack) -> None:
    body, headers = _booking_body(stack, 8), _researcher(stack)
    locker = await _hold(
        stack.dsn, "SELECT 1 FROM instruments WHERE id = $1 FOR UPDATE", uuid.UUID(stack.instrument_id)
    )
    request = await _post_in_background(stack.server.base_url, body, headers)
    await _until_waiting(stack.dsn, "%instruments%")
    stack.kill_api()
    await _close_the_dead_process_connections(stack.dsn, locker)
    with pytest.raises(httpx.TransportError):
        await request
    await locker.close()
    stack.start_api()
    await _then_exactly_one(stack, body, headers)


async def test_api_killed_after_the_booking_before_its_answer_was_stored(stack: Stack) -> None:
    """The hard case: the booking is written, the process dies before the key records the answer.
    The retry must neither find the key stuck nor book a second time."""
    body, headers = _booking_body(stack, 9), _researcher(stack)
    instrument = await _hold(
        stack.dsn, "SELECT 1 FROM instruments WHERE id = $1 FOR UPDATE", uuid.UUID(stack.instrument_id)
    )
    request = await _post_in_background(stack.server.base_url, body, headers)
    await _until_waiting(stack.dsn, "%instruments%")
    # the key is claimed by now: hold its record, then let the booking go on until it waits for it
    record = await _hold(stack.dsn, "SELECT 1 FROM idempotency_records FOR UPDATE")
    await instrument.close()
    await _until_waiting(stack.dsn, "%idempotency_records%response_status%")
    stack.kill_api()
    await _close_the_dead_process_connections(stack.dsn, record)
    with pytest.raises(httpx.TransportError):
        await request
    await record.close()
    stack.start_api()
    await _then_exactly_one(stack, body, headers)
