"""The sensor message format (``oversight/SENSOR_PROTOCOL.md``): one signed envelope per reading,
the same on MQTT and over HTTP.

``{"body": "<the reading as JSON text>", "signature": "<hex HMAC-SHA256 of body's UTF-8 bytes>"}``

The signature covers the body exactly as sent (a string inside the envelope), so nobody has to
agree on a canonical JSON form: the sensor signs the bytes it wrote, we verify those bytes.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
from datetime import datetime
from typing import Annotated

import msgspec

from oversight.models import SENSOR_ID_PATTERN, PowerState

MAX_BODY_CHARS = 1024
MAX_WATTS = 10_000_000  # 10 MW: beyond any instrument; a bigger figure is a broken sensor


class Refusal(enum.StrEnum):
    """Why a message was refused (counted per day in ``oversight_refused_messages``)."""

    malformed = "malformed"  # not the envelope, or a body that is not a reading
    unsigned = "unsigned"
    bad_signature = "bad_signature"
    unknown_sensor = "unknown_sensor"  # never registered, or retired
    topic_mismatch = "topic_mismatch"  # MQTT: the body names another sensor than its topic
    replayed = "replayed"  # a sequence number already seen, with other content
    duplicate = "duplicate"  # the same message again (a QoS 1 redelivery, a gateway retry)
    far_future = "far_future"  # read later than now plus the allowed clock skew
    too_old = "too_old"  # read in a month whose readings are archived, or due to be


class Envelope(msgspec.Struct, forbid_unknown_fields=True):
    body: Annotated[str, msgspec.Meta(max_length=MAX_BODY_CHARS)]
    signature: str = ""


class ReadingBody(msgspec.Struct, forbid_unknown_fields=True):
    sensor_id: Annotated[str, msgspec.Meta(pattern=SENSOR_ID_PATTERN)]
    seq: Annotated[int, msgspec.Meta(ge=0, le=2**62)]
    ts: datetime  # with its offset
    state: PowerState
    watts: Annotated[int, msgspec.Meta(ge=0, le=MAX_WATTS)]
    firmware: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    rssi: Annotated[int, msgspec.Meta(ge=-200, le=0)] | None = None


_envelope = msgspec.json.Decoder(Envelope)
_body = msgspec.json.Decoder(ReadingBody, strict=True)
_encode = msgspec.json.Encoder()


class Parsed(msgspec.Struct, frozen=True):
    reading: ReadingBody
    body: bytes
    signature: str


def parse(payload: bytes | str) -> Parsed | Refusal:
    """The envelope and its reading, before the signature is checked (that needs the sensor)."""
    try:
        envelope = _envelope.decode(payload)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return Refusal.malformed
    return parse_envelope(envelope)


def parse_envelope(envelope: Envelope) -> Parsed | Refusal:
    try:
        reading = _body.decode(envelope.body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return Refusal.malformed
    if reading.ts.tzinfo is None:
        return Refusal.malformed
    if not envelope.signature:
        return Refusal.unsigned
    return Parsed(reading, envelope.body.encode(), envelope.signature.lower())


def signature_of(body: bytes, secret: bytes) -> str:
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


def sign_reading(reading: ReadingBody, secret: str) -> bytes:
    """The envelope a sensor sends for ``reading`` (the simulator, the tests, the docs' examples)."""
    body = _encode.encode(reading)
    return _encode.encode(Envelope(body=body.decode(), signature=signature_of(body, secret.encode())))


def verify(parsed: Parsed, secret: bytes) -> bool:
    return hmac.compare_digest(signature_of(parsed.body, secret), parsed.signature)
