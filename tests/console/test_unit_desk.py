"""The unit's ratings and statements desks: a reply to a rating, a firm's payment recorded, each
seen through the API after; what is not the unit's stays out of its lists."""

from __future__ import annotations

from tests.attack.test_authz_matrix import FB, R1, RATING, P, Scene
from tests.booking.world import make_instrument, set_calendar
from tests.console.desk import csrf_of, post_form, signed_in


async def scene(backend, client, login) -> Scene:
    s = Scene(backend, client, login)
    s.headers = {P: await login(P), R1: await login(R1), FB: await login(FB)}
    s.world = await make_instrument(backend)
    await set_calendar(client, s.headers[P], s.world.instrument_id)
    return s


async def test_the_unit_replies_to_a_rating_once(backend, client, login):
    s = await scene(backend, client, login)
    booking_id, _ = await s.delivered_booking()
    comment = f"数据清晰-{booking_id[:8]}，温度<5℃ & 湿度>30%"
    r = await client.post(
        f"/api/v1/bookings/{booking_id}/rating", json=RATING | {"comment": comment}, headers=s.headers[R1]
    )
    rating_id = r.json()["id"]
    provider = await signed_in(backend, P)
    waiting = await provider.get("/console/ratings?unanswered=1&per_page=200")
    shown = comment.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    assert shown in waiting.text and "<5℃" not in waiting.text  # the firm's words as text, never markup
    assert f"/console/ratings/{rating_id}/reply" in waiting.text
    r = await post_form(
        provider, "/console/ratings", f"/console/ratings/{rating_id}/reply", reply="感谢使用，欢迎再来"
    )
    assert "回复已发布" in (await provider.get(r.headers["location"])).text
    answered = await client.get(f"/api/v1/instruments/{s.world.instrument_id}/ratings")
    assert answered.json()["items"][0]["reply"] == "感谢使用，欢迎再来"
    assert shown not in (await provider.get("/console/ratings?unanswered=1&per_page=200")).text
    page = await provider.get("/console/ratings")
    r = await provider.post(
        f"/console/ratings/{rating_id}/reply", data={"_csrf": csrf_of(page), "reply": "再说一次"}
    )
    assert "flash error" in (await provider.get(r.headers["location"])).text  # once only: the service says so
    finance = await signed_in(backend, FB)
    assert (await finance.get("/console/ratings")).status_code == 403


async def test_the_unit_records_a_firms_payment_on_its_statements(backend, client, login):
    s = await scene(backend, client, login)
    booking_id = await s.completed()
    statement = (await client.get(f"/api/v1/bookings/{booking_id}/statement", headers=s.headers[P])).json()
    assert statement["due_fen"] > 0
    number = statement["booking_number"]
    provider = await signed_in(backend, P)
    unpaid = await provider.get("/console/unit-statements?unpaid=1&per_page=200")
    assert number in unpaid.text
    r = await post_form(
        provider,
        "/console/unit-statements",
        f"/console/unit-statements/{booking_id}/payment-received",
        reference="对公-控制台-1",
    )
    assert "已登记企业付款" in (await provider.get(r.headers["location"])).text
    after = (await client.get(f"/api/v1/bookings/{booking_id}/statement", headers=s.headers[P])).json()
    assert after["payment_reference"] == "对公-控制台-1" and after["due_fen"] == 0
    assert number not in (await provider.get("/console/unit-statements?unpaid=1&per_page=200")).text
