"""Erasure leaves no user id behind: a researcher whose bookings put events in the outbox and
whose requests (and the provider's about them) were answered under Idempotency-Keys asks for
erasure; afterwards no outbox event and no stored answer holds their id, username, phone, WeChat
identity or name, while the money still adds up and the provider's stored answer still replays."""

from __future__ import annotations

import gzip
import json
import uuid
from datetime import timedelta

from sqlalchemy import select, update

from accounts.models import Role, User
from bot.signin import mask_phone, store_phone
from tests.booking.world import machine_time, make_instrument, served, set_calendar
from tests.vouchers.desk import VoucherDesk, new_user
from yixiang.db import utcnow
from yixiang.idempotency import IdempotencyRecord
from yixiang.outbox import OutboxEvent, emit


def keyed(headers: dict[str, str]) -> dict[str, str]:
    return {**headers, "Idempotency-Key": uuid.uuid4().hex}


async def stored_texts(backend) -> list[str]:
    """Every outbox event (payload, key, last error) and stored answer (body, headers) as text."""
    async with backend.runtime.session_maker() as session:
        events = (
            await session.execute(select(OutboxEvent.payload, OutboxEvent.key, OutboxEvent.last_error))
        ).all()
        answers = (
            await session.execute(select(IdempotencyRecord.response_body, IdempotencyRecord.response_headers))
        ).all()
    texts = [json.dumps(payload, ensure_ascii=False) + f"{key} {error}" for payload, key, error in events]
    texts += [unpacked(body).decode("utf-8", "replace") + json.dumps(headers) for body, headers in answers]
    return texts


def unpacked(body: bytes | None) -> bytes:
    """A stored answer as sent: the app gzips larger ones before they are stored."""
    return gzip.decompress(body) if body and body[:2] == b"\x1f\x8b" else (body or b"")


async def events_about(backend, booking_id: str) -> dict[str, dict]:
    """The outbox events about one booking, by topic (the last of each)."""
    async with backend.runtime.session_maker() as session:
        rows = await session.scalars(select(OutboxEvent).order_by(OutboxEvent.id))
        return {e.topic: e.payload for e in rows.all() if e.payload.get("booking_id") == booking_id}


def holding(texts: list[str], *names: str) -> dict[str, int]:
    return {name: sum(name in text for text in texts) for name in names}


async def test_erasure_scrubs_the_outbox_and_stored_answers_and_the_money_still_adds_up(backend, login):
    world = VoucherDesk(backend, login)
    client = world.client
    firm, _ = await world.firm_with_grant(5_000_000)
    username = await new_user(backend, firm, Role.researcher)
    openid, phone = f"o-{uuid.uuid4().hex[:20]}", f"139{uuid.uuid4().int % 10**8:08d}"
    name = f"测试员{uuid.uuid4().hex[:4]}"
    async with backend.runtime.session_maker() as session, session.begin():
        user_id = await session.scalar(
            update(User)
            .where(User.username == username)
            .values(wechat_openid=openid, display_name=name)
            .returning(User.id)
        )
        assert user_id is not None
        await store_phone(session, backend.settings, user_id, {"purePhoneNumber": phone})
        # the official account saw them follow (the bot asks WeChat who they are)
        await emit(session, "bot.follower_seen", {"openid": openid}, key=f"bot.follower_seen:{openid}")
    me, provider = await world.headers(username), await world.headers("demo-provider")

    instrument = await make_instrument(backend)
    await set_calendar(client, provider, instrument.instrument_id, needs_approval=False)
    start = (utcnow() + timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
    body = machine_time(instrument, start, start + timedelta(hours=2), note=f"联系人{name} {phone}")
    created = await client.post("/api/v1/bookings", json=body, headers=keyed(me))
    assert created.status_code == 201, created.text
    booking_id = created.json()["id"]
    tomorrow = start + timedelta(days=1)
    dropped = await client.post(
        "/api/v1/bookings",
        json=machine_time(instrument, tomorrow, tomorrow + timedelta(hours=1)),
        headers=keyed(me),
    )
    assert dropped.status_code == 201, dropped.text
    cancel = await client.post(f"/api/v1/bookings/{dropped.json()['id']}/cancel", headers=keyed(me))
    assert cancel.status_code == 200, cancel.text
    done = await served(client, backend, keyed(provider), booking_id, minutes=65)
    assert done.status_code == 200 and done.json()["due_fen"] > 0, done.text
    due = done.json()["due_fen"]
    paying = keyed(provider)
    paid = await client.post(
        f"/api/v1/bookings/{booking_id}/payment-received", json={"reference": "对公-候补"}, headers=paying
    )
    assert paid.status_code == 200, paid.text
    before = await client.get(f"/api/v1/bookings/{booking_id}/statement", headers=provider)
    assert before.status_code == 200 and before.json()["paid_fen"] == due, before.text

    events = await events_about(backend, booking_id)
    assert "booking.completed" in events and events["booking.completed"]["user_id"] == str(user_id)
    identifiers = (str(user_id), user_id.hex, username, phone, mask_phone(phone), openid, name)
    found = holding(await stored_texts(backend), *identifiers)
    assert found[str(user_id)] and found[phone] and found[openid] and found[name], found  # there to scrub

    erased = await client.post("/api/v1/me/personal-data/erasure", json={"confirm": True}, headers=keyed(me))
    assert erased.status_code == 200, erased.text
    kept = {k["what"]: k for k in erased.json()["kept"]}
    assert (
        kept["系统事件与请求应答记录"]["count"] >= 5 and "匿名编号" in kept["系统事件与请求应答记录"]["why"]
    )

    left = holding(await stored_texts(backend), *identifiers)
    assert not any(left.values()), left

    # the money: the statement and the ledger as before, the booking's events still about it
    after = await client.get(f"/api/v1/bookings/{booking_id}/statement", headers=provider)
    assert after.status_code == 200 and after.json()["paid_fen"] == due and after.json()["due_fen"] == 0
    assert after.json()["fee_fen"] == before.json()["fee_fen"]
    check = await client.get("/api/v1/ledger/check", headers=await world.headers("demo-admin"))
    assert check.json()["ok"], check.json()
    completed = await events_about(backend, booking_id)
    assert completed.keys() == events.keys()
    for topic, payload in completed.items():  # the same amounts, times and ids, but the user's
        theirs = {k for k, v in events[topic].items() if v == str(user_id)}
        assert "user_id" in theirs or "user_id" not in payload
        assert {k: v for k, v in payload.items() if k not in theirs} == {
            k: v for k, v in events[topic].items() if k not in theirs
        }
        assert all(uuid.UUID(payload[k]) != user_id for k in theirs)  # a pseudonym: nobody's
    # the provider's stored answer replays (the same key and body: the same outcome, once)
    again = await client.post(
        f"/api/v1/bookings/{booking_id}/payment-received", json={"reference": "对公-候补"}, headers=paying
    )
    assert again.status_code == 200 and again.headers.get("idempotent-replayed") == "true", again.text
    assert str(user_id) not in again.text and phone not in again.text
