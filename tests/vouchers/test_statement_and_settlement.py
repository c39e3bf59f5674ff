"""From checkout to the bureau's bank transfer: the statement each party sees, the provider's
"payment received", refunds, and a settlement batch paid and reconciled to the fen."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import timedelta

from openpyxl import load_workbook

from accounts.demo import demo_id
from accounts.models import OrgKind, Role
from tests.support import error_code
from tests.vouchers.desk import VoucherDesk, new_org, new_user, order, today
from vouchers.checkout import capture_voucher_share, hold_voucher_share, record_evidence
from yixiang.db import utcnow


async def _completed(
    world: VoucherDesk,
    firm: uuid.UUID,
    unit: uuid.UUID,
    fee: int,
    evidence: tuple[str, ...],
    *,
    delivered_days_ago: int = 0,
) -> uuid.UUID:
    o = order(firm, fee, unit_id=unit)
    await world.run(hold_voucher_share, o)
    await world.run(capture_voucher_share, o)
    for kind in evidence:
        at = utcnow() - timedelta(days=delivered_days_ago if kind == "delivery" else 0)
        await world.run(record_evidence, o.booking_id, kind, at=at, detail={"by": "booking"})
    return o.booking_id


async def test_the_statement_shows_fee_share_and_due_to_the_parties_only(world: VoucherDesk) -> None:
    firm, _ = await world.firm_with_grant(1_000_000)
    unit = await new_org(world.backend, kind=OrgKind.unit)
    researcher = await new_user(world.backend, firm, Role.researcher)
    staff = await new_user(world.backend, unit, Role.provider_staff)
    booking = await _completed(world, firm, unit, 300_001, ("booking", "usage"))

    url = f"/api/v1/bookings/{booking}/statement"
    for username in (researcher, staff, "demo-science-bureau", "demo-finance-bureau", "demo-admin"):
        response = await world.client.get(url, headers=await world.headers(username))
        assert response.status_code == 200, (username, response.text)
    body = response.json()
    assert (body["fee_fen"], body["voucher_fen"], body["due_fen"]) == (300_001, 150_000, 150_001)
    assert body["payment_method"] == "corporate_transfer" and body["payment_received_at"] is None
    assert body["evidence"]["usage"] is not None and body["evidence"]["delivery"] is None
    assert not body["evidence_complete"]
    ningbo = await new_user(world.backend, demo_id("bureau-nb-sci"), Role.bureau_officer)
    for outsider in ("demo-researcher-2", "demo-provider", ningbo):
        response = await world.client.get(url, headers=await world.headers(outsider))
        assert response.status_code == 404 and error_code(response) == "statement_not_found", outsider

    assert f"1500.01 元，备注预约号 {body['booking_number']}" in body["payment_instructions"]


async def test_a_recorded_payment_leaves_nothing_due_and_a_second_reference_is_refused(
    world: VoucherDesk,
) -> None:
    firm, _ = await world.firm_with_grant(1_000_000)
    unit = await new_org(world.backend, kind=OrgKind.unit)
    researcher = await new_user(world.backend, firm, Role.researcher)
    staff = await world.headers(await new_user(world.backend, unit, Role.provider_staff))
    booking = await _completed(world, firm, unit, 300_001, ("booking", "usage"))

    # only the provider marks the firm's transfer received
    paid_url = f"/api/v1/bookings/{booking}/payment-received"
    as_firm = await world.client.post(paid_url, json={}, headers=await world.headers(researcher))
    assert as_firm.status_code == 403 and error_code(as_firm) == "provider_staff_required"
    received = await world.client.post(paid_url, json={"reference": "BANK-001"}, headers=staff)
    assert received.status_code == 200, received.text
    body = received.json()
    assert body["payment_received_at"] is not None and body["evidence"]["payment"]
    assert (body["due_fen"], body["paid_fen"], body["payment_reference"]) == (0, 150_001, "BANK-001")
    assert "已确认收到" in body["payment_instructions"] and "BANK-001" in body["payment_instructions"]
    seen_by_firm = await world.client.get(
        f"/api/v1/bookings/{booking}/statement", headers=await world.headers(researcher)
    )
    assert seen_by_firm.json()["due_fen"] == 0

    # the same confirmation again (a retry) answers the same; another reference is refused
    again = await world.client.post(paid_url, json={"reference": "BANK-001"}, headers=staff)
    assert again.status_code == 200 and again.json() == body
    other = await world.client.post(paid_url, json={"reference": "BANK-002"}, headers=staff)
    assert other.status_code == 409 and error_code(other) == "payment_already_received", other.text
    assert "BANK-001" in other.json()["error"]["message"]
    assert other.json()["error"]["details"]["payment_reference"] == "BANK-001"
    unchanged = await world.client.get(f"/api/v1/bookings/{booking}/statement", headers=staff)
    assert unchanged.json() == body


async def test_a_fully_covered_fee_needs_no_payment(world: VoucherDesk) -> None:
    firm, _ = await world.firm_with_grant(1_000_000, coverage_bp=10_000)
    unit = await new_org(world.backend, kind=OrgKind.unit)
    staff = await new_user(world.backend, unit, Role.provider_staff)
    booking = await _completed(world, firm, unit, 20_000, ())
    body = (
        await world.client.get(f"/api/v1/bookings/{booking}/statement", headers=await world.headers(staff))
    ).json()
    assert (body["voucher_fen"], body["due_fen"]) == (20_000, 0) and body["evidence"]["payment"] is not None
    response = await world.client.post(
        f"/api/v1/bookings/{booking}/payment-received", json={}, headers=await world.headers(staff)
    )
    assert response.status_code == 409 and error_code(response) == "nothing_due"


async def test_settlement_is_drawn_submitted_approved_paid_and_reconciled_to_the_fen(
    world: VoucherDesk,
) -> None:
    firm, _ = await world.firm_with_grant(5_000_000)
    unit = await new_org(world.backend, kind=OrgKind.unit)
    complete = ("booking", "usage", "payment", "delivery", "rating")
    paid_1 = await _completed(world, firm, unit, 123_457, complete)  # share 61,728
    # not rated, but delivered longer ago than the rating window (30 days): 100,000
    paid_2 = await _completed(world, firm, unit, 200_000, complete[:-1], delivered_days_ago=31)
    apart = await _completed(world, firm, unit, 80_000, ("booking", "usage"))  # no delivery yet
    unrated = await _completed(world, firm, unit, 60_000, complete[:-1], delivered_days_ago=29)

    # a refund before settlement shrinks the share (bureau only, with a reason)
    refund_url = f"/api/v1/bookings/{paid_2}/voucher-refund"
    body = {"amount_fen": 10_000, "reason": "部分检测项目未完成，退回创新券"}
    assert (
        await world.client.post(refund_url, json=body, headers=await world.headers("demo-researcher"))
    ).status_code == 404
    key = {"Idempotency-Key": f"refund-{uuid.uuid4().hex}"}
    refunded = await world.client.post(refund_url, json=body, headers={**await world.bureau(), **key})
    assert refunded.status_code == 200, refunded.text
    assert (refunded.json()["voucher_fen"], refunded.json()["fee_fen"]) == (90_000, 190_000)
    replay = await world.client.post(refund_url, json=body, headers={**await world.bureau(), **key})
    assert replay.json()["voucher_fen"] == 90_000

    science, finance = await world.bureau(), await world.headers("demo-finance-bureau")
    assert (
        await world.client.post(
            "/api/v1/settlements",
            json={"period_start": str(today()), "period_end": str(today())},
            headers=await world.headers("demo-researcher"),
        )
    ).status_code == 403
    created = await world.client.post(
        "/api/v1/settlements",
        json={"period_start": str(today()), "period_end": str(today())},
        headers=science,
    )
    assert created.status_code == 201, created.text
    batch = created.json()
    ours = {line["booking_id"]: line for line in batch["lines"] if line["unit_id"] == str(unit)}
    assert set(ours) == {str(paid_1), str(paid_2)}
    assert ours[str(paid_1)]["voucher_fen"] == 61_728 and ours[str(paid_2)]["voucher_fen"] == 90_000
    assert [ours[str(b)]["rating_status"] for b in (paid_1, paid_2)] == ["rated", "window_passed"]
    assert ours[str(paid_2)]["rating_label"] == "评价期已过（未评价）"
    held = {line["booking_id"]: line for line in batch["held_back"]}
    assert held[str(apart)]["missing_evidence"] == ["payment", "delivery", "rating"]
    # delivered 29 days ago and not rated: the firm may still rate for a day; the line waits
    assert held[str(unrated)]["missing_evidence"] == ["rating"]
    assert (held[str(unrated)]["rating_status"], held[str(unrated)]["rating_label"]) == ("waiting", "待评价")
    closes = held[str(unrated)]["rating_window_closes_at"]
    assert closes is not None and closes.endswith("+08:00")
    assert batch["status_label"] == "草稿"
    assert batch["total_fen"] == sum(line["voucher_fen"] for line in batch["lines"])
    url = f"/api/v1/settlements/{batch['id']}"

    ningbo = await new_user(world.backend, demo_id("bureau-nb-sci"), Role.bureau_officer)
    assert (await world.client.get(url, headers=await world.headers(ningbo))).status_code == 404
    early = await world.client.post(f"{url}/approve", headers=finance)
    assert early.status_code == 409 and error_code(early) == "invalid_transition"
    assert (await world.client.post(f"{url}/submit", headers=science)).json()["status"] == "submitted"
    # amounts are final once submitted: no refund any more
    late = await world.client.post(refund_url, json={**body, "amount_fen": 1}, headers=science)
    assert late.status_code == 409 and error_code(late) == "already_in_settlement"
    self_approval = await world.client.post(f"{url}/approve", headers=science)
    assert self_approval.status_code == 403 and error_code(self_approval) == "four_eyes_required"
    assert (await world.client.post(f"{url}/approve", headers=finance)).json()["status"] == "approved"
    no_ref = await world.client.post(f"{url}/mark-paid", json={}, headers=finance)
    assert no_ref.status_code == 400
    paid = await world.client.post(
        f"{url}/mark-paid", json={"bank_reference": "ICBC-2026-0001"}, headers=finance
    )
    assert paid.status_code == 200 and paid.json()["status"] == "paid"

    report = (await world.client.get(f"{url}/reconciliation", headers=science)).json()
    assert report["balanced"] and report["difference_fen"] == 0, report
    assert report["batch_total_fen"] == report["ledger_captured_fen"] == report["ledger_settled_fen"]
    assert report["batch_total_fen"] == batch["total_fen"]
    reconciled = await world.client.post(f"{url}/reconcile", headers=science)
    assert reconciled.status_code == 200 and reconciled.json()["status"] == "reconciled"

    exported = await world.client.get(f"{url}/export", params={"format": "csv"}, headers=finance)
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    by_booking = {row[-1]: row for row in rows[1:-1]}
    numbers = {line["booking_id"]: line["booking_number"] for line in batch["lines"] + batch["held_back"]}
    assert by_booking[str(paid_1)][2] == numbers[str(paid_1)]
    assert by_booking[str(paid_1)][5] == "617.28" and by_booking[str(apart)][7].startswith("否")
    assert by_booking[str(apart)][8] == "企业付款、结果交付、服务评价"
    assert (by_booking[str(paid_1)][9], by_booking[str(paid_2)][9]) == ("已评价", "评价期已过（未评价）")
    assert by_booking[str(unrated)][9] == "待评价"
    assert rows[-1][5] == f"{batch['total_fen'] // 100}.{batch['total_fen'] % 100:02d}"

    # a booking is settled once: the next batch does not take it again
    await _completed(world, firm, unit, 2_000, complete)
    second = (
        await world.client.post(
            "/api/v1/settlements",
            json={"period_start": str(today()), "period_end": str(today())},
            headers=science,
        )
    ).json()
    assert not ({str(paid_1), str(paid_2)} & {line["booking_id"] for line in second["lines"]})
    check = await world.client.get("/api/v1/ledger/check", headers=await world.headers("demo-admin"))
    assert check.json()["ok"], check.json()


async def test_refund_needs_a_captured_share_and_cannot_exceed_it(world: VoucherDesk) -> None:
    firm, _ = await world.firm_with_grant(1_000_000)
    o = order(firm, 100_000)
    await world.run(hold_voucher_share, o)
    url = f"/api/v1/bookings/{o.booking_id}/voucher-refund"
    not_yet = await world.client.post(
        url, json={"amount_fen": 1, "reason": "尚未完成"}, headers=await world.bureau()
    )
    assert not_yet.status_code == 409 and error_code(not_yet) == "checkout_not_captured"
    await world.run(capture_voucher_share, o)
    too_much = await world.client.post(
        url, json={"amount_fen": 50_001, "reason": "超额"}, headers=await world.bureau()
    )
    assert too_much.status_code == 409 and error_code(too_much) == "refund_too_large"


async def test_a_discarded_draft_frees_its_bookings_for_the_next_batch(world: VoucherDesk) -> None:
    firm, _ = await world.firm_with_grant(1_000_000)
    unit = await new_org(world.backend, kind=OrgKind.unit)
    booking = await _completed(
        world, firm, unit, 50_000, ("booking", "usage", "payment", "delivery", "rating")
    )
    science = await world.bureau()
    period = {"period_start": str(today()), "period_end": str(today())}
    draft = (await world.client.post("/api/v1/settlements", json=period, headers=science)).json()
    assert str(booking) in {line["booking_id"] for line in draft["lines"]}
    url = f"/api/v1/settlements/{draft['id']}"
    as_firm = await world.client.post(f"{url}/discard", headers=await world.headers("demo-researcher"))
    assert as_firm.status_code == 404
    discarded = await world.client.post(f"{url}/discard", headers=science)
    assert discarded.status_code == 200 and discarded.json()["status"] == "discarded"
    assert (await world.client.post(f"{url}/submit", headers=science)).status_code == 409
    again = (await world.client.post("/api/v1/settlements", json=period, headers=science)).json()
    assert str(booking) in {line["booking_id"] for line in again["lines"]}
    submitted = await world.client.post(f"/api/v1/settlements/{again['id']}/submit", headers=science)
    late = await world.client.post(f"/api/v1/settlements/{again['id']}/discard", headers=science)
    assert submitted.status_code == 200
    assert late.status_code == 409 and error_code(late) == "invalid_transition"


async def test_reconciliation_does_not_count_the_batchs_own_bookings_as_settled_elsewhere(
    world: VoucherDesk,
) -> None:
    firm, _ = await world.firm_with_grant(1_000_000)
    unit = await new_org(world.backend, kind=OrgKind.unit)
    complete = ("booking", "usage", "payment", "delivery", "rating")
    booking = await _completed(world, firm, unit, 50_000, complete)  # share 25,000
    science = await world.bureau()
    period = {"period_start": str(today()), "period_end": str(today())}
    draft = (await world.client.post("/api/v1/settlements", json=period, headers=science)).json()
    discarded = await world.client.post(f"/api/v1/settlements/{draft['id']}/discard", headers=science)
    assert discarded.status_code == 200
    batch = (await world.client.post("/api/v1/settlements", json=period, headers=science)).json()
    assert str(booking) in {line["booking_id"] for line in batch["lines"]}

    report = (
        await world.client.get(f"/api/v1/settlements/{batch['id']}/reconciliation", headers=science)
    ).json()
    # the discarded draft settled nothing: this batch's bookings count once, as this batch's (the
    # period's captures split into this batch, held back, other batches and none: each once)
    parts = (
        report["batch_total_fen"],
        report["period_held_back_fen"],
        report["period_settled_elsewhere_fen"],
        report["period_unlisted_fen"],
    )
    assert sum(parts) == report["period_captured_fen"], report


async def test_drawing_again_while_a_draft_holds_the_bookings_names_the_draft(world: VoucherDesk) -> None:
    firm, _ = await world.firm_with_grant(1_000_000)
    unit = await new_org(world.backend, kind=OrgKind.unit)
    await _completed(world, firm, unit, 40_000, ("booking", "usage", "payment", "delivery", "rating"))
    science = await world.bureau()
    period = {"period_start": str(today()), "period_end": str(today())}
    draft = (await world.client.post("/api/v1/settlements", json=period, headers=science)).json()
    assert draft["status"] == "draft" and draft["total_fen"] > 0

    again = await world.client.post("/api/v1/settlements", json=period, headers=science)
    assert again.status_code == 409 and error_code(again) == "draft_holds_bookings", again.text
    error = again.json()["error"]
    assert error["details"]["draft_id"] == draft["id"] and draft["id"] in error["message"]
    [named] = [d for d in error["details"]["drafts"] if d["draft_id"] == draft["id"]]
    assert named["total_fen"] == draft["total_fen"] and named["bookings"] == len(draft["lines"])

    # once the draft is discarded its bookings are drawn again
    await world.client.post(f"/api/v1/settlements/{draft['id']}/discard", headers=science)
    redrawn = await world.client.post("/api/v1/settlements", json=period, headers=science)
    assert redrawn.status_code == 201 and redrawn.json()["total_fen"] >= draft["total_fen"]


async def test_the_xlsx_export_has_summable_yuan_amounts_and_chinese_statuses(world: VoucherDesk) -> None:
    firm, _ = await world.firm_with_grant(5_000_000)
    unit = await new_org(world.backend, kind=OrgKind.unit)
    complete = ("booking", "usage", "payment", "delivery", "rating")
    first = await _completed(world, firm, unit, 123_457, complete)  # share 61,728
    await _completed(world, firm, unit, 200_001, complete)  # share 100,000
    science = await world.bureau()
    period = {"period_start": str(today()), "period_end": str(today())}
    batch = (await world.client.post("/api/v1/settlements", json=period, headers=science)).json()
    submitted = await world.client.post(f"/api/v1/settlements/{batch['id']}/submit", headers=science)
    assert submitted.json()["status_label"] == "已提交"

    xlsx = await world.client.get(
        f"/api/v1/settlements/{batch['id']}/export", params={"format": "xlsx"}, headers=science
    )
    assert xlsx.status_code == 200, xlsx.text
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None
    rows = list(sheet.iter_rows())
    assert rows[0][2].value == "状态：已提交"
    header = [c.value for c in rows[1]]
    fee, share = header.index("服务费（元）"), header.index("创新券兑付金额（元）")
    lines, total = rows[2:-1], rows[-1]
    assert all(isinstance(row[share].value, int | float) for row in lines)
    assert {row[share].number_format for row in [*lines, total]} == {"#,##0.00"}
    ours = next(row for row in lines if row[-1].value == str(first))
    assert ours[share].value == 617.28 and ours[fee].value == 1234.57
    assert ours[2].value == next(
        line["booking_number"] for line in batch["lines"] if line["booking_id"] == str(first)
    )
    included = [row for row in lines if row[7].value == "是"]
    assert (
        round(sum(row[share].value for row in included), 2) == total[share].value == batch["total_fen"] / 100
    )
