"""Migration 0031 on SQLite: journal lines written before it get their entry's time, and the
journal stays append-only after SQLite's batch mode rebuilt the table."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tests.support import migrate_with_old_rows
from yixiang.db import create_engine


def _old_entry(connection: Connection, entry_id: uuid.UUID, at: datetime) -> None:
    """Two accounts, an entry and its two lines as the schema before 0031 held them (no time on the lines)."""
    meta = sa.MetaData()
    entries = sa.Table("journal_entries", meta, autoload_with=connection)
    lines = sa.Table("journal_lines", meta, autoload_with=connection)
    accounts = sa.Table("ledger_accounts", meta, autoload_with=connection)
    for code, kind in (("grant:old", "grant"), ("hold:old", "hold")):
        connection.execute(
            accounts.insert().values(
                {c.name: None for c in accounts.columns}
                | {"code": code, "kind": kind, "may_go_negative": True, "balance_fen": 0, "created_at": at}
            )
        )
    connection.execute(
        entries.insert().values(
            {c.name: None for c in entries.columns}
            | {"id": entry_id.hex, "key": f"old:{entry_id}", "kind": "hold", "reason": "", "created_at": at}
        )
    )
    for code, amount in (("grant:old", -4_500), ("hold:old", 4_500)):
        connection.execute(lines.insert().values(entry_id=entry_id.hex, account_code=code, amount_fen=amount))


async def test_lines_written_before_get_their_entrys_time_and_stay_append_only(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'lines.db'}"
    engine = create_engine(url)
    at = datetime(2024, 3, 1, 2, 30, tzinfo=UTC)
    try:
        await migrate_with_old_rows(
            url,
            "0030_ledger_account_grant",
            lambda connection: _old_entry(connection, uuid.uuid4(), at),
            engine,
        )
        async with engine.connect() as connection:
            times = (
                (await connection.execute(sa.text("SELECT created_at FROM journal_lines"))).scalars().all()
            )
            with pytest.raises(sa.exc.DBAPIError, match="append-only"):
                await connection.execute(sa.text("UPDATE journal_lines SET amount_fen = amount_fen * 2"))
            with pytest.raises(sa.exc.DBAPIError, match="append-only"):
                await connection.execute(sa.text("DELETE FROM journal_lines"))
    finally:
        await engine.dispose()
    assert len(times) == 2 and {datetime.fromisoformat(str(t)).replace(tzinfo=UTC) for t in times} == {at}
