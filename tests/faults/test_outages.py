"""Faults: PostgreSQL restarting under a stream of requests, and Redis stopping. Requests fail
cleanly (503 with a code) while the database is away and succeed after; a dead cache degrades
service without stopping it; both recover without a restart of the API."""

from __future__ import annotations

import threading
import time
import uuid

import httpx
import pytest

from accounts.demo import demo_id
from tests.faults.servers import private_postgres, private_redis
from tests.live_server import live_server

pytestmark = pytest.mark.slow


@pytest.fixture
def stack(tmp_path):
    with private_postgres() as pg, private_redis() as redis:
        with live_server(
            tmp_path,
            "sqlite",
            YIXIANG_DATABASE_URL=pg.url,
            YIXIANG_REDIS_URL=redis.url,
            YIXIANG_RATE_LIMIT_SIGN_IN_PER_MINUTE="100000",
        ) as server:
            yield server, pg, redis


def test_redis_stopping_degrades_but_does_not_stop_the_api(stack):
    server, _, redis = stack
    token = server.token("demo-researcher")
    redis.stop()
    with httpx.Client(base_url=server.base_url, timeout=10) as http:
        ready = http.get("/ready")
        assert ready.status_code == 200
        assert ready.json()["status"] == "degraded"
        assert http.post("/api/v1/auth/dev-login", json={"username": "demo-provider"}).status_code == 200
        me = http.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200
        redis.start()
        deadline = time.monotonic() + 15
        while http.get("/ready").json()["status"] != "ok":
            assert time.monotonic() < deadline, "store did not recover"
            time.sleep(0.3)


def test_postgres_restart_during_a_stream_of_changes(stack):
    server, pg, _ = stack
    admin = {"Authorization": f"Bearer {server.token('demo-unit-admin')}"}
    unit = demo_id("unit-zjlg")
    results: list[tuple[int, str]] = []
    stop = threading.Event()

    def stream() -> None:
        with httpx.Client(base_url=server.base_url, timeout=15) as http:
            while not stop.is_set():
                key = {"Idempotency-Key": f"fault-{uuid.uuid4()}"}
                body = {"username": "demo-researcher-2", "role": "researcher"}
                r = http.post(f"/api/v1/organizations/{unit}/members", json=body, headers=admin | key)
                code = r.json().get("error", {}).get("code", "") if r.status_code >= 400 else ""
                results.append((r.status_code, code))
                if r.status_code == 201:
                    http.delete(
                        f"/api/v1/organizations/{unit}/members/{demo_id('demo-researcher-2')}", headers=admin
                    )
                time.sleep(0.02)

    worker = threading.Thread(target=stream)
    worker.start()
    time.sleep(1.0)
    pg.stop("immediate")
    time.sleep(2.0)
    pg.start()
    time.sleep(2.5)
    stop.set()
    worker.join(timeout=30)

    statuses = {status for status, _ in results}
    assert 201 in statuses, (results[:20], server.log()[-3000:])
    unclean = [r for r in results if r[0] >= 500 and r != (503, "database_unavailable")]
    assert not unclean, (unclean, server.log().split("unhandled error")[-1][:3000])
    assert any(status == 503 for status, _ in results), "the outage was never observed"
    # after the restart, changes go through again
    assert results[-1][0] in (201, 409), results[-5:]
    with httpx.Client(base_url=server.base_url, timeout=10) as http:
        assert http.get("/ready").status_code == 200
        members = http.get(f"/api/v1/organizations/{unit}/members", headers=admin).json()
        assert sum(1 for m in members if m["username"] == "demo-researcher-2") <= 1
