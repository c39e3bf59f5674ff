"""The SQLite index's migrations rebuild it from what is there: an index made before them answers
the same after them, and survives going back down and up again."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy.engine import Connection

from accounts.demo import load_accounts_demo
from catalogue.categories import load_categories
from catalogue.demo.loader import load_catalogue_demo
from search.backend import SearchQuery
from search.database import DatabaseSearch
from search.sync import reindex
from yixiang.db import create_engine, create_session_maker, transaction
from yixiang.migrate import alembic_config, upgrade

BEFORE_TAGS = "0007_search_speed"
QUERIES = [
    SearchQuery(q="核磁"),
    SearchQuery(q="电镜", city_code="330100"),
    SearchQuery(q="质谱", voucher_eligible=True, price_max_fen=100_000),
    SearchQuery(province_code="330000", category_codes=("0101", "0102")),
    SearchQuery(),
]


def _downgrade(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.downgrade(config, revision)


async def test_an_index_built_before_the_tags_answers_alike_after_upgrade_and_downgrade(tmp_path: Path):
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'index.db'}")
    sessions = create_session_maker(engine)
    engine_search = DatabaseSearch(cache_entries=0)

    async def answers() -> list[tuple[int, list[str], dict[str, dict[str, int]]]]:
        async with sessions() as session, transaction(session, read_only=True):
            results = [await engine_search.search(session, query) for query in QUERIES]
        return [(r.total, [h.document.id for h in r.hits], r.facets) for r in results]

    try:
        await upgrade(engine)
        async with sessions() as session, transaction(session):
            await load_accounts_demo(session)
            await load_categories(session)
            await load_catalogue_demo(session)
        await reindex(sessions, engine_search)
        expected = await answers()
        assert expected[0][0] > 0 and expected[1][0] > 0

        async with engine.begin() as connection:
            await connection.run_sync(_downgrade, BEFORE_TAGS)
        await upgrade(engine)  # rebuilt from the untagged index, no reindex
        assert await answers() == expected
    finally:
        await engine.dispose()
