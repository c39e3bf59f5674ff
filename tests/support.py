"""What tests share besides fixtures: the backends a run covers, their settings and databases,
and the shape every error answer has. ``tests/conftest.py`` builds its fixtures from these."""

from __future__ import annotations

import os
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from alembic import command
from litestar import Litestar
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from yixiang.migrate import alembic_config, upgrade
from yixiang.runtime import Runtime
from yixiang.settings import Settings, build_settings

PG_URL = os.environ.get("YIXIANG_TEST_DATABASE_URL", "")
REDIS_URL = os.environ.get("YIXIANG_TEST_REDIS_URL", "")
BACKENDS = ["sqlite"] + (["postgres"] if PG_URL else [])


def plain_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def with_database(url: str, name: str) -> str:
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
        # The demo researchers miss many bookings across the suite (every no-show test marks
        # theirs): the no-show rule would soon put them on approval. It has its own test.
        "no_show_limit": 100,
        # Race tests fire hundreds of requests at once on a slow shared machine; admission control
        # has its own test (tests/test_admission.py) with tight limits.
        "admission_max_in_flight": 10_000,
        "admission_max_queued": 10_000,
        "admission_max_wait_ms": 60_000,
        "admission_transfers_max_in_flight": 10_000,
        "admission_transfers_max_queued": 10_000,
        "admission_transfers_max_wait_ms": 60_000,
    }
    if name == "postgres":
        values["database_url"] = with_database(PG_URL, f"yixiang_test_{uuid.uuid4().hex[:12]}")
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
    conn = await asyncpg.connect(plain_dsn(PG_URL))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def drop_database(settings: Settings) -> None:
    if not settings.database_url.startswith("postgresql"):
        return
    name = settings.database_url.rpartition("/")[2]
    conn = await asyncpg.connect(plain_dsn(PG_URL))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


Login = Callable[[str], Awaitable[dict[str, str]]]


def error_code(response: Any) -> str:
    body = response.json()
    assert set(body) == {"error"}, body
    assert {"code", "message", "details"} <= set(body["error"]), body
    return str(body["error"]["code"])


async def migrate_with_old_rows(
    url: str, before: str, old_rows: Callable[[Connection], None], engine: AsyncEngine
) -> None:
    """Migrate a SQLite file to `before`, write rows the way that schema held them (through
    SQLite's own default connection: no foreign keys checked), then migrate to the head."""
    await upgrade(engine)
    async with engine.begin() as connection:
        await connection.run_sync(_downgrade, before)
    plain = create_async_engine(url)
    async with plain.begin() as connection:
        await connection.run_sync(old_rows)
    await plain.dispose()
    await upgrade(engine)


def _downgrade(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.downgrade(config, revision)
