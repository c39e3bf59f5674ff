"""Read replicas: search, details and availability read from a streaming replica; bookings are
decided on the primary, so a replica's lag shows a taken slot as free for a moment but never
sells it twice; and a user who just booked sees their booking at once, replica or not."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from tests.faults.servers import private_postgres, private_redis, private_replica
from tests.live_server import live_server
from tests.support import plain_dsn
from yixiang.clock import SHANGHAI

pytestmark = pytest.mark.slow


def sql(url: str, query: str) -> Any:
    async def run() -> Any:
        conn = await asyncpg.connect(plain_dsn(url))
        try:
            return await conn.fetchval(query)
        finally:
            await conn.close()

    return asyncio.run(run())


def caught_up(primary_url: str, replica_url: str) -> None:
    target = sql(primary_url, "SELECT pg_current_wal_lsn()::text")
    deadline = time.monotonic() + 30
    while sql(replica_url, f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn") is not True:
        assert time.monotonic() < deadline, "the replica did not catch up"
        time.sleep(0.2)


def free_hour(http: httpx.Client, auth: dict[str, str]) -> tuple[str, str, str]:
    """A bookable hour on a machine-time instrument, a week or more ahead."""
    deadline = time.monotonic() + 60
    while True:  # the in-process worker fills the search index after the first start
        query = {"q": "显微镜", "limit": 20}
        items = http.get("/api/v1/instruments/search", params=query, headers=auth).json()
        if items["items"] or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    today = datetime.now(SHANGHAI).replace(hour=0, minute=0, second=0, microsecond=0)
    window = {"from": (today + timedelta(days=7)).isoformat(), "to": (today + timedelta(days=21)).isoformat()}
    for item in items["items"]:
        if "machine_time" not in item.get("modes", []):
            continue
        answer = http.get(f"/api/v1/instruments/{item['id']}/availability", params=window, headers=auth)
        slots = answer.json().get("slots", []) if answer.status_code == 200 else []
        ends = {s["start"]: s["end"] for s in slots}
        for s in slots:
            if ends.get(s["end"]) and datetime.fromisoformat(s["start"]).minute == 0:
                return item["id"], s["start"], ends[s["end"]]
    raise AssertionError(f"no bookable hour among the demo microscopes: {items}")


def shows_free(http: httpx.Client, auth: dict[str, str], instrument: str, start: str, end: str) -> bool:
    window = {"from": start, "to": end}
    answer = http.get(f"/api/v1/instruments/{instrument}/availability", params=window, headers=auth)
    assert answer.status_code == 200, answer.text
    return any(s["start"] == start for s in answer.json()["slots"])


def test_reads_from_a_lagging_replica_never_double_sell_and_a_user_sees_their_own_booking(tmp_path):
    with private_postgres() as primary, private_replica(primary) as replica, private_redis() as redis:
        env = {
            "YIXIANG_DATABASE_URL": primary.url,
            "YIXIANG_DATABASE_READ_URLS": replica.url,
            "YIXIANG_REDIS_URL": redis.url,
        }
        with (
            live_server(tmp_path, "sqlite", **env) as server,
            httpx.Client(base_url=server.base_url, timeout=30) as http,
        ):
            first = {"Authorization": f"Bearer {server.token('demo-researcher')}"}
            second = {"Authorization": f"Bearer {server.token('demo-researcher-2')}"}
            caught_up(primary.url, replica.url)
            instrument, start, end = free_hour(http, second)

            # the replica stops applying the primary's changes: it lags from now on
            sql(replica.url, "SELECT pg_wal_replay_pause()")
            body = {"instrument_id": instrument, "mode": "machine_time", "operation": "operator"}
            booked = http.post("/api/v1/bookings", json=body | {"start": start, "end": end}, headers=first)
            assert booked.status_code == 201, booked.text
            booking_id = booked.json()["id"]

            # the one who booked sees it at once: their reads stay on the primary for a while
            assert http.get(f"/api/v1/bookings/{booking_id}", headers=first).status_code == 200
            assert not shows_free(http, first, instrument, start, end)

            # someone else reads from the lagging replica: the hour still looks free ...
            assert shows_free(http, second, instrument, start, end)
            # ... but the primary decides, and refuses it
            again = http.post("/api/v1/bookings", json=body | {"start": start, "end": end}, headers=second)
            assert again.status_code == 409, again.text
            held = sql(
                primary.url,
                "SELECT count(*) FROM bookings WHERE instrument_id = "
                f"'{instrument}' AND start_at < '{end}' AND end_at > '{start}' "
                "AND status IN ('requested', 'confirmed', 'in_service')",
            )
            assert held == 1

            # once the replica catches up, everybody sees the hour taken
            sql(replica.url, "SELECT pg_wal_replay_resume()")
            caught_up(primary.url, replica.url)
            assert not shows_free(http, second, instrument, start, end)
