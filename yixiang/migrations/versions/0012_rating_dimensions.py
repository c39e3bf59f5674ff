"""rating dimensions optional: a rating may give the overall score alone

The aggregates count, per dimension, the ratings that scored it (its mean is over those). Every
existing rating scored all four, so each existing aggregate's counts are its rating count.

Revision ID: 0012_rating_dimensions
Revises: 0011_outbox_local_messages
Create Date: 2026-12-02 10:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "0012_rating_dimensions"
down_revision: str | Sequence[str] | None = "0011_outbox_local_messages"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DIMENSIONS = ("timeliness", "data_quality", "professionalism", "value")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("ratings", schema=None) as batch_op:
        for name in DIMENSIONS:
            batch_op.alter_column(name, existing_type=sa.Integer(), nullable=True)
    with op.batch_alter_table("rating_aggregates", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dimension_counts", JSON, server_default="{}", nullable=False))
    aggregates = sa.table(
        "rating_aggregates",
        sa.column("scope", sa.String()),
        sa.column("subject_id", sa.Uuid()),
        sa.column("count", sa.Integer()),
        sa.column("dimension_counts", JSON),
    )
    connection = op.get_bind()
    for scope, subject_id, count in connection.execute(
        sa.select(aggregates.c.scope, aggregates.c.subject_id, aggregates.c.count)
    ).all():
        connection.execute(
            aggregates.update()
            .where(aggregates.c.scope == scope, aggregates.c.subject_id == subject_id)
            .values(dimension_counts=dict.fromkeys(DIMENSIONS, count))
        )


def downgrade() -> None:
    with op.batch_alter_table("rating_aggregates", schema=None) as batch_op:
        batch_op.drop_column("dimension_counts")
    # A rating without a dimension takes its overall score there (the old rule needed all four).
    ratings = sa.table("ratings", *(sa.column(name, sa.Integer()) for name in ("overall", *DIMENSIONS)))
    for name in DIMENSIONS:
        op.execute(ratings.update().where(ratings.c[name].is_(None)).values({name: ratings.c.overall}))
    with op.batch_alter_table("ratings", schema=None) as batch_op:
        for name in DIMENSIONS:
            batch_op.alter_column(name, existing_type=sa.Integer(), nullable=False)
