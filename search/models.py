"""Tables of the database-backed search index (the embedded default, and PostgreSQL without Meilisearch).

``search_documents`` holds one narrow row per published instrument: the filter, facet and sort
columns, which a query reads for every match; ``search_payloads`` the display document, read for
the page only. The full-text index over four token texts (jieba words of the name, synonym-group
tokens, words of the rest, Chinese character bigrams) is engine specific (migrations 0002 and
0007): an FTS5 table ``search_fts`` on SQLite (rowid = ``doc_number``), with an index covering
what a match reads; a ``tsvector`` column ``tsv`` with a GIN index on PostgreSQL, written by
``search/database.py``. ``search_terms`` is the vocabulary of Latin tokens, for typo tolerance.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from yixiang.db import Base, utcnow

# What a query reads of each match besides the keys below: filters, facets, sort keys.
COVERED = (
    "province_code", "region_code", "unit_id", "machine_time", "self_operation", "sample_testing",
    "voucher_eligible", "min_price_fen", "rating_sort", "latitude", "longitude", "instrument_id",
)  # fmt: skip


class SearchDocumentRow(Base):
    __tablename__ = "search_documents"
    __table_args__ = (
        # PostgreSQL browses a city or a category by an index-only scan (migration 0007).
        Index(
            "ix_search_documents_city_category",
            "city_code",
            "category_code",
            postgresql_include=list(COVERED),
        ),
        Index(
            "ix_search_documents_category_code",
            "category_code",
            postgresql_include=["city_code", *COVERED],
        ),
        Index("ix_search_documents_price", "min_price_fen"),
        Index("ix_search_documents_rating", "rating_sort"),
        # SQLite: everything a full-text match reads, in doc_number (FTS5 rowid) order; there the
        # FTS5 rowid keeps doc_number unique (migration 0007).
        UniqueConstraint("doc_number").ddl_if(dialect="postgresql"),
        Index("ix_search_documents_covering", "doc_number", "category_code", "city_code", *COVERED).ddl_if(
            dialect="sqlite"
        ),
    )

    instrument_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    # The FTS5 row of this document on SQLite (rowid of ``search_fts``); unused on PostgreSQL.
    doc_number: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    unit_id: Mapped[uuid.UUID] = mapped_column(index=True)
    province_code: Mapped[str] = mapped_column(String(6), index=True)
    city_code: Mapped[str] = mapped_column(String(6))
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    category_code: Mapped[str] = mapped_column(String(8))
    category_parent: Mapped[str] = mapped_column(String(8), index=True)
    machine_time: Mapped[bool]
    self_operation: Mapped[bool]
    sample_testing: Mapped[bool]
    voucher_eligible: Mapped[bool]
    min_price_fen: Mapped[int | None]
    rating_sort: Mapped[float] = mapped_column(default=0.0)
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]
    indexed_at: Mapped[datetime] = mapped_column(default=utcnow)


class SearchPayloadRow(Base):
    """The indexed document itself (a ``SearchDocument``), shown for the hits of a page."""

    __tablename__ = "search_payloads"

    instrument_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    document: Mapped[dict[str, Any]]


class SearchTerm(Base):
    """A Latin-script token present in the index (model numbers, makers, abbreviations)."""

    __tablename__ = "search_terms"

    term: Mapped[str] = mapped_column(String(64), primary_key=True)
