"""The hot statements on the asyncpg driver connection (``yixiang.driver_statements``).

On PostgreSQL a DriverStatement bypasses SQLAlchemy's execution: these check that it sends the SQL
and values SQLAlchemy would, reads back what SQLAlchemy would, stays inside the session's
transaction, and fails with the exceptions callers catch. On SQLite it is ``conn.execute``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import bindparam, delete, event, func, select
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError

from accounts.auth import _PRINCIPAL_ROWS
from booking.bookable import _BOOKABLE
from booking.creation import _BOOKING_INSERT, _CLOSURES_AND_OVERLAP, is_slot_conflict
from booking.events import _HISTORY_INSERT
from booking.models import Booking, BookingStatus, Closure, Operation
from booking.numbers import booking_number
from catalogue.models import ServiceMode
from oversight.live import _ALL_MONITORED
from search.database import GENERATION
from tests.booking.world import QINGHE, ZJLG, day_at, machine_time, make_instrument, set_calendar, user_id
from tests.support import error_code
from vouchers.checkout_store import _EVIDENCE_INSERT, _FIRM_GRANTS_LOCKED, _FIRM_USAGE, CHECKOUT_INSERT
from vouchers.ledger import _BALANCE_UPDATE, _ENTRY_INSERT
from vouchers.models import CheckoutState, EntryKind
from yixiang.db import autocommit, utcnow
from yixiang.driver_statements import DriverStatement, PooledDriver, single_statements
from yixiang.errors import is_database_unavailable
from yixiang.idempotency import _CLAIM, _COMPLETE
from yixiang.outbox import _INSERT as _OUTBOX_INSERT
from yixiang.outbox import EventStatus, OutboxEvent


def postgres_only(backend: Any) -> None:
    if not backend.is_postgres:
        pytest.skip("on SQLite a DriverStatement is conn.execute")


@contextmanager
def sqlalchemy_sends(backend: Any) -> Iterator[list[tuple[str, Any]]]:
    """What SQLAlchemy itself sends to the database while the block runs."""
    sent: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        sent.append((statement, tuple(parameters)))

    engine = backend.runtime.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


def booking_row(instrument_id: uuid.UUID, user: uuid.UUID, hours_ahead: int = 0, **changes: Any) -> dict:
    start = day_at(20, 9) + timedelta(hours=hours_ahead)
    row: dict[str, Any] = {column.key: None for column in Booking.__table__.columns}
    booking_id, made = uuid.uuid4(), utcnow()
    row |= {
        "id": booking_id,
        "number": booking_number(booking_id, made),  # creation numbers every booking it inserts
        "instrument_id": instrument_id,
        "unit_id": ZJLG,
        "enterprise_id": QINGHE,
        "user_id": user,
        "mode": ServiceMode.machine_time,
        "operation": Operation.operator,
        "start_at": start,
        "end_at": start + timedelta(hours=1),
        "block_end": start + timedelta(hours=1),
        "status": BookingStatus.confirmed,
        "expected_completion_on": date(2031, 1, 2),
        "note": "备注",
        "rate": "external",
        "quoted_fee_fen": 20_000,
        "fee_breakdown": {"lines": [{"label": "机时", "fen": 20_000}], "at": "2031-01-01"},
        "created_at": made,
        "updated_at": made,
    }
    return row | changes


async def hot_statements(backend: Any) -> list[tuple[str, DriverStatement, dict[str, Any]]]:
    """Every statement a booking or a search runs on the driver, with values such as they pass."""
    world = await make_instrument(backend)
    researcher = await user_id(backend, "demo-researcher")
    booking = booking_row(world.instrument_id, researcher)
    now = utcnow()
    async with backend.runtime.session_maker() as session, session.begin():
        # a closure and a booking for the closures-and-overlap read to find
        session.add(Closure(instrument_id=world.instrument_id, start_at=now, end_at=now + timedelta(days=30)))
        session.add(Booking(**booking_row(world.instrument_id, researcher, hours_ahead=-2)))
    return [
        ("user", _PRINCIPAL_ROWS, {"p_user": researcher}),
        ("bookable", _BOOKABLE, {"p_instrument": world.instrument_id}),
        (
            "closures_and_overlap",
            _CLOSURES_AND_OVERLAP,
            {
                "p_instrument": world.instrument_id,
                "p_start": booking["start_at"] - timedelta(hours=2),
                "p_end": booking["end_at"],
                "p_block_end": booking["block_end"],
                "p_offer": uuid.uuid4(),
                "p_now": now,
            },
        ),
        ("grants", _FIRM_GRANTS_LOCKED, {"p_firm": QINGHE}),
        ("booking", _BOOKING_INSERT, booking),
        (
            "history",
            _HISTORY_INSERT,
            {
                "booking_id": booking["id"],
                "action": "book",
                "from_status": None,
                "to_status": BookingStatus.confirmed,
                "actor_id": researcher,
                "reason": "",
                "at": now,
            },
        ),
        (
            "outbox",
            _OUTBOX_INSERT,
            {
                "topic": "test.driver",
                "payload": {"booking_id": str(booking["id"]), "n": [1, 2]},
                "key": None,
                "status": EventStatus.pending,
                "attempts": 0,
                "run_at": now,
                "created_at": now,
            },
        ),
        (
            "evidence",
            _EVIDENCE_INSERT["postgresql"],
            {"booking_id": booking["id"], "kind": "booking", "at": now, "detail": {}, "recorded_at": now},
        ),
        (
            "checkout",
            CHECKOUT_INSERT,
            {
                "booking_id": booking["id"],
                "enterprise_id": QINGHE,
                "unit_id": ZJLG,
                "instrument_id": world.instrument_id,
                "region_code": "330100",
                "category_code": "99",
                "program_id": None,
                "state": CheckoutState.held,
                "usage_year": 2031,
                "quoted_fee_fen": 20_000,
                "held_fen": 0,
                "fee_fen": 20_000,
                "voucher_fen": 0,
                "due_fen": 20_000,
                "held_at": now,
                "updated_at": now,
            },
        ),
        (
            "idempotency_claim",
            _CLAIM["postgresql"],
            {
                "scope_key": uuid.uuid4().hex,
                "request_hash": "h",
                "completed": False,
                "created_at": now,
                "expires_at": now + timedelta(hours=1),
            },
        ),
        (
            "idempotency_store",
            _COMPLETE,
            {
                "p_key": "k",
                "p_claimed": now,
                "completed": True,
                "response_status": 201,
                "response_headers": {"items": [["content-type", "application/json"]]},
                "response_body": b'{"id": 1}',
            },
        ),
        (
            "firm_usage",
            _FIRM_USAGE,
            {"p_firm": QINGHE, "p_program": uuid.uuid4(), "p_year": 2031, "p_booking": booking["id"]},
        ),
        (
            "journal_entry",
            _ENTRY_INSERT["postgresql"],
            {
                "id": uuid.uuid4(),
                "key": f"test:{uuid.uuid4()}",
                "kind": EntryKind.hold,
                "program_id": None,
                "grant_id": None,
                "booking_id": booking["id"],
                "settlement_id": None,
                "actor_id": researcher,
                "reason": "预约确认：冻结创新券抵扣额",
                "created_at": now,
            },
        ),
        ("balance", _BALANCE_UPDATE, {"p_code": "grant:none", "p_delta": -20_000}),
        ("search_generation", GENERATION, {}),
        ("monitored", _ALL_MONITORED, {"now": now}),
    ]


async def test_sends_the_sql_and_values_sqlalchemy_sends(backend):
    postgres_only(backend)
    for name, statement, params in await hot_statements(backend):
        with sqlalchemy_sends(backend) as sent:
            async with backend.runtime.engine.connect() as conn:
                try:
                    await conn.execute(statement.statement, params)
                except DBAPIError:
                    pass  # a foreign key the sample values miss: what was sent is what counts
                await conn.rollback()
                plan = statement._plan(conn.dialect, params)
        assert sent == [(plan.sql, tuple(plan.args(params)))], name


READS = ("user", "bookable", "closures_and_overlap", "grants", "firm_usage", "search_generation", "monitored")


async def test_reads_the_values_sqlalchemy_reads(backend):
    postgres_only(backend)
    reads = [(n, s, p) for n, s, p in await hot_statements(backend) if n in READS]
    for name, statement, params in reads:
        async with backend.runtime.engine.connect() as conn:  # in a transaction, rolled back
            expected = await conn.execute(statement.statement, params)
            keys, theirs = list(expected.keys()), expected.all()
            with sqlalchemy_sends(backend) as sent:
                ours = await statement.all(conn, params)
            assert sent == [], f"{name} ran through SQLAlchemy"
        assert theirs, f"{name}: the sample finds no rows, so compares nothing"
        assert [tuple(r) for r in ours] == [tuple(r) for r in theirs], name
        assert [[type(v) for v in r] for r in ours] == [[type(v) for v in r] for r in theirs], name
        for key in {k for k in keys if keys.count(k) == 1}:
            assert [getattr(r, key) for r in ours] == [getattr(r, key) for r in theirs], (name, key)


async def test_a_row_written_reads_back_as_written(backend):
    """Enums, aware datetimes, a date and JSON, written through the seam, read by the ORM."""
    world = await make_instrument(backend)
    row = booking_row(world.instrument_id, await user_id(backend, "demo-researcher"), hours_ahead=40)
    async with backend.runtime.session_maker() as session, session.begin():
        await session.execute(select(1))  # the transaction has begun: the driver path
        await _BOOKING_INSERT.run(await session.connection(), row)
    async with backend.runtime.session_maker() as session:
        stored = await session.get(Booking, row["id"])
    assert stored is not None
    assert {key: getattr(stored, key) for key in row} == row
    assert stored.status is BookingStatus.confirmed and stored.start_at.tzinfo is not None


async def test_columns_left_out_take_their_python_defaults(backend):
    """As through SQLAlchemy: a constant default, and a function's value at each run (the
    time of the run); a column without a default is NULL."""
    world = await make_instrument(backend)
    row = booking_row(world.instrument_id, await user_id(backend, "demo-researcher"), hours_ahead=44)
    given = {key: value for key, value in row.items() if value is not None}
    del given["note"], given["created_at"], given["updated_at"]
    topic = f"test.defaults.{uuid.uuid4().hex[:8]}"
    before = utcnow()
    async with backend.runtime.session_maker() as session, session.begin():
        conn = await session.connection()
        await _BOOKING_INSERT.run(conn, given)
        await _OUTBOX_INSERT.run_many(conn, [{"topic": topic, "payload": {}}] * 2)
    async with backend.runtime.session_maker() as session:
        stored = await session.get(Booking, row["id"])
        events = (await session.scalars(select(OutboxEvent).where(OutboxEvent.topic == topic))).all()
    assert stored is not None
    assert stored.note == "" and stored.final_fee_fen is None and stored.actual_samples is None
    assert before <= stored.created_at <= utcnow() and stored.updated_at >= before
    assert [(e.status, e.attempts, e.key) for e in events] == [(EventStatus.pending, 0, None)] * 2
    assert all(before <= e.run_at <= utcnow() for e in events)
    assert events[0].id != events[1].id


def outbox_row(topic: str) -> dict[str, Any]:
    return {
        "topic": topic,
        "payload": {},
        "key": None,
        "status": EventStatus.pending,
        "attempts": 0,
        "run_at": utcnow(),
        "created_at": utcnow(),
    }


@pytest.mark.parametrize("first", [True, False], ids=["first-statement", "after-another"])
async def test_a_row_written_in_a_transaction_that_rolls_back_is_gone(backend, first):
    topic = f"test.rolled-back.{uuid.uuid4().hex[:8]}"
    values = outbox_row(topic)
    async with backend.runtime.session_maker() as session:
        await session.begin()
        if not first:
            await session.execute(select(1))
        await _OUTBOX_INSERT.run(await session.connection(), values)
        assert await session.scalar(select(OutboxEvent.id).where(OutboxEvent.topic == topic))
        await session.rollback()
        assert await session.scalar(select(OutboxEvent.id).where(OutboxEvent.topic == topic)) is None


async def test_the_first_statement_of_a_transaction_begins_it_on_the_driver(backend):
    """SQLAlchemy's adapter sends BEGIN with a transaction's first statement; a DriverStatement
    first in line sends that BEGIN itself, and the session's commit still ends the transaction."""
    postgres_only(backend)
    topic = f"test.first.{uuid.uuid4().hex[:8]}"
    values = outbox_row(topic)
    async with backend.runtime.session_maker() as session:
        await session.begin()
        conn = await session.connection()
        driver = conn.sync_connection.connection.driver_connection
        assert not driver.is_in_transaction()
        with sqlalchemy_sends(backend) as sent:
            await _OUTBOX_INSERT.run(conn, values)
        assert sent == [] and driver.is_in_transaction()
        await session.commit()
        assert not driver.is_in_transaction()
    async with backend.runtime.session_maker() as session:
        assert await session.scalar(select(OutboxEvent.id).where(OutboxEvent.topic == topic))


async def test_single_statements_commit_each_on_its_own(backend):
    """What the signed-in user and Idempotency-Key claims rely on: once run, a write is seen by
    every other connection, with no COMMIT to send."""
    topic = f"test.single.{uuid.uuid4().hex[:8]}"
    async with single_statements(backend.runtime.engine) as conn:
        await _OUTBOX_INSERT.run(conn, outbox_row(topic))
        async with backend.runtime.session_maker() as session:
            assert await session.scalar(select(func.count()).where(OutboxEvent.topic == topic)) == 1


async def test_a_batch_is_written_whole_and_a_write_counts_its_rows(backend):
    """run_many writes every row of a batch; count says how many rows a write touched (the
    ledger's conditional balance updates and ignored inserts decide by it)."""
    topic = f"test.batch.{uuid.uuid4().hex[:8]}"
    remove = DriverStatement(delete(OutboxEvent).where(OutboxEvent.topic == bindparam("p_topic")))
    async with backend.runtime.session_maker() as session, session.begin():
        conn = await session.connection()
        await _OUTBOX_INSERT.run_many(conn, [outbox_row(topic) for _ in range(3)])
        assert await session.scalar(select(func.count()).where(OutboxEvent.topic == topic)) == 3
        assert await remove.count(conn, {"p_topic": topic}) == 3
        assert await remove.count(conn, {"p_topic": topic}) == 0


async def test_a_slot_the_exclusion_constraint_refuses_answers_slot_taken(client, login, backend):
    """The app's overlap check cannot see an uncommitted booking; its insert then waits on the
    constraint and fails when that booking commits: 409 slot_taken, as after a failed check."""
    postgres_only(backend)
    world = await make_instrument(backend)
    await set_calendar(client, await login("demo-provider"), world.instrument_id)
    headers = await login("demo-researcher")
    row = booking_row(world.instrument_id, await user_id(backend, "demo-researcher"), hours_ahead=10)
    async with backend.runtime.session_maker() as holder:
        async with holder.begin():
            await _BOOKING_INSERT.run(await holder.connection(), row)
            post = asyncio.create_task(
                client.post(
                    "/api/v1/bookings",
                    json=machine_time(world, row["start_at"], row["end_at"]),
                    headers=headers,
                )
            )
            await wait_for_a_lock_wait(backend)
        answer = await post
    assert answer.status_code == 409, answer.text
    assert error_code(answer) == "slot_taken"
    assert isinstance(answer.json()["error"]["details"]["alternatives"], list)


async def wait_for_a_lock_wait(backend: Any) -> None:
    for _ in range(200):
        async with autocommit(backend.runtime.engine) as conn:
            waiting = await conn.exec_driver_sql(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                " AND datname = current_database()"
            )
            if waiting.scalar():
                return
        await asyncio.sleep(0.05)
    raise AssertionError("the booking never waited on the constraint")


# Statements that each commit alone run on a SQLAlchemy connection in autocommit mode, or (the
# request path: signed-in user, Idempotency-Key) on a pooled connection used directly.
CONNECTIONS = pytest.mark.parametrize(
    "connect", [autocommit, single_statements], ids=["autocommit", "pooled"]
)


def driver_of(conn: Any) -> Any:
    if isinstance(conn, PooledDriver):
        return conn.driver
    return conn.sync_connection.connection.driver_connection


@CONNECTIONS
async def test_constraint_violations_are_sqlalchemys_integrity_errors(backend, connect):
    postgres_only(backend)
    world = await make_instrument(backend)
    row = booking_row(world.instrument_id, await user_id(backend, "demo-researcher"), hours_ahead=30)
    async with connect(backend.runtime.engine) as conn:
        await _BOOKING_INSERT.run(conn, row)
        with pytest.raises(IntegrityError) as overlap:
            await _BOOKING_INSERT.run(conn, row | {"id": uuid.uuid4()})
        assert is_slot_conflict(overlap.value)
        with pytest.raises(IntegrityError) as duplicate:
            await _BOOKING_INSERT.run(conn, row | {"status": BookingStatus.cancelled})
        assert getattr(duplicate.value.orig, "sqlstate", None) == "23505"
        assert not is_slot_conflict(duplicate.value)


async def test_a_deadlock_is_a_dbapi_error_saying_so(backend):
    """A lock cycle PostgreSQL breaks surfaces as a DBAPIError saying so (none of ours retries it:
    the lock order in yixiang.locking keeps cycles out)."""
    postgres_only(backend)
    keys = [uuid.uuid4().hex, uuid.uuid4().hex]
    claimed = utcnow()
    async with autocommit(backend.runtime.engine) as conn:
        for key in keys:
            await _CLAIM["postgresql"].first(
                conn,
                {
                    "scope_key": key,
                    "request_hash": "h",
                    "completed": False,
                    "created_at": claimed,
                    "expires_at": claimed + timedelta(hours=1),
                },
            )
    store = {
        "p_claimed": claimed,
        "completed": True,
        "response_status": 200,
        "response_headers": {},
        "response_body": b"",
    }
    first_locked, second_locked = asyncio.Event(), asyncio.Event()

    async def lock(mine: str, theirs: str, locked: asyncio.Event, other: asyncio.Event) -> None:
        async with backend.runtime.session_maker() as session, session.begin():
            conn = await session.connection()
            await conn.execute(select(1))
            await _COMPLETE.run(conn, {"p_key": mine, **store})
            locked.set()
            await other.wait()
            await _COMPLETE.run(conn, {"p_key": theirs, **store})

    results = await asyncio.gather(
        lock(keys[0], keys[1], first_locked, second_locked),
        lock(keys[1], keys[0], second_locked, first_locked),
        return_exceptions=True,
    )
    failures = [r for r in results if isinstance(r, BaseException)]
    assert len(failures) == 1, results
    assert isinstance(failures[0], DBAPIError)
    assert "deadlock detected" in str(failures[0].orig)


@CONNECTIONS
async def test_a_lost_connection_is_invalidated_and_answered_as_unavailable(backend, connect):
    postgres_only(backend)
    researcher = await user_id(backend, "demo-researcher")
    async with connect(backend.runtime.engine) as conn:
        driver = driver_of(conn)
        async with autocommit(backend.runtime.engine) as other:
            await other.exec_driver_sql(f"SELECT pg_terminate_backend({driver.get_server_pid()})")
        await asyncio.sleep(0.2)
        with pytest.raises(DBAPIError) as lost:
            await _PRINCIPAL_ROWS.all(conn, {"p_user": researcher})
        assert lost.value.connection_invalidated and conn.invalidated
        assert is_database_unavailable(lost.value)
    async with connect(backend.runtime.engine) as conn:  # the pool hands out a live one
        assert await _PRINCIPAL_ROWS.all(conn, {"p_user": researcher})


@CONNECTIONS
async def test_a_statement_cancelled_midway_leaves_its_connection_unused(backend, connect):
    postgres_only(backend)
    sleep = DriverStatement(select(func.pg_sleep(bindparam("p_seconds"))))
    async with connect(backend.runtime.engine) as conn:
        running = asyncio.create_task(sleep.all(conn, {"p_seconds": 5}))
        await asyncio.sleep(0.3)
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        assert conn.invalidated


def test_the_private_sqlalchemy_api_it_relies_on_is_still_there():
    """driver_statements raises errors through these; an upgrade that moves them must fail here."""
    assert callable(getattr(AsyncAdapt_asyncpg_connection, "_handle_exception", None))
    assert callable(getattr(AsyncAdapt_asyncpg_connection, "_start_transaction", None))
    slots = [getattr(cls, "__slots__", ()) for cls in AsyncAdapt_asyncpg_connection.__mro__]
    assert any("_execute_mutex" in names for names in slots)
    assert callable(getattr(Connection, "_handle_dbapi_exception", None))
    assert callable(getattr(Connection, "_handle_dbapi_exception_noconnection", None))
