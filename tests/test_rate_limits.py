"""Abuse limits: sign-in attempts per address; the limits survive a dead cache by counting locally;
the address is the peer's, or behind trusted proxies the right-most one they did not write."""

from __future__ import annotations

import asyncio
import random
import time
from contextlib import contextmanager
from typing import Any

import httpx
import msgspec
import pytest

from tests.live_server import live_server
from tests.support import error_code
from yixiang.ratelimit import RateLimiter
from yixiang.settings import SettingsError, load_settings
from yixiang.store import RedisStore

SEARCH = "/api/v1/instruments/search"


def client_from(backend, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=backend.app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def test_too_many_sign_ins_from_one_address_get_429_with_retry_after(backend):
    await in_one_window()  # fixed one-minute windows: the attempts must fall in one
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


async def test_known_addresses_are_remembered_in_this_process_when_redis_is_down():
    limiter = RateLimiter(RedisStore("redis://127.0.0.1:1/0"))
    assert not await limiter.recalls("sign_in:known:someone:192.0.2.1")
    await limiter.remember("sign_in:known:someone:192.0.2.1", 60)
    assert await limiter.recalls("sign_in:known:someone:192.0.2.1")


@contextmanager
def settings_changed(backend: Any, **changes: Any):
    settings = backend.app.state.settings
    backend.app.state.settings = msgspec.structs.replace(settings, **changes)
    try:
        yield
    finally:
        backend.app.state.settings = settings


def a_public_address() -> str:
    return f"198.51.{random.randint(0, 255)}.{random.randint(1, 254)}"


def a_loopback_address() -> str:
    return f"127.{random.randint(1, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


async def in_one_window(seconds_needed: float = 8) -> None:
    """Start near the beginning of a minute: the limits count in fixed one-minute windows, and a
    test's requests straddling two of them would be counted twice over."""
    into = time.time() % 60
    if into > 60 - seconds_needed:
        await asyncio.sleep(60 - into + 0.05)


def in_one_window_now(seconds_needed: float = 8) -> None:
    into = time.time() % 60
    if into > 60 - seconds_needed:
        time.sleep(60 - into + 0.05)


async def searches(client: httpx.AsyncClient, forwarded_for: list[str]) -> list[int]:
    answers = [await client.get(SEARCH, headers={"X-Forwarded-For": value}) for value in forwarded_for]
    for answer in answers:
        if answer.status_code == 429:
            assert error_code(answer) == "rate_limited"
            assert 1 <= int(answer.headers["retry-after"]) <= 60
    return [answer.status_code for answer in answers]


async def test_a_local_client_rotating_x_forwarded_for_stays_in_one_bucket(backend):
    await in_one_window()
    with settings_changed(backend, rate_limit_search_per_minute=3):
        async with client_from(backend, a_loopback_address()) as local:
            statuses = await searches(local, [a_public_address() for _ in range(5)])
    assert statuses == [200, 200, 200, 429, 429]


async def test_behind_a_trusted_proxy_each_client_has_its_own_bucket(backend):
    ingress = f"10.244.{random.randint(0, 255)}.{random.randint(1, 254)}"
    user, neighbour = a_public_address(), a_public_address()
    await in_one_window()
    with settings_changed(backend, rate_limit_search_per_minute=3, trusted_proxies=["10.244.0.0/16"]):
        async with client_from(backend, ingress) as proxy:
            # Five users behind one ingress are five buckets, not one.
            assert await searches(proxy, [a_public_address() for _ in range(5)]) == [200] * 5
            # The right-most address the ingress did not write is the bucket: a hop through another
            # trusted proxy (a load balancer in the pod network) does not hide the user.
            hops = [user, f"{user}, 10.244.9.9", user, f"{user}, 10.244.1.1"]
            assert await searches(proxy, hops) == [200, 200, 200, 429]
            assert await searches(proxy, [neighbour]) == [200]


async def test_a_spoofed_left_most_address_does_not_open_a_new_bucket(backend):
    ingress = f"10.244.{random.randint(0, 255)}.{random.randint(1, 254)}"
    attacker = a_public_address()
    await in_one_window()
    with settings_changed(backend, rate_limit_search_per_minute=3, trusted_proxies=["10.244.0.0/16"]):
        async with client_from(backend, ingress) as proxy:
            # The attacker writes X-Forwarded-For; the ingress appends the address it saw.
            spoofed = [f"{a_public_address()}, {attacker}" for _ in range(5)]
            assert await searches(proxy, spoofed) == [200, 200, 200, 429, 429]
        # A client that is not a trusted proxy cannot speak for others at all.
        async with client_from(backend, attacker) as direct:
            assert await searches(direct, [a_public_address()]) == [429]


def test_trusted_proxies_are_addresses_or_networks():
    settings = load_settings({"YIXIANG_TRUSTED_PROXIES": "10.244.0.0/16, 192.0.2.7,fd00::/8"})
    assert settings.trusted_proxies == ["10.244.0.0/16", "192.0.2.7", "fd00::/8"]
    assert load_settings({}).trusted_proxies == []
    with pytest.raises(SettingsError, match=r"YIXIANG_TRUSTED_PROXIES: '\*' is not"):
        load_settings({"YIXIANG_TRUSTED_PROXIES": "*"})


@pytest.mark.slow
def test_the_server_believes_x_forwarded_for_only_from_the_trusted_proxies(tmp_path):
    limits = {"YIXIANG_RATE_LIMIT_SEARCH_PER_MINUTE": "3"}
    (tmp_path / "plain").mkdir()
    (tmp_path / "proxied").mkdir()

    def statuses(server: Any, forwarded_for: list[str]) -> list[int]:
        url = server.base_url + SEARCH
        return [httpx.get(url, headers={"X-Forwarded-For": v}, timeout=30).status_code for v in forwarded_for]

    # No trusted proxy: a client on the server's own machine cannot pose as many clients.
    with live_server(tmp_path / "plain", "sqlite", **limits) as server:
        in_one_window_now()
        assert statuses(server, [a_public_address() for _ in range(5)]) == [200, 200, 200, 429, 429]
    # Loopback as the trusted proxy: each forwarded client is counted on its own.
    trusting = {**limits, "YIXIANG_TRUSTED_PROXIES": "127.0.0.1"}
    with live_server(tmp_path / "proxied", "sqlite", **trusting) as server:
        in_one_window_now()
        assert statuses(server, [a_public_address() for _ in range(5)]) == [200] * 5
        spoofed = [f"{a_public_address()}, 203.0.113.9" for _ in range(5)]
        assert statuses(server, spoofed) == [200, 200, 200, 429, 429]
