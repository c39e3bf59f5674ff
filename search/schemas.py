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


class LiveSummary(Output):
    status: str  # running | standby | off | offline | no_sensor
    free_now: bool  # 现在空闲: standby or off, and no confirmed booking covers this moment
    label: str  # in words: 现在空闲, 运行中, 传感器离线, 未接入传感器 ...


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
    live: LiveSummary | None = None  # 现场状态, where a domain monitors the instruments


class FacetValue(Output):
    code: str
    name: str
    count: int


class SearchPage(Output):
    items: list[SearchItem]
    total: int
    # "category" (sub-category), "region" (city) and, where instruments are monitored, "live"
    # (free_now 现在空闲, running, standby, off, offline); first page only
    facets: dict[str, list[FacetValue]]
    next_cursor: str | None


class ReindexReport(Output):
    backend: str
    documents: int
