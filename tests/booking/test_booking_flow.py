"""Booking machine time and samples through the API: quotes, approval, transitions, visibility."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from accounts.models import Role
from booking.errors import InvalidTransition, NotBooker, NotProviderStaff
from booking.models import Booking, BookingStatus
from booking.states import replay
from tests.booking.world import (
    HZCL,
    LANWAN,
    QINGHE,
    ZJLG_LAB,
    booked_for_the_past,
    check_in_when_due,
    day_at,
    iso,
    machine_time,
    make_instrument,
    make_user,
    run_expiry_job,
    set_calendar,
)
from tests.support import error_code
from yixiang.db import utcnow


async def test_a_researcher_books_machine_time_and_pays_the_external_rate(client, login, backend):
    world = await make_instrument(backend)
    provider = await login("demo-provider")
    await set_calendar(client, provider, world.instrument_id)
    researcher = await login("demo-researcher")
    start = day_at(3, 9)
    response = await client.post(
        "/api/v1/bookings", json=machine_time(world, start, start + timedelta(minutes=90)), headers=researcher
    )
    assert response.status_code == 201, response.text
    booking = response.json()
    assert booking["status"] == "confirmed"
    assert booking["enterprise_id"] == str(QINGHE)
    # 1.5 h at the external 200 元/h
    assert booking["quote"]["fee_fen"] == 30_000
    assert booking["quote"]["rate"] == "external"
    line = booking["quote"]["breakdown"]["lines"][0]
    assert (line["unit_price_fen"], line["quantity"], line["quantity_unit"]) == (20_000, 90, "minute")


async def test_a_firm_affiliated_to_the_unit_pays_the_internal_rate(client, login, backend):
    world = await make_instrument(backend)
    await set_calendar(client, await login("demo-provider"), world.instrument_id)
    lab_researcher = await login(await make_user(backend, ZJLG_LAB))
    start = day_at(3, 14)
    response = await client.post(
        "/api/v1/bookings",
        json=machine_time(world, start, start + timedelta(hours=2)),
        headers=lab_researcher,
    )
    assert response.status_code == 201, response.text
    assert response.json()["quote"] == {
        "fee_fen": 20_000,
        "rate": "internal",
        "breakdown": response.json()["quote"]["breakdown"],
    }
    samples = await client.post(
        "/api/v1/bookings",
        json={
            "instrument_id": str(world.instrument_id),
            "mode": "sample_testing",
            "service_item_id": str(world.sample_item_id),
            "samples": 4,
        },
        headers=lab_researcher,
    )
    assert samples.status_code == 201, samples.text
    assert samples.json()["quote"]["fee_fen"] == 4 * 3_000


async def test_a_booking_needing_approval_holds_its_slot_until_approved(client, login, backend):
    world = await make_instrument(backend)
    provider = await login("demo-provider")
    await set_calendar(client, provider, world.instrument_id, needs_approval=True)
    first, second = await login("demo-researcher"), await login("demo-researcher-2")
    start = day_at(4, 10)
    body = machine_time(world, start, start + timedelta(hours=1))
    requested = await client.post("/api/v1/bookings", json=body, headers=first)
    assert requested.status_code == 201
    assert requested.json()["status"] == "requested"
    assert requested.json()["approval_deadline"] is not None
    taken = await client.post("/api/v1/bookings", json=body, headers=second)
    assert taken.status_code == 409
    assert error_code(taken) == "slot_taken"
    booking_id = requested.json()["id"]
    # the firm cannot approve its own request; the provider can
    refused = await client.post(f"/api/v1/bookings/{booking_id}/approve", headers=first)
    assert refused.status_code == 403
    approved = await client.post(
        f"/api/v1/bookings/{booking_id}/approve", json={"reason": "ok"}, headers=provider
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "confirmed"
    again = await client.post(f"/api/v1/bookings/{booking_id}/approve", headers=provider)
    assert again.status_code == 409
    assert error_code(again) == "invalid_transition"
    assert again.json()["error"]["details"]["current_status"] == "confirmed"
    assert "已确认" in again.json()["error"]["message"]


async def test_an_unapproved_request_expires_and_frees_its_slot(client, login, backend):
    world = await make_instrument(backend)
    provider = await login("demo-provider")
    await set_calendar(client, provider, world.instrument_id, needs_approval=True, approval_window_hours=2)
    first, second = await login("demo-researcher"), await login("demo-researcher-2")
    start = day_at(5, 10)
    body = machine_time(world, start, start + timedelta(hours=1))
    requested = (await client.post("/api/v1/bookings", json=body, headers=first)).json()
    await run_expiry_job(backend)  # not due yet: nothing happens
    assert (await client.get(f"/api/v1/bookings/{requested['id']}", headers=first)).json()[
        "status"
    ] == "requested"
    # two hours pass without a decision
    async with backend.runtime.session_maker() as session, session.begin():
        await session.execute(
            update(Booking)
            .where(Booking.id == uuid.UUID(requested["id"]))
            .values(approval_deadline=utcnow() - timedelta(seconds=1))
        )
    await run_expiry_job(backend)
    shown = (await client.get(f"/api/v1/bookings/{requested['id']}", headers=first)).json()
    assert shown["status"] == "expired"
    assert shown["history"][-1]["action"] == "expire"
    assert shown["history"][-1]["actor_id"] is None
    late = await client.post(f"/api/v1/bookings/{requested['id']}/approve", headers=provider)
    assert late.status_code == 409
    assert late.json()["error"]["details"]["current_status"] == "expired"
    rebooked = await client.post("/api/v1/bookings", json=body, headers=second)
    assert rebooked.status_code == 201, rebooked.text


async def test_the_full_life_of_a_booking_is_recorded_and_billed_on_actual_use(client, login, backend):
    world = await make_instrument(backend)
    provider = await login("demo-provider")
    await set_calendar(client, provider, world.instrument_id)
    researcher = await login("demo-researcher")
    start = utcnow() + timedelta(hours=2)
    start = start.replace(minute=0, second=0, microsecond=0)
    created = await client.post(
        "/api/v1/bookings", json=machine_time(world, start, start + timedelta(hours=2)), headers=researcher
    )
    booking_id = created.json()["id"]
    assert created.json()["quote"]["fee_fen"] == 40_000
    early_complete = await client.post(f"/api/v1/bookings/{booking_id}/complete", headers=provider)
    assert early_complete.status_code == 409
    assert early_complete.json()["error"]["details"]["current_status"] == "confirmed"
    assert (await check_in_when_due(client, backend, provider, booking_id)).status_code == 200
    actual_start = utcnow() - timedelta(minutes=70)
    await booked_for_the_past(backend, booking_id, actual_start)
    done = await client.post(
        f"/api/v1/bookings/{booking_id}/complete",
        json={"actual_start": iso(actual_start), "actual_end": iso(actual_start + timedelta(minutes=65))},
        headers=provider,
    )
    assert done.status_code == 200, done.text
    # 65 minutes used → billed 90 (three started half-hour slots) at 200 元/h
    assert done.json()["final_fee_fen"] == 30_000
    # the firm's innovation voucher covers its share at checkout; the firm owes the rest
    assert done.json()["voucher_fen"] > 0
    assert done.json()["voucher_fen"] + done.json()["due_fen"] == 30_000
    shown = (await client.get(f"/api/v1/bookings/{booking_id}", headers=researcher)).json()
    assert [h["action"] for h in shown["history"]] == ["book", "check_in", "complete"]
    assert replay((h["from_status"], h["to_status"]) for h in shown["history"]) == BookingStatus.completed
    cancel = await client.post(f"/api/v1/bookings/{booking_id}/cancel", headers=researcher)
    assert cancel.status_code == 409
    assert cancel.json()["error"]["details"]["current_status"] == "completed"


async def test_another_firm_cannot_see_or_touch_a_booking(client, login, backend):
    world = await make_instrument(backend)
    provider = await login("demo-provider")
    await set_calendar(client, provider, world.instrument_id)
    owner, other = await login("demo-researcher"), await login("demo-researcher-2")
    start = day_at(6, 8)
    booking_id = (
        await client.post(
            "/api/v1/bookings", json=machine_time(world, start, start + timedelta(hours=1)), headers=owner
        )
    ).json()["id"]
    for method, path in [
        ("GET", f"/api/v1/bookings/{booking_id}"),
        ("POST", f"/api/v1/bookings/{booking_id}/cancel"),
        ("POST", f"/api/v1/bookings/{booking_id}/approve"),
    ]:
        response = await client.request(method, path, headers=other)
        assert response.status_code == 404, (path, response.text)
    listed = (await client.get(f"/api/v1/bookings?instrument_id={world.instrument_id}", headers=other)).json()
    assert listed["items"] == []
    mine = (
        await client.get(f"/api/v1/bookings?mine=true&instrument_id={world.instrument_id}", headers=owner)
    ).json()
    assert [b["id"] for b in mine["items"]] == [booking_id]
    unit = (
        await client.get(
            f"/api/v1/bookings?unit={world_unit()}&instrument_id={world.instrument_id}&status=confirmed",
            headers=provider,
        )
    ).json()
    assert [b["id"] for b in unit["items"]] == [booking_id]
    assert (await client.get(f"/api/v1/bookings?unit={world_unit()}", headers=other)).status_code == 403


async def test_a_provider_lists_its_units_bookings_without_naming_the_unit(client, login, backend):
    researcher = await login("demo-researcher")
    zjlg_staff = await login("demo-provider")
    hzcl_staff = await login(await make_user(backend, HZCL, Role.provider_staff))
    booked = {}
    for unit, staff in ((world_unit(), zjlg_staff), (HZCL, hzcl_staff)):
        world = await make_instrument(backend, unit_id=unit)
        await set_calendar(client, staff, world.instrument_id)
        start = day_at(6, 10)
        created = await client.post(
            "/api/v1/bookings",
            json=machine_time(world, start, start + timedelta(hours=1)),
            headers=researcher,
        )
        assert created.status_code == 201, created.text
        booked[unit] = created.json()["id"]

    async def listed(headers: dict[str, str]) -> set[str]:
        page = (await client.get("/api/v1/bookings", params={"limit": 200}, headers=headers)).json()
        return {b["id"] for b in page["items"]} & set(booked.values())

    assert await listed(zjlg_staff) == {booked[world_unit()]}
    assert await listed(hzcl_staff) == {booked[HZCL]}
    assert await listed(researcher) == set(booked.values())  # the firm's own list is unchanged
    assert await listed(await login("demo-researcher-2")) == set()


def world_unit() -> uuid.UUID:
    from tests.booking.world import ZJLG

    return ZJLG


async def test_cancellation_after_the_deadline_follows_the_instrument_rule(client, login, backend):
    world = await make_instrument(backend)
    provider = await login("demo-provider")
    await set_calendar(client, provider, world.instrument_id, cancellation_deadline_hours=24)
    researcher = await login("demo-researcher")
    soon = (utcnow() + timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    later = day_at(10, 9)
    near = (
        await client.post(
            "/api/v1/bookings", json=machine_time(world, soon, soon + timedelta(hours=1)), headers=researcher
        )
    ).json()
    far = (
        await client.post(
            "/api/v1/bookings",
            json=machine_time(world, later, later + timedelta(hours=1)),
            headers=researcher,
        )
    ).json()
    refused = await client.post(f"/api/v1/bookings/{near['id']}/cancel", headers=researcher)
    assert refused.status_code == 409
    assert error_code(refused) == "cancellation_deadline_passed"
    assert (await client.post(f"/api/v1/bookings/{far['id']}/cancel", headers=researcher)).status_code == 200
    # the instrument now charges 50 % for a late cancellation instead of refusing it
    await set_calendar(
        client,
        provider,
        world.instrument_id,
        cancellation_deadline_hours=24,
        late_cancellation="charge",
        late_cancellation_fee_percent=50,
    )
    charged = await client.post(
        f"/api/v1/bookings/{near['id']}/cancel", json={"reason": "计划变更"}, headers=researcher
    )
    assert charged.status_code == 200, charged.text
    fee = near["quote"]["fee_fen"] // 2
    assert charged.json()["cancellation_fee_fen"] == fee
    # the statement asks the firm for the fee (vouchers pay for services, not cancellations) ...
    owed = (await client.get(f"/api/v1/bookings/{near['id']}/statement", headers=researcher)).json()
    assert (owed["state"], owed["fee_fen"], owed["voucher_fen"], owed["due_fen"]) == ("released", fee, 0, fee)
    assert owed["held_fen"] == 0 and "支付" in owed["payment_instructions"]
    paid = await client.post(
        f"/api/v1/bookings/{near['id']}/payment-received", json={"reference": "违约金-001"}, headers=provider
    )
    assert paid.status_code == 200, paid.text
    assert paid.json()["payment_reference"] == "违约金-001"
    # ... and a cancellation in time owes nothing
    free = (await client.get(f"/api/v1/bookings/{far['id']}/statement", headers=researcher)).json()
    assert (free["fee_fen"], free["voucher_fen"], free["due_fen"]) == (0, 0, 0)
    assert free["payment_instructions"] == "预约已取消，无需支付"
    # the provider may always cancel, without a fee (e.g. the instrument broke down)
    again = (
        await client.post(
            "/api/v1/bookings", json=machine_time(world, soon, soon + timedelta(hours=1)), headers=researcher
        )
    ).json()
    by_provider = await client.post(
        f"/api/v1/bookings/{again['id']}/cancel", json={"reason": "仪器故障"}, headers=provider
    )
    assert by_provider.status_code == 200
    assert by_provider.json()["cancellation_fee_fen"] is None


async def test_sample_testing_queues_with_a_position_and_a_working_day_completion_date(
    client, login, backend
):
    world = await make_instrument(backend, turnaround_working_days=5)
    provider = await login("demo-provider")
    await set_calendar(client, provider, world.instrument_id, sample_capacity_per_day=10)
    researcher = await login("demo-researcher")
    body = {
        "instrument_id": str(world.instrument_id),
        "mode": "sample_testing",
        "service_item_id": str(world.sample_item_id),
        "samples": 10,
        "note": "粉末样品",
    }
    first = (await client.post("/api/v1/bookings", json=body, headers=researcher)).json()
    second = (
        await client.post("/api/v1/bookings", json=body, headers=await login("demo-researcher-2"))
    ).json()
    assert (first["queue_position"], second["queue_position"]) == (1, 2)
    assert first["start"] is None and first["status"] == "confirmed"
    third = (await client.post("/api/v1/bookings", json=body, headers=researcher)).json()
    listed = await client.get(
        "/api/v1/bookings", params={"instrument_id": str(world.instrument_id)}, headers=provider
    )
    places = {b["id"]: b["queue_position"] for b in listed.json()["items"]}
    assert places == {first["id"]: 1, second["id"]: 2, third["id"]: 3}  # the list says what each page says
    await client.post(f"/api/v1/bookings/{third['id']}/cancel", headers=researcher)
    from catalogue.workdays import load_working_day_calendar
    from yixiang.clock import shanghai_today

    async with backend.runtime.session_maker() as session:
        days = await load_working_day_calendar(session)
    today = shanghai_today()
    assert first["expected_completion_on"] == days.add_working_days(today, 5).isoformat()
    # ten samples ahead at ten a day: one working day later
    assert second["expected_completion_on"] == days.add_working_days(today, 6).isoformat()
    # the first leaves the queue: the second moves up
    await client.post(f"/api/v1/bookings/{first['id']}/cancel", headers=researcher)
    shown = (await client.get(f"/api/v1/bookings/{second['id']}", headers=provider)).json()
    assert shown["queue_position"] == 1
    listed = await client.get(
        "/api/v1/bookings", params={"instrument_id": str(world.instrument_id)}, headers=provider
    )
    places = {b["id"]: b["queue_position"] for b in listed.json()["items"]}
    assert places == {first["id"]: None, second["id"]: 1, third["id"]: None}
    # samples received, tested: billed per actual sample at the external rate
    await client.post(f"/api/v1/bookings/{second['id']}/check-in", headers=provider)
    done = await client.post(
        f"/api/v1/bookings/{second['id']}/complete", json={"samples": 8}, headers=provider
    )
    assert done.status_code == 200, done.text
    assert done.json()["final_fee_fen"] == 8 * 5_000
    assert done.json()["actual_samples"] == 8


async def test_retries_with_one_idempotency_key_create_one_booking(client, login, backend):
    world = await make_instrument(backend)
    await set_calendar(client, await login("demo-provider"), world.instrument_id)
    researcher = await login("demo-researcher")
    start = day_at(7, 13)
    body = machine_time(world, start, start + timedelta(hours=1))
    key = {"Idempotency-Key": f"book-{uuid.uuid4()}"}
    answers = await asyncio.gather(
        *[client.post("/api/v1/bookings", json=body, headers=researcher | key) for _ in range(5)]
    )
    assert all(a.status_code in (201, 409) for a in answers), [a.text for a in answers]
    created = {a.json()["id"] for a in answers if a.status_code == 201}
    assert len(created) == 1
    retry = await client.post("/api/v1/bookings", json=body, headers=researcher | key)
    assert retry.status_code == 201
    assert retry.json()["id"] in created
    async with backend.runtime.session_maker() as session:
        count = await session.scalar(
            select(func.count()).select_from(Booking).where(Booking.instrument_id == world.instrument_id)
        )
    assert count == 1


async def test_a_researcher_in_two_firms_says_which_one_books(client, login, backend):
    world = await make_instrument(backend)
    await set_calendar(client, await login("demo-provider"), world.instrument_id)
    username = await make_user(backend, QINGHE)
    from accounts.models import Membership, Role
    from tests.booking.world import user_id

    async with backend.runtime.session_maker() as session, session.begin():
        session.add(
            Membership(user_id=await user_id(backend, username), organization_id=LANWAN, role=Role.researcher)
        )
    headers = await login(username)
    start = day_at(8, 9)
    body = machine_time(world, start, start + timedelta(hours=1))
    ambiguous = await client.post("/api/v1/bookings", json=body, headers=headers)
    assert ambiguous.status_code == 400
    assert error_code(ambiguous) == "enterprise_ambiguous"
    chosen = await client.post(
        "/api/v1/bookings", json=body | {"enterprise_id": str(LANWAN)}, headers=headers
    )
    assert chosen.status_code == 201
    assert chosen.json()["enterprise_id"] == str(LANWAN)


async def test_a_no_show_can_be_marked_only_once_the_booking_has_started(client, login, backend):
    world = await make_instrument(backend)
    provider = await login("demo-provider")
    await set_calendar(client, provider, world.instrument_id)
    researcher = await login("demo-researcher")
    start = day_at(2, 9)
    booking_id = (
        await client.post(
            "/api/v1/bookings",
            json=machine_time(world, start, start + timedelta(hours=1)),
            headers=researcher,
        )
    ).json()["id"]
    early = await client.post(f"/api/v1/bookings/{booking_id}/no-show", headers=provider)
    assert early.status_code == 409
    assert error_code(early) == "no_show_too_early"
    assert (
        await client.post(f"/api/v1/bookings/{booking_id}/no-show", headers=researcher)
    ).status_code == 403
    # the day comes and nobody turns up
    async with backend.runtime.session_maker() as session, session.begin():
        await session.execute(
            update(Booking)
            .where(Booking.id == uuid.UUID(booking_id))
            .values(start_at=utcnow() - timedelta(minutes=30), end_at=utcnow() + timedelta(minutes=30))
        )
    marked = await client.post(
        f"/api/v1/bookings/{booking_id}/no-show", json={"reason": "未到场"}, headers=provider
    )
    assert marked.status_code == 200, marked.text
    assert marked.json()["status"] == "no_show"
    check_in = await client.post(f"/api/v1/bookings/{booking_id}/check-in", headers=provider)
    assert check_in.status_code == 409
    assert check_in.json()["error"]["details"]["current_status"] == "no_show"


async def test_delivery_and_rating_follow_completion_for_the_issues_that_call_them(client, login, backend):
    from accounts.auth import load_user, principal_from_user
    from accounts.demo import demo_id
    from booking import services

    world = await make_instrument(backend)
    provider_headers = await login("demo-provider")
    await set_calendar(client, provider_headers, world.instrument_id)
    researcher_headers = await login("demo-researcher")
    body = {
        "instrument_id": str(world.instrument_id),
        "mode": "sample_testing",
        "service_item_id": str(world.sample_item_id),
        "samples": 2,
    }
    booking_id = uuid.UUID(
        (await client.post("/api/v1/bookings", json=body, headers=researcher_headers)).json()["id"]
    )

    async with backend.runtime.session_maker() as session:
        provider = principal_from_user(await load_user(session, demo_id("demo-provider")))
        researcher = principal_from_user(await load_user(session, demo_id("demo-researcher")))
    async with backend.runtime.session_maker() as session:
        with pytest.raises(InvalidTransition):
            await services.mark_delivered(session, provider, booking_id)
    await client.post(f"/api/v1/bookings/{booking_id}/check-in", headers=provider_headers)
    await client.post(f"/api/v1/bookings/{booking_id}/complete", json={}, headers=provider_headers)
    async with backend.runtime.session_maker() as session:
        with pytest.raises(NotProviderStaff):
            await services.mark_delivered(session, researcher, booking_id)
    async with backend.runtime.session_maker() as session:
        assert (
            await services.mark_delivered(session, provider, booking_id, "报告已上传")
        ).status == "delivered"
    async with backend.runtime.session_maker() as session:
        with pytest.raises(NotBooker):
            await services.mark_rated(session, provider, booking_id)
    async with backend.runtime.session_maker() as session:
        assert (await services.mark_rated(session, researcher, booking_id)).status == "rated"
    shown = (await client.get(f"/api/v1/bookings/{booking_id}", headers=researcher_headers)).json()
    assert [h["action"] for h in shown["history"]] == ["book", "check_in", "complete", "deliver", "rate"]
    assert shown["final_fee_fen"] == 2 * 5_000
