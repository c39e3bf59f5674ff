"""Voucher applications (申领): a firm admin applies with documents, an officer of the programme's
region returns it for changes, approves an amount, and the amount is the firm's grant — every
step recorded and announced."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from accounts.demo import demo_id
from tests.vouchers.desk import VoucherDesk
from yixiang.outbox import OutboxEvent

BASE = "/api/v1/voucher-applications"
QINGHE = demo_id("firm-qinghe")
PDF = b"%PDF-1.7\n" + b"0" * 2048


def application_body(program_id: str, **change: Any) -> dict[str, Any]:
    return {
        "program_id": program_id,
        "enterprise_id": str(QINGHE),
        "requested_fen": 500_000,
        "contact_name": "王青禾",
        "contact_phone": "0571-88886666",
        "tech_sme_number": "202633010600123",
        "purpose": "新药中间体的核磁与质谱表征",
        **change,
    }


async def errors_of(response: Any) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


async def test_apply_return_resubmit_approve_becomes_the_firms_grant(world: VoucherDesk) -> None:
    program = await world.program(per_firm_year_cap_fen=1_000_000, per_order_cap_fen=200_000)
    firm_admin, bureau = await world.headers("demo-firm-admin"), await world.bureau()

    open_programs = (await world.client.get(f"{BASE}/open-programs", headers=firm_admin)).json()
    assert program["id"] in [p["id"] for p in open_programs]

    created = await world.client.post(BASE, json=application_body(program["id"]), headers=firm_admin)
    assert created.status_code == 201, created.text
    application = created.json()
    assert (application["status"], application["status_text"]) == ("submitted", "待审核")
    app_url = f"{BASE}/{application['id']}"

    again = await world.client.post(BASE, json=application_body(program["id"]), headers=firm_admin)
    assert await errors_of(again) == (409, "application_open")
    assert again.json()["error"]["details"]["application_id"] == application["id"]

    attached = await world.client.post(
        f"{app_url}/attachments", files={"file": ("营业执照.pdf", PDF, "application/pdf")}, headers=firm_admin
    )
    assert attached.status_code == 201, attached.text
    (doc,) = attached.json()["attachments"]
    assert doc["name"] == "营业执照.pdf" and doc["size"] == len(PDF)
    downloaded = await world.client.get(doc["url"], headers=bureau)
    assert downloaded.status_code == 200 and downloaded.content == PDF

    queue = (await world.client.get(BASE, params={"status": "submitted"}, headers=bureau)).json()
    assert application["id"] in [a["id"] for a in queue["items"]]

    no_reason = await world.client.post(f"{app_url}/return", json={}, headers=bureau)
    assert await errors_of(no_reason) == (400, "application_invalid")
    returned = await world.client.post(
        f"{app_url}/return", json={"reason": "请补充研发项目说明"}, headers=bureau
    )
    assert (
        returned.json()["status"] == "returned" and returned.json()["decision_reason"] == "请补充研发项目说明"
    )
    early = await world.client.post(f"{app_url}/approve", json={}, headers=bureau)
    assert await errors_of(early) == (409, "application_state_invalid")

    resubmitted = await world.client.put(
        app_url,
        json=application_body(
            program["id"], requested_fen=400_000, purpose="补充：新药中间体项目（立项书见附件）"
        ),
        headers=firm_admin,
    )
    assert resubmitted.status_code == 200 and resubmitted.json()["status"] == "submitted", resubmitted.text

    too_much = await world.client.post(f"{app_url}/approve", json={"approved_fen": 400_001}, headers=bureau)
    assert await errors_of(too_much) == (400, "application_invalid")
    approved = await world.client.post(
        f"{app_url}/approve", json={"approved_fen": 300_000, "reason": "按预算批准 3000 元"}, headers=bureau
    )
    assert approved.status_code == 200, approved.text
    decided = approved.json()
    assert decided["status"] == "approved" and decided["approved_fen"] == 300_000 and decided["grant_id"]
    assert [step["action"] for step in decided["history"]] == ["submit", "return", "resubmit", "approve"]

    wallet = (await world.client.get("/api/v1/me/vouchers", headers=firm_admin)).json()
    grant = next(g for g in wallet["grants"] if g["id"] == decided["grant_id"])
    assert grant["amount_fen"] == 300_000 and grant["balance_fen"] == 300_000
    check = await world.client.get("/api/v1/ledger/check", headers=await world.headers("demo-admin"))
    assert check.json()["ok"] is True

    replay = await world.client.post(f"{app_url}/approve", json={"approved_fen": 300_000}, headers=bureau)
    assert await errors_of(replay) == (409, "application_state_invalid")

    async with world.backend.runtime.session_maker() as session:
        events = (
            await session.scalars(
                select(OutboxEvent)
                .where(OutboxEvent.topic.like("voucher.application%"))
                .order_by(OutboxEvent.id)
            )
        ).all()
    mine = [e.payload for e in events if e.payload["application_id"] == application["id"]]
    assert [(p["action"], p["status"]) for p in mine] == [
        ("submit", "submitted"),
        ("return", "returned"),
        ("resubmit", "submitted"),
        ("approve", "approved"),
    ]


async def test_who_may_apply_see_and_decide(world: VoucherDesk) -> None:
    program = await world.program()
    firm_admin = await world.headers("demo-firm-admin")
    researcher, other_firm = await world.headers("demo-researcher"), await world.headers("demo-researcher-2")
    provider = await world.headers("demo-provider")

    by_researcher = await world.client.post(BASE, json=application_body(program["id"]), headers=researcher)
    assert await errors_of(by_researcher) == (403, "firm_admin_required")
    created = (await world.client.post(BASE, json=application_body(program["id"]), headers=firm_admin)).json()
    url = f"{BASE}/{created['id']}"

    assert (await world.client.get(url, headers=researcher)).status_code == 200  # the same firm reads it
    assert (await world.client.get(url, headers=other_firm)).status_code == 404
    assert (await world.client.get(url, headers=provider)).status_code == 404
    assert created["id"] not in [
        a["id"] for a in (await world.client.get(BASE, headers=other_firm)).json()["items"]
    ]
    by_firm = await world.client.post(f"{url}/approve", json={}, headers=firm_admin)
    assert by_firm.status_code in (403, 404)
    withdrawn = await world.client.post(f"{url}/withdraw", headers=firm_admin)
    assert withdrawn.json()["status"] == "withdrawn"
    # a withdrawn application no longer blocks a new one
    anew = await world.client.post(BASE, json=application_body(program["id"]), headers=firm_admin)
    assert anew.status_code == 201


async def test_bad_applications_and_attachments_are_refused_with_reasons(world: VoucherDesk) -> None:
    program = await world.program(per_firm_year_cap_fen=1_000_000, per_order_cap_fen=200_000)
    firm_admin = await world.headers("demo-firm-admin")

    over_cap = await world.client.post(
        BASE, json=application_body(program["id"], requested_fen=1_000_001), headers=firm_admin
    )
    assert await errors_of(over_cap) == (400, "application_invalid")
    no_sme_number = await world.client.post(
        BASE, json=application_body(program["id"], tech_sme_number=""), headers=firm_admin
    )
    assert no_sme_number.status_code == 400
    unknown = await world.client.post(BASE, json=application_body(str(uuid.uuid4())), headers=firm_admin)
    assert unknown.status_code == 404

    created = (await world.client.post(BASE, json=application_body(program["id"]), headers=firm_admin)).json()
    exe = await world.client.post(
        f"{BASE}/{created['id']}/attachments",
        files={"file": ("证书.pdf", b"MZ\x90\x00" + b"0" * 100, "application/pdf")},
        headers=firm_admin,
    )
    assert await errors_of(exe) == (400, "attachment_invalid")
