"""A hundred checkouts racing on one firm's balance, each in its own database session and
transaction (as a hundred confirmations would): the firm never spends more than it has."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import func, select

from tests.vouchers.desk import VoucherDesk, order
from vouchers.checkout import CheckoutOrder, capture_voucher_share, hold_voucher_share, release_voucher_hold
from vouchers.ledger import check_ledger
from vouchers.models import CheckoutState, VoucherCheckout

RACERS = 100


async def _grant_id(world: VoucherDesk, program_id: str) -> str:
    grants = await world.client.get(
        f"/api/v1/voucher-programs/{program_id}/grants", headers=await world.bureau()
    )
    return str(grants.json()[0]["id"])


async def test_a_hundred_concurrent_holds_never_hold_more_than_the_balance(world: VoucherDesk) -> None:
    balance = 1_234_567
    firm, program = await world.firm_with_grant(balance, per_firm_year_cap_fen=10**9)
    orders = [order(firm, 60_000) for _ in range(RACERS)]  # 30,000 each: 3,000,000 asked for

    held = await asyncio.gather(*(world.run(hold_voucher_share, o) for o in orders))

    assert sum(held) == balance  # everything, and not one fen more
    assert sorted(held)[-1] == 30_000 and sum(1 for h in held if h == 30_000) == balance // 30_000
    assert await world.balances(await _grant_id(world, program["id"])) == (0, balance)


async def test_racing_holds_captures_and_releases_spend_exactly_what_was_captured(world: VoucherDesk) -> None:
    balance = 2_000_000
    firm, program = await world.firm_with_grant(balance, per_firm_year_cap_fen=10**9, per_order_cap_fen=10**9)
    first = [order(firm, 100_000) for _ in range(RACERS // 2)]  # held first, then completed/cancelled
    await asyncio.gather(*(world.run(hold_voucher_share, o) for o in first))

    async def complete(o: CheckoutOrder, n: int) -> None:
        if n % 3 == 0:
            await world.run(release_voucher_hold, o.booking_id, reason="取消", actor_id=None)
        else:  # the final fee is 40% higher: the capture wants more than the hold
            await world.run(capture_voucher_share, order(firm, 140_000, booking_id=o.booking_id))

    second = [order(firm, 100_000) for _ in range(RACERS // 2)]
    await asyncio.gather(
        *(complete(o, n) for n, o in enumerate(first)),
        *(world.run(hold_voucher_share, o) for o in second),
        *(world.run(capture_voucher_share, order(firm, 80_000, booking_id=o.booking_id)) for o in second),
    )

    async with world.backend.runtime.session_maker() as session:
        rows = (
            await session.execute(
                select(
                    VoucherCheckout.state,
                    func.sum(VoucherCheckout.voucher_fen),
                    func.sum(VoucherCheckout.held_fen),
                )
                .where(VoucherCheckout.enterprise_id == firm)
                .group_by(VoucherCheckout.state)
            )
        ).all()
        report = await check_ledger(session)
    captured = sum(int(v) for s, v, _ in rows if s == CheckoutState.captured)
    still_held = sum(int(h) for s, _, h in rows if s == CheckoutState.held)
    available, held = await world.balances(await _grant_id(world, program["id"]))
    assert captured + still_held + available == balance
    assert held == still_held and available >= 0
    assert report["ok"], report


async def test_a_hundred_concurrent_captures_without_holds_never_overspend(world: VoucherDesk) -> None:
    balance = 777_777
    firm, program = await world.firm_with_grant(balance, per_firm_year_cap_fen=10**9)
    results = await asyncio.gather(
        *(
            world.run(capture_voucher_share, order(firm, 50_000, booking_id=uuid.uuid4()))
            for _ in range(RACERS)
        )
    )
    assert sum(r.voucher_fen for r in results) == balance
    assert all(r.voucher_fen + r.due_fen == 50_000 for r in results)
    assert await world.balances(await _grant_id(world, program["id"])) == (0, 0)
