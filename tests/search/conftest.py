"""Search tests run against every engine: the database index of the test backend, the Meilisearch
backend on the protocol-faithful fake, and a real Meilisearch when YIXIANG_TEST_MEILI_URL is set.

The engine is installed as the app's ``services[SEARCH_BACKEND]`` for the test, so the HTTP API and the
worker's index consumer use it, then the database engine is put back.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from search.dependencies import SEARCH_BACKEND
from search.documents import all_documents
from search.sync import reindex
from tests.fakes.meilisearch import FakeMeilisearch

MEILI_URL = os.environ.get("YIXIANG_TEST_MEILI_URL", "")
MEILI_KEY = os.environ.get("YIXIANG_TEST_MEILI_KEY", "")
ENGINES = ["database", "meili-fake"] + (["meili-real"] if MEILI_URL else [])


@pytest.fixture(scope="session")
def fake_meili() -> Iterator[FakeMeilisearch]:
    server = FakeMeilisearch(master_key="test-master-key")
    server.start()
    yield server
    server.stop()


_prepared: dict[tuple[str, str], Any] = {}


class AlsoIndexDatabase:
    """A Meilisearch engine that also keeps the database index current, so switching engines
    between tests never leaves either behind (searches and rebuilds go to Meilisearch only)."""

    def __init__(self, meili: Any, database: Any) -> None:
        self.meili, self.database, self.name = meili, database, meili.name

    async def search(self, session: Any, query: Any) -> Any:
        return await self.meili.search(session, query)

    async def upsert(self, session: Any, documents: Any) -> None:
        await self.meili.upsert(session, documents)
        await self.database.upsert(session, documents)

    async def delete(self, session: Any, ids: Any) -> None:
        await self.meili.delete(session, ids)
        await self.database.delete(session, ids)

    async def rebuild(self, session: Any, documents: Any) -> int:
        return int(await self.meili.rebuild(session, documents))

    async def all_documents(self, session: Any) -> Any:
        return await self.meili.all_documents(session)


@pytest.fixture(params=ENGINES)
async def engine(
    request: pytest.FixtureRequest, backend: Any, fake_meili: FakeMeilisearch
) -> AsyncIterator[Any]:
    runtime = backend.runtime
    database_engine = runtime.services[SEARCH_BACKEND]
    key = (backend.name, request.param)
    if key not in _prepared:
        await runtime.worker().drain()  # the demo catalogue's events fill the database index
        if request.param == "database":
            _prepared[key] = database_engine
        else:
            from search.meili import MeiliSearch

            url, api_key = (
                (fake_meili.url, fake_meili.master_key)
                if request.param == "meili-fake"
                else (MEILI_URL, MEILI_KEY)
            )
            meili = MeiliSearch(url, api_key, index=f"test_instruments_{uuid.uuid4().hex[:8]}")
            await meili.prepare()
            await reindex(runtime.session_maker, meili)
            _prepared[key] = AlsoIndexDatabase(meili, database_engine)
    engine = _prepared[key]
    # Other test folders insert instruments straight into the tables (no catalogue event):
    # bring the index level with the catalogue before asserting that the two agree.
    async with runtime.session_maker() as session:
        indexed = len(await engine.all_documents(session))
        searchable = sum([len(batch) async for batch in all_documents(session)])
    if indexed != searchable:
        await reindex(runtime.session_maker, engine)
    runtime.services[SEARCH_BACKEND] = engine
    try:
        yield _prepared[key]
    finally:
        runtime.services[SEARCH_BACKEND] = database_engine
