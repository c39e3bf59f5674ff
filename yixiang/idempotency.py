"""``Idempotency-Key`` support for every unsafe request, in every domain.

The first request with a key runs and its response is stored; a retry with the same key and the
same body gets the stored response replayed; the same key with a different body is a 409
``idempotency_key_reused``. A *concurrent* duplicate (the first is still running) gets 409 with
``Retry-After``. Answers that invite a retry (409, 429, 503, any 5xx) are not stored.
"""

from __future__ import annotations

import hashlib
import logging
import re
from datetime import datetime, timedelta
from typing import Any

import msgspec
from litestar.types import Send
from sqlalchemy import LargeBinary, String, bindparam, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Mapped, mapped_column

from yixiang.db import Base, utcnow
from yixiang.driver_statements import DriverStatement, single_statements
from yixiang.errors import error_body

UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
KEY_PATTERN = re.compile(r"^[A-Za-z0-9_\-:.]{1,200}$")
NOT_STORED_STATUSES = {409, 429, 503}
log = logging.getLogger("yixiang.idempotency")


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_records"

    scope_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    completed: Mapped[bool] = mapped_column(default=False)
    response_status: Mapped[int | None]
    response_headers: Mapped[dict[str, Any] | None]
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)


Answer = tuple[int, list[tuple[bytes, bytes]], bytes]


def _json_response(
    status: int, body: dict[str, Any], extra_headers: list[tuple[bytes, bytes]] | None = None
) -> Answer:
    payload = msgspec.json.encode(body)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    return status, headers + (extra_headers or []), payload


async def _send_response(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


class IdempotencyMiddleware:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] not in UNSAFE_METHODS:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        raw_key = headers.get(b"idempotency-key")
        if raw_key is None:
            await self.app(scope, receive, send)
            return
        key = raw_key.decode("latin-1").strip()
        if not KEY_PATTERN.match(key):
            await _send_response(
                send,
                *_json_response(
                    400,
                    error_body(
                        "idempotency_key_invalid",
                        "Idempotency-Key 格式有误：1–200 个字母、数字或 -_:. 字符",
                        {"field": "Idempotency-Key"},
                    ),
                ),
            )
            return

        body = await _read_body(receive)
        user = scope.get("user")
        who = str(getattr(user, "user_id", "anonymous"))
        path = scope["path"] + "?" + scope.get("query_string", b"").decode("latin-1")
        scope_key = hashlib.sha256(f"{who}\0{scope['method']}\0{scope['path']}\0{key}".encode()).hexdigest()
        request_hash = hashlib.sha256(path.encode() + b"\0" + body).hexdigest()

        app = scope["app"]
        engine: AsyncEngine = app.state.engine
        ttl = timedelta(hours=app.state.settings.idempotency_ttl_hours)

        decision = await _claim(engine, scope_key, request_hash, ttl)
        if decision is not None:
            await _send_response(send, *decision)
            return

        # The answer is held back until it is stored: once the client has it, a failure to store
        # it would leave the key "in progress" and the change unreplayable.
        captured: dict[str, Any] = {"status": 500, "headers": [], "body": bytearray()}
        held: list[Any] = []

        async def replay_receive() -> dict[str, Any]:
            nonlocal body
            chunk, body = body, b""
            return {"type": "http.request", "body": chunk, "more_body": False}

        async def capturing_send(message: Any) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                captured["headers"] = list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                captured["body"].extend(message.get("body", b""))
            held.append(message)

        try:
            await self.app(scope, replay_receive, capturing_send)
        except BaseException:
            await _forget(engine, scope_key)
            raise
        status = int(captured["status"])
        if status in NOT_STORED_STATUSES or status >= 500:
            await _forget(engine, scope_key)
        else:
            await _store(engine, scope_key, status, captured)
        for message in held:
            await send(message)


async def _store(engine: AsyncEngine, scope_key: str, status: int, captured: dict[str, Any]) -> None:
    stored_headers = [
        [k.decode("latin-1"), v.decode("latin-1")]
        for k, v in captured["headers"]
        if k.lower() not in (b"date", b"content-length", b"set-cookie")
    ]
    try:
        async with single_statements(engine) as conn:
            await _COMPLETE.run(
                conn,
                {
                    "p_key": scope_key,
                    "completed": True,
                    "response_status": status,
                    "response_headers": {"items": stored_headers},
                    "response_body": bytes(captured["body"]),
                },
            )
    except Exception:  # the database went away after the change committed: answer anyway
        log.warning("could not store the response for an idempotency key", exc_info=True)


async def _read_body(receive: Any) -> bytes:
    chunks: list[bytes] = []
    more = True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = bool(message.get("more_body", False))
    return b"".join(chunks)


_RECORDS = IdempotencyRecord.__table__
_COMPLETE = DriverStatement(
    update(IdempotencyRecord).where(IdempotencyRecord.scope_key == bindparam("p_key"))
)
_FORGET = DriverStatement(delete(IdempotencyRecord).where(IdempotencyRecord.scope_key == bindparam("p_key")))
_READ = DriverStatement(
    select(
        _RECORDS.c.request_hash,
        _RECORDS.c.completed,
        _RECORDS.c.response_status,
        _RECORDS.c.response_headers,
        _RECORDS.c.response_body,
    ).where(_RECORDS.c.scope_key == bindparam("p_key"))
)


def _claim_statement(dialect: str) -> Any:
    """Insert the key, or take over an expired record of it; returns a row only when taken."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(IdempotencyRecord)
    return statement.on_conflict_do_update(
        index_elements=["scope_key"],
        set_={
            "request_hash": statement.excluded.request_hash,
            "completed": False,
            "response_status": None,
            "response_headers": None,
            "response_body": None,
            "created_at": statement.excluded.created_at,
            "expires_at": statement.excluded.expires_at,
        },
        where=_RECORDS.c.expires_at < statement.excluded.created_at,
    ).returning(_RECORDS.c.scope_key)


_CLAIM = {dialect: DriverStatement(_claim_statement(dialect)) for dialect in ("postgresql", "sqlite")}


async def _claim(
    engine: AsyncEngine, scope_key: str, request_hash: str, ttl: timedelta
) -> tuple[int, list[tuple[bytes, bytes]], bytes] | None:
    """Take the key for this request, or say what to answer instead (a replay or a 409)."""
    now = utcnow()
    async with single_statements(engine) as conn:
        taken = await _CLAIM[conn.dialect.name].first(
            conn,
            {
                "scope_key": scope_key,
                "request_hash": request_hash,
                "completed": False,
                "created_at": now,
                "expires_at": now + ttl,
            },
        )
        if taken is not None:
            return None
        record = await _READ.first(conn, {"p_key": scope_key})
    if record is None:  # vanished between the two statements: let the client retry
        return _json_response(
            409,
            error_body("idempotency_request_in_progress", "相同的请求正在处理，请稍后重试"),
            [(b"retry-after", b"1")],
        )
    stored_hash, completed, response_status, response_headers, response_body = record
    if stored_hash != request_hash:
        return _json_response(
            409,
            error_body(
                "idempotency_key_reused",
                "该 Idempotency-Key 已用于另一个不同的请求",
                {"field": "Idempotency-Key"},
            ),
        )
    if not completed:
        return _json_response(
            409,
            error_body("idempotency_request_in_progress", "相同的请求正在处理，请稍后重试"),
            [(b"retry-after", b"1")],
        )
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in (response_headers or {})["items"]]
    body = response_body or b""
    headers.append((b"content-length", str(len(body)).encode()))
    headers.append((b"idempotent-replayed", b"true"))
    return int(response_status or 200), headers, body


async def _forget(engine: AsyncEngine, scope_key: str) -> None:
    try:
        async with single_statements(engine) as conn:
            await _FORGET.run(conn, {"p_key": scope_key})
    except Exception:
        log.warning("could not release an idempotency key", exc_info=True)
