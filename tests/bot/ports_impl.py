"""Test implementations of the bot's ports until the adapters plug the real domains in.

The catalogue side reads REAL instruments and service items from the database (the catalogue
tables exist on this branch); bookings and vouchers, whose domains are being built on other
branches, live in memory here with the rules a conversation can notice: hourly slots 09:00-17:00,
no overlap, idempotency keys, a firm sees only its own bookings and vouchers.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts.auth import Principal
from accounts.models import Organization, Region
from bot.ports import (
    BookingView,
    InstrumentDetails,
    InstrumentSummary,
    Quote,
    ServiceItemView,
    Slot,
    VoucherBalance,
    VoucherEntry,
)
from catalogue.models import Instrument, PublicationStatus, ServiceItem
from yixiang.clock import SHANGHAI
from yixiang.errors import Conflict, NotFound


class SlotTaken(Conflict):
    code = "slot_taken"
    message = "该时段已被预约"


@dataclass
class DbCatalog:
    session_maker: async_sessionmaker[AsyncSession]
    instrument_ids: set[uuid.UUID] = field(default_factory=set)  # this test world's instruments
    delay: float = 0.0  # a slow search backend (the 5-second rule)

    async def search(self, text: str, *, limit: int, principal: Principal | None) -> list[InstrumentSummary]:
        if self.delay:
            await asyncio.sleep(self.delay)
        tokens = [t.lower() for t in text.split() if t]
        async with self.session_maker() as session:
            rows = (
                await session.scalars(
                    select(Instrument).where(
                        Instrument.id.in_(self.instrument_ids),
                        Instrument.publication == PublicationStatus.published,
                    )
                )
            ).all()
            found = []
            for row in sorted(rows, key=lambda r: r.name):
                haystack = " ".join([row.name, row.name_en, row.model, *row.aliases]).lower()
                if all(token in haystack for token in tokens):
                    found.append(await self._summary(session, row))
            return found[:limit]

    async def _summary(self, session: AsyncSession, row: Instrument) -> InstrumentSummary:
        unit = await session.get(Organization, row.unit_id)
        region = await session.get(Region, row.region_code)
        prices = [i.external_price_fen for i in row.service_items if i.active]
        return InstrumentSummary(
            id=row.id,
            name=row.name,
            unit_name=unit.name if unit else "",
            region_name=region.name if region else "",
            model=row.model,
            price_from_fen=min(prices) if prices else None,
            rating_mean=row.rating_mean,
        )

    async def details(
        self, instrument_id: uuid.UUID, principal: Principal | None
    ) -> InstrumentDetails | None:
        async with self.session_maker() as session:
            row = await session.get(Instrument, instrument_id)
            if (
                row is None
                or row.id not in self.instrument_ids
                or row.publication != PublicationStatus.published
            ):
                return None
            unit = await session.get(Organization, row.unit_id)
            internal = False
            if principal is not None:
                for org_id in principal.enterprise_ids:
                    org = await session.get(Organization, org_id)
                    internal = internal or (org is not None and org.parent_id == row.unit_id)
            items = tuple(
                ServiceItemView(
                    id=i.id,
                    name=i.name,
                    mode=i.mode.value,
                    price_unit=i.price_unit.value,
                    price_fen=i.internal_price_fen if internal else i.external_price_fen,
                    turnaround_working_days=i.turnaround_working_days,
                )
                for i in row.service_items
                if i.active
            )
            return InstrumentDetails(
                id=row.id,
                name=row.name,
                unit_name=unit.name if unit else "",
                model=row.model,
                manufacturer=row.manufacturer,
                address=row.address,
                items=items,
                voucher_eligible=row.voucher_eligible,
            )


@dataclass
class Booked:
    view: BookingView
    firm_id: uuid.UUID
    instrument_id: uuid.UUID
    rating: int | None = None
    comment: str = ""


@dataclass
class MemoryBookings:
    session_maker: async_sessionmaker[AsyncSession]
    vouchers: MemoryVouchers
    bookings: dict[uuid.UUID, Booked] = field(default_factory=dict)
    by_key: dict[str, uuid.UUID] = field(default_factory=dict)
    opening: tuple[int, int] = (9, 17)

    def _busy(self, instrument_id: uuid.UUID) -> list[tuple[datetime, datetime]]:
        return [
            (b.view.start, b.view.end)
            for b in self.bookings.values()
            if b.instrument_id == instrument_id
            and b.view.start
            and b.view.end
            and b.view.status != "cancelled"
        ]

    async def free_slots(
        self, instrument_id: uuid.UUID, start: datetime, end: datetime, *, item_id: uuid.UUID | None = None
    ) -> list[Slot]:
        busy = self._busy(instrument_id)
        slots: list[Slot] = []
        day: date = start.astimezone(SHANGHAI).date()
        while datetime.combine(day, time(0), SHANGHAI) < end:
            for hour in range(*self.opening):
                s = datetime.combine(day, time(hour), SHANGHAI)
                e = s + timedelta(hours=1)
                if start <= s < end and not any(bs < e and s < be for bs, be in busy):
                    slots.append(Slot(s, e))
            day += timedelta(days=1)
        return slots

    async def _item(self, item_id: uuid.UUID) -> tuple[ServiceItem, Instrument]:
        async with self.session_maker() as session:
            item = await session.get(ServiceItem, item_id)
            if item is None:
                raise NotFound("没有这个服务项目")
            instrument = await session.get(Instrument, item.instrument_id)
            assert instrument is not None
            return item, instrument

    async def quote(
        self,
        principal: Principal,
        item_id: uuid.UUID,
        *,
        start: datetime | None,
        end: datetime | None,
        samples: int | None,
    ) -> Quote:
        item, _ = await self._item(item_id)
        units = samples or 1
        if start and end:
            units = int((end - start).total_seconds() // 3600)
        fee = item.external_price_fen * units
        firm = min(principal.enterprise_ids)
        share = min(fee * 50 // 100, self.vouchers.available(firm))
        return Quote(fee_fen=fee, voucher_share_fen=share, payable_fen=fee - share)

    async def create(
        self,
        principal: Principal,
        item_id: uuid.UUID,
        *,
        start: datetime | None,
        end: datetime | None,
        samples: int | None,
        idempotency_key: str,
    ) -> BookingView:
        if idempotency_key in self.by_key:
            return self.bookings[self.by_key[idempotency_key]].view
        item, instrument = await self._item(item_id)
        if start and end and any(bs < end and start < be for bs, be in self._busy(instrument.id)):
            raise SlotTaken()
        quote = await self.quote(principal, item_id, start=start, end=end, samples=samples)
        firm = min(principal.enterprise_ids)
        booking_id = uuid.uuid4()
        view = BookingView(
            id=booking_id,
            code=f"YX-{len(self.bookings) + 1:04d}-{booking_id.hex[:4].upper()}",
            instrument_name=instrument.name,
            item_name=item.name,
            status="requested",
            status_label="待审核",
            start=start,
            end=end,
            samples=samples,
            fee_fen=quote.fee_fen,
            voucher_share_fen=quote.voucher_share_fen,
            can_cancel=True,
        )
        self.vouchers.hold(firm, quote.voucher_share_fen)
        self.bookings[booking_id] = Booked(view, firm, instrument.id)
        self.by_key[idempotency_key] = booking_id
        return view

    def _mine(self, principal: Principal, booking_id: uuid.UUID) -> Booked:
        booked = self.bookings.get(booking_id)
        if booked is None or booked.firm_id not in principal.enterprise_ids:
            raise NotFound("没有找到这条预约")
        return booked

    async def list_mine(self, principal: Principal, *, limit: int) -> list[BookingView]:
        mine = [b.view for b in self.bookings.values() if b.firm_id in principal.enterprise_ids]
        return list(reversed(mine))[:limit]

    def set_status(self, booking_id: uuid.UUID, status: str, label: str, **flags: bool) -> BookingView:
        import msgspec

        booked = self.bookings[booking_id]
        booked.view = msgspec.structs.replace(booked.view, status=status, status_label=label, **flags)
        return booked.view

    async def cancel(
        self, principal: Principal, booking_id: uuid.UUID, *, reason: str, idempotency_key: str
    ) -> BookingView:
        booked = self._mine(principal, booking_id)
        if booked.view.status != "cancelled":
            self.vouchers.release(booked.firm_id, booked.view.voucher_share_fen or 0)
        return self.set_status(booking_id, "cancelled", "已取消", can_cancel=False)

    async def results_link(self, principal: Principal, booking_id: uuid.UUID) -> str:
        booked = self._mine(principal, booking_id)
        if not booked.view.has_results:
            raise NotFound("结果尚未上传")
        return f"https://yixiang.example/results/{booking_id}?sig=signed"

    async def rate(
        self, principal: Principal, booking_id: uuid.UUID, *, score: int, comment: str, idempotency_key: str
    ) -> BookingView:
        booked = self._mine(principal, booking_id)
        if booked.rating is not None:
            raise Conflict("这条预约已评价")
        booked.rating, booked.comment = score, comment
        return self.set_status(booking_id, "rated", "已评价", can_rate=False)


@dataclass
class MemoryVouchers:
    granted: dict[uuid.UUID, int] = field(default_factory=dict)  # firm -> fen
    held: dict[uuid.UUID, int] = field(default_factory=dict)

    def available(self, firm: uuid.UUID) -> int:
        return self.granted.get(firm, 0) - self.held.get(firm, 0)

    def hold(self, firm: uuid.UUID, fen: int) -> None:
        self.held[firm] = self.held.get(firm, 0) + fen

    def release(self, firm: uuid.UUID, fen: int) -> None:
        self.held[firm] = self.held.get(firm, 0) - fen

    async def balance(self, principal: Principal) -> list[VoucherBalance]:
        return [
            VoucherBalance(
                program_name="2026年杭州市科技创新券",
                balance_fen=self.available(firm),
                held_fen=self.held.get(firm, 0),
                expires_on=date(2026, 12, 31),
            )
            for firm in sorted(principal.enterprise_ids)
            if firm in self.granted
        ]

    async def history(self, principal: Principal, *, limit: int) -> list[VoucherEntry]:
        return [
            VoucherEntry(
                at=datetime(2026, 3, 1, 9, tzinfo=SHANGHAI), label="发放", amount_fen=self.granted[firm]
            )
            for firm in sorted(principal.enterprise_ids)
            if firm in self.granted
        ][:limit]
