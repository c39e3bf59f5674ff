"""Signed pushes from outside (WeChat's messages, WeChat Pay's notifications) carry a timestamp
and a nonce their signature covers. A (timestamp, nonce) seen once may come again with the same
body (the sender retries) but never with another one: that would be a replay of a signature."""

from __future__ import annotations

import hashlib
import hmac

from yixiang.store import Store


async def nonce_fits_body(
    store: Store, scope: str, timestamp: str, nonce: str, body: bytes, ttl: float
) -> bool:
    """Remember the (timestamp, nonce) with the body it signed for; False when it came with
    another body within ``ttl`` seconds."""
    key = f"{scope}:nonce:" + hashlib.sha256(f"{timestamp}:{nonce}".encode()).hexdigest()
    digest = hashlib.sha256(body).hexdigest()
    if await store.add(key, digest, ttl=ttl):
        return True
    first = await store.get(key)
    return first is not None and hmac.compare_digest(first, digest.encode())
