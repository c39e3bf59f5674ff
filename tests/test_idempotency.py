"""Idempotency-Key: a retried request replays the first answer; a reused key with another body is refused."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from accounts.demo import demo_id
from accounts.models import Membership
from booking.models import Booking
from catalogue.models import Instrument
from tests.booking.world import day_at, machine_time, make_instrument, set_calendar
from tests.support import error_code
from yixiang.db import utcnow
from yixiang.idempotency import IdempotencyRecord


async def _membership_count(backend, org_id, username_id) -> int:
    async with backend.runtime.session_maker() as session:
        return int(
            await session.scalar(
                select(func.count())
                .select_from(Membership)
                .where(Membership.organization_id == org_id, Membership.user_id == username_id)
            )
        )


async def _add_member(client, headers, username: str, unit=None):
    """The unit admin's idempotent request of these tests: add ``username`` as a researcher."""
    return await client.post(
        f"/api/v1/organizations/{unit or demo_id('unit-zjlg')}/members",
        json={"username": username, "role": "researcher"},
        headers=headers,
    )


async def test_retry_with_the_same_key_replays_the_first_response(client, login, backend):
    unit = demo_id("unit-zjlg")
    admin = await login("demo-unit-admin")
    key = {"Idempotency-Key": f"add-{uuid.uuid4()}"}
    body = {"username": "demo-researcher-2", "role": "researcher"}
    first = await client.post(f"/api/v1/organizations/{unit}/members", json=body, headers=admin | key)
    assert first.status_code == 201, first.text
    retry = await client.post(f"/api/v1/organizations/{unit}/members", json=body, headers=admin | key)
    assert retry.status_code == 201
    assert retry.json() == first.json()
    assert retry.headers["idempotent-replayed"] == "true"
    assert await _membership_count(backend, unit, demo_id("demo-researcher-2")) == 1
    # without the key, the same request is a new request and meets the real rule
    again = await client.post(f"/api/v1/organizations/{unit}/members", json=body, headers=admin)
    assert again.status_code == 409
    await client.delete(f"/api/v1/organizations/{unit}/members/{demo_id('demo-researcher-2')}", headers=admin)


async def test_the_same_key_with_another_body_is_refused(client, login):
    unit = demo_id("unit-zjlg")
    admin = await login("demo-unit-admin")
    key = {"Idempotency-Key": f"add-{uuid.uuid4()}"}
    first = await _add_member(client, admin | key, "demo-admin")
    assert first.status_code == 201
    other = await _add_member(client, admin | key, "demo-firm-admin")
    assert other.status_code == 409
    assert error_code(other) == "idempotency_key_reused"
    await client.delete(f"/api/v1/organizations/{unit}/members/{demo_id('demo-admin')}", headers=admin)


async def test_errors_that_invite_a_retry_are_not_stored(client, login):
    unit = demo_id("unit-zjlg")
    admin = await login("demo-unit-admin")
    key = {"Idempotency-Key": f"add-{uuid.uuid4()}"}
    body = {"username": "demo-provider", "role": "provider_staff"}  # already a member: 409
    first = await client.post(f"/api/v1/organizations/{unit}/members", json=body, headers=admin | key)
    assert first.status_code == 409
    assert error_code(first) == "already_member"
    retry = await client.post(f"/api/v1/organizations/{unit}/members", json=body, headers=admin | key)
    assert "idempotent-replayed" not in retry.headers


async def test_concurrent_duplicates_produce_one_change(client, login, backend):
    unit = demo_id("unit-hzcl")
    admin_headers = await login("demo-admin")  # the platform admin may manage any organisation
    key = {"Idempotency-Key": f"race-{uuid.uuid4()}"}
    body = {"username": "demo-researcher", "role": "researcher"}
    responses = await asyncio.gather(
        *[
            client.post(f"/api/v1/organizations/{unit}/members", json=body, headers=admin_headers | key)
            for _ in range(10)
        ]
    )
    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {201, 409}, statuses
    assert 201 in statuses
    for r in responses:
        if r.status_code == 409:
            assert error_code(r) == "idempotency_request_in_progress"
    assert await _membership_count(backend, unit, demo_id("demo-researcher")) == 1
    await client.delete(
        f"/api/v1/organizations/{unit}/members/{demo_id('demo-researcher')}", headers=admin_headers
    )


async def test_keys_are_per_user(client, login):
    """Two users who happen to send the same key do not see each other's answers."""
    key = {"Idempotency-Key": f"shared-{uuid.uuid4()}"}
    unit = demo_id("unit-zjlg")
    admin = await login("demo-unit-admin")
    first = await _add_member(client, admin | key, "demo-finance-bureau")
    assert first.status_code == 201
    stranger = await login("demo-researcher-2")
    theirs = await _add_member(client, stranger | key, "demo-finance-bureau")
    assert theirs.status_code == 404  # their own request, judged on its own: not their organisation
    await client.delete(
        f"/api/v1/organizations/{unit}/members/{demo_id('demo-finance-bureau')}", headers=admin
    )


async def test_a_malformed_key_is_a_400(client, login):
    admin = await login("demo-unit-admin")
    response = await client.post(
        f"/api/v1/organizations/{demo_id('unit-zjlg')}/members",
        json={"username": "demo-admin", "role": "researcher"},
        headers=admin | {"Idempotency-Key": "bad key with spaces"},
    )
    assert response.status_code == 400
    assert error_code(response) == "idempotency_key_invalid"


async def test_an_expired_key_is_a_new_request(client, login, backend):
    """Once a key's record has expired, the key runs the request again instead of replaying."""
    unit = demo_id("unit-zjlg")
    admin = await login("demo-unit-admin")
    key = {"Idempotency-Key": f"add-{uuid.uuid4()}"}
    first = await _add_member(client, admin | key, "demo-admin")
    assert first.status_code == 201
    async with backend.runtime.session_maker() as session, session.begin():
        newest = await session.scalar(
            select(IdempotencyRecord).order_by(IdempotencyRecord.created_at.desc()).limit(1)
        )
        assert newest is not None and newest.completed
        newest.expires_at = newest.created_at  # the record of the request just made
    other = await _add_member(client, admin | key, "demo-firm-admin")
    assert other.status_code == 201, other.text
    assert "idempotent-replayed" not in other.headers
    assert await _membership_count(backend, unit, demo_id("demo-firm-admin")) == 1
    for user in ("demo-admin", "demo-firm-admin"):
        await client.delete(f"/api/v1/organizations/{unit}/members/{demo_id(user)}", headers=admin)


# --- leases: a running request holds its key for a short lease, renewed while it runs ------------


async def _leave_the_claim_of_a_dead_request(backend, lease_left: timedelta) -> None:
    """Turn the newest key's record into what a request that died mid-way leaves: the key claimed
    (its lease running out in ``lease_left``), no answer, and (the change and the key commit
    together) no change — the caller undoes the change."""
    async with backend.runtime.session_maker() as session, session.begin():
        newest = await session.scalar(
            select(IdempotencyRecord).order_by(IdempotencyRecord.created_at.desc()).limit(1)
        )
        assert newest is not None and newest.completed
        newest.completed = False
        newest.response_status = newest.response_headers = newest.response_body = None
        newest.expires_at = utcnow() + lease_left


async def test_a_key_whose_request_died_is_taken_over_once_its_lease_ran_out(client, login, backend):
    unit = demo_id("unit-zjlg")
    admin = await login("demo-unit-admin")
    key = {"Idempotency-Key": f"add-{uuid.uuid4()}"}
    assert (await _add_member(client, admin | key, "demo-admin")).status_code == 201
    await _leave_the_claim_of_a_dead_request(backend, timedelta(seconds=-1))
    await client.delete(f"/api/v1/organizations/{unit}/members/{demo_id('demo-admin')}", headers=admin)

    retry = await _add_member(client, admin | key, "demo-admin")
    assert retry.status_code == 201, retry.text
    assert "idempotent-replayed" not in retry.headers  # it ran
    assert await _membership_count(backend, unit, demo_id("demo-admin")) == 1
    replay = await _add_member(client, admin | key, "demo-admin")
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == retry.json()
    await client.delete(f"/api/v1/organizations/{unit}/members/{demo_id('demo-admin')}", headers=admin)


async def test_a_live_lease_answers_409_with_its_remaining_seconds(client, login, backend):
    unit = demo_id("unit-zjlg")
    admin = await login("demo-unit-admin")
    key = {"Idempotency-Key": f"add-{uuid.uuid4()}"}
    assert (await _add_member(client, admin | key, "demo-admin")).status_code == 201
    await _leave_the_claim_of_a_dead_request(backend, timedelta(seconds=20))
    await client.delete(f"/api/v1/organizations/{unit}/members/{demo_id('demo-admin')}", headers=admin)

    retry = await _add_member(client, admin | key, "demo-admin")
    assert retry.status_code == 409
    assert error_code(retry) == "idempotency_request_in_progress"
    assert 18 <= int(retry.headers["retry-after"]) <= 20
    assert await _membership_count(backend, unit, demo_id("demo-admin")) == 0
    # another body under the same key is refused as before, running lease or not
    other = await _add_member(client, admin | key, "demo-firm-admin")
    assert error_code(other) == "idempotency_key_reused"


async def test_a_lapsed_lease_is_not_taken_over_by_another_body(client, login, backend):
    unit = demo_id("unit-zjlg")
    admin = await login("demo-unit-admin")
    key = {"Idempotency-Key": f"add-{uuid.uuid4()}"}
    assert (await _add_member(client, admin | key, "demo-admin")).status_code == 201
    await _leave_the_claim_of_a_dead_request(backend, timedelta(seconds=-1))
    await client.delete(f"/api/v1/organizations/{unit}/members/{demo_id('demo-admin')}", headers=admin)

    other = await _add_member(client, admin | key, "demo-firm-admin")
    assert other.status_code == 409
    assert error_code(other) == "idempotency_key_reused"
    assert await _membership_count(backend, unit, demo_id("demo-firm-admin")) == 0


def postgres_only(backend) -> None:
    if not backend.is_postgres:
        pytest.skip("on SQLite the request's write lock keeps every other claim out: no lease to renew")


@contextlib.contextmanager
def _lease_of(backend, seconds: int):
    settings = backend.app.state.settings
    before, settings.idempotency_lease_seconds = settings.idempotency_lease_seconds, seconds
    try:
        yield
    finally:
        settings.idempotency_lease_seconds = before


async def _a_booking_held_up_by_a_lock(client, login, backend):
    """A keyed booking that waits (inside its transaction) for the instrument this test locks."""
    world = await make_instrument(backend)
    await set_calendar(client, await login("demo-provider"), world.instrument_id)
    start = day_at(7, 13)
    body = machine_time(world, start, start + timedelta(hours=1))
    headers = await login("demo-researcher") | {"Idempotency-Key": f"book-{uuid.uuid4()}"}
    lock = await backend.runtime.engine.connect()
    await lock.begin()
    await lock.execute(select(Instrument.id).where(Instrument.id == world.instrument_id).with_for_update())
    booking = asyncio.create_task(client.post("/api/v1/bookings", json=body, headers=headers))
    async with backend.runtime.session_maker() as session:
        for _ in range(200):
            waiting = await session.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE wait_event_type = 'Lock' AND datname = current_database()"
                )
            )
            await session.rollback()
            if waiting:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the booking never waited for the lock")
    return world, body, headers, lock, booking


async def _bookings_of(backend, instrument_id) -> int:
    async with backend.runtime.session_maker() as session:
        return int(
            await session.scalar(
                select(func.count()).select_from(Booking).where(Booking.instrument_id == instrument_id)
            )
        )


@pytest.mark.slow
async def test_a_slow_request_keeps_its_key_past_the_lease_length(client, login, backend):
    """The lease is renewed while the request runs: a duplicate sent well after one lease's
    length is told to wait, not let in; the key's record never promises more than one lease."""
    postgres_only(backend)
    with _lease_of(backend, 1):
        world, body, headers, lock, booking = await _a_booking_held_up_by_a_lock(client, login, backend)
        try:
            await asyncio.sleep(2.5)
            async with backend.runtime.session_maker() as session:
                newest = await session.scalar(
                    select(IdempotencyRecord).order_by(IdempotencyRecord.created_at.desc()).limit(1)
                )
                assert newest is not None and not newest.completed
                assert utcnow() < newest.expires_at <= utcnow() + timedelta(seconds=1)
            duplicate = await asyncio.wait_for(
                client.post("/api/v1/bookings", json=body, headers=headers), timeout=10
            )
            assert duplicate.status_code == 409
            assert error_code(duplicate) == "idempotency_request_in_progress"
            assert duplicate.headers["retry-after"] == "1"
        finally:
            await lock.rollback()
            await lock.close()
        first = await booking
    assert first.status_code == 201, first.text
    again = await client.post("/api/v1/bookings", json=body, headers=headers)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert await _bookings_of(backend, world.instrument_id) == 1


async def test_a_request_whose_key_was_taken_over_undoes_its_change(client, login, backend):
    """A request that stalled past its lease while another took its key over (here: its claim
    replaced under it) must not commit: its booking goes with its key, and it says to retry."""
    postgres_only(backend)
    world, _, _, lock, booking = await _a_booking_held_up_by_a_lock(client, login, backend)
    try:
        async with backend.runtime.session_maker() as session, session.begin():
            newest = await session.scalar(
                select(IdempotencyRecord).order_by(IdempotencyRecord.created_at.desc()).limit(1)
            )
            assert newest is not None and not newest.completed
            newest.created_at = utcnow()  # another claimant's
    finally:
        await lock.rollback()
        await lock.close()
    first = await booking
    assert first.status_code == 409, first.text
    assert error_code(first) == "idempotency_request_in_progress"
    assert await _bookings_of(backend, world.instrument_id) == 0
