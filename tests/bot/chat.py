"""The bot tests' scene: WeChat pointed at the local fake, a sender that talks like WeChat, and the
bot answering through the real domains (``bot/adapters.py``, as the running app does).

Instruments a conversation needs are made per test through the catalogue's tables, given a
calendar through the provider's API and indexed for search like any edit; each carries the
test's tag in its model so a search finds it and not the demo catalogue's instruments.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from accounts.demo import demo_id
from accounts.models import Role
from booking.models import Booking
from bot.models import Follower
from bot.settings import WeChatSettings
from catalogue.models import (
    Category,
    Instrument,
    PriceUnit,
    PublicationStatus,
    ServiceItem,
    ServiceMode,
)
from tests.booking.world import booked_for_the_past, check_in_when_due, iso
from tests.bot.wechat_client import WeChatSender
from tests.fakes.wechat import FakeWeChat
from tests.results.flow import upload
from tests.support import Backend
from tests.vouchers.desk import VoucherDesk, new_org, new_user
from yixiang.db import insert_ignoring_conflict, utcnow
from yixiang.outbox import emit

REPORT = b"%PDF-1.7 report"

# Open 09:00-17:00 every day in hourly slots, no notice: the same answers at any hour tests run.
OFFICE_HOURS: dict[str, Any] = {
    "weekly_hours": [{"weekday": d, "start": "09:00", "end": "17:00"} for d in range(7)],
    "follows_working_days": False,
    "slot_minutes": 60,
    "min_duration_minutes": 60,
    "max_duration_minutes": 480,
    "min_notice_minutes": 0,
    "max_advance_days": 60,
    "cancellation_deadline_hours": 0,
    "buffer_minutes": 0,
    "needs_approval": False,
}


@dataclass
class Chat:
    """A WeChat follower's side of the official account, and the people behind the platform."""

    backend: Backend
    fake: FakeWeChat

    def sender(self, mode: str = "aes") -> WeChatSender:
        s = self.backend.settings
        return WeChatSender(
            self.backend.client,
            WeChatSettings.of(s).token,
            WeChatSettings.of(s).aes_key,
            WeChatSettings.of(s).app_id,
            mode=mode,
        )

    async def drain(self) -> int:
        return await self.backend.runtime.worker().drain()

    async def headers(self, username: str) -> dict[str, str]:
        response = await self.backend.client.post("/api/v1/auth/dev-login", json={"username": username})
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['token']}"}


@dataclass
class TaggedInstruments:
    """Three published instruments of the demo provider's unit, found by searching for their model:
    ``NMR<tag>`` (two machine-time items), ``XRD<tag>`` (one) and ``ICP<tag>`` (sample testing)."""

    tag: str
    nmr_id: uuid.UUID
    xrd_id: uuid.UUID
    icp_id: uuid.UUID

    @property
    def nmr(self) -> str:
        return f"NMR{self.tag}"

    @property
    def xrd(self) -> str:
        return f"XRD{self.tag}"

    @property
    def icp(self) -> str:
        return f"ICP{self.tag}"


async def _instrument(
    backend: Backend, name: str, model: str, aliases: list[str], items: list[tuple[str, ServiceMode, int]]
) -> uuid.UUID:
    async with backend.runtime.session_maker() as session, session.begin():
        await insert_ignoring_conflict(
            session,
            Category,
            {"code": "99", "name": "测试仪器", "name_en": "test", "parent_code": None},
            ["code"],
        )
        instrument = Instrument(
            name=name,
            aliases=aliases,
            model=model,
            manufacturer="测试仪器厂",
            category_code="99",
            original_value_fen=80_000_000,
            unit_id=demo_id("unit-zjlg"),
            region_code="330100",
            address="杭州市西湖区测试路 1 号",
            publication=PublicationStatus.published,
            published_at=utcnow(),
            self_operation=False,
            operator_run=True,
            sample_testing=any(mode == ServiceMode.sample_testing for _, mode, _ in items),
        )
        for position, (item_name, mode, price) in enumerate(items):
            instrument.service_items.append(
                ServiceItem(
                    position=position,
                    name=item_name,
                    mode=mode,
                    price_unit=PriceUnit.per_hour
                    if mode == ServiceMode.machine_time
                    else PriceUnit.per_sample,
                    internal_price_fen=price // 2,
                    external_price_fen=price,
                    turnaround_working_days=None if mode == ServiceMode.machine_time else 5,
                )
            )
        session.add(instrument)
        await session.flush()
        await emit(session, "catalogue.instrument_changed", {"instrument_ids": [instrument.id]})
        return instrument.id


async def tagged_instruments(chat: Chat) -> TaggedInstruments:
    backend = chat.backend
    # Letters of no English command word (help, bind, rate, report, voucher): the bot's fuzzy
    # command matching (one letter off, anywhere) must not read a tag as a command.
    tag = "".join(random.choices("FGJKMQSWXYZ", k=6))
    nmr = await _instrument(
        backend,
        "核磁共振波谱仪",
        f"NMR{tag}",
        ["NMR", "核磁"],
        [("氢谱 1H", ServiceMode.machine_time, 30_000), ("碳谱 13C", ServiceMode.machine_time, 50_000)],
    )
    xrd = await _instrument(
        backend, "X射线衍射仪", f"XRD{tag}", ["XRD", "衍射"], [("粉末衍射", ServiceMode.machine_time, 20_000)]
    )
    icp = await _instrument(
        backend,
        "电感耦合等离子体质谱仪",
        f"ICP{tag}",
        ["ICP-MS", "质谱"],
        [("元素分析", ServiceMode.sample_testing, 15_000)],
    )
    provider = await chat.headers("demo-provider")
    for instrument_id in (nmr, xrd, icp):
        response = await backend.client.put(
            f"/api/v1/provider/instruments/{instrument_id}/calendar", json=OFFICE_HOURS, headers=provider
        )
        assert response.status_code == 200, response.text
    await chat.drain()  # the search index learns them
    return TaggedInstruments(tag, nmr, xrd, icp)


async def new_firm_researcher(chat: Chat, voucher_fen: int = 0) -> tuple[uuid.UUID, str]:
    """A researcher of a new firm, granted ``voucher_fen`` by a new programme if any: the bookings,
    results and vouchers the chat then shows are this test's alone."""
    desk = VoucherDesk(chat.backend, chat.headers)
    if voucher_fen:
        firm, _ = await desk.firm_with_grant(voucher_fen)
    else:
        firm = await new_org(chat.backend)
    return firm, await new_user(chat.backend, firm, Role.researcher)


def new_openid() -> str:
    """WeChat openids are 28 characters."""
    return "o" + uuid.uuid4().hex[:27]


async def bind_openid(chat: Chat, username: str, openid: str | None = None) -> str:
    """Bind a new follower to an account the way a user does: bind code, then 绑定 <code>."""
    openid = openid or new_openid()
    code = (
        await chat.backend.client.post("/api/v1/auth/wechat/bind-code", headers=await chat.headers(username))
    ).json()["code"]
    reply = await chat.sender().text(openid, f"绑定 {code}")
    assert "绑定成功" in reply.content, reply
    return openid


async def follower_user(chat: Chat, openid: str) -> uuid.UUID | None:
    async with chat.backend.runtime.session_maker() as session:
        return await session.scalar(select(Follower.user_id).where(Follower.openid == openid))


async def bookings_on(chat: Chat, instrument_id: uuid.UUID) -> list[Booking]:
    """The instrument's bookings, oldest first, as stored."""
    async with chat.backend.runtime.session_maker() as session:
        return list(
            (
                await session.scalars(
                    select(Booking).where(Booking.instrument_id == instrument_id).order_by(Booking.created_at)
                )
            ).all()
        )


async def deliver(chat: Chat, booking: Booking) -> None:
    """The provider runs the session (or tests the samples) and uploads the report, through the
    provider's API."""
    client, provider = chat.backend.client, await chat.headers("demo-provider")
    checked_in = await check_in_when_due(client, chat.backend, provider, booking.id)
    assert checked_in.status_code == 200, checked_in.text
    ended = utcnow()
    if not booking.samples:
        await booked_for_the_past(chat.backend, booking.id, ended - timedelta(hours=1))
    usage: dict[str, Any] = (
        {"samples": booking.samples}
        if booking.samples
        else {"actual_start": iso(ended - timedelta(hours=1)), "actual_end": iso(ended)}
    )
    completed = await client.post(f"/api/v1/bookings/{booking.id}/complete", json=usage, headers=provider)
    assert completed.status_code == 200, completed.text
    delivered = await upload(client, provider, str(booking.id), [("报告.pdf", REPORT)])
    assert delivered.status_code == 201, delivered.text
