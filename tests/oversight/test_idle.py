"""Idle escalation with a fake clock: one, three and six months without running, an explanation
rejected and one accepted, a new use that clears it; each step announced once."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update

from accounts.demo import demo_id
from accounts.models import Role
from catalogue.models import Instrument
from oversight.idle import IDLE_CLEARED, IDLE_STEP, check_idle
from oversight.months import add_months, idle_months
from tests.booking.world import make_user
from tests.oversight.world import P, at, monitored_instrument
from tests.support import error_code
from yixiang.outbox import OutboxEvent

SB = "demo-science-bureau"
LISTED = at("2026-01-10", "10:00")


async def listed_on(backend, instrument_id, when: datetime = LISTED) -> None:
    async with backend.runtime.session_maker() as session, session.begin():
        await session.execute(
            update(Instrument).where(Instrument.id == instrument_id).values(published_at=when)
        )


async def run_check(backend, instrument_id, now: datetime) -> None:
    async with backend.runtime.session_maker() as session:
        await check_idle(session, now=now, instrument_ids=[instrument_id])


async def steps_announced(backend, instrument_id) -> list[tuple[str, int]]:
    async with backend.runtime.session_maker() as session:
        events = await session.scalars(
            select(OutboxEvent)
            .where(OutboxEvent.topic.in_([IDLE_STEP, IDLE_CLEARED]))
            .order_by(OutboxEvent.id)
        )
        return [
            (e.topic, e.payload["level"]) for e in events if e.payload["instrument_id"] == str(instrument_id)
        ]


async def case_of(client, headers, instrument_id) -> dict | None:
    r = await client.get("/api/v1/oversight/idle", headers=headers)
    assert r.status_code == 200, r.text
    return next((c for c in r.json() if c["instrument_id"] == str(instrument_id)), None)


def test_months_are_counted_on_the_shanghai_calendar():
    assert add_months(datetime(2026, 1, 31).date(), 1) == datetime(2026, 2, 28).date()
    assert idle_months(at("2026-01-10", "10:00"), at("2026-02-09", "23:59")) == 0
    assert idle_months(at("2026-01-10", "10:00"), at("2026-02-10", "00:00")) == 1
    assert idle_months(at("2026-01-10", "10:00"), at("2026-07-10", "08:00")) == 6


async def test_an_idle_instrument_is_reminded_then_listed_and_an_accepted_explanation_stops_it(
    backend, client, login
):
    staff, bureau = await login(P), await login(SB)
    m = await monitored_instrument(backend, client, staff)
    await listed_on(backend, m.instrument_id)

    await run_check(backend, m.instrument_id, LISTED + timedelta(days=25))
    assert await case_of(client, staff, m.instrument_id) is None

    for _ in range(2):  # the job runs every hour: the second run announces nothing again
        await run_check(backend, m.instrument_id, add_months_at(LISTED, 1))
    case = await case_of(client, staff, m.instrument_id)
    assert case is not None and (case["level"], case["source"]) == (1, "sessions")
    assert case["reminded_at"] and not case["transfer_listed_at"]
    assert await steps_announced(backend, m.instrument_id) == [(IDLE_STEP, 1)]

    # the unit explains; the bureau of the region rejects it: the next step still comes
    r = await client.post(
        f"/api/v1/oversight/idle/{case['id']}/explanations",
        json={"reason": "project_schedule", "text": "课题暂停"},
        headers=staff,
    )
    assert r.status_code == 201, r.text
    first = r.json()["id"]
    r = await client.post(
        f"/api/v1/oversight/idle-explanations/{first}/decision", json={"accept": True}, headers=staff
    )
    assert r.status_code == 403 and error_code(r) == "not_region_bureau"  # the unit does not judge itself
    r = await client.post(
        f"/api/v1/oversight/idle-explanations/{first}/decision",
        json={"accept": False, "note": "理由不充分"},
        headers=bureau,
    )
    assert r.status_code == 200 and r.json()["decision"] == "rejected"
    await run_check(backend, m.instrument_id, add_months_at(LISTED, 3))
    case = await case_of(client, bureau, m.instrument_id)
    assert case["level"] == 3 and case["transfer_listed_at"]

    # a second explanation, accepted (正当理由): no 通报批评 at six months
    r = await client.post(
        f"/api/v1/oversight/idle/{case['id']}/explanations",
        json={"reason": "awaiting_repair", "text": "X 光管损坏，等待厂家更换"},
        headers=staff,
    )
    second = r.json()["id"]
    r = await client.post(
        f"/api/v1/oversight/idle-explanations/{second}/decision", json={"accept": True}, headers=bureau
    )
    assert r.status_code == 200 and r.json()["decision"] == "accepted"
    again = await client.post(
        f"/api/v1/oversight/idle-explanations/{second}/decision", json={"accept": False}, headers=bureau
    )
    assert again.status_code == 409 and error_code(again) == "explanation_decided"
    await run_check(backend, m.instrument_id, add_months_at(LISTED, 6))
    case = await case_of(client, bureau, m.instrument_id)
    assert (case["level"], case["excused"], case["criticism_listed_at"]) == (3, True, None)
    assert [e["decision"] for e in case["explanations"]] == ["rejected", "accepted"]
    assert await steps_announced(backend, m.instrument_id) == [(IDLE_STEP, 1), (IDLE_STEP, 3)]

    # it runs again (a session recorded by hand): the case is cleared
    r = await client.post(
        f"/api/v1/oversight/instruments/{m.instrument_id}/sessions",
        json={
            "start": at("2026-07-20", "09:00").isoformat(),
            "end": at("2026-07-20", "11:00").isoformat(),
            "reason": "修复后试机",
        },
        headers=staff,
    )
    assert r.status_code == 201, r.text
    await run_check(backend, m.instrument_id, at("2026-07-25", "10:00"))
    assert await case_of(client, staff, m.instrument_id) is None
    assert (await steps_announced(backend, m.instrument_id))[-1] == (IDLE_CLEARED, 0)


async def test_six_months_unexplained_lists_the_unit_for_criticism_and_only_its_region_sees_it(
    backend, client, login
):
    staff, bureau = await login(P), await login(SB)
    world = await monitored_instrument(backend, client, staff)
    await listed_on(backend, world.instrument_id)
    await run_check(backend, world.instrument_id, add_months_at(LISTED, 6))
    case = await case_of(client, bureau, world.instrument_id)
    assert case is not None
    assert (case["level"], case["source"], case["months"] >= 6) == (6, "sessions", True)
    assert case["reminded_at"] and case["transfer_listed_at"] and case["criticism_listed_at"]
    assert await steps_announced(backend, world.instrument_id) == [
        (IDLE_STEP, 1),
        (IDLE_STEP, 3),
        (IDLE_STEP, 6),
    ]
    r = await client.get("/api/v1/oversight/idle", params={"level": 6}, headers=staff)
    assert str(world.instrument_id) in {c["instrument_id"] for c in r.json()}

    ningbo = await login(await make_user(backend, demo_id("bureau-nb-sci"), Role.bureau_officer))
    assert await case_of(client, ningbo, world.instrument_id) is None
    assert await case_of(client, await login("demo-researcher"), world.instrument_id) is None
    r = await client.post(
        f"/api/v1/oversight/idle/{case['id']}/explanations",
        json={"reason": "other", "text": "别人的"},
        headers=ningbo,
    )
    assert r.status_code == 404


def add_months_at(moment: datetime, months: int) -> datetime:
    """The moment ``months`` calendar months later, plus an hour (the job has run by then)."""
    return datetime.combine(add_months(moment.date(), months), moment.timetz()) + timedelta(hours=1)
