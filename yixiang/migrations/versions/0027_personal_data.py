"""personal data (issue 24, PIPL): consent to notifications, and the record of each erasure

Revision ID: 0027_personal_data
Revises: 0026_sensor_deadlines
Create Date: 2026-12-02 11:10:00

"""

from collections.abc import Sequence

import advanced_alchemy.types.datetime
import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "0027_personal_data"
down_revision: str | Sequence[str] | None = "0026_sensor_deadlines"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "notification_consents",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("given", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_notification_consents_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_consents")),
    )
    with op.batch_alter_table("notification_consents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notification_consents_user_id"), ["user_id"], unique=False)

    op.create_table(
        "personal_data_erasures",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("erased_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("kept", JSON, nullable=False),
        sa.Column("deleted", JSON, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_personal_data_erasures_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_personal_data_erasures")),
        sa.UniqueConstraint("user_id", name=op.f("uq_personal_data_erasures_user_id")),
    )


def downgrade() -> None:
    op.drop_table("personal_data_erasures")
    with op.batch_alter_table("notification_consents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notification_consents_user_id"))
    op.drop_table("notification_consents")
