"""The key-value store: Redis in production, in-process memory in the embedded default.

Used for rate limits, caches, bot conversation state and de-duplication of retried messages.
Values are bytes; every key may carry a time-to-live in seconds.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

import redis.asyncio as aioredis


class Store(Protocol):
    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes | str, ttl: float | None = None) -> None: ...

    async def add(self, key: str, value: bytes | str, ttl: float | None = None) -> bool:
        """Set ``key`` only if it is absent; True when this call set it."""
        ...

    async def delete(self, key: str) -> None: ...

    async def incr(self, key: str, ttl: float) -> int:
        """Increment a counter; the TTL starts with the first increment (fixed window)."""
        ...

    async def incr_many(self, keys: list[str], ttl: float) -> list[int]:
        """``incr`` for several counters at once (one round trip to Redis)."""
        ...

    async def ping(self) -> bool: ...

    async def close(self) -> None: ...


def _b(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else value


class MemoryStore:
    def __init__(self) -> None:
        self._data: dict[str, tuple[bytes, float | None]] = {}
        self._lock = asyncio.Lock()

    def _live(self, key: str) -> bytes | None:
        item = self._data.get(key)
        if item is None:
            return None
        value, expires = item
        if expires is not None and expires <= time.monotonic():
            del self._data[key]
            return None
        return value

    @staticmethod
    def _expiry(ttl: float | None) -> float | None:
        return None if ttl is None else time.monotonic() + ttl

    async def get(self, key: str) -> bytes | None:
        return self._live(key)

    async def set(self, key: str, value: bytes | str, ttl: float | None = None) -> None:
        self._data[key] = (_b(value), self._expiry(ttl))

    async def add(self, key: str, value: bytes | str, ttl: float | None = None) -> bool:
        async with self._lock:
            if self._live(key) is not None:
                return False
            self._data[key] = (_b(value), self._expiry(ttl))
            return True

    async def delete(self, key: str) -> None:
        self._data.pop(key, None)

    async def incr(self, key: str, ttl: float) -> int:
        return (await self.incr_many([key], ttl))[0]

    async def incr_many(self, keys: list[str], ttl: float) -> list[int]:
        counts = []
        async with self._lock:
            for key in keys:
                current = self._live(key)
                if current is None:
                    self._data[key] = (b"1", self._expiry(ttl))
                    counts.append(1)
                    continue
                count = int(current) + 1
                self._data[key] = (str(count).encode(), self._data[key][1])
                counts.append(count)
        return counts

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        self._data.clear()


# KEYS: counters; ARGV[1]: their lifetime in ms, set when a counter has none (a new window).
INCR_WITH_EXPIRY = """
local counts = {}
for i, key in ipairs(KEYS) do
  counts[i] = redis.call('INCR', key)
  redis.call('PEXPIRE', key, ARGV[1], 'NX')
end
return counts
"""


class RedisStore:
    def __init__(self, url: str, *, prefix: str = "yixiang:") -> None:
        self._redis = aioredis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._prefix = prefix
        self._incr_with_expiry = self._redis.register_script(INCR_WITH_EXPIRY)

    def _k(self, key: str) -> str:
        return self._prefix + key

    @staticmethod
    def _ms(ttl: float | None) -> int | None:
        return None if ttl is None else max(1, int(ttl * 1000))

    async def get(self, key: str) -> bytes | None:
        value = await self._redis.get(self._k(key))
        return _b(value) if value is not None else None

    async def set(self, key: str, value: bytes | str, ttl: float | None = None) -> None:
        await self._redis.set(self._k(key), _b(value), px=self._ms(ttl))

    async def add(self, key: str, value: bytes | str, ttl: float | None = None) -> bool:
        return bool(await self._redis.set(self._k(key), _b(value), px=self._ms(ttl), nx=True))

    async def delete(self, key: str) -> None:
        await self._redis.delete(self._k(key))

    async def incr(self, key: str, ttl: float) -> int:
        return (await self.incr_many([key], ttl))[0]

    async def incr_many(self, keys: list[str], ttl: float) -> list[int]:
        # One EVALSHA instead of a MULTI/EXEC pipeline of two commands per key: every limited
        # request (each booking, each search) runs it, and redis-py's pipeline costs more CPU
        # than the round trip. The script is atomic like the transaction was.
        counts = await self._incr_with_expiry(keys=[self._k(key) for key in keys], args=[self._ms(ttl) or 1])
        return [int(count) for count in counts]

    async def ping(self) -> bool:
        return bool(await self._redis.ping())

    async def close(self) -> None:
        await self._redis.aclose()

    async def delete_prefix(self) -> None:
        """Remove every key under this store's prefix (tests clean up after themselves)."""
        async for key in self._redis.scan_iter(match=self._prefix + "*", count=500):
            await self._redis.delete(key)


def create_store(redis_url: str, prefix: str = "yixiang:") -> Store:
    return RedisStore(redis_url, prefix=prefix) if redis_url else MemoryStore()
