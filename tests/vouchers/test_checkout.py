"""No-touch redemption through the checkout interface booking calls: hold at confirmation,
capture at completion, release on cancel — idempotent, and atomic with the caller's transaction."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.vouchers.desk import VoucherDesk, new_org, order, today
from vouchers.checkout import (
    capture_voucher_share,
    hold_voucher_share,
    record_evidence,
    release_voucher_hold,
)
from vouchers.models import JournalEntry, VoucherCheckout
from yixiang.db import utcnow


class Boom(Exception):
    pass


async def test_hold_then_capture_the_final_fee_pays_half_and_leaves_the_rest_due(world: VoucherDesk) -> None:
    firm, program = await world.firm_with_grant(1_000_000)
    grant_id = (
        await world.client.get(
            f"/api/v1/voucher-programs/{program['id']}/grants", headers=await world.bureau()
        )
    ).json()[0]["id"]
    o = order(firm, 300_000)

    assert await world.run(hold_voucher_share, o) == 150_000
    assert await world.balances(grant_id) == (850_000, 150_000)

    final = order(firm, 360_000, booking_id=o.booking_id)  # ran longer than booked
    result = await world.run(capture_voucher_share, final)
    assert (result.fee_fen, result.voucher_fen, result.due_fen) == (360_000, 180_000, 180_000)
    assert await world.balances(grant_id) == (820_000, 0)


async def test_capture_below_the_hold_gives_the_unused_part_back(world: VoucherDesk) -> None:
    firm, program = await world.firm_with_grant(1_000_000)
    grant_id = (
        await world.client.get(
            f"/api/v1/voucher-programs/{program['id']}/grants", headers=await world.bureau()
        )
    ).json()[0]["id"]
    o = order(firm, 400_000)
    await world.run(hold_voucher_share, o)
    result = await world.run(capture_voucher_share, order(firm, 100_000, booking_id=o.booking_id))
    assert (result.voucher_fen, result.due_fen) == (50_000, 50_000)
    assert await world.balances(grant_id) == (950_000, 0)


async def test_capture_above_the_hold_takes_only_what_the_balance_allows(world: VoucherDesk) -> None:
    firm, _ = await world.firm_with_grant(100_000)
    o = order(firm, 200_000)
    assert await world.run(hold_voucher_share, o) == 100_000  # the whole balance
    result = await world.run(capture_voucher_share, order(firm, 500_000, booking_id=o.booking_id))
    assert (result.voucher_fen, result.due_fen) == (100_000, 400_000)


async def test_hold_and_capture_are_idempotent_per_booking(world: VoucherDesk) -> None:
    firm, _ = await world.firm_with_grant(1_000_000)
    o = order(firm, 200_000)
    assert await world.run(hold_voucher_share, o) == 100_000
    assert await world.run(hold_voucher_share, o) == 100_000
    first = await world.run(capture_voucher_share, o)
    again = await world.run(capture_voucher_share, order(firm, 999_999, booking_id=o.booking_id))
    assert first == again
    assert await world.run(release_voucher_hold, o.booking_id, reason="迟到的取消", actor_id=None) == 0
    async with world.backend.runtime.session_maker() as session:
        keys = (
            await session.scalars(select(JournalEntry.key).where(JournalEntry.booking_id == o.booking_id))
        ).all()
    assert sorted(k.split(":")[0] for k in keys) == ["capture", "hold"]


async def test_release_gives_the_hold_back_once(world: VoucherDesk) -> None:
    firm, program = await world.firm_with_grant(1_000_000)
    grant_id = (
        await world.client.get(
            f"/api/v1/voucher-programs/{program['id']}/grants", headers=await world.bureau()
        )
    ).json()[0]["id"]
    o = order(firm, 200_000)
    await world.run(hold_voucher_share, o)
    assert await world.run(release_voucher_hold, o.booking_id, reason="研究员取消", actor_id=None) == 100_000
    assert await world.run(release_voucher_hold, o.booking_id, reason="研究员取消", actor_id=None) == 0
    assert await world.balances(grant_id) == (1_000_000, 0)
    assert await world.run(release_voucher_hold, uuid.uuid4(), reason="无此预约", actor_id=None) == 0


async def test_an_error_after_the_hold_in_the_callers_transaction_leaves_no_hold(world: VoucherDesk) -> None:
    firm, program = await world.firm_with_grant(1_000_000)
    grant_id = (
        await world.client.get(
            f"/api/v1/voucher-programs/{program['id']}/grants", headers=await world.bureau()
        )
    ).json()[0]["id"]
    o = order(firm, 200_000)
    async with world.backend.runtime.session_maker() as session:
        with pytest.raises(Boom):
            async with session.begin():
                assert await hold_voucher_share(session, o) == 100_000
                raise Boom  # booking's confirm fails after the hold
    assert await world.balances(grant_id) == (1_000_000, 0)
    async with world.backend.runtime.session_maker() as session:
        assert await session.get(VoucherCheckout, o.booking_id) is None
        assert (
            await session.scalars(select(JournalEntry).where(JournalEntry.booking_id == o.booking_id))
        ).all() == []
    # and the booking can be confirmed again afterwards
    assert await world.run(hold_voucher_share, o) == 100_000


async def test_no_programme_applies_means_no_voucher_and_the_whole_fee_is_due(world: VoucherDesk) -> None:
    firm, _ = await world.firm_with_grant(1_000_000, accepted_category_codes=["03"])
    o = order(firm, 200_000, category_code="0201")
    assert await world.run(hold_voucher_share, o) == 0
    result = await world.run(capture_voucher_share, o)
    assert (result.voucher_fen, result.due_fen) == (0, 200_000)
    assert await world.run(hold_voucher_share, order(firm, 200_000, voucher_eligible=False)) == 0
    assert await world.run(hold_voucher_share, order(firm, 200_000, category_code="0301")) == 100_000


async def test_providers_outside_the_accepted_regions_do_not_take_the_voucher(world: VoucherDesk) -> None:
    # A Hangzhou programme without 通用通兑 is accepted in Hangzhou only.
    firm, _ = await world.firm_with_grant(1_000_000, accepted_region_codes=[], cross_region=False)
    assert await world.run(hold_voucher_share, order(firm, 100_000, region_code="330200")) == 0
    assert await world.run(hold_voucher_share, order(firm, 100_000, region_code="330106")) == 50_000
    # With 通用通兑 across 浙江省, Ningbo accepts it; Shanghai does not.
    firm2, _ = await world.firm_with_grant(1_000_000)
    assert await world.run(hold_voucher_share, order(firm2, 100_000, region_code="330200")) == 50_000
    assert await world.run(hold_voucher_share, order(firm2, 100_000, region_code="310000")) == 0


async def test_per_order_and_per_firm_year_caps_limit_the_share(world: VoucherDesk) -> None:
    firm, _ = await world.firm_with_grant(5_000_000, per_order_cap_fen=300_000, per_firm_year_cap_fen=500_000)
    assert await world.run(hold_voucher_share, order(firm, 10_000_000)) == 300_000
    assert await world.run(hold_voucher_share, order(firm, 10_000_000)) == 200_000  # year cap reached
    assert await world.run(hold_voucher_share, order(firm, 10_000_000)) == 0


async def test_the_grant_expiring_first_pays_first(world: VoucherDesk) -> None:
    firm = await new_org(world.backend)
    late = await world.program(valid_until=str(today() + timedelta(days=300)))
    soon = await world.program(valid_until=str(today() + timedelta(days=10)))
    late_grant = await world.grant(late["id"], firm, 1_000_000)
    soon_grant = await world.grant(soon["id"], firm, 60_000)
    o = order(firm, 200_000)
    assert await world.run(hold_voucher_share, o) == 60_000  # the soon-expiring programme, to its balance
    assert await world.balances(soon_grant["id"]) == (0, 60_000)
    assert await world.balances(late_grant["id"]) == (1_000_000, 0)
    assert await world.run(hold_voucher_share, order(firm, 200_000)) == 100_000  # then the later one


async def test_evidence_is_recorded_once_per_kind_and_unknown_kinds_are_refused(world: VoucherDesk) -> None:
    from yixiang.errors import InvalidInput

    booking_id = uuid.uuid4()
    now = utcnow()
    await world.run(record_evidence, booking_id, "usage", at=now, detail={"hours": 2, "by": uuid.uuid4()})
    await world.run(record_evidence, booking_id, "usage", at=now, detail={"hours": 9})
    with pytest.raises(InvalidInput):
        await world.run(record_evidence, booking_id, "gossip", at=now, detail={})
    from vouchers.models import CheckoutEvidence

    async with world.backend.runtime.session_maker() as session:
        rows = (
            await session.scalars(select(CheckoutEvidence).where(CheckoutEvidence.booking_id == booking_id))
        ).all()
    assert [(r.kind, r.detail["hours"]) for r in rows] == [("usage", 2)]


async def test_a_negative_fee_is_refused(world: VoucherDesk) -> None:
    from yixiang.errors import InvalidInput

    firm, _ = await world.firm_with_grant(100_000)
    for fn in (hold_voucher_share, capture_voucher_share):
        with pytest.raises(InvalidInput):
            await world.run(fn, order(firm, -1))
