"""Idle steps reach the unit's admins on WeChat: a template message per step and admin, sent once
however often the daily check runs (the fake clock walk of tests/oversight/test_idle.py)."""

from __future__ import annotations

from typing import Any

from accounts.demo import demo_id
from accounts.models import Role
from catalogue.models import Instrument
from oversight.idle import IDLE_STEP
from oversight.notices import IDLE_NOTICE
from tests.booking.world import make_user
from tests.bot.chat import Chat, bind_openid
from tests.oversight.test_idle import LISTED, add_months_at, listed_on, run_check
from tests.oversight.world import P, monitored_instrument
from yixiang.worker import Worker

TEMPLATE = "/cgi-bin/message/template/send"


async def notices_sent(chat: Chat) -> None:
    """A worker for the steps and their notices alone (the periodic idle check would walk the
    instrument with the real clock)."""
    runtime = chat.backend.runtime
    await Worker(
        runtime.session_maker,
        runtime.domains,
        settings=runtime.settings,
        store=runtime.store,
        services=runtime.services,
        only_topics={IDLE_STEP, IDLE_NOTICE},
    ).drain()


async def test_each_idle_step_is_sent_once_to_each_admin_of_the_unit(chat: Chat, login: Any) -> None:
    backend, client = chat.backend, chat.backend.client
    zjlg = demo_id("unit-zjlg")
    admin_openid = await bind_openid(chat, await make_user(backend, zjlg, Role.unit_admin))
    staff_openid = await bind_openid(chat, await make_user(backend, zjlg, Role.provider_staff))
    m = await monitored_instrument(backend, client, await login(P))
    await listed_on(backend, m.instrument_id)
    async with backend.runtime.session_maker() as session:
        instrument = await session.get(Instrument, m.instrument_id)
        assert instrument is not None
        name = instrument.name

    def sent_to(openid: str) -> list[dict[str, Any]]:
        calls = chat.fake.calls_to(TEMPLATE, touser=openid, template_id="demo-tpl-oversight.idle_notice")
        return [c.body["data"] for c in calls if c.body and c.body["data"]["thing1"]["value"] == name[:20]]

    for months, expected in ((1, ["闲置满1个月"]), (3, ["闲置满1个月", "闲置满3个月"])):
        for _ in range(2):  # the job runs hourly: each step is announced, and sent, once
            await run_check(backend, m.instrument_id, add_months_at(LISTED, months))
            await notices_sent(chat)
        assert [d["phrase2"]["value"] for d in sent_to(admin_openid)] == expected
    first = sent_to(admin_openid)[0]
    assert first["time3"]["value"] == f"{LISTED.year}年{LISTED.month}月{LISTED.day}日"
    assert "说明" in first["thing4"]["value"]
    assert sent_to(staff_openid) == []  # the unit's admins are told, not every staff member
