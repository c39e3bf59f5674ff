"""Tables of the database-backed search index (the embedded default, and PostgreSQL without Meilisearch).

``search_documents`` holds one narrow row per published instrument: the filter, facet and sort
columns; ``search_payloads`` the display document, read for the page only. The full-text index
over four token texts (jieba words of the name, synonym-group tokens, words of the rest, Chinese
character bigrams) is engine specific: on SQLite an FTS5 table ``search_fts`` (rowid =
``doc_number``) that also carries each document's filter values as tags, and ``search_keys``, the
few columns a match still reads (search/sqlite_index.py, migrations 0002, 0007 and 0009); on
PostgreSQL a ``tsvector`` column ``tsv`` with a GIN index (search/postgres_index.py).
``search_terms`` is the vocabulary of Latin tokens, for typo tolerance; ``search_index_state``
counts the writes to all of these (the generation remembered answers are keyed by).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Index, Integer, String, UniqueConstraint
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
        UniqueConstraint("doc_number").ddl_if(dialect="postgresql"),
        # SQLite: a page's documents are found by their FTS5 rowid (migration 0009).
        Index("ix_search_documents_doc_number", "doc_number", unique=True).ddl_if(dialect="sqlite"),
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


class SearchIndexState(Base):
    """The one row counting writes to the index: every upsert, delete and rebuild increments
    ``generation`` in its transaction, so an answer computed at a generation stays right until
    the next write commits (search/cache.py)."""

    __tablename__ = "search_index_state"
    __table_args__ = (CheckConstraint("id = 1", name="one_row"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    generation: Mapped[int] = mapped_column(BigInteger)
