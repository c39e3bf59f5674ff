"""Search as the API offers it: validate the request, run the configured backend, name the facets.

Every bad filter is a 400 naming its field (unknown region or category, negative or inverted
prices, distance sort without a point, a broken cursor, free-time dates out of order).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import math
import time
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from msgspec.structs import replace
from sqlalchemy import URL, select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import Region
from booking.free_time import instruments_with_free_time
from catalogue.live import FILTER_LABELS, FILTERS, FREE_NOW, NO_SENSOR, LiveStatus, LiveStatusReader
from catalogue.models import Category
from search.backend import CountsAmong, Mode, SearchBackend, SearchQuery, SearchResult, Sort
from search.errors import BadSearchFilter
from search.schemas import FacetValue, LiveSummary, Named, RatingSummary, SearchItem, SearchPage
from search.sentence import query_of_sentence
from yixiang.clock import SHANGHAI
from yixiang.db import utcnow

MAX_OFFSET = 1000  # deep pages are not a search use case (Meilisearch's maxTotalHits default too)
MAX_FREE_TIME_DAYS = 31
FREE_TIME_CANDIDATES = 500


@dataclass(frozen=True)
class Reference:
    regions: dict[str, tuple[str, str]]  # code -> (name, level)
    categories: dict[str, tuple[str, str | None]]  # code -> (name, parent)

    @functools.cached_property
    def region_names(self) -> dict[str, str]:
        return {c: n for c, (n, _) in self.regions.items()}

    @functools.cached_property
    def category_names(self) -> dict[str, str]:
        return {c: n for c, (n, _) in self.categories.items()}


_cache: dict[URL, tuple[float, Reference]] = {}


async def reference(session: AsyncSession) -> Reference:
    """Regions and categories (small, rarely changing): cached per database for a minute."""
    key = session.get_bind().engine.url  # hashable as it is (rendering it cost ~50 µs a call)
    hit = _cache.get(key)
    if hit and time.monotonic() - hit[0] < 60:
        return hit[1]
    regions = {
        c: (n, lv)
        for c, n, lv in (await session.execute(select(Region.code, Region.name, Region.level))).all()
    }
    categories = {
        c: (n, p)
        for c, n, p in (
            await session.execute(select(Category.code, Category.name, Category.parent_code))
        ).all()
    }
    ref = Reference(regions, categories)
    _cache[key] = (time.monotonic(), ref)
    return ref


@dataclass(frozen=True)
class SearchRequest:
    q: str = ""
    region: str | None = None
    category: str | None = None
    mode: Mode | None = None
    voucher: bool | None = None
    price_min: int | None = None
    price_max: int | None = None
    unit: uuid.UUID | None = None
    sort: Sort | None = None
    lat: float | None = None
    lng: float | None = None
    available_from: date | None = None
    available_to: date | None = None
    cursor: str | None = None
    limit: int = 20
    live: str | None = None  # catalogue.live.FILTERS: free_now (现在空闲), running, standby, off, offline


# The live facet counts the hits of one search over the monitored instruments up to this many
# (a page Meilisearch returns by default is at most 1,000); beyond, one count search per value.
LIVE_FACET_HITS = 1000


def _fingerprint(request: SearchRequest) -> str:
    parts = [request.q, request.region, request.category, request.mode, request.voucher, request.price_min,
             request.price_max, request.unit, request.sort, request.lat, request.lng, request.available_from,
             request.available_to, request.live]  # fmt: skip
    return hashlib.sha1(repr(parts).encode()).hexdigest()[:8]


def encode_cursor(request: SearchRequest, offset: int) -> str:
    return base64.urlsafe_b64encode(f"{_fingerprint(request)}:{offset}".encode()).decode().rstrip("=")


def decode_cursor(request: SearchRequest) -> int:
    if not request.cursor:
        return 0
    try:
        text = base64.urlsafe_b64decode(request.cursor + "=" * (-len(request.cursor) % 4)).decode()
        fingerprint, _, value = text.partition(":")
        offset = int(value)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise BadSearchFilter("cursor", "分页游标无效") from exc
    if fingerprint != _fingerprint(request) or not 0 <= offset <= MAX_OFFSET:
        raise BadSearchFilter("cursor", "分页游标与本次搜索条件不符，请从第一页开始")
    return offset


async def build_query(session: AsyncSession, request: SearchRequest) -> SearchQuery:
    ref = await reference(session)
    province = city = region = None
    if request.region:
        found = ref.regions.get(request.region)
        if found is None:
            raise BadSearchFilter("region", f"行政区划代码 {request.region} 不存在")
        level = found[1]
        if level == "province":
            province = request.region
        elif level == "city":
            city = request.region
        else:
            region = request.region
    categories: tuple[str, ...] = ()
    if request.category:
        cat = ref.categories.get(request.category)
        if cat is None:
            raise BadSearchFilter("category", f"分类代码 {request.category} 不存在")
        if cat[1] is None:  # a top-level category includes its sub-categories
            categories = tuple(sorted(c for c, (_, p) in ref.categories.items() if p == request.category))
        else:
            categories = (request.category,)
    if (
        request.price_min is not None
        and request.price_max is not None
        and request.price_min > request.price_max
    ):
        raise BadSearchFilter("price_min", "最低价不能高于最高价")
    if (request.lat is None) != (request.lng is None):
        raise BadSearchFilter("lat" if request.lat is None else "lng", "经纬度须同时提供")
    sort = request.sort or Sort.relevance
    if sort == Sort.distance and request.lat is None:
        raise BadSearchFilter("lat", "按距离排序需要提供 lat 和 lng")
    return SearchQuery(
        q=query_of_sentence(request.q, utcnow()) if request.q.strip() else "",
        province_code=province,
        city_code=city,
        region_code=region,
        category_codes=categories,
        modes=(request.mode,) if request.mode else (),
        voucher_eligible=request.voucher,
        price_min_fen=request.price_min,
        price_max_fen=request.price_max,
        unit_id=str(request.unit) if request.unit else None,
        sort=sort,
        latitude=request.lat,
        longitude=request.lng,
        offset=decode_cursor(request),
        limit=request.limit,
    )


def _free_time_window(request: SearchRequest) -> tuple[datetime, datetime] | None:
    if request.available_from is None and request.available_to is None:
        return None
    if request.available_from is None or request.available_to is None:
        missing = "available_from" if request.available_from is None else "available_to"
        raise BadSearchFilter(missing, "空闲时段筛选须同时提供开始和结束日期")
    if request.available_to < request.available_from:
        raise BadSearchFilter("available_to", "结束日期不能早于开始日期")
    if (request.available_to - request.available_from).days >= MAX_FREE_TIME_DAYS:
        raise BadSearchFilter("available_to", f"空闲时段筛选最长 {MAX_FREE_TIME_DAYS} 天")
    start = datetime.combine(request.available_from, datetime.min.time(), SHANGHAI)
    end = datetime.combine(request.available_to + timedelta(days=1), datetime.min.time(), SHANGHAI)
    return start, end


async def search(
    session: AsyncSession,
    backend: SearchBackend,
    request: SearchRequest,
    live: LiveStatusReader | None = None,
) -> SearchPage:
    """A page of matches. With ``live`` (the instruments' live status, when a domain monitors
    them), each hit says its status, the first page counts the matches per status (facet
    ``live``), and ``request.live`` keeps those in that status now (现在空闲: free_now)."""
    query = await build_query(session, request)
    if request.live is not None and request.live not in FILTERS:
        raise BadSearchFilter("live", "现场状态只能是 free_now、running、standby、off 或 offline")
    states = await live.monitored(session) if live is not None else None
    if request.live is not None and states is None:
        raise BadSearchFilter("live", "本平台未接入仪器现场状态，不能按现场状态筛选")
    window = _free_time_window(request)
    if window is not None:
        # Candidates first (machine time, every other filter), then keep those with free time.
        candidates = await backend.search(
            session,
            replace(
                query,
                modes=(*query.modes, Mode.machine_time),
                offset=0,
                limit=FREE_TIME_CANDIDATES,
                with_facets=False,
            ),
        )
        free = await instruments_with_free_time(
            session, [uuid.UUID(h.document.id) for h in candidates.hits], *window
        )
        query = replace(
            query, ids=tuple(h.document.id for h in candidates.hits if uuid.UUID(h.document.id) in free)
        )
    counted = query
    if request.live is not None and states is not None:
        wanted = {str(i) for i, status in states.items() if status.matches(request.live)}
        query = replace(query, ids=tuple(sorted(wanted if query.ids is None else wanted & set(query.ids))))
    query = replace(query, with_facets=query.offset == 0)
    result = await backend.search(session, query)
    page = await present(session, request, query, result, states)
    if states is not None and query.with_facets:
        page.facets["live"] = await _live_facet(session, backend, counted, states)
    return page


async def _live_facet(
    session: AsyncSession, backend: SearchBackend, query: SearchQuery, states: dict[uuid.UUID, LiveStatus]
) -> list[FacetValue]:
    """The matches (every other filter applied, not the live one) per live-status filter value:
    counted by the backend when it can, without documents; else one search over the instruments
    that have a sensor, counted here, and one count search per value only when those matches
    are more than a page of hits can hold."""
    if isinstance(backend, CountsAmong):
        members: dict[str, list[str]] = {wanted: [] for wanted in FILTERS}
        for i, status in states.items():  # once over the statuses, not once per value
            if status.free_now:
                members[FREE_NOW].append(str(i))
            if status.status in members:
                members[status.status].append(str(i))
        groups = {wanted: frozenset(ids) for wanted, ids in members.items()}
        counted = await backend.count_among(session, query, groups)
        return [FacetValue(code=code, name=FILTER_LABELS[code], count=counted[code]) for code in FILTERS]
    monitored = {str(i) for i in states}
    if query.ids is not None:
        monitored &= set(query.ids)
    counts = dict.fromkeys(FILTERS, 0)
    if not monitored:
        return [FacetValue(code=code, name=FILTER_LABELS[code], count=0) for code in counts]
    limit = min(len(monitored), LIVE_FACET_HITS)
    narrowed = replace(query, ids=tuple(sorted(monitored)), offset=0, limit=limit, with_facets=False)
    found = await backend.search(session, narrowed)
    if found.total <= len(found.hits):
        for hit in found.hits:
            status = states[uuid.UUID(hit.document.id)]
            for wanted in FILTERS:
                counts[wanted] += status.matches(wanted)
    else:
        for wanted in FILTERS:
            ids = tuple(sorted(i for i in monitored if states[uuid.UUID(i)].matches(wanted)))
            if ids:
                one = replace(narrowed, ids=ids, limit=1)
                counts[wanted] = (await backend.search(session, one)).total
    return [FacetValue(code=code, name=FILTER_LABELS[code], count=n) for code, n in counts.items()]


def distance_km(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return round(6371.0 * 2 * math.asin(math.sqrt(a)), 1)


async def present(
    session: AsyncSession,
    request: SearchRequest,
    query: SearchQuery,
    result: SearchResult,
    states: dict[uuid.UUID, LiveStatus] | None = None,
) -> SearchPage:
    ref = await reference(session)
    items = []
    for hit in result.hits:
        d = hit.document
        instrument_id = uuid.UUID(d.id)
        distance = (
            distance_km(query.latitude, query.longitude, d.latitude, d.longitude)
            if query.latitude is not None
            and query.longitude is not None
            and d.latitude is not None
            and d.longitude is not None
            else None
        )
        items.append(
            SearchItem(
                id=instrument_id,
                name=d.name,
                name_en=d.name_en,
                model=d.model,
                manufacturer=d.manufacturer,
                unit=Named(code=d.unit_id, name=d.unit_name),
                city=Named(code=d.city_code, name=d.city_name),
                district=Named(code=d.region_code, name=d.district_name) if d.district_name else None,
                category=Named(code=d.category_code, name=d.category_name),
                lowest_price_fen=d.min_price_fen,
                rating=RatingSummary(count=d.rating_count, mean=d.rating_mean),
                voucher_eligible=d.voucher_eligible,
                modes=d.modes,
                status=d.status,
                distance_km=distance,
                highlight=hit.highlight,
                live=None if states is None else live_summary(states.get(instrument_id, NO_SENSOR)),
            )
        )
    facets = {
        "category": _facet(result.facets.get("category", {}), ref.category_names),
        "region": _facet(result.facets.get("region", {}), ref.region_names),
    }
    next_offset = query.offset + query.limit
    more = next_offset < result.total and next_offset <= MAX_OFFSET
    return SearchPage(
        items=items,
        total=result.total,
        facets=facets,
        next_cursor=encode_cursor(request, next_offset) if more else None,
    )


def live_summary(status: LiveStatus) -> LiveSummary:
    return LiveSummary(status=status.status.value, free_now=status.free_now, label=status.label)


def _facet(counts: dict[str, int], names: dict[str, str]) -> list[FacetValue]:
    values = [FacetValue(code=code, name=names.get(code, code), count=n) for code, n in counts.items()]
    return sorted(values, key=lambda f: (-f.count, f.code))
