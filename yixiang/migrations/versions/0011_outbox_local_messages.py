"""bot local messages: the local outbox, where notifications stay without real WeChat settings

Revision ID: 0011_outbox_local_messages
Revises: 0010_sent_notification_status
Create Date: 2026-12-02 10:00:00

"""

from collections.abc import Sequence

import advanced_alchemy.types.datetime
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0011_outbox_local_messages"
down_revision: str | Sequence[str] | None = "0010_sent_notification_status"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bot_local_messages",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("topic", sa.String(length=100), nullable=False),
        sa.Column("recipient", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("template_id", sa.String(length=100), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("link", sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_bot_local_messages_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bot_local_messages")),
    )


def downgrade() -> None:
    op.drop_table("bot_local_messages")
