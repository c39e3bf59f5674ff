"""msgspec Structs the catalogue API speaks."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

import msgspec

from catalogue.models import (
    InstrumentStatus,
    Origin,
    PriceUnit,
    PublicationStatus,
    ServiceDuty,
    ServiceMode,
)
from yixiang.schemas import INT32_MAX, Input, Output

Text200 = Annotated[str, msgspec.Meta(max_length=200)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Fen = Annotated[int, msgspec.Meta(ge=0, le=10_000_000_000_00)]  # BigInteger: up to 100 亿元
PriceFen = Annotated[int, msgspec.Meta(ge=0, le=INT32_MAX)]  # a service item's Integer price column
WorkingDays = Annotated[int, msgspec.Meta(ge=0, le=365)]


class ServiceItemIn(Input):
    """A priced service. With ``id`` it updates that item; items left out are deactivated, never
    deleted (bookings keep pointing at them)."""

    name: Name
    mode: ServiceMode
    price_unit: PriceUnit
    internal_price_fen: PriceFen
    external_price_fen: PriceFen
    turnaround_working_days: Annotated[int, msgspec.Meta(ge=0, le=365)] | None = None
    description: Annotated[str, msgspec.Meta(max_length=1000)] = ""
    active: bool = True
    id: uuid.UUID | None = None
    # statutory / mandatory testing or the unit's own duties: no sharing reward for it
    duty: ServiceDuty = ServiceDuty.none


class InstrumentIn(Input):
    """A whole instrument record (create, or replace on PUT)."""

    name: Name
    category_code: Annotated[str, msgspec.Meta(min_length=2, max_length=8)]
    original_value_fen: Fen
    region_code: Annotated[str, msgspec.Meta(pattern=r"^\d{6}$")]
    unit_id: uuid.UUID | None = None  # default: the caller's only unit
    asset_number: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None
    name_en: Text200 = ""
    aliases: Annotated[
        list[Annotated[str, msgspec.Meta(min_length=1, max_length=50)]], msgspec.Meta(max_length=20)
    ] = msgspec.field(default_factory=list)
    model: Annotated[str, msgspec.Meta(max_length=100)] = ""
    manufacturer: Text200 = ""
    origin: Origin = Origin.imported
    purchase_date: date | None = None
    acceptance_date: date | None = None
    lab: Text200 = ""
    address: Annotated[str, msgspec.Meta(max_length=300)] = ""
    latitude: Annotated[float, msgspec.Meta(ge=-90, le=90)] | None = None
    longitude: Annotated[float, msgspec.Meta(ge=-180, le=180)] | None = None
    status: InstrumentStatus = InstrumentStatus.in_service
    open_to_public: bool = True
    self_operation: bool = False
    operator_run: bool = True
    sample_testing: bool = True
    specifications: Annotated[
        dict[str, Annotated[str, msgspec.Meta(max_length=500)]], msgspec.Meta(max_length=60)
    ] = msgspec.field(default_factory=dict)
    sample_requirements: Annotated[str, msgspec.Meta(max_length=2000)] = ""
    photos: Annotated[
        list[Annotated[str, msgspec.Meta(pattern=r"^https?://", max_length=500)]], msgspec.Meta(max_length=12)
    ] = msgspec.field(default_factory=list)
    contact_name: Annotated[str, msgspec.Meta(max_length=50)] = ""
    contact_phone: Annotated[str, msgspec.Meta(pattern=r"^[0-9+\-() ]{0,30}$")] = ""
    contact_email: Annotated[str, msgspec.Meta(max_length=100)] = ""
    voucher_eligible: bool = True
    customs_supervised_until: date | None = None
    fee_basis: Annotated[str, msgspec.Meta(max_length=4000)] = ""
    service_items: Annotated[list[ServiceItemIn], msgspec.Meta(max_length=50)] = msgspec.field(
        default_factory=list
    )


class ReviewIn(Input):
    note: Annotated[str, msgspec.Meta(max_length=500)] = ""


class ServiceItemOut(Output):
    id: uuid.UUID
    name: str
    mode: ServiceMode
    price_unit: PriceUnit
    internal_price_fen: int
    external_price_fen: int
    turnaround_working_days: int | None
    description: str
    active: bool
    duty: ServiceDuty  # not none: 法定检测 / 强制检测 / 本单位职责, no sharing reward


class FeeStandardOut(Output):
    basis: str
    items: list[ServiceItemOut]


class ListingOut(Output):
    required: bool
    deadline: date | None
    listed_on: date | None
    met: bool | None
    overdue: bool


class CategoryRef(Output):
    code: str
    name: str
    parent_code: str | None
    parent_name: str | None


class RegionRef(Output):
    code: str
    name: str
    city_code: str
    city_name: str


class UnitRef(Output):
    id: uuid.UUID
    name: str


class ContactOut(Output):
    name: str
    phone: str
    email: str


class RatingOut(Output):
    count: int
    mean: float | None


class InstrumentOut(Output):
    id: uuid.UUID
    asset_number: str | None
    name: str
    name_en: str
    aliases: list[str]
    model: str
    manufacturer: str
    origin: Origin
    category: CategoryRef
    original_value_fen: int
    purchase_date: date | None
    acceptance_date: date | None
    unit: UnitRef
    lab: str
    address: str
    region: RegionRef
    latitude: float | None
    longitude: float | None
    status: InstrumentStatus
    publication: PublicationStatus
    published_at: datetime | None
    open_to_public: bool
    service_modes: list[ServiceMode]
    self_operation: bool
    operator_run: bool
    sample_testing: bool
    specifications: dict[str, str]
    sample_requirements: str
    photos: list[str]
    contact: ContactOut | None  # signed-in users only
    voucher_eligible: bool
    customs_supervised_until: date | None
    service_items: list[ServiceItemOut]
    fee_standard: FeeStandardOut
    listing: ListingOut
    rating: RatingOut
    review_note: str
    updated_at: datetime
    # 现场状态 from the instrument's sensor (None where no domain monitors instruments)
    live: LiveOut | None = None


class LiveOut(Output):
    status: str  # running | standby | off | offline | no_sensor
    since: datetime | None
    free_now: bool  # 现在空闲: standby or off, and no confirmed booking covers this moment
    booked_now: bool
    label: str  # in words: 运行中, 现在空闲, 传感器离线, 未接入传感器 ...


class InstrumentSummary(Output):
    id: uuid.UUID
    asset_number: str | None
    name: str
    model: str
    manufacturer: str
    category_code: str
    status: InstrumentStatus
    publication: PublicationStatus
    voucher_eligible: bool
    listing: ListingOut
    updated_at: datetime


class InstrumentPage(Output):
    items: list[InstrumentSummary]
    total: int
    next_cursor: str | None


class CategoryOut(Output):
    code: str
    name: str
    name_en: str
    children: list[CategoryOut]


class WorkingDayIn(Input):
    is_working_day: bool
    name: Annotated[str, msgspec.Meta(max_length=64)] = ""


class WorkingDayOut(Output):
    day: date
    is_working_day: bool
    name: str
    updated_at: datetime


class ImportErrorOut(Output):
    row: int  # 1-based line number in the file, the header being line 1
    field: str | None
    message: str


class ImportReport(Output):
    rows: int
    created: int
    updated: int
    instrument_ids: list[uuid.UUID]
