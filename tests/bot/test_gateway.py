"""The WeChat gateway: every call on our base URL, one shared token, one refresh on expiry."""

from __future__ import annotations

import asyncio

import pytest

from bot.settings import DEMO_APP_ID, DEMO_APP_SECRET
from bot.wechat import WeChatError, WeChatGateway
from tests.bot.chat import Chat, new_openid


def _gateway(chat: Chat) -> WeChatGateway:
    runtime = chat.backend.runtime
    return WeChatGateway(runtime.settings, runtime.store, app_id=DEMO_APP_ID, app_secret=DEMO_APP_SECRET)


async def _fresh_token(chat: Chat) -> None:
    await chat.backend.runtime.store.delete(f"wechat:access-token:{DEMO_APP_ID}")


async def test_processes_share_one_access_token(chat: Chat) -> None:
    await _fresh_token(chat)
    before = len(chat.fake.calls_to("/cgi-bin/token"))
    # Two gateways are two processes sharing the store; racing, they still fetch one token.
    a, b = _gateway(chat), _gateway(chat)
    await asyncio.gather(*(g.send_text(new_openid(), "你好") for g in (a, b, a, b)))
    assert len(chat.fake.calls_to("/cgi-bin/token")) == before + 1


async def test_an_expired_token_is_refreshed_once_and_the_call_retried(chat: Chat) -> None:
    gateway, openid = _gateway(chat), new_openid()
    await gateway.send_text(openid, "预热")
    tokens_before = len(chat.fake.calls_to("/cgi-bin/token"))
    chat.fake.expire_tokens()  # WeChat now answers 40001 to the cached token
    await gateway.send_text(openid, "刷新后送达")
    assert len(chat.fake.calls_to("/cgi-bin/token")) == tokens_before + 1
    delivered = chat.fake.calls_to("/cgi-bin/message/custom/send", touser=openid)
    assert [c.body["text"]["content"] for c in delivered] == ["预热", "刷新后送达"]  # type: ignore[index]


async def test_a_token_refused_twice_is_an_error_not_a_loop(chat: Chat) -> None:
    gateway = _gateway(chat)
    await gateway.send_text(new_openid(), "预热")
    chat.fake.fail_next.extend([40001, 40001])
    with pytest.raises(WeChatError) as exc:
        await gateway.send_text(new_openid(), "x")
    assert exc.value.errcode == 40001


async def test_menu_push_uses_the_configured_menu(chat: Chat) -> None:
    from bot.menu import DEFAULT_MENU, menu_of

    await _gateway(chat).create_menu(menu_of(chat.backend.settings))
    assert chat.fake.calls_to("/cgi-bin/menu/create")[-1].body == DEFAULT_MENU
