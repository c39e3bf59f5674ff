"""Sensor secrets at rest: each sensor's HMAC key is kept encrypted (AES-GCM) under a key derived
from the installation's ``YIXIANG_SECRET_KEY``.

The key must be read back to check a signature (an HMAC is verified with the key itself, unlike a
password), so it cannot be hashed; encrypting it keeps a copy of the database (a backup, a dump
handed to support) from letting its holder report usage for every instrument. Changing
``YIXIANG_SECRET_KEY`` therefore makes every sensor's stored secret unreadable: issue new ones
(retire the sensors and register them again).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_PURPOSE = b"yixiang oversight sensor secret v1"
SECRET_BYTES = 32  # what a new sensor gets: 256 bits, shown once as 64 hex characters


class SecretUnreadable(Exception):
    """The sealed secret was not sealed under this installation's secret key."""


def _key(secret_key: str) -> bytes:
    return hmac.new(secret_key.encode(), _PURPOSE, hashlib.sha256).digest()


def new_sensor_secret() -> str:
    return secrets.token_hex(SECRET_BYTES)


def seal(secret: str, secret_key: str, sensor_id: str) -> bytes:
    """The secret encrypted for storage; the sensor id is bound in, so a sealed secret copied to
    another sensor's row does not open there."""
    nonce = secrets.token_bytes(12)
    return nonce + AESGCM(_key(secret_key)).encrypt(nonce, secret.encode(), sensor_id.encode())


def unseal(sealed: bytes, secret_key: str, sensor_id: str) -> bytes:
    """The secret's bytes (what the HMAC is keyed with)."""
    try:
        return AESGCM(_key(secret_key)).decrypt(sealed[:12], sealed[12:], sensor_id.encode())
    except (InvalidTag, ValueError) as exc:
        raise SecretUnreadable(sensor_id) from exc
