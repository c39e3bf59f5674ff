"""A voucher estimate (what a quote shows before booking) is what the hold then takes: the same
rules, read without locks, writing nothing."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from accounts.auth import load_user, principal_from_user
from accounts.models import Role, User
from bot.adapters import build_ports
from tests.booking.world import machine_time, make_instrument, set_calendar
from tests.vouchers.desk import VoucherDesk, new_org, new_user, order, today
from vouchers.checkout import CheckoutOrder, hold_voucher_share
from vouchers.checkout_store import FirmGrants, Grant, ProgramTerms
from vouchers.estimate import estimate_order, estimate_voucher_share
from vouchers.models import (
    GrantStatus,
    JournalEntry,
    LedgerAccount,
    ProgramStatus,
    VoucherCheckout,
    VoucherProgram,
)
from vouchers.rules import ProgramRules


async def _estimate(world: VoucherDesk, o: CheckoutOrder) -> int:
    async with world.backend.runtime.session_maker() as session:
        return await estimate_order(session, o)


async def _ratio(world: VoucherDesk) -> tuple[CheckoutOrder, int]:
    firm, _ = await world.firm_with_grant(1_000_000)
    return order(firm, 300_001), 150_000  # half, rounded down to the fen


async def _per_order_cap(world: VoucherDesk) -> tuple[CheckoutOrder, int]:
    firm, _ = await world.firm_with_grant(5_000_000, per_order_cap_fen=300_000)
    return order(firm, 10_000_000), 300_000


async def _per_firm_cap(world: VoucherDesk) -> tuple[CheckoutOrder, int]:
    firm, _ = await world.firm_with_grant(5_000_000, per_order_cap_fen=300_000, per_firm_year_cap_fen=500_000)
    assert await world.run(hold_voucher_share, order(firm, 10_000_000)) == 300_000
    return order(firm, 10_000_000), 200_000  # what the year's cap leaves


async def _expired_grant(world: VoucherDesk) -> tuple[CheckoutOrder, int]:
    firm, program = await world.firm_with_grant(1_000_000)
    async with world.backend.runtime.session_maker() as session, session.begin():
        await session.execute(
            update(VoucherProgram)
            .where(VoucherProgram.id == uuid.UUID(program["id"]))
            .values(valid_until=today() - timedelta(days=1))
        )
    return order(firm, 200_000), 0


async def _ineligible_category(world: VoucherDesk) -> tuple[CheckoutOrder, int]:
    firm, _ = await world.firm_with_grant(1_000_000, accepted_category_codes=["03"])
    return order(firm, 200_000, category_code="0201"), 0


async def _zero_balance(world: VoucherDesk) -> tuple[CheckoutOrder, int]:
    firm, _ = await world.firm_with_grant(100_000)
    assert await world.run(hold_voucher_share, order(firm, 200_000)) == 100_000  # all of it held
    return order(firm, 200_000), 0


async def _balance_below_the_share(world: VoucherDesk) -> tuple[CheckoutOrder, int]:
    firm, _ = await world.firm_with_grant(60_000)
    return order(firm, 200_000), 60_000


async def _the_soonest_expiring_programme(world: VoucherDesk) -> tuple[CheckoutOrder, int]:
    firm = await new_org(world.backend)
    late = await world.program(valid_until=str(today() + timedelta(days=300)), coverage_bp=8000)
    soon = await world.program(valid_until=str(today() + timedelta(days=10)), coverage_bp=2000)
    await world.grant(late["id"], firm, 1_000_000)
    await world.grant(soon["id"], firm, 1_000_000)
    return order(firm, 200_000), 40_000  # the soon-expiring programme's 20%, ratios never stack


async def _no_voucher_for_the_instrument(world: VoucherDesk) -> tuple[CheckoutOrder, int]:
    firm, _ = await world.firm_with_grant(1_000_000)
    return order(firm, 200_000, voucher_eligible=False), 0


CASES: dict[str, Callable[[VoucherDesk], Awaitable[tuple[CheckoutOrder, int]]]] = {
    "ratio": _ratio,
    "per-order cap": _per_order_cap,
    "per-firm year cap": _per_firm_cap,
    "expired grant": _expired_grant,
    "ineligible category": _ineligible_category,
    "zero balance": _zero_balance,
    "balance below the share": _balance_below_the_share,
    "soonest-expiring programme": _the_soonest_expiring_programme,
    "instrument takes no vouchers": _no_voucher_for_the_instrument,
}


@pytest.mark.parametrize("case", list(CASES))
async def test_the_estimate_is_what_the_hold_then_takes(world: VoucherDesk, case: str) -> None:
    o, expected = await CASES[case](world)
    estimated = await _estimate(world, o)
    held = await world.run(hold_voucher_share, o)
    assert (estimated, held) == (expected, expected)


async def _ledger(world: VoucherDesk) -> Any:
    async with world.backend.runtime.session_maker() as session:
        return (
            await session.scalar(select(func.count()).select_from(JournalEntry)),
            await session.scalar(select(func.count()).select_from(VoucherCheckout)),
            sorted((await session.execute(select(LedgerAccount.code, LedgerAccount.balance_fen))).all()),
        )


async def test_an_estimate_writes_nothing_and_waits_for_no_checkout(world: VoucherDesk) -> None:
    firm, _ = await world.firm_with_grant(1_000_000)
    before = await _ledger(world)
    assert await _estimate(world, order(firm, 200_000)) == 100_000
    assert await _ledger(world) == before

    # A confirmation is holding the firm's grants (locked, on SQLite the write lock) and has not
    # committed: an estimate neither waits for it nor sees its uncommitted hold.
    async with world.backend.runtime.session_maker() as confirming:
        await confirming.begin()
        try:
            assert await hold_voucher_share(confirming, order(firm, 400_000)) == 200_000
            estimated = await asyncio.wait_for(_estimate(world, order(firm, 2_000_000)), timeout=5)
        finally:
            await confirming.rollback()
    assert estimated == 1_000_000  # half the fee: the whole balance, as committed
    assert await _ledger(world) == before


def _grant(program: ProgramTerms, balance_fen: int, expires_in_days: int) -> Grant:
    return Grant(
        id=uuid.uuid4(),
        status=GrantStatus.active,
        expires_on=today() + timedelta(days=expires_in_days),
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        balance_fen=balance_fen,
        program=program,
    )


def _program(coverage_bp: int, per_firm_year_cap_fen: int) -> ProgramTerms:
    return ProgramTerms(
        id=uuid.uuid4(),
        status=ProgramStatus.active,
        coverage_bp=coverage_bp,
        per_order_cap_fen=2_000_000,
        per_firm_year_cap_fen=per_firm_year_cap_fen,
        rules=ProgramRules(
            region_code="330100",
            valid_from=today() - timedelta(days=30),
            valid_until=today() + timedelta(days=365),
            requires_tech_sme=False,
            accepted_region_codes=["330000"],
            cross_region=True,
            accepted_unit_ids=[],
            accepted_category_codes=[],
        ),
    )


def test_a_programme_whose_year_cap_is_spent_gives_way_to_the_next_with_plain_values() -> None:
    spent, next_one = (
        _program(5000, per_firm_year_cap_fen=300_000),
        _program(3000, per_firm_year_cap_fen=10**8),
    )
    firm = FirmGrants([_grant(next_one, 1_000_000, 200), _grant(spent, 1_000_000, 20)], is_tech_sme=True)
    o = order(uuid.uuid4(), 200_000)
    assert estimate_voucher_share(o, firm, {spent.id: 0, next_one.id: 0}, today()) == 100_000
    assert estimate_voucher_share(o, firm, {spent.id: 300_000, next_one.id: 0}, today()) == 60_000
    assert estimate_voucher_share(o, firm, {spent.id: 250_000, next_one.id: 0}, today()) == 50_000


@pytest.mark.parametrize(
    ("grant_fen", "per_order_cap_fen", "share_fen"),
    [(1_000_000, 3_000, 3_000), (1_000_000, 2_000_000, 20_000), (0, None, 0)],
    ids=["per-order cap", "half the fee", "no grant"],
)
async def test_the_bots_quote_shows_the_share_the_booking_then_holds(
    world: VoucherDesk, grant_fen: int, per_order_cap_fen: int | None, share_fen: int
) -> None:
    """The bot quotes before booking (fee, voucher share, rest); the same booking made then holds
    exactly the quoted share: the estimate's caller and the hold agree."""
    if grant_fen:
        firm, _ = await world.firm_with_grant(grant_fen, per_order_cap_fen=per_order_cap_fen)
    else:
        firm = await new_org(world.backend)
    username = await new_user(world.backend, firm, Role.researcher)
    instrument = await make_instrument(world.backend)  # external rate 200 元 an hour
    await set_calendar(world.client, await world.headers("demo-provider"), instrument.instrument_id)
    start = (datetime.now(UTC) + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    end = start + timedelta(hours=2)
    async with world.backend.runtime.session_maker() as session:
        user_id = await session.scalar(select(User.id).where(User.username == username))
        user = await load_user(session, user_id) if user_id else None
        assert user is not None
        principal = principal_from_user(user)  # as the bot knows a bound follower

    quote = await build_ports(world.backend.runtime).bookings.quote(
        principal, instrument.hourly_item_id, start=start, end=end, samples=None
    )
    assert (quote.fee_fen, quote.voucher_share_fen, quote.payable_fen) == (
        40_000,
        share_fen,
        40_000 - share_fen,
    )

    headers = await world.headers(username)
    created = await world.client.post(
        "/api/v1/bookings", json=machine_time(instrument, start, end), headers=headers
    )
    assert created.status_code == 201 and created.json()["status"] == "confirmed", created.text
    vouchers = (await world.client.get("/api/v1/me/vouchers", headers=headers)).json()
    assert vouchers["held_fen"] == share_fen
