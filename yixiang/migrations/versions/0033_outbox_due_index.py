"""the outbox's due events by an index: the worker's claim and the outbox lag read the pending
events in run_at order instead of every event of the last 30 days (done events are kept that
long); each claim was a sequential scan, 8 ms at 9,000 events (issue 25).

Revision ID: 0033_outbox_due_index
Revises: 0032_reading_archives
Create Date: 2026-12-04 23:10:00.000000

"""

from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0033_outbox_due_index"
down_revision: str | Sequence[str] | None = "0032_reading_archives"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_outbox_events_due", "outbox_events", ["status", "run_at", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_outbox_events_due", table_name="outbox_events")
