"""Ratings: once per delivered booking, by its firm, within the window; the provider replies once;
the operator may hide abusive text; aggregates equal the mean of the stored ratings."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import update

from booking.models import BookingHistory, BookingStatus
from tests.results.flow import completed_booking, upload
from tests.support import error_code
from yixiang.db import utcnow

GOOD = {
    "overall": 5,
    "dimensions": {"timeliness": 5, "data_quality": 4, "professionalism": 5, "value": 4},
    "comment": "  数据质量很好，出报告很快。  ",
}


async def delivered_booking(client, login, backend, researcher="demo-researcher", world=None, slot=0):
    booking_id, world = await completed_booking(client, login, backend, researcher, world, slot)
    response = await upload(client, await login("demo-provider"), booking_id, [("r.pdf", b"%PDF-1.4 ok")])
    assert response.status_code == 201
    return booking_id, world


async def test_the_booking_researcher_rates_once(client, login, backend):
    booking_id, _ = await delivered_booking(client, login, backend)
    researcher = await login("demo-researcher")
    rated = await client.post(f"/api/v1/bookings/{booking_id}/rating", json=GOOD, headers=researcher)
    assert rated.status_code == 201, rated.text
    assert rated.json()["comment"] == "数据质量很好，出报告很快。"
    status = (await client.get(f"/api/v1/bookings/{booking_id}", headers=researcher)).json()["status"]
    assert status == "rated"
    again = await client.post(f"/api/v1/bookings/{booking_id}/rating", json=GOOD, headers=researcher)
    assert again.status_code == 409
    assert error_code(again) == "already_rated"


async def test_each_wrong_rating_gets_its_own_clear_answer(client, login, backend):
    researcher = await login("demo-researcher")
    undelivered, _ = await completed_booking(client, login, backend)
    early = await client.post(f"/api/v1/bookings/{undelivered}/rating", json=GOOD, headers=researcher)
    assert early.status_code == 409
    assert error_code(early) == "rating_not_open"

    booking_id, _ = await delivered_booking(client, login, backend)
    other_firm = await client.post(
        f"/api/v1/bookings/{booking_id}/rating", json=GOOD, headers=await login("demo-researcher-2")
    )
    assert other_firm.status_code == 404
    for score in (0, 6):
        bad = await client.post(
            f"/api/v1/bookings/{booking_id}/rating", json=GOOD | {"overall": score}, headers=researcher
        )
        assert bad.status_code == 400
        assert error_code(bad) == "validation_error"
        assert bad.json()["error"]["details"]["fields"][0]["field"] == "overall"
    long = await client.post(
        f"/api/v1/bookings/{booking_id}/rating", json=GOOD | {"comment": "好" * 10_000}, headers=researcher
    )
    assert long.status_code == 400
    assert error_code(long) == "comment_too_long"
    html = await client.post(
        f"/api/v1/bookings/{booking_id}/rating",
        json=GOOD | {"comment": "<script>alert(1)</script>"},
        headers=researcher,
    )
    assert error_code(html) == "comment_markup_not_allowed"
    assert (
        await client.post(f"/api/v1/bookings/{booking_id}/rating", json=GOOD, headers=researcher)
    ).status_code == 201


async def test_the_rating_window_closes(client, login, backend):
    booking_id, _ = await delivered_booking(client, login, backend)
    async with backend.runtime.session_maker() as session, session.begin():
        await session.execute(
            update(BookingHistory)
            .where(
                BookingHistory.to_status == BookingStatus.delivered,
                BookingHistory.booking_id == uuid.UUID(booking_id),
            )
            .values(at=utcnow() - timedelta(days=31))
        )
    late = await client.post(
        f"/api/v1/bookings/{booking_id}/rating", json=GOOD, headers=await login("demo-researcher")
    )
    assert late.status_code == 409
    assert error_code(late) == "rating_window_closed"


async def test_provider_replies_once_and_operator_hides_abuse(client, login, backend):
    booking_id, world = await delivered_booking(client, login, backend)
    rating = (
        await client.post(
            f"/api/v1/bookings/{booking_id}/rating", json=GOOD, headers=await login("demo-researcher")
        )
    ).json()
    provider = await login("demo-provider")
    reply = await client.post(
        f"/api/v1/ratings/{rating['id']}/reply", json={"reply": "感谢评价！"}, headers=provider
    )
    assert reply.status_code == 201
    again = await client.post(
        f"/api/v1/ratings/{rating['id']}/reply", json={"reply": "再次感谢"}, headers=provider
    )
    assert error_code(again) == "already_replied"
    researcher_hides = await client.post(
        f"/api/v1/ratings/{rating['id']}/hide",
        json={"reason": "辱骂"},
        headers=await login("demo-researcher"),
    )
    assert researcher_hides.status_code == 403
    hidden = await client.post(
        f"/api/v1/ratings/{rating['id']}/hide",
        json={"reason": "含辱骂内容"},
        headers=await login("demo-admin"),
    )
    assert hidden.status_code == 200
    public = (await client.get(f"/api/v1/instruments/{world.instrument_id}/ratings")).json()
    assert public["items"][0]["hidden"] is True
    assert "数据质量" not in public["items"][0]["comment"]


async def test_aggregates_equal_the_mean_of_the_stored_ratings(client, login, backend):
    scores = [5, 3, 4]
    researcher = await login("demo-researcher")
    world = None
    for slot, score in enumerate(scores):
        booking_id, world = await delivered_booking(client, login, backend, world=world, slot=slot)
        body = GOOD | {"overall": score, "dimensions": GOOD["dimensions"] | {"value": score}}
        assert (
            await client.post(f"/api/v1/bookings/{booking_id}/rating", json=body, headers=researcher)
        ).status_code == 201
    await backend.runtime.worker().drain()
    page = (await client.get(f"/api/v1/instruments/{world.instrument_id}/ratings")).json()
    assert page["summary"]["count"] == 3
    assert page["summary"]["mean"] == round(sum(scores) / 3, 2)
    assert page["summary"]["distribution"] == {"1": 0, "2": 0, "3": 1, "4": 1, "5": 1}
    assert page["summary"]["dimension_means"]["value"] == round(sum(scores) / 3, 2)
    detail = await client.get(f"/api/v1/instruments/{world.instrument_id}/ratings", params={"limit": 2})
    assert len(detail.json()["items"]) == 2
    rest = await client.get(
        f"/api/v1/instruments/{world.instrument_id}/ratings", params={"cursor": detail.json()["next_cursor"]}
    )
    assert len(rest.json()["items"]) == 1
    assert rest.json()["next_cursor"] is None


async def test_rating_list_pages_with_a_cursor(client, login, backend):
    booking_id, world = await delivered_booking(client, login, backend)
    await client.post(
        f"/api/v1/bookings/{booking_id}/rating", json=GOOD, headers=await login("demo-researcher")
    )
    page = await client.get(f"/api/v1/instruments/{world.instrument_id}/ratings", params={"limit": 1})
    assert page.status_code == 200
    assert page.json()["next_cursor"] is None
    bad = await client.get(
        f"/api/v1/instruments/{world.instrument_id}/ratings", params={"cursor": "garbage!"}
    )
    assert bad.status_code == 400


async def test_the_overall_score_alone_is_a_rating(client, login, backend):
    booking_id, world = await delivered_booking(client, login, backend)
    rated = await client.post(
        f"/api/v1/bookings/{booking_id}/rating", json={"overall": 4}, headers=await login("demo-researcher")
    )
    assert rated.status_code == 201, rated.text
    assert rated.json()["overall"] == 4
    assert rated.json()["dimensions"] == {}
    await backend.runtime.worker().drain()
    summary = (await client.get(f"/api/v1/instruments/{world.instrument_id}/ratings")).json()["summary"]
    assert (summary["count"], summary["mean"]) == (1, 4.0)
    assert summary["dimension_means"] == {}
    assert summary["dimension_counts"] == {
        "timeliness": 0,
        "data_quality": 0,
        "professionalism": 0,
        "value": 0,
    }


async def test_dimension_means_count_only_the_ratings_that_scored_them(client, login, backend):
    researcher = await login("demo-researcher")
    bodies = [
        {"overall": 5, "dimensions": {"timeliness": 5, "value": 3}},
        {"overall": 2},
        {"overall": 3, "dimensions": {"timeliness": 2}},
    ]
    world = None
    for slot, body in enumerate(bodies):
        booking_id, world = await delivered_booking(client, login, backend, world=world, slot=slot)
        rated = await client.post(f"/api/v1/bookings/{booking_id}/rating", json=body, headers=researcher)
        assert rated.status_code == 201, rated.text
        assert rated.json()["dimensions"] == body.get("dimensions", {})
    await backend.runtime.worker().drain()
    summary = (await client.get(f"/api/v1/instruments/{world.instrument_id}/ratings")).json()["summary"]
    assert (summary["count"], summary["mean"]) == (3, round(10 / 3, 2))
    assert summary["dimension_counts"] == {
        "timeliness": 2,
        "data_quality": 0,
        "professionalism": 0,
        "value": 1,
    }
    # a left-out dimension is not a zero: timeliness is (5 + 2) / 2, value 3 / 1
    assert summary["dimension_means"] == {"timeliness": 3.5, "value": 3.0}
    details = (await client.get(f"/api/v1/instruments/{world.instrument_id}")).json()
    assert details["rating"] == {"count": 3, "mean": round(10 / 3, 2)}
