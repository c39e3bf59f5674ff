"""What the bot needs from the other domains, as small protocols.

The conversations are written against these ports; ``bot/adapters.py`` implements them with the
real catalogue/search, booking, results, ratings and voucher services, and the plugin puts that
:class:`Ports` into ``runtime.services[SERVICE_KEY]``. Every call carries the signed-in
:class:`Principal`, and the adapters apply the same ownership rules as the HTTP API: a firm never
sees another firm's data.
Failures a user can cause are ``yixiang.errors.DomainError`` subclasses; the bot shows their
Chinese message.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

import msgspec

from accounts.auth import Principal
from yixiang.registry import ServiceKey


class InstrumentSummary(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    name: str
    unit_name: str
    region_name: str = ""
    model: str = ""
    price_from_fen: int | None = None  # the lowest external price, for "¥x 起"
    rating_mean: float | None = None


class InstrumentPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[InstrumentSummary]
    total: int  # every match, not only this page


class ResultLink(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    url: str  # signed; absolute when the adapters know the public base URL, else a path
    expires_in_seconds: int


class ServiceItemView(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    name: str
    mode: str  # machine_time | sample_testing
    price_unit: str  # per_hour | per_sample | per_item
    price_fen: int  # the price this user pays (internal or external rate)
    turnaround_working_days: int | None = None


class InstrumentDetails(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    name: str
    unit_name: str
    model: str = ""
    manufacturer: str = ""
    address: str = ""
    region_name: str = ""
    sample_requirements: str = ""
    rating_mean: float | None = None
    rating_count: int = 0
    voucher_eligible: bool = True
    items: tuple[ServiceItemView, ...] = ()
    url: str = ""  # H5 page or mini-program path, when the adapters know one
    contact_name: str = ""  # the provider's contact for this instrument (public on its page)
    contact_phone: str = ""
    # 现场状态 (catalogue.live): "" where no domain monitors instruments
    live_status: str = ""  # running | standby | off | offline | no_sensor
    live_label: str = ""  # 现在空闲, 运行中, 传感器离线 ...
    live_since: datetime | None = None
    free_now: bool = False  # standby or off, and no confirmed booking covers this moment
    booked_now: bool = False


class Slot(msgspec.Struct, frozen=True):
    start: datetime
    end: datetime


class FreeRanges(msgspec.Struct, frozen=True, kw_only=True):
    """An instrument's free machine time as ranges a user picks a length from, with the rules
    that bound a booking (said to the user before they choose)."""

    ranges: list[Slot]
    min_minutes: int
    max_minutes: int
    step_minutes: int  # bookings start and end on this grid
    rules: str  # the booking rules, one sentence each


class Quote(msgspec.Struct, frozen=True, kw_only=True):
    fee_fen: int
    voucher_share_fen: int  # what the firm's vouchers will cover (held at confirmation)
    payable_fen: int  # what remains for the firm
    billing_rule: str = ""  # how actual use is billed (said before the user confirms)


class BookingView(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    instrument_id: uuid.UUID | None = None
    code: str  # a short reference the researcher can quote, e.g. "YX20261125-0001"
    instrument_name: str
    item_name: str
    status: str
    status_label: str  # Chinese, e.g. "待审核"
    start: datetime | None = None
    end: datetime | None = None
    samples: int | None = None
    fee_fen: int | None = None
    voucher_share_fen: int | None = None
    can_cancel: bool = False
    has_results: bool = False
    can_rate: bool = False


class VoucherBalance(msgspec.Struct, frozen=True, kw_only=True):
    program_name: str
    balance_fen: int  # available now
    held_fen: int = 0  # reserved by confirmed bookings, not yet captured
    expires_on: date | None = None


class VoucherEntry(msgspec.Struct, frozen=True, kw_only=True):
    at: datetime
    label: str  # Chinese, e.g. "抵扣" / "冻结" / "释放" / "发放"
    amount_fen: int  # signed: negative spends
    booking_code: str = ""


class CatalogPort(Protocol):
    async def search(self, text: str, *, limit: int, principal: Principal | None) -> list[InstrumentSummary]:
        """Published instruments matching free text (synonyms such as 核磁 = NMR are the port's job)."""
        ...

    async def details(
        self, instrument_id: uuid.UUID, principal: Principal | None
    ) -> InstrumentDetails | None:
        """One published instrument with its active service items priced for this user."""
        ...

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
        """A page of published instruments matching a whole sentence, with the true total."""
        ...


class BookingPort(Protocol):
    async def free_slots(
        self, instrument_id: uuid.UUID, start: datetime, end: datetime, *, item_id: uuid.UUID | None = None
    ) -> list[Slot]:
        """Bookable machine-time slots that start in [start, end), by the instrument's calendar."""
        ...

    async def free_ranges(self, instrument_id: uuid.UUID, start: datetime, end: datetime) -> FreeRanges:
        """Free machine time merged into ranges (each long enough for the shortest booking)."""
        ...

    async def quote(
        self,
        principal: Principal,
        item_id: uuid.UUID,
        *,
        start: datetime | None,
        end: datetime | None,
        samples: int | None,
    ) -> Quote: ...

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
        """Book for the principal's firm; the same idempotency key gives the same booking."""
        ...

    async def list_mine(self, principal: Principal, *, limit: int) -> list[BookingView]:
        """The principal's firm's bookings, newest first."""
        ...

    async def count_mine(self, principal: Principal) -> int:
        """How many bookings ``list_mine`` would list without a limit (a list's true total)."""
        ...

    async def cancel(
        self, principal: Principal, booking_id: uuid.UUID, *, reason: str, idempotency_key: str
    ) -> BookingView: ...

    async def results_link(self, principal: Principal, booking_id: uuid.UUID) -> str:
        """A signed, short-lived link to the results (recorded as a download when used)."""
        ...

    async def result_links(self, principal: Principal, booking_id: uuid.UUID) -> list[ResultLink]:
        """A signed, short-lived link to every current file of the booking's results."""
        ...

    async def rate(
        self, principal: Principal, booking_id: uuid.UUID, *, score: int, comment: str, idempotency_key: str
    ) -> BookingView: ...


class VoucherPort(Protocol):
    async def balance(self, principal: Principal) -> list[VoucherBalance]:
        """The principal's firm's vouchers (a firm sees only its own)."""
        ...

    async def history(self, principal: Principal, *, limit: int) -> list[VoucherEntry]: ...


@dataclass
class Ports:
    catalog: CatalogPort | None = None
    bookings: BookingPort | None = None
    vouchers: VoucherPort | None = None


SERVICE_KEY: ServiceKey[Ports] = ServiceKey("bot.ports")
