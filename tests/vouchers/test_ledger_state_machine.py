"""Random sequences of grants, holds, captures, releases, expiries, refunds, adjustments and
replays: after every step the ledger recomputed from its entries equals its balances, every
entry sums to zero, nothing is overdrawn, and each booking's checkout is what its history says.

Hypothesis state machines are synchronous, so the machine runs in a worker thread with its own
event loop and its own engine on the same test database, calling the services users call.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select

from accounts.auth import MembershipView, Principal
from accounts.demo import demo_id
from accounts.models import Organization, OrgKind, Role
from tests.support import Backend
from tests.vouchers.desk import order, today
from vouchers.checkout import capture_voucher_share, hold_voucher_share, release_voucher_hold
from vouchers.errors import BudgetExceeded, GrantNotFound, InsufficientVoucherBalance, ProgramClosed
from vouchers.grants import create_grant
from vouchers.ledger import check_ledger
from vouchers.models import CheckoutState, JournalEntry, LedgerAccount, VoucherCheckout, VoucherProgram
from vouchers.programs import adjust_grant, create_program, expire_program_grants, lock_program
from vouchers.refunds import refund_voucher_share
from vouchers.schemas import AdjustmentIn, GrantIn, ProgramIn, RefundIn
from yixiang.db import create_engine, create_session_maker

pytestmark = pytest.mark.slow

BUREAU = Principal(
    user_id=demo_id("demo-science-bureau"),
    username="demo-science-bureau",
    display_name="科技局",
    memberships=(
        MembershipView(
            organization_id=demo_id("bureau-hz-sci"),
            organization_kind=OrgKind.bureau,
            organization_name="杭州市科学技术局",
            role=Role.bureau_officer,
            region_code="330100",
        ),
    ),
)
PER_ORDER_CAP = 150_000
FIRM_YEAR_CAP = 900_000


def _program(days: int) -> ProgramIn:
    return ProgramIn(
        name=f"状态机批次-{uuid.uuid4().hex[:6]}",
        year=today().year,
        budget_fen=3_000_000,
        coverage_bp=6000,
        per_order_cap_fen=PER_ORDER_CAP,
        per_firm_year_cap_fen=FIRM_YEAR_CAP,
        valid_from=today() - timedelta(days=1),
        valid_until=today() + timedelta(days=days),
        accepted_region_codes=["330000"],
        cross_region=True,
    )


def make_machine(url: str) -> type[RuleBasedStateMachine]:
    loop = asyncio.new_event_loop()
    engine = create_engine(url)
    session_maker = create_session_maker(engine)

    def run(coro: Coroutine[Any, Any, Any]) -> Any:
        return loop.run_until_complete(coro)

    async def in_tx(fn: Any, *args: Any, **kwargs: Any) -> Any:
        async with session_maker() as session, session.begin():
            return await fn(session, *args, **kwargs)

    class VoucherLedger(RuleBasedStateMachine):
        grants = Bundle("grants")
        held = Bundle("held")
        captured = Bundle("captured")

        def __init__(self) -> None:
            super().__init__()
            self.firm = uuid.uuid4()
            self.programs: list[uuid.UUID] = []
            self.state: dict[uuid.UUID, CheckoutState] = {}
            self.fees: dict[uuid.UUID, int] = {}
            self.replays: list[tuple[Any, tuple[Any, ...], dict[str, Any]]] = []

        @initialize(target=grants)
        def world(self) -> Any:
            """A firm with one grant under each of two programmes (one ends soon, one later)."""

            async def setup() -> list[uuid.UUID]:
                async with session_maker() as session, session.begin():
                    session.add(
                        Organization(
                            id=self.firm,
                            kind=OrgKind.enterprise,
                            name="状态机企业",
                            region_code="330100",
                            is_tech_sme=True,
                        )
                    )
                granted = []
                for days in (5, 200):
                    program = await in_tx(create_program, BUREAU, _program(days))
                    self.programs.append(program.id)
                    body = GrantIn(enterprise_id=self.firm, amount_fen=500_000)
                    granted.append(
                        (await in_tx(create_grant, BUREAU, program.id, body, key=uuid.uuid4().hex)).id
                    )
                return granted

            return multiple(*run(setup()))

        # --- operations ------------------------------------------------------------------
        @rule(target=grants, which=st.integers(0, 1), amount=st.integers(1, 400_000))
        def grant(self, which: int, amount: int) -> Any:
            key = uuid.uuid4().hex
            args = (BUREAU, self.programs[which], GrantIn(enterprise_id=self.firm, amount_fen=amount))
            try:
                grant = run(in_tx(create_grant, *args, key=key))
            except ProgramClosed:
                return multiple()
            self.replays.append((create_grant, args, {"key": key}))
            return grant.id

        @rule(target=held, fee=st.integers(0, 400_000))
        def hold(self, fee: int) -> uuid.UUID:
            o = order(self.firm, fee)
            run(in_tx(hold_voucher_share, o))
            self.state[o.booking_id] = CheckoutState.held
            self.fees[o.booking_id] = fee
            self.replays.append((hold_voucher_share, (o,), {}))
            return o.booking_id

        @rule(target=captured, booking=held, change=st.integers(-100_000, 200_000))
        def capture(self, booking: uuid.UUID, change: int) -> Any:
            if self.state[booking] != CheckoutState.held:
                return multiple()
            final = order(self.firm, max(self.fees[booking] + change, 0), booking_id=booking)
            result = run(in_tx(capture_voucher_share, final))
            assert result.voucher_fen + result.due_fen == final.fee_fen
            self.state[booking] = CheckoutState.captured
            self.replays.append((capture_voucher_share, (final,), {}))
            return booking

        @rule(fee=st.integers(0, 300_000))
        def capture_without_hold(self, fee: int) -> None:
            o = order(self.firm, fee)
            run(in_tx(capture_voucher_share, o))
            self.state[o.booking_id] = CheckoutState.captured

        @rule(booking=held)
        def release(self, booking: uuid.UUID) -> None:
            released = run(in_tx(release_voucher_hold, booking, reason="取消", actor_id=None))
            if self.state[booking] == CheckoutState.held:
                self.state[booking] = CheckoutState.released
            else:
                assert released == 0
            self.replays.append((release_voucher_hold, (booking,), {"reason": "取消", "actor_id": None}))

        @rule(which=st.integers(0, 1))
        def expire(self, which: int) -> None:
            async def end() -> None:
                async with session_maker() as session, session.begin():
                    program = await lock_program(session, self.programs[which])
                    assert program is not None
                    await expire_program_grants(session, program)

            run(end())

        @rule(booking=captured, amount=st.integers(1, 100_000))
        def refund(self, booking: uuid.UUID, amount: int) -> None:
            async def voucher_fen() -> int:
                async with session_maker() as session:
                    checkout = await session.get(VoucherCheckout, booking)
                    return checkout.voucher_fen if checkout else 0

            if amount > run(voucher_fen()):
                return
            key = uuid.uuid4().hex
            args = (BUREAU, booking, RefundIn(amount_fen=amount, reason="状态机退券"))
            run(in_tx(refund_voucher_share, *args, key=key))
            self.replays.append((refund_voucher_share, args, {"key": key}))

        @rule(grant=grants, amount=st.integers(-200_000, 200_000).filter(bool))
        def adjust(self, grant: uuid.UUID, amount: int) -> None:
            async def program_of() -> uuid.UUID:
                async with session_maker() as session:
                    account = await session.scalar(
                        select(LedgerAccount).where(LedgerAccount.grant_id == grant)
                    )
                    assert account is not None
                    return account.program_id

            key = uuid.uuid4().hex
            args = (
                BUREAU,
                run(program_of()),
                AdjustmentIn(grant_id=grant, amount_fen=amount, reason="状态机调整"),
            )
            try:
                run(in_tx(adjust_grant, *args, key=key))
            except (InsufficientVoucherBalance, GrantNotFound, BudgetExceeded):  # too deep a cut; expired
                return
            self.replays.append((adjust_grant, args, {"key": key}))

        @rule(data=st.data())
        def replay(self, data: st.DataObject) -> None:
            if not self.replays:
                return
            fn, args, kwargs = data.draw(st.sampled_from(self.replays))
            before = run(self.snapshot())
            run(in_tx(fn, *args, **kwargs))
            assert run(self.snapshot()) == before, fn.__name__

        # --- what must always hold ------------------------------------------------------
        async def snapshot(self) -> tuple[Any, ...]:
            async with session_maker() as session:
                accounts = (
                    await session.execute(
                        select(LedgerAccount.code, LedgerAccount.balance_fen)
                        .where(LedgerAccount.program_id.in_(self.programs))
                        .order_by(LedgerAccount.code)
                    )
                ).all()
                entries = await session.scalar(
                    select(func.count())
                    .select_from(JournalEntry)
                    .where(JournalEntry.program_id.in_(self.programs))
                )
                checkouts = (
                    await session.execute(
                        select(VoucherCheckout.booking_id, VoucherCheckout.state, VoucherCheckout.voucher_fen)
                        .where(VoucherCheckout.enterprise_id == self.firm)
                        .order_by(VoucherCheckout.booking_id)
                    )
                ).all()
            return tuple(accounts), entries, tuple(checkouts)

        @invariant()
        def ledger_is_sound(self) -> None:
            if not self.programs:
                return

            async def check() -> None:
                async with session_maker() as session:
                    report = await check_ledger(session)
                    assert report["ok"], report
                    rows = (
                        await session.scalars(
                            select(VoucherCheckout).where(VoucherCheckout.enterprise_id == self.firm)
                        )
                    ).all()
                    programs = {
                        p.id: p
                        for p in (
                            await session.scalars(
                                select(VoucherProgram).where(VoucherProgram.id.in_(self.programs))
                            )
                        ).all()
                    }
                for c in rows:
                    assert c.state == self.state[c.booking_id]
                    if c.state == CheckoutState.captured:
                        assert 0 <= c.voucher_fen <= PER_ORDER_CAP
                        assert c.voucher_fen + c.due_fen == c.fee_fen
                        if c.program_id is not None:
                            assert c.voucher_fen * 10_000 <= c.fee_fen * programs[c.program_id].coverage_bp
                used: dict[tuple[uuid.UUID | None, int], int] = {}
                for c in rows:
                    amount = c.held_fen if c.state == CheckoutState.held else c.voucher_fen
                    if c.state != CheckoutState.released:
                        used[(c.program_id, c.usage_year)] = (
                            used.get((c.program_id, c.usage_year), 0) + amount
                        )
                assert all(v <= FIRM_YEAR_CAP for v in used.values()), used

            run(check())

        def teardown(self) -> None:
            pass

    VoucherLedger.loop = loop  # type: ignore[attr-defined]
    VoucherLedger.engine = engine  # type: ignore[attr-defined]
    return VoucherLedger


def _run_machine(url: str) -> None:
    machine = make_machine(url)
    try:
        run_state_machine_as_test(
            machine,
            settings=settings(
                max_examples=15,
                stateful_step_count=30,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                derandomize=False,
            ),
        )
    finally:
        loop: asyncio.AbstractEventLoop = machine.loop  # type: ignore[attr-defined]
        loop.run_until_complete(machine.engine.dispose())  # type: ignore[attr-defined]
        loop.close()


async def test_random_operation_sequences_keep_the_ledger_sound(backend: Backend) -> None:
    await asyncio.to_thread(_run_machine, backend.settings.effective_database_url)
