"""The process's shared resources, built once from settings: engine, sessions, store, domains.

Both the HTTP app and the standalone worker start from a :class:`Runtime`, so they see the same
services (a domain's ``on_startup`` may add its own, e.g. the search backend).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from yixiang.db import create_engine, create_session_maker
from yixiang.domains import (
    Domain,
    find_advisories,
    holds_records,
    load_demo,
    load_domains,
    load_reference_data,
)
from yixiang.housekeeping import SHELL_DOMAIN
from yixiang.memory import limit_arenas
from yixiang.migrate import upgrade
from yixiang.registry import ServiceRegistry
from yixiang.replicas import ReadReplicas
from yixiang.settings import Settings
from yixiang.store import Store, create_store
from yixiang.worker import Worker

log = logging.getLogger("yixiang")
STARTUP_LOCK_KEY = 72_501_210  # any constant: the advisory lock every starting process takes


@contextlib.asynccontextmanager
async def startup_lock(engine: AsyncEngine, data_dir: str) -> AsyncIterator[None]:
    if engine.dialect.name == "postgresql":
        async with engine.connect() as conn:
            await conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": STARTUP_LOCK_KEY})
            try:
                yield
            finally:
                await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": STARTUP_LOCK_KEY})
        return
    path = Path(data_dir) / "startup.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = await asyncio.to_thread(path.open, "w")
    try:
        await asyncio.to_thread(fcntl.flock, handle, fcntl.LOCK_EX)
        yield
    finally:
        handle.close()  # closing releases the lock


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    session_maker: async_sessionmaker[AsyncSession]
    store: Store
    domains: list[Domain]
    replicas: ReadReplicas
    services: ServiceRegistry = field(default_factory=ServiceRegistry)
    _worker_task: asyncio.Task[None] | None = None
    _worker_stop: asyncio.Event | None = None

    @classmethod
    def build(cls, settings: Settings, domains: list[Domain] | None = None) -> Runtime:
        limit_arenas()  # before any thread: the API process, the worker and the CLI alike
        engine = create_engine(
            settings.effective_database_url,
            pool_size=settings.database_pool_size,
            max_overflow=settings.database_max_overflow,
        )
        return cls(
            settings=settings,
            engine=engine,
            session_maker=create_session_maker(engine),
            store=create_store(settings.redis_url, settings.redis_prefix),
            replicas=ReadReplicas(
                settings.database_read_urls,
                pool_size=settings.database_pool_size,
                max_overflow=settings.database_max_overflow,
            ),
            domains=[SHELL_DOMAIN, *(load_domains() if domains is None else domains)],
        )

    def worker(self, name: str | None = None) -> Worker:
        return Worker(
            self.session_maker,
            self.domains,
            settings=self.settings,
            store=self.store,
            services=self.services,
            name=name,
        )

    async def start(self, *, run_worker: bool | None = None) -> None:
        # Several server processes may start at once (`serve --workers 2`, replicas): one at a
        # time migrates and loads the demo data, the others find it done.
        async with startup_lock(self.engine, self.settings.data_dir):
            if self.settings.migrate_on_start:
                await upgrade(self.engine)
                await load_reference_data(self.session_maker, self.domains)
            for domain in self.domains:
                for hook in domain.on_startup:
                    await hook(self)
            if self.settings.demo_data_enabled and not await holds_records(self.session_maker, self.domains):
                log.info("first start: loading demo data")
                await load_demo(self.session_maker, self.domains)
                # and its events handled (the search index above all), as `yixiang demo load`
                # does: the first page served finds the instruments, not an index still filling
                await self.worker().drain()
        await self.log_advisories()
        if self.settings.run_worker_in_process if run_worker is None else run_worker:
            self._worker_stop = asyncio.Event()
            self._worker_task = asyncio.create_task(self.worker().run(self._worker_stop))

    async def log_advisories(self) -> None:
        try:
            advisories = await find_advisories(self.session_maker, self.domains)
        except Exception as exc:  # a schema not yet migrated: `yixiang check` says so
            log.info("advisories not checked (%s)", type(exc).__name__)
            return
        for line in advisories:
            log.warning("%s", line)

    async def stop(self) -> None:
        if self._worker_task is not None and self._worker_stop is not None:
            self._worker_stop.set()
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self._worker_task, timeout=5)
        for domain in reversed(self.domains):
            for hook in domain.on_shutdown:
                await hook(self)
        await self.store.close()
        await self.replicas.dispose()
        await self.engine.dispose()
