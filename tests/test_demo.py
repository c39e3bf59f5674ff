"""The demo data loads on first start and loading it again changes nothing."""

from __future__ import annotations

from sqlalchemy import func, select

from accounts.demo import ACCOUNTS
from accounts.models import Membership, Organization, Region, User
from yixiang.domains import load_demo


async def _counts(backend) -> tuple[int, ...]:
    async with backend.runtime.session_maker() as session:
        return tuple(
            [
                int(await session.scalar(select(func.count()).select_from(model)))
                for model in (Region, Organization, User, Membership)
            ]
        )


async def test_demo_load_is_idempotent(backend):
    before = await _counts(backend)
    await load_demo(backend.runtime.session_maker, backend.runtime.domains)
    assert await _counts(backend) == before


async def test_demo_has_a_province_with_its_cities_and_every_role(backend):
    async with backend.runtime.session_maker() as session:
        cities = (await session.scalars(select(Region.name).where(Region.parent_code == "330000"))).all()
        users = set((await session.scalars(select(User.username))).all())
    assert {"杭州市", "宁波市", "温州市", "绍兴市"} <= set(cities)
    assert {username for username, *_ in ACCOUNTS} <= users
