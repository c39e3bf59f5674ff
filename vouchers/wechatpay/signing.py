"""The APIv3 signatures and encryption, by the protocol's rules.

- A request carries ``Authorization: WECHATPAY2-SHA256-RSA2048 mchid=..,nonce_str=..,
  signature=..,timestamp=..,serial_no=..``: RSA-SHA256 (PKCS#1 v1.5) with the merchant's key
  over ``METHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\nBODY\\n``.
- An answer or a notification is signed by WeChat Pay over ``TIMESTAMP\\nNONCE\\nBODY\\n``
  (headers ``Wechatpay-Timestamp/-Nonce/-Signature/-Serial``), checked with the platform's
  public key, within a window around our clock.
- A notification's resource is AEAD_AES_256_GCM encrypted with the merchant's 32-byte APIv3 key.
- The JSAPI client (``wx.requestPayment`` / ``WeixinJSBridge``) gets parameters signed over
  ``APPID\\nTIMESTAMP\\nNONCE\\nprepay_id=...\\n``.
"""

from __future__ import annotations

import base64
import secrets
import time
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SCHEMA = "WECHATPAY2-SHA256-RSA2048"
# WeChat Pay's guidance: refuse an answer or a notification whose timestamp is more than five
# minutes away from our clock (a replay, or a clock that must be fixed first).
TIMESTAMP_WINDOW_SECONDS = 300


class SignatureError(Exception):
    """A signature, a timestamp or a key that does not check out; ``reason`` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def load_private_key(pem: bytes) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise SignatureError("merchant key is not an RSA private key")
    return key


def load_public_key(pem: bytes) -> rsa.RSAPublicKey:
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, rsa.RSAPublicKey):
        raise SignatureError("platform key is not an RSA public key")
    return key


def nonce() -> str:
    return secrets.token_hex(16).upper()


def rsa_sign(key: rsa.RSAPrivateKey, message: str) -> str:
    return base64.b64encode(key.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()


def rsa_verify(key: rsa.RSAPublicKey, message: str, signature: str) -> bool:
    try:
        key.verify(
            base64.b64decode(signature, validate=True), message.encode(), padding.PKCS1v15(), hashes.SHA256()
        )
    except (InvalidSignature, ValueError):
        return False
    return True


def authorization(
    *,
    mchid: str,
    serial_no: str,
    key: rsa.RSAPrivateKey,
    method: str,
    path_and_query: str,
    body: str,
    timestamp: int | None = None,
    nonce_str: str | None = None,
) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    nonce_str = nonce_str or nonce()
    message = f"{method}\n{path_and_query}\n{timestamp}\n{nonce_str}\n{body}\n"
    signature = rsa_sign(key, message)
    return (
        f'{SCHEMA} mchid="{mchid}",nonce_str="{nonce_str}",signature="{signature}",'
        f'timestamp="{timestamp}",serial_no="{serial_no}"'
    )


def parse_authorization(header: str) -> dict[str, str]:
    """The fields of an ``Authorization`` header (the fake WeChat Pay reads ours with it)."""
    schema, _, rest = header.partition(" ")
    if schema != SCHEMA:
        raise SignatureError("unknown authorization schema")
    fields: dict[str, str] = {}
    for part in rest.split(","):
        name, _, value = part.strip().partition("=")
        fields[name] = value.strip('"')
    return fields


@dataclass(frozen=True)
class SignedHeaders:
    timestamp: str
    nonce: str
    signature: str
    serial: str

    @classmethod
    def of(cls, headers: dict[str, str]) -> SignedHeaders:
        lowered = {k.lower(): v for k, v in headers.items()}
        try:
            return cls(
                timestamp=lowered["wechatpay-timestamp"],
                nonce=lowered["wechatpay-nonce"],
                signature=lowered["wechatpay-signature"],
                serial=lowered["wechatpay-serial"],
            )
        except KeyError as missing:
            raise SignatureError(f"missing header {missing.args[0]}") from None


def verify_signed(
    headers: SignedHeaders,
    body: str,
    *,
    keys: dict[str, rsa.RSAPublicKey],
    now: float | None = None,
) -> None:
    """Raise :class:`SignatureError` unless WeChat Pay signed ``body`` with a key we know, within
    the timestamp window."""
    key = keys.get(headers.serial)
    if key is None:
        raise SignatureError("unknown platform key serial")
    try:
        timestamp = int(headers.timestamp)
    except ValueError:
        raise SignatureError("timestamp is not a number") from None
    now = time.time() if now is None else now
    if abs(now - timestamp) > TIMESTAMP_WINDOW_SECONDS:
        raise SignatureError("timestamp outside the window")
    if not rsa_verify(key, f"{headers.timestamp}\n{headers.nonce}\n{body}\n", headers.signature):
        raise SignatureError("bad signature")


def decrypt_resource(apiv3_key: bytes, *, nonce: str, ciphertext: str, associated_data: str) -> bytes:
    try:
        return AESGCM(apiv3_key).decrypt(
            nonce.encode(), base64.b64decode(ciphertext, validate=True), associated_data.encode()
        )
    except (InvalidTag, ValueError):
        raise SignatureError("resource does not decrypt") from None


def encrypt_resource(apiv3_key: bytes, *, nonce: str, plaintext: bytes, associated_data: str) -> str:
    """The inverse of :func:`decrypt_resource` (WeChat Pay's side: the fake server uses it)."""
    return base64.b64encode(
        AESGCM(apiv3_key).encrypt(nonce.encode(), plaintext, associated_data.encode())
    ).decode()


def jsapi_parameters(key: rsa.RSAPrivateKey, *, appid: str, prepay_id: str) -> dict[str, str]:
    """What ``wx.requestPayment`` (mini-program) or ``WeixinJSBridge`` (official-account pages)
    needs to open the payment sheet."""
    timestamp, nonce_str, package = str(int(time.time())), nonce(), f"prepay_id={prepay_id}"
    return {
        "appId": appid,
        "timeStamp": timestamp,
        "nonceStr": nonce_str,
        "package": package,
        "signType": "RSA",
        "paySign": rsa_sign(key, f"{appid}\n{timestamp}\n{nonce_str}\n{package}\n"),
    }
