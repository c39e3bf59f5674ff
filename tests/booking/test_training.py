"""Training requests: a researcher asks for the qualification self-operation requires, the
provider schedules a session and records the result, and a pass lets the researcher book
self-operation; each step reaches the researcher through the outbox."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from accounts.models import Role
from tests.booking.world import (
    HZCL,
    QINGHE,
    day_at,
    machine_time,
    make_instrument,
    make_user,
    set_calendar,
    user_id,
)
from tests.support import error_code
from yixiang.outbox import OutboxEvent

T = "/api/v1/training-requests"


async def told(backend: Any, topic: str, request_id: str) -> list[dict[str, Any]]:
    async with backend.runtime.session_maker() as session:
        rows = await session.scalars(select(OutboxEvent).where(OutboxEvent.topic == topic))
        return [r.payload for r in rows.all() if r.payload.get("training_request_id") == request_id]


async def test_a_passed_training_grants_the_qualification_and_self_operation_follows(client, login, backend):
    world = await make_instrument(backend)
    provider = await login("demo-provider")
    await set_calendar(client, provider, world.instrument_id)
    username = await make_user(backend, QINGHE)
    researcher = await login(username)
    self_run = machine_time(world, day_at(3, 9), day_at(3, 10), operation="self")
    refused = await client.post("/api/v1/bookings", json=self_run, headers=researcher)
    assert refused.status_code == 403 and error_code(refused) == "qualification_required", refused.text

    asked = await client.post(
        T, json={"instrument_id": str(world.instrument_id), "note": "想测形貌"}, headers=researcher
    )
    assert asked.status_code == 201 and asked.json()["status"] == "requested", asked.text
    request_id = asked.json()["id"]
    again = await client.post(T, json={"instrument_id": str(world.instrument_id)}, headers=researcher)
    assert again.status_code == 409 and error_code(again) == "training_already_requested"
    unit_list = await client.get(T, params={"unit": asked.json()["unit_id"]}, headers=provider)
    assert request_id in {r["id"] for r in unit_list.json()}

    # Only the instrument's unit schedules and decides.
    slot = {
        "start": day_at(2, 14).isoformat(),
        "end": day_at(2, 16).isoformat(),
        "place": "分析测试中心 105 室",
    }
    assert (await client.post(f"{T}/{request_id}/schedule", json=slot, headers=researcher)).status_code == 403
    elsewhere = await login(await make_user(backend, HZCL, Role.provider_staff))
    assert (await client.post(f"{T}/{request_id}/schedule", json=slot, headers=elsewhere)).status_code == 404
    scheduled = await client.post(f"{T}/{request_id}/schedule", json=slot, headers=provider)
    assert scheduled.status_code == 200 and scheduled.json()["status"] == "scheduled", scheduled.text
    [message] = await told(backend, "training.scheduled", request_id)
    assert message["summary"].startswith("培训安排在") and "105 室" in message["summary"]
    assert message["user_id"] == str(await user_id(backend, username))

    passed = await client.post(
        f"{T}/{request_id}/result", json={"passed": True, "note": "操作规范"}, headers=provider
    )
    assert passed.status_code == 200, passed.text
    assert passed.json()["status"] == "passed" and passed.json()["qualification_id"]
    [decided] = await told(backend, "training.decided", request_id)
    assert "通过" in decided["summary"] and decided["status"] == "passed"
    mine = await client.get("/api/v1/qualifications", headers=researcher)
    assert passed.json()["qualification_id"] in {q["id"] for q in mine.json()}
    booked = await client.post("/api/v1/bookings", json=self_run, headers=researcher)
    assert booked.status_code == 201, booked.text  # the qualification followed
    late = await client.post(f"{T}/{request_id}/result", json={"passed": False}, headers=provider)
    assert late.status_code == 409 and error_code(late) == "training_not_open"
    done = await client.post(T, json={"instrument_id": str(world.instrument_id)}, headers=researcher)
    assert done.status_code == 409 and error_code(done) == "already_qualified"


async def test_a_failed_training_grants_nothing_and_says_why(client, login, backend):
    world = await make_instrument(backend)
    provider = await login("demo-provider")
    researcher = await login(await make_user(backend, QINGHE))
    asked = await client.post(T, json={"instrument_id": str(world.instrument_id)}, headers=researcher)
    request_id = asked.json()["id"]
    failed = await client.post(
        f"{T}/{request_id}/result", json={"passed": False, "note": "真空操作不熟练，请复训"}, headers=provider
    )
    assert failed.status_code == 200 and failed.json()["status"] == "failed", failed.text
    assert failed.json()["qualification_id"] is None
    [decided] = await told(backend, "training.decided", request_id)
    assert "未通过" in decided["summary"] and "复训" in decided["summary"]
    assert (await client.get("/api/v1/qualifications", headers=researcher)).json() == []
    # a new request may follow, and be withdrawn
    again = await client.post(T, json={"instrument_id": str(world.instrument_id)}, headers=researcher)
    assert again.status_code == 201, again.text
    withdrawn = await client.post(f"{T}/{again.json()['id']}/cancel", headers=researcher)
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "cancelled"
    no_self = await make_instrument(backend, self_operation=False)
    r = await client.post(T, json={"instrument_id": str(no_self.instrument_id)}, headers=researcher)
    assert r.status_code == 409 or r.status_code == 400, r.text
    assert error_code(r) == "mode_not_offered"
