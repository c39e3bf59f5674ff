"""sent notification status: "sending" is committed before WeChat is called, "sent" after

A worker that died between a send and its commit used to send the message again on retry.
Existing rows were all sent.

Revision ID: 0010_sent_notification_status
Revises: 0009_sqlite_search_keys
Create Date: 2026-11-27 10:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0010_sent_notification_status"
down_revision: str | Sequence[str] | None = "0009_sqlite_search_keys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("bot_sent_notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("status", sa.String(length=16), server_default="sent", nullable=False))
        batch_op.create_index(batch_op.f("ix_bot_sent_notifications_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("bot_sent_notifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bot_sent_notifications_status"))
        batch_op.drop_column("status")
