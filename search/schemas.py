"""msgspec Structs the search API speaks."""

from __future__ import annotations

import uuid

from yixiang.schemas import Output


class Named(Output):
    code: str
    name: str


class RatingSummary(Output):
    count: int
    mean: float | None


class SearchItem(Output):
    id: uuid.UUID
    name: str
    name_en: str
    model: str
    manufacturer: str
    unit: Named  # code: the holding unit's id
    city: Named
    district: Named | None
    category: Named
    lowest_price_fen: int | None  # lowest external price of the active service items
    rating: RatingSummary
    voucher_eligible: bool
    modes: list[str]
    status: str
    distance_km: float | None
    highlight: dict[str, str]  # "name", "model": matched terms wrapped in <em></em>


class FacetValue(Output):
    code: str
    name: str
    count: int


class SearchPage(Output):
    items: list[SearchItem]
    total: int
    facets: dict[str, list[FacetValue]]  # "category" (sub-category) and "region" (city); first page only
    next_cursor: str | None


class ReindexReport(Output):
    backend: str
    documents: int
