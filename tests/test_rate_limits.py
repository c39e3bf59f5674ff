"""Abuse limits: sign-in attempts per address; the limits survive a dead cache by counting locally."""

from __future__ import annotations

import random

import httpx
import msgspec

from tests.support import error_code
from yixiang.ratelimit import RateLimiter
from yixiang.store import RedisStore


def client_from(backend, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=backend.app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def test_too_many_sign_ins_from_one_address_get_429_with_retry_after(backend):
    settings = backend.app.state.settings
    backend.app.state.settings = msgspec.structs.replace(settings, rate_limit_sign_in_per_minute=3)
    address = f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"
    other = f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"
    try:
        async with client_from(backend, address) as attacker, client_from(backend, other) as neighbour:
            answers = [
                await attacker.post(
                    "/api/v1/auth/login", json={"username": "demo-admin", "password": f"guess{i}"}
                )
                for i in range(5)
            ]
            assert [a.status_code for a in answers[:3]] == [401, 401, 401]
            blocked = answers[3]
            assert blocked.status_code == 429
            assert error_code(blocked) == "rate_limited"
            assert 1 <= int(blocked.headers["retry-after"]) <= 60
            ok = await neighbour.post("/api/v1/auth/dev-login", json={"username": "demo-admin"})
            assert ok.status_code == 200
    finally:
        backend.app.state.settings = settings


async def test_limits_fall_back_to_this_process_when_redis_is_down():
    limiter = RateLimiter(RedisStore("redis://127.0.0.1:1/0"))
    results = [await limiter.hit("sign_in:ip:test", limit=2) for _ in range(3)]
    assert [allowed for allowed, _ in results] == [True, True, False]
