"""Test fixtures: the real app, over HTTP, on the embedded default and on PostgreSQL + Redis.

Every test that takes ``client`` runs once per backend: ``sqlite`` (embedded default: SQLite
file, in-memory store) always, and ``postgres`` (a fresh database plus Redis under a fresh key
prefix) when ``YIXIANG_TEST_DATABASE_URL`` and ``YIXIANG_TEST_REDIS_URL`` are set. Each backend
gets its own database with migrations and demo data, created at start and dropped at the end.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.support import BACKENDS, Backend, Login, create_database, drop_database, make_settings
from yixiang.app import create_app


@pytest.fixture(scope="session", params=BACKENDS)
async def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Backend]:
    name = request.param
    settings = make_settings(name, tmp_path_factory.mktemp(f"yixiang-{name}"))
    await create_database(settings)
    app = create_app(settings)
    started, stop = asyncio.Event(), asyncio.Event()

    async def run_lifespan() -> None:
        # Entered and left in one task (anyio cancel scopes insist), in the tests' event loop,
        # so tests may also use the app's runtime (worker, sessions) directly.
        async with app.lifespan():
            started.set()
            await stop.wait()
            store = app.state.store
            if hasattr(store, "delete_prefix"):
                await store.delete_prefix()

    lifespan = asyncio.create_task(run_lifespan())
    try:
        await asyncio.wait(
            {lifespan, asyncio.create_task(started.wait())}, return_when=asyncio.FIRST_COMPLETED
        )
        if lifespan.done():
            lifespan.result()  # start-up failed: raise it here
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver", timeout=60
        ) as client:
            yield Backend(name=name, settings=settings, app=app, client=client)
    finally:
        stop.set()
        await lifespan
        await drop_database(settings)


@pytest.fixture
def client(backend: Backend) -> httpx.AsyncClient:
    return backend.client


@pytest.fixture
def login(backend: Backend) -> Login:
    """``await login("demo-researcher")`` → the Authorization header of a fresh token."""

    async def _login(username: str) -> dict[str, str]:
        response = await backend.client.post("/api/v1/auth/dev-login", json={"username": username})
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['token']}"}

    return _login
