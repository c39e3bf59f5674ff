"""The checkout's reads and writes, as statements built once at import.

The checkout runs on every confirmation and completion, so these are plain Core statements on the
session's own connection (SQLAlchemy then only binds parameters), not ORM queries.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import bindparam, case, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from accounts.models import Organization
from vouchers.models import (
    AccountKind,
    CheckoutEvidence,
    CheckoutState,
    GrantStatus,
    LedgerAccount,
    ProgramStatus,
    VoucherCheckout,
    VoucherGrant,
    VoucherProgram,
)
from vouchers.rules import ProgramRules
from yixiang.db import conflict_ignoring_inserts, utcnow
from yixiang.driver_statements import DriverStatement
from yixiang.locking import locked


@dataclass(frozen=True)
class ProgramTerms:
    """The columns of a programme the checkout needs."""

    id: uuid.UUID
    status: ProgramStatus
    coverage_bp: int
    per_order_cap_fen: int
    per_firm_year_cap_fen: int
    rules: ProgramRules


_PROGRAM_COLUMNS = (
    VoucherProgram.id,
    VoucherProgram.status,
    VoucherProgram.coverage_bp,
    VoucherProgram.per_order_cap_fen,
    VoucherProgram.per_firm_year_cap_fen,
    VoucherProgram.region_code,
    VoucherProgram.valid_from,
    VoucherProgram.valid_until,
    VoucherProgram.requires_tech_sme,
    VoucherProgram.accepted_region_codes,
    VoucherProgram.cross_region,
    VoucherProgram.accepted_unit_ids,
    VoucherProgram.accepted_category_codes,
)
_PROGRAM_SELECT = select(*_PROGRAM_COLUMNS).where(VoucherProgram.id == bindparam("p_program"))


def terms_from_row(row: Any, offset: int = 0) -> ProgramTerms:
    (
        pid,
        status,
        coverage,
        order_cap,
        firm_cap,
        region,
        start,
        end,
        sme,
        regions,
        cross,
        units,
        categories,
    ) = row[offset : offset + len(_PROGRAM_COLUMNS)]
    return ProgramTerms(
        id=pid,
        status=status,
        coverage_bp=coverage,
        per_order_cap_fen=order_cap,
        per_firm_year_cap_fen=firm_cap,
        rules=ProgramRules(
            region_code=region,
            valid_from=start,
            valid_until=end,
            requires_tech_sme=sme,
            accepted_region_codes=regions,
            cross_region=cross,
            accepted_unit_ids=units,
            accepted_category_codes=categories,
        ),
    )


@dataclass
class Grant:
    id: uuid.UUID
    status: GrantStatus
    expires_on: date
    created_at: datetime
    balance_fen: int
    program: ProgramTerms

    @property
    def usable(self) -> bool:
        return self.status == GrantStatus.active and self.program.status == ProgramStatus.active


@dataclass
class FirmGrants:
    grants: list[Grant]
    is_tech_sme: bool

    def program(self, program_id: uuid.UUID) -> ProgramTerms | None:
        return next((g.program for g in self.grants if g.program.id == program_id), None)


_FIRM_GRANTS = (
    select(
        VoucherGrant.id,
        VoucherGrant.status,
        VoucherGrant.expires_on,
        VoucherGrant.created_at,
        LedgerAccount.balance_fen,
        Organization.is_tech_sme,
        *_PROGRAM_COLUMNS,
    )
    .join(VoucherProgram, VoucherProgram.id == VoucherGrant.program_id)
    .join(
        LedgerAccount, (LedgerAccount.grant_id == VoucherGrant.id) & (LedgerAccount.kind == AccountKind.grant)
    )
    .join(Organization, Organization.id == VoucherGrant.enterprise_id)
    .where(VoucherGrant.enterprise_id == bindparam("p_firm"), VoucherGrant.status == GrantStatus.active)
    .order_by(VoucherGrant.id)
)
# Lock the balance rows too: READ COMMITTED hands back the newest version of a row it locked,
# while an unlocked joined row would be read as of the statement's start, i.e. from before the
# wait for the lock (a stale balance).
_FIRM_GRANTS_LOCKED = DriverStatement(locked(_FIRM_GRANTS, VoucherGrant, LedgerAccount))
_FIRM_GRANTS_UNLOCKED = DriverStatement(_FIRM_GRANTS)


async def lock_firm_grants(session: AsyncSession, enterprise_id: uuid.UUID) -> FirmGrants:
    """Every active grant of the firm with its programme and balance, locked in id order."""
    rows = await _FIRM_GRANTS_LOCKED.all(await session.connection(), {"p_firm": enterprise_id})
    return _firm_grants(rows)


async def read_firm_grants(conn: AsyncConnection, enterprise_id: uuid.UUID) -> FirmGrants:
    """The same, without locks: for an estimate, which neither waits for a checkout nor blocks one."""
    return _firm_grants(await _FIRM_GRANTS_UNLOCKED.all(conn, {"p_firm": enterprise_id}))


def _firm_grants(rows: Any) -> FirmGrants:
    return FirmGrants(
        grants=[Grant(r[0], r[1], r[2], r[3], int(r[4]), terms_from_row(r, 6)) for r in rows],
        is_tech_sme=bool(rows[0][5]) if rows else False,
    )


@dataclass(frozen=True)
class CheckoutRow:
    state: CheckoutState
    program_id: uuid.UUID | None
    usage_year: int
    held_fen: int
    fee_fen: int
    voucher_fen: int
    due_fen: int


_CHECKOUT_SELECT_LOCKED = locked(
    select(
        VoucherCheckout.state,
        VoucherCheckout.program_id,
        VoucherCheckout.usage_year,
        VoucherCheckout.held_fen,
        VoucherCheckout.fee_fen,
        VoucherCheckout.voucher_fen,
        VoucherCheckout.due_fen,
    ).where(VoucherCheckout.booking_id == bindparam("p_booking"))
)
CHECKOUT_FIRM = select(VoucherCheckout.enterprise_id).where(
    VoucherCheckout.booking_id == bindparam("p_booking")
)
CHECKOUT_INSERT = DriverStatement(insert(VoucherCheckout))
CHECKOUT_CAPTURED = (
    update(VoucherCheckout)
    .where(VoucherCheckout.booking_id == bindparam("p_booking"))
    .values(
        program_id=bindparam("p_program"),
        state=CheckoutState.captured,
        fee_fen=bindparam("p_fee"),
        voucher_fen=bindparam("p_voucher"),
        due_fen=bindparam("p_due"),
        captured_at=bindparam("p_now"),
        updated_at=bindparam("p_now"),
    )
)
CHECKOUT_RELEASED = (
    update(VoucherCheckout)
    .where(VoucherCheckout.booking_id == bindparam("p_booking"))
    .values(
        state=CheckoutState.released,
        # What the firm still owes is the late-cancellation fee, if any; vouchers pay for services
        # rendered, not for a cancellation, so none of it is a voucher share.
        fee_fen=bindparam("p_fee"),
        voucher_fen=0,
        due_fen=bindparam("p_fee"),
        released_at=bindparam("p_now"),
        release_reason=bindparam("p_reason"),
        updated_at=bindparam("p_now"),
    )
)


async def read_checkout(conn: AsyncConnection, booking_id: uuid.UUID) -> CheckoutRow | None:
    row = (await conn.execute(_CHECKOUT_SELECT_LOCKED, {"p_booking": booking_id})).first()
    return CheckoutRow(*row) if row is not None else None


async def lock_checkout(session: AsyncSession, booking_id: uuid.UUID) -> VoucherCheckout | None:
    """The checkout as an ORM object, locked (for the rarer paths that edit it: refunds)."""
    query = locked(select(VoucherCheckout).where(VoucherCheckout.booking_id == booking_id))
    return await session.scalar(query.execution_options(populate_existing=True))


# What a checkout counts against its firm's yearly cap: its hold while held, its share once captured.
_USED = func.coalesce(
    func.sum(
        case(
            (VoucherCheckout.state == CheckoutState.held, VoucherCheckout.held_fen),
            else_=VoucherCheckout.voucher_fen,
        )
    ),
    0,
)
_COUNTED = VoucherCheckout.state.in_([CheckoutState.held, CheckoutState.captured])
_FIRM_USAGE = DriverStatement(
    select(_USED).where(
        VoucherCheckout.enterprise_id == bindparam("p_firm"),
        VoucherCheckout.program_id == bindparam("p_program"),
        VoucherCheckout.usage_year == bindparam("p_year"),
        _COUNTED,
        VoucherCheckout.booking_id != bindparam("p_booking"),
    )
)


async def firm_usage_fen(
    conn: AsyncConnection, enterprise_id: uuid.UUID, program_id: uuid.UUID, year: int, booking_id: uuid.UUID
) -> int:
    """What the firm already holds or captured under the programme this year (other bookings)."""
    row = await _FIRM_USAGE.first(
        conn,
        {
            "p_firm": enterprise_id,
            "p_program": program_id,
            "p_year": year,
            "p_booking": booking_id,
        },
    )
    return int(row[0] or 0) if row is not None else 0


async def firm_usage_by_program(
    conn: AsyncConnection,
    enterprise_id: uuid.UUID,
    program_ids: Iterable[uuid.UUID],
    year: int,
    booking_id: uuid.UUID,
) -> dict[uuid.UUID, int]:
    """``firm_usage_fen`` of each programme (a firm rarely has more than one with a balance)."""
    return {p: await firm_usage_fen(conn, enterprise_id, p, year, booking_id) for p in program_ids}


async def firm_usage_all_programs(
    conn: AsyncConnection, enterprise_id: uuid.UUID, program_ids: Iterable[uuid.UUID], year: int
) -> dict[uuid.UUID, int]:
    """``firm_usage_fen`` of every programme given, in one query (a statement lists every
    programme a firm ever had a grant of: one a year)."""
    ids = list(program_ids)
    used = dict.fromkeys(ids, 0)
    if ids:
        rows = await conn.execute(
            select(VoucherCheckout.program_id, _USED)
            .where(
                VoucherCheckout.enterprise_id == enterprise_id,
                VoucherCheckout.program_id.in_(ids),
                VoucherCheckout.usage_year == year,
                _COUNTED,
            )
            .group_by(VoucherCheckout.program_id)
        )
        used.update({program_id: int(total) for program_id, total in rows.all()})
    return used


async def program_terms(conn: AsyncConnection, program_id: uuid.UUID) -> ProgramTerms:
    row = (await conn.execute(_PROGRAM_SELECT, {"p_program": program_id})).one()
    return terms_from_row(row)


_EVIDENCE_INSERT = {
    dialect: DriverStatement(statement)
    for dialect, statement in conflict_ignoring_inserts(CheckoutEvidence, ["booking_id", "kind"]).items()
}


async def store_evidence(
    session: AsyncSession, booking_id: uuid.UUID, kind: str, at: datetime, detail: dict[str, Any]
) -> None:
    conn = await session.connection()
    await _EVIDENCE_INSERT[conn.dialect.name].run(
        conn,
        {"booking_id": booking_id, "kind": kind, "at": at, "detail": detail, "recorded_at": utcnow()},
    )
