"""sensor sessions feed actual hours: where a booking's actual times came from

Revision ID: 0026_sensor_deadlines
Revises: 0025_yearly_reports
Create Date: 2026-12-02 11:50:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026_sensor_deadlines"
down_revision: str | Sequence[str] | None = "0025_yearly_reports"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("bookings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("actual_source", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("bookings", schema=None) as batch_op:
        batch_op.drop_column("actual_source")
