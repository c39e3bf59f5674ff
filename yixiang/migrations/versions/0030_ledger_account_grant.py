"""an index on ledger_accounts(grant_id): the statement and the booking's voucher share look up a
grant's accounts by grant, which scanned every account once years of grants had piled up (issue 25
goal 4, docs/growth.md)

Revision ID: 0030_ledger_account_grant
Revises: 0029_job_runs
Create Date: 2026-12-03 07:40:00.000000

"""

from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0030_ledger_account_grant"
down_revision: str | Sequence[str] | None = "0029_job_runs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ledger_accounts") as batch:
        batch.create_index(batch.f("ix_ledger_accounts_grant_id"), ["grant_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("ledger_accounts") as batch:
        batch.drop_index(batch.f("ix_ledger_accounts_grant_id"))
