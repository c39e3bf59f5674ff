"""periodic jobs' last run: when it finished, how long it took, whether it succeeded (issue 25:
job durations in /metrics, read from the database because the worker is often its own process)

Revision ID: 0029_job_runs
Revises: 0028_audit_trail
Create Date: 2026-12-02 15:10:00.000000

"""

from collections.abc import Sequence

import advanced_alchemy.types.datetime
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0029_job_runs"
down_revision: str | Sequence[str] | None = "0028_audit_trail"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("periodic_jobs") as batch:
        batch.add_column(
            sa.Column(
                "last_finished_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True
            )
        )
        batch.add_column(sa.Column("last_duration_ms", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("last_succeeded", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("periodic_jobs") as batch:
        batch.drop_column("last_succeeded")
        batch.drop_column("last_duration_ms")
        batch.drop_column("last_finished_at")
