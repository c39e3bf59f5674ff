"""the archive of sensor readings: one row per month (Asia/Shanghai) moved to the object storage,
with its object's key, row count, SHA-256 and size (issue 25 goal 4, docs/growth.md)

Revision ID: 0032_reading_archives
Revises: 0031_journal_line_time
Create Date: 2026-12-03 13:50:00.000000

"""

from collections.abc import Sequence

import advanced_alchemy.types.datetime
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0032_reading_archives"
down_revision: str | Sequence[str] | None = "0031_journal_line_time"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _time(name: str, *, nullable: bool = True) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "oversight_reading_archives",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "exporting",
                "deleting",
                "archived",
                "restored",
                name="archivestatus",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("object_key", sa.String(length=200), nullable=False),
        sa.Column("row_count", sa.BigInteger(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("bytes", sa.BigInteger(), nullable=True),
        sa.Column("rows_deleted", sa.BigInteger(), nullable=False),
        _time("claimed_until"),
        _time("archived_at"),
        _time("deleted_at"),
        _time("restored_at"),
        _time("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("month", name=op.f("pk_oversight_reading_archives")),
    )


def downgrade() -> None:
    op.drop_table("oversight_reading_archives")
