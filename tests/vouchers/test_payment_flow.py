"""The whole payment loop through the API against the fake WeChat Pay server: the quote, the
booking that confirms it, the completion, the payment order the firm pays in WeChat, the
notification (three deliveries, one forged, one stale) applied once, a later fee correction
refunded through WeChat Pay and its notification, the day's trade bill reconciled with the ledger
to the fen, and the ledger's check."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import msgspec

from accounts.models import Role
from tests.booking.world import machine_time, make_instrument, served, set_calendar
from tests.vouchers.desk import UNIT_ZJLG, VoucherDesk, new_user
from tests.vouchers.paying import wechat_pay_in
from vouchers.payments.corrections import FEE_CORRECTED
from vouchers.payments.gateway import WECHAT_PAY
from vouchers.statements import PAYMENT_RECEIVED
from yixiang.clock import shanghai_date
from yixiang.db import utcnow
from yixiang.worker import Worker

NOTIFY = "/api/v1/wechatpay/notifications"


async def test_quote_book_complete_pay_correct_refund_reconcile(world: VoucherDesk) -> None:
    client, backend = world.client, world.backend
    with wechat_pay_in(backend) as fake:
        firm, _ = await world.firm_with_grant(5_000_000)  # half of each fee, up to 20,000 元 an order
        researcher = await world.headers(await new_user(backend, firm, Role.researcher))
        provider, finance = await world.headers("demo-provider"), await world.headers("demo-finance-bureau")
        instrument = await make_instrument(backend)
        await set_calendar(client, provider, instrument.instrument_id, needs_approval=False)
        start = (utcnow() + timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
        body = machine_time(instrument, start, start + timedelta(hours=2))

        # the price before booking, and the booking that confirms it
        quote = (await client.post("/api/v1/quotes", json=body, headers=researcher)).json()
        assert (quote["fee_fen"], quote["voucher"]["share_fen"], quote["remainder_fen"]) == (
            40_000,
            20_000,
            20_000,
        )
        booked = await client.post("/api/v1/bookings", json=body, headers=researcher)
        assert booked.status_code == 201 and booked.json()["status"] == "confirmed", booked.text
        booking_id = booked.json()["id"]
        statement_url = f"/api/v1/bookings/{booking_id}/statement"
        held = (await client.get(statement_url, headers=researcher)).json()
        assert (held["held_fen"], held["quoted_fee_fen"]) == (quote["voucher"]["share_fen"], quote["fee_fen"])

        # 65 minutes used: billed 1.5 h at 200 元/h = 300 元, half on vouchers, 150 元 to pay
        done = await served(client, backend, provider, booking_id, minutes=65)
        assert (done.json()["final_fee_fen"], done.json()["voucher_fen"], done.json()["due_fen"]) == (
            30_000,
            15_000,
            15_000,
        )

        # the firm pays in WeChat
        opened = await client.post(
            f"/api/v1/bookings/{booking_id}/payment-orders", json={"channel": "native"}, headers=researcher
        )
        assert opened.status_code == 201 and opened.json()["amount_fen"] == 15_000, opened.text
        out_trade_no = opened.json()["out_trade_no"]
        fake.pay(out_trade_no)
        headers, notification = fake.payment_notification(out_trade_no)
        forged = fake.payment_notification(out_trade_no, bad_signature=True)
        stale = fake.payment_notification(out_trade_no, timestamp=int(time.time()) - 400)
        answers = [await client.post(NOTIFY, content=b, headers=h) for h, b in (forged, stale)]
        answers += [await client.post(NOTIFY, content=notification, headers=headers) for _ in range(3)]
        assert [a.status_code for a in answers] == [401, 401, 204, 204, 204]
        paid = (await client.get(statement_url, headers=researcher)).json()
        assert (paid["fee_fen"], paid["voucher_fen"], paid["paid_fen"], paid["due_fen"]) == (
            30_000,
            15_000,
            15_000,
            0,
        )

        # the provider finds it billed 30 minutes too many: 240 元, so 120 元 on vouchers and the
        # firm owes 120 元 of the 150 it paid; 30 元 go back through WeChat Pay
        corrected = await client.post(
            f"/api/v1/bookings/{booking_id}/fee-correction",
            json={"fee_fen": 24_000, "reason": "多计了半小时"},
            headers=provider,
        )
        assert corrected.status_code == 200, corrected.text
        assert (corrected.json()["new_voucher_fen"], corrected.json()["cash_refund_fen"]) == (12_000, 3_000)
        [refund] = corrected.json()["refunds"]
        assert refund["status"] == "processing"
        fake.finish_refund(refund["out_refund_no"])
        headers, refunded = fake.refund_notification(refund["out_refund_no"])
        for _ in range(2):  # WeChat Pay repeats it
            assert (await client.post(NOTIFY, content=refunded, headers=headers)).status_code == 204
        final = (await client.get(statement_url, headers=researcher)).json()
        assert (final["fee_fen"], final["voucher_fen"], final["paid_fen"], final["cash_refunded_fen"]) == (
            24_000,
            12_000,
            15_000,
            3_000,
        )
        assert final["due_fen"] == 0 and "已退回 30.00 元" in final["payment_instructions"]

        # booking hears of the payment and the correction through the outbox
        worker = Worker(
            backend.runtime.session_maker,
            backend.runtime.domains,
            settings=msgspec.structs.replace(backend.settings),
            only_topics={PAYMENT_RECEIVED, FEE_CORRECTED},
        )
        await worker.drain()
        shown = (await client.get(f"/api/v1/bookings/{booking_id}", headers=researcher)).json()
        assert (shown["final_fee_fen"], shown["voucher_fen"], shown["due_fen"]) == (24_000, 12_000, 0)

        # the day's trade bill agrees with the ledger to the fen: 150 元 in, 30 元 back
        sub_mchid = backend.runtime.services[WECHAT_PAY].sub_mchid(UNIT_ZJLG)
        day = str(shanghai_date(utcnow()))
        reconciled = await client.post(
            "/api/v1/payment-reconciliations", json={"day": day, "sub_mchid": sub_mchid}, headers=finance
        )
        assert reconciled.status_code == 200, reconciled.text
        result: dict[str, Any] = reconciled.json()
        assert (result["bill_total_fen"], result["ledger_total_fen"], result["differences"]) == (
            12_000,
            12_000,
            [],
        )
        check = await client.get("/api/v1/ledger/check", headers=await world.headers("demo-admin"))
        assert check.json()["ok"] and check.json()["cash_mismatches"] == [], check.json()
