"""The one search contract both backends implement (``database.py``, ``meili.py``).

A :class:`SearchQuery` is already validated (``service.py`` turns HTTP parameters into one); a
backend answers with ids in order, the exact total, facet counts and highlights. Documents are
built once (``documents.py``) and are the same for both backends: what is indexed is exactly a
:class:`SearchDocument`, which holds nothing personal (no contact name, phone or e-mail).
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Protocol, runtime_checkable

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession


class Sort(enum.StrEnum):
    relevance = "relevance"
    rating = "rating"
    price = "price"  # lowest price first
    distance = "distance"  # nearest to (lat, lng) first


class Mode(enum.StrEnum):
    machine_time = "machine_time"
    self_operation = "self_operation"
    sample_testing = "sample_testing"


class SearchDocument(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    name_en: str
    aliases: list[str]
    model: str
    manufacturer: str
    category_code: str
    category_name: str
    category_parent: str
    category_parent_name: str
    unit_id: str
    unit_name: str
    province_code: str
    city_code: str
    region_code: str
    city_name: str
    district_name: str
    lab: str
    modes: list[str]
    voucher_eligible: bool
    min_price_fen: int | None
    rating_mean: float | None
    rating_count: int
    rating_sort: float
    latitude: float | None
    longitude: float | None
    status: str
    service_names: list[str]
    specs: list[str]
    keywords: list[str]  # every term of every synonym group the document belongs to


class SearchQuery(msgspec.Struct, frozen=True, kw_only=True):
    q: str = ""
    province_code: str | None = None  # a region filter resolves to exactly one of these three
    city_code: str | None = None
    region_code: str | None = None
    category_codes: tuple[str, ...] = ()  # leaf codes (a top-level category expands to its leaves)
    modes: tuple[Mode, ...] = ()  # all must be offered
    voucher_eligible: bool | None = None
    price_min_fen: int | None = None
    price_max_fen: int | None = None
    unit_id: str | None = None
    ids: tuple[str, ...] | None = None  # restrict to these (used by the free-slot filter)
    sort: Sort = Sort.relevance
    latitude: float | None = None
    longitude: float | None = None
    offset: int = 0
    limit: int = 20
    with_facets: bool = True


class Hit(msgspec.Struct, frozen=True, kw_only=True):
    document: SearchDocument
    highlight: dict[str, str]


class SearchResult(msgspec.Struct, frozen=True, kw_only=True):
    hits: list[Hit]
    total: int
    facets: dict[str, dict[str, int]]  # "category" -> {leaf code: n}, "region" -> {city code: n}


class SearchBackend(Protocol):
    name: str

    async def search(self, session: AsyncSession, query: SearchQuery) -> SearchResult: ...

    async def upsert(self, session: AsyncSession, documents: Sequence[SearchDocument]) -> None: ...

    async def delete(self, session: AsyncSession, ids: Sequence[str]) -> None: ...

    async def rebuild(self, session: AsyncSession, documents: AsyncIterator[list[SearchDocument]]) -> int:
        """Replace the whole index with ``documents`` without a moment where search is empty."""
        ...

    async def all_documents(self, session: AsyncSession) -> list[SearchDocument]:
        """Every indexed document, sorted by id (to compare an index with the database)."""
        ...


@runtime_checkable
class CountsAmong(Protocol):
    """A backend that counts matches within groups of documents without reading any document
    (the live-status facet's counts; a backend without it answers them with searches)."""

    async def count_among(
        self, session: AsyncSession, query: SearchQuery, groups: dict[str, frozenset[str]]
    ) -> dict[str, int]:
        """Per group of document ids, how many of them match ``query``'s words and filters
        (its ``ids`` too, when it has them; its page and sort do not matter)."""
        ...


def doc_uuid(document: SearchDocument) -> uuid.UUID:
    return uuid.UUID(document.id)
