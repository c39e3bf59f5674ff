"""Abuse limits a user would hit: too many sign-ins or bookings a minute (per account, per user, per
address) → 429 with Retry-After; one firm cannot hold every slot of an instrument with requests
awaiting approval; oversized bodies and pages are refused with the standard error body."""

from __future__ import annotations

import asyncio
import random
import time
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import httpx
import msgspec
import pytest
from sqlalchemy import update

from accounts.auth import hash_password
from accounts.models import User
from booking.settings import BookingSettings
from tests.booking.world import LANWAN, QINGHE, machine_time, make_instrument, make_user, set_calendar
from tests.support import error_code
from yixiang.db import utcnow


def client_from(backend: Any, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=backend.app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=60)


def an_address() -> str:
    return f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


@contextmanager
def settings_changed(backend: Any, **changes: Any):
    settings = backend.app.state.settings
    backend.app.state.settings = msgspec.structs.replace(settings, **changes)
    try:
        yield
    finally:
        backend.app.state.settings = settings


def slot(n: int) -> tuple[Any, Any]:
    start = (utcnow() + timedelta(days=2, hours=n)).replace(minute=0, second=0, microsecond=0)
    return start, start + timedelta(hours=1)


async def token(client: httpx.AsyncClient, username: str) -> dict[str, str]:
    r = await client.post("/api/v1/auth/dev-login", json={"username": username})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def assert_limited(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert error_code(response) == "rate_limited"
    assert 1 <= int(response.headers["retry-after"]) <= 60


async def test_password_guessing_one_account_from_many_addresses_is_limited(backend):
    username = await make_user(backend, QINGHE)
    with settings_changed(backend, rate_limit_sign_in_per_minute=3):
        answers = []
        for i in range(5):
            async with client_from(backend, an_address()) as attacker:
                answers.append(
                    await attacker.post(
                        "/api/v1/auth/login", json={"username": username, "password": f"guess{i}"}
                    )
                )
        assert [a.status_code for a in answers[:3]] == [401, 401, 401]
        assert_limited(answers[3])
        # Another account is not held back by the attack on this one.
        bystander = await make_user(backend, QINGHE)
        async with client_from(backend, an_address()) as someone:
            r = await someone.post("/api/v1/auth/login", json={"username": bystander, "password": "x"})
            assert r.status_code == 401


async def user_with_password(backend: Any, password: str) -> str:
    username = await make_user(backend, QINGHE)
    async with backend.runtime.session_maker() as session, session.begin():
        await session.execute(
            update(User).where(User.username == username).values(password_hash=hash_password(password))
        )
    return username


async def sign_in(address: str, username: str, password: str, backend: Any) -> httpx.Response:
    async with client_from(backend, address) as c:
        return await c.post("/api/v1/auth/login", json={"username": username, "password": password})


async def in_one_window(seconds_needed: float = 8) -> None:
    """Start near the beginning of a minute: the limits count in fixed one-minute windows, and a
    test's requests straddling two of them would be counted twice over."""
    into = time.time() % 60
    if into > 60 - seconds_needed:
        await asyncio.sleep(60 - into + 0.05)


async def test_guessing_an_accounts_password_does_not_lock_its_owner_out(backend):
    username = await user_with_password(backend, "owner-secret-1")
    home = an_address()
    await in_one_window()
    with settings_changed(backend, rate_limit_sign_in_per_minute=3):
        assert (await sign_in(home, username, "owner-secret-1", backend)).status_code == 200
        # An attacker fails from many addresses: three attempts a minute on the account from
        # addresses it does not know (the owner's first sign-in from home was one), then 429.
        answers = [await sign_in(an_address(), username, f"guess{i}", backend) for i in range(6)]
        assert [a.status_code for a in answers[:2]] == [401, 401]
        for blocked in answers[2:]:
            assert_limited(blocked)
        # Even the right password is not let through from an address the account does not know:
        # a lucky guess learns nothing.
        assert_limited(await sign_in(an_address(), username, "owner-secret-1", backend))
        # The owner, from the address they signed in from before, gets in all the same.
        owner = await sign_in(home, username, "owner-secret-1", backend)
        assert owner.status_code == 200, owner.text
        assert owner.json()["token"]


async def test_guessing_from_the_owners_own_address_is_still_limited(backend):
    username = await user_with_password(backend, "owner-secret-2")
    home = an_address()
    await in_one_window()
    with settings_changed(backend, rate_limit_sign_in_per_minute=3):
        assert (await sign_in(home, username, "owner-secret-2", backend)).status_code == 200
        answers = [await sign_in(home, username, f"guess{i}", backend) for i in range(3)]
        assert [a.status_code for a in answers[:2]] == [401, 401]
        assert_limited(answers[2])


@pytest.mark.slow  # may wait for a fresh minute
async def test_one_user_booking_too_fast_gets_429_and_others_keep_booking(backend, client, login):
    # Each booking signs in and books (two requests, a second or more on a loaded machine).
    await in_one_window(30)
    world = await make_instrument(backend)
    await set_calendar(client, await login("demo-provider"), world.instrument_id)
    greedy, patient = await make_user(backend, QINGHE), await make_user(backend, LANWAN)
    with settings_changed(backend, rate_limit_booking_per_minute=3):
        # From different addresses each time: the per-user limit alone stops the greedy user.
        answers = []
        for n in range(5):
            async with client_from(backend, an_address()) as c:
                headers = await token(c, greedy)
                start, end = slot(n)
                answers.append(
                    await c.post("/api/v1/bookings", json=machine_time(world, start, end), headers=headers)
                )
        assert [a.status_code for a in answers[:3]] == [201, 201, 201]
        assert_limited(answers[3])
        assert "limit_per_minute" in answers[3].json()["error"]["details"]
        async with client_from(backend, an_address()) as c:
            start, end = slot(10)
            r = await c.post(
                "/api/v1/bookings", json=machine_time(world, start, end), headers=await token(c, patient)
            )
            assert r.status_code == 201, r.text


@pytest.mark.slow  # may wait for a fresh minute
async def test_many_users_booking_from_one_address_are_limited_per_address(backend, client, login):
    # Each booking signs in and books (two requests, a second or more on a loaded machine).
    await in_one_window(30)
    world = await make_instrument(backend)
    await set_calendar(client, await login("demo-provider"), world.instrument_id)
    users = [await make_user(backend, QINGHE) for _ in range(4)]
    with settings_changed(backend, rate_limit_booking_per_minute=3):
        async with client_from(backend, an_address()) as c:
            statuses = []
            for n, user in enumerate(users):
                start, end = slot(20 + n)
                r = await c.post(
                    "/api/v1/bookings", json=machine_time(world, start, end), headers=await token(c, user)
                )
                statuses.append(r.status_code)
                if r.status_code == 429:
                    assert_limited(r)
        assert statuses == [201, 201, 201, 429]


async def approval_instrument(backend: Any, client: Any, login: Any) -> Any:
    world = await make_instrument(backend)
    await set_calendar(client, await login("demo-provider"), world.instrument_id, needs_approval=True)
    return world


async def test_a_firm_cannot_hold_every_slot_with_open_requests(backend, client, login):
    cap = BookingSettings.of(backend.settings).max_open_requests_per_instrument
    world = await approval_instrument(backend, client, login)
    researcher, provider = await login("demo-researcher"), await login("demo-provider")
    ids = []
    for n in range(cap):
        start, end = slot(n)
        r = await client.post("/api/v1/bookings", json=machine_time(world, start, end), headers=researcher)
        assert r.status_code == 201 and r.json()["status"] == "requested", r.text
        ids.append(r.json()["id"])
    start, end = slot(cap)
    refused = await client.post("/api/v1/bookings", json=machine_time(world, start, end), headers=researcher)
    assert refused.status_code == 409, refused.text
    assert error_code(refused) == "too_many_open_requests"
    assert refused.json()["error"]["details"]["max_open_requests"] == cap
    # The firm's colleague is the same firm; another firm is not affected.
    colleague = await login("demo-firm-admin")
    r = await client.post("/api/v1/bookings", json=machine_time(world, start, end), headers=colleague)
    assert error_code(r) == "too_many_open_requests"
    other = await client.post(
        "/api/v1/bookings", json=machine_time(world, start, end), headers=await login("demo-researcher-2")
    )
    assert other.status_code == 201, other.text
    # Once the provider answers one request, the firm may ask again.
    approved = await client.post(f"/api/v1/bookings/{ids[0]}/approve", headers=provider)
    assert approved.status_code == 200, approved.text
    start, end = slot(cap + 1)
    again = await client.post("/api/v1/bookings", json=machine_time(world, start, end), headers=researcher)
    assert again.status_code == 201, again.text


async def test_simultaneous_requests_of_one_firm_never_exceed_the_cap(backend, client, login):
    cap = BookingSettings.of(backend.settings).max_open_requests_per_instrument
    world = await approval_instrument(backend, client, login)
    researcher = await login("demo-researcher")

    async def request(n: int) -> httpx.Response:
        start, end = slot(40 + n)
        return await client.post("/api/v1/bookings", json=machine_time(world, start, end), headers=researcher)

    answers = await asyncio.gather(*(request(n) for n in range(cap + 5)))
    codes = sorted(a.status_code for a in answers)
    assert codes == [201] * cap + [409] * 5, [a.text for a in answers]
    listed = await client.get(
        f"/api/v1/bookings?instrument_id={world.instrument_id}&status=requested", headers=researcher
    )
    assert listed.json()["total"] == cap


async def test_a_body_over_the_limit_is_413_with_the_error_body(backend, client, login):
    researcher = await login("demo-researcher")
    huge = {"instrument_id": "00000000-0000-0000-0000-000000000000", "mode": "machine_time"}
    huge["note"] = "长" * (backend.settings.max_body_bytes // 2)  # 3 bytes each in UTF-8
    r = await client.post("/api/v1/bookings", json=huge, headers=researcher)
    assert r.status_code == 413, r.text[:300]
    assert error_code(r) == "payload_too_large"


async def test_pages_over_the_maximum_are_400_naming_the_field(backend, client, login):
    researcher = await login("demo-researcher")
    world = await make_instrument(backend)
    for path, field in [
        ("/api/v1/bookings?limit=201", "limit"),
        ("/api/v1/bookings?limit=0", "limit"),
        ("/api/v1/bookings?offset=-1", "offset"),
        (f"/api/v1/instruments/{world.instrument_id}/ratings?limit=101", "limit"),
    ]:
        r = await client.get(path, headers=researcher)
        assert r.status_code == 400, (path, r.text)
        assert error_code(r) == "validation_error"
        assert field in r.text, (path, r.text)
    ok = await client.get("/api/v1/bookings?limit=200", headers=researcher)
    assert ok.status_code == 200 and ok.json()["limit"] == 200
