"""A hand-built year of records in a region of its own (测试市, 3399xx) for the yearly report tests,
with the figures worked out by hand beside it (``EXPECTED``).

The records are what the flows leave behind (bookings with their history, ratings, voucher
programmes, grants, checkouts, settlement lines, idle cases), written as rows so that a year
long past can be built: the report reads records, not the services that made them.

The year (2024, Asia/Shanghai):
- 之江测试大学分析中心 (高等院校, district 339901): A (0101, 120万元, imported), B (0102, 30万元, domestic)
- 测试材料研究院 (科研院所, district 339902): C (0101, 600万元, imported); D a draft, E listed in
  2025: neither counts
- bookings: 1. A external 03-10 09:00–12:00 (3 h, fee 600 元); 2. A internal 03-31 22:00 – 04-01
  02:00 (2 h in March, 2 h in April, 400 元); 3. B external 2024-12-31 22:00 – 2025-01-01 01:00
  (2 h in December; completed in 2025: its order and fee are 2025's); 4. C external 2023-12-31
  23:00 – 2024-01-01 03:00 (3 h in January; completed 01-01, 800 元); 5. A external, cancelled;
  6. C external, no-show; 7. C external sample testing completed 06-05 (100 元, no hours)
- ratings in 2024: 5 and 4 on A's bookings; one of 3 stars hidden by moderation; one in 2025
- vouchers: the region's 2024 programme (budget 1,000,000 元): grants of 3,000 and 2,000 元 to two
  firms; captured 300 + 150 元, one released hold of 99 元; a paid batch settles 200 元, a draft
  batch's 100 元 is not settled; a 2023 programme does not count
- idle: B idle since 05-01, open (8 months at the year's end: 6+); A idle since 10-25, cleared
  2025-02 (2 months at the year's end: 1–3); C idle 11-15, cleared 12-20 (not at the year's end)
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from accounts.models import BureauKind, Organization, OrgKind, Region, User
from booking.models import Booking, BookingHistory, BookingStatus
from catalogue.models import Instrument, Origin, PublicationStatus, ServiceMode
from oversight.models import IdleCase, IdleSource
from ratings.models import Rating
from vouchers.grants import add_grant
from vouchers.models import (
    CheckoutState,
    SettlementBatch,
    SettlementLine,
    SettlementStatus,
    VoucherCheckout,
    VoucherProgram,
)
from vouchers.programs import fund_program
from yixiang.clock import SHANGHAI

CITY, WEST, EAST = "339900", "339901", "339902"
YEAR = 2024


def at(text: str) -> datetime:
    """A Shanghai moment: at("2024-03-10 09:00")."""
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


EXPECTED: dict[str, Any] = {
    "instruments": 3,
    "units": 2,
    "total_value_fen": 750_000_000,
    "effective_hours": 12.0,  # 3 + 4 (A) + 2 (B) + 3 (C)
    "external_hours": 8.0,  # 3 (A) + 2 (B) + 3 (C)
    "internal_hours": 4.0,
    "sharing_rate": round(8 / 12, 4),
    # the mean of A's, B's and C's usage rates (7, 2 and 3 h of the 1,760 h annual norm, each rounded)
    "usage_rate": round((round(7 / 1760, 4) + round(2 / 1760, 4) + round(3 / 1760, 4)) / 3, 4),
    "orders": 4,  # bookings 1, 2, 4, 7
    "external_orders": 3,  # 1, 4, 7
    "external_income_fen": 60_000 + 80_000 + 10_000,
    "voucher_granted_fen": 500_000,
    "voucher_used_fen": 45_000,
    "voucher_settled_fen": 20_000,
    "rating_count": 2,
    "rating_mean": 4.5,
    "idle_instruments": 2,
}
MONTHLY = {  # month: (effective h, external h, orders, external income fen)
    1: (3.0, 3.0, 1, 80_000),
    3: (5.0, 3.0, 1, 60_000),
    4: (2.0, 0.0, 1, 0),
    6: (0.0, 0.0, 1, 10_000),
    12: (2.0, 2.0, 0, 0),
}


class YearWorld:
    def __init__(self, session: Any) -> None:
        self.session = session

    async def org(self, name: str, kind: OrgKind, region: str, **extra: Any) -> uuid.UUID:
        org = Organization(kind=kind, name=name, region_code=region, **extra)
        self.session.add(org)
        await self.session.flush()
        return org.id

    async def instrument(
        self, unit: uuid.UUID, region: str, category: str, value_fen: int, origin: Origin, **extra: Any
    ) -> uuid.UUID:
        found = Instrument(
            name=f"年报测试仪器 {uuid.uuid4().hex[:6]}",
            category_code=category,
            original_value_fen=value_fen,
            origin=origin,
            unit_id=unit,
            region_code=region,
            publication=extra.pop("publication", PublicationStatus.published),
            published_at=extra.pop("published_at", at("2023-06-01 10:00")),
            **extra,
        )
        self.session.add(found)
        await self.session.flush()
        return found.id

    async def booking(
        self,
        instrument: uuid.UUID,
        unit: uuid.UUID,
        rate: str,
        status: BookingStatus,
        *,
        use: tuple[str, str] | None = None,
        completed: str | None = None,
        fee_fen: int = 0,
        mode: ServiceMode = ServiceMode.machine_time,
    ) -> uuid.UUID:
        start, end = (at(use[0]), at(use[1])) if use else (None, None)
        booking = Booking(
            id=uuid.uuid4(),
            created_at=start or at(completed or "2024-01-01 00:00"),
            instrument_id=instrument,
            unit_id=unit,
            enterprise_id=self.firm,
            user_id=self.researcher,
            mode=mode,
            samples=None if mode == ServiceMode.machine_time else 2,
            start_at=start,
            end_at=end,
            block_end=end,
            status=status,
            rate=rate,
            quoted_fee_fen=fee_fen,
            fee_breakdown={"lines": []},
            final_fee_fen=fee_fen if completed else None,
            actual_start=start if completed else None,
            actual_end=end if completed else None,
        )
        self.session.add(booking)
        await self.session.flush()
        if completed:
            self.session.add(
                BookingHistory(
                    booking_id=booking.id,
                    action="complete",
                    from_status=BookingStatus.in_service,
                    to_status=BookingStatus.completed,
                    at=at(completed),
                )
            )
        return booking.id

    async def rating(
        self,
        booking: uuid.UUID,
        instrument: uuid.UUID,
        unit: uuid.UUID,
        overall: int,
        when: str,
        hidden: bool = False,
    ) -> None:
        self.session.add(
            Rating(
                booking_id=booking,
                instrument_id=instrument,
                unit_id=unit,
                enterprise_id=self.firm,
                rated_by=self.researcher,
                overall=overall,
                created_at=at(when),
                hidden_at=at(when) if hidden else None,
            )
        )

    async def build(self) -> None:
        s = self.session
        for code, name, level, parent in (
            (CITY, "测试市", "city", "330000"),
            (WEST, "测试市西区", "district", CITY),
            (EAST, "测试市东区", "district", CITY),
        ):
            if await s.get(Region, code) is None:
                s.add(Region(code=code, name=name, level=level, parent_code=parent))
                await s.flush()
        self.west = await self.org("之江测试大学分析中心", OrgKind.unit, WEST)
        self.east = await self.org("测试材料研究院", OrgKind.unit, EAST)
        self.bureau = await self.org("测试市科学技术局", OrgKind.bureau, CITY, bureau_kind=BureauKind.science)
        self.firm = await self.org(
            "年报测试用户企业有限公司",
            OrgKind.enterprise,
            WEST,
            uscc=f"91339901{uuid.uuid4().hex[:10].upper()}",
        )
        other_firm = await self.org(
            "年报测试第二企业有限公司",
            OrgKind.enterprise,
            EAST,
            uscc=f"91339902{uuid.uuid4().hex[:10].upper()}",
        )
        user = User(username=f"yearly-{uuid.uuid4().hex[:8]}", display_name="年报测试研究员张三")
        s.add(user)
        await s.flush()
        self.researcher = user.id

        a = await self.instrument(self.west, WEST, "0101", 120_000_000, Origin.imported)
        b = await self.instrument(self.west, WEST, "0102", 30_000_000, Origin.domestic)
        c = await self.instrument(self.east, EAST, "0101", 600_000_000, Origin.imported)
        await self.instrument(
            self.east, EAST, "0101", 90_000_000, Origin.domestic, publication=PublicationStatus.draft
        )
        await self.instrument(
            self.east, EAST, "0103", 90_000_000, Origin.domestic, published_at=at("2025-02-01 10:00")
        )
        self.a, self.b, self.c = a, b, c
        done = BookingStatus.completed
        b1 = await self.booking(
            a,
            self.west,
            "external",
            BookingStatus.rated,
            use=("2024-03-10 09:00", "2024-03-10 12:00"),
            completed="2024-03-10 12:05",
            fee_fen=60_000,
        )
        b2 = await self.booking(
            a,
            self.west,
            "internal",
            BookingStatus.rated,
            use=("2024-03-31 22:00", "2024-04-01 02:00"),
            completed="2024-04-01 02:10",
            fee_fen=40_000,
        )
        await self.booking(
            b,
            self.west,
            "external",
            done,
            use=("2024-12-31 22:00", "2025-01-01 01:00"),
            completed="2025-01-01 01:05",
            fee_fen=30_000,
        )
        await self.booking(
            c,
            self.east,
            "external",
            BookingStatus.delivered,
            use=("2023-12-31 23:00", "2024-01-01 03:00"),
            completed="2024-01-01 03:10",
            fee_fen=80_000,
        )
        await self.booking(
            a,
            self.west,
            "external",
            BookingStatus.cancelled,
            use=("2024-05-10 09:00", "2024-05-10 12:00"),
            fee_fen=60_000,
        )
        await self.booking(
            c,
            self.east,
            "external",
            BookingStatus.no_show,
            use=("2024-05-11 09:00", "2024-05-11 12:00"),
            fee_fen=60_000,
        )
        await self.booking(
            c,
            self.east,
            "external",
            done,
            completed="2024-06-05 15:00",
            fee_fen=10_000,
            mode=ServiceMode.sample_testing,
        )
        late = await self.booking(
            a,
            self.west,
            "external",
            BookingStatus.rated,
            use=("2023-06-10 09:00", "2023-06-10 10:00"),
            completed="2023-06-10 10:05",
            fee_fen=20_000,
        )
        hidden = await self.booking(
            a,
            self.west,
            "internal",
            BookingStatus.rated,
            use=("2023-07-10 09:00", "2023-07-10 10:00"),
            completed="2023-07-10 10:05",
            fee_fen=10_000,
        )
        await self.rating(b1, a, self.west, 5, "2024-03-12 10:00")
        await self.rating(b2, a, self.west, 4, "2024-04-03 10:00")
        await self.rating(hidden, a, self.west, 3, "2024-04-05 10:00", hidden=True)
        await self.rating(late, a, self.west, 1, "2025-01-05 10:00")

        program = await self.program(2024, 100_000_000)
        old = await self.program(2023, 50_000_000)
        # through the ledger, as the voucher desk does: the budget funded, each grant posted
        grants = ((program, self.firm, 300_000), (program, other_firm, 200_000), (old, self.firm, 999_999))
        for n, (pid, firm, amount) in enumerate(grants):
            found = await s.get(VoucherProgram, pid)
            assert found is not None
            await add_grant(s, found, firm, amount, "", f"yearly:{pid}:{n}", self.researcher)
        checkouts = [
            (program, CheckoutState.captured, 30_000),
            (program, CheckoutState.captured, 15_000),
            (program, CheckoutState.released, 9_900),
            (old, CheckoutState.captured, 77_700),
        ]
        ids = []
        for pid, state, fen in checkouts:
            booking_id = uuid.uuid4()
            ids.append(booking_id)
            s.add(
                VoucherCheckout(
                    booking_id=booking_id,
                    enterprise_id=self.firm,
                    unit_id=self.west,
                    instrument_id=a,
                    region_code=WEST,
                    category_code="0101",
                    program_id=pid,
                    state=state,
                    usage_year=2024,
                    quoted_fee_fen=fen * 2,
                    held_fen=fen if state == CheckoutState.released else 0,
                    fee_fen=fen * 2,
                    voucher_fen=fen if state == CheckoutState.captured else 0,
                )
            )
        await s.flush()
        for status, fen, booking_id in (
            (SettlementStatus.paid, 20_000, ids[0]),
            (SettlementStatus.draft, 10_000, ids[1]),
        ):
            batch = SettlementBatch(
                bureau_id=self.bureau,
                region_code=CITY,
                period_start=date(2024, 1, 1),
                period_end=date(2024, 12, 31),
                status=status,
                total_fen=fen,
                created_by=self.researcher,
            )
            s.add(batch)
            await s.flush()
            s.add(
                SettlementLine(
                    batch_id=batch.id,
                    booking_id=booking_id,
                    settles_booking_id=booking_id if status == SettlementStatus.paid else None,
                    program_id=program,
                    unit_id=self.west,
                    enterprise_id=self.firm,
                    voucher_fen=fen,
                    fee_fen=fen * 2,
                    captured_at=at("2024-03-10 12:05"),
                    included=True,
                )
            )
        for instrument, unit, region, since, cleared in (
            (b, self.west, WEST, "2024-05-01 00:00", None),
            (a, self.west, WEST, "2024-10-25 00:00", "2025-02-01 00:00"),
            (c, self.east, EAST, "2024-11-15 00:00", "2024-12-20 00:00"),
        ):
            s.add(
                IdleCase(
                    instrument_id=instrument,
                    unit_id=unit,
                    region_code=region,
                    idle_since=at(since),
                    source=IdleSource.bookings,
                    level=1,
                    cleared_at=at(cleared) if cleared else None,
                )
            )
        await s.flush()

    async def program(self, year: int, budget_fen: int) -> uuid.UUID:
        program = VoucherProgram(
            bureau_id=self.bureau,
            region_code=CITY,
            name=f"测试市{year}年度科技创新券",
            year=year,
            budget_fen=budget_fen,
            coverage_bp=5000,
            per_order_cap_fen=1_000_000,
            per_firm_year_cap_fen=5_000_000,
            valid_from=date(year, 1, 1),
            valid_until=date(year, 12, 31),
        )
        self.session.add(program)
        await self.session.flush()
        await fund_program(self.session, program, None)
        return program.id


BUILT: dict[int, YearWorld] = {}


async def build_year(backend: Any) -> YearWorld:
    """The year, built once per test database (the tests that read it share it)."""
    if id(backend) not in BUILT:
        async with backend.runtime.session_maker() as session, session.begin():
            world = YearWorld(session)
            await world.build()
        BUILT[id(backend)] = world
    return BUILT[id(backend)]
