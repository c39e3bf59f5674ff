"""usage daily roll-up (issue 21) and the generic (通用性强) marking of categories (issue 22)

Revision ID: 0021_usage_daily
Revises: 0020_peer_features
Create Date: 2026-12-02 10:42:22.076199

"""

from collections.abc import Sequence

import advanced_alchemy.types.datetime
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0021_usage_daily"
down_revision: str | Sequence[str] | None = "0020_peer_features"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The classes of general-purpose instruments (as catalogue/data/categories.json marks them)
GENERIC_CATEGORIES = ("0101", "0102", "0103", "0104", "0105", "0106", "0108", "0109")


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "oversight_usage_daily",
        sa.Column("instrument_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column(
            "source",
            sa.Enum("sensor", "manual", name="sessionsource", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("effective_seconds", sa.Integer(), nullable=False),
        sa.Column("external_seconds", sa.Integer(), nullable=False),
        sa.Column("internal_seconds", sa.Integer(), nullable=False),
        sa.Column("booked_seconds", sa.Integer(), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["instrument_id"],
            ["instruments.id"],
            name=op.f("fk_oversight_usage_daily_instrument_id_instruments"),
        ),
        sa.PrimaryKeyConstraint("instrument_id", "day", "source", name=op.f("pk_oversight_usage_daily")),
    )
    with op.batch_alter_table("oversight_usage_daily", schema=None) as batch_op:
        batch_op.create_index("ix_oversight_usage_daily_day", ["day"], unique=False)

    op.create_table(
        "oversight_usage_stale_days",
        sa.Column("instrument_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("marked_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["instrument_id"],
            ["instruments.id"],
            name=op.f("fk_oversight_usage_stale_days_instrument_id_instruments"),
        ),
        sa.PrimaryKeyConstraint("instrument_id", "day", name=op.f("pk_oversight_usage_stale_days")),
    )
    with op.batch_alter_table("oversight_sensor_bindings", schema=None) as batch_op:
        batch_op.create_index(
            "ix_oversight_sensor_bindings_instrument_at", ["instrument_id", "at"], unique=False
        )
    # a plain ADD COLUMN (SQLite takes it as is): a batch copy of the table would trip the foreign
    # keys that point at it
    op.add_column(
        "instrument_categories", sa.Column("generic", sa.Boolean(), server_default=sa.false(), nullable=False)
    )
    categories = sa.table(
        "instrument_categories", sa.column("code", sa.String), sa.column("generic", sa.Boolean)
    )
    op.execute(categories.update().where(categories.c.code.in_(GENERIC_CATEGORIES)).values(generic=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("oversight_sensor_bindings", schema=None) as batch_op:
        batch_op.drop_index("ix_oversight_sensor_bindings_instrument_at")
    op.drop_column("instrument_categories", "generic")  # SQLite 3.35+ drops it in place
    op.drop_table("oversight_usage_stale_days")
    with op.batch_alter_table("oversight_usage_daily", schema=None) as batch_op:
        batch_op.drop_index("ix_oversight_usage_daily_day")
    op.drop_table("oversight_usage_daily")
