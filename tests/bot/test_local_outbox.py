"""Without real WeChat settings (the embedded default's demo credentials) notifications stay on
this machine, in the local outbox, readable with ``yixiang bot outbox`` and at ``/dev/outbox``;
nothing reaches WeChat, even with a server listening at the configured address."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from accounts.models import User
from accounts.settings import AccountsSettings
from booking.events import booking_code
from booking.models import Booking
from bot.local_outbox import mask
from bot.models import SentNotification
from bot.settings import DEMO_APP_ID, WeChatSettings
from tests.booking.world import machine_time, make_instrument, set_calendar
from tests.bot.chat import Chat, bind_openid, new_firm_researcher, new_openid
from tests.support import Backend, make_settings
from yixiang.cli import main
from yixiang.db import utcnow
from yixiang.settings import SettingsError


@pytest.fixture
def demo_wechat(chat: Chat) -> Iterator[Chat]:
    """The embedded default's WeChat settings, with the fake still listening at the API address:
    anything sent to WeChat would reach it."""
    wechat = WeChatSettings.of(chat.backend.settings)
    wechat.notifications = "auto"
    yield chat
    wechat.notifications = "wechat"  # the chat fixture puts back the rest


def _cli_env(backend: Backend) -> dict[str, str]:
    s = backend.settings
    env = {"YIXIANG_DATA_DIR": s.data_dir, "YIXIANG_LOG_LEVEL": "WARNING"}
    if backend.is_postgres:
        env |= {"YIXIANG_DATABASE_URL": s.database_url, "YIXIANG_REDIS_URL": s.redis_url}
        env["YIXIANG_REDIS_PREFIX"] = s.redis_prefix
    return env


async def test_a_confirmation_stays_in_the_local_outbox_and_nothing_reaches_wechat(
    demo_wechat: Chat, caplog: pytest.LogCaptureFixture
) -> None:
    chat = demo_wechat
    backend, client = chat.backend, chat.backend.client
    _, username = await new_firm_researcher(chat)
    openid = await bind_openid(chat, username)
    mp_openid = new_openid()
    async with backend.runtime.session_maker() as session, session.begin():
        user = await session.scalar(select(User).where(User.username == username))
        assert user is not None
        user.wechat_openid = mp_openid
    world = await make_instrument(backend)
    await set_calendar(client, await chat.headers("demo-provider"), world.instrument_id)
    await chat.drain()
    seen = len(chat.fake.calls)

    start = (utcnow() + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    with caplog.at_level(logging.INFO, logger="bot"):
        booked = await client.post(
            "/api/v1/bookings",
            json=machine_time(world, start, start + timedelta(hours=2)),
            headers=await chat.headers(username),
        )
        assert booked.status_code == 201, booked.text
        assert booked.json()["status"] == "confirmed"
        await chat.drain()

    assert chat.fake.calls[seen:] == []  # not a message, not even an access token
    assert [r for r in caplog.records if r.name.startswith("bot")] == []  # nothing failed, no retries
    async with backend.runtime.session_maker() as session:
        booking = await session.get(Booking, uuid.UUID(booked.json()["id"]))
        assert booking is not None
        code = booking_code(booking)
        statuses = (
            await session.scalars(
                select(SentNotification.status).where(SentNotification.user_id == booking.user_id)
            )
        ).all()
    assert statuses and set(statuses) == {"sent"}

    page = await client.get("/dev/outbox")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    text = page.text
    assert "预约已确认" in text and code in text and username in text
    assert mask(openid) in text and mask(mp_openid) in text  # the official account's and the mini-program's
    assert openid not in text and mp_openid not in text

    result = await asyncio.to_thread(CliRunner().invoke, main, ["bot", "outbox"], env=_cli_env(backend))
    assert result.exit_code == 0, result.output
    assert f"{mask(openid)}（{username}）  template booking.confirmed" in result.output
    assert f"预约号：{code}" in result.output and "状态：预约已确认" in result.output
    assert openid not in result.output


async def test_the_page_is_there_only_while_the_outbox_is_and_the_dev_sign_in_is_on(
    demo_wechat: Chat,
) -> None:
    client = demo_wechat.backend.client
    settings = demo_wechat.backend.settings
    assert (await client.get("/dev/outbox")).status_code == 200
    WeChatSettings.of(settings).notifications = "wechat"  # real WeChat settings: no outbox
    assert (await client.get("/dev/outbox")).status_code == 404
    WeChatSettings.of(settings).notifications = "auto"
    accounts = AccountsSettings.of(settings)
    accounts.dev_login = False
    try:
        assert (await client.get("/dev/outbox")).status_code == 404
    finally:
        accounts.dev_login = True


def test_demo_credentials_keep_notifications_local_and_real_ones_send(tmp_path) -> None:
    demo = WeChatSettings.of(make_settings("sqlite", tmp_path))
    assert demo.app_id == DEMO_APP_ID and demo.keeps_notifications_local(demo.app_id)
    real = WeChatSettings.of(
        make_settings("sqlite", tmp_path, wechat_app_id="wx1234567890abcdef", wechat_app_secret="s3cret")
    )
    assert not real.keeps_notifications_local(real.app_id)
    # the mini-program left on the demo credentials keeps its own messages local
    assert real.keeps_notifications_local(real.miniprogram_credentials[0])


def test_production_refuses_a_local_outbox(tmp_path) -> None:
    with pytest.raises(
        SettingsError, match="YIXIANG_WECHAT_NOTIFICATIONS=local cannot be used in production"
    ):
        make_settings(
            "sqlite",
            tmp_path,
            profile="production",
            database_url="postgresql+asyncpg://db/x",
            redis_url="redis://cache:6379/0",
            secret_key="x" * 40,
            dev_login=False,
            demo_data=False,
            wechat_notifications="local",
        )
