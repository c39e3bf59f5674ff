"""money booking numbers: every booking has its number (预约号), stored and unique; a checkout
keeps its booking's number (vouchers does not read the booking table) and what the firm paid

Existing bookings are numbered as the bot showed them (``YX`` + the day + six hex digits of the
id); the rare second booking of a day with the same six digits takes the next six along its id.
A checkout whose payment was already recorded owes nothing any more: its amount due moves to
``paid_fen``.

Revision ID: 0014_booking_numbers
Revises: 0013_voucher_applications
Create Date: 2026-12-03 10:00:00

"""

import uuid
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from advanced_alchemy.types import DateTimeUTC
from alembic import op

from yixiang.clock import SHANGHAI

# revision identifiers, used by Alembic.
revision: str = "0014_booking_numbers"
down_revision: str | Sequence[str] | None = "0013_voucher_applications"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 1000
bookings = sa.table(
    "bookings",
    sa.column("id", sa.Uuid()),
    sa.column("created_at", DateTimeUTC(timezone=True)),
    sa.column("number", sa.String(17)),
)


def booking_number(booking_id: uuid.UUID, created_at: datetime, offset: int = 0) -> str:
    """booking.numbers.booking_number as it was when this migration was written."""
    return f"YX{created_at.astimezone(SHANGHAI):%Y%m%d}-{booking_id.hex[offset : offset + 6].upper()}"


def _number_existing_bookings() -> None:
    connection = op.get_bind()
    taken: set[str] = set()
    rows = connection.execute(sa.select(bookings.c.id, bookings.c.created_at).order_by(bookings.c.created_at))
    numbered: list[dict[str, object]] = []
    for booking_id, created_at in rows.all():
        offset = 0
        number = booking_number(booking_id, created_at)
        while number in taken:  # 27 windows of six digits: one is free
            offset += 1
            number = booking_number(booking_id, created_at, offset)
        taken.add(number)
        numbered.append({"p_id": booking_id, "p_number": number})
    update = (
        bookings.update().where(bookings.c.id == sa.bindparam("p_id")).values(number=sa.bindparam("p_number"))
    )
    for start in range(0, len(numbered), BATCH):
        connection.execute(update, numbered[start : start + BATCH])


def upgrade() -> None:
    with op.batch_alter_table("bookings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("number", sa.String(length=17), nullable=True))
    _number_existing_bookings()
    op.create_index("uq_bookings_number", "bookings", ["number"], unique=True)

    with op.batch_alter_table("voucher_checkouts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("booking_number", sa.String(length=17), server_default="", nullable=False)
        )
        batch_op.add_column(sa.Column("paid_fen", sa.BigInteger(), server_default="0", nullable=False))
    op.execute(
        "UPDATE voucher_checkouts SET booking_number = COALESCE("
        "(SELECT number FROM bookings WHERE bookings.id = voucher_checkouts.booking_id), '')"
    )
    op.execute(
        "UPDATE voucher_checkouts SET paid_fen = due_fen, due_fen = 0 WHERE payment_received_at IS NOT NULL"
    )


def downgrade() -> None:
    op.execute("UPDATE voucher_checkouts SET due_fen = paid_fen WHERE payment_received_at IS NOT NULL")
    with op.batch_alter_table("voucher_checkouts", schema=None) as batch_op:
        batch_op.drop_column("paid_fen")
        batch_op.drop_column("booking_number")
    op.drop_index("uq_bookings_number", table_name="bookings")
    with op.batch_alter_table("bookings", schema=None) as batch_op:
        batch_op.drop_column("number")
