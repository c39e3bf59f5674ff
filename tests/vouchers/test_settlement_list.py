"""GET /settlements: a bureau's batches, newest first, filtered by status, provider unit, bureau,
programme and period, in pages; other regions' batches stay invisible and non-bureau roles are
refused."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from accounts.demo import demo_id
from accounts.models import OrgKind, Role
from tests.support import error_code
from tests.vouchers.desk import VoucherDesk, new_org, new_user, order, today
from vouchers.checkout import capture_voucher_share, hold_voucher_share, record_evidence
from yixiang.db import utcnow

URL = "/api/v1/settlements"
COMPLETE = ("booking", "usage", "payment", "delivery", "rating")


async def _captured(world: VoucherDesk, firm: uuid.UUID, unit: uuid.UUID, fee: int) -> None:
    o = order(firm, fee, unit_id=unit)
    await world.run(hold_voucher_share, o)
    await world.run(capture_voucher_share, o)
    for kind in COMPLETE:
        await world.run(record_evidence, o.booking_id, kind, at=utcnow(), detail={})


async def _ids(world: VoucherDesk, headers: dict[str, str], **params: Any) -> list[str]:
    response = await world.client.get(URL, params=params, headers=headers)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


async def test_bureaus_list_their_batches_by_status_unit_programme_bureau_and_period(
    world: VoucherDesk,
) -> None:
    firm, program = await world.firm_with_grant(1_000_000)
    unit = await new_org(world.backend, kind=OrgKind.unit)
    science = await world.bureau()
    period = {"period_start": str(today()), "period_end": str(today())}
    await _captured(world, firm, unit, 40_000)
    first = (await world.client.post(URL, json=period, headers=science)).json()
    await world.client.post(f"{URL}/{first['id']}/submit", headers=science)
    await _captured(world, firm, unit, 60_000)
    second = (await world.client.post(URL, json=period, headers=science)).json()

    ours = {"unit": str(unit)}
    assert await _ids(world, science, **ours) == [second["id"], first["id"]]  # newest first
    assert await _ids(world, science, **ours, status="submitted") == [first["id"]]
    assert await _ids(world, science, **ours, status="draft") == [second["id"]]
    assert await _ids(world, science, **ours, program=program["id"]) == [second["id"], first["id"]]
    assert await _ids(world, science, **ours, program=str(uuid.uuid4())) == []
    assert await _ids(world, science, **ours, bureau=str(demo_id("bureau-hz-sci"))) == [
        second["id"],
        first["id"],
    ]
    assert await _ids(world, science, **ours, period_from=str(today()), period_to=str(today())) == [
        second["id"],
        first["id"],
    ]
    assert await _ids(world, science, **ours, period_from=str(today() + timedelta(days=1))) == []
    assert await _ids(world, science, **ours, period_to=str(today() - timedelta(days=1))) == []

    page = (await world.client.get(URL, params={**ours, "limit": 1}, headers=science)).json()
    assert (page["total"], page["limit"], page["offset"], len(page["items"])) == (2, 1, 0, 1)
    [item] = page["items"]
    assert item["id"] == second["id"] and item["status_label"] == "草稿"
    assert (item["total_fen"], item["lines"]) == (second["total_fen"], len(second["lines"]))
    rest = (await world.client.get(URL, params={**ours, "limit": 1, "offset": 1}, headers=science)).json()
    assert [i["id"] for i in rest["items"]] == [first["id"]]

    # the finance bureau of the region and the platform see them too
    for who in ("demo-finance-bureau", "demo-admin"):
        assert await _ids(world, await world.headers(who), **ours) == [second["id"], first["id"]]


async def test_other_regions_and_other_roles_see_no_batch(world: VoucherDesk) -> None:
    firm, _ = await world.firm_with_grant(1_000_000)
    unit = await new_org(world.backend, kind=OrgKind.unit)
    await _captured(world, firm, unit, 40_000)
    period = {"period_start": str(today()), "period_end": str(today())}
    batch = (await world.client.post(URL, json=period, headers=await world.bureau())).json()

    ningbo = await world.headers(await new_user(world.backend, demo_id("bureau-nb-sci"), Role.bureau_officer))
    assert batch["id"] not in await _ids(world, ningbo, unit=str(unit))
    for who in ("demo-researcher", "demo-provider", "demo-firm-admin"):
        refused = await world.client.get(URL, headers=await world.headers(who))
        assert refused.status_code == 403 and error_code(refused) == "bureau_officer_required", who
    bad = await world.client.get(URL, params={"status": "lost"}, headers=await world.bureau())
    assert bad.status_code == 400
    backwards = await world.client.get(
        URL,
        params={"period_from": str(today()), "period_to": str(today() - timedelta(days=1))},
        headers=await world.bureau(),
    )
    assert backwards.status_code == 400 and "结束日期" in backwards.json()["error"]["message"]
