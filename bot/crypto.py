"""What wechatpy's webhook helpers leave out: constant-time signatures, a replay window, mode checks.

wechatpy's ``check_signature`` and ``WeChatCrypto`` compare signatures with ``!=`` and accept any
timestamp. WeChat signs every push with sha1 over the sorted [token, timestamp, nonce] (and, in
safe mode, the Encrypt element: ``msg_signature``); we compare with ``hmac.compare_digest`` and
refuse timestamps more than five minutes from our clock, so a captured request cannot be replayed.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from functools import lru_cache

from wechatpy.crypto import WeChatCrypto

TIMESTAMP_WINDOW_SECONDS = 300


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
