"""Tables of the database-backed search index (the embedded default, and PostgreSQL without Meilisearch).

``search_documents`` holds one row per published instrument: the filter and sort columns, the
display payload, and four token columns (jieba words of the name, synonym-group tokens, words of
the rest, Chinese character bigrams). The full-text index over the token columns is engine
specific and created by migration 0002: an FTS5 table ``search_fts`` on SQLite, a weighted
``tsvector`` column with a GIN index on PostgreSQL. ``search_terms`` is the vocabulary of Latin
tokens, for typo tolerance.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from yixiang.db import Base, utcnow


class SearchDocumentRow(Base):
    __tablename__ = "search_documents"
    __table_args__ = (
        Index("ix_search_documents_city_category", "city_code", "category_code"),
        Index("ix_search_documents_price", "min_price_fen"),
        Index("ix_search_documents_rating", "rating_sort"),
    )

    instrument_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    # The FTS5 row of this document on SQLite (rowid of ``search_fts``); unused on PostgreSQL.
    doc_number: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), unique=True)
    unit_id: Mapped[uuid.UUID] = mapped_column(index=True)
    province_code: Mapped[str] = mapped_column(String(6), index=True)
    city_code: Mapped[str] = mapped_column(String(6))
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    category_code: Mapped[str] = mapped_column(String(8), index=True)
    category_parent: Mapped[str] = mapped_column(String(8), index=True)
    machine_time: Mapped[bool]
    self_operation: Mapped[bool]
    sample_testing: Mapped[bool]
    voucher_eligible: Mapped[bool]
    min_price_fen: Mapped[int | None]
    rating_sort: Mapped[float] = mapped_column(default=0.0)
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]
    name_tokens: Mapped[str] = mapped_column(Text)
    keyword_tokens: Mapped[str] = mapped_column(Text)
    body_tokens: Mapped[str] = mapped_column(Text)
    grams: Mapped[str] = mapped_column(Text)
    document: Mapped[dict[str, Any]]
    indexed_at: Mapped[datetime] = mapped_column(default=utcnow)


class SearchTerm(Base):
    """A Latin-script token present in the index (model numbers, makers, abbreviations)."""

    __tablename__ = "search_terms"

    term: Mapped[str] = mapped_column(String(64), primary_key=True)
