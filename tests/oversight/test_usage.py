"""Sessions matched to bookings (partly inside, running over, without a booking, across midnight),
the daily hours the bureaus evaluate from, manual sessions and annotations, live status, and the
sensor registry's rules."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from sqlalchemy import select

from oversight.models import Sensor, SensorStatus
from tests.booking.world import ZJLG, ZJLG_LAB, booked_for_the_past, make_instrument, make_user, set_calendar
from tests.catalogue.helpers import instrument_body
from tests.oversight.world import P, monitored_instrument, post_batch
from tests.support import error_code
from yixiang.clock import SHANGHAI, shanghai_today
from yixiang.db import utcnow

R2 = "demo-researcher-2"  # 蓝湾: another firm, the external rate, no vouchers to hold


def moment(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), SHANGHAI)


async def book(client, backend, headers, instrument_id, start: datetime, end: datetime) -> str:
    """A confirmed machine-time booking, made for the future and moved to ``start`` (passed)."""
    future = utcnow().replace(minute=0, second=0, microsecond=0) + timedelta(days=2)
    r = await client.post(
        "/api/v1/bookings",
        json={
            "instrument_id": str(instrument_id),
            "mode": "machine_time",
            "operation": "operator",
            "start": future.isoformat(),
            "end": (future + (end - start)).isoformat(),
        },
        headers=headers,
    )
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "confirmed"
    await booked_for_the_past(backend, r.json()["id"], start)
    return str(r.json()["id"])


def running(m, first_seq: int, start: datetime, minutes: int) -> list[bytes]:
    """Running a reading a minute for ``minutes``, then off."""
    messages = [m.message(first_seq + i, start + timedelta(minutes=i), "on", 1000) for i in range(minutes)]
    messages.append(m.message(first_seq + minutes, start + timedelta(minutes=minutes), "off", 0))
    return messages


async def test_hours_split_by_booking_and_by_shanghai_day(backend, client, login):
    staff = await login(P)
    m = await monitored_instrument(backend, client, staff, running_watts=100)
    await set_calendar(client, staff, m.instrument_id)
    d = shanghai_today() - timedelta(days=4)
    lab = await login(await make_user(backend, ZJLG_LAB))  # the unit's own lab: the internal rate
    external = await login(R2)
    a = await book(client, backend, external, m.instrument_id, moment(d, 9), moment(d, 11))
    b = await book(client, backend, lab, m.instrument_id, moment(d, 13), moment(d, 14))
    c = await book(
        client, backend, external, m.instrument_id, moment(d, 23), moment(d, 23) + timedelta(hours=2)
    )

    # sensor: 08:30–10:00 (half before booking a), 22:30–01:30 (across midnight, around booking c)
    await post_batch(client, running(m, 1, moment(d, 8, 30), 90) + running(m, 1000, moment(d, 22, 30), 180))
    # by hand: 13:00–14:30 (runs over booking b), 16:00–17:00 (no booking)
    base = f"/api/v1/oversight/instruments/{m.instrument_id}"
    for start, end in ((moment(d, 13), moment(d, 14, 30)), (moment(d, 16), moment(d, 17))):
        r = await client.post(
            f"{base}/sessions",
            json={"start": start.isoformat(), "end": end.isoformat(), "reason": "传感器维修期间手工记录"},
            headers=staff,
        )
        assert r.status_code == 201, r.text
        assert r.json()["source"] == "manual" and r.json()["recorded_by"]

    r = await client.get(
        f"{base}/sessions",
        params={"from": d.isoformat(), "to": (d + timedelta(days=1)).isoformat()},
        headers=staff,
    )
    assert r.status_code == 200
    got = [
        (
            s["start"][11:16],
            s["minutes"],
            s["source"],
            s["booking_id"],
            s["booked_minutes"],
            s["external_minutes"],
        )
        for s in r.json()
    ]
    assert got == [
        ("08:30", 90, "sensor", a, 60, 60),
        ("13:00", 90, "manual", b, 60, 0),
        ("16:00", 60, "manual", None, 0, 0),
        ("22:30", 180, "sensor", c, 120, 120),
    ]

    r = await client.get(
        f"{base}/daily-hours",
        params={"from": d.isoformat(), "to": (d + timedelta(days=1)).isoformat()},
        headers=staff,
    )
    assert r.status_code == 200
    assert [
        (x["effective_minutes"], x["external_minutes"], x["internal_minutes"], x["booked_minutes"])
        for x in r.json()
    ] == [(330, 120, 210, 180), (90, 60, 30, 60)]

    # the bureau of the region reads them; another unit's staff may not
    bureau = await login("demo-science-bureau")
    assert (await client.get(f"{base}/daily-hours", headers=bureau)).status_code == 200
    r = await client.get(f"{base}/daily-hours", headers=await login("demo-researcher"))
    assert r.status_code == 403 and error_code(r) == "not_overseer"


async def test_an_annotation_survives_later_readings(backend, client, login):
    staff = await login(P)
    m = await monitored_instrument(backend, client, staff, running_watts=100)
    d = shanghai_today() - timedelta(days=2)
    await post_batch(client, running(m, 1, moment(d, 9), 30)[:-1])
    base = f"/api/v1/oversight/instruments/{m.instrument_id}/sessions"
    [session] = (await client.get(base, params={"from": d.isoformat()}, headers=staff)).json()
    r = await client.post(
        f"/api/v1/oversight/sessions/{session['id']}/annotation",
        json={"annotation": "calibration", "note": "年度校准"},
        headers=staff,
    )
    assert r.status_code == 200 and r.json()["annotation"] == "calibration"
    await post_batch(
        client, [m.message(100 + i, moment(d, 9, 30) + timedelta(minutes=i), "on", 1000) for i in range(30)]
    )
    [longer] = (await client.get(base, params={"from": d.isoformat()}, headers=staff)).json()
    assert (longer["id"], longer["minutes"], longer["annotation"], longer["annotation_note"]) == (
        session["id"],
        59,
        "calibration",
        "年度校准",
    )


async def test_live_status_follows_the_newest_reading(backend, client, login):
    staff = await login(P)
    m = await monitored_instrument(backend, client, staff, running_watts=100, offline_after_minutes=15)
    url = f"/api/v1/instruments/{m.instrument_id}/live-status"
    assert (await client.get(url)).json()["status"] == "offline"  # registered, nothing heard yet
    now = utcnow().replace(microsecond=0)
    await post_batch(
        client,
        [
            m.message(1, now - timedelta(minutes=3), "on", 20),
            m.message(2, now - timedelta(minutes=2), "on", 900),
        ],
    )
    live = (await client.get(url)).json()
    assert (live["status"], live["watts"]) == ("running", 900)
    await post_batch(client, [m.message(3, now - timedelta(minutes=1), "on", 30)])
    assert (await client.get(url)).json()["status"] == "standby"
    await post_batch(
        client, [m.message(0, now - timedelta(minutes=10), "off", 0)]
    )  # late: older than the newest
    assert (await client.get(url)).json()["status"] == "standby"
    board = await client.get(f"/api/v1/oversight/units/{ZJLG}/live-board", headers=staff)
    assert board.status_code == 200
    row = next(x for x in board.json() if x["instrument_id"] == str(m.instrument_id))
    assert row["status"] == "standby"
    others = (await make_instrument(backend)).instrument_id
    assert (await client.get(f"/api/v1/instruments/{others}/live-status")).json()["status"] == "no_sensor"


async def test_a_retired_instrument_loses_its_sensor(backend, client, login):
    staff = await login(P)
    body = instrument_body()
    r = await client.post("/api/v1/provider/instruments", json=body, headers=staff)
    assert r.status_code == 201, r.text
    instrument_id = r.json()["id"]
    r = await client.post(
        "/api/v1/oversight/sensors",
        json={"sensor_id": f"S-ret-{instrument_id[:8]}", "instrument_id": instrument_id},
        headers=staff,
    )
    assert r.status_code == 201, r.text
    sensor_id = r.json()["id"]
    r = await client.put(
        f"/api/v1/provider/instruments/{instrument_id}", json={**body, "status": "retired"}, headers=staff
    )
    assert r.status_code == 200, r.text
    await backend.runtime.worker().drain()
    r = await client.get(f"/api/v1/oversight/sensors/{sensor_id}", headers=staff)
    assert r.json()["status"] == "retired"
    assert [(h["action"], h["actor_id"] is None) for h in r.json()["history"]] == [
        ("bound", False),
        ("retired", True),
    ]
    # its messages are no longer taken
    async with backend.runtime.session_maker() as session:
        sensor = await session.scalar(select(Sensor).where(Sensor.id == sensor_id))
        assert sensor is not None and sensor.status == SensorStatus.retired
    r = await client.post(
        "/api/v1/oversight/sensors",
        json={"sensor_id": "S-new-one-" + instrument_id[:6], "instrument_id": instrument_id},
        headers=staff,
    )
    assert r.status_code == 409 and error_code(r) == "instrument_retired"


async def test_one_active_sensor_per_instrument_and_rebinding_is_recorded(backend, client, login):
    staff = await login(P)
    m = await monitored_instrument(backend, client, staff)
    second = await monitored_instrument(backend, client, staff)
    r = await client.post(
        "/api/v1/oversight/sensors",
        json={"sensor_id": "S-dup-" + m.sensor_id[2:], "instrument_id": str(m.instrument_id)},
        headers=staff,
    )
    assert r.status_code == 409 and error_code(r) == "instrument_has_sensor"
    r = await client.post(
        f"/api/v1/oversight/sensors/{second.sensor_id}/retire", json={"reason": "更换新型号"}, headers=staff
    )
    assert r.status_code == 200 and r.json()["status"] == "retired"
    r = await client.post(
        f"/api/v1/oversight/sensors/{m.sensor_id}/bind",
        json={"instrument_id": str(second.instrument_id), "reason": "仪器搬迁"},
        headers=staff,
    )
    assert r.status_code == 200, r.text
    assert [(h["action"], h["instrument_id"], h["reason"]) for h in r.json()["history"]] == [
        ("bound", str(m.instrument_id), ""),
        ("rebound", str(second.instrument_id), "仪器搬迁"),
    ]
    # other units do not see it; the listing is the caller's units' sensors
    other = await client.get(
        f"/api/v1/oversight/sensors/{m.sensor_id}", headers=await login("demo-researcher")
    )
    assert other.status_code == 404
    listed = {s["id"] for s in (await client.get("/api/v1/oversight/sensors", headers=staff)).json()}
    assert {m.sensor_id, second.sensor_id} <= listed
    assert (
        await client.get("/api/v1/oversight/sensors", headers=await login("demo-researcher"))
    ).json() == []
