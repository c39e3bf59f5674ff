"""The Meilisearch backend (production): meilisearch-python, called off the event loop.

meilisearch-python is synchronous (requests), so every call runs in a worker thread through
``anyio.to_thread.run_sync``. Index settings carry the same synonym groups as the database index;
queries are normalised by us first (Traditional → Simplified, full-width → half-width), so both
backends see the same text. Writes wait for their task, so "after the worker ran" means
"searchable". A rebuild fills a fresh index and swaps it in: searches never see an empty index.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, TypeVar

import anyio.to_thread
import meilisearch
import msgspec
from meilisearch.errors import MeilisearchApiError, MeilisearchCommunicationError, MeilisearchTimeoutError
from sqlalchemy.ext.asyncio import AsyncSession

from search.backend import Hit, SearchDocument, SearchQuery, SearchResult, Sort
from search.errors import SearchUnavailable
from search.phonetic import correct, vocabulary
from search.text import normalize, synonyms

T = TypeVar("T")
BATCH = 1000
TASK_TIMEOUT_MS = 60_000

SEARCHABLE = [
    "name",
    "aliases",
    "keywords",
    "model",
    "name_en",
    "manufacturer",
    "category_name",
    "category_parent_name",
    "service_names",
    "unit_name",
    "city_name",
    "district_name",
    "lab",
    "specs",
]
FILTERABLE = [
    "id",
    "province_code",
    "city_code",
    "region_code",
    "category_code",
    "category_parent",
    "modes",
    "voucher_eligible",
    "min_price_fen",
    "unit_id",
    "_geo",
]
SORTABLE = ["rating_sort", "min_price_fen", "_geo"]
FACETS = {"category": "category_code", "region": "city_code"}


@functools.cache
def synonym_setting() -> dict[str, list[str]]:
    """Meilisearch synonyms are directed: every term of a group maps to the group's other terms."""
    mapping: dict[str, list[str]] = {}
    for group in synonyms().groups:
        for term in group.normalized:
            others = [t for t in group.normalized if t != term]
            mapping.setdefault(term, [])
            mapping[term] += [t for t in others if t not in mapping[term]]
    # Pinyin and initials of the vocabulary (search/phonetic.py) name their groups, one way.
    for key, numbers in vocabulary().latin_keys.items():
        mapping.setdefault(key, [])
        for number in numbers:
            mapping[key] += [t for t in synonyms().groups[number - 1].normalized if t not in mapping[key]]
    return mapping


def index_settings() -> dict[str, Any]:
    return {
        "searchableAttributes": SEARCHABLE,
        "filterableAttributes": FILTERABLE,
        "sortableAttributes": SORTABLE,
        # "sort" first: an explicit sort (price, distance, rating) orders the matching documents.
        "rankingRules": ["sort", "words", "typo", "proximity", "attribute", "exactness", "rating_sort:desc"],
        "synonyms": synonym_setting(),
        "typoTolerance": {"enabled": True, "minWordSizeForTypos": {"oneTypo": 5, "twoTypos": 9}},
        "pagination": {"maxTotalHits": 2000},
        "faceting": {"maxValuesPerFacet": 500},
    }


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def build_filter(query: SearchQuery) -> list[str]:
    parts: list[str] = []
    for field in ("province_code", "city_code", "region_code", "unit_id"):
        value = getattr(query, field)
        if value:
            parts.append(f"{field} = {_quote(value)}")
    if query.category_codes:
        parts.append("category_code IN [" + ", ".join(_quote(c) for c in query.category_codes) + "]")
    for mode in query.modes:
        parts.append(f"modes = {_quote(mode.value)}")
    if query.voucher_eligible is not None:
        parts.append(f"voucher_eligible = {'true' if query.voucher_eligible else 'false'}")
    if query.price_min_fen is not None:
        parts.append(f"min_price_fen >= {int(query.price_min_fen)}")
    if query.price_max_fen is not None:
        parts.append(f"min_price_fen <= {int(query.price_max_fen)}")
    if query.ids is not None:
        parts.append("id IN [" + ", ".join(_quote(i) for i in query.ids) + "]")
    return parts


def build_sort(query: SearchQuery) -> list[str]:
    if query.sort == Sort.price:
        return ["min_price_fen:asc"]
    if query.sort == Sort.rating:
        return ["rating_sort:desc"]
    if query.sort == Sort.distance and query.latitude is not None and query.longitude is not None:
        return [f"_geoPoint({query.latitude}, {query.longitude}):asc"]
    return []


def to_meili(document: SearchDocument) -> dict[str, Any]:
    body: dict[str, Any] = msgspec.to_builtins(document)
    if document.latitude is not None and document.longitude is not None:
        body["_geo"] = {"lat": document.latitude, "lng": document.longitude}
    return body


class MeiliSearch:
    name = "meilisearch"

    def __init__(self, url: str, api_key: str, *, index: str = "instruments", timeout: int = 10) -> None:
        self.client = meilisearch.Client(url, api_key or None, timeout=timeout)
        self.index = index

    async def _call(self, fn: Callable[[], T]) -> T:
        try:
            return await anyio.to_thread.run_sync(fn)
        except (MeilisearchCommunicationError, MeilisearchTimeoutError) as exc:
            raise SearchUnavailable(reason=type(exc).__name__) from exc
        except MeilisearchApiError as exc:
            if exc.status_code and exc.status_code >= 500:
                raise SearchUnavailable(reason=exc.code) from exc
            raise

    def _wait(self, task: Any) -> None:
        done = self.client.wait_for_task(task.task_uid, timeout_in_ms=TASK_TIMEOUT_MS, interval_in_ms=20)
        if done.status != "succeeded":
            raise RuntimeError(f"meilisearch task {done.uid} {done.status}: {done.error}")

    def _ensure_index(self, uid: str) -> None:
        try:
            self.client.get_index(uid)
        except MeilisearchApiError as exc:
            if exc.code != "index_not_found":
                raise
            self._wait(self.client.create_index(uid, {"primaryKey": "id"}))
        self._wait(self.client.index(uid).update_settings(index_settings()))

    async def prepare(self) -> None:
        """Create the index if needed and apply the settings (idempotent)."""
        await self._call(lambda: self._ensure_index(self.index))

    # --- writing --------------------------------------------------------------------------
    async def upsert(self, session: AsyncSession, documents: Sequence[SearchDocument]) -> None:
        if not documents:
            return
        bodies = [to_meili(d) for d in documents]

        def run() -> None:
            for start in range(0, len(bodies), BATCH):
                self._wait(self.client.index(self.index).add_documents(bodies[start : start + BATCH], "id"))

        await self._call(run)

    async def delete(self, session: AsyncSession, ids: Sequence[str]) -> None:
        if not ids:
            return
        await self._call(lambda: self._wait(self.client.index(self.index).delete_documents(list(ids))))

    async def rebuild(self, session: AsyncSession, documents: AsyncIterator[list[SearchDocument]]) -> int:
        fresh = f"{self.index}_rebuild_{uuid.uuid4().hex[:8]}"
        await self._call(lambda: self._ensure_index(fresh))
        await self._call(lambda: self._ensure_index(self.index))
        count = 0
        try:
            async for batch in documents:
                bodies = [to_meili(d) for d in batch]
                await self._call(lambda b=bodies: self._wait(self.client.index(fresh).add_documents(b, "id")))  # type: ignore[misc]
                count += len(batch)
            await self._call(lambda: self._wait(self.client.swap_indexes([{"indexes": [self.index, fresh]}])))
        finally:
            # After the swap ``fresh`` holds the old documents; before it, the half-built index.
            await self._call(lambda: self._wait(self.client.delete_index(fresh)))
        return count

    async def all_documents(self, session: AsyncSession) -> list[SearchDocument]:
        def run() -> list[dict[str, Any]]:
            found: list[dict[str, Any]] = []
            offset = 0
            while True:
                page = self.client.index(self.index).get_documents({"offset": offset, "limit": BATCH})
                found += [dict(doc) for doc in page.results]
                offset += BATCH
                if offset >= page.total:
                    return found

        docs = [msgspec.convert(_plain(d), SearchDocument) for d in await self._call(run)]
        return sorted(docs, key=lambda d: d.id)

    # --- reading --------------------------------------------------------------------------
    async def search(self, session: AsyncSession, query: SearchQuery) -> SearchResult:
        params: dict[str, Any] = {
            "filter": build_filter(query),
            "sort": build_sort(query),
            "matchingStrategy": "all",
            "attributesToHighlight": ["name", "model"],
            "highlightPreTag": "<em>",
            "highlightPostTag": "</em>",
        }
        if query.with_facets:
            params["facets"] = list(FACETS.values())
        if query.offset % query.limit == 0:  # page mode answers an exact totalHits
            params.update(page=query.offset // query.limit + 1, hitsPerPage=query.limit)
        else:
            params.update(offset=query.offset, limit=query.limit)
        q = correct(normalize(query.q))
        if q.rsplit(" ", 1)[-1] in vocabulary().latin_keys:
            # Pinyin or initials are whole words, as the database backend reads them: "hc" is
            # 核磁, not also every word starting with hc (a trailing space ends prefix search).
            q += " "
        raw = await self._call(lambda: self.client.index(self.index).search(q, params))
        hits = []
        for hit in raw["hits"]:
            formatted = hit.get("_formatted", {})
            document = msgspec.convert(_plain(hit), SearchDocument)
            hits.append(
                Hit(
                    document=document,
                    highlight={
                        "name": formatted.get("name", document.name),
                        "model": formatted.get("model", document.model),
                    },
                )
            )
        total = raw.get("totalHits", raw.get("estimatedTotalHits", 0))
        distribution = raw.get("facetDistribution") or {}
        facets = (
            {name: dict(distribution.get(attr, {})) for name, attr in FACETS.items()}
            if query.with_facets
            else {}
        )
        return SearchResult(hits=hits, total=int(total), facets=facets)


def _plain(document: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if not k.startswith("_")}
