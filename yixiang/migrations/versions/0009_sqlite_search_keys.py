"""sqlite search keys: filters as FTS5 tags, the per-match columns in a narrow rowid table

SQLite only (PostgreSQL is unchanged). A broad word ("电镜": 8,000 of 100,000 instruments) used to
look up every match in an index of ``search_documents`` for its filters, facets and sort keys,
and rank it with bm25; together most of a search's time. Now ``search_fts`` gains a ``tags``
column (one token per filter value: province, city, district, category, holding unit, modes,
voucher), so those filters intersect inside FTS5, and ``search_keys`` (rowid = ``doc_number``)
keeps the columns a match still reads: category and city (facets), price, rating, coordinates,
with an index for the first page and one for the facet counts of browsing everything. The
covering index goes; a unique index on ``doc_number`` finds a page's documents.

Built from the current index in SQL: no reindex needed.

Revision ID: 0009_sqlite_search_keys
Revises: 0008_search_generation
Create Date: 2026-11-26 08:30:00

"""

from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0009_sqlite_search_keys"
down_revision: str | Sequence[str] | None = "0008_search_generation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FTS_OPTIONS = "prefix='1 2 3', tokenize='unicode61 remove_diacritics 2'"
TEXTS = "name_tokens, keyword_tokens, body_tokens, grams"
# search/sqlite_index.py tags(), in SQL (ids are stored as 32 hex digits on SQLite).
TAGS = (
    "'prov' || d.province_code || ' city' || d.city_code || ' dist' || d.region_code"
    " || ' cat' || d.category_code || ' unit' || lower(replace(d.unit_id, '-', ''))"
    " || CASE WHEN d.voucher_eligible THEN ' voucher' ELSE ' novoucher' END"
    " || CASE WHEN d.machine_time THEN ' machinetime' ELSE '' END"
    " || CASE WHEN d.self_operation THEN ' selfoperation' ELSE '' END"
    " || CASE WHEN d.sample_testing THEN ' sampletesting' ELSE '' END"
)
COVERED = (
    "doc_number, category_code, city_code, province_code, region_code, unit_id, machine_time, "
    "self_operation, sample_testing, voucher_eligible, min_price_fen, rating_sort, latitude, "
    "longitude, instrument_id"
)


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def upgrade() -> None:
    if not _sqlite():
        return
    op.execute(f"CREATE VIRTUAL TABLE search_fts_tagged USING fts5({TEXTS}, tags, {FTS_OPTIONS})")
    op.execute(
        f"INSERT INTO search_fts_tagged (rowid, {TEXTS}, tags) "
        f"SELECT f.rowid, f.name_tokens, f.keyword_tokens, f.body_tokens, f.grams, {TAGS} "
        "FROM search_fts f JOIN search_documents d ON d.doc_number = f.rowid ORDER BY f.rowid"
    )
    op.execute("DROP TABLE search_fts")
    op.execute("ALTER TABLE search_fts_tagged RENAME TO search_fts")
    op.execute("INSERT INTO search_fts(search_fts) VALUES('optimize')")
    op.execute(
        "CREATE TABLE search_keys (doc_number INTEGER PRIMARY KEY, category_code VARCHAR(8) NOT NULL, "
        "city_code VARCHAR(6) NOT NULL, min_price_fen INTEGER, rating_sort FLOAT NOT NULL, "
        "latitude FLOAT, longitude FLOAT)"
    )
    op.execute(
        "INSERT INTO search_keys SELECT doc_number, category_code, city_code, min_price_fen, "
        "rating_sort, latitude, longitude FROM search_documents ORDER BY doc_number"
    )
    # Browsing everything: the first page in rating order and the facet counts, each from an index.
    op.execute("CREATE INDEX ix_search_keys_rating ON search_keys (rating_sort DESC, doc_number)")
    op.execute("CREATE INDEX ix_search_keys_facets ON search_keys (category_code, city_code)")
    op.drop_index("ix_search_documents_covering", table_name="search_documents")
    op.create_index("ix_search_documents_doc_number", "search_documents", ["doc_number"], unique=True)


def downgrade() -> None:
    if not _sqlite():
        return
    op.drop_index("ix_search_documents_doc_number", table_name="search_documents")
    op.execute(f"CREATE INDEX ix_search_documents_covering ON search_documents ({COVERED})")
    op.execute("DROP TABLE search_keys")
    op.execute(f"CREATE VIRTUAL TABLE search_fts_untagged USING fts5({TEXTS}, {FTS_OPTIONS})")
    op.execute(f"INSERT INTO search_fts_untagged (rowid, {TEXTS}) SELECT rowid, {TEXTS} FROM search_fts")
    op.execute("DROP TABLE search_fts")
    op.execute("ALTER TABLE search_fts_untagged RENAME TO search_fts")
