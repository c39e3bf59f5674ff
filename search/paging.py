"""What both database engines' search statements share: the matches read once, as a CTE of narrow
rows (an id, the two facet columns and the sort keys ``o0``, ``o1``, ...), then one statement
answering the page's documents numbered in order and the counts per (category, city), from which
the total and both facets follow."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from search.backend import Sort
from search.models import SearchPayloadRow

# (expression, descending) pairs, most significant first, ending with the tie-breakers.
Order = list[tuple[Any, bool]]


def sort_order(sort: Sort, score: Any, columns: Any, identity: Any) -> Order:
    """The sort keys of a query: the chosen sort, then relevance (``score``, when the query has
    words), then rating and ``identity`` as tie-breakers. ``columns`` has the documents'
    ``latitude``, ``longitude``, ``min_price_fen`` and ``rating_sort``."""
    c = columns
    order: Order = []
    if sort == Sort.distance:
        dy = c.latitude - sa.bindparam("lat", type_=sa.Float)
        dx = (c.longitude - sa.bindparam("lng", type_=sa.Float)) * sa.bindparam("k", type_=sa.Float)
        order += [(c.latitude.is_(None), False), (dy * dy + dx * dx, False)]
    elif sort == Sort.price:
        order += [(c.min_price_fen.is_(None), False), (c.min_price_fen, False)]
    elif sort == Sort.rating:
        order += [(c.rating_sort, True)]
    if score is not None:
        order.append((score, True))
    return [*order, (c.rating_sort, True), (identity, False)]


def page_and_counts(
    source: Any,
    conds: list[Any],
    columns: tuple[Any, Any, Any],
    order: Order,
    *,
    materialize: bool,
    documents: Callable[[Any], Any],
    counts: bool = True,
) -> Any:
    """``columns`` are the matches' (id, category, city); ``documents(page)`` joins the page's
    ids to ``search_payloads``. Not materialised (browsing everything), the page and the counts
    each read the table their own way (an index in sort order, an index-only count) rather than
    copying every row first. Without ``counts`` (the caller remembers them) only the page: the
    matches are read once anyway, and are not copied."""
    identity, category, city = columns
    keys = [f"o{i}" for i in range(len(order))]
    matched = (
        sa.select(
            identity,
            category,
            city,
            *(expression.label(key) for key, (expression, _) in zip(keys, order, strict=True)),
        )
        .select_from(source)
        .where(*conds)
        .cte("matched")
        .prefix_with("MATERIALIZED" if materialize and counts else "NOT MATERIALIZED")
    )

    def sort_keys(table: Any) -> list[Any]:
        return [
            table.c[key].desc() if descending else table.c[key]
            for key, (_, descending) in zip(keys, order, strict=True)
        ]

    page = (
        sa.select(matched.c[identity.key], *(matched.c[key] for key in keys))
        .order_by(*sort_keys(matched))
        .offset(sa.bindparam("offset", type_=sa.Integer))
        .limit(sa.bindparam("limit", type_=sa.Integer))
        .subquery("page")
    )
    page_documents = sa.select(
        sa.cast(SearchPayloadRow.document, sa.Text).label("document"),
        sa.null().label("category"),
        sa.null().label("city"),
        sa.func.row_number().over(order_by=sort_keys(page)).label("n"),
    ).select_from(documents(page))
    if not counts:
        return page_documents
    return sa.union_all(
        page_documents,
        sa.select(sa.null(), matched.c[category.key], matched.c[city.key], sa.func.count()).group_by(
            matched.c[category.key], matched.c[city.key]
        ),
    )
