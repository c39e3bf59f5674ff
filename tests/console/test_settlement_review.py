"""The settlement review page reads one page of lines, sorted in the database: the lines it shows
page after page are the batch's lines in the order the officer asked for, the count is all of
them, and the held-back lines are listed apart."""

from __future__ import annotations

import re
import uuid
from datetime import date, timedelta

from accounts.demo import demo_id
from tests.attack.test_authz_matrix import FB
from tests.console.desk import signed_in
from vouchers.models import SettlementBatch, SettlementLine, SettlementStatus
from yixiang.db import utcnow

FIRMS = ("firm-lanwan", "firm-qinghe")


async def batch_of(backend, count: int) -> tuple[uuid.UUID, list[tuple[int, str]]]:
    """A submitted batch of ``count`` included lines and one held back; (voucher_fen, booking id)."""
    made = []
    async with backend.runtime.session_maker() as session, session.begin():
        batch = SettlementBatch(
            bureau_id=demo_id("bureau-hz-sci"),
            region_code="330100",
            period_start=date(2026, 1, 1),
            period_end=date(2026, 1, 31),
            status=SettlementStatus.submitted,
            created_by=demo_id("demo-science-bureau"),
            total_fen=0,
        )
        session.add(batch)
        await session.flush()
        for n in range(count + 1):
            booking_id = uuid.uuid4()
            included = n < count
            voucher = 5_000 + (n * 37) % 11 * 100  # ties on purpose: the order breaks them the same way
            session.add(
                SettlementLine(
                    batch_id=batch.id,
                    booking_id=booking_id,
                    settles_booking_id=booking_id if included else None,
                    program_id=demo_id("voucher-program-hz-2026"),
                    unit_id=demo_id("unit-zjlg"),
                    enterprise_id=demo_id(FIRMS[n % 2]),
                    voucher_fen=voucher,
                    fee_fen=2 * voucher,
                    captured_at=utcnow() - timedelta(minutes=n),
                    included=included,
                    missing_evidence=[] if included else ["delivery"],
                    evidence={},
                )
            )
            if included:
                made.append((voucher, str(booking_id)))
        return batch.id, made


async def test_the_review_pages_through_the_lines_in_the_order_asked(backend):
    batch_id, lines = await batch_of(backend, 7)
    officer = await signed_in(backend, FB)
    shown: list[str] = []
    for page in (1, 2, 3):
        r = await officer.get(f"/console/settlements/{batch_id}?sort=voucher&dir=desc&per_page=3&page={page}")
        assert r.status_code == 200
        assert "（7 笔）" in r.text and "共 7 条" in r.text
        details = r.text.split("逐笔明细", 1)[1].split("暂缓兑付", 1)[0]
        shown += re.findall(r"/console/statements/([0-9a-f-]{36})", details)
    assert len(shown) == 7 and len(set(shown)) == 7  # every line once across the pages
    amounts = dict((b, v) for v, b in lines)
    assert [amounts[b] for b in shown] == sorted((v for v, _ in lines), reverse=True)
    held = r.text.split("暂缓兑付", 1)[1]
    assert len(re.findall(r"/console/statements/", held)) == 1
