"""Test fixtures: the real app, over HTTP, on the embedded default and on PostgreSQL + Redis.

Every test that takes ``client`` runs once per backend: ``sqlite`` (embedded default: SQLite
file, in-memory store) always, and ``postgres`` (a fresh database plus Redis under a fresh key
prefix) when ``YIXIANG_TEST_DATABASE_URL`` and ``YIXIANG_TEST_REDIS_URL`` are set. Each backend
gets its own database with migrations and demo data, created at start and dropped at the end.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from litestar import Litestar

from yixiang.app import create_app
from yixiang.runtime import Runtime
from yixiang.settings import Settings, build_settings

PG_URL = os.environ.get("YIXIANG_TEST_DATABASE_URL", "")
REDIS_URL = os.environ.get("YIXIANG_TEST_REDIS_URL", "")
BACKENDS = ["sqlite"] + (["postgres"] if PG_URL else [])


def _plain_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def _with_database(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


@dataclass
class Backend:
    name: str
    settings: Settings
    app: Litestar
    client: httpx.AsyncClient

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime

    @property
    def is_postgres(self) -> bool:
        return self.name == "postgres"


def make_settings(name: str, data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "profile": "embedded",
        "data_dir": str(data_dir),
        "worker_in_process": False,
        "demo_data": True,
        "auto_migrate": True,
        "dev_login": True,
        "log_level": "WARNING",
        # Tests race hundreds of requests from few users; the limits have their own test.
        "rate_limit_sign_in_per_minute": 1_000_000,
        "rate_limit_search_per_minute": 1_000_000,
        "rate_limit_booking_per_minute": 1_000_000,
    }
    if name == "postgres":
        values["database_url"] = _with_database(PG_URL, f"yixiang_test_{uuid.uuid4().hex[:12]}")
        if not REDIS_URL:
            raise RuntimeError("YIXIANG_TEST_REDIS_URL must be set with YIXIANG_TEST_DATABASE_URL")
        values["redis_url"] = REDIS_URL
        values["redis_prefix"] = f"yixiang-test-{uuid.uuid4().hex[:8]}:"
    values.update(overrides)
    return build_settings(values)


async def create_database(settings: Settings) -> None:
    if not settings.database_url.startswith("postgresql"):
        return
    name = settings.database_url.rpartition("/")[2]
    conn = await asyncpg.connect(_plain_dsn(PG_URL))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def drop_database(settings: Settings) -> None:
    if not settings.database_url.startswith("postgresql"):
        return
    name = settings.database_url.rpartition("/")[2]
    conn = await asyncpg.connect(_plain_dsn(PG_URL))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


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


Login = Callable[[str], Awaitable[dict[str, str]]]


@pytest.fixture
def login(backend: Backend) -> Login:
    """``await login("demo-researcher")`` → the Authorization header of a fresh token."""

    async def _login(username: str) -> dict[str, str]:
        response = await backend.client.post("/api/v1/auth/dev-login", json={"username": username})
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['token']}"}

    return _login


def error_code(response: Any) -> str:
    body = response.json()
    assert set(body) == {"error"}, body
    assert {"code", "message", "details"} <= set(body["error"]), body
    return str(body["error"]["code"])
