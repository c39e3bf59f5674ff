"""search generation: a counter of index writes, so search answers can be remembered safely

``search_index_state`` holds one row whose ``generation`` every write to the database-backed
index (upsert, delete, rebuild) increments in its own transaction. A search reads it first and
keys the answers it remembers by it: an answer is reused only while no index write has
committed since (search/cache.py).

Revision ID: 0008_search_generation
Revises: 0007_search_speed
Create Date: 2026-11-26 08:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0008_search_generation"
down_revision: str | Sequence[str] | None = "0007_search_speed"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    state = op.create_table(
        "search_index_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_search_index_state_one_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_search_index_state")),
    )
    op.bulk_insert(state, [{"id": 1, "generation": 0}])


def downgrade() -> None:
    op.drop_table("search_index_state")
