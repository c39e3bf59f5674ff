"""Reward programmes and batches: the finance bureau's terms, and the batches drawn from them.

A batch goes the settlement's way (``vouchers.settlement.check_step`` / ``stamp_step``): draft →
submitted → approved → paid → reconciled, a draft may be discarded. A bureau officer of the
region (科技局 or 财政局) draws and submits it (the service records are reviewed: "经审核后");
the region's finance bureau approves — never the officer who submitted it —, records the payment
and reconciles. Approval posts the amounts from the reward budget to each unit's payable, payment
from payable to paid (``vouchers.ledger``), so ``/ledger/check`` covers them. One live batch per
programme: a unit is never rewarded twice for a year.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from accounts.models import BureauKind, Organization, Role
from booking.models import Booking
from catalogue.models import Instrument, ServiceItem
from oversight.errors import (
    FinanceBureauRequired,
    NothingToReward,
    RegionBureauRequired,
    RewardBatchExists,
    RewardBatchNotFound,
    RewardLedgerMismatch,
    RewardLineNotFound,
    RewardProgrammeExists,
    RewardProgrammeLocked,
    RewardProgrammeNotFound,
    RewardYearOpen,
)
from oversight.reward_models import (
    RewardBatch,
    RewardEvidence,
    RewardItem,
    RewardKind,
    RewardLine,
    RewardProgramme,
)
from oversight.reward_schemas import (
    RewardBatchOut,
    RewardBatchSummaryOut,
    RewardEvidenceOut,
    RewardItemOut,
    RewardLineOut,
    RewardProgrammeIn,
    RewardProgrammeOut,
    RewardReconciliationOut,
    RewardTermsIn,
)
from oversight.rewards import compute
from vouchers.access import officer_of_region
from vouchers.checkout import within_caller_transaction
from vouchers.ledger import Posting, open_account, post_entry
from vouchers.models import (
    AccountKind,
    CheckoutEvidence,
    EntryKind,
    JournalEntry,
    JournalLine,
    LedgerAccount,
    SettlementStatus,
    VoucherCheckout,
)
from vouchers.schemas import MarkPaidIn
from vouchers.settlement import check_step, stamp_step
from vouchers.settlement_export import STATUS_LABELS
from vouchers.statements import booking_numbers
from yixiang.clock import shanghai_today
from yixiang.locking import locked

KIND_LABELS = {RewardKind.sharing: "共享奖励", RewardKind.insurance: "共享保补助"}
NOUN = "奖励批次"
# the year's published grades: unit id → 优秀 / 良好 / 合格 / 较差 ({} while unpublished)
GradesReader = Callable[[AsyncSession, str, int], Awaitable[Mapping[uuid.UUID, str]]]
TERMS = tuple(RewardTermsIn.__struct_fields__)


def reward_budget_account(programme_id: uuid.UUID) -> str:
    return f"reward_budget:{programme_id}"


def reward_payable_account(programme_id: uuid.UUID, unit_id: uuid.UUID) -> str:
    return f"reward_payable:{programme_id}:{unit_id}"


def reward_paid_account(programme_id: uuid.UUID, unit_id: uuid.UUID) -> str:
    return f"reward_paid:{programme_id}:{unit_id}"


# --- who may --------------------------------------------------------------------------------------
def reads_region(principal: Principal, region_code: str) -> bool:
    return principal.is_platform_admin or officer_of_region(principal, region_code)


async def finance_bureaus(session: AsyncSession, principal: Principal) -> list[Organization]:
    """The finance bureaus (财政局) the caller is an officer of."""
    mine = principal.orgs_where(Role.bureau_officer)
    if not mine:
        return []
    rows = await session.scalars(
        select(Organization)
        .where(Organization.id.in_(mine), Organization.bureau_kind == BureauKind.finance)
        .order_by(Organization.id)
    )
    return list(rows.all())


async def require_finance_of(session: AsyncSession, principal: Principal, region_code: str) -> None:
    if not any(b.region_code == region_code for b in await finance_bureaus(session, principal)):
        raise FinanceBureauRequired()


# --- programmes -----------------------------------------------------------------------------------
async def _live_batch(session: AsyncSession, programme_id: uuid.UUID) -> uuid.UUID | None:
    found = await session.scalar(select(RewardBatch.id).where(RewardBatch.live_programme_id == programme_id))
    return found


async def programme_out(session: AsyncSession, programme: RewardProgramme) -> RewardProgrammeOut:
    return RewardProgrammeOut(
        id=programme.id,
        bureau_id=programme.bureau_id,
        region_code=programme.region_code,
        year=programme.year,
        name=programme.name,
        **{f: getattr(programme, f) for f in TERMS if f != "name"},
        editable=await _live_batch(session, programme.id) is None,
        updated_at=programme.updated_at,
    )


async def create_programme(
    session: AsyncSession, principal: Principal, data: RewardProgrammeIn
) -> RewardProgramme:
    bureaus = {b.id: b for b in await finance_bureaus(session, principal)}
    bureau_id = data.bureau_id or (next(iter(bureaus)) if len(bureaus) == 1 else None)
    if bureau_id is None or bureau_id not in bureaus:
        raise FinanceBureauRequired()
    bureau = bureaus[bureau_id]
    existing = await session.scalar(
        select(RewardProgramme.id).where(
            RewardProgramme.region_code == bureau.region_code, RewardProgramme.year == data.year
        )
    )
    if existing is not None:
        raise RewardProgrammeExists(programme_id=str(existing))
    programme = RewardProgramme(
        bureau_id=bureau.id,
        region_code=bureau.region_code,
        year=data.year,
        created_by=principal.user_id,
        **{f: getattr(data, f) for f in TERMS},
    )
    programme.name = data.name or f"{data.year}年度{bureau.name.removesuffix('财政局')}大型科研仪器共享奖励"
    try:
        async with within_caller_transaction(session):
            session.add(programme)
            await session.flush()
    except IntegrityError as exc:  # another officer created it meanwhile
        raise RewardProgrammeExists() from exc
    return programme


async def get_programme(
    session: AsyncSession, principal: Principal, programme_id: uuid.UUID, *, lock: bool = False
) -> RewardProgramme:
    query = select(RewardProgramme).where(RewardProgramme.id == programme_id)
    programme = await session.scalar(locked(query) if lock else query)
    if programme is None or not reads_region(principal, programme.region_code):
        raise RewardProgrammeNotFound()
    return programme


async def update_programme(
    session: AsyncSession, principal: Principal, programme_id: uuid.UUID, data: RewardTermsIn
) -> RewardProgramme:
    programme = await get_programme(session, principal, programme_id, lock=True)
    await require_finance_of(session, principal, programme.region_code)
    if (batch := await _live_batch(session, programme.id)) is not None:
        raise RewardProgrammeLocked(batch_id=str(batch))
    for f in TERMS:
        if f != "name" or data.name:
            setattr(programme, f, getattr(data, f))
    programme.updated_by = principal.user_id
    await session.flush()
    return programme


def require_bureau_or_platform(principal: Principal) -> None:
    if not (principal.is_platform_admin or principal.has_role(Role.bureau_officer)):
        raise RegionBureauRequired()


async def list_programmes(session: AsyncSession, principal: Principal) -> list[RewardProgramme]:
    require_bureau_or_platform(principal)
    query = select(RewardProgramme).order_by(RewardProgramme.year.desc(), RewardProgramme.region_code)
    if not principal.is_platform_admin:
        query = query.where(RewardProgramme.region_code.in_(principal.regions_where(Role.bureau_officer)))
    return list((await session.scalars(query)).all())


# --- batches --------------------------------------------------------------------------------------
async def draw_batch(
    session: AsyncSession, principal: Principal, programme_id: uuid.UUID, grades: GradesReader
) -> RewardBatch:
    """A draft batch of the programme's year from the records (the year must be over)."""
    programme = await get_programme(session, principal, programme_id, lock=True)
    if not officer_of_region(principal, programme.region_code):
        raise RegionBureauRequired()
    if programme.year >= shanghai_today().year:
        raise RewardYearOpen(year=programme.year)
    if (live := await _live_batch(session, programme.id)) is not None:
        raise RewardBatchExists(batch_id=str(live))
    published = await grades(session, programme.region_code, programme.year)
    units = await compute(session, programme, published)
    if not units:
        raise NothingToReward(year=programme.year)
    bureau_id = next(
        (b.id for b in await finance_bureaus(session, principal) if b.region_code == programme.region_code),
        programme.bureau_id,
    )
    try:
        async with within_caller_transaction(session):
            batch = RewardBatch(
                programme_id=programme.id,
                live_programme_id=programme.id,
                bureau_id=bureau_id,
                region_code=programme.region_code,
                year=programme.year,
                status=SettlementStatus.draft,
                grades_published=bool(published),
                created_by=principal.user_id,
            )
            session.add(batch)
            await session.flush()
            for unit in units:
                line = RewardLine(
                    batch_id=batch.id,
                    unit_id=unit.unit_id,
                    sharing_fen=unit.sharing_fen,
                    insurance_fen=unit.insurance_fen,
                    amount_fen=unit.amount_fen,
                    unit_capped=unit.unit_capped,
                    grade=unit.grade,
                )
                session.add(line)
                await session.flush()
                for figure in [*unit.sharing, *unit.insurance]:
                    item = RewardItem(
                        line_id=line.id,
                        batch_id=batch.id,
                        instrument_id=figure.instrument_id,
                        kind=figure.kind,
                        basis_fen=figure.basis_fen,
                        bookings=len(figure.bookings),
                        computed_fen=figure.computed_fen,
                        capped_fen=figure.capped_fen,
                        amount_fen=figure.amount_fen,
                    )
                    session.add(item)
                    await session.flush()
                    session.add_all(
                        RewardEvidence(
                            item_id=item.id,
                            batch_id=batch.id,
                            booking_id=c.booking_id,
                            fee_fen=c.fee_fen,
                            completed_at=c.completed_at,
                        )
                        for c in figure.bookings
                    )
            batch.sharing_fen = sum(u.sharing_fen for u in units)
            batch.insurance_fen = sum(u.insurance_fen for u in units)
            batch.total_fen = batch.sharing_fen + batch.insurance_fen
            await session.flush()
    except IntegrityError as exc:  # another officer drew one meanwhile
        raise RewardBatchExists() from exc
    return batch


async def get_batch(
    session: AsyncSession, principal: Principal, batch_id: uuid.UUID, *, lock: bool = False
) -> RewardBatch:
    query = select(RewardBatch).where(RewardBatch.id == batch_id).execution_options(populate_existing=True)
    batch = await session.scalar(locked(query) if lock else query)
    if batch is None or not reads_region(principal, batch.region_code):
        raise RewardBatchNotFound()
    return batch


async def list_batches(session: AsyncSession, principal: Principal) -> list[RewardBatchSummaryOut]:
    require_bureau_or_platform(principal)
    units = (
        select(RewardLine.batch_id, func.count(RewardLine.id).label("units"))
        .group_by(RewardLine.batch_id)
        .subquery()
    )
    query = (
        select(RewardBatch, units.c.units)
        .outerjoin(units, units.c.batch_id == RewardBatch.id)
        .order_by(RewardBatch.created_at.desc(), RewardBatch.id)
    )
    if not principal.is_platform_admin:
        query = query.where(RewardBatch.region_code.in_(principal.regions_where(Role.bureau_officer)))
    return [
        RewardBatchSummaryOut(
            id=b.id,
            programme_id=b.programme_id,
            region_code=b.region_code,
            year=b.year,
            status=b.status,
            status_label=STATUS_LABELS[b.status],
            units=int(n or 0),
            sharing_fen=b.sharing_fen,
            insurance_fen=b.insurance_fen,
            total_fen=b.total_fen,
            created_at=b.created_at,
        )
        for b, n in (await session.execute(query)).all()
    ]


async def transition(
    session: AsyncSession,
    principal: Principal,
    batch_id: uuid.UUID,
    action: str,
    *,
    paid: MarkPaidIn | None = None,
) -> RewardBatch:
    async with within_caller_transaction(session):
        batch = await get_batch(session, principal, batch_id, lock=True)
        if action in ("submit", "discard"):
            if not officer_of_region(principal, batch.region_code):
                raise RegionBureauRequired()
        else:
            await require_finance_of(session, principal, batch.region_code)
        if not check_step(batch, action, principal.user_id, noun=NOUN):
            return batch
        if action == "approve":
            await _post(session, batch, principal.user_id, "approved")
        elif action == "mark_paid":
            assert paid is not None
            await _post(session, batch, principal.user_id, "paid")
            batch.bank_reference = paid.bank_reference
        elif action == "discard":
            batch.live_programme_id = None  # nothing was promised: the programme may draw again
        elif action == "reconcile":
            report = await reconciliation(session, principal, batch.id)
            if not report.balanced:
                raise RewardLedgerMismatch(difference_fen=report.difference_fen)
        stamp_step(batch, action, principal.user_id)
        await session.flush()
        return batch


def _entry_key(batch_id: uuid.UUID, step: str) -> str:
    return f"reward-{step}:{batch_id}"


async def _post(session: AsyncSession, batch: RewardBatch, actor_id: uuid.UUID, step: str) -> None:
    """Approved: reward budget → each unit's payable; paid: payable → paid."""
    lines = await batch_lines(session, batch.id)
    budget = reward_budget_account(batch.programme_id)
    await open_account(session, budget, AccountKind.reward_budget, None, may_go_negative=True)
    postings: list[tuple[str, int]] = []
    for line in lines:
        payable = reward_payable_account(batch.programme_id, line.unit_id)
        if step == "approved":
            await open_account(session, payable, AccountKind.reward_payable, None, unit_id=line.unit_id)
            postings += [(budget, -line.amount_fen), (payable, line.amount_fen)]
        else:
            paid = reward_paid_account(batch.programme_id, line.unit_id)
            await open_account(session, paid, AccountKind.reward_paid, None, unit_id=line.unit_id)
            postings += [(payable, -line.amount_fen), (paid, line.amount_fen)]
    await post_entry(
        session,
        Posting(
            key=_entry_key(batch.id, step),
            kind=EntryKind.reward,
            lines=postings,
            actor_id=actor_id,
            reason=f"{batch.year}年度共享奖励批次{'已审核' if step == 'approved' else '已付款'}",
        ),
    )


async def _entry_total(session: AsyncSession, key: str, kind: AccountKind) -> int:
    total = await session.scalar(
        select(func.coalesce(func.sum(JournalLine.amount_fen), 0))
        .join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
        .join(LedgerAccount, LedgerAccount.code == JournalLine.account_code)
        .where(JournalEntry.key == key, LedgerAccount.kind == kind)
    )
    return int(total or 0)


async def reconciliation(
    session: AsyncSession, principal: Principal, batch_id: uuid.UUID
) -> RewardReconciliationOut:
    """The batch against the ledger, to the fen: what approval moved to the payables and what
    payment moved to paid, against the lines' total."""
    batch = await get_batch(session, principal, batch_id)
    lines_total = sum(line.amount_fen for line in await batch_lines(session, batch.id))
    approved = await _entry_total(session, _entry_key(batch.id, "approved"), AccountKind.reward_payable)
    paid = await _entry_total(session, _entry_key(batch.id, "paid"), AccountKind.reward_paid)
    difference = 0
    if batch.status in (SettlementStatus.approved, SettlementStatus.paid, SettlementStatus.reconciled):
        difference += lines_total - approved
    if batch.status in (SettlementStatus.paid, SettlementStatus.reconciled):
        difference += lines_total - paid
    return RewardReconciliationOut(
        batch_id=batch.id,
        total_fen=batch.total_fen,
        ledger_approved_fen=approved,
        ledger_paid_fen=paid,
        difference_fen=difference,
        balanced=difference == 0 and lines_total == batch.total_fen,
    )


# --- reading a batch ------------------------------------------------------------------------------
async def batch_lines(session: AsyncSession, batch_id: uuid.UUID) -> list[RewardLine]:
    rows = await session.scalars(
        select(RewardLine).where(RewardLine.batch_id == batch_id).order_by(RewardLine.id)
    )
    return list(rows.all())


async def _names(session: AsyncSession, model: Any, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    rows = await session.execute(select(model.id, model.name).where(model.id.in_(ids)))
    return {i: n for i, n in rows.all()}


def evidence_url(batch_id: uuid.UUID, unit_id: uuid.UUID) -> str:
    return f"/api/v1/reward-batches/{batch_id}/lines/{unit_id}/bookings"


async def lines_out(
    session: AsyncSession, batches: list[RewardBatch], lines: list[RewardLine]
) -> list[RewardLineOut]:
    by_id = {b.id: b for b in batches}
    items = (
        (
            await session.scalars(
                select(RewardItem)
                .where(RewardItem.line_id.in_([line.id for line in lines]))
                .order_by(RewardItem.line_id, RewardItem.kind, RewardItem.amount_fen.desc(), RewardItem.id)
            )
        ).all()
        if lines
        else []
    )
    instruments = await _names(session, Instrument, {i.instrument_id for i in items})
    units = await _names(session, Organization, {line.unit_id for line in lines})
    per_line: dict[int, list[RewardItemOut]] = {}
    for i in items:
        per_line.setdefault(i.line_id, []).append(
            RewardItemOut(
                instrument_id=i.instrument_id,
                instrument_name=instruments.get(i.instrument_id, ""),
                kind=i.kind,
                kind_label=KIND_LABELS[i.kind],
                basis_fen=i.basis_fen,
                bookings=i.bookings,
                computed_fen=i.computed_fen,
                capped_fen=i.capped_fen,
                amount_fen=i.amount_fen,
            )
        )
    return [
        RewardLineOut(
            batch_id=line.batch_id,
            year=by_id[line.batch_id].year,
            region_code=by_id[line.batch_id].region_code,
            status=by_id[line.batch_id].status,
            status_label=STATUS_LABELS[by_id[line.batch_id].status],
            unit_id=line.unit_id,
            unit_name=units.get(line.unit_id, ""),
            grade=line.grade,
            sharing_fen=line.sharing_fen,
            insurance_fen=line.insurance_fen,
            amount_fen=line.amount_fen,
            unit_capped=line.unit_capped,
            items=per_line.get(line.id, []),
            evidence_url=evidence_url(line.batch_id, line.unit_id),
        )
        for line in lines
    ]


async def batch_out(session: AsyncSession, batch: RewardBatch) -> RewardBatchOut:
    lines = await lines_out(session, [batch], await batch_lines(session, batch.id))
    return RewardBatchOut(
        id=batch.id,
        programme_id=batch.programme_id,
        bureau_id=batch.bureau_id,
        region_code=batch.region_code,
        year=batch.year,
        status=batch.status,
        status_label=STATUS_LABELS[batch.status],
        sharing_fen=batch.sharing_fen,
        insurance_fen=batch.insurance_fen,
        total_fen=batch.total_fen,
        grades_published=batch.grades_published,
        bank_reference=batch.bank_reference,
        lines=sorted(lines, key=lambda line: (-line.amount_fen, line.unit_name)),
        created_at=batch.created_at,
        submitted_at=batch.submitted_at,
        approved_at=batch.approved_at,
        paid_at=batch.paid_at,
        reconciled_at=batch.reconciled_at,
    )


async def unit_lines(session: AsyncSession, principal: Principal) -> list[RewardLineOut]:
    """The caller's units' lines in every batch not discarded, newest year first."""
    units = principal.unit_ids
    if not units:
        return []
    rows = (
        await session.execute(
            select(RewardLine, RewardBatch)
            .join(RewardBatch, RewardBatch.id == RewardLine.batch_id)
            .where(RewardLine.unit_id.in_(units), RewardBatch.status != SettlementStatus.discarded)
            .order_by(RewardBatch.year.desc(), RewardBatch.created_at.desc(), RewardLine.id)
        )
    ).all()
    return await lines_out(session, [b for _, b in rows], [line for line, _ in rows])


async def line_evidence(
    session: AsyncSession, principal: Principal, batch_id: uuid.UUID, unit_id: uuid.UUID
) -> list[RewardEvidenceOut]:
    """The bookings a unit's sharing reward counted, with links to their records: for the
    region's bureaus, the platform and the unit itself."""
    batch = await session.get(RewardBatch, batch_id)
    own = unit_id in principal.unit_ids
    if batch is None or not (own or reads_region(principal, batch.region_code)):
        raise RewardBatchNotFound()
    line = await session.scalar(
        select(RewardLine.id).where(RewardLine.batch_id == batch_id, RewardLine.unit_id == unit_id)
    )
    if line is None:
        raise RewardLineNotFound()
    rows = (
        await session.execute(
            select(RewardEvidence, RewardItem.instrument_id, Booking.enterprise_id, ServiceItem.name)
            .join(RewardItem, RewardItem.id == RewardEvidence.item_id)
            .join(Booking, Booking.id == RewardEvidence.booking_id)
            .outerjoin(ServiceItem, ServiceItem.id == Booking.service_item_id)
            .where(RewardItem.line_id == line)
            .order_by(RewardItem.instrument_id, RewardEvidence.completed_at, RewardEvidence.id)
        )
    ).all()
    instruments = await _names(session, Instrument, {r[1] for r in rows})
    firms = await _names(session, Organization, {r[2] for r in rows})
    booking_ids = [r[0].booking_id for r in rows]
    numbers = await booking_numbers(session, booking_ids)
    checkouts = (
        {
            c.booking_id: c
            for c in (
                await session.scalars(
                    select(VoucherCheckout).where(VoucherCheckout.booking_id.in_(booking_ids))
                )
            ).all()
        }
        if booking_ids
        else {}
    )
    records: dict[uuid.UUID, dict[str, dict[str, Any]]] = defaultdict(dict)
    if booking_ids:
        for e in (
            await session.scalars(
                select(CheckoutEvidence).where(CheckoutEvidence.booking_id.in_(booking_ids))
            )
        ).all():
            records[e.booking_id][e.kind] = {"at": e.at.isoformat(), **e.detail}
    return [
        RewardEvidenceOut(
            booking_id=e.booking_id,
            booking_number=numbers[e.booking_id],
            instrument_id=instrument_id,
            instrument_name=instruments.get(instrument_id, ""),
            enterprise_name=firms.get(firm, ""),
            service_item=item_name or "",
            fee_fen=e.fee_fen,
            voucher_fen=checkouts[e.booking_id].voucher_fen if e.booking_id in checkouts else 0,
            paid_fen=checkouts[e.booking_id].paid_fen if e.booking_id in checkouts else 0,
            payment_reference=checkouts[e.booking_id].payment_reference if e.booking_id in checkouts else "",
            completed_at=e.completed_at,
            records=records.get(e.booking_id, {}),
            statement_url=f"/api/v1/bookings/{e.booking_id}/statement",
        )
        for e, instrument_id, firm, item_name in rows
    ]
