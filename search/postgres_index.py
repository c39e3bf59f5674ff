"""The PostgreSQL side of the database search index: what a document writes (its row with a
``tsvector``) and the one statement a query runs (the filters as columns of ``search_documents``,
full-text match on the GIN-indexed ``tsv``, ranked by ``ts_rank``)."""

from __future__ import annotations

import functools
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import TSQUERY

from search.backend import Mode, SearchQuery, Sort
from search.models import SearchDocumentRow, SearchPayloadRow, SearchTerm
from search.paging import page_and_counts, sort_order

D, P = SearchDocumentRow, SearchPayloadRow


def _weighted(tokens: str, weight: str) -> Any:
    words = sa.func.string_to_array(sa.bindparam(tokens, type_=sa.Text), sa.literal_column("' '"))
    return sa.func.setweight(sa.func.array_to_tsvector(words), sa.literal_column(f"'{weight}'"))


# PostgreSQL: the row with its tsvector, the expression migration 0002 generated it with. (Weights
# only apply to positions, and array_to_tsvector has none: ts_rank sees every weight alike.)
PG_INSERT = sa.insert(
    sa.table("search_documents", *(sa.column(c.name, c.type) for c in D.__table__.columns), sa.column("tsv"))
).values(
    tsv=_weighted("name_tokens", "A")
    .op("||")(_weighted("keyword_tokens", "A"))
    .op("||")(_weighted("body_tokens", "C"))
    .op("||")(_weighted("grams", "D"))
)
# Which of some hundreds of words are indexed, as one parameter (an IN list of 600 parameters
# cost more to render than to run). Matched as a set (a hash or index join), not ``= ANY($1)``:
# a prepared statement's generic plan compares every indexed word with every element of the
# array in turn, 11 ms a search for a typo's ~1,500 spellings (25 ms on 600 words alone).
TERMS_IN_ARRAY = sa.select(SearchTerm.term).where(
    SearchTerm.term.in_(
        sa.select(sa.func.unnest(sa.bindparam("terms", type_=postgresql.ARRAY(sa.String)))).scalar_subquery()
    )
)


def filter_values(query: SearchQuery) -> dict[str, Any]:
    """The filter values a query binds, by parameter name; which names are present (with the
    modes, the voucher flag and the sort) decides the statement."""
    values: dict[str, Any] = {}
    if query.province_code:
        values["province_code"] = query.province_code
    if query.city_code:
        values["city_code"] = query.city_code
    if query.region_code:
        values["region_code"] = query.region_code
    if query.category_codes:
        values["category_codes"] = list(query.category_codes)
    if query.price_min_fen is not None:
        values["price_min_fen"] = query.price_min_fen
    if query.price_max_fen is not None:
        values["price_max_fen"] = query.price_max_fen
    if query.unit_id:
        values["unit_id"] = uuid.UUID(query.unit_id)
    if query.ids is not None:
        values["ids"] = list(query.ids)
    return values


def _filters(names: frozenset[str], modes: tuple[Mode, ...], voucher: bool | None) -> list[Any]:
    bind = sa.bindparam
    conds: list[Any] = [
        column == bind(name)
        for name, column in (
            ("province_code", D.province_code),
            ("city_code", D.city_code),
            ("region_code", D.region_code),
        )
        if name in names
    ]
    if "category_codes" in names:
        conds.append(D.category_code.in_(bind("category_codes", expanding=True)))
    for mode in modes:
        conds.append(
            {
                Mode.machine_time: D.machine_time,
                Mode.self_operation: D.self_operation,
                Mode.sample_testing: D.sample_testing,
            }[mode].is_(True)
        )
    if voucher is not None:
        conds.append(D.voucher_eligible.is_(voucher))
    if "price_min_fen" in names:
        conds.append(D.min_price_fen >= bind("price_min_fen"))
    if "price_max_fen" in names:
        conds.append(D.min_price_fen <= bind("price_max_fen"))
    if "unit_id" in names:
        conds.append(D.unit_id == bind("unit_id"))
    if "ids" in names:
        # One array of texts: an IN list rendered its hundreds of parameters anew for each call
        # (and as many UUID objects made from the ids); PostgreSQL parses them for less.
        ids = sa.cast(bind("ids", type_=postgresql.ARRAY(sa.Text)), postgresql.ARRAY(postgresql.UUID))
        conds.append(D.instrument_id == sa.any_(ids))
    return conds


def _conditions(
    names: frozenset[str], modes: tuple[Mode, ...], voucher: bool | None
) -> tuple[list[Any], Any]:
    """The filters and the full-text match of a query, and its relevance (None: no words)."""
    conds = _filters(names, modes, voucher)
    score: Any = None
    if "match" in names:
        tsv: Any = sa.literal_column("search_documents.tsv")
        tsq = sa.cast(sa.bindparam("match", type_=sa.String), TSQUERY)
        conds.append(tsv.op("@@")(tsq))
        score = sa.func.ts_rank(tsv, tsq)
    return conds, score


@functools.lru_cache(maxsize=1024)
def statement(
    names: frozenset[str], modes: tuple[Mode, ...], voucher: bool | None, sort: Sort, counts: bool = True
) -> Any:
    """The search statement of one shape of query (built once: building it cost more than running
    a narrow query; search/paging.py says what it answers)."""
    conds, score = _conditions(names, modes, voucher)
    source: Any = D.__table__
    return page_and_counts(
        source,
        conds,
        (D.instrument_id, D.category_code, D.city_code),
        sort_order(sort, score, D, D.instrument_id),
        materialize=bool(conds) or score is not None,
        documents=lambda page: page.join(P, P.instrument_id == page.c.instrument_id),
        counts=counts,
    )


@functools.lru_cache(maxsize=256)
def matching(names: frozenset[str], modes: tuple[Mode, ...], voucher: bool | None) -> Any:
    """The ids of the matches of one shape of query: no rank, no order, no document."""
    conds, _ = _conditions(names, modes, voucher)
    return sa.select(D.instrument_id).where(*conds)
