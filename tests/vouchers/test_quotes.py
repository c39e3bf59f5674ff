"""A price before booking (POST /api/v1/quotes): the fee, the voucher share the firm's grants
would cover now and the remainder — and the booking then made holds exactly that, across the
programmes' rules."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from accounts.models import Role
from catalogue.models import PublicationStatus
from tests.booking.world import InstrumentIds, machine_time, make_instrument, set_calendar
from tests.vouchers.desk import VoucherDesk, new_org, new_user, order, today
from vouchers.checkout import hold_voucher_share
from vouchers.models import VoucherProgram

TWO_HOURS_FEE = 40_000  # the test instrument's external rate: 200 元 an hour


def next_slot(days: int = 3, hours: int = 2) -> tuple[datetime, datetime]:
    start = (datetime.now(UTC) + timedelta(days=days)).replace(minute=0, second=0, microsecond=0)
    return start, start + timedelta(hours=hours)


async def _no_grant(world: VoucherDesk) -> Any:
    return await new_org(world.backend), 0


async def _ratio(world: VoucherDesk) -> Any:
    return (await world.firm_with_grant(1_000_000))[0], 20_000


async def _per_order_cap(world: VoucherDesk) -> Any:
    return (await world.firm_with_grant(1_000_000, per_order_cap_fen=7_500))[0], 7_500


async def _per_firm_year_cap(world: VoucherDesk) -> Any:
    firm, _ = await world.firm_with_grant(1_000_000, per_order_cap_fen=30_000, per_firm_year_cap_fen=30_000)
    assert await world.run(hold_voucher_share, order(firm, 40_000)) == 20_000  # an earlier booking
    return firm, 10_000  # what the year's cap leaves


async def _expired_grant(world: VoucherDesk) -> Any:
    firm, program = await world.firm_with_grant(1_000_000)
    async with world.backend.runtime.session_maker() as session, session.begin():
        await session.execute(
            update(VoucherProgram)
            .where(VoucherProgram.id == uuid.UUID(program["id"]))
            .values(valid_until=today() - timedelta(days=1))
        )
    return firm, 0


async def _other_region_not_accepted(world: VoucherDesk) -> Any:
    return (await world.firm_with_grant(1_000_000, accepted_region_codes=["330200"], cross_region=True))[0], 0


CASES: dict[str, Callable[[VoucherDesk], Awaitable[Any]]] = {
    "no grant": _no_grant,
    "coverage ratio": _ratio,
    "per-order cap": _per_order_cap,
    "per-firm-year cap": _per_firm_year_cap,
    "expired grant": _expired_grant,
    "other region not accepted": _other_region_not_accepted,
}


async def _researcher_and_instrument(world: VoucherDesk, firm: Any) -> tuple[dict[str, str], InstrumentIds]:
    username = await new_user(world.backend, firm, Role.researcher)
    instrument = await make_instrument(world.backend)
    await set_calendar(world.client, await world.headers("demo-provider"), instrument.instrument_id)
    return await world.headers(username), instrument


@pytest.mark.parametrize("case", list(CASES))
async def test_the_quote_is_what_the_booking_then_confirms(world: VoucherDesk, case: str) -> None:
    firm, share = await CASES[case](world)
    headers, instrument = await _researcher_and_instrument(world, firm)
    body = machine_time(instrument, *next_slot())

    quoted = await world.client.post("/api/v1/quotes", json=body, headers=headers)
    assert quoted.status_code == 200, quoted.text
    quote = quoted.json()
    assert (quote["fee_fen"], quote["voucher"]["share_fen"], quote["remainder_fen"]) == (
        TWO_HOURS_FEE,
        share,
        TWO_HOURS_FEE - share,
    )
    assert sum(g["fen"] for g in quote["voucher"]["grants"]) == share
    assert quote["slot_free"] is True and "实际使用时长" in quote["billing_rule"]
    assert "对外价 200.00 元/小时 × 120 分钟" in quote["fee_basis"]

    booked = await world.client.post("/api/v1/bookings", json=body, headers=headers)
    assert booked.status_code == 201 and booked.json()["status"] == "confirmed", booked.text
    assert booked.json()["quote"]["fee_fen"] == quote["fee_fen"]
    statement = await world.client.get(f"/api/v1/bookings/{booked.json()['id']}/statement", headers=headers)
    assert (statement.json()["voucher_fen"], statement.json()["due_fen"]) in (
        (share, TWO_HOURS_FEE - share),
        (share, 0),  # due is set at completion; the hold is what the quote promised
    )


async def test_a_quote_holds_nothing_so_a_second_booking_can_use_the_balance(world: VoucherDesk) -> None:
    firm, _ = await world.firm_with_grant(30_000)
    headers, instrument = await _researcher_and_instrument(world, firm)
    for _ in range(3):
        quote = (
            await world.client.post(
                "/api/v1/quotes", json=machine_time(instrument, *next_slot()), headers=headers
            )
        ).json()
        assert quote["voucher"]["share_fen"] == 20_000
    vouchers = (await world.client.get("/api/v1/me/vouchers", headers=headers)).json()
    assert vouchers["held_fen"] == 0


async def test_a_quote_for_a_taken_slot_says_so_and_one_for_a_past_slot_is_refused_like_a_booking(
    world: VoucherDesk,
) -> None:
    firm, _ = await world.firm_with_grant(1_000_000)
    headers, instrument = await _researcher_and_instrument(world, firm)
    slot = next_slot(days=4)
    booked = await world.client.post(
        "/api/v1/bookings", json=machine_time(instrument, *slot), headers=headers
    )
    assert booked.status_code == 201, booked.text
    again = await world.client.post("/api/v1/quotes", json=machine_time(instrument, *slot), headers=headers)
    assert again.status_code == 200 and again.json()["slot_free"] is False

    past = machine_time(instrument, *next_slot(days=-2))
    refused = await world.client.post("/api/v1/quotes", json=past, headers=headers)
    booking_refused = await world.client.post("/api/v1/bookings", json=past, headers=headers)
    assert (
        400 <= refused.status_code < 500
        and refused.json()["error"]["code"] == booking_refused.json()["error"]["code"]
    )


async def test_sample_testing_is_quoted_per_sample(world: VoucherDesk) -> None:
    firm, _ = await world.firm_with_grant(1_000_000)
    headers, instrument = await _researcher_and_instrument(world, firm)
    body = {
        "instrument_id": str(instrument.instrument_id),
        "mode": "sample_testing",
        "service_item_id": str(instrument.sample_item_id),
        "samples": 3,
    }
    quote = await world.client.post("/api/v1/quotes", json=body, headers=headers)
    assert quote.status_code == 200, quote.text
    assert quote.json()["slot_free"] is None and "样品" in quote.json()["billing_rule"]
    assert quote.json()["fee_fen"] == quote.json()["breakdown"]["lines"][0]["unit_price_fen"] * 3


async def test_an_instrument_the_caller_may_not_see_is_not_quoted(world: VoucherDesk) -> None:
    firm, _ = await world.firm_with_grant(1_000_000)
    username = await new_user(world.backend, firm, Role.researcher)
    hidden = await make_instrument(world.backend, publication=PublicationStatus.draft)
    refused = await world.client.post(
        "/api/v1/quotes", json=machine_time(hidden, *next_slot()), headers=await world.headers(username)
    )
    assert refused.status_code == 404
