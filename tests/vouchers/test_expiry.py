"""Grants expire at their programme's end (the worker's periodic job): unused amounts return to
the budget, held amounts stay with their bookings and go to the budget if released."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import update

from tests.support import error_code
from tests.vouchers.desk import VoucherDesk, new_org, order, today
from vouchers.checkout import capture_voucher_share, hold_voucher_share, release_voucher_hold
from vouchers.models import VoucherProgram
from yixiang.db import utcnow


async def _end_programme_yesterday(world: VoucherDesk, program_id: str) -> None:
    """Time passes: the programme's last valid day is now behind us."""
    async with world.backend.runtime.session_maker() as session, session.begin():
        await session.execute(
            update(VoucherProgram)
            .where(VoucherProgram.id == uuid.UUID(program_id))
            .values(valid_until=today() - timedelta(days=1))
        )


async def test_the_expiry_job_returns_unused_balances_to_the_budget(world: VoucherDesk) -> None:
    firm = await new_org(world.backend)
    program = await world.program(budget_fen=1_000_000)
    grant = await world.grant(program["id"], firm, 400_000)
    kept = order(firm, 100_000)  # confirmed before the end: its hold survives
    released_later = order(firm, 60_000)
    assert await world.run(hold_voucher_share, kept) == 50_000
    assert await world.run(hold_voucher_share, released_later) == 30_000
    await _end_programme_yesterday(world, program["id"])

    worker = world.backend.runtime.worker()
    assert "vouchers-expiry" in await worker.tick_periodic(now=utcnow() + timedelta(days=1))
    await worker.drain()

    shown = await world.client.get(f"/api/v1/voucher-programs/{program['id']}", headers=await world.bureau())
    assert shown.json()["status"] == "closed"
    assert shown.json()["budget_available_fen"] == 1_000_000 - 400_000 + 320_000
    assert await world.balances(grant["id"]) == (0, 80_000)

    # the held booking still completes on its hold (it cannot take more: the grant is expired)
    result = await world.run(capture_voucher_share, order(firm, 200_000, booking_id=kept.booking_id))
    assert (result.voucher_fen, result.due_fen) == (50_000, 150_000)
    # a hold released after the end goes back to the budget, not to the expired grant
    assert (
        await world.run(release_voucher_hold, released_later.booking_id, reason="取消", actor_id=None)
        == 30_000
    )
    shown = await world.client.get(f"/api/v1/voucher-programs/{program['id']}", headers=await world.bureau())
    assert shown.json()["budget_available_fen"] == 1_000_000 - 400_000 + 320_000 + 30_000
    assert await world.balances(grant["id"]) == (0, 0)
    # a new booking finds no voucher, and the closed programme grants nothing more
    assert await world.run(hold_voucher_share, order(firm, 100_000)) == 0
    response = await world.client.post(
        f"/api/v1/voucher-programs/{program['id']}/grants",
        json={"enterprise_id": str(firm), "amount_fen": 1},
        headers=await world.bureau(),
    )
    assert response.status_code == 409 and error_code(response) == "program_closed"
    check = await world.client.get("/api/v1/ledger/check", headers=await world.headers("demo-admin"))
    assert check.json()["ok"], check.json()


async def test_a_programme_replayed_with_its_key_is_created_once(world: VoucherDesk) -> None:
    from tests.vouchers.desk import program_body

    headers = {**await world.bureau(), "Idempotency-Key": f"program-{uuid.uuid4().hex}"}
    body = program_body()
    first = await world.client.post("/api/v1/voucher-programs", json=body, headers=headers)
    again = await world.client.post("/api/v1/voucher-programs", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    listed = await world.client.get("/api/v1/voucher-programs", headers=await world.bureau())
    assert [p["name"] for p in listed.json()].count(body["name"]) == 1
