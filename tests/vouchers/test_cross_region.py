"""Cross-region use (通用通兑, seed 004 §(八)): a 宁波 firm's voucher pays a 杭州 provider; 宁波's
settlement batch pays it, 杭州's does not; both bureaus' clearing statements show the booking,
out for 宁波 and in for 杭州, with the same amounts to the fen."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select

from accounts.demo import demo_id
from accounts.models import Role
from tests.booking.world import machine_time, make_instrument, make_user, served, set_calendar
from tests.results.flow import upload
from tests.support import error_code
from tests.vouchers.desk import VoucherDesk, new_org, new_user, program_body, today
from vouchers.checkout_store import program_terms
from vouchers.demo import DEMO_PROGRAM, NINGBO_GRANT, NINGBO_PROGRAM
from vouchers.models import VoucherGrant, VoucherProgram
from vouchers.rules import order_accepted, region_at_level_of
from yixiang.db import utcnow

STATEMENTS = "/api/v1/clearing-statements"
NB_SCI, NB_FIN = demo_id("bureau-nb-sci"), demo_id("bureau-nb-fin")


def period(since: date | None = None) -> dict[str, str]:
    """From `since` (today by default) to today, asked each time: a run crossing midnight moves on."""
    return {"period_start": str(since or today()), "period_end": str(today())}


def _line(statement: dict[str, Any], counterpart: str, booking_id: str) -> dict[str, Any]:
    region = next(c for c in statement["counterparts"] if c["region_code"] == counterpart)
    return next(line for line in region["lines"] if line["booking_id"] == booking_id)


async def _ningbo_firm_with_voucher(world: VoucherDesk, officer: dict[str, str]) -> tuple[uuid.UUID, str]:
    """A 宁波 firm holding 宁波's voucher (40%, accepted in 宁波 and 杭州); its researcher."""
    body = program_body(coverage_bp=4000, accepted_region_codes=["330200", "330100"], cross_region=True)
    program = await world.client.post("/api/v1/voucher-programs", json=body, headers=officer)
    assert program.status_code == 201, program.text
    assert program.json()["region_code"] == "330200"
    firm = await new_org(world.backend, region_code="330212", name=f"宁波测试企业-{uuid.uuid4().hex[:6]}")
    grant = await world.client.post(
        f"/api/v1/voucher-programs/{program.json()['id']}/grants",
        json={"enterprise_id": str(firm), "amount_fen": 1_000_000},
        headers=officer,
    )
    assert grant.status_code == 201, grant.text
    return firm, await make_user(world.backend, firm, Role.researcher)


async def test_a_ningbo_voucher_at_a_hangzhou_provider_is_settled_by_ningbo_and_cleared_by_both(
    world: VoucherDesk,
) -> None:
    client, since = world.client, today()
    nb_officer = await world.headers(await new_user(world.backend, NB_SCI, Role.bureau_officer))
    nb_finance = await world.headers(await new_user(world.backend, NB_FIN, Role.bureau_officer))
    hz_science, hz_finance = await world.bureau(), await world.headers("demo-finance-bureau")
    _, username = await _ningbo_firm_with_voucher(world, nb_officer)
    researcher = await world.headers(username)

    # the researcher books a 杭州 instrument (之江理工) and uses it for 65 minutes
    instrument = await make_instrument(world.backend)
    provider = await world.headers("demo-provider")
    await set_calendar(client, provider, instrument.instrument_id)
    start = (utcnow() + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    created = await client.post(
        "/api/v1/bookings",
        json=machine_time(instrument, start, start + timedelta(hours=2)),
        headers=researcher,
    )
    assert created.status_code == 201, created.text
    booking_id, number = created.json()["id"], created.json()["number"]
    done = await served(client, world.backend, provider, booking_id, minutes=65)
    assert done.status_code == 200, done.text
    # 300 元 billed; 宁波's voucher pays 40% = 120 元, the firm 180 元
    assert (done.json()["final_fee_fen"], done.json()["voucher_fen"], done.json()["due_fen"]) == (
        30_000,
        12_000,
        18_000,
    )
    statement = (await client.get(f"/api/v1/bookings/{booking_id}/statement", headers=researcher)).json()
    assert statement["program_name"].startswith("测试创新券")
    # 宁波's bureau sees the statement: its programme paid the voucher share
    seen_by_nb = await client.get(f"/api/v1/bookings/{booking_id}/statement", headers=nb_officer)
    assert seen_by_nb.status_code == 200

    # the rest of the chain: results delivered, the firm rates, the provider records the payment
    delivered = await upload(client, provider, booking_id, [("report.pdf", b"%PDF-1.4 report")])
    assert delivered.status_code == 201, delivered.text
    rated = await client.post(
        f"/api/v1/bookings/{booking_id}/rating", json={"overall": 4}, headers=researcher
    )
    assert rated.status_code == 201, rated.text
    paid = await client.post(
        f"/api/v1/bookings/{booking_id}/payment-received", json={"reference": "甬-0001"}, headers=provider
    )
    assert paid.status_code == 200 and paid.json()["evidence_complete"], paid.text

    # 宁波's batch pays 之江理工 the 120 元; 杭州's batch of the same day does not take it
    nb_batch = await client.post("/api/v1/settlements", json=period(since), headers=nb_officer)
    assert nb_batch.status_code == 201, nb_batch.text
    ours = {line["booking_id"]: line for line in nb_batch.json()["lines"]}
    assert ours[booking_id]["voucher_fen"] == 12_000 and ours[booking_id]["unit_id"] == str(
        demo_id("unit-zjlg")
    )
    assert ours[booking_id]["rating_status"] == "rated"
    hz_batch = await client.post("/api/v1/settlements", json=period(since), headers=hz_science)
    assert hz_batch.status_code in (201, 409), hz_batch.text
    if hz_batch.status_code == 201:
        drawn = hz_batch.json()["lines"] + hz_batch.json()["held_back"]
        assert booking_id not in {line["booking_id"] for line in drawn}

    # before payment: both statements show the booking, not yet settled
    nb_view = (await client.get(STATEMENTS, params=period(since), headers=nb_officer)).json()
    hz_view = (await client.get(STATEMENTS, params=period(since), headers=hz_science)).json()
    assert (nb_view["region_code"], nb_view["region_name"]) == ("330200", "宁波市")
    out_line, in_line = _line(nb_view, "330100", booking_id), _line(hz_view, "330200", booking_id)
    assert (out_line["direction"], out_line["direction_label"]) == ("out", "本地券异地使用")
    assert (in_line["direction"], in_line["direction_label"]) == ("in", "异地券本地使用")
    for line in (out_line, in_line):
        assert (line["fee_fen"], line["voucher_fen"], line["booking_number"]) == (30_000, 12_000, number)
        assert (line["issuer_region_code"], line["provider_region_code"]) == ("330200", "330100")
        assert line["unit_name"] == "之江理工大学分析测试中心"
        assert line["settlement_id"] == nb_batch.json()["id"] and line["settlement_label"] == "草稿"
    hangzhou = next(c for c in nb_view["counterparts"] if c["region_code"] == "330100")
    assert hangzhou["region_name"] == "杭州市"
    assert hangzhou["out_voucher_fen"] == sum(
        line["voucher_fen"] for line in hangzhou["lines"] if line["direction"] == "out"
    )
    assert hangzhou["net_fen"] == hangzhou["in_voucher_fen"] - hangzhou["out_voucher_fen"]
    assert nb_view["out_voucher_fen"] == sum(c["out_voucher_fen"] for c in nb_view["counterparts"])
    # what one side lists as out towards the other, the other lists as in, booking for booking
    ningbo = next(c for c in hz_view["counterparts"] if c["region_code"] == "330200")
    nb_out = {
        line["booking_id"]: line["voucher_fen"] for line in hangzhou["lines"] if line["direction"] == "out"
    }
    hz_in = {line["booking_id"]: line["voucher_fen"] for line in ningbo["lines"] if line["direction"] == "in"}
    assert nb_out == hz_in and hangzhou["out_voucher_fen"] == ningbo["in_voucher_fen"]

    # 宁波 pays its batch: both statements show the booking settled
    url = f"/api/v1/settlements/{nb_batch.json()['id']}"
    assert (await client.post(f"{url}/submit", headers=nb_officer)).status_code == 200
    assert (await client.post(f"{url}/approve", headers=nb_finance)).status_code == 200
    marked = await client.post(
        f"{url}/mark-paid", json={"bank_reference": "甬财-2026-01"}, headers=nb_finance
    )
    assert marked.status_code == 200, marked.text
    nb_view = (await client.get(STATEMENTS, params=period(since), headers=nb_officer)).json()
    hz_view = (await client.get(STATEMENTS, params=period(since), headers=hz_finance)).json()
    assert _line(nb_view, "330100", booking_id)["settlement_label"] == "已付款"
    assert _line(hz_view, "330200", booking_id)["settlement_status"] == "paid"
    hangzhou = next(c for c in nb_view["counterparts"] if c["region_code"] == "330100")
    assert hangzhou["out_settled_fen"] >= 12_000

    # the finance office's CSV: the line with its amounts in yuan, and the subtotals
    exported = await client.get(
        "/api/v1/clearing-statements/export", params={**period(since), "format": "csv"}, headers=nb_finance
    )
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    row = next(r for r in rows if r[-1] == booking_id)
    assert row[:3] == ["杭州市", "本地券异地使用", number]
    assert (row[8], row[9], row[11]) == ("300.00", "120.00", "已付款")
    subtotal = next(r for r in rows if r[0] == "杭州市" and r[1].startswith("小计：本地券异地使用"))
    assert subtotal[9] == f"{hangzhou['out_voucher_fen'] // 100}.{hangzhou['out_voucher_fen'] % 100:02d}"
    check = await client.get("/api/v1/ledger/check", headers=await world.headers("demo-admin"))
    assert check.json()["ok"], check.json()


async def test_a_clearing_statement_is_for_the_bureaus_of_its_region(world: VoucherDesk) -> None:
    client = world.client
    url = "/api/v1/clearing-statements"
    for username in ("demo-researcher", "demo-provider", "demo-firm-admin"):
        refused = await client.get(url, params=period(), headers=await world.headers(username))
        assert refused.status_code == 403 and error_code(refused) == "bureau_officer_required", username
    other = await client.get(url, params={**period(), "region": "330200"}, headers=await world.bureau())
    assert other.status_code == 403 and "本地区" in other.json()["error"]["message"]
    admin = await world.headers("demo-admin")
    unnamed = await client.get(url, params=period(), headers=admin)
    assert unnamed.status_code == 400 and unnamed.json()["error"]["details"]["field"] == "region"
    assert (await client.get(url, params={**period(), "region": "330200"}, headers=admin)).status_code == 200
    backwards = {"period_start": str(today()), "period_end": str(today() - timedelta(days=1))}
    wrong = await client.get(url, params=backwards, headers=await world.bureau())
    assert wrong.status_code == 400 and "对账期间" in wrong.json()["error"]["message"]


async def test_the_demo_cities_accept_each_others_providers(world: VoucherDesk) -> None:
    async with world.backend.runtime.session_maker() as session:
        hangzhou = await session.get(VoucherProgram, demo_id(DEMO_PROGRAM))
        ningbo = await session.get(VoucherProgram, demo_id(NINGBO_PROGRAM))
        grant = await session.scalar(select(VoucherGrant).where(VoucherGrant.id == demo_id(NINGBO_GRANT)))
    assert hangzhou is not None and ningbo is not None and grant is not None
    assert (hangzhou.region_code, ningbo.region_code) == ("330100", "330200")
    assert grant.enterprise_id == demo_id("firm-nb-haiyun") and grant.amount_fen == 3_000_000
    async with world.backend.runtime.session_maker() as session:
        conn = await session.connection()
        for program, provider_region in ((hangzhou, "330203"), (ningbo, "330106")):
            rules = (await program_terms(conn, program.id)).rules
            assert order_accepted(
                rules,
                on=today(),
                firm_is_tech_sme=True,
                provider_unit_id=str(uuid.uuid4()),
                provider_region=provider_region,
                category_code="0201",
                instrument_voucher_eligible=True,
            ), program.name


def test_a_counterpart_is_named_at_the_readers_level() -> None:
    assert region_at_level_of("330200", "330106") == "330100"  # a city sees the other city
    assert region_at_level_of("320000", "330106") == "330000"  # a province the other province
    assert region_at_level_of("330100", "330000") == "330000"  # the province's programme, as issued
