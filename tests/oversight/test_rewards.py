"""The sharing reward (共享奖励) from a hand-built year of records: 10% of the external fees of
completed, paid bookings, capped at 20,000 元 per instrument and 500,000 元 per unit; duty items,
internal, unpaid and cancelled bookings left out; a batch through four-eyes approval, export,
payment and reconciliation with the ledger sound; and the insurance subsidy (共享保).

Each test works in a year of its own (the region's programme is unique per year)."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import datetime
from typing import Any

import pytest
from openpyxl import load_workbook

from accounts.demo import demo_id
from accounts.models import OrgKind, Role
from booking.models import BookingStatus
from catalogue.models import ServiceDuty
from oversight.models import Sensor
from oversight.reward_models import RewardProgramme
from oversight.rewards import apportion, compute, reward_totals
from tests.booking.world import make_user
from tests.oversight.rewards_world import in_year, mark_duty, served, unit_with_instruments
from tests.support import error_code
from tests.vouchers.desk import new_org
from vouchers.models import CheckoutState
from yixiang.clock import SHANGHAI

PROGRAMMES, BATCHES = "/api/v1/reward-programmes", "/api/v1/reward-batches"
FB, SB, PA = "demo-finance-bureau", "demo-science-bureau", "demo-admin"


async def programme(client: Any, login: Any, year: int, **terms: Any) -> str:
    r = await client.post(PROGRAMMES, json={"year": year, **terms}, headers=await login(FB))
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def draw(client: Any, headers: dict[str, str], programme_id: str) -> dict[str, Any]:
    r = await client.post(f"{PROGRAMMES}/{programme_id}/batches", headers=headers)
    assert r.status_code == 201, r.text
    return dict(r.json())


def line_of(batch: dict[str, Any], unit: uuid.UUID) -> dict[str, Any]:
    return next(line for line in batch["lines"] if line["unit_id"] == str(unit))


async def test_ten_percent_of_paid_external_fees_capped_at_20000_yuan_per_instrument(
    backend: Any, client: Any, login: Any
) -> None:
    year = 2016
    unit, (big, mid, small) = await unit_with_instruments(backend, 3)
    firm, other_unit = await new_org(backend), await new_org(backend, kind=OrgKind.unit)
    # big: 250,000 元 of fees → 25,000 元, capped at 20,000 元
    counted = [await served(backend, big, unit, firm, 12_500_000, in_year(year, m)) for m in (3, 9)]
    # mid: 123,456.78 元 from another unit → 12,345.678 元, rounded down to the fen
    counted.append(await served(backend, mid, unit, other_unit, 12_345_678, in_year(year)))
    # small: one counted booking of 1,000 元 → 100 元 ...
    counted.append(await served(backend, small, unit, firm, 100_000, in_year(year)))
    # ... and none of these
    await mark_duty(backend, small.hourly_item_id, ServiceDuty.statutory)
    statutory = await served(backend, small, unit, firm, 900_000, in_year(year), item="hourly")
    internal = await served(backend, small, unit, unit, 800_000, in_year(year), rate="internal")
    unpaid = await served(backend, small, unit, firm, 700_000, in_year(year), due_fen=1)
    cancelled = await served(
        backend,
        small,
        unit,
        firm,
        600_000,
        in_year(year),
        status=BookingStatus.cancelled,
        state=CheckoutState.released,
    )
    before = await served(
        backend, small, unit, firm, 500_000, datetime(year - 1, 12, 31, 23, 30, tzinfo=SHANGHAI)
    )
    after = await served(
        backend, small, unit, firm, 400_000, datetime(year + 1, 1, 1, 0, 30, tzinfo=SHANGHAI)
    )

    batch = await draw(client, await login(SB), await programme(client, login, year))
    line = line_of(batch, unit)
    amounts = {item["instrument_id"]: item for item in line["items"]}
    assert amounts[str(big.instrument_id)]["basis_fen"] == 25_000_000
    assert amounts[str(big.instrument_id)]["computed_fen"] == 2_500_000
    assert amounts[str(big.instrument_id)]["amount_fen"] == 2_000_000
    assert amounts[str(mid.instrument_id)]["amount_fen"] == 1_234_567
    assert amounts[str(small.instrument_id)]["basis_fen"] == 100_000
    assert amounts[str(small.instrument_id)]["amount_fen"] == 10_000
    assert (line["sharing_fen"], line["amount_fen"], line["unit_capped"]) == (3_244_567, 3_244_567, False)

    evidence = await client.get(line["evidence_url"], headers=await login(SB))
    assert evidence.status_code == 200, evidence.text
    listed = {row["booking_id"] for row in evidence.json()}
    assert listed == {str(b) for b in counted}
    assert not listed & {str(b) for b in (statutory, internal, unpaid, cancelled, before, after)}
    first = evidence.json()[0]
    assert first["paid_fen"] == first["fee_fen"] and first["booking_number"].startswith(f"YX{year}")
    staff = await login(await make_user(backend, unit, Role.provider_staff))
    shown = await client.get(first["statement_url"], headers=staff)
    assert shown.status_code == 200 and shown.json()["fee_fen"] == first["fee_fen"], shown.text


@pytest.mark.slow
async def test_a_unit_above_500000_yuan_gets_the_cap_shared_over_its_instruments(
    backend: Any, client: Any, login: Any
) -> None:
    year = 2017
    unit, instruments = await unit_with_instruments(backend, 27)
    firm = await new_org(backend)
    *capped, last = instruments
    for instrument in capped:  # 300,000 元 each → 20,000 元 after the instrument cap
        await served(backend, instrument, unit, firm, 30_000_000, in_year(year))
    await served(backend, last, unit, firm, 10_000_010, in_year(year))  # → 1,000.001 → 10,000.01 元

    line = line_of(await draw(client, await login(SB), await programme(client, login, year)), unit)
    # 26 × 2,000,000 + 1,000,001 = 53,000,001 fen > 50,000,000: each gets its share of the cap,
    # floor(capped × 50,000,000 / 53,000,001): 1,886,792 (remainder 0.417) or 943,397 (0.152);
    # 26 × 1,886,792 + 943,397 = 49,999,989: the 11 fen left over go to the larger remainders,
    # 11 of the 26 equal ones (the lower instrument ids).
    assert (line["sharing_fen"], line["unit_capped"]) == (50_000_000, True)
    items = {item["instrument_id"]: item for item in line["items"]}
    assert items[str(last.instrument_id)]["capped_fen"] == 1_000_001
    assert items[str(last.instrument_id)]["amount_fen"] == 943_397
    big = sorted((str(i.instrument_id), items[str(i.instrument_id)]["amount_fen"]) for i in capped)
    assert [amount for _, amount in big] == [1_886_793] * 11 + [1_886_792] * 15


def test_apportioning_a_cap_keeps_proportions_and_sums_to_the_cap() -> None:
    a, b, c = (uuid.UUID(int=n) for n in (1, 2, 3))
    assert apportion({a: 100, b: 200}, 1_000) == {a: 100, b: 200}  # under the cap: unchanged
    assert apportion({a: 1, b: 1, c: 1}, 2) == {a: 1, b: 1, c: 0}  # equal remainders: lower id first
    assert apportion({a: 300, b: 100}, 200) == {a: 150, b: 50}


async def test_a_batch_is_approved_by_another_finance_officer_exported_paid_and_reconciled(
    backend: Any, client: Any, login: Any
) -> None:
    year = 2018
    unit, (instrument,) = await unit_with_instruments(backend, 1)
    firm = await new_org(backend)
    for month in (2, 5):
        await served(backend, instrument, unit, firm, 1_000_000, in_year(year, month))
    fb, sb = await login(FB), await login(SB)
    other_fb = await login(await make_user(backend, demo_id("bureau-hz-fin"), Role.bureau_officer))
    programme_id = await programme(client, login, year)

    # the science bureau may not set the terms; the finance bureau may, until a batch is drawn
    terms = {"rate_bp": 500}
    assert (await client.put(f"{PROGRAMMES}/{programme_id}", json=terms, headers=sb)).status_code == 403
    changed = await client.put(f"{PROGRAMMES}/{programme_id}", json=terms, headers=fb)
    assert changed.status_code == 200 and changed.json()["rate_bp"] == 500
    first = await draw(client, fb, programme_id)
    assert line_of(first, unit)["amount_fen"] == 100_000  # 5% of 20,000 元
    locked = await client.put(f"{PROGRAMMES}/{programme_id}", json={"rate_bp": 1000}, headers=fb)
    assert locked.status_code == 409 and error_code(locked) == "reward_programme_locked"
    again = await client.post(f"{PROGRAMMES}/{programme_id}/batches", headers=fb)
    assert again.status_code == 409 and error_code(again) == "reward_batch_exists"
    discarded = await client.post(f"{BATCHES}/{first['id']}/discard", headers=fb)
    assert discarded.status_code == 200 and discarded.json()["status"] == "discarded"
    assert (await client.put(f"{PROGRAMMES}/{programme_id}", json={}, headers=fb)).status_code == 200

    batch = await draw(client, fb, programme_id)
    assert line_of(batch, unit)["amount_fen"] == 200_000  # the default 10% again
    url = f"{BATCHES}/{batch['id']}"
    assert (await client.post(f"{url}/submit", headers=fb)).json()["status"] == "submitted"
    same = await client.post(f"{url}/approve", headers=fb)
    assert same.status_code == 403 and error_code(same) == "four_eyes_required"
    science = await client.post(f"{url}/approve", headers=sb)
    assert science.status_code == 403 and error_code(science) == "finance_bureau_required"
    approved = await client.post(f"{url}/approve", headers=other_fb)
    assert approved.status_code == 200 and approved.json()["status"] == "approved", approved.text

    exported = await client.get(f"{url}/export", headers=fb)
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    unit_rows = [r for r in rows if r[-2] == str(unit)]
    assert unit_rows[0][3] == "（单位合计）" and unit_rows[0][9] == "2000.00"
    assert unit_rows[1][-1] == str(instrument.instrument_id) and unit_rows[1][5] == "20000.00"
    assert unit_rows[1][6] == "2" and unit_rows[1][9] == "2000.00"
    xlsx = await client.get(f"{url}/export?format=xlsx", headers=fb)
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None
    cells = [[c.value for c in row] for row in sheet.iter_rows()]
    assert any(r[-2] == str(unit) and float(r[9]) == 2000.0 for r in cells)

    paid = await client.post(f"{url}/mark-paid", json={"bank_reference": "ICBC-REWARD-1"}, headers=other_fb)
    assert paid.status_code == 200 and paid.json()["status"] == "paid"
    report = (await client.get(f"{url}/reconciliation", headers=fb)).json()
    assert (report["ledger_approved_fen"], report["ledger_paid_fen"], report["balanced"]) == (
        batch["total_fen"],
        batch["total_fen"],
        True,
    )
    assert (await client.post(f"{url}/reconcile", headers=fb)).json()["status"] == "reconciled"
    check = await client.get("/api/v1/ledger/check", headers=await login(PA))
    assert check.status_code == 200 and check.json()["ok"], check.json()

    async with backend.runtime.session_maker() as session:
        totals = await reward_totals(session, region_code="330100", year=year)
    assert (totals.batches, totals.sharing_fen, totals.insurance_fen) == (1, batch["total_fen"], 0)
    assert totals.units >= 1 and totals.instruments >= 1

    # the unit sees its own line; another unit's staff do not see its evidence
    staff = await login(await make_user(backend, unit, Role.provider_staff))
    mine = (await client.get("/api/v1/reward-lines", headers=staff)).json()
    assert [(m["batch_id"], m["amount_fen"]) for m in mine] == [(batch["id"], 200_000)]
    assert (await client.get(mine[0]["evidence_url"], headers=staff)).status_code == 200
    outsider = await login(
        await make_user(backend, await new_org(backend, kind=OrgKind.unit), Role.unit_admin)
    )
    assert (await client.get(mine[0]["evidence_url"], headers=outsider)).status_code == 404


async def test_no_batch_while_the_year_runs(client: Any, login: Any) -> None:
    from yixiang.clock import shanghai_today

    programme_id = await programme(client, login, shanghai_today().year)
    r = await client.post(f"{PROGRAMMES}/{programme_id}/batches", headers=await login(FB))
    assert r.status_code == 409 and error_code(r) == "reward_year_open"


async def test_the_insurance_subsidy_pays_80_or_50_percent_of_the_premium_per_sensor_instrument(
    backend: Any,
) -> None:
    year = 2019
    excellent, (e1, e2, e_retired) = await unit_with_instruments(backend, 3)
    good, (g1,) = await unit_with_instruments(backend, 1)
    passed, (p1,) = await unit_with_instruments(backend, 1)
    async with backend.runtime.session_maker() as session, session.begin():
        for unit, instrument, retired in (
            (excellent, e1, None),
            (excellent, e2, datetime(year, 3, 1, tzinfo=SHANGHAI)),  # retired during the year: counts
            (excellent, e_retired, datetime(year - 1, 12, 1, tzinfo=SHANGHAI)),  # before: does not
            (good, g1, None),
            (passed, p1, None),
        ):
            session.add(
                Sensor(
                    id=f"S-{uuid.uuid4().hex[:12]}",
                    instrument_id=instrument.instrument_id,
                    unit_id=unit,
                    secret_sealed=b"0" * 16,
                    installed_at=datetime(year - 1, 6, 1, tzinfo=SHANGHAI),
                    retired_at=retired,
                )
            )
    terms = RewardProgramme(
        region_code="330100",
        year=year,
        rate_bp=1000,
        instrument_cap_fen=2_000_000,
        unit_cap_fen=50_000_000,
        premium_cap_fen=100_000,
        excellent_rate_bp=8000,
        good_rate_bp=5000,
    )
    async with backend.runtime.session_maker() as session:
        units = {
            u.unit_id: u
            for u in await compute(session, terms, {excellent: "优秀", good: "良好", passed: "合格"})
        }
    assert {i.instrument_id: i.amount_fen for i in units[excellent].insurance} == {
        e1.instrument_id: 80_000,
        e2.instrument_id: 80_000,
    }
    assert (units[good].insurance_fen, units[good].grade) == (50_000, "良好")
    assert passed not in units


async def test_a_batch_adds_the_insurance_subsidy_from_the_published_evaluation(
    backend: Any, client: Any, login: Any
) -> None:
    """In a city of its own (its evaluation touches no other test's region), with its finance bureau."""
    from accounts.models import BureauKind, Region
    from catalogue.models import Instrument
    from oversight.evaluation_models import Evaluation, EvaluationResult, EvaluationStatus, Grade

    year, region = 2015, f"98{uuid.uuid4().int % 100:02d}00"
    async with backend.runtime.session_maker() as session, session.begin():
        if await session.get(Region, region) is None:
            session.add(Region(code=region, name=f"测试市{region}", level="city", parent_code=None))
    bureau = await new_org(backend, kind=OrgKind.bureau, region_code=region, bureau_kind=BureauKind.finance)
    finance = await login(await make_user(backend, bureau, Role.bureau_officer))
    unit, (instrument,) = await unit_with_instruments(backend, 1)
    async with backend.runtime.session_maker() as session, session.begin():
        moved = await session.get(Instrument, instrument.instrument_id)
        assert moved is not None
        moved.region_code = region
    await served(backend, instrument, unit, await new_org(backend), 300_000, in_year(year))
    r = await client.post(PROGRAMMES, json={"year": year}, headers=finance)
    assert r.status_code == 201, r.text
    programme_id = r.json()["id"]
    async with backend.runtime.session_maker() as session, session.begin():
        session.add(
            Sensor(
                id=f"S-{uuid.uuid4().hex[:12]}",
                instrument_id=instrument.instrument_id,
                unit_id=unit,
                secret_sealed=b"0" * 16,
                installed_at=datetime(year, 3, 1, tzinfo=SHANGHAI),
            )
        )
        evaluation = Evaluation(
            region_code=region, year=year, status=EvaluationStatus.draft, opened_by=demo_id(SB)
        )
        session.add(evaluation)
        await session.flush()
        session.add(
            EvaluationResult(
                evaluation_id=evaluation.id,
                unit_id=unit,
                unit_name="测试单位",
                score=95.0,
                grade=Grade.good,
                rank=1,
            )
        )
    unpublished = line_of(await draw(client, finance, programme_id), unit)
    assert unpublished["insurance_fen"] == 0  # a draft evaluation's grades count for nothing
    drafts = (await client.get(BATCHES, headers=finance)).json()
    draft = next(b["id"] for b in drafts if b["programme_id"] == programme_id and b["status"] == "draft")
    assert (await client.post(f"{BATCHES}/{draft}/discard", headers=finance)).status_code == 200

    async with backend.runtime.session_maker() as session, session.begin():
        published = await session.get(Evaluation, evaluation.id)
        assert published is not None
        published.status = EvaluationStatus.published
    batch = await draw(client, finance, programme_id)
    line = line_of(batch, unit)
    assert batch["grades_published"] and line["grade"] == "良好"
    assert (line["sharing_fen"], line["insurance_fen"], line["amount_fen"]) == (30_000, 50_000, 80_000)
    insured = [i for i in line["items"] if i["kind"] == "insurance"]
    assert [(i["basis_fen"], i["amount_fen"]) for i in insured] == [(100_000, 50_000)]
