"""Abuse limits: fixed-window counters per user and per client address, kept in the store.

When the store (Redis) is unreachable, counting falls back to this process's memory: limits get
looser across replicas but requests keep being served — a cache outage must not stop bookings.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler

from yixiang.errors import DomainError
from yixiang.store import MemoryStore, Store

log = logging.getLogger("yixiang.ratelimit")

# name -> settings field giving the limit per minute
LIMITS = {
    "sign_in": "rate_limit_sign_in_per_minute",
    "search": "rate_limit_search_per_minute",
    "booking": "rate_limit_booking_per_minute",
}


class RateLimited(DomainError):
    status = 429
    code = "rate_limited"
    message = "请求过于频繁，请稍后再试"

    def __init__(self, retry_after: int, **details: Any) -> None:
        super().__init__(retry_after=retry_after, **details)
        self.headers = {"Retry-After": str(retry_after)}


class RateLimiter:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.fallback = MemoryStore()

    async def hit(self, bucket: str, limit: int, window_seconds: int = 60) -> tuple[bool, int]:
        """Count one request in ``bucket``; returns (allowed, seconds until the window resets)."""
        return await self.hit_all([bucket], limit, window_seconds)

    async def hit_all(self, buckets: list[str], limit: int, window_seconds: int = 60) -> tuple[bool, int]:
        """Count one request in every bucket; allowed only if no bucket is over ``limit``."""
        now = time.time()
        window = int(now // window_seconds)
        keys = [f"rl:{bucket}:{window}" for bucket in buckets]
        try:
            counts = await self.store.incr_many(keys, window_seconds)
        except Exception as exc:  # store down: degrade to per-process counting
            log.warning("rate limit store unavailable (%s); counting per process", type(exc).__name__)
            counts = await self.fallback.incr_many(keys, window_seconds)
        retry_after = max(1, int((window + 1) * window_seconds - now))
        return max(counts) <= limit, retry_after

    async def remember(self, mark: str, ttl_seconds: float) -> None:
        """Note that something happened (e.g. a sign-in from an address), for ``ttl_seconds``."""
        try:
            await self.store.set(f"rm:{mark}", b"1", ttl_seconds)
        except Exception as exc:
            log.warning("rate limit store unavailable (%s); remembering per process", type(exc).__name__)
            await self.fallback.set(f"rm:{mark}", b"1", ttl_seconds)

    async def recalls(self, mark: str) -> bool:
        try:
            return await self.store.get(f"rm:{mark}") is not None
        except Exception as exc:
            log.warning("rate limit store unavailable (%s); recalling per process", type(exc).__name__)
            return await self.fallback.get(f"rm:{mark}") is not None


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.lru_cache(maxsize=8)
def _networks(trusted: tuple[str, ...]) -> tuple[Network, ...]:
    # the settings checked every entry at start
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in trusted)


def _is_trusted(host: str, networks: tuple[Network, ...]) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:  # a name, "unknown", garbage: nobody we trust
        return False
    return any(address in network for network in networks)


def _host(entry: str) -> str:
    """The address of an X-Forwarded-For entry, without a port (``1.2.3.4:5``, ``[::1]:5``)."""
    if entry.startswith("[") and "]" in entry:
        return entry[1 : entry.index("]")]
    if entry.count(":") == 1:
        return entry.split(":", 1)[0]
    return entry


def forwarded_client(peer: str, forwarded_for: list[str], trusted: tuple[str, ...]) -> str:
    """The client's address: the peer, or — when the peer is a trusted proxy — the right-most
    X-Forwarded-For entry that is not a trusted proxy. Entries further left were written by whoever
    sent the request and are never believed; each proxy appends the address it saw."""
    networks = _networks(trusted)
    if not networks or not _is_trusted(peer, networks):
        return peer
    entries = [_host(item.strip()) for value in forwarded_for for item in value.split(",")]
    entries = [entry for entry in entries if entry]
    for entry in reversed(entries):
        if not _is_trusted(entry, networks):
            return entry
    # every hop is a trusted proxy: the request started inside; the first hop is the client
    return entries[0] if entries else peer


def client_address(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    client = connection.scope.get("client")
    peer = str(client[0]) if client else "unknown"
    trusted = tuple(connection.app.state.settings.trusted_proxies)
    forwarded_for = [
        value.decode("latin-1") for name, value in connection.scope["headers"] if name == b"x-forwarded-for"
    ]
    return forwarded_client(peer, forwarded_for, trusted)[:64]  # a bucket name, not a document


def rate_limit(
    name: str,
) -> Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], Awaitable[None]]:
    """Guard: at most N requests a minute of this kind per signed-in user, and per address."""
    field = LIMITS[name]

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        state = connection.app.state
        limit = int(getattr(state.settings, field))
        limiter: RateLimiter = state.rate_limiter
        buckets = [f"{name}:ip:{client_address(connection)}"]
        # the signed-in user, as the accounts' middleware put it in the scope
        user_id = getattr(connection.scope.get("user"), "user_id", None)
        if user_id is not None:
            buckets.append(f"{name}:user:{user_id}")
        allowed, retry_after = await limiter.hit_all(buckets, limit)
        if not allowed:
            raise RateLimited(retry_after, limit_per_minute=limit)

    guard.__name__ = f"rate_limit_{name}"
    return guard
