"""payment orders: WeChat Pay orders, refunds, accepted notifications and daily reconciliations;
the real-money ledger accounts of a unit (no programme); what a checkout paid back in cash

Revision ID: 0019_payment_orders
Revises: 0017_oversight_sensors
Create Date: 2026-12-02 05:18:28

"""

from collections.abc import Sequence

import advanced_alchemy.types.datetime
import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "0019_payment_orders"
down_revision: str | Sequence[str] | None = "0017_oversight_sensors"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "payment_notifications",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("event_type", sa.String(length=40), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("applied", sa.Boolean(), nullable=False),
        sa.Column("received_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_notifications")),
    )
    with op.batch_alter_table("payment_notifications", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_payment_notifications_reference"), ["reference"], unique=False)

    op.create_table(
        "payment_orders",
        sa.Column("out_trade_no", sa.String(length=32), nullable=False),
        sa.Column("booking_id", sa.Uuid(), nullable=False),
        sa.Column("enterprise_id", sa.Uuid(), nullable=False),
        sa.Column("unit_id", sa.Uuid(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column(
            "channel",
            sa.Enum("jsapi", "native", name="paymentchannel", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum("open", "paid", "closed", name="paymentorderstatus", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("mchid", sa.String(length=32), nullable=False),
        sa.Column("sub_mchid", sa.String(length=32), nullable=False),
        sa.Column("prepay_id", sa.String(length=64), nullable=False),
        sa.Column("code_url", sa.String(length=256), nullable=False),
        sa.Column("payer_openid", sa.String(length=128), nullable=False),
        sa.Column("transaction_id", sa.String(length=32), nullable=True),
        sa.Column("refunded_fen", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("expires_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("paid_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("closed_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column(
            "last_queried_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("amount_fen > 0", name=op.f("ck_payment_orders_amount_positive")),
        sa.CheckConstraint(
            "refunded_fen >= 0 AND refunded_fen <= amount_fen",
            name=op.f("ck_payment_orders_refund_within_payment"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_orders")),
        sa.UniqueConstraint("out_trade_no", name=op.f("uq_payment_orders_out_trade_no")),
        sa.UniqueConstraint("transaction_id", name=op.f("uq_payment_orders_transaction_id")),
    )
    with op.batch_alter_table("payment_orders", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_payment_orders_booking_id"), ["booking_id"], unique=False)
        batch_op.create_index("ix_payment_orders_status_expires", ["status", "expires_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_payment_orders_unit_id"), ["unit_id"], unique=False)

    op.create_table(
        "payment_reconciliations",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("mchid", sa.String(length=32), nullable=False),
        sa.Column("sub_mchid", sa.String(length=32), nullable=False),
        sa.Column("bill_lines", sa.Integer(), nullable=False),
        sa.Column("bill_total_fen", sa.BigInteger(), nullable=False),
        sa.Column("ledger_total_fen", sa.BigInteger(), nullable=False),
        sa.Column(
            "differences",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("checked_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_reconciliations")),
    )
    with op.batch_alter_table("payment_reconciliations", schema=None) as batch_op:
        batch_op.create_index("ux_payment_reconciliations_day", ["day", "mchid", "sub_mchid"], unique=True)

    op.create_table(
        "payment_refunds",
        sa.Column("out_refund_no", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("booking_id", sa.Uuid(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("cause", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "processing",
                "succeeded",
                "closed",
                "abnormal",
                name="refundstatus",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("refund_id", sa.String(length=32), nullable=False),
        sa.Column("requested_by", sa.Uuid(), nullable=True),
        sa.Column("requested_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("finished_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=200), server_default="", nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("amount_fen > 0", name=op.f("ck_payment_refunds_amount_positive")),
        sa.ForeignKeyConstraint(
            ["order_id"], ["payment_orders.id"], name=op.f("fk_payment_refunds_order_id_payment_orders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_refunds")),
        sa.UniqueConstraint("key", name=op.f("uq_payment_refunds_key")),
        sa.UniqueConstraint("out_refund_no", name=op.f("uq_payment_refunds_out_refund_no")),
    )
    with op.batch_alter_table("payment_refunds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_payment_refunds_booking_id"), ["booking_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_payment_refunds_order_id"), ["order_id"], unique=False)

    with op.batch_alter_table("ledger_accounts", schema=None) as batch_op:
        batch_op.alter_column("program_id", existing_type=sa.Uuid(), nullable=True)

    op.create_table(
        "fee_corrections",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("booking_id", sa.Uuid(), nullable=False),
        sa.Column("unit_id", sa.Uuid(), nullable=False),
        sa.Column("waiver", sa.Boolean(), nullable=False),
        sa.Column("old_fee_fen", sa.BigInteger(), nullable=False),
        sa.Column("new_fee_fen", sa.BigInteger(), nullable=False),
        sa.Column("old_voucher_fen", sa.BigInteger(), nullable=False),
        sa.Column("new_voucher_fen", sa.BigInteger(), nullable=False),
        sa.Column("cash_refund_fen", sa.BigInteger(), nullable=False),
        sa.Column("offline_refund_fen", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("corrected_by", sa.Uuid(), nullable=False),
        sa.Column("corrected_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fee_corrections")),
        sa.UniqueConstraint("key", name=op.f("uq_fee_corrections_key")),
    )
    with op.batch_alter_table("fee_corrections", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_fee_corrections_booking_id"), ["booking_id"], unique=False)

    with op.batch_alter_table("voucher_checkouts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("cash_refunded_fen", sa.BigInteger(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("fee_corrections", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fee_corrections_booking_id"))
    op.drop_table("fee_corrections")

    with op.batch_alter_table("voucher_checkouts", schema=None) as batch_op:
        batch_op.drop_column("cash_refunded_fen")

    # The real-money accounts have no programme: their entries and lines go first.
    payments = "SELECT id FROM journal_entries WHERE kind IN ('payment', 'cash_refund')"
    op.execute(f"DELETE FROM journal_lines WHERE entry_id IN ({payments})")
    op.execute("DELETE FROM journal_entries WHERE kind IN ('payment', 'cash_refund')")
    op.execute("DELETE FROM ledger_accounts WHERE kind IN ('cash_clearing', 'firm_payments')")
    with op.batch_alter_table("ledger_accounts", schema=None) as batch_op:
        batch_op.alter_column("program_id", existing_type=sa.Uuid(), nullable=False)

    with op.batch_alter_table("payment_refunds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payment_refunds_order_id"))
        batch_op.drop_index(batch_op.f("ix_payment_refunds_booking_id"))

    op.drop_table("payment_refunds")
    with op.batch_alter_table("payment_reconciliations", schema=None) as batch_op:
        batch_op.drop_index("ux_payment_reconciliations_day")

    op.drop_table("payment_reconciliations")
    with op.batch_alter_table("payment_orders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payment_orders_unit_id"))
        batch_op.drop_index("ix_payment_orders_status_expires")
        batch_op.drop_index(batch_op.f("ix_payment_orders_booking_id"))

    op.drop_table("payment_orders")
    with op.batch_alter_table("payment_notifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payment_notifications_reference"))

    op.drop_table("payment_notifications")
