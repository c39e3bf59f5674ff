"""The webhook as WeChat talks to it: verification, modes, retries, refusals, the 5-second rule."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import select

from accounts.auth import Principal
from booking.events import booking_code
from bot.adapters import build_ports
from bot.dependencies import REPLY_BUDGET
from bot.models import Follower
from bot.ports import SERVICE_KEY, CatalogPort, InstrumentDetails, InstrumentPage, InstrumentSummary
from bot.settings import WeChatSettings
from tests.bot.chat import (
    Chat,
    TaggedInstruments,
    bind_openid,
    bookings_on,
    follower_user,
    new_firm_researcher,
    new_openid,
)
from tests.bot.wechat_client import PATH, event_xml, sha1_sign, text_xml
from tests.test_settings import PRODUCTION
from yixiang.settings import SettingsError, load_settings


async def test_url_verification_echoes_echostr_only_for_our_signature(chat: Chat) -> None:
    client, token = chat.backend.client, WeChatSettings.of(chat.backend.settings).token
    ts = str(int(time.time()))
    good = {"signature": sha1_sign(token, ts, "n1"), "timestamp": ts, "nonce": "n1", "echostr": "echo-4711"}
    response = await client.get(PATH, params=good)
    assert response.status_code == 200 and response.text == "echo-4711"

    wrong = good | {"signature": sha1_sign("another-token", ts, "n1")}
    assert (await client.get(PATH, params=wrong)).status_code == 403
    old_ts = str(int(time.time()) - 301)
    stale = good | {"timestamp": old_ts, "signature": sha1_sign(token, old_ts, "n1")}
    response = await client.get(PATH, params=stale)
    assert response.status_code == 403 and "echo" not in response.text


async def test_safe_mode_round_trip_decrypts_to_a_reply_for_the_sender(chat: Chat) -> None:
    openid = new_openid()
    reply = await chat.sender("aes").text(openid, "帮助")
    assert reply.status == 200 and reply.msg_type == "text"
    assert reply.to_user == openid
    assert "找仪器" in reply.content and "绑定" in reply.content


async def test_compatible_mode_is_answered_encrypted(chat: Chat) -> None:
    reply = await chat.sender("compat").text(new_openid(), "帮组")  # a typo of 帮助
    assert reply.status == 200 and "找仪器" in reply.content


async def test_plaintext_mode_when_no_aes_key_is_configured(chat: Chat) -> None:
    settings = chat.backend.settings
    encrypted_sender = chat.sender("aes")
    aes_key, WeChatSettings.of(settings).aes_key = WeChatSettings.of(settings).aes_key, ""
    try:
        reply = await chat.sender("plain").text(new_openid(), "help")
        assert reply.status == 200 and "<Encrypt>" not in reply.body and "找仪器" in reply.content
        # An encrypted push cannot be read without the key: refused, not a 500.
        assert (
            await encrypted_sender.post_xml(text_xml(new_openid(), "帮助", 1, int(time.time())))
        ).status_code == 400
    finally:
        WeChatSettings.of(settings).aes_key = aes_key


async def follower_with_a_booking(chat: Chat, instruments: TaggedInstruments) -> tuple[str, str]:
    """A follower bound to a researcher of a new firm who booked through the bot: (openid, code)."""
    _, researcher = await new_firm_researcher(chat)
    openid = await bind_openid(chat, researcher)
    sender = chat.sender()
    for text in [f"预约 {instruments.icp}", "2", "1"]:
        await sender.text(openid, text)
    [booking] = await bookings_on(chat, instruments.icp_id)
    return openid, booking_code(booking)


async def test_a_captured_signed_query_cannot_carry_another_body_in_safe_mode(
    chat: Chat, instruments: TaggedInstruments
) -> None:
    client, sender = chat.backend.client, chat.sender()
    victim, code = await follower_with_a_booking(chat, instruments)
    assert code in (await sender.text(victim, "我的预约")).content  # what the follower sees
    # Someone's genuine push, whose URL a log or a proxy kept.
    params, body = sender.signed(text_xml(new_openid(), "帮助", sender.next_msgid(), int(time.time())))
    assert (await client.post(PATH, params=params, content=body)).status_code == 200
    # The same signed query with a body of the attacker's, in the victim's name.
    forged = text_xml(victim, "我的预约", sender.next_msgid(), int(time.time())).encode()
    as_plaintext = {k: params[k] for k in ("signature", "timestamp", "nonce")}
    for query in (as_plaintext, params):
        response = await client.post(PATH, params=query, content=forged)
        assert response.status_code in (400, 403) and response.text == "", response.text
        assert code not in response.text


async def test_a_reused_nonce_is_refused(chat: Chat) -> None:
    client, sender, openid = chat.backend.client, chat.sender(), new_openid()
    ts, nonce = int(time.time()), uuid.uuid4().hex[:10]
    first = sender.signed(text_xml(openid, "帮助", sender.next_msgid(), ts), timestamp=ts, nonce=nonce)
    # Another message, correctly signed and encrypted, under the same timestamp and nonce.
    other = sender.signed(text_xml(openid, "券还剩多少", sender.next_msgid(), ts), timestamp=ts, nonce=nonce)
    answered = await client.post(PATH, params=first[0], content=first[1])
    assert answered.status_code == 200 and "找仪器" in sender.read(answered).content
    refused = await client.post(PATH, params=other[0], content=other[1])
    assert refused.status_code == 403 and refused.text == ""
    # WeChat retrying the first push (same query, same body) still gets its reply, once.
    retried = await client.post(PATH, params=first[0], content=first[1])
    assert retried.status_code == 200 and "找仪器" in sender.read(retried).content

    # Without an AES key the URL verification's signed query cannot be reused as a push.
    settings = WeChatSettings.of(chat.backend.settings)
    aes_key, settings.aes_key = settings.aes_key, ""
    try:
        plain = chat.sender("plain")
        ts, nonce = int(time.time()), uuid.uuid4().hex[:10]
        query = {"signature": sha1_sign(plain.token, str(ts), nonce), "timestamp": str(ts), "nonce": nonce}
        verified = await client.get(PATH, params=query | {"echostr": "e-1"})
        assert verified.status_code == 200 and verified.text == "e-1"
        pushed = await client.post(
            PATH, params=query, content=text_xml(openid, "帮助", sender.next_msgid(), ts).encode()
        )
        assert pushed.status_code == 403 and pushed.text == ""
    finally:
        settings.aes_key = aes_key


async def test_plaintext_pushes_are_refused_in_safe_mode(chat: Chat) -> None:
    reply = await chat.sender("plain").text(new_openid(), "帮助")
    assert reply.status == 403 and reply.body == ""
    event = await chat.sender("plain").post_xml(event_xml(new_openid(), "subscribe", int(time.time())))
    assert event.status_code == 403 and event.text == ""


async def test_compatible_mode_only_when_enabled_and_never_in_production(chat: Chat) -> None:
    wechat = WeChatSettings.of(chat.backend.settings)
    assert wechat.aes_key and not wechat.compatible_mode  # safe mode by default
    wechat.compatible_mode = True
    try:
        reply = await chat.sender("plain").text(new_openid(), "帮助")
        assert reply.status == 200 and "找仪器" in reply.content
    finally:
        wechat.compatible_mode = False
    assert (await chat.sender("plain").text(new_openid(), "帮助")).status == 403

    configured = PRODUCTION | {
        "YIXIANG_WECHAT_TOKEN": "Tq7prodToken",
        "YIXIANG_WECHAT_AES_KEY": "HVOKJhkSGiPdyYddX9qySEvttaA7YiOEfcD7RUI7Out",
    }
    assert not WeChatSettings.of(load_settings(configured)).compatible_mode
    with pytest.raises(SettingsError) as refused:
        load_settings(configured | {"YIXIANG_WECHAT_COMPATIBLE_MODE": "true"})
    assert "YIXIANG_WECHAT_COMPATIBLE_MODE" in str(refused.value)
    assert "production profile refuses to start" in str(refused.value)


async def test_plaintext_pushes_never_show_a_followers_own_records(
    chat: Chat, instruments: TaggedInstruments
) -> None:
    openid, code = await follower_with_a_booking(chat, instruments)
    bind_code = (
        await chat.backend.client.post(
            "/api/v1/auth/wechat/bind-code", headers=await chat.headers("demo-researcher-2")
        )
    ).json()["code"]
    settings = WeChatSettings.of(chat.backend.settings)
    aes_key, settings.aes_key = settings.aes_key, ""
    try:
        plain = chat.sender("plain")
        # Anyone who can post a plaintext push may name this follower: nothing of theirs comes back.
        for text in [
            "我的预约",
            "券还剩多少",
            "券记录",
            "结果",
            "评价",
            "取消预约",
            f"预约 {instruments.xrd}",
        ]:
            reply = await plain.text(openid, text)
            assert reply.status == 200 and "小程序" in reply.content, (text, reply.content)
            assert code not in reply.body and "绑定" not in reply.content.replace("和绑定", ""), text
        for key in ("YX_MY_BOOKINGS", "YX_VOUCHER", "YX_RESULTS"):
            clicked = await plain.event(openid, "CLICK", key)
            assert "小程序" in clicked.content and code not in clicked.body
        # Nor does a plaintext push bind a follower to an account.
        stranger = new_openid()
        assert "小程序" in (await plain.text(stranger, f"绑定 {bind_code}")).content
        assert await follower_user(chat, stranger) is None
        # What anyone may see still works.
        assert "找仪器" in (await plain.text(openid, "帮助")).content
        assert instruments.nmr in (await plain.text(openid, f"找 {instruments.nmr}")).content
        assert "核磁" in (await plain.text(openid, "1")).content
    finally:
        settings.aes_key = aes_key
    # The follower's own, encrypted conversation is untouched.
    assert code in (await chat.sender().text(openid, "我的预约")).content


async def test_three_deliveries_of_one_message_have_one_effect_and_the_same_reply(chat: Chat) -> None:
    # Redeeming a bind code is a one-time effect: a second redemption would say "invalid code".
    client = chat.backend.client
    token = (await client.post("/api/v1/auth/dev-login", json={"username": "demo-researcher-2"})).json()[
        "token"
    ]
    code = (
        await client.post("/api/v1/auth/wechat/bind-code", headers={"Authorization": f"Bearer {token}"})
    ).json()["code"]
    sender, openid = chat.sender(), new_openid()
    msgid, created = sender.next_msgid(), int(time.time())
    replies = [await sender.text(openid, f"绑定 {code}", msgid=msgid, create_time=created) for _ in range(3)]
    assert {r.content for r in replies} == {replies[0].content}
    assert "绑定成功" in replies[0].content
    # The same words in a new message are a new attempt: the code is used up.
    again = await sender.text(openid, f"绑定 {code}")
    assert "无效" in again.content


async def test_concurrent_retries_wait_for_the_first_reply(
    chat: Chat, instruments: TaggedInstruments
) -> None:
    sender, openid = chat.sender(), new_openid()
    msgid, created = sender.next_msgid(), int(time.time())
    replies = await asyncio.gather(
        *(sender.text(openid, f"找 {instruments.nmr}", msgid=msgid, create_time=created) for _ in range(3))
    )
    assert len({r.content for r in replies}) == 1 and instruments.nmr in replies[0].content


async def test_replayed_old_message_wrong_signature_and_malformed_bodies_are_refused(chat: Chat) -> None:
    sender, openid = chat.sender(), new_openid()
    old = int(time.time()) - 301
    replay = await sender.post_xml(text_xml(openid, "帮助", sender.next_msgid(), old), timestamp=old)
    assert replay.status_code == 403 and replay.text == ""

    forged = await sender.post_xml(
        text_xml(openid, "帮助", sender.next_msgid(), int(time.time())), signature="0" * 40
    )
    assert forged.status_code == 403 and forged.text == ""

    ts = str(int(time.time()))
    params = {"signature": sha1_sign(sender.token, ts, "n"), "timestamp": ts, "nonce": "n"}
    for body in [
        b"<xml><Encrypt>not closed",
        b"\x00\xff garbage",
        b"",
        b"<xml><Encrypt><![CDATA[QUJD]]></Encrypt></xml>",
    ]:
        response = await chat.backend.client.post(
            PATH, params=params | {"encrypt_type": "aes", "msg_signature": "x"}, content=body
        )
        assert response.status_code in (400, 403), (body, response.status_code)
        assert "Traceback" not in response.text and "error" not in response.text
    # A correctly signed Encrypt element that is not AES of anything.
    encrypt = "QUJDREVGR0g="
    response = await chat.backend.client.post(
        PATH,
        params=params | {"encrypt_type": "aes", "msg_signature": sha1_sign(sender.token, ts, "n", encrypt)},
        content=f"<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>".encode(),
    )
    assert response.status_code == 400


async def test_huge_bodies_are_refused_without_reading_them(chat: Chat) -> None:
    ts = str(int(time.time()))
    params = {
        "signature": sha1_sign(WeChatSettings.of(chat.backend.settings).token, ts, "n"),
        "timestamp": ts,
        "nonce": "n",
        "encrypt_type": "aes",
        "msg_signature": "0" * 40,
    }
    response = await chat.backend.client.post(
        PATH, params=params, content=b"<xml>" + b"a" * 200_000 + b"</xml>"
    )
    assert response.status_code == 413 and response.text == ""


async def test_unknown_message_types_get_success_and_media_a_hint(chat: Chat) -> None:
    sender, openid = chat.sender(), new_openid()
    xml = (
        f"<xml><ToUserName>gh</ToUserName><FromUserName>{openid}</FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType>hologram</MsgType><MsgId>{sender.next_msgid()}</MsgId></xml>"
    )
    response = await sender.post_xml(xml)
    assert response.status_code == 200 and response.text == "success"
    image = (
        f"<xml><ToUserName>gh</ToUserName><FromUserName>{openid}</FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType>image</MsgType>"
        f"<PicUrl>http://x/y.jpg</PicUrl><MediaId>m</MediaId><MsgId>{sender.next_msgid()}</MsgId></xml>"
    )
    assert "文字" in sender.read(await sender.post_xml(image)).content


class SlowCatalog:
    """The real catalogue port behind a search backend that takes its time."""

    def __init__(self, real: CatalogPort, delay: float) -> None:
        self.real, self.delay = real, delay

    async def search(self, text: str, *, limit: int, principal: Principal | None) -> list[InstrumentSummary]:
        await asyncio.sleep(self.delay)
        return await self.real.search(text, limit=limit, principal=principal)

    async def details(
        self, instrument_id: uuid.UUID, principal: Principal | None
    ) -> InstrumentDetails | None:
        return await self.real.details(instrument_id, principal)

    async def search_page(self, text: str, **kwargs: Any) -> InstrumentPage:
        await asyncio.sleep(self.delay)
        return await self.real.search_page(text, **kwargs)


async def test_a_slow_answer_is_pushed_by_customer_service_message(
    chat: Chat, instruments: TaggedInstruments
) -> None:
    runtime = chat.backend.runtime
    runtime.services[REPLY_BUDGET] = 0.2
    ports = build_ports(runtime)
    assert ports.catalog is not None
    runtime.services[SERVICE_KEY] = replace(ports, catalog=SlowCatalog(ports.catalog, 0.6))
    sender, openid, query = chat.sender(), new_openid(), f"找 {instruments.nmr}"
    msgid, created = sender.next_msgid(), int(time.time())
    first = await sender.text(openid, query, msgid=msgid, create_time=created)
    assert first.status == 200 and first.body == "success"  # WeChat shows nothing and does not wait
    retry = await sender.text(openid, query, msgid=msgid, create_time=created)
    assert retry.body == "success"  # still working: the retry does not start the work again
    pushed: list[Any] = []
    for _ in range(50):  # the work finishes in the background; its reply goes out through the outbox
        await asyncio.sleep(0.2)
        await chat.drain()
        pushed = chat.fake.calls_to("/cgi-bin/message/custom/send", touser=openid)
        if pushed:
            break
    await chat.drain()  # and only once
    pushed = chat.fake.calls_to("/cgi-bin/message/custom/send", touser=openid)
    assert len(pushed) == 1 and instruments.nmr in pushed[0].body["text"]["content"]  # type: ignore[index]
    # A late retry now gets the finished reply.
    assert instruments.nmr in (await sender.text(openid, query, msgid=msgid, create_time=created)).content


async def test_follow_greets_and_binds_by_unionid_in_the_worker(chat: Chat) -> None:
    openid = new_openid()
    unionid = "u-" + openid
    async with chat.backend.runtime.session_maker() as session, session.begin():
        from accounts.demo import demo_id
        from accounts.models import User

        user = await session.get(User, demo_id("demo-firm-admin"))
        assert user is not None
        user.wechat_unionid = unionid
    chat.fake.unionids[openid] = unionid
    reply = await chat.sender().event(openid, "subscribe")
    assert "欢迎关注仪享" in reply.content
    await chat.drain()
    assert chat.fake.calls_to("/cgi-bin/user/info")
    async with chat.backend.runtime.session_maker() as session:
        follower = await session.get(Follower, openid)
        assert follower is not None and follower.unionid == unionid
        assert follower.user_id == demo_id("demo-firm-admin") and follower.bound_by == "unionid"
    # Unfollowing is recorded; a reply to it would be read by nobody.
    unfollow = await chat.sender().event(openid, "unsubscribe")
    assert unfollow.body == "success"
    async with chat.backend.runtime.session_maker() as session:
        assert (await session.scalar(select(Follower.subscribed).where(Follower.openid == openid))) is False


async def test_menu_clicks_answer_like_the_words_they_stand_for(chat: Chat) -> None:
    openid = await bind_openid(chat, "demo-researcher")
    sender = chat.sender()
    assert "仪器名称" in (await sender.event(openid, "CLICK", "YX_SEARCH")).content
    assert "创新券" in (await sender.event(openid, "CLICK", "YX_VOUCHER")).content
    assert "找仪器" in (await sender.event(openid, "CLICK", "YX_HELP")).content
    assert (await sender.event(openid, "CLICK", "NO_SUCH_KEY")).body == "success"
    assert (await sender.event(openid, "VIEW", "https://x")).body == "success"
    # Two clicks of one user in one second are two events (retries repeat the event key too).
    created = int(time.time())
    help_reply = await sender.event(openid, "CLICK", "YX_HELP", create_time=created)
    voucher_reply = await sender.event(openid, "CLICK", "YX_VOUCHER", create_time=created)
    assert help_reply.content != voucher_reply.content
