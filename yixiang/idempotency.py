"""``Idempotency-Key`` support for every unsafe request, in every domain.

The first request with a key runs and its response is stored; a retry with the same key and the
same body gets the stored response replayed; the same key with a different body is a 409
``idempotency_key_reused``. Answers that invite a retry (409, 429, 503, any 5xx) are not stored:
the key is released and a retry runs again.

A request *claims* its key for a short lease (``YIXIANG_IDEMPOTENCY_LEASE_SECONDS``), renewed by
a background task while it runs; a completed key lives ``YIXIANG_IDEMPOTENCY_TTL_HOURS``. A
duplicate that arrives while the lease is live gets 409 ``idempotency_request_in_progress`` with
``Retry-After`` set to the lease's remaining seconds. When the claimant died (its process killed,
its database gone), nothing renews the lease: once it has run out, a request with the same key
and the same body takes the key over and runs.

Exactly one effect either way. The dangerous moment is a request whose change committed but
whose answer was never stored: a takeover would make the change twice. So the change and the key
commit together. For a route that takes the request's session (``db_session``), the middleware
opens a connection and its transaction before the route runs, and binds the session to it
(:func:`request_sessions`): the route's own transactions become savepoints of that one
transaction, and the key is completed with the answer (or released) in it, before its one
COMMIT. A request that dies commits neither its change nor its key; one that commits has its
answer stored. Domains need no key of their own for this (the voucher ledger's ``key`` predates
it and stays harmless). The record's ``created_at`` is the moment of the claim and names it:
every write of a claimant (renewal, completion, release) requires it, so a request that stalled
past its lease and was taken over finds its claim gone, rolls back and answers 409. If the COMMIT
itself fails, the outcome is unknown: the answer is 503, and a retry with the key either replays
the stored answer or runs again. Routes that do not take the request's session (the search
reindex, the WeChat webhook) write through sessions of their own, repeatably; their key is
completed after the route, on its own.

The cost: a keyed request's locks are held until its answer is stored (a few statements after the
route's last commit), two round trips more (SAVEPOINT, RELEASE), and on SQLite the request holds
the database's write lock from its start — which is also why its lease needs no renewal there:
taking a key over is a write.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import re
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import msgspec
from litestar.types import Send
from sqlalchemy import LargeBinary, String, bindparam, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from yixiang.db import Base, utcnow
from yixiang.driver_statements import DriverStatement, single_statements
from yixiang.errors import error_body
from yixiang.replicas import ReadReplicas, reading_from_replica

UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
KEY_PATTERN = re.compile(r"^[A-Za-z0-9_\-:.]{1,200}$")
NOT_STORED_STATUSES = {409, 429, 503}
REQUEST_SESSION = "db_session"  # the dependency through which a route changes the database
log = logging.getLogger("yixiang.idempotency")


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_records"

    scope_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    completed: Mapped[bool] = mapped_column(default=False)
    response_status: Mapped[int | None]
    response_headers: Mapped[dict[str, Any] | None]
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)  # the claim's moment: its name
    expires_at: Mapped[datetime] = mapped_column(index=True)  # the lease's end, or the answer's


Answer = tuple[int, list[tuple[bytes, bytes]], bytes]
StoredAnswer = dict[str, Any]  # the record's response columns


def _json_response(
    status: int, body: dict[str, Any], extra_headers: list[tuple[bytes, bytes]] | None = None
) -> Answer:
    payload = msgspec.json.encode(body)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    return status, headers + (extra_headers or []), payload


def _in_progress(retry_after: int = 1) -> Answer:
    return _json_response(
        409,
        error_body("idempotency_request_in_progress", "相同的请求正在处理，请稍后重试"),
        [(b"retry-after", str(retry_after).encode())],
    )


def _unavailable() -> Answer:
    return _json_response(
        503, error_body("database_unavailable", "服务暂时不可用，请稍后再试"), [(b"retry-after", b"2")]
    )


async def _send_response(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


@dataclass
class _KeyedRequest:
    """The connection whose one transaction carries a keyed request's change and its key."""

    connection: AsyncConnection
    sessions: list[AsyncSession] = field(default_factory=list)


_KEYED: ContextVar[_KeyedRequest | None] = ContextVar("yixiang_keyed_request", default=None)


def request_sessions(
    session_maker: async_sessionmaker[AsyncSession], replicas: ReadReplicas | None = None
) -> Callable[[], AsyncSession]:
    """The maker of each request's ``db_session``: for a keyed request, a session on the
    connection its key is completed on, whose transactions are savepoints of the request's one;
    for a read the replica router sent to a replica (yixiang.replicas), a session there."""

    def make() -> AsyncSession:
        keyed = _KEYED.get()
        if keyed is None:
            if replicas and reading_from_replica.get():
                return replicas.session()
            return session_maker()
        session = session_maker(bind=keyed.connection, join_transaction_mode="create_savepoint")
        keyed.sessions.append(session)
        return session

    return make


def honours_key(method: str) -> bool:
    """Whether a request of this method, on any route, is made idempotent by its key (the
    published OpenAPI document declares the header on exactly these operations)."""
    return method.upper() in UNSAFE_METHODS


def _takes_the_session(scope: Any) -> bool:
    handler = scope.get("route_handler")
    return handler is not None and REQUEST_SESSION in handler.parsed_fn_signature.parameters


class IdempotencyMiddleware:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not honours_key(scope["method"]):
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
        lease = timedelta(seconds=app.state.settings.idempotency_lease_seconds)

        claimed = await _claim(engine, scope_key, request_hash, lease)
        if not isinstance(claimed, datetime):
            await _send_response(send, *claimed)
            return
        claim = _Claim(engine, scope_key, claimed)

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

        keyed = await _begin(claim) if _takes_the_session(scope) else None
        # (SQLite: the request's transaction holds the write lock, so nobody can take over)
        renewal = None if keyed and engine.dialect.name == "sqlite" else claim.renew_every(lease)
        token = _KEYED.set(keyed)
        try:
            await self.app(scope, replay_receive, capturing_send)
        except BaseException:
            await _stop(renewal)
            if keyed is not None:
                await _abandon(keyed)
            await claim.release()
            raise
        finally:
            _KEYED.reset(token)
        await _stop(renewal)
        answer = _answer_to_store(int(captured["status"]), captured)
        instead: Answer | None = None
        if keyed is not None:
            instead = await claim.finish_in(keyed, answer, ttl)
        elif answer is None:
            await claim.release()
        else:
            await claim.complete(answer, ttl)
        if instead is not None:
            await _send_response(send, *instead)
            return
        for message in held:
            await send(message)


def _answer_to_store(status: int, captured: dict[str, Any]) -> StoredAnswer | None:
    """The record's response columns, or None for an answer that invites a retry."""
    if status in NOT_STORED_STATUSES or status >= 500:
        return None
    stored_headers = [
        [k.decode("latin-1"), v.decode("latin-1")]
        for k, v in captured["headers"]
        if k.lower() not in (b"date", b"content-length", b"set-cookie")
    ]
    return {
        "completed": True,
        "response_status": status,
        "response_headers": {"items": stored_headers},
        "response_body": bytes(captured["body"]),
    }


async def _begin(claim: _Claim) -> _KeyedRequest:
    connection = await claim.engine.connect()
    try:
        await connection.begin()
    except BaseException:
        with contextlib.suppress(Exception):
            await connection.close()
        await claim.release()
        raise
    return _KeyedRequest(connection)


async def _stop(renewal: asyncio.Task[None] | None) -> None:
    if renewal is not None:
        renewal.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewal


async def _abandon(keyed: _KeyedRequest) -> None:
    """Roll back a keyed request's transaction: neither its change nor its key commits."""
    try:
        for session in keyed.sessions:
            await session.close()
        await keyed.connection.rollback()
    except Exception:
        log.info("could not roll back a keyed request (its connection is gone)", exc_info=True)
    finally:
        with contextlib.suppress(Exception):
            await keyed.connection.close()


@dataclass
class _Claim:
    """This request's hold on its key; ``claimed`` (the record's ``created_at``) names it."""

    engine: AsyncEngine
    scope_key: str
    claimed: datetime

    def _names(self) -> dict[str, Any]:
        return {"p_key": self.scope_key, "p_claimed": self.claimed}

    def renew_every(self, lease: timedelta) -> asyncio.Task[None]:
        return asyncio.create_task(self._renew(lease))

    async def _renew(self, lease: timedelta) -> None:
        while True:
            await asyncio.sleep(lease.total_seconds() / 3)
            try:
                async with single_statements(self.engine) as conn:
                    await _RENEW.run(conn, self._names() | {"expires_at": utcnow() + lease})
            except Exception:  # the next one may go through: a lease outlasts two misses
                log.warning("could not renew the lease of an idempotency key", exc_info=True)

    async def finish_in(
        self, keyed: _KeyedRequest, answer: StoredAnswer | None, ttl: timedelta
    ) -> Answer | None:
        """Complete (or release) the key in the request's own transaction and commit the two
        together; None when the request's answer stands, else the answer to give instead."""
        conn = keyed.connection
        try:
            for session in keyed.sessions:
                await session.close()  # (rolls back what a route began and did not commit)
            if answer is None:
                still_ours = await _FORGET.count(conn, self._names())
            else:
                still_ours = await _COMPLETE.count(
                    conn, self._names() | answer | {"expires_at": utcnow() + ttl}
                )
            if not still_ours:  # taken over while this request stalled: its change is undone
                await conn.rollback()
                log.warning("an idempotency key was taken over from a running request: rolled back")
                return _in_progress() if answer is not None else None
            await conn.commit()
            return None
        except Exception:
            log.warning("could not commit a keyed request", exc_info=True)
            if answer is not None:  # committed or not, nobody knows: the lease or the answer decides
                return _unavailable()
            await self.release()  # (nothing to replay: the key may go at once)
            return None
        finally:
            with contextlib.suppress(Exception):
                await conn.close()

    async def complete(self, answer: StoredAnswer, ttl: timedelta) -> None:
        try:
            async with single_statements(self.engine) as conn:
                await _COMPLETE.run(conn, self._names() | answer | {"expires_at": utcnow() + ttl})
        except Exception:  # the database went away after the change committed: answer anyway
            log.warning("could not store the response for an idempotency key", exc_info=True)

    async def release(self) -> None:
        try:
            async with single_statements(self.engine) as conn:
                await _FORGET.run(conn, self._names())
        except Exception:  # the lease runs out on its own
            log.warning("could not release an idempotency key", exc_info=True)


async def _read_body(receive: Any) -> bytes:
    chunks: list[bytes] = []
    more = True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = bool(message.get("more_body", False))
    return b"".join(chunks)


_RECORDS = IdempotencyRecord.__table__
_THIS_CLAIM = (
    IdempotencyRecord.scope_key == bindparam("p_key"),
    IdempotencyRecord.created_at == bindparam("p_claimed"),
)
_COMPLETE = DriverStatement(update(IdempotencyRecord).where(*_THIS_CLAIM))
_RENEW = DriverStatement(
    update(IdempotencyRecord).where(*_THIS_CLAIM, IdempotencyRecord.completed.is_(False))
)
_FORGET = DriverStatement(delete(IdempotencyRecord).where(*_THIS_CLAIM))
_READ = DriverStatement(
    select(
        _RECORDS.c.request_hash,
        _RECORDS.c.completed,
        _RECORDS.c.response_status,
        _RECORDS.c.response_headers,
        _RECORDS.c.response_body,
        _RECORDS.c.expires_at,
    ).where(_RECORDS.c.scope_key == bindparam("p_key"))
)


def _claim_statement(dialect: str) -> Any:
    """Insert the key, or take over an expired record of it (an answer past its time, or a
    lease of the same request that nobody renewed); returns a row only when taken."""
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
        where=(_RECORDS.c.expires_at < statement.excluded.created_at)
        & or_(_RECORDS.c.completed, _RECORDS.c.request_hash == statement.excluded.request_hash),
    ).returning(_RECORDS.c.created_at)


_CLAIM = {dialect: DriverStatement(_claim_statement(dialect)) for dialect in ("postgresql", "sqlite")}


async def _claim(
    engine: AsyncEngine, scope_key: str, request_hash: str, lease: timedelta
) -> datetime | Answer:
    """Take the key for this request (the claim's moment), or say what to answer instead."""
    now = utcnow()
    async with single_statements(engine) as conn:
        taken = await _CLAIM[conn.dialect.name].first(
            conn,
            {
                "scope_key": scope_key,
                "request_hash": request_hash,
                "completed": False,
                "created_at": now,
                "expires_at": now + lease,
            },
        )
        if taken is not None:
            return now
        record = await _READ.first(conn, {"p_key": scope_key})
    if record is None:  # vanished between the two statements: let the client retry
        return _in_progress()
    stored_hash, completed, response_status, response_headers, response_body, expires_at = record
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
        return _in_progress(max(1, math.ceil((expires_at - now).total_seconds())))
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in (response_headers or {})["items"]]
    body = response_body or b""
    headers.append((b"content-length", str(len(body)).encode()))
    headers.append((b"idempotent-replayed", b"true"))
    return int(response_status or 200), headers, body
