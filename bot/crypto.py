"""What wechatpy's webhook helpers leave out: constant-time signatures, a replay window, nonces.

wechatpy's ``check_signature`` and ``WeChatCrypto`` compare signatures with ``!=`` and accept any
timestamp. WeChat signs every push with sha1 over the sorted [token, timestamp, nonce] (and, in
safe mode, the Encrypt element: ``msg_signature``); we compare with ``hmac.compare_digest`` and
refuse timestamps more than five minutes from our clock.

Within those five minutes a signed query string could still be replayed: the plaintext
``signature`` does not cover the body. So each (timestamp, nonce) is remembered in the shared
store (Redis in production: every replica sees it) for the whole window, with a digest of the
body it came with. The same query with the same body again is WeChat retrying an unanswered
push (answered from the reply de-duplication, no second effect); with another body it is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from functools import lru_cache

from wechatpy.crypto import WeChatCrypto

from yixiang.nonces import nonce_fits_body
from yixiang.store import Store

TIMESTAMP_WINDOW_SECONDS = 300
# A timestamp may be up to the window ahead of our clock and is accepted until the window after it.
NONCE_TTL_SECONDS = 2 * TIMESTAMP_WINDOW_SECONDS


class Refused(Exception):
    """A push we do not accept (wrong signature, stale timestamp, undecryptable); answered quietly."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def sign(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def check_signature(token: str, signature: str, timestamp: str, nonce: str, *extra: str) -> None:
    expected = sign(token, timestamp, nonce, *extra)
    if not hmac.compare_digest(expected.encode(), (signature or "").lower().encode()):
        raise Refused("bad_signature")


def check_timestamp(timestamp: str, now: float | None = None) -> None:
    try:
        sent = int(timestamp)
    except (TypeError, ValueError) as exc:
        raise Refused("bad_timestamp") from exc
    if abs((now if now is not None else time.time()) - sent) > TIMESTAMP_WINDOW_SECONDS:
        raise Refused("stale_timestamp")


@lru_cache(maxsize=8)
def crypto_for(token: str, aes_key: str, app_id: str) -> WeChatCrypto:
    return WeChatCrypto(token, aes_key, app_id)


async def claim_nonce(store: Store, timestamp: str, nonce: str, body: bytes) -> None:
    """Remember a signed (timestamp, nonce) with the body it signed for; refuse it with another."""
    if not await nonce_fits_body(store, "bot", timestamp, nonce, body, NONCE_TTL_SECONDS):
        raise Refused("reused_nonce")
