"""Database wiring: the declarative base, engine creation for PostgreSQL and SQLite, sessions.

Transactions are explicit: a service opens ``async with session.begin():`` around each change.
On SQLite every transaction starts with ``BEGIN IMMEDIATE`` so a check followed by an insert
runs under the single database write lock (the embedded default's answer to races). Row locks on
PostgreSQL, their order and their timeout are :mod:`yixiang.locking`'s.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import JSON, MetaData, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from yixiang.locking import LOCK_TIMEOUT_SECONDS

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {
        datetime: DateTimeUTC(timezone=True),
        dict[str, Any]: JSON().with_variant(JSONB(), "postgresql"),
        list[str]: JSON().with_variant(JSONB(), "postgresql"),
    }


class UUIDPrimaryKey:
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)


class Timestamps:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


def _json_text(value: Any) -> str:
    return msgspec.json.encode(value).decode()


# JSON columns (fee breakdowns, outbox payloads, calendars, stored responses) are written and
# read on every booking: msgspec does it several times faster than the json module.
JSON_CODEC: dict[str, Any] = {"json_serializer": _json_text, "json_deserializer": msgspec.json.decode}


def create_engine(url: str, *, pool_size: int = 10, max_overflow: int = 20) -> AsyncEngine:
    if url.startswith("sqlite"):
        return _create_sqlite_engine(url)
    # No pre-ping: it costs a round trip per checkout; after a database restart the first failed
    # use invalidates the whole pool (SQLAlchemy does that on a disconnect), answered as a 503.
    # Every statement shape the app runs stays prepared on each connection: the booking, voucher
    # and search tests alone run ~400 shapes, SQLAlchemy's default cache keeps 100, and each
    # re-prepare costs a round trip.
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=10,
        connect_args={
            "prepared_statement_cache_size": 1000,
            "server_settings": {"lock_timeout": f"{LOCK_TIMEOUT_SECONDS}s"},
        },
        **JSON_CODEC,
    )


def _create_sqlite_engine(url: str) -> AsyncEngine:
    path = url.split("///", 1)[1] if "///" in url else ""
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, connect_args={"timeout": LOCK_TIMEOUT_SECONDS}, **JSON_CODEC)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from pysqlite so BEGIN IMMEDIATE below is the only BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={LOCK_TIMEOUT_SECONDS * 1000}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        options = conn.get_execution_options()
        if options.get("isolation_level") == "AUTOCOMMIT":
            return  # each statement is its own transaction (see ``autocommit``)
        # Reads (search, details, availability) must not queue behind writers for the write
        # lock: in WAL mode a deferred transaction reads a consistent snapshot without it.
        conn.exec_driver_sql("BEGIN" if options.get(READ_ONLY_OPTION, False) else "BEGIN IMMEDIATE")

    return engine


def create_session_maker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


READ_ONLY_OPTION = "yixiang_read_only"


@asynccontextmanager
async def transaction(session: AsyncSession, *, read_only: bool = False) -> AsyncIterator[AsyncSession]:
    """Run a block in one transaction on ``session``, committing at the end of the outermost block.

    Blocks nest: a service that opens a transaction may call another that opens one too, and the
    whole runs as one transaction (one commit, or one rollback). A session that already began
    implicitly (a read before the write) is committed as a whole. ``read_only`` (for an
    outermost block that only reads) lets SQLite read without taking the write lock.

    The connection is taken when the block first needs it (on SQLite at once, for a read-only
    block's plain BEGIN): a read answered from memory takes none.
    """
    depth = session.info.get("transaction_depth", 0)
    if read_only and not depth and not session.in_transaction() and not is_postgres(session):
        await session.connection(execution_options={READ_ONLY_OPTION: True})
    session.info["transaction_depth"] = depth + 1
    try:
        if depth:
            yield session
        elif session.in_transaction():
            try:
                yield session
            except BaseException:
                await session.rollback()
                raise
            await session.commit()
        else:
            async with session.begin():
                yield session
    finally:
        session.info["transaction_depth"] = depth


@asynccontextmanager
async def autocommit(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection on which every statement commits on its own.

    For the request path's single-statement reads and writes (the signed-in user, idempotency
    keys): no BEGIN and COMMIT round trips around them, and no write lock on SQLite.
    """
    async with engine.connect() as conn:
        yield await conn.execution_options(isolation_level="AUTOCOMMIT")


def is_postgres(session: AsyncSession) -> bool:
    bind = session.get_bind()
    return bind.dialect.name == "postgresql"


def conflict_ignoring_inserts(model: type[Base], conflict_columns: list[str]) -> dict[str, Any]:
    """INSERT ... ON CONFLICT DO NOTHING for each database, built once (by dialect name) for a
    statement the hot path runs with its values bound at execution."""
    return {
        "postgresql": postgresql.insert(model).on_conflict_do_nothing(index_elements=conflict_columns),
        "sqlite": sqlite.insert(model).on_conflict_do_nothing(index_elements=conflict_columns),
    }


async def insert_ignoring_conflict(
    session: AsyncSession, model: type[Base], values: dict[str, Any], conflict_columns: list[str]
) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING on either database; True when a row was inserted."""
    insert = postgresql.insert if is_postgres(session) else sqlite.insert
    result = await session.execute(
        insert(model).values(**values).on_conflict_do_nothing(index_elements=conflict_columns)
    )
    return bool(getattr(result, "rowcount", 0))
