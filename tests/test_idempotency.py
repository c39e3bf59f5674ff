"""Idempotency-Key: a retried request replays the first answer; a reused key with another body is refused."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import func, select

from accounts.demo import demo_id
from accounts.models import Membership
from tests.support import error_code


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
    from yixiang.idempotency import IdempotencyRecord

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
