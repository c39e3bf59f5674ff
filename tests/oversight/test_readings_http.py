"""Sensor messages over HTTP (gateways): sessions from readings, whatever order and how often
they come, and every kind of bad message refused and counted, never stored as usage."""

from __future__ import annotations

import random
from datetime import timedelta

import msgspec
from sqlalchemy import func, select

from oversight.models import RefusedMessages, SensorReading
from tests.oversight.world import P, at, monitored_instrument, post_batch, sessions_of, workday
from yixiang.clock import shanghai_today
from yixiang.db import utcnow


async def refusal_counts(backend) -> dict[str, int]:
    async with backend.runtime.session_maker() as session:
        rows = await session.execute(
            select(RefusedMessages.reason, func.sum(RefusedMessages.count)).group_by(RefusedMessages.reason)
        )
        return {reason: int(n) for reason, n in rows}


async def test_a_morning_of_readings_gives_its_sessions(backend, client, login):
    staff = await login(P)
    m = await monitored_instrument(backend, client, staff, running_watts=100, min_session_minutes=5)
    result = await post_batch(client, workday(m))
    assert result == {"accepted": 181, "refused": []}
    sessions = await sessions_of(client, staff, m, "2026-11-02", "2026-11-02")
    # 09:10–10:40 at 900 W = 1350 Wh; the 3-minute blip at 11:00 is shorter than the minimum
    assert sessions == [("2026-11-02T09:10:00+08:00", "2026-11-02T10:40:00+08:00", 1350)]


async def test_shuffled_repeated_and_late_readings_give_the_same_sessions(backend, client, login):
    staff = await login(P)
    at_once = await monitored_instrument(backend, client, staff, running_watts=100)
    await post_batch(client, workday(at_once))
    expected = await sessions_of(client, staff, at_once, "2026-11-02", "2026-11-02")
    in_order = await monitored_instrument(backend, client, staff, running_watts=100)
    messages = workday(in_order)
    for first in range(0, len(messages), 7):  # as a sensor reports: a few at a time, in order
        await post_batch(client, messages[first : first + 7])
    assert await sessions_of(client, staff, in_order, "2026-11-02", "2026-11-02") == expected

    m = await monitored_instrument(backend, client, staff, running_watts=100)
    messages = workday(m)
    rng = random.Random(21)
    shuffled = messages + rng.sample(messages, 60)  # 60 arrive twice
    rng.shuffle(shuffled)
    late = shuffled[::7]  # every seventh arrives only after the rest, in small batches
    early = [x for i, x in enumerate(shuffled) if i % 7]
    for first in range(0, len(early), 25):
        await post_batch(client, early[first : first + 25])
    for first in range(0, len(late), 5):
        await post_batch(client, late[first : first + 5])
    assert await sessions_of(client, staff, m, "2026-11-02", "2026-11-02") == expected
    async with backend.runtime.session_maker() as session:
        stored = await session.scalar(select(func.count()).where(SensorReading.sensor_id == m.sensor_id))
    assert stored == len(messages)


async def test_a_silent_sensor_ends_the_session_at_its_last_running_reading(backend, client, login):
    staff = await login(P)
    m = await monitored_instrument(backend, client, staff, running_watts=100, offline_after_minutes=15)
    day = "2026-11-03"
    minutes = list(range(0, 31)) + list(range(60, 91))  # silent 09:30–10:00, longer than 15 minutes
    await post_batch(
        client, [m.message(i + 1, at(day, "09:00") + timedelta(minutes=i), "on", 600) for i in minutes]
    )
    assert [s[:2] for s in await sessions_of(client, staff, m, day, day)] == [
        ("2026-11-03T09:00:00+08:00", "2026-11-03T09:30:00+08:00"),
        ("2026-11-03T10:00:00+08:00", "2026-11-03T10:30:00+08:00"),
    ]
    # the missing half hour arrives late: one session
    await post_batch(
        client, [m.message(i + 1, at(day, "09:00") + timedelta(minutes=i), "on", 600) for i in range(31, 60)]
    )
    assert [s[:2] for s in await sessions_of(client, staff, m, day, day)] == [
        ("2026-11-03T09:00:00+08:00", "2026-11-03T10:30:00+08:00")
    ]


async def test_each_kind_of_bad_message_is_refused_and_counted(backend, client, login):
    staff = await login(P)
    m = await monitored_instrument(backend, client, staff)
    other = await monitored_instrument(backend, client, staff)
    moment = at("2026-11-04", "10:00")
    good = m.message(1, moment)
    await post_batch(client, [good])
    before = await refusal_counts(backend)

    unsigned = msgspec.json.decode(m.message(2, moment))
    unsigned["signature"] = ""
    replayed = m.message(1, moment, watts=1234)  # seq 1 again, other content
    cases = {
        "unsigned": msgspec.json.encode(unsigned),
        "bad_signature": m.message(3, moment, secret=other.secret),  # another sensor's secret
        "unknown_sensor": msgspec.json.encode(
            {
                **msgspec.json.decode(other.message(4, moment)),
                "body": msgspec.json.decode(other.message(4, moment))["body"].replace(
                    other.sensor_id, "S-nobody-here"
                ),
            }
        ),
        "replayed": replayed,
        "duplicate": good,
        "far_future": m.message(5, utcnow() + timedelta(hours=1)),
        "too_old": m.message(6, utcnow() - timedelta(days=500)),  # in a month the archive takes
        "malformed": msgspec.json.encode({"body": '{"sensor_id": 1}', "signature": "00"}),
    }
    result = await post_batch(client, list(cases.values()))
    assert result["accepted"] == 0
    assert [r["reason"] for r in result["refused"]] == list(cases)
    after = await refusal_counts(backend)
    assert {reason: after.get(reason, 0) - before.get(reason, 0) for reason in cases} == dict.fromkeys(
        cases, 1
    )
    async with backend.runtime.session_maker() as session:
        stored = list(
            await session.scalars(select(SensorReading).where(SensorReading.sensor_id == m.sensor_id))
        )
    assert [(r.seq, r.watts) for r in stored] == [(1, 800)]  # only the good one
    admin = await login("demo-admin")
    r = await client.get(
        "/api/v1/oversight/refusals", params={"from": shanghai_today().isoformat()}, headers=admin
    )
    assert r.status_code == 200
    assert {row["reason"] for row in r.json()} >= set(cases)


async def test_a_sensor_secret_only_reports_for_its_own_sensor(backend, client, login):
    staff = await login(P)
    mine = await monitored_instrument(backend, client, staff)
    victim = await monitored_instrument(backend, client, staff)
    # a message naming the victim's sensor, signed with mine: refused, nothing stored for it
    forged = victim.message(1, at("2026-11-05", "10:00"), secret=mine.secret)
    result = await post_batch(client, [forged])
    assert result == {"accepted": 0, "refused": [{"index": 0, "reason": "bad_signature"}]}
