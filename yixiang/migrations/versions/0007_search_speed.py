"""search speed: a narrow search_documents row, the document in search_payloads

The full-text match visits one row of ``search_documents`` per matching instrument (for the
filters, facets and sort keys; on PostgreSQL also for ``ts_rank``). Those rows carried the whole
display document and four token texts, about 2 kB, so a broad query read a page per match. The
document moves to ``search_payloads`` (read for the 20 rows of a page only); the token texts go
(PostgreSQL keeps them only in ``tsv``, now written by the index instead of generated; SQLite
keeps them in ``search_fts``). SQLite gets an index covering every column a match reads, in
``doc_number`` (FTS5 rowid) order, so matches never visit the table at all; it replaces the
unique index on ``doc_number``, which the planner preferred without statistics (the FTS5 rowid
keeps ``doc_number`` unique there). On PostgreSQL the city and category indexes include those
columns too, so browsing a city or a category is an index-only scan.

Downgrade restores the columns with empty token texts: run ``yixiang search reindex`` after it.

Revision ID: 0007_search_speed
Revises: 0006_results_ratings
Create Date: 2026-11-23 14:00:00

"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "0007_search_speed"
down_revision: str | Sequence[str] | None = "0006_results_ratings"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TOKEN_COLUMNS = ("name_tokens", "keyword_tokens", "body_tokens", "grams")
# What a query reads of each match besides the index keys: filters, facets, sort keys.
COVERED = (
    "province_code", "region_code", "unit_id", "machine_time", "self_operation", "sample_testing",
    "voucher_eligible", "min_price_fen", "rating_sort", "latitude", "longitude", "instrument_id",
)  # fmt: skip
BROWSE_INDEXES = {  # name: (keys, included)
    "ix_search_documents_city_category": (["city_code", "category_code"], list(COVERED)),
    "ix_search_documents_category_code": (["category_code"], ["city_code", *COVERED]),
}


def _document_type() -> sa.JSON[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql")


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    op.create_table(
        "search_payloads",
        sa.Column("instrument_id", sa.Uuid(), nullable=False),
        sa.Column("document", _document_type(), nullable=False),
        sa.PrimaryKeyConstraint("instrument_id", name=op.f("pk_search_payloads")),
    )
    op.execute(
        "INSERT INTO search_payloads (instrument_id, document) "
        "SELECT instrument_id, document FROM search_documents"
    )
    if _postgres():
        op.execute("ALTER TABLE search_documents ALTER COLUMN tsv DROP EXPRESSION")
    with op.batch_alter_table("search_documents", schema=None) as batch_op:
        for column in (*TOKEN_COLUMNS, "document"):
            batch_op.drop_column(column)
        if not _postgres():
            batch_op.drop_constraint("uq_search_documents_doc_number", type_="unique")
    if _postgres():
        for name, (keys, included) in BROWSE_INDEXES.items():
            op.drop_index(name, table_name="search_documents")
            op.create_index(name, "search_documents", keys, postgresql_include=included)
    else:
        columns = ["doc_number", "category_code", "city_code", *COVERED]
        op.create_index("ix_search_documents_covering", "search_documents", columns)


def downgrade() -> None:
    if _postgres():
        for name, (keys, _) in BROWSE_INDEXES.items():
            op.drop_index(name, table_name="search_documents")
            op.create_index(name, "search_documents", keys)
    else:
        op.drop_index("ix_search_documents_covering", table_name="search_documents")
    with op.batch_alter_table("search_documents", schema=None) as batch_op:
        if not _postgres():
            batch_op.create_unique_constraint("uq_search_documents_doc_number", ["doc_number"])
        for column in TOKEN_COLUMNS:
            batch_op.add_column(sa.Column(column, sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("document", _document_type(), nullable=True))
    op.execute(
        "UPDATE search_documents SET document = (SELECT p.document FROM search_payloads p "
        "WHERE p.instrument_id = search_documents.instrument_id)"
    )
    with op.batch_alter_table("search_documents", schema=None) as batch_op:
        batch_op.alter_column("document", existing_type=_document_type(), nullable=False)
    if _postgres():
        op.execute("ALTER TABLE search_documents DROP COLUMN tsv")
        op.execute(
            "ALTER TABLE search_documents ADD COLUMN tsv tsvector GENERATED ALWAYS AS ("
            "setweight(array_to_tsvector(string_to_array(name_tokens, ' ')), 'A') || "
            "setweight(array_to_tsvector(string_to_array(keyword_tokens, ' ')), 'A') || "
            "setweight(array_to_tsvector(string_to_array(body_tokens, ' ')), 'C') || "
            "setweight(array_to_tsvector(string_to_array(grams, ' ')), 'D')) STORED"
        )
        op.execute("CREATE INDEX ix_search_documents_tsv ON search_documents USING gin (tsv)")
    op.drop_table("search_payloads")
