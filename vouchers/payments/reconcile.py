"""对账: one day's WeChat Pay trade bill (Asia/Shanghai day) compared line by line with the ledger.

Each payment line of the bill is looked for among the ledger's ``payment:{out_trade_no}`` entries,
each refund line among its ``cash_refund:{out_refund_no}`` entries, for the orders of that merchant
(and sub-merchant) paid — or refunds finished — on that day, amounts to the fen. What differs (in
the bill and not in the ledger, in the ledger and not in the bill, amounts that differ, a bill
whose totals row disagrees with its lines) is stored for finance and the provider in
:class:`PaymentReconciliation`, and never fixed here: a difference is a question for a person.
Running a day again replaces that day's result.

A bill whose hash does not match what WeChat Pay's signed answer announced is not read at all.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from accounts.models import BureauKind, Organization
from accounts.models import Role as AccountRole
from vouchers.errors import BillUnavailable, FinanceRequired, ReconciliationNotFound
from vouchers.models import (
    EntryKind,
    JournalEntry,
    JournalLine,
    PaymentOrder,
    PaymentReconciliation,
    PaymentRefund,
    RefundStatus,
)
from vouchers.payments.gateway import WeChatPay
from vouchers.wechatpay.bill import BillFormatError, BillLine, TradeBill, parse_trade_bill
from vouchers.wechatpay.client import WeChatPayError, WeChatPayUnavailable
from yixiang.clock import SHANGHAI
from yixiang.db import transaction, utcnow
from yixiang.errors import Conflict
from yixiang.locking import locked

log = logging.getLogger("vouchers.payments.reconcile")

# WeChat Pay's answer for a day without a single trade: an empty bill, not a failure
NO_BILL_CODES = {"NO_STATEMENT_EXIST"}


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(), SHANGHAI)
    return start, start + timedelta(days=1)


async def download_bill(pay: WeChatPay, day: date, sub_mchid: str) -> TradeBill:
    try:
        text = await pay.client.trade_bill(day, sub_mchid or None)
    except WeChatPayError as exc:
        if exc.code in NO_BILL_CODES:
            return TradeBill(lines=[], count=0, paid_fen=0, refunded_fen=0)
        raise BillUnavailable(day=day.isoformat(), wechat_code=exc.code) from None
    except WeChatPayUnavailable as exc:
        raise BillUnavailable(day=day.isoformat(), reason=str(exc)) from None
    try:
        return parse_trade_bill(text)
    except BillFormatError as exc:
        raise BillUnavailable(day=day.isoformat(), reason=f"账单格式有误：{exc}") from None


async def _entry_amounts(session: AsyncSession, keys: list[str]) -> dict[str, int]:
    """The cash_clearing movement of each of these ledger entries (absent: not in the ledger)."""
    found: dict[str, int] = {}
    for first in range(0, len(keys), 500):
        rows = await session.execute(
            select(JournalEntry.key, func.sum(JournalLine.amount_fen))
            .join(JournalLine, JournalLine.entry_id == JournalEntry.id)
            .where(
                JournalEntry.key.in_(keys[first : first + 500]),
                JournalEntry.kind.in_([EntryKind.payment, EntryKind.cash_refund]),
                JournalLine.account_code.like("cash_clearing:%"),
            )
            .group_by(JournalEntry.key)
        )
        found.update({key: int(total) for key, total in rows.all()})
    return found


async def ledger_side(
    session: AsyncSession, mchid: str, sub_mchid: str, day: date
) -> tuple[dict[str, int], dict[str, tuple[str, int]]]:
    """The day's payments {out_trade_no: fen} and refunds {out_refund_no: (out_trade_no, fen)} as
    the ledger has them, for one merchant: orders paid and refunds finished on that day."""
    start, end = day_bounds(day)
    merchant = (PaymentOrder.mchid == mchid, PaymentOrder.sub_mchid == sub_mchid)
    paid = (
        await session.scalars(
            select(PaymentOrder.out_trade_no).where(
                *merchant, PaymentOrder.paid_at >= start, PaymentOrder.paid_at < end
            )
        )
    ).all()
    refunded = (
        await session.execute(
            select(PaymentRefund.out_refund_no, PaymentOrder.out_trade_no)
            .join(PaymentOrder, PaymentOrder.id == PaymentRefund.order_id)
            .where(
                *merchant,
                PaymentRefund.status == RefundStatus.succeeded,
                PaymentRefund.finished_at >= start,
                PaymentRefund.finished_at < end,
            )
        )
    ).all()
    amounts = await _entry_amounts(
        session, [f"payment:{no}" for no in paid] + [f"cash_refund:{no}" for no, _ in refunded]
    )
    payments = {no: amounts[f"payment:{no}"] for no in paid if f"payment:{no}" in amounts}
    refunds = {
        no: (trade, -amounts[f"cash_refund:{no}"]) for no, trade in refunded if f"cash_refund:{no}" in amounts
    }
    return payments, refunds


def _is_refund(line: BillLine) -> bool:
    return line.trade_state == "REFUND" or bool(line.out_refund_no)


def compare(
    bill: TradeBill, payments: dict[str, int], refunds: dict[str, tuple[str, int]]
) -> list[dict[str, Any]]:
    """Every line where the bill and the ledger disagree, payments first, by reference."""
    bill_payments: dict[str, int] = defaultdict(int)
    bill_refunds: dict[str, tuple[str, int]] = {}
    for line in bill.lines:
        if _is_refund(line):
            trade, fen = bill_refunds.get(line.out_refund_no, (line.out_trade_no, 0))
            bill_refunds[line.out_refund_no] = (trade, fen + line.refund_fen)
        else:
            bill_payments[line.out_trade_no] += line.paid_fen
    found: list[dict[str, Any]] = []

    def differ(kind: str, reference: str, trade: str, bill_fen: int | None, ledger_fen: int | None) -> None:
        if bill_fen == ledger_fen:
            return
        what = (
            "missing_in_ledger"
            if ledger_fen is None
            else "missing_in_bill"
            if bill_fen is None
            else "amount_differs"
        )
        found.append(
            {
                "kind": what,
                "type": kind,
                "reference": reference,
                "out_trade_no": trade,
                "bill_fen": bill_fen,
                "ledger_fen": ledger_fen,
            }
        )

    for no in sorted(set(bill_payments) | set(payments)):
        differ("payment", no, no, bill_payments.get(no), payments.get(no))
    for no in sorted(set(bill_refunds) | set(refunds)):
        trade = (bill_refunds.get(no) or refunds[no])[0]
        differ(
            "refund",
            no,
            trade,
            bill_refunds[no][1] if no in bill_refunds else None,
            refunds[no][1] if no in refunds else None,
        )
    line_paid, line_refunded = bill_totals(bill)
    if (bill.count, bill.paid_fen, bill.refunded_fen) != (len(bill.lines), line_paid, line_refunded):
        found.append(
            {
                "kind": "bill_totals_differ",
                "type": "totals",
                "reference": "",
                "out_trade_no": "",
                "bill_fen": bill.paid_fen - bill.refunded_fen,
                "ledger_fen": line_paid - line_refunded,
                "bill_count": bill.count,
                "line_count": len(bill.lines),
            }
        )
    return found


def bill_totals(bill: TradeBill) -> tuple[int, int]:
    """(paid, refunded) as the bill's own lines add up."""
    return (
        sum(line.paid_fen for line in bill.lines if not _is_refund(line)),
        sum(line.refund_fen for line in bill.lines if _is_refund(line)),
    )


async def reconcile_day(
    session: AsyncSession, pay: WeChatPay, day: date, sub_mchid: str
) -> PaymentReconciliation:
    """Download the day's bill (no transaction open meanwhile), compare, store (replacing an
    earlier result of that day and merchant)."""
    bill = await download_bill(pay, day, sub_mchid)
    mchid = pay.settings.mchid
    async with transaction(session):
        payments, refunds = await ledger_side(session, mchid, sub_mchid, day)
        differences = compare(bill, payments, refunds)
        bill_paid, bill_refunded = bill_totals(bill)
        values: dict[str, Any] = {
            "bill_lines": len(bill.lines),
            "bill_total_fen": bill_paid - bill_refunded,
            "ledger_total_fen": sum(payments.values()) - sum(fen for _, fen in refunds.values()),
            "differences": {"lines": differences},
            "checked_at": utcnow(),
        }
        result = await session.scalar(
            locked(
                select(PaymentReconciliation).where(
                    PaymentReconciliation.day == day,
                    PaymentReconciliation.mchid == mchid,
                    PaymentReconciliation.sub_mchid == sub_mchid,
                )
            ).execution_options(populate_existing=True)
        )
        if result is None:
            result = PaymentReconciliation(
                id=uuid.uuid4(), day=day, mchid=mchid, sub_mchid=sub_mchid, **values
            )
            session.add(result)
        else:
            for name, value in values.items():
                setattr(result, name, value)
        try:
            await session.flush()
        except IntegrityError:
            raise Conflict("该日对账正在进行，请稍后查看结果", day=day.isoformat()) from None
        if differences:
            log.warning("reconciliation %s %s/%s: %d difference(s)", day, mchid, sub_mchid, len(differences))
        return result


async def merchants_to_reconcile(session: AsyncSession, pay: WeChatPay) -> list[str]:
    """The sub-merchants of the configured units, and the direct merchant ("") when it collects."""
    subs = set(pay.settings.sub_mchids.values())
    direct = await session.scalar(
        select(PaymentOrder.id)
        .where(PaymentOrder.mchid == pay.settings.mchid, PaymentOrder.sub_mchid == "")
        .limit(1)
    )
    if direct is not None or not subs:
        subs.add("")
    return sorted(subs)


async def reconcile_missing_days(
    session: AsyncSession, pay: WeChatPay, day: date
) -> list[PaymentReconciliation]:
    """The daily job: reconcile ``day`` for each merchant not yet reconciled for it (a bill not
    ready yet, or refused, is tried again at the next run)."""
    async with transaction(session, read_only=True):
        merchants = await merchants_to_reconcile(session, pay)
        done = set(
            (
                await session.scalars(
                    select(PaymentReconciliation.sub_mchid).where(
                        PaymentReconciliation.day == day, PaymentReconciliation.mchid == pay.settings.mchid
                    )
                )
            ).all()
        )
    made = []
    for sub in merchants:
        if sub in done:
            continue
        try:
            made.append(await reconcile_day(session, pay, day, sub))
        except BillUnavailable as exc:
            log.warning("reconciliation %s %s: bill not available: %s", day, sub or "(direct)", exc.details)
    return made


# --- who sees which -------------------------------------------------------------------------------
async def is_finance_officer(session: AsyncSession, principal: Principal) -> bool:
    bureaus = principal.orgs_where(AccountRole.bureau_officer)
    if not bureaus:
        return False
    found = await session.scalar(
        select(Organization.id)
        .where(Organization.id.in_(bureaus), Organization.bureau_kind == BureauKind.finance)
        .limit(1)
    )
    return found is not None


async def visible_sub_mchids(
    session: AsyncSession, principal: Principal, pay: WeChatPay | None
) -> set[str] | None:
    """None: every merchant (finance officers, platform admins); else the sub-merchants of the
    caller's units (none for anyone else)."""
    if principal.is_platform_admin or await is_finance_officer(session, principal):
        return None
    if pay is None:
        return set()
    return {sub for unit in principal.unit_ids if (sub := pay.sub_mchid(unit))}


async def require_finance(session: AsyncSession, principal: Principal) -> None:
    if not (principal.is_platform_admin or await is_finance_officer(session, principal)):
        raise FinanceRequired()


async def list_reconciliations(
    session: AsyncSession,
    principal: Principal,
    pay: WeChatPay | None,
    *,
    day_from: date | None,
    day_to: date | None,
    with_differences: bool,
    limit: int,
    offset: int,
) -> list[PaymentReconciliation]:
    subs = await visible_sub_mchids(session, principal, pay)
    query = select(PaymentReconciliation)
    if subs is not None:
        query = query.where(PaymentReconciliation.sub_mchid.in_(sorted(subs)))
    if day_from is not None:
        query = query.where(PaymentReconciliation.day >= day_from)
    if day_to is not None:
        query = query.where(PaymentReconciliation.day <= day_to)
    rows = list(
        (
            await session.scalars(
                query.order_by(PaymentReconciliation.day.desc(), PaymentReconciliation.sub_mchid)
                .limit(limit if not with_differences else 10_000)
                .offset(offset if not with_differences else 0)
            )
        ).all()
    )
    if with_differences:  # differences live in a JSON column: filtered here, the lists are short
        rows = [r for r in rows if r.differences.get("lines")][offset : offset + limit]
    return rows


async def get_reconciliation(
    session: AsyncSession, principal: Principal, pay: WeChatPay | None, reconciliation_id: uuid.UUID
) -> PaymentReconciliation:
    found = await session.get(PaymentReconciliation, reconciliation_id)
    subs = await visible_sub_mchids(session, principal, pay)
    if found is None or (subs is not None and found.sub_mchid not in subs):
        raise ReconciliationNotFound()
    return found
