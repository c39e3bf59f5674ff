"""Fill a database with N generated instruments (default 100,000) and index them for search.

    YIXIANG_DATABASE_URL=... uv run python -m bench.generate_instruments --count 100000

Deterministic (fixed seed, uuid5 ids in a bench namespace): 200 invented holding units spread
over every city of the demo regions, each with count/200 instruments drawn from every kind in
``catalogue/demo/kinds.py``. Runs migrations and the demo loader first; then rebuilds the
database search index (``search.sync.reindex``) and, on PostgreSQL, vacuums it.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid

from sqlalchemy import select, text

from accounts.demo import load_accounts_demo
from accounts.models import Organization, OrgKind, Region
from catalogue.categories import load_categories
from catalogue.demo.generate import CITY_CENTRES, UnitPlan, generate
from catalogue.demo.kinds import KINDS
from catalogue.demo.loader import insert_generated
from search.database import DatabaseSearch
from search.sync import reindex
from yixiang.db import create_engine, create_session_maker
from yixiang.migrate import upgrade
from yixiang.settings import load_settings

BENCH_NAMESPACE = uuid.UUID("0b6c1f52-8d8e-4c1a-9f3e-6a1d2c3b4a50")
SEED = 100_000
UNITS = 200


def bench_id(name: str) -> uuid.UUID:
    return uuid.uuid5(BENCH_NAMESPACE, name)


async def main(count: int) -> None:
    settings = load_settings()
    engine = create_engine(settings.effective_database_url)
    await upgrade(engine)
    sessions = create_session_maker(engine)
    started = time.perf_counter()
    async with sessions() as session, session.begin():
        await load_accounts_demo(session)
        await load_categories(session)
        cities = [c for c in (await session.scalars(select(Region.code).where(Region.level == "city"))).all()]
        districts = (
            await session.execute(select(Region.code, Region.parent_code).where(Region.level == "district"))
        ).all()
    by_city: dict[str, list[str]] = {c: [c] for c in cities}
    for code, parent in districts:
        by_city.setdefault(str(parent), [str(parent)]).append(code)
    city_list = sorted(by_city)
    per_unit = max(1, count // UNITS)
    plans = []
    kinds = tuple(k.key for k in KINDS)
    for n in range(UNITS):
        city = city_list[n % len(city_list)]
        plans.append(
            UnitPlan(
                key=f"bench-unit-{n}",
                unit_id=bench_id(f"unit-{n}"),
                name=f"基准测试第{n}号分析测试中心",
                region_codes=tuple(by_city[city]),
                labs=("综合实验室", "材料表征实验室", "生物分析实验室"),
                address=f"基准测试园区 {n} 号楼",
                kinds=kinds,
                count=per_unit if n < UNITS - 1 else count - per_unit * (UNITS - 1),
                email_domain=f"bench{n}.example.cn",
                phone_area="0571",
                extra={"asset_prefix": f"B{n:03d}"},
            )
        )
    async with sessions() as session, session.begin():
        for plan in plans:
            if await session.get(Organization, plan.unit_id) is None:
                region = plan.region_codes[0]
                session.add(
                    Organization(id=plan.unit_id, kind=OrgKind.unit, name=plan.name, region_code=region)
                )
    rows = generate(plans, SEED, bench_id)
    async with sessions() as session:
        existing = set((await session.scalars(select(Organization.id))).all())
        assert all(p.unit_id in existing for p in plans)
    for start in range(0, len(rows), 2000):
        batch = rows[start : start + 2000]
        async with sessions() as session, session.begin():
            from catalogue.models import Instrument

            have = set(
                (
                    await session.scalars(
                        select(Instrument.id).where(Instrument.id.in_([r["id"] for r in batch]))
                    )
                ).all()
            )
            new = [r for r in batch if r["id"] not in have]
            if new:
                await insert_generated(session, new)
    print(f"instruments ready: {len(rows)} in {time.perf_counter() - started:.0f}s")
    started = time.perf_counter()
    indexed = await reindex(sessions, DatabaseSearch())
    print(f"indexed {indexed} documents in {time.perf_counter() - started:.0f}s")
    if engine.dialect.name == "postgresql":
        # What autovacuum does soon after a rebuild: statistics, and the visibility map that
        # index-only scans need. Done here so a measurement right after generation is fair.
        async with engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.execute(text("VACUUM ANALYZE search_documents, search_payloads"))
    await engine.dispose()
    assert CITY_CENTRES  # coordinates come from the generator's city table


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=100_000)
    asyncio.run(main(parser.parse_args().count))
