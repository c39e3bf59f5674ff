"""the entry's time on each journal line, indexed per account: a firm's voucher history reads its
newest entries per account instead of every line the firm ever had (issue 25 goal 4,
docs/growth.md). Replaces the index on account_code alone (the new one leads with it).

Revision ID: 0031_journal_line_time
Revises: 0030_ledger_account_grant
Create Date: 2026-12-03 08:20:00.000000

"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import advanced_alchemy.types.datetime
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0031_journal_line_time"
down_revision: str | Sequence[str] | None = "0030_ledger_account_grant"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BACKFILL = {
    "postgresql": "UPDATE journal_lines l SET created_at = e.created_at "
    "FROM journal_entries e WHERE e.id = l.entry_id",
    "sqlite": "UPDATE journal_lines SET created_at = "
    "(SELECT e.created_at FROM journal_entries e WHERE e.id = journal_lines.entry_id)",
}


@contextmanager
def _append_only_lifted() -> Iterator[None]:
    """The journal's append-only triggers (0004) off while the lines gain their time: the backfill
    updates every line, and SQLite's batch mode rebuilds the table, which drops its triggers."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE journal_lines DISABLE TRIGGER journal_lines_append_only")
        yield
        op.execute("ALTER TABLE journal_lines ENABLE TRIGGER journal_lines_append_only")
        return
    for action in ("update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS journal_lines_no_{action}")
    yield
    for action in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER journal_lines_no_{action.lower()} BEFORE {action} ON journal_lines "
            "BEGIN SELECT RAISE(ABORT, 'the voucher journal is append-only'); END"
        )


def upgrade() -> None:
    with _append_only_lifted():
        with op.batch_alter_table("journal_lines") as batch:
            batch.add_column(
                sa.Column(
                    "created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True
                )
            )
        op.execute(BACKFILL[op.get_bind().dialect.name])
        with op.batch_alter_table("journal_lines") as batch:
            batch.alter_column(
                "created_at",
                existing_type=advanced_alchemy.types.datetime.DateTimeUTC(timezone=True),
                nullable=False,
            )
            batch.drop_index(batch.f("ix_journal_lines_account_code"))
            batch.create_index(
                "ix_journal_lines_account_time", ["account_code", "created_at", "entry_id"], unique=False
            )


def downgrade() -> None:
    with _append_only_lifted(), op.batch_alter_table("journal_lines") as batch:
        batch.drop_index("ix_journal_lines_account_time")
        batch.create_index(batch.f("ix_journal_lines_account_code"), ["account_code"], unique=False)
        batch.drop_column("created_at")
