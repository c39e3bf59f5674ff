"""Fixtures of the bot tests: the local WeChat fake, the chat scene, and instruments to talk about
(helpers live in ``tests/bot/chat.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.adapters import build_ports
from bot.dependencies import REPLY_BUDGET
from bot.ports import SERVICE_KEY
from bot.settings import (
    DEMO_APP_ID,
    DEMO_APP_SECRET,
    DEMO_MINIPROGRAM_APP_ID,
    DEMO_MINIPROGRAM_APP_SECRET,
    WeChatSettings,
)
from tests.bot.chat import Chat, TaggedInstruments, tagged_instruments
from tests.fakes.wechat import FakeWeChat
from tests.support import Backend


@pytest.fixture(scope="session")
def wechat_fake() -> Iterator[FakeWeChat]:
    fake = FakeWeChat(
        apps={DEMO_APP_ID: DEMO_APP_SECRET, DEMO_MINIPROGRAM_APP_ID: DEMO_MINIPROGRAM_APP_SECRET}
    )
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def chat(backend: Backend, wechat_fake: FakeWeChat) -> Iterator[Chat]:
    """WeChat pointed at the fake (the demo credentials sent to it, not kept in the local outbox),
    and the real domains behind the bot (whatever a test changed)."""
    wechat = WeChatSettings.of(backend.settings)
    real_api, wechat.api_base_url = wechat.api_base_url, wechat_fake.url
    # The fake takes the demo credentials: send to it rather than to the local outbox.
    kept, wechat.notifications = wechat.notifications, "wechat"
    backend.runtime.services[SERVICE_KEY] = build_ports(backend.runtime)
    backend.runtime.services.pop(REPLY_BUDGET)
    wechat_fake.fail_next.clear()
    yield Chat(backend, wechat_fake)
    # Later tests (the authorisation matrix) must not find the backend talking to this fake.
    wechat.api_base_url, wechat.notifications = real_api, kept
    backend.runtime.services[SERVICE_KEY] = build_ports(backend.runtime)
    backend.runtime.services.pop(REPLY_BUDGET)


@pytest.fixture
async def instruments(chat: Chat) -> TaggedInstruments:
    return await tagged_instruments(chat)
