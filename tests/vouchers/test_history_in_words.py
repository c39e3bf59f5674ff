"""A firm's voucher page as people read it: what happened in words (发放, 冻结, 抵扣, 释放 ...), with
the amount in fen and yuan and the booking number; and each programme's coverage, caps and what
is left this year."""

from __future__ import annotations

import uuid
from typing import Any

from accounts.models import Role
from tests.vouchers.desk import VoucherDesk, new_user, order
from vouchers.checkout import capture_voucher_share, hold_voucher_share, release_voucher_hold


async def _page(world: VoucherDesk, username: str) -> dict[str, Any]:
    response = await world.client.get("/api/v1/me/vouchers", headers=await world.headers(username))
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_history_says_what_happened_in_words_with_amounts_and_booking_numbers(
    world: VoucherDesk,
) -> None:
    firm, program = await world.firm_with_grant(1_000_000)
    researcher = await new_user(world.backend, firm, Role.researcher)
    cancelled = order(firm, 90_000)
    await world.run(hold_voucher_share, cancelled)
    await world.run(release_voucher_hold, cancelled.booking_id, reason="研究人员取消", actor_id=None)
    served = order(firm, 100_000)
    await world.run(hold_voucher_share, served)  # 50% of 1000 元: 500 元 frozen
    await world.run(capture_voucher_share, order(firm, 60_000, booking_id=served.booking_id))
    adjusted = await world.client.post(
        f"/api/v1/voucher-programs/{program['id']}/adjustments",
        json={
            "grant_id": (await _page(world, researcher))["grants"][0]["id"],
            "amount_fen": -1_000,
            "reason": "核减",
        },
        headers=await world.bureau(),
    )
    assert adjusted.status_code == 201, adjusted.text

    history = (await _page(world, researcher))["history"]
    lines = [(h["kind"], h["label"], h["amount_fen"], h["amount_yuan"]) for h in history]
    assert lines == [  # newest first, one line per event (not the ledger's two legs)
        ("adjustment", "调减", 1_000, "10.00"),
        ("capture", "抵扣", 30_000, "300.00"),  # half the final 600 元; the hold's rest went back
        ("hold", "冻结", 50_000, "500.00"),
        ("release", "释放", 45_000, "450.00"),
        ("hold", "冻结", 45_000, "450.00"),
        ("grant", "发放", 1_000_000, "10000.00"),
    ]
    by_kind = {(h["kind"], h["booking_id"]): h for h in history}
    capture = by_kind[("capture", str(served.booking_id))]
    assert capture["booking_number"] == served.booking_number
    assert capture["text"].startswith(f"抵扣 300.00 元（预约 {served.booking_number}）")
    assert (capture["available_change_fen"], capture["held_change_fen"]) == (20_000, -50_000)
    assert by_kind[("release", str(cancelled.booking_id))]["booking_number"] == cancelled.booking_number
    grant = by_kind[("grant", None)]
    assert grant["booking_number"] is None and grant["program_name"] == program["name"]
    assert not any(":" in h["kind"] for h in history)


async def test_the_page_shows_each_programmes_coverage_caps_and_what_is_left_this_year(
    world: VoucherDesk,
) -> None:
    firm, program = await world.firm_with_grant(
        1_000_000, coverage_bp=4_000, per_order_cap_fen=300_000, per_firm_year_cap_fen=800_000
    )
    researcher = await new_user(world.backend, firm, Role.researcher)
    first = order(firm, 500_000)
    await world.run(hold_voucher_share, first)  # 40% of 5000 元 = 2000 元, held
    second = order(firm, 1_000_000)
    await world.run(hold_voucher_share, second)  # 40% of 10000 元 = 4000 元, capped at 3000 元
    await world.run(capture_voucher_share, second)

    page = await _page(world, researcher)
    [terms] = page["programs"]
    assert terms["program_id"] == program["id"] and terms["enterprise_id"] == str(firm)
    assert (terms["coverage_bp"], terms["coverage_percent"]) == (4_000, "40%")
    assert (terms["per_order_cap_fen"], terms["per_firm_year_cap_fen"]) == (300_000, 800_000)
    assert terms["used_this_year_fen"] == 500_000  # 2000 元 held + 3000 元 captured
    assert terms["left_this_year_fen"] == 300_000
    assert terms["available_fen"] == 1_000_000 - 500_000
    assert terms["usable_fen"] == 300_000  # the yearly cap leaves less than the balance
    for words in ("40%", "每笔预约最多 3000.00 元", "每年最多 8000.00 元", "还可用 3000.00 元"):
        assert words in terms["summary"], terms["summary"]
    [hold] = page["holds"]
    assert hold["booking_id"] == str(first.booking_id) and hold["booking_number"] == first.booking_number


async def test_another_firms_vouchers_show_nothing_of_ours(world: VoucherDesk) -> None:
    firm, _ = await world.firm_with_grant(200_000)
    await world.run(hold_voucher_share, order(firm, 10_000, booking_id=uuid.uuid4()))
    other, _ = await world.firm_with_grant(100_000)
    page = await _page(world, await new_user(world.backend, other, Role.researcher))
    assert [h["kind"] for h in page["history"]] == ["grant"]
    assert [p["enterprise_id"] for p in page["programs"]] == [str(other)]


async def test_a_long_history_shows_the_newest_hundred_entries_whole_and_newest_first(
    world: VoucherDesk,
) -> None:
    firm, _ = await world.firm_with_grant(10_000_000)
    second = await world.program()
    await world.grant(second["id"], firm, 5_000_000)  # the firm's lines span four accounts
    researcher = await new_user(world.backend, firm, Role.researcher)
    orders = [order(firm, 10_000) for _ in range(55)]
    for held in orders:
        await world.run(hold_voucher_share, held)
        await world.run(release_voucher_hold, held.booking_id, reason="研究人员取消", actor_id=None)

    history = (await _page(world, researcher))["history"]  # 112 entries: 2 grants, 55 holds and releases
    assert [h["kind"] for h in history] == ["release", "hold"] * 50
    newest = [str(o.booking_id) for o in reversed(orders[-50:])]
    assert [h["booking_id"] for h in history[::2]] == newest
    assert [h["booking_id"] for h in history[1::2]] == newest
    # each entry whole: both of its legs (grant and hold account) are in its line
    assert all(h["available_change_fen"] == -h["held_change_fen"] != 0 for h in history)
    assert [h["at"] for h in history] == sorted((h["at"] for h in history), reverse=True)
