"""Building search documents from the catalogue: what is searchable and what a document holds.

Searchable: published, not retired, open to the public. A document holds what search filters,
sorts, shows and matches on; never the contact person, phone or e-mail.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import Organization, Region
from catalogue.models import Category, Instrument, InstrumentStatus, PublicationStatus
from search.backend import Mode, SearchDocument
from search.text import synonyms


def is_searchable(instrument: Instrument) -> bool:
    return (
        instrument.publication == PublicationStatus.published
        and instrument.status != InstrumentStatus.retired
        and instrument.open_to_public
    )


class Lookups:
    def __init__(self, categories: dict[str, Category], regions: dict[str, str], units: dict[uuid.UUID, str]):
        self.categories = categories
        self.regions = regions
        self.units = units


async def load_lookups(session: AsyncSession, unit_ids: set[uuid.UUID]) -> Lookups:
    categories = {c.code: c for c in (await session.scalars(select(Category))).all()}
    regions = {c: n for c, n in (await session.execute(select(Region.code, Region.name))).all()}
    rows = await session.execute(
        select(Organization.id, Organization.name).where(Organization.id.in_(unit_ids))
    )
    units = {i: n for i, n in rows.all()}
    return Lookups(categories, regions, units)


def build_document(instrument: Instrument, lookups: Lookups) -> SearchDocument:
    category = lookups.categories.get(instrument.category_code)
    parent = lookups.categories.get(category.parent_code) if category and category.parent_code else None
    region = instrument.region_code
    city = region[:4] + "00"
    province = region[:2] + "0000"
    items = [i for i in instrument.service_items if i.active]
    modes = [m.value for m in instrument.service_modes]
    if instrument.self_operation:
        modes.append(Mode.self_operation.value)
    names = [instrument.name, instrument.name_en, *instrument.aliases, instrument.model]
    groups = synonyms().tag(names)
    keywords = list(dict.fromkeys(term for g in groups for term in g.terms))
    prices = [i.external_price_fen for i in items]
    return SearchDocument(
        id=str(instrument.id),
        name=instrument.name,
        name_en=instrument.name_en,
        aliases=list(instrument.aliases),
        model=instrument.model,
        manufacturer=instrument.manufacturer,
        category_code=instrument.category_code,
        category_name=category.name if category else "",
        category_parent=parent.code if parent else instrument.category_code[:2],
        category_parent_name=parent.name if parent else "",
        unit_id=str(instrument.unit_id),
        unit_name=lookups.units.get(instrument.unit_id, ""),
        province_code=province,
        city_code=city,
        region_code=region,
        city_name=lookups.regions.get(city, lookups.regions.get(region, "")),
        district_name=lookups.regions.get(region, "") if region != city else "",
        lab=instrument.lab,
        modes=sorted(modes),
        voucher_eligible=instrument.voucher_eligible,
        min_price_fen=min(prices) if prices else None,
        rating_mean=instrument.rating_mean,
        rating_count=instrument.rating_count,
        rating_sort=float(instrument.rating_mean or 0.0),
        latitude=instrument.latitude,
        longitude=instrument.longitude,
        status=instrument.status.value,
        service_names=[i.name for i in items],
        specs=[f"{k} {v}" for k, v in instrument.specifications.items()],
        keywords=keywords,
    )


async def documents_for(
    session: AsyncSession, instrument_ids: Sequence[uuid.UUID]
) -> tuple[list[SearchDocument], list[str]]:
    """Documents to upsert and ids to remove, for these instruments as they are now."""
    rows = (await session.scalars(select(Instrument).where(Instrument.id.in_(list(instrument_ids))))).all()
    found = {r.id for r in rows}
    searchable = [r for r in rows if is_searchable(r)]
    lookups = await load_lookups(session, {r.unit_id for r in searchable})
    documents = [build_document(r, lookups) for r in searchable]
    removed = [str(i) for i in instrument_ids if i not in found] + [
        str(r.id) for r in rows if not is_searchable(r)
    ]
    return documents, removed


def _searchable() -> tuple[Any, ...]:
    return (
        Instrument.publication == PublicationStatus.published,
        Instrument.status != InstrumentStatus.retired,
        Instrument.open_to_public.is_(True),
    )


async def all_documents(
    session: AsyncSession, batch: int = 2000, progress: Callable[[int, int], None] | None = None
) -> AsyncIterator[list[SearchDocument]]:
    """Every searchable instrument's document, in batches, by category, then name (then id);
    ``progress(done, total)`` after each batch the consumer has taken (and written).

    A rebuild writes the index in this order, so instruments of one kind, which the same words
    find, lie together on disk: a broad query reads a few hundred pages, not one per match.
    """
    order = (Instrument.category_code, Instrument.name, Instrument.id)
    ids = (await session.scalars(select(Instrument.id).where(*_searchable()).order_by(*order))).all()
    lookups: Lookups | None = None
    for start in range(0, len(ids), batch):
        chunk = ids[start : start + batch]
        query = select(Instrument).where(Instrument.id.in_(chunk), *_searchable()).order_by(*order)
        rows = (await session.scalars(query)).all()
        units = {r.unit_id for r in rows}
        if lookups is None or not units <= set(lookups.units):
            lookups = await load_lookups(session, units | (set(lookups.units) if lookups else set()))
        if rows:
            yield [build_document(r, lookups) for r in rows]
        if progress is not None:
            progress(min(start + batch, len(ids)), len(ids))
