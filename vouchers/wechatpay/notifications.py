"""A notification WeChat Pay posts to us (payment succeeded, refund finished), checked and
opened: the signature and timestamp window first, then the AES-GCM resource.

The protocol's answer: 200/204 with no body when we accepted it; otherwise 4xx/5xx with
``{"code": "FAIL", "message": ...}``, and WeChat Pay sends it again later (it also repeats
notifications we did accept, so applying one must be idempotent).
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec
from cryptography.hazmat.primitives.asymmetric import rsa

from vouchers.wechatpay.messages import Refund, Transaction
from vouchers.wechatpay.signing import SignatureError, SignedHeaders, decrypt_resource, verify_signed


class Resource(msgspec.Struct, kw_only=True):
    algorithm: str
    ciphertext: str
    nonce: str
    associated_data: str = ""
    original_type: str = ""


class Envelope(msgspec.Struct, kw_only=True):
    id: str
    event_type: str  # TRANSACTION.SUCCESS, REFUND.SUCCESS, REFUND.ABNORMAL, REFUND.CLOSED
    resource_type: str
    resource: Resource
    create_time: str = ""
    summary: str = ""


@dataclass(frozen=True)
class Notification:
    id: str
    event_type: str
    transaction: Transaction | None = None
    refund: Refund | None = None


def open_notification(
    headers: dict[str, str],
    body: bytes,
    *,
    platform_keys: dict[str, rsa.RSAPublicKey],
    apiv3_key: bytes,
    now: float | None = None,
) -> Notification:
    """The notification in ``body``, or :class:`SignatureError` saying why it is not trusted."""
    text = body.decode("utf-8", errors="strict")
    verify_signed(SignedHeaders.of(headers), text, keys=platform_keys, now=now)
    try:
        envelope = msgspec.json.decode(body, type=Envelope)
    except msgspec.DecodeError:
        raise SignatureError("not a notification") from None
    if envelope.resource_type != "encrypt-resource" or envelope.resource.algorithm != "AEAD_AES_256_GCM":
        raise SignatureError("unknown resource encryption")
    plain = decrypt_resource(
        apiv3_key,
        nonce=envelope.resource.nonce,
        ciphertext=envelope.resource.ciphertext,
        associated_data=envelope.resource.associated_data,
    )
    try:
        if envelope.event_type.startswith("TRANSACTION."):
            return Notification(
                envelope.id, envelope.event_type, transaction=msgspec.json.decode(plain, type=Transaction)
            )
        if envelope.event_type.startswith("REFUND."):
            return Notification(
                envelope.id, envelope.event_type, refund=msgspec.json.decode(plain, type=Refund)
            )
    except msgspec.ValidationError:
        raise SignatureError("resource is not a transaction or a refund") from None
    return Notification(envelope.id, envelope.event_type)
