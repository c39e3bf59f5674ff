"""The real domains behind the bot's ports: the catalogue and search, bookings, results, ratings
and vouchers, called directly (no HTTP hop) with the same ownership rules as the API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts.auth import Principal
from accounts.models import Organization, Region
from booking.creation import booking_firm, create_booking
from booking.credit import NoShowRule
from booking.events import booking_code
from booking.free_time import availability
from booking.models import Booking, BookingStatus, Operation
from booking.queries import list_bookings
from booking.quotes import quote_booking
from booking.rules import describe_rules, internal_rate
from booking.schemas import BookingIn
from booking.services import cancel_booking
from booking.settings import BookingSettings
from bot.ports import (
    BookingView,
    FreeRanges,
    InstrumentDetails,
    InstrumentPage,
    InstrumentSummary,
    Ports,
    Quote,
    ResultLink,
    ServiceItemView,
    Slot,
    VoucherBalance,
    VoucherEntry,
)
from bot.settings import WeChatSettings
from catalogue.access import can_see_instrument
from catalogue.live import LIVE_STATUS
from catalogue.models import Instrument, ServiceItem, ServiceMode
from ratings.services import rate_booking
from ratings.settings import RatingsSettings
from results.services import download_path, list_results
from results.settings import ResultsSettings
from search.backend import SearchDocument, SearchQuery, Sort
from search.dependencies import SEARCH_BACKEND
from search.service import SearchRequest, build_query
from vouchers.schemas import HistoryOut
from vouchers.wallet import my_vouchers
from yixiang.db import transaction
from yixiang.errors import NotFound
from yixiang.registry import ServiceRegistry

STATUS_LABELS = {
    BookingStatus.requested: "待审核",
    BookingStatus.confirmed: "已确认",
    BookingStatus.in_service: "服务中",
    BookingStatus.completed: "已完成",
    BookingStatus.delivered: "结果已交付",
    BookingStatus.rated: "已评价",
    BookingStatus.cancelled: "已取消",
    BookingStatus.rejected: "已拒绝",
    BookingStatus.no_show: "未到场",
    BookingStatus.expired: "已过期",
}
IDEMPOTENCY_TTL = 24 * 3600


async def _is_internal(session: AsyncSession, principal: Principal | None, unit_id: uuid.UUID) -> bool:
    if principal is None or not principal.enterprise_ids:
        return False
    enterprise_id = booking_firm(principal, None)
    firm = await session.get(Organization, enterprise_id)
    return internal_rate(enterprise_id, firm.parent_id if firm else None, unit_id)


def _summary(document: SearchDocument) -> InstrumentSummary:
    return InstrumentSummary(
        id=uuid.UUID(document.id),
        name=document.name,
        unit_name=document.unit_name,
        region_name=document.city_name,
        model=document.model,
        price_from_fen=document.min_price_fen,
        rating_mean=document.rating_mean,
    )


class CatalogAdapter:
    def __init__(self, session_maker: async_sessionmaker[AsyncSession], services: ServiceRegistry) -> None:
        self.session_maker = session_maker
        self.services = services

    async def search(self, text: str, *, limit: int, principal: Principal | None) -> list[InstrumentSummary]:
        backend = self.services[SEARCH_BACKEND]
        async with self.session_maker() as session, transaction(session, read_only=True):
            result = await backend.search(session, SearchQuery(q=text, limit=limit, with_facets=False))
        return [_summary(hit.document) for hit in result.hits]

    async def search_page(
        self,
        text: str,
        *,
        offset: int,
        limit: int,
        principal: Principal | None,
        region: str | None = None,
        sort: str | None = None,
    ) -> InstrumentPage:
        backend = self.services[SEARCH_BACKEND]
        request = SearchRequest(q=text, region=region, sort=Sort(sort) if sort else None, limit=limit)
        async with self.session_maker() as session, transaction(session, read_only=True):
            query = await build_query(session, request)
            query = msgspec.structs.replace(query, offset=offset, with_facets=False)
            result = await backend.search(session, query)
        return InstrumentPage(items=[_summary(hit.document) for hit in result.hits], total=result.total)

    async def details(
        self, instrument_id: uuid.UUID, principal: Principal | None
    ) -> InstrumentDetails | None:
        async with self.session_maker() as session, transaction(session):
            instrument = await session.get(Instrument, instrument_id)
            if instrument is None or not can_see_instrument(
                principal, instrument.unit_id, instrument.publication
            ):
                return None
            unit = await session.get(Organization, instrument.unit_id)
            region = await session.get(Region, instrument.region_code)
            internal = await _is_internal(session, principal, instrument.unit_id)
            items = tuple(
                ServiceItemView(
                    id=item.id,
                    name=item.name,
                    mode=item.mode.value,
                    price_unit=item.price_unit.value,
                    price_fen=item.internal_price_fen if internal else item.external_price_fen,
                    turnaround_working_days=item.turnaround_working_days,
                )
                for item in instrument.service_items
                if item.active
            )
            return InstrumentDetails(
                id=instrument.id,
                name=instrument.name,
                unit_name=unit.name if unit else "",
                model=instrument.model,
                manufacturer=instrument.manufacturer,
                address=instrument.address,
                region_name=region.name if region else "",
                sample_requirements=instrument.sample_requirements,
                rating_mean=instrument.rating_mean,
                rating_count=instrument.rating_count,
                voucher_eligible=instrument.voucher_eligible,
                items=items,
                contact_name=instrument.contact_name,
                contact_phone=instrument.contact_phone,
                **await self._live(session, instrument.id),
            )

    async def _live(self, session: AsyncSession, instrument_id: uuid.UUID) -> dict[str, Any]:
        reader = self.services.get(LIVE_STATUS)
        if reader is None:
            return {}
        status = (await reader.statuses(session, [instrument_id]))[instrument_id]
        return {
            "live_status": status.status.value,
            "live_label": status.label,
            "live_since": status.since,
            "free_now": status.free_now,
            "booked_now": status.booked_now,
        }


class BookingAdapter:
    def __init__(self, session_maker: async_sessionmaker[AsyncSession], settings: Any, store: Any) -> None:
        self.session_maker = session_maker
        self.settings = settings
        self.store = store

    async def _view(self, session: AsyncSession, booking: Booking) -> BookingView:
        instrument = await session.get(Instrument, booking.instrument_id)
        item = await session.get(ServiceItem, booking.service_item_id) if booking.service_item_id else None
        return BookingView(
            id=booking.id,
            instrument_id=booking.instrument_id,
            code=booking_code(booking),
            instrument_name=instrument.name if instrument else "",
            item_name=item.name if item else "机时",
            status=booking.status.value,
            status_label=STATUS_LABELS[booking.status],
            start=booking.start_at,
            end=booking.end_at,
            samples=booking.samples,
            fee_fen=booking.final_fee_fen if booking.final_fee_fen is not None else booking.quoted_fee_fen,
            voucher_share_fen=booking.voucher_fen,
            can_cancel=booking.status in (BookingStatus.requested, BookingStatus.confirmed),
            has_results=booking.status in (BookingStatus.delivered, BookingStatus.rated),
            can_rate=booking.status == BookingStatus.delivered,
        )

    async def free_slots(
        self, instrument_id: uuid.UUID, start: datetime, end: datetime, *, item_id: uuid.UUID | None = None
    ) -> list[Slot]:
        async with self.session_maker() as session:
            found = await availability(session, None, instrument_id, start, end)
        return [Slot(s, e) for s, e in found.slots]

    async def free_ranges(self, instrument_id: uuid.UUID, start: datetime, end: datetime) -> FreeRanges:
        async with self.session_maker() as session:
            found = await availability(session, None, instrument_id, start, end)
        rules = found.rules
        return FreeRanges(
            ranges=[Slot(s, e) for s, e in found.ranges],
            min_minutes=rules.min_duration_minutes,
            max_minutes=rules.max_duration_minutes,
            step_minutes=rules.slot_minutes,
            rules="；".join(
                describe_rules(
                    rules,
                    machine_time=found.offers_machine_time,
                    sample_testing=ServiceMode.sample_testing in found.modes,
                )
            ),
        )

    async def _item(
        self, session: AsyncSession, principal: Principal, item_id: uuid.UUID
    ) -> tuple[ServiceItem, Instrument]:
        """The service item and its instrument, if the user may see the instrument (the API's rule)."""
        item = await session.get(ServiceItem, item_id)
        instrument = await session.get(Instrument, item.instrument_id) if item else None
        if (
            item is None
            or instrument is None
            or not can_see_instrument(principal, instrument.unit_id, instrument.publication)
        ):
            raise NotFound("未找到该检测项目")
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
        """The API's quote (booking.quotes) for what the user picked."""
        async with self.session_maker() as session:
            async with transaction(session, read_only=True):
                item, instrument = await self._item(session, principal, item_id)
            data = _booking_in(item, instrument, start, end, samples)
            price = await quote_booking(session, principal, data, for_a_firm=False)
        return Quote(
            fee_fen=price.fee.fee_fen,
            voucher_share_fen=price.voucher.share_fen,
            payable_fen=price.remainder_fen,
            billing_rule=price.billing_rule,
        )

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
        remembered = f"bot:booking-key:{principal.user_id}:{idempotency_key}"
        async with self.session_maker() as session:
            earlier = await self.store.get(remembered)
            if earlier is not None:
                booking = await session.get(Booking, uuid.UUID(earlier.decode()))
                if booking is not None:
                    return await self._view(session, booking)
            item, instrument = await self._item(session, principal, item_id)
            data = _booking_in(item, instrument, start, end, samples, note="通过公众号预约")
            booking = await create_booking(
                session,
                principal,
                data,
                max_open_requests=BookingSettings.of(self.settings).max_open_requests_per_instrument,
                no_show_rule=NoShowRule.of(self.settings),
            )
            await self.store.set(remembered, str(booking.id), ttl=IDEMPOTENCY_TTL)
            return await self._view(session, booking)

    async def list_mine(self, principal: Principal, *, limit: int) -> list[BookingView]:
        async with self.session_maker() as session:
            rows, _ = await list_bookings(session, principal, limit=limit)
            return [await self._view(session, booking) for booking, _ in rows]

    async def count_mine(self, principal: Principal) -> int:
        async with self.session_maker() as session:
            _, total = await list_bookings(session, principal, limit=1)
            return total

    async def cancel(
        self, principal: Principal, booking_id: uuid.UUID, *, reason: str, idempotency_key: str
    ) -> BookingView:
        async with self.session_maker() as session:
            booking = await session.get(Booking, booking_id)
            if booking is not None and booking.status == BookingStatus.cancelled:
                return await self._view(session, booking)  # a retried cancel
            booking = await cancel_booking(session, principal, booking_id, reason or "通过公众号取消")
            return await self._view(session, booking)

    async def results_link(self, principal: Principal, booking_id: uuid.UUID) -> str:
        async with self.session_maker() as session:
            files = [f for f in await list_results(session, principal, booking_id) if f.superseded_at is None]
        if not files or files[0].purged_at is not None:
            raise NotFound("该预约还没有可下载的结果")
        return download_path(self.settings, files[0], principal)

    async def result_links(self, principal: Principal, booking_id: uuid.UUID) -> list[ResultLink]:
        async with self.session_maker() as session:
            files = [
                f
                for f in await list_results(session, principal, booking_id)
                if f.superseded_at is None and f.purged_at is None
            ]
        if not files:
            raise NotFound("该预约还没有可下载的结果")
        base = WeChatSettings.of(self.settings).public_base_url.rstrip("/")
        ttl = ResultsSettings.of(self.settings).link_ttl_seconds
        return [
            ResultLink(
                name=f.name, url=base + download_path(self.settings, f, principal), expires_in_seconds=ttl
            )
            for f in files
        ]

    async def rate(
        self, principal: Principal, booking_id: uuid.UUID, *, score: int, comment: str, idempotency_key: str
    ) -> BookingView:
        async with self.session_maker() as session:
            await rate_booking(
                session,
                principal,
                booking_id,
                overall=score,
                dimensions=dict.fromkeys(("timeliness", "data_quality", "professionalism", "value"), score),
                comment=comment,
                window_days=RatingsSettings.of(self.settings).window_days,
            )
            booking = await session.get(Booking, booking_id, populate_existing=True)
            assert booking is not None
            return await self._view(session, booking)


def _booking_in(
    item: ServiceItem,
    instrument: Instrument,
    start: datetime | None,
    end: datetime | None,
    samples: int | None,
    note: str = "",
) -> BookingIn:
    """What the user picked in the chat, as the API's booking body."""
    machine_time = item.mode == ServiceMode.machine_time
    return BookingIn(
        instrument_id=instrument.id,
        mode=item.mode,
        operation=(Operation.operator if instrument.operator_run else Operation.self)
        if machine_time
        else None,
        start=start if machine_time else None,
        end=end if machine_time else None,
        service_item_id=item.id,
        samples=None if machine_time else samples,
        note=note,
    )


# Entries that take from what the firm can spend: the bot shows them as negative amounts.
SPENDING_KINDS = {"hold", "capture", "expiry"}


def _spends(entry: HistoryOut) -> bool:
    return entry.kind in SPENDING_KINDS or (entry.kind == "adjustment" and entry.available_change_fen < 0)


class VoucherAdapter:
    def __init__(self, session_maker: async_sessionmaker[AsyncSession]) -> None:
        self.session_maker = session_maker

    async def balance(self, principal: Principal) -> list[VoucherBalance]:
        if not principal.enterprise_ids:
            return []
        async with self.session_maker() as session, transaction(session, read_only=True):
            mine = await my_vouchers(session, principal, None)
        return [
            VoucherBalance(
                program_name=g.program_name,
                balance_fen=g.balance_fen,
                held_fen=g.held_fen,
                expires_on=g.expires_on,
            )
            for g in mine.grants
            if g.status == "active"
        ]

    async def history(self, principal: Principal, *, limit: int) -> list[VoucherEntry]:
        if not principal.enterprise_ids:
            return []
        async with self.session_maker() as session, transaction(session, read_only=True):
            mine = await my_vouchers(session, principal, None)
        return [
            VoucherEntry(
                at=h.at,
                label=h.label,
                amount_fen=-h.amount_fen if _spends(h) else h.amount_fen,
                booking_code=h.booking_number or "",
            )
            for h in mine.history[:limit]
        ]


def build_ports(runtime: Any) -> Ports:
    return Ports(
        catalog=CatalogAdapter(runtime.session_maker, runtime.services),
        bookings=BookingAdapter(runtime.session_maker, runtime.settings, runtime.store),
        vouchers=VoucherAdapter(runtime.session_maker),
    )
