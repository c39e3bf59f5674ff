"""Hot statements run on the asyncpg driver connection on PostgreSQL; through SQLAlchemy on SQLite.

SQLAlchemy's execution path (execution context, compiled-cache lookup, parameter and result
processing, greenlet switches) costs several times what asyncpg itself spends on a short
statement, and a booking runs a dozen of them. A :class:`DriverStatement` wraps a Core statement
built once, which stays the one definition of it for both databases:

* on PostgreSQL it is compiled once per set of parameter names by SQLAlchemy's own compiler for
  the asyncpg dialect (the ``$n`` SQL and the parameter order); values go through the column
  types' own bind processors and rows through their result processors, so callers get the same
  Python values as from ``conn.execute`` (enum members, aware datetimes, decoded JSON). It runs
  on the driver connection of the given SQLAlchemy connection, so inside its transaction.
  SQLAlchemy's asyncpg adapter sends a transaction's BEGIN lazily, with its first statement:
  when that statement is a DriverStatement, it sends that BEGIN itself, through the adapter, so
  the adapter commits or rolls back as usual;
* on SQLite it is plain ``conn.execute``.

Rows come back as tuples with the columns' labels as attributes. Columns an INSERT (UPDATE) leaves
out take their Python-side default (onupdate) as through SQLAlchemy — a constant, or a function
such as ``utcnow`` called at each run — so callers name only what they set. Errors surface as
SQLAlchemy raises them (``IntegrityError`` with the driver's ``sqlstate``, a lost connection
invalidated).

When a statement belongs here: only when a benchmark proved it costly on a hot path — the
statements every booking runs (BENCHMARKS.md, "Bookings": the instrument read, the closures and
overlap read, the booking, history, outbox, evidence, checkout and ledger writes; the principal and
``Idempotency-Key`` rows of every request) and every search (BENCHMARKS.md, "Search": the index
generation, the monitored instruments' states). It takes and returns the same small value types as the
rest of the code (no class beside an ORM class), it is defined once, as a Core statement, next to
the one function that runs it (``booking.events.write_history``, ``yixiang.outbox.emit``), and
both paths call that function. Everything else — admin edits, reports, the worker's rarer
statements — is SQLAlchemy Core or ORM: a driver statement is cheaper to run, dearer to read.

:func:`single_statements` is the request path's way to run a few statements that each commit on
their own (the signed-in user, ``Idempotency-Key`` claims): on PostgreSQL a pooled connection
without SQLAlchemy's Connection around it — asyncpg outside a transaction commits each statement —
which costs a third of what checking out a SQLAlchemy connection in autocommit mode costs.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, NoReturn

from asyncpg import Connection as DriverConnection
from sqlalchemy import Executable
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.util import greenlet_spawn

from yixiang.db import autocommit


class PooledDriver:
    """A pooled PostgreSQL connection used directly: every statement on it commits on its own."""

    def __init__(self, engine: AsyncEngine, pooled: PoolProxiedConnection) -> None:
        self.engine = engine
        self.dialect = engine.dialect
        self.pooled = pooled
        self.driver: DriverConnection = pooled.driver_connection  # type: ignore[assignment]

    @property
    def invalidated(self) -> bool:
        return not self.pooled.is_valid

    async def invalidate(self) -> None:
        await greenlet_spawn(self.pooled.invalidate)

    def as_sqlalchemy(self) -> AsyncConnection:
        """The same pooled connection as a SQLAlchemy connection (for its error handling)."""
        return AsyncConnection(self.engine, Connection(self.engine.sync_engine, connection=self.pooled))


Target = AsyncConnection | PooledDriver


@asynccontextmanager
async def single_statements(engine: AsyncEngine) -> AsyncIterator[Target]:
    """A connection for DriverStatements that each commit on their own (see the module's doc)."""
    if engine.dialect.name != "postgresql":
        async with autocommit(engine) as conn:
            yield conn
        return
    try:
        pooled = await greenlet_spawn(engine.sync_engine.raw_connection)
    except engine.dialect.loaded_dbapi.Error as error:  # as engine.connect() raises it (private API)
        Connection._handle_dbapi_exception_noconnection(error, engine.dialect, engine.sync_engine)
        raise
    try:
        yield PooledDriver(engine, pooled)
    finally:
        # (in a greenlet: the pool may close the connection, which awaits the driver)
        await greenlet_spawn(pooled.close)


def _default_maker(column: str, default: Any) -> Callable[[], Any]:
    """The column's Python-side default as a function of nothing (``uuid4``, ``utcnow``)."""
    if default.is_callable:
        # SQLAlchemy wraps a function of nothing to take the execution context; the wrapped
        # function is called directly. A default that reads the context has no context here.
        made = getattr(default.arg, "__wrapped__", None)
        if made is not None:
            return made  # type: ignore[no-any-return]
    raise ValueError(
        f"DriverStatement needs a value for the column {column!r} (its default reads the context)"
    )


class _Plan:
    """The statement compiled for one set of parameter names."""

    __slots__ = ("binds", "columns", "made", "row", "sql")

    def __init__(self, statement: Any, dialect: Dialect, params: Mapping[str, Any]) -> None:
        keys = tuple(params)
        compiled = statement.compile(dialect=dialect, column_keys=list(keys))
        # Columns left out of an INSERT (UPDATE) take their Python-side default (onupdate), as
        # through SQLAlchemy: a constant is fixed in the plan, a function is called at each run.
        defaults = {c.key: c.default for c in compiled.insert_prefetch}
        defaults |= {c.key: c.onupdate for c in compiled.update_prefetch}
        if any(bind.key in keys for bind in compiled.post_compile_params):
            raise ValueError("DriverStatement takes no list parameters (their SQL depends on the list)")
        # The final SQL: "IN" lists of constants in the statement rendered as SQLAlchemy would.
        expanded = compiled.construct_expanded_state(dict(params), escape_names=False)
        self.sql: str = expanded.statement
        # (the caller's key, or None for a value fixed in the statement; the value; its processor)
        self.binds: list[tuple[str | None, Any, Callable[[Any], Any] | None]] = []
        # (the position, the default's function, its processor), filled in at each run
        self.made: list[tuple[int, Callable[[], Any], Callable[[Any], Any] | None]] = []
        for position, name in enumerate(expanded.positiontup or ()):
            bind = compiled.binds.get(name)
            if bind is not None:
                processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            else:  # an element of an "IN" list
                processor = expanded.processors.get(name)
            if bind is not None and bind.key in keys:
                self.binds.append((bind.key, None, processor))
            elif name in defaults and not defaults[name].is_scalar:
                self.made.append((position, _default_maker(name, defaults[name]), processor))
                self.binds.append((None, None, None))
            else:
                value = defaults[name].arg if name in defaults else expanded.parameters[name]
                self.binds.append((None, processor(value) if processor else value, None))
        self.columns = [
            c.type.dialect_impl(dialect).result_processor(dialect, None)
            for c in getattr(statement, "exported_columns", ())
        ]
        self.row: Any = None  # named by the result's column labels (as SQLAlchemy's rows are)

    def args(self, params: Mapping[str, Any]) -> list[Any]:
        out = []
        for key, value, processor in self.binds:
            if key is not None:
                value = params[key]
                if processor is not None:
                    value = processor(value)
            out.append(value)
        for position, make, processor in self.made:
            value = make()
            out[position] = processor(value) if processor is not None else value
        return out

    def rows(self, records: list[Any]) -> list[Any]:
        if not records:
            return []
        if self.row is None:
            self.row = namedtuple("Row", records[0].keys(), rename=True)  # type: ignore[misc]
        make, processors = self.row._make, self.columns
        if not any(processors):
            return [make(r) for r in records]
        return [make([p(v) if p else v for p, v in zip(processors, r, strict=True)]) for r in records]


class DriverStatement:
    """A prebuilt Core statement that runs on the asyncpg driver connection on PostgreSQL."""

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._plans: dict[tuple[str, ...], _Plan] = {}

    async def all(self, conn: Target, params: Mapping[str, Any]) -> Sequence[Any]:
        """The rows (attribute access by column label, index access, unpacking)."""
        driver = await _driver(conn)
        if driver is None:
            return (await _sqlalchemy(conn).execute(self.statement, params)).all()
        plan = self._plan(conn.dialect, params)
        records = await _on_driver(conn, plan.sql, plan.args(params), driver.fetch)
        return plan.rows(records)

    async def first(self, conn: Target, params: Mapping[str, Any]) -> Any | None:
        rows = await self.all(conn, params)
        return rows[0] if rows else None

    async def run(self, conn: Target, params: Mapping[str, Any]) -> None:
        """Run an INSERT, UPDATE or DELETE (without RETURNING)."""
        await self.count(conn, params)

    async def count(self, conn: Target, params: Mapping[str, Any]) -> int:
        """Run an INSERT, UPDATE or DELETE (without RETURNING); the number of rows it wrote."""
        driver = await _driver(conn)
        if driver is None:
            return int((await _sqlalchemy(conn).execute(self.statement, params)).rowcount)  # type: ignore[attr-defined]
        plan = self._plan(conn.dialect, params)
        status: str = await _on_driver(conn, plan.sql, plan.args(params), driver.execute)
        return int(status.rsplit(" ", 1)[-1])  # "INSERT 0 1", "UPDATE 1", "DELETE 0"

    async def run_many(self, conn: Target, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run an INSERT, UPDATE or DELETE once per row of parameters (the same names in each)."""
        if not rows:
            return
        driver = await _driver(conn)
        if driver is None:
            await _sqlalchemy(conn).execute(self.statement, list(rows))
            return
        plan = self._plan(conn.dialect, rows[0])
        # asyncpg sends the whole batch before reading the answers: one round trip
        await _on_driver(conn, plan.sql, [[plan.args(row) for row in rows]], driver.executemany)

    def _plan(self, dialect: Dialect, params: Mapping[str, Any]) -> _Plan:
        keys = tuple(params)
        plan = self._plans.get(keys)
        if plan is None:
            plan = self._plans[keys] = _Plan(self.statement, dialect, params)
        return plan


async def _driver(conn: Target) -> DriverConnection | None:
    """The asyncpg connection under ``conn`` when a statement on it runs where ``conn``'s would."""
    if isinstance(conn, PooledDriver):
        return conn.driver
    sync = conn.sync_connection
    if conn.dialect.name != "postgresql" or sync is None or sync.invalidated:
        return None  # (SQLAlchemy reconnects an invalidated connection)
    # ``connection`` without ``await conn.get_raw_connection()``: that costs a greenlet switch.
    adapted = sync.connection.dbapi_connection
    driver: DriverConnection = sync.connection.driver_connection
    if driver.is_in_transaction() or sync.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
        return driver
    if not sync.in_transaction():
        return None  # SQLAlchemy would begin a transaction of its own for this statement
    # SQLAlchemy has begun the transaction but its adapter has not sent the BEGIN yet (it waits
    # for the first statement): send it as the adapter would (private API, see the module's
    # tests), so that the adapter's commit and rollback end it.
    try:
        async with adapted._execute_mutex:  # type: ignore[union-attr]
            await adapted._start_transaction()  # type: ignore[union-attr]
    except Exception as error:
        await _raise_as_sqlalchemy(conn, error, "BEGIN", [])
    return driver


def _sqlalchemy(conn: Target) -> AsyncConnection:
    """``conn`` where DriverStatements fall back to SQLAlchemy (a PooledDriver never does)."""
    assert isinstance(conn, AsyncConnection)
    return conn


async def _on_driver(conn: Target, sql: str, args: list[Any], call: Callable[..., Any]) -> Any:
    try:
        return await call(sql, *args)
    except Exception as error:
        await _raise_as_sqlalchemy(
            conn.as_sqlalchemy() if isinstance(conn, PooledDriver) else conn, error, sql, args
        )
    except BaseException:
        # Cancelled mid-statement: the connection's state is unknown, so (as SQLAlchemy does)
        # it is not used again.
        await conn.invalidate()
        raise


async def _raise_as_sqlalchemy(
    conn: AsyncConnection, error: Exception, sql: str, args: list[Any]
) -> NoReturn:
    """Raise ``error`` as SQLAlchemy would have from ``conn.execute``.

    Private SQLAlchemy API (tests/test_driver_statements.py breaks if it moves): the asyncpg
    adapter's ``_handle_exception`` turns the driver's error into its DBAPI error (with
    ``sqlstate``), and ``Connection._handle_dbapi_exception`` wraps that in SQLAlchemy's
    exception and, on a lost connection, invalidates it and the pool as for any statement.
    """
    adapted = (await conn.get_raw_connection()).dbapi_connection
    try:
        adapted._handle_exception(error)  # type: ignore[union-attr]
    except Exception as dbapi_error:
        error = dbapi_error
    if not isinstance(error, conn.dialect.loaded_dbapi.Error):
        raise error  # not the database's: SQLAlchemy too lets it through as it is
    await conn.run_sync(lambda sync: sync._handle_dbapi_exception(error, sql, tuple(args), None, None))
    raise AssertionError("unreachable")  # pragma: no cover
