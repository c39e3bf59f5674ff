"""Fixtures of the bot tests: the local WeChat fake, a WeChat-faithful sender, a test world."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from accounts.demo import demo_id
from bot.config import (
    DEMO_APP_ID,
    DEMO_APP_SECRET,
    DEMO_MINIPROGRAM_APP_ID,
    DEMO_MINIPROGRAM_APP_SECRET,
)
from bot.ports import SERVICE_KEY, Ports
from catalogue.models import (
    Category,
    Instrument,
    PriceUnit,
    PublicationStatus,
    ServiceItem,
    ServiceMode,
)
from tests.bot.ports_impl import DbCatalog, MemoryBookings, MemoryVouchers
from tests.bot.wechat_client import WeChatSender
from tests.fakes.wechat import FakeWeChat
from tests.support import Backend
from yixiang.db import insert_ignoring_conflict


@pytest.fixture(scope="session")
def wechat_fake() -> Iterator[FakeWeChat]:
    fake = FakeWeChat(
        apps={DEMO_APP_ID: DEMO_APP_SECRET, DEMO_MINIPROGRAM_APP_ID: DEMO_MINIPROGRAM_APP_SECRET}
    )
    fake.start()
    yield fake
    fake.stop()


@dataclass
class World:
    backend: Backend
    fake: FakeWeChat
    catalog: DbCatalog
    bookings: MemoryBookings
    vouchers: MemoryVouchers
    nmr_id: uuid.UUID
    xrd_id: uuid.UUID
    icp_id: uuid.UUID  # sample testing only
    tag: str

    def sender(self, mode: str = "aes") -> WeChatSender:
        s = self.backend.settings
        return WeChatSender(self.backend.client, s.wechat_token, s.wechat_aes_key, s.wechat_app_id, mode=mode)

    async def drain(self) -> int:
        return await self.backend.runtime.worker().drain()


async def _instrument(
    backend: Backend, name: str, aliases: list[str], items: list[tuple[str, ServiceMode, int]]
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
            model="T-" + aliases[0],
            manufacturer="测试仪器厂",
            category_code="99",
            original_value_fen=80_000_000,
            unit_id=demo_id("unit-zjlg"),
            region_code="330100",
            address="杭州市西湖区测试路 1 号",
            publication=PublicationStatus.published,
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
        return instrument.id


@pytest.fixture(scope="session")
async def world_by_backend() -> AsyncIterator[dict[str, World]]:
    yield {}


@pytest.fixture
async def world(backend: Backend, wechat_fake: FakeWeChat, world_by_backend: dict[str, World]) -> World:
    """One test world per backend: instruments in the database, the ports, WeChat pointed at the fake."""
    backend.settings.wechat_api_base_url = wechat_fake.url
    if backend.name not in world_by_backend:
        tag = uuid.uuid4().hex[:6]
        nmr = await _instrument(
            backend,
            f"核磁共振波谱仪{tag}",
            ["NMR", "核磁"],
            [("氢谱 1H", ServiceMode.machine_time, 30_000), ("碳谱 13C", ServiceMode.machine_time, 50_000)],
        )
        xrd = await _instrument(
            backend, f"X射线衍射仪{tag}", ["XRD", "衍射"], [("粉末衍射", ServiceMode.machine_time, 20_000)]
        )
        icp = await _instrument(
            backend,
            f"电感耦合等离子体质谱仪{tag}",
            ["ICP-MS", "质谱"],
            [("元素分析", ServiceMode.sample_testing, 15_000)],
        )
        catalog = DbCatalog(backend.runtime.session_maker, {nmr, xrd, icp})
        vouchers = MemoryVouchers({demo_id("firm-qinghe"): 1_000_000, demo_id("firm-lanwan"): 200_000})
        bookings = MemoryBookings(backend.runtime.session_maker, vouchers)
        world_by_backend[backend.name] = World(
            backend, wechat_fake, catalog, bookings, vouchers, nmr, xrd, icp, tag
        )
    w = world_by_backend[backend.name]
    backend.runtime.services[SERVICE_KEY] = Ports(catalog=w.catalog, bookings=w.bookings, vouchers=w.vouchers)
    w.catalog.delay = 0.0
    w.fake.fail_next.clear()
    backend.runtime.services.pop("bot.reply_budget_seconds", None)
    return w


def new_openid() -> str:
    """WeChat openids are 28 characters."""
    return "o" + uuid.uuid4().hex[:27]


async def bind_openid(world: World, username: str, openid: str | None = None) -> str:
    """Bind a new follower to a demo account the way a user does: bind code, then 绑定 <code>."""
    openid = openid or new_openid()
    client = world.backend.client
    token = (await client.post("/api/v1/auth/dev-login", json={"username": username})).json()["token"]
    code = (
        await client.post("/api/v1/auth/wechat/bind-code", headers={"Authorization": f"Bearer {token}"})
    ).json()["code"]
    reply = await world.sender().text(openid, f"绑定 {code}")
    assert "绑定成功" in reply.content, reply
    return openid


async def follower_user(world: World, openid: str) -> uuid.UUID | None:
    from bot.models import Follower

    async with world.backend.runtime.session_maker() as session:
        return await session.scalar(select(Follower.user_id).where(Follower.openid == openid))
