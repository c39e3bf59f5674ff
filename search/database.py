"""The database-backed search index: the embedded default (SQLite FTS5) and PostgreSQL (tsvector).

One narrow row per document in ``search_documents`` (filters, facets, sort keys), the document
itself in ``search_payloads``; SQLite keeps an FTS5 table ``search_fts`` of the token texts in
step (rowid = ``doc_number``), PostgreSQL a GIN-indexed ``tsv`` column. Query terms are ANDed;
each term matches its synonym groups' tokens, its own token, its bigrams (two-character Chinese
words always work), a prefix if it was the last word typed, and for Latin words of five or more
letters the indexed words one edit away (typo tolerance, like Meilisearch's default).

A query reads its matches once, as narrow rows, for the page, the total and the facets alike.
"""

from __future__ import annotations

import functools
import math
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import TSQUERY
from sqlalchemy.ext.asyncio import AsyncSession

from search.backend import Hit, Mode, SearchDocument, SearchQuery, SearchResult, Sort
from search.models import SearchDocumentRow, SearchPayloadRow, SearchTerm
from search.text import (
    QueryTerm,
    bigrams,
    gram_tokens,
    highlight,
    index_tokens,
    latin_vocabulary,
    parse_query,
    synonyms,
    typo_variants,
)
from yixiang.db import is_postgres, utcnow

D = SearchDocumentRow
P = SearchPayloadRow
FTS = sa.table("search_fts", sa.column("rowid"))
FTS_TABLE: Any = sa.literal_column("search_fts")
MIN_TYPO_LENGTH = 5


def doc_number(document_id: str) -> int:
    """A stable positive 63-bit number per document (the FTS5 rowid)."""
    return int(document_id.replace("-", "")[:16], 16) >> 1


def _uniq(tokens: Sequence[str]) -> str:
    return " ".join(dict.fromkeys(t for t in tokens if t))


def row_values(doc: SearchDocument) -> dict[str, Any]:
    """The ``search_documents`` columns of a document."""
    return {
        "instrument_id": uuid.UUID(doc.id),
        "doc_number": doc_number(doc.id),
        "unit_id": uuid.UUID(doc.unit_id),
        "province_code": doc.province_code,
        "city_code": doc.city_code,
        "region_code": doc.region_code,
        "category_code": doc.category_code,
        "category_parent": doc.category_parent,
        "machine_time": Mode.machine_time.value in doc.modes,
        "self_operation": Mode.self_operation.value in doc.modes,
        "sample_testing": Mode.sample_testing.value in doc.modes,
        "voucher_eligible": doc.voucher_eligible,
        "min_price_fen": doc.min_price_fen,
        "rating_sort": doc.rating_sort,
        "latitude": doc.latitude,
        "longitude": doc.longitude,
        "indexed_at": utcnow(),
    }


def token_values(doc: SearchDocument) -> dict[str, Any]:
    """The four token texts of a document (``search_fts`` columns, ``tsv`` on PostgreSQL)."""
    group_tokens = [g.token for g in synonyms().tag([doc.name, doc.name_en, *doc.aliases, doc.model])]
    name_text = " ".join([doc.name, doc.name_en, *doc.aliases, doc.model])
    body_text = " ".join(
        [
            doc.manufacturer,
            doc.category_name,
            doc.category_parent_name,
            doc.unit_name,
            doc.city_name,
            doc.district_name,
            doc.lab,
            *doc.service_names,
            *doc.specs,
        ]
    )
    return {
        "doc_number": doc_number(doc.id),
        "name_tokens": _uniq(index_tokens(name_text)),
        "keyword_tokens": _uniq(group_tokens),
        "body_tokens": _uniq(index_tokens(body_text)),
        "grams": _uniq(gram_tokens(" ".join([doc.name, *doc.aliases, doc.category_name]))),
    }


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
# cost more to render than to run).
TERMS_IN_ARRAY = sa.select(SearchTerm.term).where(
    SearchTerm.term == sa.any_(sa.bindparam("terms", type_=postgresql.ARRAY(sa.String)))
)
TERMS_IN_JSON = sa.select(SearchTerm.term).where(
    SearchTerm.term.in_(
        sa.select(sa.func.json_each(sa.bindparam("terms", type_=sa.JSON)).table_valued("value").c.value)
    )
)
FTS_INSERT = sa.text(
    "INSERT INTO search_fts (rowid, name_tokens, keyword_tokens, body_tokens, grams) "
    "VALUES (:doc_number, :name_tokens, :keyword_tokens, :body_tokens, :grams)"
)


class _Matcher:
    """A parsed query turned into an FTS5 MATCH string or a tsquery, plus highlight needles."""

    def __init__(self, terms: Sequence[QueryTerm], typos: dict[str, list[str]]):
        self.terms = terms
        self.typos = typos

    def _alternatives(self, term: QueryTerm) -> list[tuple[str, ...]]:
        """OR of ANDs: each alternative is a conjunction of (token, is_prefix) encoded as 'tok' or 'tok*'."""
        syn = synonyms()
        alts: list[tuple[str, ...]] = [(syn.groups[g - 1].token,) for g in term.groups]
        if term.kind == "latin":
            alts.append((term.text + ("*" if term.prefix else ""),))
            alts.extend((variant,) for variant in self.typos.get(term.text, []))
        else:
            if len(term.text) == 1:
                alts.append((term.text + "*",))
            else:
                alts.append((term.text,))
                if len(term.text) > 2:
                    alts.append(tuple(bigrams(term.text)))
                if term.prefix and len(term.text) >= 2:
                    alts.append((term.text + "*",))
        return list(dict.fromkeys(alts))

    def fts5(self) -> str:
        def tok(t: str) -> str:
            return f'"{t[:-1]}"*' if t.endswith("*") else f'"{t}"'

        clauses = []
        for term in self.terms:
            alts = [" AND ".join(tok(t) for t in alt) for alt in self._alternatives(term)]
            clauses.append("(" + " OR ".join(f"({a})" for a in alts) + ")")
        return " AND ".join(clauses)

    def tsquery(self) -> str:
        def tok(t: str) -> str:
            return f"'{t[:-1]}':*" if t.endswith("*") else f"'{t}'"

        clauses = []
        for term in self.terms:
            alts = [" & ".join(tok(t) for t in alt) for alt in self._alternatives(term)]
            clauses.append("(" + " | ".join(f"({a})" for a in alts) + ")")
        return " & ".join(clauses)

    def needles(self) -> list[str]:
        syn = synonyms()
        found: list[str] = []
        for term in self.terms:
            found.append(term.text)
            found.extend(self.typos.get(term.text, []))
            for g in term.groups:
                found.extend(syn.groups[g - 1].normalized)
        return found


class DatabaseSearch:
    name = "database"

    # --- writing --------------------------------------------------------------------------
    async def upsert(self, session: AsyncSession, documents: Sequence[SearchDocument]) -> None:
        if not documents:
            return
        await self.delete(session, [d.id for d in documents])
        rows = [row_values(d) for d in documents]
        tokens = [token_values(d) for d in documents]
        if is_postgres(session):
            await session.execute(PG_INSERT, [{**r, **t} for r, t in zip(rows, tokens, strict=True)])
        else:
            await session.execute(sa.insert(D), rows)
            await session.execute(FTS_INSERT, tokens)
        payloads = [{"instrument_id": uuid.UUID(d.id), "document": msgspec.to_builtins(d)} for d in documents]
        await session.execute(sa.insert(P), payloads)
        vocabulary: set[str] = set()
        for d in documents:
            vocabulary |= latin_vocabulary(" ".join([d.name_en, d.model, d.manufacturer, *d.aliases]))
        if vocabulary:
            insert = postgresql.insert if is_postgres(session) else sqlite.insert
            await session.execute(
                insert(SearchTerm).values([{"term": t} for t in sorted(vocabulary)]).on_conflict_do_nothing()
            )

    async def delete(self, session: AsyncSession, ids: Sequence[str]) -> None:
        if not ids:
            return
        uuids = [uuid.UUID(i) for i in ids]
        if not is_postgres(session):
            numbers = (await session.scalars(sa.select(D.doc_number).where(D.instrument_id.in_(uuids)))).all()
            if numbers:
                await session.execute(
                    sa.text(
                        "DELETE FROM search_fts WHERE rowid IN ("
                        + ",".join(str(int(n)) for n in numbers)
                        + ")"
                    )
                )
        await session.execute(sa.delete(D).where(D.instrument_id.in_(uuids)))
        await session.execute(sa.delete(P).where(P.instrument_id.in_(uuids)))

    async def rebuild(self, session: AsyncSession, documents: AsyncIterator[list[SearchDocument]]) -> int:
        """Replace everything in the caller's transaction: readers see the old index until commit."""
        await session.execute(sa.delete(D))
        await session.execute(sa.delete(P))
        await session.execute(sa.delete(SearchTerm))
        if not is_postgres(session):
            await session.execute(sa.text("DELETE FROM search_fts"))
        count = 0
        async for batch in documents:
            await self.upsert(session, batch)
            count += len(batch)
        if not is_postgres(session):
            # One b-tree per token instead of the segments and delete markers the rebuild left
            # (a few seconds for 100,000 documents; matching gets ~15% cheaper).
            await session.execute(sa.text("INSERT INTO search_fts(search_fts) VALUES('optimize')"))
        return count

    async def all_documents(self, session: AsyncSession) -> list[SearchDocument]:
        rows = (await session.scalars(sa.select(P.document))).all()
        docs = [msgspec.convert(r, SearchDocument) for r in rows]
        return sorted(docs, key=lambda d: d.id)

    # --- reading --------------------------------------------------------------------------
    async def _typos(self, session: AsyncSession, terms: Sequence[QueryTerm]) -> dict[str, list[str]]:
        """Indexed words one edit away from each long Latin term that is not itself indexed:
        one query for every term's spelling and variants together."""
        candidates = {
            term.text: typo_variants(term.text)
            for term in terms
            if term.kind == "latin"
            and not term.groups
            and len(term.text) >= MIN_TYPO_LENGTH
            and term.text.isascii()
        }
        if not candidates:
            return {}
        wanted = sorted(set(candidates).union(*candidates.values()))
        lookup = TERMS_IN_ARRAY if is_postgres(session) else TERMS_IN_JSON
        known = set((await session.scalars(lookup, {"terms": wanted})).all())
        return {
            text: sorted(variants & known)
            for text, variants in candidates.items()
            if text not in known and variants & known
        }

    async def search(self, session: AsyncSession, query: SearchQuery) -> SearchResult:
        terms = _parsed(query.q)
        matcher = _Matcher(terms, await self._typos(session, terms)) if terms else None
        pg = is_postgres(session)
        values = _values(query)
        if matcher is not None:
            values["match"] = matcher.tsquery() if pg else matcher.fts5()
        sort = query.sort if query.sort != Sort.distance or "lat" in values else Sort.relevance
        statement = _statement(pg, frozenset(values), query.modes, query.voucher_eligible, sort)
        # A Core statement: the connection runs it without the ORM session's per-call work.
        rows = (await (await session.connection()).execute(statement, values)).all()
        by_category: dict[str, int] = {}
        by_city: dict[str, int] = {}
        documents: list[tuple[int, str]] = []
        for document, category, city, n in rows:
            if document is not None:
                documents.append((n, document))
            else:
                by_category[category] = by_category.get(category, 0) + n
                by_city[city] = by_city.get(city, 0) + n
        needles = matcher.needles() if matcher else []
        found: list[Hit] = []
        for _, raw in sorted(documents):
            doc = msgspec.json.decode(raw, type=SearchDocument)
            marks = {"name": highlight(doc.name, needles), "model": highlight(doc.model, needles)}
            found.append(Hit(document=doc, highlight=marks))
        facets = {"category": by_category, "region": by_city} if query.with_facets else {}
        return SearchResult(hits=found, total=sum(by_city.values()), facets=facets)


@functools.lru_cache(maxsize=4096)
def _parsed(q: str) -> tuple[QueryTerm, ...]:
    """Parsed queries (normalisation, synonyms, jieba): the same few queries come again and again."""
    return tuple(parse_query(q))


def _values(query: SearchQuery) -> dict[str, Any]:
    """The values a query binds, by parameter name; which names are present (with the modes,
    the voucher flag and the sort) decides the statement."""
    values: dict[str, Any] = {"offset": query.offset, "limit": query.limit}
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
        values["ids"] = [uuid.UUID(i) for i in query.ids]
    if query.sort == Sort.distance and query.latitude is not None and query.longitude is not None:
        values["lat"], values["lng"] = query.latitude, query.longitude
        values["k"] = math.cos(math.radians(query.latitude))
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
        conds.append(D.instrument_id.in_(bind("ids", expanding=True)))
    return conds


def _order(sort: Sort, score: Any) -> list[tuple[Any, bool]]:
    """The sort keys, (expression, descending), ending with the tie-breakers."""
    order: list[tuple[Any, bool]] = []
    if sort == Sort.distance:
        dy = D.latitude - sa.bindparam("lat", type_=sa.Float)
        dx = (D.longitude - sa.bindparam("lng", type_=sa.Float)) * sa.bindparam("k", type_=sa.Float)
        order += [(D.latitude.is_(None), False), (dy * dy + dx * dx, False)]
    elif sort == Sort.price:
        order += [(D.min_price_fen.is_(None), False), (D.min_price_fen, False)]
    elif sort == Sort.rating:
        order += [(D.rating_sort, True)]
    if score is not None:
        order.append((score, True))
    return [*order, (D.rating_sort, True), (D.instrument_id, False)]


@functools.lru_cache(maxsize=1024)
def _statement(
    pg: bool, names: frozenset[str], modes: tuple[Mode, ...], voucher: bool | None, sort: Sort
) -> Any:
    """The search statement of one shape of query (built once: building it cost more than running
    a narrow query). It reads the matches once, as a materialised CTE of narrow rows (the id, the
    two facet columns and the sort keys ``o0``, ``o1``, ...), and returns the page's documents
    numbered in order, then the counts per (category, city): the total and both facets."""
    conds = _filters(names, modes, voucher)
    source: Any = D.__table__
    score: Any = None
    if "match" in names:
        if pg:
            tsv: Any = sa.literal_column("search_documents.tsv")
            tsq = sa.cast(sa.bindparam("match", type_=sa.String), TSQUERY)
            conds.append(tsv.op("@@")(tsq))
            score = sa.func.ts_rank(tsv, tsq)
        else:
            # bm25() only works in the MATCH query itself: rank there, materialised, then join.
            hits = (
                sa.select(
                    FTS.c.rowid.label("doc"),
                    (-sa.func.bm25(FTS_TABLE, 10.0, 10.0, 2.0, 0.5)).label("score"),
                )
                .where(FTS_TABLE.op("MATCH")(sa.bindparam("match", type_=sa.String)))
                .cte("hits")
                .prefix_with("MATERIALIZED")
            )
            source = source.join(hits, hits.c.doc == D.doc_number)
            score = hits.c.score
    order = _order(sort, score)
    keys = [f"o{i}" for i in range(len(order))]
    matched = (
        sa.select(
            D.instrument_id,
            D.category_code,
            D.city_code,
            *(expression.label(key) for key, (expression, _) in zip(keys, order, strict=True)),
        )
        .select_from(source)
        .where(*conds)
        .cte("matched")
        # Browsing everything: each part reads the table its own way instead (the page by the
        # rating index, the counts by an index-only scan) rather than copying 100,000 rows.
        .prefix_with("MATERIALIZED" if conds or score is not None else "NOT MATERIALIZED")
    )

    def sort_keys(table: Any) -> list[Any]:
        return [
            table.c[key].desc() if descending else table.c[key]
            for key, (_, descending) in zip(keys, order, strict=True)
        ]

    page = (
        sa.select(matched.c.instrument_id, *(matched.c[key] for key in keys))
        .order_by(*sort_keys(matched))
        .offset(sa.bindparam("offset", type_=sa.Integer))
        .limit(sa.bindparam("limit", type_=sa.Integer))
        .subquery("page")
    )
    return sa.union_all(
        sa.select(
            sa.cast(P.document, sa.Text).label("document"),
            sa.null().label("category"),
            sa.null().label("city"),
            sa.func.row_number().over(order_by=sort_keys(page)).label("n"),
        ).select_from(page.join(P, P.instrument_id == page.c.instrument_id)),
        sa.select(sa.null(), matched.c.category_code, matched.c.city_code, sa.func.count()).group_by(
            matched.c.category_code, matched.c.city_code
        ),
    )
