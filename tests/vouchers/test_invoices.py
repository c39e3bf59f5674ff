"""Invoices (发票 / 财政票据): the booking's researcher or the firm's admin asks for the invoice of a
paid booking; the provider issues it (number and PDF) or refuses it with a reason; the statement
shows where it stands, the firm downloads the file, and the one who asked is told."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from accounts.demo import demo_id
from accounts.models import Role
from tests.booking.world import make_user
from tests.results.flow import completed_booking
from tests.support import error_code
from tests.vouchers.desk import VoucherDesk
from vouchers.models import InvoiceEvent, InvoiceRequest
from yixiang.outbox import OutboxEvent

RACERS = 20
PDF = b"%PDF-1.7\n% e-invoice\n" + b"0" * 2000
BODY = {
    "kind": "special",
    "title": "杭州青禾生物科技有限公司",
    "tax_number": "91330106MA2AAAAA1B",
    "email": "finance@qinghe.example.cn",
}


async def _booking(world: VoucherDesk, *, paid: bool = True) -> tuple[str, dict[str, Any]]:
    booking_id, _ = await completed_booking(world.client, world.headers, world.backend)
    if paid:
        received = await world.client.post(
            f"/api/v1/bookings/{booking_id}/payment-received",
            json={"reference": "对公-发票"},
            headers=await world.headers("demo-provider"),
        )
        assert received.status_code == 200, received.text
        return booking_id, received.json()
    statement = await world.client.get(
        f"/api/v1/bookings/{booking_id}/statement", headers=await world.headers("demo-researcher")
    )
    return booking_id, statement.json()


async def _issue(
    world: VoucherDesk, booking_id: str, number: str, content: bytes = PDF, who: str = "demo-provider"
):  # type: ignore[no-untyped-def]
    return await world.client.post(
        f"/api/v1/bookings/{booking_id}/invoice/issue",
        data={"invoice_number": number},
        files={"file": ("发票.pdf", content, "application/pdf")},
        headers=await world.headers(who),
    )


async def test_the_researcher_asks_the_provider_issues_and_the_firm_downloads(world: VoucherDesk) -> None:
    booking_id, paid = await _booking(world)
    url = f"/api/v1/bookings/{booking_id}/invoice"
    researcher, admin = await world.headers("demo-researcher"), await world.headers("demo-firm-admin")

    asked = await world.client.post(url, json=BODY, headers=researcher)
    assert asked.status_code == 201, asked.text
    invoice = asked.json()
    assert (invoice["status"], invoice["status_label"], invoice["kind_label"]) == (
        "requested",
        "待开具",
        "增值税专用发票",
    )
    assert invoice["amount_fen"] == paid["paid_fen"] > 0 and invoice["file_url"] is None
    assert invoice["booking_number"] == paid["booking_number"]
    # the provider finds it in its queue; another firm does not see it in its list
    queue = await world.client.get(
        "/api/v1/invoices", params={"status": "requested"}, headers=await world.headers("demo-provider")
    )
    assert invoice in queue.json()["items"]
    for outsider in ("demo-researcher-2", "demo-science-bureau"):
        others = await world.client.get("/api/v1/invoices", headers=await world.headers(outsider))
        assert others.status_code == 200 and booking_id not in {
            i["booking_id"] for i in others.json()["items"]
        }
    # asked again the same (a retry, or the admin for the firm): the same request
    again = await world.client.post(url, json=BODY, headers=admin)
    assert again.status_code == 201 and again.json() == invoice
    other_title = await world.client.post(url, json={**BODY, "title": "另一个抬头"}, headers=researcher)
    assert other_title.status_code == 409 and error_code(other_title) == "invoice_already_requested"
    assert "请等待服务单位处理" in other_title.json()["error"]["message"]

    # the statement shows the request to both sides
    statement_url = f"/api/v1/bookings/{booking_id}/statement"
    for who in ("demo-researcher", "demo-provider"):
        shown = (await world.client.get(statement_url, headers=await world.headers(who))).json()
        assert shown["invoice"] == invoice, who

    # only the provider's staff answer; the number and a PDF
    by_firm = await _issue(world, booking_id, "25332000000012345678", who="demo-firm-admin")
    assert by_firm.status_code == 403 and error_code(by_firm) == "provider_staff_required"
    not_pdf = await _issue(
        world, booking_id, "25332000000012345678", content=b"\x89PNG\r\n\x1a\n" + b"0" * 50
    )
    assert not_pdf.status_code == 400 and error_code(not_pdf) == "attachment_invalid"
    assert not_pdf.json()["error"]["message"] == "发票文件须为 PDF 文件"
    too_big = await _issue(world, booking_id, "25332000000012345678", content=PDF + b"0" * (2 * 1024 * 1024))
    assert too_big.status_code in (400, 413)
    bad_number = await _issue(world, booking_id, "号码")
    assert bad_number.status_code == 400 and "发票号码" in bad_number.json()["error"]["message"]
    issued = await _issue(world, booking_id, "25332000000012345678")
    assert issued.status_code == 200, issued.text
    done = issued.json()
    assert (done["status"], done["invoice_number"], done["file_size"]) == (
        "issued",
        "25332000000012345678",
        len(PDF),
    )
    assert done["file_url"] == f"{url}/file" and done["answered_at"] is not None
    assert (await _issue(world, booking_id, "25332000000012345678")).json() == done  # a retry
    queue = await world.client.get(
        "/api/v1/invoices", params={"status": "requested"}, headers=await world.headers("demo-provider")
    )
    assert booking_id not in {i["booking_id"] for i in queue.json()["items"]}
    other = await _issue(world, booking_id, "25332000000099999999")
    assert other.status_code == 409 and error_code(other) == "invoice_already_issued"
    late_reject = await world.client.post(
        f"{url}/reject", json={"reason": "抬头有误"}, headers=await world.headers("demo-provider")
    )
    assert late_reject.status_code == 409 and error_code(late_reject) == "invoice_already_issued"
    asked_after = await world.client.post(url, json={**BODY, "kind": "ordinary"}, headers=researcher)
    assert asked_after.status_code == 409 and error_code(asked_after) == "invoice_already_issued"

    # the firm downloads it; another firm does not learn it exists
    for who in ("demo-researcher", "demo-firm-admin", "demo-provider"):
        got = await world.client.get(done["file_url"], headers=await world.headers(who))
        assert got.status_code == 200 and got.content == PDF, who
        assert got.headers["content-type"].startswith("application/pdf")
    for who in ("demo-researcher-2", "demo-science-bureau"):
        hidden = await world.client.get(done["file_url"], headers=await world.headers(who))
        assert hidden.status_code == 404, who
    shown = (await world.client.get(statement_url, headers=researcher)).json()
    assert shown["invoice"] == done

    # the one who asked is told, with the number (never the tax number)
    async with world.backend.runtime.session_maker() as session:
        events = (
            await session.scalars(select(OutboxEvent).where(OutboxEvent.topic == "voucher.invoice_issued"))
        ).all()
    [told] = [e.payload for e in events if e.payload["booking_id"] == booking_id]
    assert told["user_id"] == str(demo_id("demo-researcher"))
    assert (told["invoice_number"], told["kind_label"]) == ("25332000000012345678", "增值税专用发票")
    assert BODY["tax_number"] not in str(told)


async def test_a_refused_request_may_be_made_again_corrected(world: VoucherDesk) -> None:
    booking_id, _ = await _booking(world)
    url = f"/api/v1/bookings/{booking_id}/invoice"
    admin, provider = await world.headers("demo-firm-admin"), await world.headers("demo-provider")
    assert (await world.client.post(url, json=BODY, headers=admin)).status_code == 201
    no_reason = await world.client.post(f"{url}/reject", json={}, headers=provider)
    assert no_reason.status_code == 400
    refused = await world.client.post(
        f"{url}/reject", json={"reason": "本单位为事业单位，只能开具财政票据"}, headers=provider
    )
    assert refused.status_code == 200, refused.text
    assert (refused.json()["status"], refused.json()["status_label"]) == ("rejected", "已拒绝")
    assert refused.json()["reject_reason"] == "本单位为事业单位，只能开具财政票据"
    issue_refused = await _issue(world, booking_id, "0033000012")
    assert issue_refused.status_code == 409 and error_code(issue_refused) == "invoice_state_invalid"

    fiscal = {"kind": "fiscal", "title": "杭州青禾生物科技有限公司", "email": "finance@qinghe.example.cn"}
    anew = await world.client.post(url, json=fiscal, headers=admin)
    assert anew.status_code == 201, anew.text
    assert (anew.json()["status"], anew.json()["kind_label"], anew.json()["reject_reason"]) == (
        "requested",
        "财政票据",
        "",
    )
    assert (await _issue(world, booking_id, "0033000012")).json()["status"] == "issued"
    async with world.backend.runtime.session_maker() as session:
        topics = [
            e.topic
            for e in (
                await session.scalars(
                    select(OutboxEvent).where(
                        OutboxEvent.topic.in_(["voucher.invoice_rejected", "voucher.invoice_issued"])
                    )
                )
            ).all()
            if e.payload["booking_id"] == booking_id
        ]
    assert sorted(topics) == ["voucher.invoice_issued", "voucher.invoice_rejected"]


async def test_only_a_paid_booking_and_only_its_firm_get_an_invoice(world: VoucherDesk) -> None:
    booking_id, _ = await _booking(world, paid=False)
    url = f"/api/v1/bookings/{booking_id}/invoice"
    unpaid = await world.client.post(url, json=BODY, headers=await world.headers("demo-researcher"))
    assert unpaid.status_code == 409 and error_code(unpaid) == "invoice_not_paid"
    assert "尚未付款" in unpaid.json()["error"]["message"]
    assert (await world.client.get(url, headers=await world.headers("demo-researcher"))).status_code == 404

    await world.client.post(
        f"/api/v1/bookings/{booking_id}/payment-received",
        json={"reference": "对公-发票2"},
        headers=await world.headers("demo-provider"),
    )
    colleague = await make_user(world.backend, demo_id("firm-qinghe"), Role.researcher)
    for who, status, code in (
        (colleague, 403, "invoice_requester_required"),  # of the firm, but not the one who booked
        ("demo-provider", 403, "invoice_requester_required"),
        ("demo-researcher-2", 404, "statement_not_found"),  # another firm: not found
    ):
        refused = await world.client.post(url, json=BODY, headers=await world.headers(who))
        assert refused.status_code == status and error_code(refused) == code, (who, refused.text)
    no_tax_number = await world.client.post(
        url, json={**BODY, "tax_number": ""}, headers=await world.headers("demo-researcher")
    )
    assert no_tax_number.status_code == 400 and "纳税人识别号" in no_tax_number.json()["error"]["message"]
    bad_email = await world.client.post(
        url, json={**BODY, "email": "not-an-address"}, headers=await world.headers("demo-researcher")
    )
    assert bad_email.status_code == 400
    never_asked = await _issue(world, booking_id, "25332000000012345678")
    assert never_asked.status_code == 404 and error_code(never_asked) == "invoice_not_found"
    async with world.backend.runtime.session_maker() as session:
        wanted = InvoiceRequest.booking_id == uuid.UUID(booking_id)
        assert await session.scalar(select(InvoiceRequest).where(wanted)) is None  # nothing half-written


@pytest.mark.slow
async def test_racing_requests_and_answers_leave_one_invoice_and_one_number(world: VoucherDesk) -> None:
    booking_id, _ = await _booking(world)
    url = f"/api/v1/bookings/{booking_id}/invoice"
    askers = [await world.headers("demo-researcher"), await world.headers("demo-firm-admin")]
    asked = await asyncio.gather(
        *(world.client.post(url, json=BODY, headers=askers[i % 2]) for i in range(RACERS))
    )
    assert {r.status_code for r in asked} == {201}, {r.text for r in asked if r.status_code != 201}
    assert len({r.text for r in asked}) == 1  # every caller got the one request

    numbers = ["25332000000011111111", "25332000000022222222"]
    answered = await asyncio.gather(*(_issue(world, booking_id, numbers[i % 2]) for i in range(RACERS)))
    winners = {r.json()["invoice_number"] for r in answered if r.status_code == 200}
    assert len(winners) == 1, winners
    losers = [r for r in answered if r.status_code != 200]
    assert all(r.status_code == 409 and error_code(r) == "invoice_already_issued" for r in losers)
    assert len(losers) == RACERS // 2  # the other number's every try, and nothing else
    async with world.backend.runtime.session_maker() as session:
        invoice = await session.scalar(
            select(InvoiceRequest).where(InvoiceRequest.booking_id == uuid.UUID(booking_id))
        )
        assert invoice is not None
        steps = (
            await session.scalars(select(InvoiceEvent.action).where(InvoiceEvent.invoice_id == invoice.id))
        ).all()
    assert sorted(steps) == ["issue", "request"]
