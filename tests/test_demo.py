"""The demo data loads on first start and loading it again changes nothing; production never
loads it, and ``yixiang check`` fails when a production database holds its accounts. What it
shows is backed by records: an instrument's rating figures are those of its stored ratings."""

from __future__ import annotations

import asyncio

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from accounts.demo import ACCOUNTS, demo_id, load_accounts_demo
from accounts.models import Membership, Organization, Region, User
from booking.models import Booking, BookingHistory, BookingStatus
from catalogue.demo.generate import generate
from catalogue.demo.loader import DEMO_SEED, demo_plans
from ratings.models import Rating
from tests.support import PG_URL, REDIS_URL, create_database, drop_database, make_settings
from yixiang.cli import main
from yixiang.domains import load_demo
from yixiang.migrate import upgrade
from yixiang.runtime import Runtime
from yixiang.settings import Settings


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


async def test_every_demo_instrument_shows_the_ratings_it_has(client, backend):
    await backend.runtime.worker().drain()  # the search index catches up with every rating
    demo_instruments = {str(row["id"]) for row in generate(demo_plans(), DEMO_SEED, demo_id)}
    in_search: dict[str, dict] = {}
    params: dict[str, str | int] = {"limit": 50}
    while True:
        page = (await client.get("/api/v1/instruments/search", params=params)).json()
        in_search |= {hit["id"]: hit["rating"] for hit in page["items"] if hit["id"] in demo_instruments}
        if not page["next_cursor"]:
            break
        params["cursor"] = page["next_cursor"]
    assert len(in_search) > 300
    for instrument_id, shown in in_search.items():
        details = (await client.get(f"/api/v1/instruments/{instrument_id}")).json()
        ratings = (
            await client.get(f"/api/v1/instruments/{instrument_id}/ratings", params={"limit": 100})
        ).json()
        listed = ratings["items"]
        mean = round(sum(r["overall"] for r in listed) / len(listed), 2) if listed else None
        assert shown == details["rating"] == {"count": len(listed), "mean": mean}, instrument_id
        assert ratings["summary"]["count"] == len(listed) and ratings["summary"]["mean"] == mean
    nmr_600 = str(demo_id("instrument:unit-zjlg:0"))  # the first 核磁 a researcher finds
    assert in_search[nmr_600]["count"] >= 2, "the demo shows real ratings"
    # ... each of a booking that went the whole way: booked, samples received, completed, delivered
    async with backend.runtime.session_maker() as session:
        rated = (
            await session.scalars(
                select(Booking)
                .join(Rating, Rating.booking_id == Booking.id)
                .where(Booking.note.startswith("演示评价"))
            )
        ).all()
        assert len(rated) >= 5
        for booking in rated:
            steps = (
                await session.scalars(
                    select(BookingHistory.to_status).where(BookingHistory.booking_id == booking.id)
                )
            ).all()
            assert booking.status == BookingStatus.rated
            assert {BookingStatus.in_service, BookingStatus.completed, BookingStatus.delivered} <= set(steps)


# --- production refuses the demo ---------------------------------------------------------

PRODUCTION = {
    "YIXIANG_PROFILE": "production",
    "YIXIANG_DATABASE_URL": "postgresql+asyncpg://yixiang@db/yixiang",
    "YIXIANG_REDIS_URL": "redis://cache:6379/0",
    "YIXIANG_SEARCH_BACKEND": "database",
    "YIXIANG_SECRET_KEY": "x" * 48,
    "YIXIANG_RESULTS_SHARED_VOLUME": "true",
    "YIXIANG_LOG_LEVEL": "ERROR",
}


def test_demo_load_is_refused_in_production():
    # Refused before connecting anywhere: the database above does not exist.
    result = CliRunner().invoke(main, ["demo", "load"], env=PRODUCTION)
    assert result.exit_code == 2, result.output
    assert "demo data cannot be loaded in the production profile" in result.output


def _with_demo_accounts(settings: Settings) -> None:
    """A migrated database holding the demo accounts (only them: nothing else is needed)."""

    async def load() -> None:
        await create_database(settings)
        runtime = Runtime.build(settings)
        try:
            await upgrade(runtime.engine)
            async with runtime.session_maker() as session, session.begin():
                await load_accounts_demo(session)
        finally:
            await runtime.store.close()
            await runtime.engine.dispose()

    asyncio.run(load())


def test_check_names_the_demo_accounts_it_finds(tmp_path):
    _with_demo_accounts(make_settings("sqlite", tmp_path))
    result = CliRunner().invoke(main, ["check"], env={"YIXIANG_DATA_DIR": str(tmp_path)})
    assert result.exit_code == 0, result.output  # the embedded default is meant to have them
    (line,) = [line for line in result.output.splitlines() if line.startswith("demo data:")]
    assert "demo-admin" in line and "demo-researcher" in line


@pytest.mark.skipif(not PG_URL, reason="the production profile needs PostgreSQL and Redis")
def test_check_fails_on_demo_accounts_in_a_production_database(tmp_path):
    settings = make_settings("postgres", tmp_path, demo_data=False)
    _with_demo_accounts(settings)
    try:
        env = PRODUCTION | {"YIXIANG_DATABASE_URL": settings.database_url, "YIXIANG_REDIS_URL": REDIS_URL}
        result = CliRunner().invoke(main, ["check"], env=env)
        assert result.exit_code == 1, result.output
        assert "FOUND IN PRODUCTION" in result.output and "demo-admin" in result.output
    finally:
        asyncio.run(drop_database(settings))
