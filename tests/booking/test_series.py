"""Weekly series: every Tuesday-like weekday for 8 weeks in one request, a clashing week refused
with its reason while the others are booked, and the series cancelled for the weeks to come."""

from __future__ import annotations

from datetime import timedelta

from tests.booking.world import (
    booked_for_the_past,
    day_at,
    machine_time,
    make_instrument,
    set_calendar,
)
from tests.support import error_code
from yixiang.db import utcnow

S = "/api/v1/booking-series"


async def test_a_series_with_one_clashing_week_books_the_others_and_says_which_failed(client, login, backend):
    world = await make_instrument(backend)
    await set_calendar(client, await login("demo-provider"), world.instrument_id)
    researcher, other = await login("demo-researcher"), await login("demo-researcher-2")
    start, end = day_at(1, 9), day_at(1, 11)
    clash = await client.post(
        "/api/v1/bookings",
        json=machine_time(world, start + timedelta(weeks=2, hours=1), end + timedelta(weeks=2)),
        headers=other,
    )
    assert clash.status_code == 201, clash.text

    body = {**machine_time(world, start, end), "weeks": 8}
    del body["mode"]
    answer = await client.post(S, json=body, headers=researcher)
    assert answer.status_code == 201, answer.text
    series = answer.json()
    assert (series["weeks"], series["booked"], series["failed"]) == (8, 7, 1)
    [failed] = [s for s in series["slots"] if not s["booked"]]
    assert failed["week"] == 3 and failed["refusal"]["code"] == "slot_taken"
    assert "第 3 周" in series["summary"] and failed["refusal"]["message"] in series["summary"]
    assert "已预约 7 周" in series["summary"]
    booked = [s for s in series["slots"] if s["booked"]]
    assert all(s["status"] == "confirmed" and s["number"].startswith("YX") for s in booked)
    # The same wall-clock hours each week (Shanghai), through the normal path: one booking each.
    for slot in series["slots"]:
        week = slot["week"] - 1
        assert slot["start"] == (start + timedelta(weeks=week)).isoformat()
    for slot in booked:
        shown = await client.get(f"/api/v1/bookings/{slot['booking_id']}", headers=researcher)
        assert shown.json()["quote"]["fee_fen"] == 40_000  # two hours at the external rate
    assert (await client.get(f"{S}/{series['id']}", headers=other)).status_code == 404

    # Week 1 has begun: cancelling the series takes back the weeks still to come only.
    await booked_for_the_past(backend, booked[0]["booking_id"], utcnow() - timedelta(minutes=30))
    cancelled = await client.post(
        f"{S}/{series['id']}/cancel", json={"reason": "项目调整"}, headers=researcher
    )
    assert cancelled.status_code == 200, cancelled.text
    after = {s["week"]: s for s in cancelled.json()["slots"]}
    assert after[1]["status"] == "confirmed"
    assert all(after[w]["status"] == "cancelled" for w in (2, 4, 5, 6, 7, 8))
    assert after[3]["status"] is None and cancelled.json()["cancelled_at"]
    shown = await client.get(f"{S}/{series['id']}", headers=researcher)
    assert [s["status"] for s in shown.json()["slots"]] == [s["status"] for s in cancelled.json()["slots"]]


async def test_a_series_follows_the_booking_rules_week_by_week(client, login, backend):
    world = await make_instrument(backend)
    # needs approval: each booked week awaits the provider; at most 3 open requests per firm
    await set_calendar(client, await login("demo-provider"), world.instrument_id, needs_approval=True)
    body = {**machine_time(world, day_at(2, 14), day_at(2, 15)), "weeks": 4}
    del body["mode"]
    answer = await client.post(S, json=body, headers=await login("demo-researcher"))
    assert answer.status_code == 201, answer.text
    slots = answer.json()["slots"]
    assert [s["status"] for s in slots[:3]] == ["requested"] * 3
    assert slots[3]["refusal"]["code"] == "too_many_open_requests"
    bad = await client.post(S, json={**body, "weeks": 27}, headers=await login("demo-researcher"))
    assert bad.status_code == 400 and error_code(bad) == "validation_error"
    unknown = {**body, "instrument_id": "e3e70682-c209-1cac-a29f-6fbed82c07cd"}
    missing = await client.post(S, json=unknown, headers=await login("demo-researcher"))
    assert missing.status_code == 404 and error_code(missing) == "instrument_not_found", missing.text
