"""Turning instrument rows into the Structs the API returns (names of categories, regions, units;
the listing deadline)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import Organization, Region
from catalogue.listing import listing_deadline
from catalogue.live import LiveStatus
from catalogue.models import Category, Instrument, ServiceItem
from catalogue.schemas import (
    CategoryRef,
    ContactOut,
    FeeStandardOut,
    InstrumentOut,
    InstrumentSummary,
    ListingOut,
    LiveOut,
    RatingOut,
    RegionRef,
    ServiceItemOut,
    UnitRef,
)
from catalogue.workdays import WorkingDayCalendar, load_working_day_calendar


class Names:
    def __init__(
        self,
        categories: dict[str, Category],
        regions: dict[str, str],
        units: dict[uuid.UUID, str],
        calendar: WorkingDayCalendar,
    ) -> None:
        self.categories = categories
        self.regions = regions
        self.units = units
        self.calendar = calendar

    def category(self, code: str) -> CategoryRef:
        cat = self.categories.get(code)
        parent = self.categories.get(cat.parent_code) if cat and cat.parent_code else None
        return CategoryRef(
            code=code,
            name=cat.name if cat else code,
            parent_code=parent.code if parent else None,
            parent_name=parent.name if parent else None,
        )

    def region(self, code: str) -> RegionRef:
        city = code[:4] + "00"
        return RegionRef(
            code=code,
            name=self.regions.get(code, code),
            city_code=city,
            city_name=self.regions.get(city, self.regions.get(code, code)),
        )


async def load_names(session: AsyncSession, unit_ids: Sequence[uuid.UUID]) -> Names:
    categories = {c.code: c for c in (await session.scalars(select(Category))).all()}
    regions = {code: name for code, name in (await session.execute(select(Region.code, Region.name))).all()}
    units = {
        uid: name
        for uid, name in (
            await session.execute(
                select(Organization.id, Organization.name).where(Organization.id.in_(set(unit_ids)))
            )
        ).all()
    }
    return Names(categories, regions, units, await load_working_day_calendar(session))


def item_out(item: ServiceItem) -> ServiceItemOut:
    return ServiceItemOut(
        id=item.id,
        name=item.name,
        mode=item.mode,
        price_unit=item.price_unit,
        internal_price_fen=item.internal_price_fen,
        external_price_fen=item.external_price_fen,
        turnaround_working_days=item.turnaround_working_days,
        description=item.description,
        active=item.active,
        duty=item.duty,
    )


def listing_out(instrument: Instrument, names: Names, threshold_fen: int) -> ListingOut:
    deadline = listing_deadline(
        original_value_fen=instrument.original_value_fen,
        acceptance_date=instrument.acceptance_date,
        published_at=instrument.published_at,
        threshold_fen=threshold_fen,
        calendar=names.calendar,
    )
    return ListingOut(
        required=deadline.required,
        deadline=deadline.deadline,
        listed_on=deadline.listed_on,
        met=deadline.met,
        overdue=deadline.overdue,
    )


def instrument_out(
    instrument: Instrument,
    names: Names,
    threshold_fen: int,
    *,
    show_contact: bool,
    show_inactive: bool = False,
) -> InstrumentOut:
    items = [item_out(i) for i in instrument.service_items if i.active or show_inactive]
    return InstrumentOut(
        id=instrument.id,
        asset_number=instrument.asset_number,
        name=instrument.name,
        name_en=instrument.name_en,
        aliases=list(instrument.aliases),
        model=instrument.model,
        manufacturer=instrument.manufacturer,
        origin=instrument.origin,
        category=names.category(instrument.category_code),
        original_value_fen=instrument.original_value_fen,
        purchase_date=instrument.purchase_date,
        acceptance_date=instrument.acceptance_date,
        unit=UnitRef(id=instrument.unit_id, name=names.units.get(instrument.unit_id, "")),
        lab=instrument.lab,
        address=instrument.address,
        region=names.region(instrument.region_code),
        latitude=instrument.latitude,
        longitude=instrument.longitude,
        status=instrument.status,
        publication=instrument.publication,
        published_at=instrument.published_at,
        open_to_public=instrument.open_to_public,
        service_modes=instrument.service_modes,
        self_operation=instrument.self_operation,
        operator_run=instrument.operator_run,
        sample_testing=instrument.sample_testing,
        specifications={str(k): str(v) for k, v in instrument.specifications.items()},
        sample_requirements=instrument.sample_requirements,
        photos=list(instrument.photos),
        contact=ContactOut(
            name=instrument.contact_name, phone=instrument.contact_phone, email=instrument.contact_email
        )
        if show_contact
        else None,
        voucher_eligible=instrument.voucher_eligible,
        customs_supervised_until=instrument.customs_supervised_until,
        service_items=items,
        fee_standard=FeeStandardOut(basis=instrument.fee_basis, items=items),
        listing=listing_out(instrument, names, threshold_fen),
        rating=RatingOut(count=instrument.rating_count, mean=instrument.rating_mean),
        review_note=instrument.review_note,
        updated_at=instrument.updated_at,
    )


def summary_out(instrument: Instrument, names: Names, threshold_fen: int) -> InstrumentSummary:
    return InstrumentSummary(
        id=instrument.id,
        asset_number=instrument.asset_number,
        name=instrument.name,
        model=instrument.model,
        manufacturer=instrument.manufacturer,
        category_code=instrument.category_code,
        status=instrument.status,
        publication=instrument.publication,
        voucher_eligible=instrument.voucher_eligible,
        listing=listing_out(instrument, names, threshold_fen),
        updated_at=instrument.updated_at,
    )


def live_out(status: LiveStatus) -> LiveOut:
    return LiveOut(
        status=status.status.value,
        since=status.since,
        free_now=status.free_now,
        booked_now=status.booked_now,
        label=status.label,
    )
