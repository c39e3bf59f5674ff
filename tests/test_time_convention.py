"""One time convention in every answer: each moment in Asia/Shanghai with its offset (``+08:00``)
and without fractions of a second, whatever route shows it (bookings and their history,
availability, vouchers, results, ratings, settlements and their export, the signed-in user,
refusals); moments sent in keep any offset."""

from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from tests.booking.world import machine_time
from tests.results.flow import completed_booking, upload
from yixiang.clock import shanghai_today
from yixiang.db import utcnow

MOMENT_LIKE = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
PUBLIC_MOMENT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+08:00$")
DIMENSIONS = ("timeliness", "data_quality", "professionalism", "value")
NEW_YORK_WINTER = timezone(timedelta(hours=-5))


def moments(value: Any) -> list[str]:
    """Every string in a JSON answer that reads as a moment."""
    if isinstance(value, dict):
        return [m for item in value.values() for m in moments(item)]
    if isinstance(value, list):
        return [m for item in value for m in moments(item)]
    return [value] if isinstance(value, str) and MOMENT_LIKE.match(value) else []


async def test_every_answer_shows_moments_in_shanghai_time_to_the_second(client, login, backend):
    booking_id, world = await completed_booking(client, login, backend)
    provider, researcher = await login("demo-provider"), await login("demo-researcher")
    bureau = await login("demo-science-bureau")
    paid = await client.post(
        f"/api/v1/bookings/{booking_id}/payment-received", json={"reference": "银行转账"}, headers=provider
    )
    assert paid.status_code == 200, paid.text
    assert (await upload(client, provider, booking_id, [("报告.pdf", b"%PDF-1.4 ok")])).status_code == 201
    rated = await client.post(
        f"/api/v1/bookings/{booking_id}/rating",
        json={"overall": 5, "dimensions": dict.fromkeys(DIMENSIONS, 5)},
        headers=researcher,
    )
    assert rated.status_code == 201, rated.text
    replied = await client.post(
        f"/api/v1/ratings/{rated.json()['id']}/reply", json={"reply": "谢谢"}, headers=provider
    )
    assert replied.status_code == 201, replied.text
    today = str(shanghai_today())
    drawn = await client.post(
        "/api/v1/settlements", json={"period_start": today, "period_end": today}, headers=bureau
    )
    assert drawn.status_code == 201, drawn.text
    batch = drawn.json()["id"]

    # A moment sent with another offset is the same moment, shown in Shanghai time.
    start = (utcnow() + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    end = (start + timedelta(hours=1)).astimezone(NEW_YORK_WINTER)
    body = machine_time(world, start, end) | {"start": start.isoformat().replace("+00:00", "Z")}
    booked = await client.post("/api/v1/bookings", json=body, headers=researcher)
    assert booked.status_code == 201, booked.text
    assert body["end"].endswith("-05:00") and booked.json()["end"].endswith("+08:00")
    assert datetime.fromisoformat(booked.json()["start"]) == start
    assert datetime.fromisoformat(booked.json()["end"]) == end
    early = await client.post(f"/api/v1/bookings/{booked.json()['id']}/check-in", headers=provider)
    assert early.status_code == 409, early.text

    answers = {
        "booking": await client.get(f"/api/v1/bookings/{booking_id}", headers=researcher),
        "bookings": await client.get("/api/v1/bookings", headers=researcher),
        "new booking": booked,
        "refusal": early,
        "availability": await client.get(f"/api/v1/instruments/{world.instrument_id}/availability"),
        "statement": await client.get(f"/api/v1/bookings/{booking_id}/statement", headers=researcher),
        "vouchers history": await client.get("/api/v1/me/vouchers", headers=researcher),
        "results": await client.get(f"/api/v1/bookings/{booking_id}/results", headers=researcher),
        "ratings": await client.get(f"/api/v1/instruments/{world.instrument_id}/ratings"),
        "rating": replied,
        "settlement": await client.get(f"/api/v1/settlements/{batch}", headers=bureau),
        "me": await client.get("/api/v1/me", headers=researcher),
    }
    seen = 0
    for name, answer in answers.items():
        assert answer.status_code < 500 and answer.headers["content-type"].startswith("application/json")
        found = moments(answer.json())
        wrong = [m for m in found if not PUBLIC_MOMENT.match(m)]
        assert not wrong, f"{name}: {wrong}"
        seen += len(found)
    assert seen > 40  # the walk saw the moments, not an empty world
    booking = answers["booking"].json()
    assert {"created_at", "actual_start", "actual_end"} <= {k for k, v in booking.items() if v}
    assert all(PUBLIC_MOMENT.match(h["at"]) for h in booking["history"])
    assert moments(answers["refusal"].json()["error"]["details"])

    # the export a finance office files: the same convention in its text
    export = await client.get(f"/api/v1/settlements/{batch}/export", params={"format": "csv"}, headers=bureau)
    assert export.status_code == 200, export.text
    rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig"))))
    column = rows[0].index("完成时间")
    completed_at = [row[column] for row in rows[1:] if row[column]]
    assert completed_at and all(PUBLIC_MOMENT.match(m) for m in completed_at), completed_at


def test_moments_are_found_wherever_they_are():
    answer = {"a": [{"at": "2026-01-01T00:00:00.123456Z"}], "b": "2026-01-01 08:00", "c": "备注", "d": 1}
    assert moments(answer) == ["2026-01-01T00:00:00.123456Z", "2026-01-01 08:00"]
    assert not PUBLIC_MOMENT.match(moments(answer)[0]) and str(uuid.uuid4())
