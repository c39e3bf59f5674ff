"""Writing a batch's rows with one statement per kind of row.

On PostgreSQL each column travels as one array and the statement reads its rows from
``unnest(...)``: the driver encodes a few arrays, where SQLAlchemy's executemany built and
converted every row's parameters (``construct_params``, datetime binds) — most of ingest's CPU.
SQLite keeps the executemany. Rows are written in the order given: callers pass them sorted by
key (the lock order of ``oversight.ingest``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Table, TextClause, any_, bindparam, func, select, text, tuple_
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Executable
from sqlalchemy.types import TypeEngine

_POSTGRES = postgresql.dialect()  # type: ignore[no-untyped-call]


def _cast(table: Table, column: str, suffix: str = "") -> str:
    # compiled at first use: a foreign key column has its type once the referenced table is loaded
    return f"CAST(:{column} AS {table.c[column].type.compile(dialect=_POSTGRES)}{suffix})"


def _array(table: Table, column: str) -> str:
    return _cast(table, column, "[]")


@dataclass
class BatchWrite(ABC):
    """One statement writing many rows, each row a tuple of ``columns`` (in that order).

    ``other``: the statement for other databases, run once per row with the values named
    ``param_prefix`` + column."""

    table: Table
    columns: tuple[str, ...]
    other: Executable
    param_prefix: str = ""
    _postgres: TextClause | None = field(default=None, init=False, repr=False)
    _constants: dict[str, Any] = field(default_factory=dict, init=False, repr=False)

    @abstractmethod
    def postgres_sql(self) -> str:
        """The PostgreSQL statement taking each column as an array (``unnest``)."""

    async def run(self, conn: AsyncConnection, rows: Sequence[Sequence[Any]]) -> CursorResult[Any]:
        if conn.dialect.name == "postgresql":
            if self._postgres is None:
                self._postgres = text(self.postgres_sql())
            arrays = list(zip(*rows, strict=True)) if rows else [()] * len(self.columns)
            params = dict(zip(self.columns, map(list, arrays), strict=True))
            return await conn.execute(self._postgres, params | self._constants)
        names = [self.param_prefix + c for c in self.columns]
        return await conn.execute(self.other, [dict(zip(names, row, strict=True)) for row in rows])


@dataclass
class BatchInsert(BatchWrite):
    """``INSERT ... SELECT * FROM unnest(...)`` followed by ``tail`` (ON CONFLICT, RETURNING); the
    columns not given take their model's constant default, as SQLAlchemy's insert would."""

    tail: str = ""

    def postgres_sql(self) -> str:
        self._constants = {
            c.name: c.default.arg  # type: ignore[attr-defined]
            for c in self.table.c
            if c.name not in self.columns and c.default is not None and c.default.is_scalar
        }
        arrays = ", ".join(_array(self.table, c) for c in self.columns)
        constants = "".join(f", {_cast(self.table, c)}" for c in self._constants)
        return (
            f"INSERT INTO {self.table.name} ({', '.join([*self.columns, *self._constants])}) "
            f"SELECT *{constants} FROM unnest({arrays}) {self.tail}"
        )


@dataclass
class BatchUpdate(BatchWrite):
    """``UPDATE ... FROM unnest(...)`` of the rows whose first column (the key) matches.

    ``lock_first``: the rows are locked in key order before any is changed, for rows this
    transaction has not locked yet (a join may otherwise visit them in the table's order); in
    the mode the UPDATE itself takes, which the foreign key checks of other inserts do not wait on."""

    lock_first: bool = False

    def postgres_sql(self) -> str:
        key, *values = self.columns
        arrays = ", ".join(_array(self.table, c) for c in self.columns)
        sets = ", ".join(f"{c} = v.{c}" for c in values)
        rows = f"unnest({arrays}) AS v({', '.join(self.columns)})"
        if not self.lock_first:
            return f"UPDATE {self.table.name} AS t SET {sets} FROM {rows} WHERE t.{key} = v.{key}"
        return (
            f"WITH locked AS MATERIALIZED (SELECT {key} FROM {self.table.name} "
            f"WHERE {key} = ANY({_array(self.table, key)}) ORDER BY {key} FOR NO KEY UPDATE) "
            f"UPDATE {self.table.name} AS t SET {sets} FROM {rows} JOIN locked ON locked.{key} = v.{key} "
            f"WHERE t.{key} = v.{key}"
        )


def among(
    conn: AsyncConnection, column: ColumnElement[Any], values: Sequence[Any], item_type: TypeEngine[Any]
) -> ColumnElement[bool]:
    """``column IN values``; on PostgreSQL ``= ANY`` of one array parameter, where an IN list is
    rendered into the statement anew, one bind per value, at every execution."""
    if conn.dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=postgresql.ARRAY(item_type)))
    return column.in_(values)


def pairs_among(
    conn: AsyncConnection,
    columns: tuple[ColumnElement[Any], ColumnElement[Any]],
    pairs: Sequence[tuple[Any, Any]],
    item_types: tuple[TypeEngine[Any], TypeEngine[Any]],
) -> ColumnElement[bool]:
    """``(a, b) IN pairs``; on PostgreSQL the pairs as two arrays read by unnest (as :func:`among`)."""
    if conn.dialect.name != "postgresql":
        return tuple_(*columns).in_(pairs)
    firsts, seconds = zip(*pairs, strict=True)
    given = (
        func.unnest(
            bindparam(None, list(firsts), type_=postgresql.ARRAY(item_types[0])),
            bindparam(None, list(seconds), type_=postgresql.ARRAY(item_types[1])),
        )
        .table_valued("a", "b")
        .render_derived()
    )
    return tuple_(*columns).in_(select(given.c.a, given.c.b))
