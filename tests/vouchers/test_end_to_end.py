"""The whole no-touch flow on the demo data, through booking's API: a researcher books, the
provider confirms (hold), completes with actual hours (capture), delivers; the statement shows
fee, voucher share and due; the bureau's batch for the period pays it and reconciles to the fen.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import msgspec

from accounts.demo import demo_id
from tests.booking.world import (
    booked_for_the_past,
    check_in_when_due,
    iso,
    machine_time,
    make_instrument,
    set_calendar,
)
from tests.support import error_code
from tests.vouchers.desk import VoucherDesk, today
from vouchers.statements import PAYMENT_RECEIVED
from yixiang.db import utcnow
from yixiang.worker import Worker


async def _principal(world: VoucherDesk, username: str):  # type: ignore[no-untyped-def]
    from accounts.auth import load_user, principal_from_user

    async with world.backend.runtime.session_maker() as session:
        user = await load_user(session, demo_id(username))
        assert user is not None
        return principal_from_user(user)


async def test_book_confirm_complete_pay_settle_reconcile(world: VoucherDesk) -> None:
    from booking import services

    client = world.client
    instrument = await make_instrument(world.backend)
    provider = await world.headers("demo-provider")
    await set_calendar(client, provider, instrument.instrument_id, needs_approval=True)
    researcher = await world.headers("demo-researcher")
    before = (await client.get("/api/v1/me/vouchers", headers=researcher)).json()

    start = (utcnow() + timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
    created = await client.post(
        "/api/v1/bookings",
        json=machine_time(instrument, start, start + timedelta(hours=2)),
        headers=researcher,
    )
    assert created.status_code == 201, created.text
    booking_id, number = created.json()["id"], created.json()["number"]
    assert re.fullmatch(r"YX\d{8}-[0-9A-F]{6}", number), number
    assert created.json()["quote"]["fee_fen"] == 40_000
    assert (
        await client.get(f"/api/v1/bookings/{booking_id}/statement", headers=researcher)
    ).status_code == 404

    approved = await client.post(
        f"/api/v1/bookings/{booking_id}/approve", json={"reason": "ok"}, headers=provider
    )
    assert approved.status_code == 200, approved.text
    held = (await client.get("/api/v1/me/vouchers", headers=researcher)).json()
    assert held["held_fen"] - before["held_fen"] == 20_000  # half the quoted 400 元
    assert booking_id in {h["booking_id"] for h in held["holds"]}

    assert (await check_in_when_due(client, world.backend, provider, booking_id)).status_code == 200
    actual_start = utcnow() - timedelta(minutes=70)
    await booked_for_the_past(world.backend, booking_id, actual_start)
    # what the firm reads before paying: the booking number to write in the transfer's memo
    due = (await client.get(f"/api/v1/bookings/{booking_id}/statement", headers=researcher)).json()
    assert due["booking_number"] == number
    done = await client.post(
        f"/api/v1/bookings/{booking_id}/complete",
        json={"actual_start": iso(actual_start), "actual_end": iso(actual_start + timedelta(minutes=65))},
        headers=provider,
    )
    assert done.status_code == 200, done.text
    assert (done.json()["final_fee_fen"], done.json()["voucher_fen"], done.json()["due_fen"]) == (
        30_000,
        15_000,
        15_000,
    )

    due = (await client.get(f"/api/v1/bookings/{booking_id}/statement", headers=researcher)).json()
    assert due["due_fen"] == 15_000 and f"150.00 元，备注预约号 {number}" in due["payment_instructions"]
    assert booking_id not in due["payment_instructions"]
    # the provider finds the booking by the memo's number, however it was typed
    typed = f" {number.lower().replace('-', '')} "
    found = await client.get(f"/api/v1/bookings/by-number/{typed}", headers=provider)
    assert found.status_code == 200 and found.json()["id"] == booking_id, found.text

    async with world.backend.runtime.session_maker() as session:
        await services.mark_delivered(
            session, await _principal(world, "demo-provider"), uuid.UUID(booking_id), "报告"
        )
    waiting = (await client.get(f"/api/v1/bookings/{booking_id}/statement", headers=researcher)).json()
    assert waiting["evidence"]["rating"] is None and not waiting["evidence_complete"]
    rated = await client.post(
        f"/api/v1/bookings/{booking_id}/rating", json={"overall": 5}, headers=researcher
    )
    assert rated.status_code == 201, rated.text
    received = await client.post(
        f"/api/v1/bookings/{booking_id}/payment-received", json={"reference": "对公-0001"}, headers=provider
    )
    assert received.status_code == 200, received.text
    statement = received.json()
    assert (statement["fee_fen"], statement["voucher_fen"], statement["due_fen"]) == (30_000, 15_000, 0)
    assert statement["paid_fen"] == 15_000 and statement["booking_number"] == number
    # booking hears of the payment through the outbox: the booking owes nothing either
    worker = Worker(
        world.backend.runtime.session_maker,
        world.backend.runtime.domains,
        settings=msgspec.structs.replace(world.backend.settings),
        only_topics={PAYMENT_RECEIVED},
    )
    await worker.drain()
    shown = (await client.get(f"/api/v1/bookings/{booking_id}", headers=researcher)).json()
    assert (shown["voucher_fen"], shown["due_fen"]) == (15_000, 0)
    assert statement["evidence_complete"], statement["evidence"]
    assert statement["evidence"]["usage"]["detail"]["fee_fen"] == 30_000
    after = (await client.get("/api/v1/me/vouchers", headers=researcher)).json()
    assert before["available_fen"] - after["available_fen"] == 15_000
    ours = [h for h in after["history"] if h["booking_id"] == booking_id]
    assert [(h["label"], h["amount_fen"], h["amount_yuan"]) for h in ours] == [
        ("抵扣", 15_000, "150.00"),  # the final fee's half; the rest of the hold went back
        ("冻结", 20_000, "200.00"),
    ]
    assert all(h["booking_number"] == number and number in h["text"] for h in ours)
    assert ours[0]["text"].startswith("抵扣 150.00 元")
    assert after["held_fen"] == before["held_fen"]

    science, finance = await world.bureau(), await world.headers("demo-finance-bureau")
    batch = (
        await client.post(
            "/api/v1/settlements",
            json={"period_start": str(today()), "period_end": str(today())},
            headers=science,
        )
    ).json()
    line = next(line for line in batch["lines"] if line["booking_id"] == booking_id)
    assert (line["rating_status"], line["rating_label"]) == ("rated", "已评价")
    url = f"/api/v1/settlements/{batch['id']}"
    assert (await client.post(f"{url}/submit", headers=science)).status_code == 200
    assert (await client.post(f"{url}/approve", headers=finance)).status_code == 200
    paid = await client.post(f"{url}/mark-paid", json={"bank_reference": "ICBC-E2E"}, headers=finance)
    assert paid.status_code == 200
    report = (await client.get(f"{url}/reconciliation", headers=science)).json()
    assert report["balanced"] and report["batch_total_fen"] == report["ledger_settled_fen"], report
    assert (await client.post(f"{url}/reconcile", headers=science)).json()["status"] == "reconciled"


async def test_cancelling_a_confirmed_booking_releases_its_hold_and_a_firm_without_vouchers_pays_all(
    world: VoucherDesk,
) -> None:
    client = world.client
    instrument = await make_instrument(world.backend)
    await set_calendar(client, await world.headers("demo-provider"), instrument.instrument_id)
    researcher = await world.headers("demo-researcher")
    before = (await client.get("/api/v1/me/vouchers", headers=researcher)).json()
    start = (utcnow() + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    created = await client.post(
        "/api/v1/bookings",
        json=machine_time(instrument, start, start + timedelta(hours=1)),
        headers=researcher,
    )
    booking_id = created.json()["id"]
    assert created.json()["status"] == "confirmed"  # no approval needed: held at once
    holding = (await client.get("/api/v1/me/vouchers", headers=researcher)).json()
    assert holding["held_fen"] - before["held_fen"] == 10_000
    cancelled = await client.post(f"/api/v1/bookings/{booking_id}/cancel", headers=researcher)
    assert cancelled.status_code == 200, cancelled.text
    after = (await client.get("/api/v1/me/vouchers", headers=researcher)).json()
    assert (after["held_fen"], after["available_fen"]) == (before["held_fen"], before["available_fen"])
    statement = await client.get(f"/api/v1/bookings/{booking_id}/statement", headers=researcher)
    assert statement.json()["state"] == "released"

    other = await world.headers("demo-researcher-2")
    created = await client.post(
        "/api/v1/bookings",
        json=machine_time(instrument, start + timedelta(hours=3), start + timedelta(hours=4)),
        headers=other,
    )
    assert created.status_code == 201, created.text
    statement = await client.get(f"/api/v1/bookings/{created.json()['id']}/statement", headers=other)
    assert (statement.json()["voucher_fen"], statement.json()["due_fen"]) == (0, 20_000)  # 1 h at 200 元
    hidden = await client.get(f"/api/v1/bookings/{created.json()['id']}/statement", headers=researcher)
    assert hidden.status_code == 404 and error_code(hidden) == "statement_not_found"
