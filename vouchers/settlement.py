"""Settlement (兑付) for the issuing region's bureaus: draft → submitted → approved → paid → reconciled.

A batch collects, for one region and period, every captured voucher share of that region's
programmes not yet settled; a line whose evidence chain is incomplete is listed apart and not
paid (it can go into a later batch once complete). Amounts are fixed when the batch is drawn and
cannot change after (refunds are refused for bookings in a batch). Paying posts one ledger entry
(receivable → settled per programme and provider); reconciling proves batch = ledger to the fen.
A draft drawn wrongly may be discarded: its lines stay on record and its bookings are free again.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from accounts.models import Organization, Role
from vouchers.access import officer_of_region, require_bureau_officer
from vouchers.checkout import within_caller_transaction
from vouchers.errors import (
    BureauRequired,
    DraftHolding,
    DraftHoldsBookings,
    EmptySettlement,
    InvalidSettlementTransition,
    ReconciliationMismatch,
    SameOfficerApproval,
    SettlementNotFound,
)
from vouchers.evidence import RATING_LABELS, Completeness, RatingStatus, completeness
from vouchers.ledger import Posting, open_settled_account, post_entry, receivable_account, settled_account
from vouchers.models import (
    AccountKind,
    CheckoutEvidence,
    CheckoutState,
    EntryKind,
    JournalEntry,
    JournalLine,
    LedgerAccount,
    SettlementBatch,
    SettlementLine,
    SettlementStatus,
    VoucherCheckout,
    VoucherProgram,
)
from vouchers.schemas import (
    MarkPaidIn,
    ProviderTotalOut,
    ReconciliationOut,
    SettlementIn,
    SettlementLineOut,
    SettlementOut,
)
from vouchers.settlement_export import STATUS_LABELS
from vouchers.statements import booking_numbers
from yixiang.clock import SHANGHAI
from yixiang.db import utcnow
from yixiang.errors import Conflict, InvalidInput
from yixiang.locking import locked

# action → (from, to): the whole state machine of a batch.
TRANSITIONS: dict[str, tuple[SettlementStatus, SettlementStatus]] = {
    "submit": (SettlementStatus.draft, SettlementStatus.submitted),
    "discard": (SettlementStatus.draft, SettlementStatus.discarded),
    "approve": (SettlementStatus.submitted, SettlementStatus.approved),
    "mark_paid": (SettlementStatus.approved, SettlementStatus.paid),
    "reconcile": (SettlementStatus.paid, SettlementStatus.reconciled),
}
MAX_PERIOD_DAYS = 366


# action → the batch's (who, when) columns it stamps
STAMPS: dict[str, tuple[str, str]] = {
    "submit": ("submitted_by", "submitted_at"),
    "approve": ("approved_by", "approved_at"),
    "mark_paid": ("paid_by", "paid_at"),
    "reconcile": ("reconciled_by", "reconciled_at"),
}


def check_step(batch: Any, action: str, actor_id: uuid.UUID, *, noun: str = "兑付批次") -> bool:
    """Whether ``action`` moves a four-eyes batch (a settlement or a reward batch: the same states
    and stamps); False when it is already there (the same action again changes nothing). Refuses a
    move the state machine does not have and an approval by the submitter."""
    source, target = TRANSITIONS[action]
    if batch.status == target:
        return False
    if batch.status != source:
        raise InvalidSettlementTransition(
            f"{noun}当前状态为 {batch.status.value}，不能执行 {action}",
            status=batch.status.value,
            action=action,
        )
    if action == "approve" and batch.submitted_by == actor_id:
        raise SameOfficerApproval(f"提交人不能审核自己提交的{noun}")
    return True


def stamp_step(batch: Any, action: str, actor_id: uuid.UUID) -> None:
    """Record who moved the batch and when, and move it (after ``check_step`` and the action's work)."""
    if action in STAMPS:
        by, at = STAMPS[action]
        setattr(batch, by, actor_id)
        setattr(batch, at, utcnow())
    batch.status = TRANSITIONS[action][1]


class SettlementBusy(Conflict):
    code = "settlement_busy"
    message = "另一个兑付批次正在生成，请稍后重试"


def period_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """[start 00:00, end+1 00:00) in Asia/Shanghai, as aware datetimes."""
    return (
        datetime.combine(start, time(), tzinfo=SHANGHAI),
        datetime.combine(end + timedelta(days=1), time(), tzinfo=SHANGHAI),
    )


async def _evidence_of(
    session: AsyncSession, booking_ids: list[uuid.UUID]
) -> dict[uuid.UUID, dict[str, CheckoutEvidence]]:
    found: dict[uuid.UUID, dict[str, CheckoutEvidence]] = defaultdict(dict)
    if booking_ids:
        rows = await session.scalars(
            select(CheckoutEvidence).where(CheckoutEvidence.booking_id.in_(booking_ids))
        )
        for e in rows.all():
            found[e.booking_id][e.kind] = e
    return found


def _line_evidence(found: dict[str, CheckoutEvidence], chain: Completeness) -> dict[str, Any]:
    """What the line keeps of the chain as it was when drawn: each link's moment and detail, and
    how the rating link stood (rated / window passed / waiting, and when the window closes)."""
    kept: dict[str, Any] = {kind: {"at": e.at.isoformat(), **e.detail} for kind, e in found.items()}
    closes = chain.rating_window_closes_at
    kept["rating_status"] = {
        "status": chain.rating.value,
        "window_closes_at": closes.isoformat() if closes is not None else None,
    }
    return kept


async def create_settlement(
    session: AsyncSession, principal: Principal, data: SettlementIn, *, rating_window: timedelta | None
) -> SettlementBatch:
    """``rating_window``: how long after delivery a firm may rate (see vouchers.evidence)."""
    require_bureau_officer(principal)
    bureaus = principal.orgs_where(Role.bureau_officer)
    bureau_id = data.bureau_id or (next(iter(bureaus)) if len(bureaus) == 1 else None)
    if bureau_id is None or bureau_id not in bureaus:
        raise BureauRequired("请指定您所在的部门", field="bureau_id")
    if data.period_end < data.period_start or (data.period_end - data.period_start).days > MAX_PERIOD_DAYS:
        raise InvalidInput("结算期间有误（结束不早于开始，最长一年）", field="period_end")
    try:
        async with within_caller_transaction(session):
            bureau = await session.get(Organization, bureau_id)
            assert bureau is not None
            start, end = period_bounds(data.period_start, data.period_end)
            candidates = (
                await session.scalars(
                    select(VoucherCheckout)
                    .join(VoucherProgram, VoucherProgram.id == VoucherCheckout.program_id)
                    .outerjoin(
                        SettlementLine, SettlementLine.settles_booking_id == VoucherCheckout.booking_id
                    )
                    .where(
                        VoucherProgram.region_code == bureau.region_code,
                        VoucherCheckout.state == CheckoutState.captured,
                        VoucherCheckout.voucher_fen > 0,
                        VoucherCheckout.captured_at >= start,
                        VoucherCheckout.captured_at < end,
                        SettlementLine.id.is_(None),
                    )
                    .order_by(
                        VoucherCheckout.unit_id, VoucherCheckout.captured_at, VoucherCheckout.booking_id
                    )
                )
            ).all()
            evidence = await _evidence_of(session, [c.booking_id for c in candidates])
            now = utcnow()
            chains = {
                c.booking_id: completeness(
                    {kind: e.at for kind, e in evidence[c.booking_id].items()}, rating_window, now
                )
                for c in candidates
            }
            if not any(chain.complete for chain in chains.values()):
                # Nothing payable is free: say so, naming a draft that holds the period's bookings.
                await _refuse_if_a_draft_holds(session, bureau.region_code, start, end)
                if not candidates:
                    raise EmptySettlement()
            batch = SettlementBatch(
                bureau_id=bureau_id,
                region_code=bureau.region_code,
                period_start=data.period_start,
                period_end=data.period_end,
                status=SettlementStatus.draft,
                created_by=principal.user_id,
            )
            session.add(batch)
            await session.flush()
            total = held_back = 0
            for c in candidates:
                chain = chains[c.booking_id]
                included = chain.complete
                assert c.program_id is not None and c.captured_at is not None
                session.add(
                    SettlementLine(
                        batch_id=batch.id,
                        booking_id=c.booking_id,
                        settles_booking_id=c.booking_id if included else None,
                        program_id=c.program_id,
                        unit_id=c.unit_id,
                        enterprise_id=c.enterprise_id,
                        voucher_fen=c.voucher_fen,
                        fee_fen=c.fee_fen,
                        captured_at=c.captured_at,
                        included=included,
                        missing_evidence=chain.missing,
                        evidence=_line_evidence(evidence[c.booking_id], chain),
                    )
                )
                if included:
                    total += c.voucher_fen
                else:
                    held_back += c.voucher_fen
            batch.total_fen = total
            batch.held_back_fen = held_back
            await session.flush()
            return batch
    except IntegrityError as exc:  # a concurrent batch took some of the same bookings first
        raise SettlementBusy() from exc


async def _refuse_if_a_draft_holds(
    session: AsyncSession, region_code: str, start: datetime, end: datetime
) -> None:
    drafts = (
        await session.execute(
            select(
                SettlementBatch.id,
                SettlementBatch.period_start,
                SettlementBatch.period_end,
                func.count(SettlementLine.id),
                func.sum(SettlementLine.voucher_fen),
            )
            .join(SettlementLine, SettlementLine.batch_id == SettlementBatch.id)
            .join(VoucherCheckout, VoucherCheckout.booking_id == SettlementLine.settles_booking_id)
            .where(
                SettlementBatch.region_code == region_code,
                SettlementBatch.status == SettlementStatus.draft,
                VoucherCheckout.captured_at >= start,
                VoucherCheckout.captured_at < end,
            )
            .group_by(
                SettlementBatch.id,
                SettlementBatch.period_start,
                SettlementBatch.period_end,
                SettlementBatch.created_at,
            )
            .order_by(SettlementBatch.created_at.desc(), SettlementBatch.id)
        )
    ).all()
    if drafts:  # the latest drawn is named; every one is listed
        raise DraftHoldsBookings.naming(
            [DraftHolding(d[0], d[1], d[2], int(d[3]), int(d[4] or 0)) for d in drafts]
        )


async def get_batch(
    session: AsyncSession, principal: Principal, batch_id: uuid.UUID, *, lock: bool = False
) -> SettlementBatch:
    query = (
        select(SettlementBatch)
        .where(SettlementBatch.id == batch_id)
        .execution_options(populate_existing=True)
    )
    if lock:
        query = locked(query)
    batch = await session.scalar(query)
    if batch is None or not (principal.is_platform_admin or officer_of_region(principal, batch.region_code)):
        raise SettlementNotFound()
    return batch


async def _lines(session: AsyncSession, batch_id: uuid.UUID) -> list[SettlementLine]:
    rows = await session.scalars(
        select(SettlementLine).where(SettlementLine.batch_id == batch_id).order_by(SettlementLine.id)
    )
    return list(rows.all())


async def transition(
    session: AsyncSession,
    principal: Principal,
    batch_id: uuid.UUID,
    action: str,
    *,
    paid: MarkPaidIn | None = None,
) -> SettlementBatch:
    async with within_caller_transaction(session):
        batch = await get_batch(session, principal, batch_id, lock=True)
        if not officer_of_region(principal, batch.region_code):
            raise BureauRequired()
        if not check_step(batch, action, principal.user_id):
            return batch
        if action == "mark_paid":
            assert paid is not None
            await _post_settlement(session, batch, principal.user_id)
            batch.bank_reference = paid.bank_reference
        elif action == "discard":
            # Nothing was paid or promised: the lines stay for the record but settle nothing.
            await session.execute(
                update(SettlementLine)
                .where(SettlementLine.batch_id == batch.id)
                .values(settles_booking_id=None)
                .execution_options(synchronize_session=False)
            )
        elif action == "reconcile":
            report = await reconciliation(session, principal, batch_id)
            if not report.balanced:
                raise ReconciliationMismatch(report=report_dict(report))
        stamp_step(batch, action, principal.user_id)
        await session.flush()
        return batch


async def _post_settlement(session: AsyncSession, batch: SettlementBatch, actor_id: uuid.UUID) -> None:
    per_account: dict[tuple[uuid.UUID, uuid.UUID], int] = defaultdict(int)
    for line in await _lines(session, batch.id):
        if line.included:
            per_account[(line.program_id, line.unit_id)] += line.voucher_fen
    lines: list[tuple[str, int]] = []
    for (program_id, unit_id), amount in per_account.items():
        await open_settled_account(session, program_id, unit_id)
        lines += [
            (receivable_account(program_id, unit_id), -amount),
            (settled_account(program_id, unit_id), amount),
        ]
    await post_entry(
        session,
        Posting(
            key=f"settlement:{batch.id}",
            kind=EntryKind.settlement,
            lines=lines,
            settlement_id=batch.id,
            actor_id=actor_id,
            reason=f"兑付批次 {batch.period_start}–{batch.period_end} 已付款",
        ),
    )


def report_dict(report: ReconciliationOut) -> dict[str, Any]:
    return {f: getattr(report, f) for f in report.__struct_fields__}


async def _receivable_by_booking(session: AsyncSession, *conditions: Any) -> dict[uuid.UUID, int]:
    rows = await session.execute(
        select(JournalEntry.booking_id, func.sum(JournalLine.amount_fen))
        .join(JournalLine, JournalLine.entry_id == JournalEntry.id)
        .join(LedgerAccount, LedgerAccount.code == JournalLine.account_code)
        .where(
            LedgerAccount.kind == AccountKind.receivable,
            JournalEntry.kind.in_([EntryKind.capture, EntryKind.refund]),
            *conditions,
        )
        .group_by(JournalEntry.booking_id)
    )
    return {b: int(t) for b, t in rows.all() if b is not None}


async def reconciliation(
    session: AsyncSession, principal: Principal, batch_id: uuid.UUID
) -> ReconciliationOut:
    """Batch against ledger, to the fen: the batch's lines against the journal's captures (net of
    refunds) of the same bookings, the payment entry against the batch, and the period's captures
    split into this batch, held back, other batches and not yet listed."""
    batch = await get_batch(session, principal, batch_id)
    lines = await _lines(session, batch.id)
    included = {line.booking_id: line.voucher_fen for line in lines if line.included}
    ledger = (
        await _receivable_by_booking(session, JournalEntry.booking_id.in_(list(included))) if included else {}
    )
    mismatched = [
        {"booking_id": str(b), "batch_fen": amount, "ledger_fen": ledger.get(b, 0)}
        for b, amount in included.items()
        if ledger.get(b, 0) != amount
    ]
    settled = await session.scalar(
        select(func.coalesce(func.sum(JournalLine.amount_fen), 0))
        .join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
        .join(LedgerAccount, LedgerAccount.code == JournalLine.account_code)
        .where(JournalEntry.settlement_id == batch.id, LedgerAccount.kind == AccountKind.settled)
    )
    start, end = period_bounds(batch.period_start, batch.period_end)
    period = await _receivable_by_booking(
        session,
        JournalEntry.booking_id.in_(
            select(VoucherCheckout.booking_id)
            .join(VoucherProgram, VoucherProgram.id == VoucherCheckout.program_id)
            .where(
                VoucherProgram.region_code == batch.region_code,
                and_(VoucherCheckout.captured_at >= start, VoucherCheckout.captured_at < end),
            )
        ),
    )
    # Each captured booking of the period counts once: in this batch, else settled by another
    # batch (a live claim: a discarded draft's lines claim nothing), else held back here, else
    # not in any batch yet.
    claimed = (
        set(
            (
                await session.scalars(
                    select(SettlementLine.settles_booking_id).where(
                        SettlementLine.batch_id != batch.id,
                        SettlementLine.settles_booking_id.in_(list(period)),
                    )
                )
            ).all()
        )
        if period
        else set()
    )
    elsewhere = {b for b in period if b in claimed and b not in included}
    held_back = {line.booking_id for line in lines if not line.included and line.booking_id not in elsewhere}
    batch_total = sum(included.values())
    ledger_captured = sum(ledger.get(b, 0) for b in included)
    ledger_settled = int(settled or 0)
    paid = batch.status in (SettlementStatus.paid, SettlementStatus.reconciled)
    difference = (batch_total - ledger_captured) + ((batch_total - ledger_settled) if paid else 0)
    return ReconciliationOut(
        settlement_id=batch.id,
        batch_total_fen=batch_total,
        ledger_captured_fen=ledger_captured,
        ledger_settled_fen=ledger_settled,
        period_captured_fen=sum(period.values()),
        period_held_back_fen=sum(v for b, v in period.items() if b in held_back),
        period_settled_elsewhere_fen=sum(v for b, v in period.items() if b in elsewhere),
        period_unlisted_fen=sum(
            v for b, v in period.items() if not (b in included or b in elsewhere or b in held_back)
        ),
        difference_fen=difference,
        balanced=difference == 0 and not mismatched and batch_total == batch.total_fen,
        mismatched_lines=mismatched,
    )


def _rating_of(line: SettlementLine) -> dict[str, Any]:
    """How the rating link stood when the line was drawn (a line drawn before this was kept:
    rated if a rating was recorded, else waiting)."""
    kept = line.evidence.get("rating_status") or {}
    fallback = RatingStatus.rated if "rating" in line.evidence else RatingStatus.waiting
    status = RatingStatus(kept.get("status", fallback))
    closes = kept.get("window_closes_at")
    return {
        "rating_status": status,
        "rating_label": RATING_LABELS[status],
        "rating_window_closes_at": datetime.fromisoformat(closes) if closes else None,
    }


def line_out(line: SettlementLine, unit_name: str, enterprise_name: str, number: str) -> SettlementLineOut:
    return SettlementLineOut(
        booking_id=line.booking_id,
        booking_number=number,
        program_id=line.program_id,
        unit_id=line.unit_id,
        unit_name=unit_name,
        enterprise_id=line.enterprise_id,
        enterprise_name=enterprise_name,
        fee_fen=line.fee_fen,
        voucher_fen=line.voucher_fen,
        captured_at=line.captured_at,
        included=line.included,
        missing_evidence=list(line.missing_evidence),
        **_rating_of(line),
    )


async def batch_out(session: AsyncSession, batch: SettlementBatch) -> SettlementOut:
    lines = await _lines(session, batch.id)
    org_ids = {line.unit_id for line in lines} | {line.enterprise_id for line in lines}
    names = (
        {
            o.id: o.name
            for o in (await session.scalars(select(Organization).where(Organization.id.in_(org_ids)))).all()
        }
        if org_ids
        else {}
    )
    numbers = await booking_numbers(session, {line.booking_id for line in lines})
    outs = [
        line_out(
            line, names.get(line.unit_id, ""), names.get(line.enterprise_id, ""), numbers[line.booking_id]
        )
        for line in lines
    ]
    providers: dict[uuid.UUID, ProviderTotalOut] = {}
    for line in outs:
        if line.included:
            p = providers.setdefault(
                line.unit_id,
                ProviderTotalOut(unit_id=line.unit_id, unit_name=line.unit_name, lines=0, voucher_fen=0),
            )
            p.lines += 1
            p.voucher_fen += line.voucher_fen
    return SettlementOut(
        id=batch.id,
        bureau_id=batch.bureau_id,
        region_code=batch.region_code,
        period_start=batch.period_start,
        period_end=batch.period_end,
        status=batch.status,
        status_label=STATUS_LABELS[batch.status],
        total_fen=batch.total_fen,
        held_back_fen=batch.held_back_fen,
        bank_reference=batch.bank_reference,
        providers=list(providers.values()),
        lines=[line for line in outs if line.included],
        held_back=[line for line in outs if not line.included],
        created_at=batch.created_at,
        submitted_at=batch.submitted_at,
        approved_at=batch.approved_at,
        paid_at=batch.paid_at,
        reconciled_at=batch.reconciled_at,
    )
