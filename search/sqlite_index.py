"""The SQLite side of the database search index (the embedded default): what a document writes
and the one statement a query runs.

A match is answered from FTS5 and one narrow table, never row by row from ``search_documents``:

- ``search_fts`` (rowid = ``doc_number``) holds the four token texts and ``tags``: one token per
  filter value of the document (province, city, district, category, holding unit, each service
  mode offered, voucher eligibility). Those filters are FTS5 terms, intersected inside the
  full-text index; the query's own words are confined to the four text columns, so a typed word
  never meets a tag.
- ``search_keys`` (rowid = ``doc_number``) holds what is still read per match: the facet columns,
  the price (a range filter and a sort key), the rating and the coordinates. Rows of ~40 bytes:
  the table stays in SQLite's page cache, and a rowid lookup is the cheapest there is.

Relevance is Meilisearch's "attribute" rule: instruments whose name (its words, synonym groups or
character bigrams) holds every query term come before those matching in the rest of their text;
then rating, then id. Two FTS5 queries give the two sets (bm25 over every match cost more than
the rest of a broad search together).
"""

from __future__ import annotations

import functools
import uuid
from typing import Any

import sqlalchemy as sa

from search.backend import Mode, SearchDocument, SearchQuery, Sort
from search.models import SearchDocumentRow, SearchPayloadRow, SearchTerm
from search.paging import page_and_counts, sort_order

D, P = SearchDocumentRow, SearchPayloadRow
FTS = sa.table("search_fts", sa.column("rowid"))
FTS_TABLE: Any = sa.literal_column("search_fts")
KEYS = sa.table(
    "search_keys",
    sa.column("doc_number", sa.Integer),
    sa.column("category_code", sa.String),
    sa.column("city_code", sa.String),
    sa.column("min_price_fen", sa.Integer),
    sa.column("rating_sort", sa.Float),
    sa.column("latitude", sa.Float),
    sa.column("longitude", sa.Float),
)
K = KEYS.c

TEXT_COLUMNS = "{name_tokens keyword_tokens body_tokens grams}"
NAME_COLUMNS = "{name_tokens keyword_tokens grams}"
MODE_TAGS = {
    Mode.machine_time: "machinetime",
    Mode.self_operation: "selfoperation",
    Mode.sample_testing: "sampletesting",
}

FTS_INSERT = sa.text(
    "INSERT INTO search_fts (rowid, name_tokens, keyword_tokens, body_tokens, grams, tags) "
    "VALUES (:doc_number, :name_tokens, :keyword_tokens, :body_tokens, :grams, :tags)"
)
KEYS_INSERT = sa.insert(KEYS)
# Which of some hundreds of words are indexed, as one JSON parameter.
TERMS_IN_JSON = sa.select(SearchTerm.term).where(
    SearchTerm.term.in_(
        sa.select(sa.func.json_each(sa.bindparam("terms", type_=sa.JSON)).table_valued("value").c.value)
    )
)


def doc_number(document_id: str) -> int:
    """A stable positive 63-bit number per document (the FTS5 rowid): the id's leading 63 bits,
    so it orders as the id does."""
    return int(document_id.replace("-", "")[:16], 16) >> 1


def tags(doc: SearchDocument) -> str:
    """The filter tokens of a document (``search_fts.tags``)."""
    words = [
        f"prov{doc.province_code}",
        f"city{doc.city_code}",
        f"dist{doc.region_code}",
        f"cat{doc.category_code}",
        f"unit{uuid.UUID(doc.unit_id).hex}",
        "voucher" if doc.voucher_eligible else "novoucher",
    ]
    words += [MODE_TAGS[Mode(mode)] for mode in doc.modes if mode in MODE_TAGS]
    return " ".join(words)


def key_values(doc: SearchDocument, number: int) -> dict[str, Any]:
    """The ``search_keys`` row of a document."""
    return {
        "doc_number": number,
        "category_code": doc.category_code,
        "city_code": doc.city_code,
        "min_price_fen": doc.min_price_fen,
        "rating_sort": doc.rating_sort,
        "latitude": doc.latitude,
        "longitude": doc.longitude,
    }


def _quoted(tag: str) -> str:
    """An FTS5 string: the values come validated, but never as FTS5 syntax whatever they hold."""
    return '"' + tag.replace('"', '""') + '"'


def tag_filter(query: SearchQuery) -> str | None:
    """The query's filters that are tags, as one FTS5 expression on ``tags`` (None: no such filter)."""
    clauses = [
        _quoted(f"{prefix}{code}")
        for prefix, code in (
            ("prov", query.province_code),
            ("city", query.city_code),
            ("dist", query.region_code),
        )
        if code
    ]
    if query.category_codes:
        clauses.append("(" + " OR ".join(_quoted(f"cat{code}") for code in query.category_codes) + ")")
    if query.unit_id:
        clauses.append(f"unit{uuid.UUID(query.unit_id).hex}")
    clauses += [MODE_TAGS[mode] for mode in query.modes]
    if query.voucher_eligible is not None:
        clauses.append("voucher" if query.voucher_eligible else "novoucher")
    return "{tags}: (" + " AND ".join(clauses) + ")" if clauses else None


def filter_values(query: SearchQuery, terms: str | None) -> dict[str, Any]:
    """The values a query binds besides the page, by parameter name (which names are present,
    with the sort, decides the statement). MATCH: ``name_match`` and ``rest_match`` (the two
    relevance tiers) when the query has words (``terms``, an FTS5 expression), else ``match``
    (tags only) when it has tag filters, else none."""
    values: dict[str, Any] = {}
    tagged = tag_filter(query)
    if terms:
        within_tags = f" AND {tagged}" if tagged else ""
        in_name = f"{NAME_COLUMNS}: ({terms})"
        values["name_match"] = in_name + within_tags
        values["rest_match"] = f"({TEXT_COLUMNS}: ({terms}){within_tags}) NOT {in_name}"
    elif tagged:
        values["match"] = tagged
    if query.price_min_fen is not None:
        values["price_min_fen"] = query.price_min_fen
    if query.price_max_fen is not None:
        values["price_max_fen"] = query.price_max_fen
    if query.ids is not None:
        values["doc_numbers"] = [doc_number(i) for i in query.ids]
    return values


def _matches(names: frozenset[str]) -> tuple[Any, Any]:
    """The matching documents' keys (a FROM clause) and the relevance score (None: no words)."""
    if "name_match" in names:
        hits = sa.union_all(
            sa.select(FTS.c.rowid.label("doc"), sa.literal_column("1").label("score")).where(
                FTS_TABLE.op("MATCH")(sa.bindparam("name_match", type_=sa.String))
            ),
            sa.select(FTS.c.rowid, sa.literal_column("0")).where(
                FTS_TABLE.op("MATCH")(sa.bindparam("rest_match", type_=sa.String))
            ),
        ).subquery("hits")
        return hits.join(KEYS, K.doc_number == hits.c.doc), hits.c.score
    if "match" in names:
        hits = (
            sa.select(FTS.c.rowid.label("doc"))
            .where(FTS_TABLE.op("MATCH")(sa.bindparam("match", type_=sa.String)))
            .subquery("hits")
        )
        return hits.join(KEYS, K.doc_number == hits.c.doc), None
    return KEYS, None


def _key_filters(names: frozenset[str]) -> list[Any]:
    conds: list[Any] = []
    if "price_min_fen" in names:
        conds.append(K.min_price_fen >= sa.bindparam("price_min_fen"))
    if "price_max_fen" in names:
        conds.append(K.min_price_fen <= sa.bindparam("price_max_fen"))
    if "doc_numbers" in names:
        conds.append(K.doc_number.in_(sa.bindparam("doc_numbers", expanding=True)))
    return conds


@functools.lru_cache(maxsize=512)
def statement(names: frozenset[str], sort: Sort, counts: bool = True) -> Any:
    """The search statement of one shape of query (built once; values are bound per query;
    search/paging.py says what it answers)."""
    source, score = _matches(names)
    conds = _key_filters(names)
    return page_and_counts(
        source,
        conds,
        (K.doc_number, K.category_code, K.city_code),
        sort_order(sort, score, K, K.doc_number),
        materialize=bool(conds) or source is not KEYS,
        documents=lambda page: page.join(D, D.doc_number == page.c.doc_number).join(
            P, P.instrument_id == D.instrument_id
        ),
        counts=counts,
    )


@functools.lru_cache(maxsize=128)
def matching(names: frozenset[str]) -> Any:
    """The document numbers of the matches of one shape of query: no rank, no order, no document."""
    source, _ = _matches(names)
    return sa.select(K.doc_number).select_from(source).where(*_key_filters(names))
