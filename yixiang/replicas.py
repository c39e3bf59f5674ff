"""Read replicas: read-only routes may be served from PostgreSQL streaming replicas.

A route opts in with ``opt={REPLICA_READS: True}`` (search, instrument details, availability,
public reports): what it shows may be a moment old, and nothing it shows is a promise — booking
creation, payments and every write run on the primary, which alone decides whether a slot is
free. A user who has just changed something reads from the primary for
``YIXIANG_DATABASE_READ_STICKY_SECONDS`` afterwards, so their own booking never seems to vanish
behind a replica's lag ("read your writes"). Without ``YIXIANG_DATABASE_READ_URLS`` everything
reads from the primary.
"""

from __future__ import annotations

import itertools
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from yixiang.db import create_engine, create_session_maker

if TYPE_CHECKING:
    from yixiang.store import Store

REPLICA_READS = "replica_reads"
SAFE_METHODS = frozenset({"GET", "HEAD"})

reading_from_replica: ContextVar[bool] = ContextVar("reading_from_replica", default=False)


class ReadReplicas:
    """The replicas' engines and session makers, taken in turn."""

    def __init__(self, urls: list[str], *, pool_size: int, max_overflow: int) -> None:
        self.engines: list[AsyncEngine] = [
            create_engine(url, pool_size=pool_size, max_overflow=max_overflow) for url in urls
        ]
        self._makers = [create_session_maker(engine) for engine in self.engines]
        self._turn = itertools.cycle(self._makers) if self._makers else None

    def __bool__(self) -> bool:
        return bool(self.engines)

    def session(self) -> AsyncSession:
        assert self._turn is not None
        return next(self._turn)()

    async def dispose(self) -> None:
        for engine in self.engines:
            await engine.dispose()


def sticky_mark(user_id: object) -> str:
    return f"primary-reads:{user_id}"


class ReplicaRoutingMiddleware:
    """Routes an opted-in GET to a replica unless its user wrote within the sticky window; marks
    a signed-in user's successful write so their next reads go to the primary."""

    def __init__(self, app: Any, replicas: ReadReplicas, store: Store, sticky_seconds: int) -> None:
        self.app = app
        self.replicas = replicas
        self.store = store
        self.sticky_seconds = sticky_seconds

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not self.replicas:
            await self.app(scope, receive, send)
            return
        user_id = getattr(scope.get("user"), "user_id", None)
        if scope["method"] in SAFE_METHODS:
            handler = scope.get("route_handler")
            replica = handler is not None and handler.opt.get(REPLICA_READS, False)
            if replica and user_id is not None:
                replica = await self._wrote_lately(user_id) is False
            token = reading_from_replica.set(bool(replica))
            try:
                await self.app(scope, receive, send)
            finally:
                reading_from_replica.reset(token)
            return
        if user_id is None:
            await self.app(scope, receive, send)
            return
        status = 500

        async def send_noting_status(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, send_noting_status)
        if status < 400:
            try:
                await self.store.set(sticky_mark(user_id), b"1", ttl=self.sticky_seconds)
            except Exception:  # the store is down: this user's next reads may be a moment old
                pass

    async def _wrote_lately(self, user_id: object) -> bool | None:
        try:
            return await self.store.get(sticky_mark(user_id)) is not None
        except Exception:  # the store is down: read from the primary, as if they had
            return None
