"""What an erased user leaves in the platform's own plumbing: outbox events (their payloads, keys
and last errors, ``yixiang.outbox``) and stored answers to idempotent requests (their bodies and
headers, ``yixiang.idempotency``) that name them. Erasure rewrites those rows in its transaction.

The rows are found by their text: any that holds the user's id, username, WeChat identities or
phone number (in full or masked). In them the id becomes a pseudonym (a fresh UUID: a consumer
that reads it as a user finds nobody, so a notification still pending goes nowhere), the other
identifiers become the pseudonym's name, the display name becomes 已注销用户, and free text
(``FREE_TEXT``: notes, comments, what was said) is emptied, as erasure empties it in bookings and
ratings. Everything else stays: booking, instrument and firm ids, amounts and times, so the events
about money are still handled and still reconcile, and a stored answer still replays (for whoever
else made the request). The display name alone does not find a row: a common name would rewrite
other people's records. A compressed answer (the app gzips larger ones before they are stored)
cannot be searched in SQL: every one is unpacked and read, a cost that grows with the answers
kept (``YIXIANG_IDEMPOTENCY_TTL_HOURS``), paid once per erasure.
"""

from __future__ import annotations

import gzip
import uuid
from dataclasses import dataclass
from typing import Any

import msgspec
from cryptography.fernet import InvalidToken
from sqlalchemy import Text, cast, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from bot.models import Follower, UserPhone
from bot.signin import decrypt_phone
from yixiang.idempotency import IdempotencyRecord
from yixiang.outbox import OutboxEvent
from yixiang.settings import Settings

FREE_TEXT = frozenset({"note", "comment", "text"})
GZIP_MAGIC = b"\x1f\x8b"
ANSWERS_PAGE = 500
ERASED_NAME = "已注销用户"
# A username this short ("li") is replaced only where a value is exactly it: inside other words
# it would rewrite what is not about the user.
WHOLE_WORD_BELOW = 6


@dataclass(frozen=True)
class Identity:
    """How the user appears in stored text (longest first), and what each becomes."""

    replacements: list[tuple[str, str]]  # replaced wherever they occur
    exact: dict[str, str]  # short ones, replaced only as a whole value (not inside other words)
    findable: list[str]  # the ones a row is found by

    def scrub(self, value: Any) -> Any:
        """``value`` (decoded JSON) with the user's identifiers replaced and free text emptied."""
        if isinstance(value, dict):
            return {
                self.scrub(k): "" if k in FREE_TEXT and isinstance(v, str) else self.scrub(v)
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [self.scrub(v) for v in value]
        if isinstance(value, str):
            return self.exact[value] if value in self.exact else self.scrub_text(value)
        return value

    def scrub_text(self, text: str) -> str:
        for old, new in self.replacements:
            text = text.replace(old, new)
        return text

    def holds(self, text: str) -> bool:
        return any(name in text for name in self.findable)

    def scrub_body(self, body: bytes) -> bytes:
        """A stored answer's body: JSON scrubbed as JSON, anything else as text."""
        try:
            decoded = msgspec.json.decode(body)
        except msgspec.DecodeError:
            return self.scrub_text(body.decode("utf-8", "replace")).encode()
        return msgspec.json.encode(self.scrub(decoded))


def _plain(body: bytes) -> tuple[bytes, bool]:
    """A stored answer's body as sent before compression, and whether it was compressed (the
    app gzips larger answers before the idempotency middleware sees them)."""
    if body[:2] != GZIP_MAGIC:
        return body, False
    try:
        return gzip.decompress(body), True
    except (OSError, EOFError):  # not gzip after all
        return body, False


async def identity_of(session: AsyncSession, user: User, settings: Settings, pseudonym: str) -> Identity:
    """The user's identifiers, read before erasure deletes the rows holding some of them."""
    pseudonym_id = uuid.uuid4()
    names = [user.username, user.wechat_openid, user.wechat_unionid]
    followers = await session.execute(
        select(Follower.openid, Follower.unionid).where(Follower.user_id == user.id)
    )
    names += [value for row in followers.all() for value in row]
    phone = await session.get(UserPhone, user.id)
    if phone is not None:
        names.append(phone.phone_masked)
        try:
            names.append(decrypt_phone(settings, phone.phone_encrypted))
        except InvalidToken:  # encrypted under another secret key: only the masked form is known
            pass
    replacements = {str(user.id): str(pseudonym_id), user.id.hex: pseudonym_id.hex}
    replacements |= {name: pseudonym for name in names if name}
    exact = {name: new for name, new in replacements.items() if len(name) < WHOLE_WORD_BELOW}
    findable = list(replacements)
    if len(user.display_name) >= 2 and user.display_name != ERASED_NAME:
        replacements[user.display_name] = ERASED_NAME
    within = sorted(
        ((name, new) for name, new in replacements.items() if name not in exact),
        key=lambda item: -len(item[0]),
    )
    return Identity(replacements=within, exact=exact, findable=findable)


def _body_contains(dialect: str, name: str) -> Any:
    """A stored answer's body holds ``name``: on PostgreSQL searched in its escape form (a text
    pattern does not reach ``bytea``): a backslash doubled, a zero byte or one above 127 written as
    a backslash and three octal digits."""
    if dialect != "postgresql":
        return cast(IdempotencyRecord.response_body, Text).contains(name, autoescape=True)
    escaped = "".join(
        "\\\\" if byte == 0x5C else f"\\{byte:03o}" if byte == 0 or byte >= 0x80 else chr(byte)
        for byte in name.encode()
    )
    return func.encode(IdempotencyRecord.response_body, "escape").contains(escaped, autoescape=True)


async def scrub_traces(session: AsyncSession, identity: Identity) -> int:
    """Rewrite the outbox events and stored answers that name the user; how many rows changed."""
    changed = 0
    events = await session.execute(
        select(OutboxEvent.id, OutboxEvent.payload, OutboxEvent.key, OutboxEvent.last_error).where(
            or_(
                *(
                    column.contains(name, autoescape=True)
                    for name in identity.findable
                    for column in (cast(OutboxEvent.payload, Text), OutboxEvent.key, OutboxEvent.last_error)
                )
            )
        )
    )
    for event_id, payload, key, last_error in events.all():
        await session.execute(
            update(OutboxEvent)
            .where(OutboxEvent.id == event_id)
            .values(
                payload=identity.scrub(payload),
                key=identity.scrub_text(key) if key else key,
                last_error=identity.scrub_text(last_error) if last_error else last_error,
            )
        )
        changed += 1
    return changed + await _scrub_answers(session, identity)


async def _scrub_answers(session: AsyncSession, identity: Identity) -> int:
    """Stored answers: those whose text holds the user, and every compressed one (its text is
    known only once unpacked), read a page at a time in key order."""
    dialect = (await session.connection()).dialect.name
    records = IdempotencyRecord
    candidates = or_(
        func.substr(records.response_body, 1, 2) == GZIP_MAGIC,
        *(
            condition
            for name in identity.findable
            for condition in (
                _body_contains(dialect, name),
                cast(records.response_headers, Text).contains(name, autoescape=True),
            )
        ),
    )
    changed, after = 0, ""
    while True:
        page = (
            await session.execute(
                select(records.scope_key, records.response_body, records.response_headers)
                .where(candidates, records.scope_key > after)
                .order_by(records.scope_key)
                .limit(ANSWERS_PAGE)
            )
        ).all()
        if not page:
            return changed
        after = page[-1].scope_key
        for scope_key, body, headers in page:
            plain, compressed = _plain(body or b"")
            if not identity.holds(plain.decode("utf-8", "replace") + msgspec.json.encode(headers).decode()):
                continue
            scrubbed = identity.scrub_body(plain) if plain else plain
            await session.execute(
                update(records)
                .where(records.scope_key == scope_key)
                .values(
                    response_body=gzip.compress(scrubbed) if compressed else scrubbed,
                    response_headers=identity.scrub(headers),
                )
            )
            changed += 1
