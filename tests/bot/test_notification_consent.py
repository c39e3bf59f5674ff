"""Consent to notifications (PIPL) is recorded with its moments and respected: a user who
withdrew it gets no WeChat notification until they give it again."""

from __future__ import annotations

import uuid

from tests.bot.chat import Chat, bind_openid, new_firm_researcher
from tests.bot.test_notify import _emit, _payload
from tests.support import error_code

TEMPLATE = "/cgi-bin/message/template/send"


async def test_a_withdrawn_consent_stops_notifications_until_given_again(chat: Chat) -> None:
    _, username = await new_firm_researcher(chat)
    openid = await bind_openid(chat, username)
    headers = await chat.headers(username)
    client = chat.backend.client
    me = (await client.get("/api/v1/me", headers=headers)).json()
    never = (await client.get("/api/v1/me/notification-consent", headers=headers)).json()
    assert never == {"given": True, "answered_at": None, "history": []}  # the default: the service's own

    withdrawn = await client.post("/api/v1/me/notification-consent", json={"given": False}, headers=headers)
    assert withdrawn.status_code == 200 and withdrawn.json()["given"] is False
    await chat.drain()
    await _emit(chat, "booking.confirmed", {**_payload(uuid.uuid4()), "user_id": me["id"]})
    await chat.drain()
    assert not chat.fake.calls_to(TEMPLATE, touser=openid)

    given = await client.post("/api/v1/me/notification-consent", json={"given": True}, headers=headers)
    history = given.json()["history"]
    assert [h["given"] for h in history] == [False, True] and all(h["source"] == "api" for h in history)
    assert history[0]["at"] <= history[1]["at"] and history[1]["at"].endswith("+08:00")
    await _emit(chat, "booking.confirmed", {**_payload(uuid.uuid4()), "user_id": me["id"]})
    await chat.drain()
    assert len(chat.fake.calls_to(TEMPLATE, touser=openid)) == 1

    bad = await client.post("/api/v1/me/notification-consent", json={"given": "yes"}, headers=headers)
    assert bad.status_code == 400 and error_code(bad) == "validation_error"
